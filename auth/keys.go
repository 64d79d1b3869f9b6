// Package auth holds Pictor's access primitives: API keys (made, hashed, parsed from the
// PICTOR_API_KEYS form and looked up in constant time) with their scopes, the HMAC
// signatures of delivery URLs, and the signed session tokens that stand in for a key in
// the console (session.go). It knows nothing of HTTP and imports no project package.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Errors of this package.
var (
	// ErrInvalidKeys is returned for a malformed PICTOR_API_KEYS value; the message names
	// the entry (1-based) and never its hash.
	ErrInvalidKeys = errors.New("invalid api keys")
	// ErrInvalidScope is returned for an unknown, empty or repeated scope.
	ErrInvalidScope = errors.New("invalid scope")
	// ErrInvalidSigningKey is returned for a URL signing key that is too short or repeated.
	ErrInvalidSigningKey = errors.New("invalid url signing key")
)

// Scope is a set of access scopes. Admin implies write and write implies read.
// The zero value grants nothing.
type Scope uint8

// The scopes a key can hold.
const (
	// ScopeRead allows GET and HEAD on the API.
	ScopeRead Scope = 1 << iota
	// ScopeWrite allows POST, PUT and DELETE on images, renditions and analysis.
	ScopeWrite
	// ScopeAdmin allows recipes and backends, whatever the method.
	ScopeAdmin
)

var scopeNames = []struct {
	s    Scope
	name string
}{{ScopeRead, "read"}, {ScopeWrite, "write"}, {ScopeAdmin, "admin"}}

// effective adds the scopes that s implies.
func (s Scope) effective() Scope {
	if s&ScopeAdmin != 0 {
		s |= ScopeWrite
	}
	if s&ScopeWrite != 0 {
		s |= ScopeRead
	}
	return s
}

// Allows reports whether s grants every scope in need, counting implied scopes.
func (s Scope) Allows(need Scope) bool {
	return need != 0 && s.effective()&need == need
}

// String lists the scopes joined with "+" ("read+write"), "" for none.
func (s Scope) String() string {
	var parts []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "+")
}

// ParseScopes reads scopes separated by "+" or "," ("read+write", "admin"). At least one is
// required; unknown and repeated scopes are errors wrapping ErrInvalidScope.
func ParseScopes(v string) (Scope, error) {
	if strings.TrimSpace(v) == "" {
		return 0, fmt.Errorf("%w: no scope given, want read, write or admin", ErrInvalidScope)
	}
	var s Scope
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '+' || r == ',' }) {
		part = strings.TrimSpace(part)
		var found Scope
		for _, n := range scopeNames {
			if part == n.name {
				found = n.s
			}
		}
		switch {
		case found == 0:
			return 0, fmt.Errorf("%w: %q, want read, write or admin", ErrInvalidScope, part)
		case s&found != 0:
			return 0, fmt.Errorf("%w: %q given twice", ErrInvalidScope, part)
		}
		s |= found
	}
	if s == 0 {
		return 0, fmt.Errorf("%w: no scope given, want read, write or admin", ErrInvalidScope)
	}
	return s, nil
}

// KeyPrefix starts every API key Pictor makes.
const KeyPrefix = "pk_"

// maxNameLen bounds a key's name.
const maxNameLen = 64

// Key is a configured API key: the SHA-256 of the secret, never the secret itself.
type Key struct {
	// Hash is the SHA-256 of the full key string (prefix included).
	Hash [sha256.Size]byte
	// Scopes are what the key may do. Zero grants nothing.
	Scopes Scope
	// Name labels the key in logs (the "@name" suffix). Default "": the caller labels it by position.
	Name string
}

// LogValue keeps the hash out of logs: a Key logs as its name and scopes only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", k.Name), slog.String("scopes", k.Scopes.String()))
}

// HashSecret is the SHA-256 of a key string, as PICTOR_API_KEYS stores it.
func HashSecret(secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(secret))
}

