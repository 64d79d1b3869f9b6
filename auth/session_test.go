package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// sessionKeys are three keys: read, write, admin, in that order.
func sessionKeys(t *testing.T) []Key {
	t.Helper()
	var keys []Key
	for _, s := range []Scope{ScopeRead, ScopeWrite, ScopeAdmin} {
		_, k, err := NewKey(s, "")
		if err != nil {
			t.Fatalf("NewKey: %v", err)
		}
		keys = append(keys, k)
	}
	return keys
}

var sessionMaterial = [][]byte{[]byte("session-material-0123456789abcdef")}

func TestVerifySession(t *testing.T) {
	t.Parallel()
	keys := sessionKeys(t)
	secret := SessionSecret(keys, sessionMaterial)
	now := time.Unix(1_800_000_000, 0)
	good := SignSession(secret, Session{Key: 2, Scopes: ScopeAdmin, Expires: now.Add(time.Hour), ID: NewSessionID()})
	// A token of the same session whose payload claims admin for the read key, with the
	// read session's signature.
	read := SignSession(secret, Session{Key: 0, Scopes: ScopeRead, Expires: now.Add(time.Hour), ID: NewSessionID()})
	payload, sig, _ := strings.Cut(read, ".")
	p, _ := base64.RawURLEncoding.DecodeString(payload)
	p[3] = byte(ScopeAdmin)
	upgraded := base64.RawURLEncoding.EncodeToString(p) + "." + sig
	tests := []struct {
		name    string
		secret  []byte
		keys    []Key
		token   string
		now     time.Time
		wantErr error
	}{
		{"valid", secret, keys, good, now, nil},
		{"one second before expiry", secret, keys, good, now.Add(time.Hour - time.Second), nil},
		{"at expiry", secret, keys, good, now.Add(time.Hour), ErrSessionExpired},
		{"no dot", secret, keys, strings.ReplaceAll(good, ".", ""), now, ErrSessionMalformed},
		{"bad base64", secret, keys, good + "!", now, ErrSessionMalformed},
		{"too long", secret, keys, good + strings.Repeat("A", 200), now, ErrSessionMalformed},
		{"other payload", secret, keys, SignSession(secret, Session{Key: 2, Scopes: ScopeAdmin, Expires: now.Add(2 * time.Hour), ID: NewSessionID()})[:16] + good[16:], now, ErrSessionSignature},
		{"scopes raised", secret, keys, upgraded, now, ErrSessionSignature},
		{"other secret", SessionSecret(keys, nil), keys, good, now, ErrSessionSignature},
		{"key removed", secret, keys[:2], good, now, ErrSessionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := VerifySession(tt.secret, tt.keys, tt.token, tt.now)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("verify: got %v, want %v", err, tt.wantErr)
			}
			if err == nil && (s.Key != 2 || s.Scopes != ScopeAdmin || !s.Expires.Equal(now.Add(time.Hour))) {
				t.Errorf("session: got %+v, want key 2, admin, expiring in an hour", s)
			}
		})
	}
}

// TestSessionScopesNarrowToTheKey: a session grants only the scopes its key still holds,
// and none at all when the key holds none of them.
func TestSessionScopesNarrowToTheKey(t *testing.T) {
	t.Parallel()
	keys := sessionKeys(t)
	now := time.Unix(1_800_000_000, 0)
	secret := SessionSecret(keys, sessionMaterial)
	// The secret covers the keys' scopes, so a changed scope changes it: sign with the
	// keys as they will be checked, to see the narrowing on its own.
	tok := SignSession(secret, Session{Key: 1, Scopes: ScopeRead | ScopeWrite, Expires: now.Add(time.Hour), ID: NewSessionID()})
	s, err := VerifySession(secret, keys, tok, now)
	if err != nil || s.Scopes != ScopeWrite {
		t.Fatalf("read+write session of the write key: got %v, %v; want write", s.Scopes, err)
	}
	tok = SignSession(secret, Session{Key: 0, Scopes: ScopeAdmin, Expires: now.Add(time.Hour), ID: NewSessionID()})
	if _, err := VerifySession(secret, keys, tok, now); !errors.Is(err, ErrSessionUnknown) {
		t.Errorf("admin session of the read key: got %v, want %v", err, ErrSessionUnknown)
	}
}

// TestSessionTokenCarriesID: each token names its session, and a version 1 token (which
// could not be revoked) is refused.
func TestSessionTokenCarriesID(t *testing.T) {
	t.Parallel()
	keys := sessionKeys(t)
	secret := SessionSecret(keys, nil)
	now := time.Unix(1_800_000_000, 0)
	id := NewSessionID()
	s, err := VerifySession(secret, keys, SignSession(secret, Session{Key: 0, Scopes: ScopeRead, Expires: now.Add(time.Hour), ID: id}), now)
	if err != nil || s.ID != id {
		t.Fatalf("verify: got %+v, %v; want id %s", s, err, id)
	}
	if a, b := NewSessionID(), NewSessionID(); a == b || len(a) != 22 {
		t.Errorf("session ids: got %q and %q, want two distinct 22-character ids", a, b)
	}
	var v1 [12]byte
	v1[0] = 1
	binary.BigEndian.PutUint16(v1[1:3], 0)
	v1[3] = byte(ScopeRead)
	binary.BigEndian.PutUint64(v1[4:12], uint64(now.Add(time.Hour).Unix()))
	payload := base64.RawURLEncoding.EncodeToString(v1[:])
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(payload))
	old := payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if _, err := VerifySession(secret, keys, old, now); !errors.Is(err, ErrSessionMalformed) {
		t.Errorf("version 1 token: got %v, want %v", err, ErrSessionMalformed)
	}
}

// TestSessionSecret: the secret changes with every key hash, every scope and the material,
// and length prefixes keep differently split material apart.
func TestSessionSecret(t *testing.T) {
	t.Parallel()
	keys := sessionKeys(t)
	base := SessionSecret(keys, sessionMaterial)
	if got := SessionSecret(keys, sessionMaterial); !hmac.Equal(got, base) {
		t.Fatalf("same configuration: got %x, want %x", got, base)
	}
	scoped := append([]Key(nil), keys...)
	scoped[0].Scopes = ScopeWrite
	tests := []struct {
		name     string
		keys     []Key
		material [][]byte
	}{
		{"a key removed", keys[:2], sessionMaterial},
		{"a scope changed", scoped, sessionMaterial},
		{"no material", keys, nil},
		{"other material", keys, [][]byte{[]byte("session-material-0123456789abcdeF")}},
		{"material split in two", keys, [][]byte{sessionMaterial[0][:10], sessionMaterial[0][10:]}},
	}
	for _, tt := range tests {
		if got := SessionSecret(tt.keys, tt.material); hmac.Equal(got, base) {
			t.Errorf("%s: got the same secret %x", tt.name, got)
		}
	}
}

// TestSignSessionPanicsOnProgrammingErrors: an id not from NewSessionID, or a key index
// that does not fit in the token, is a caller's bug.
func TestSignSessionPanicsOnProgrammingErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []Session{
		{Key: 0, Scopes: ScopeRead, Expires: time.Unix(1_800_000_000, 0), ID: "short"},
		{Key: 1 << 16, Scopes: ScopeRead, Expires: time.Unix(1_800_000_000, 0), ID: NewSessionID()},
		{Key: -1, Scopes: ScopeRead, Expires: time.Unix(1_800_000_000, 0), ID: NewSessionID()},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SignSession(%+v): got no panic", s)
				}
			}()
			SignSession([]byte("secret"), s)
		}()
	}
}
