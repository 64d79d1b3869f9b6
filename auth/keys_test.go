package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestScopeAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		have Scope
		need Scope
		want bool
	}{
		{"read reads", ScopeRead, ScopeRead, true},
		{"read cannot write", ScopeRead, ScopeWrite, false},
		{"read cannot admin", ScopeRead, ScopeAdmin, false},
		{"write implies read", ScopeWrite, ScopeRead, true},
		{"write writes", ScopeWrite, ScopeWrite, true},
		{"write cannot admin", ScopeWrite, ScopeAdmin, false},
		{"admin implies write", ScopeAdmin, ScopeWrite, true},
		{"admin implies read", ScopeAdmin, ScopeRead, true},
		{"read+write cannot admin", ScopeRead | ScopeWrite, ScopeAdmin, false},
		{"none grants nothing", 0, ScopeRead, false},
		{"needing nothing is refused", ScopeAdmin, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.have.Allows(tt.need); got != tt.want {
				t.Errorf("%v.Allows(%v): got %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"read", ScopeRead, false},
		{"read+write", ScopeRead | ScopeWrite, false},
		{"read,write", ScopeRead | ScopeWrite, false},
		{"admin", ScopeAdmin, false},
		{"write+admin+read", ScopeRead | ScopeWrite | ScopeAdmin, false},
		{"", 0, true},
		{"+", 0, true},
		{"Read", 0, true},
		{"root", 0, true},
		{"read+read", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseScopes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseScopes(%q): got error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidScope) {
				t.Errorf("ParseScopes(%q): got %v, want it to wrap ErrInvalidScope", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseScopes(%q): got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewKeyRoundTrip(t *testing.T) {
	t.Parallel()
	secret, k, err := NewKey(ScopeRead|ScopeWrite, "ci")
	if err != nil {
		t.Fatalf("NewKey: got %v, want nil", err)
	}
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) != len(KeyPrefix)+43 {
		t.Errorf("secret: got %q, want %s and 43 base64url characters", secret, KeyPrefix)
	}
	if k.Hash != sha256.Sum256([]byte(secret)) {
		t.Errorf("hash: got %x, want the sha256 of the secret", k.Hash)
	}
	entry := FormatKey(k)
	if want := hex.EncodeToString(k.Hash[:]) + ":read+write@ci"; entry != want {
		t.Errorf("FormatKey: got %q, want %q", entry, want)
	}
	if strings.Contains(entry, secret) || strings.Contains(entry, strings.TrimPrefix(secret, KeyPrefix)) {
		t.Errorf("FormatKey: got %q, want no trace of the secret", entry)
	}
	parsed, err := ParseKeys(entry)
	if err != nil || len(parsed) != 1 || parsed[0] != k {
		t.Fatalf("ParseKeys(FormatKey(k)): got %v, %v, want [%v]", parsed, err, k)
	}
	if i, ok := Lookup(parsed, secret); !ok || i != 0 {
		t.Errorf("Lookup of the new secret: got %d, %v, want 0, true", i, ok)
	}
	secret2, _, err := NewKey(ScopeRead, "")
	if err != nil || secret2 == secret {
		t.Errorf("second NewKey: got %q, %v, want a different secret", secret2, err)
	}
}

func TestNewKeyRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scopes Scope
		key    string
	}{
		{"no scope", 0, ""},
		{"unknown scope bit", 1 << 6, ""},
		{"bad name", ScopeRead, "has space"},
		{"name too long", ScopeRead, strings.Repeat("a", 65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if s, _, err := NewKey(tt.scopes, tt.key); err == nil {
				t.Errorf("NewKey: got secret %q, want an error", s)
			}
		})
	}
}

func hexOf(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	a, b := hexOf("a"), hexOf("b")
	tests := []struct {
		name    string
		in      string
		want    []Key
		wantErr string // a substring of the error
	}{
		{"empty is no keys", "", nil, ""},
		{"blank is no keys", "  ", nil, ""},
		{"one", a + ":read", []Key{{Hash: sha256.Sum256([]byte("a")), Scopes: ScopeRead}}, ""},
		{"two with names and spaces", a + ":read+write@ci , " + b + ":admin@ops",
			[]Key{{Hash: sha256.Sum256([]byte("a")), Scopes: ScopeRead | ScopeWrite, Name: "ci"},
				{Hash: sha256.Sum256([]byte("b")), Scopes: ScopeAdmin, Name: "ops"}}, ""},
		{"upper-case hex", strings.ToUpper(a) + ":read", []Key{{Hash: sha256.Sum256([]byte("a")), Scopes: ScopeRead}}, ""},
		{"trailing comma", a + ":read,", nil, "entry 2 is empty"},
		{"no colon", a, nil, "entry 1: want"},
		{"short hash", a[:10] + ":read", nil, "entry 1: hash must be 64"},
		{"not hex", strings.Repeat("z", 64) + ":read", nil, "entry 1: hash is not hexadecimal"},
		{"no scopes", a + ":", nil, "entry 1"},
		{"unknown scope", b + ":read, " + a + ":superuser", nil, "entry 2"},
		{"empty name", a + ":read@", nil, "entry 1: name"},
		{"bad name", a + ":read@o ps", nil, "entry 1: name"},
		{"duplicate", a + ":read," + a + ":admin", nil, "entries 1 and 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeys(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseKeys: got %v, want an error containing %q", got, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidKeys) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseKeys: got error %q, want ErrInvalidKeys containing %q", err, tt.wantErr)
				}
				for _, h := range []string{a, b, a[:10], strings.ToUpper(a)} {
					if strings.Contains(err.Error(), h) {
						t.Errorf("ParseKeys: got error %q, want no hash in it", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys: got error %v, want nil", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseKeys: got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("key %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestFormatKeysParses(t *testing.T) {
	t.Parallel()
	keys := []Key{
		{Hash: sha256.Sum256([]byte("x")), Scopes: ScopeRead},
		{Hash: sha256.Sum256([]byte("y")), Scopes: ScopeAdmin | ScopeWrite, Name: "ops"},
	}
	got, err := ParseKeys(FormatKeys(keys))
	if err != nil {
		t.Fatalf("ParseKeys(FormatKeys): got %v, want nil", err)
	}
	if len(got) != 2 || got[0] != keys[0] || got[1] != keys[1] {
		t.Errorf("round trip: got %+v, want %+v", got, keys)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	keys := []Key{
		{Hash: HashSecret("pk_one"), Scopes: ScopeRead},
		{Hash: HashSecret("pk_two"), Scopes: ScopeWrite},
		{Hash: HashSecret("pk_three"), Scopes: ScopeAdmin},
	}
	tests := []struct {
		secret  string
		wantIdx int
		wantOK  bool
	}{
		{"pk_one", 0, true},
		{"pk_two", 1, true},
		{"pk_three", 2, true},
		{"pk_four", 0, false},
		{"", 0, false},
		{"pk_one ", 0, false},
		{hexOf("pk_one"), 0, false}, // the configured hash is not a key
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			t.Parallel()
			i, ok := Lookup(keys, tt.secret)
			if ok != tt.wantOK || (ok && i != tt.wantIdx) {
				t.Errorf("Lookup(%q): got %d, %v, want %d, %v", tt.secret, i, ok, tt.wantIdx, tt.wantOK)
			}
		})
	}
	if _, ok := Lookup(nil, "pk_one"); ok {
		t.Errorf("Lookup with no keys: got true, want false")
	}
}

func TestKeyLogValueHidesHash(t *testing.T) {
	t.Parallel()
	k := Key{Hash: HashSecret("pk_secret"), Scopes: ScopeRead, Name: "ci"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	h := hex.EncodeToString(k.Hash[:])
	if strings.Contains(buf.String(), h) || !strings.Contains(buf.String(), "key.name=ci") {
		t.Errorf("log: got %q, want the name and no hash", buf.String())
	}
}