// validName reports whether name is 1-64 of a-z A-Z 0-9 . _ -.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// NewKey makes a key with the given scopes and optional name: the secret (KeyPrefix and 32
// random bytes in unpadded base64url), to be shown once, and the Key to configure.
func NewKey(scopes Scope, name string) (string, Key, error) {
	if scopes == 0 || scopes&^(ScopeRead|ScopeWrite|ScopeAdmin) != 0 {
		return "", Key{}, fmt.Errorf("%w: want read, write or admin", ErrInvalidScope)
	}
	if name != "" && !validName(name) {
		return "", Key{}, fmt.Errorf("%w: name %q: use 1-%d of a-z A-Z 0-9 . _ -", ErrInvalidKeys, name, maxNameLen)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil { // never fails since Go 1.24; kept for clarity
		return "", Key{}, fmt.Errorf("read random bytes: %w", err)
	}
	secret := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, Key{Hash: HashSecret(secret), Scopes: scopes, Name: name}, nil
}

// FormatKey is k as one PICTOR_API_KEYS entry: "sha256hex:scope+scope" and "@name" when named.
func FormatKey(k Key) string {
	s := hex.EncodeToString(k.Hash[:]) + ":" + k.Scopes.String()
	if k.Name != "" {
		s += "@" + k.Name
	}
	return s
}

// FormatKeys is keys as a PICTOR_API_KEYS value: FormatKey of each, joined with commas.
func FormatKeys(keys []Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = FormatKey(k)
	}
	return strings.Join(parts, ",")
}

// ParseKeys reads a PICTOR_API_KEYS value: comma-separated "sha256hex:scope+scope" entries,
// each with an optional "@name" (1-64 of a-z A-Z 0-9 . _ -). Blanks around entries are
// ignored; "" is no keys. Empty entries, bad hashes, unknown scopes and repeated hashes are
// errors wrapping ErrInvalidKeys that name the entry by position, never by hash.
func ParseKeys(v string) ([]Key, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	entries := strings.Split(v, ",")
	keys := make([]Key, 0, len(entries))
	seen := map[[sha256.Size]byte]int{}
	for i, e := range entries {
		n := i + 1
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("%w: entry %d is empty", ErrInvalidKeys, n)
		}
		hashHex, rest, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: want sha256hex:scopes[@name]", ErrInvalidKeys, n)
		}
		var k Key
		if len(hashHex) != hex.EncodedLen(sha256.Size) {
			return nil, fmt.Errorf("%w: entry %d: hash must be %d hex characters (the output of pictor keys new)", ErrInvalidKeys, n, hex.EncodedLen(sha256.Size))
		}
		if _, err := hex.Decode(k.Hash[:], []byte(hashHex)); err != nil {
			return nil, fmt.Errorf("%w: entry %d: hash is not hexadecimal", ErrInvalidKeys, n)
		}
		scopes, name, named := strings.Cut(rest, "@")
		if named && !validName(name) {
			return nil, fmt.Errorf("%w: entry %d: name must be 1-%d of a-z A-Z 0-9 . _ -", ErrInvalidKeys, n, maxNameLen)
		}
		s, err := ParseScopes(scopes)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrInvalidKeys, n, err)
		}
		if prev, dup := seen[k.Hash]; dup {
			return nil, fmt.Errorf("%w: entries %d and %d hold the same key", ErrInvalidKeys, prev, n)
		}
		seen[k.Hash] = n
		k.Scopes, k.Name = s, name
		keys = append(keys, k)
	}
	return keys, nil
}

// Lookup finds the key whose hash is the SHA-256 of secret and returns its index in keys.
// It compares against every configured hash in constant time, with no early exit, so the
// time taken says nothing about which key, if any, matched.
func Lookup(keys []Key, secret string) (int, bool) {
	h := HashSecret(secret)
	idx, found := 0, 0
	for i := range keys {
		eq := subtle.ConstantTimeCompare(h[:], keys[i].Hash[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	return idx, found == 1
}
