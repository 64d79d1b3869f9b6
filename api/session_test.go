package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/auth"
)

// sessionSetup is a keyed service (one key per scope, a URL signing key) and its keys.
func sessionSetup(t *testing.T) (*bundle, testKeys, Config) {
	t.Helper()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.SigningKeys = [][]byte{signKeyNew}
	return setup(t, okCatalog(), &cfg), tk, cfg
}

var consoleHdr = map[string]string{ConsoleHeader: ConsoleHeaderValue}

// signIn posts key to /v1/session and returns the answer and its session cookie (nil when none).
func signIn(t *testing.T, b *bundle, target, key string, header map[string]string) (*httptest.ResponseRecorder, *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key})
	rec := b.do(t, http.MethodPost, target, strings.NewReader(string(body)), header)
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return rec, c
		}
	}
	return rec, nil
}

func TestSessionSignIn(t *testing.T) {
	t.Parallel()
	b, tk, _ := sessionSetup(t)

	t.Run("valid key sets the cookie", func(t *testing.T) {
		t.Parallel()
		rec, c := signIn(t, b, "/v1/session", tk.write, consoleHdr)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status: got %d, want 204 (body %s)", rec.Code, rec.Body)
		}
		if c == nil {
			t.Fatalf("Set-Cookie: got %q, want %s", rec.Header().Values("Set-Cookie"), SessionCookie)
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie: got HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Strict, /, not Secure over plain HTTP",
				c.HttpOnly, c.SameSite, c.Path, c.Secure)
		}
		if want := int(SessionTTL.Seconds()); c.MaxAge < want-5 || c.MaxAge > want {
			t.Errorf("Max-Age: got %d, want about %d", c.MaxAge, want)
		}
		if strings.Contains(c.Value, tk.write) || strings.Contains(c.Value, strings.TrimPrefix(tk.write, auth.KeyPrefix)) {
			t.Errorf("cookie value: got %q, want it not to hold the key", c.Value)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
	})
	t.Run("over TLS the cookie is Secure", func(t *testing.T) {
		t.Parallel()
		_, c := signIn(t, b, "https://pictor.example/v1/session", tk.read, consoleHdr)
		if c == nil || !c.Secure {
			t.Fatalf("cookie: got %+v, want Secure", c)
		}
	})

	tests := []struct {
		name   string
		key    string
		header map[string]string
		status int
		slug   string
	}{
		{"wrong key", "pk_not-a-configured-key", consoleHdr, http.StatusUnauthorized, "unauthorized"},
		{"empty key", "", consoleHdr, http.StatusUnauthorized, "unauthorized"},
		{"without the console header", tk.write, nil, http.StatusForbidden, "csrf-header-missing"},
		{"wrong console header", tk.write, map[string]string{ConsoleHeader: "XMLHttpRequest"}, http.StatusForbidden, "csrf-header-missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, c := signIn(t, b, "/v1/session", tt.key, tt.header)
			wantProblem(t, rec, tt.status, tt.slug)
			if c != nil {
				t.Errorf("Set-Cookie: got %q, want none", rec.Header().Values("Set-Cookie"))
			}
		})
	}
	t.Run("malformed body", func(t *testing.T) {
		t.Parallel()
		rec := b.do(t, http.MethodPost, "/v1/session", strings.NewReader(`{"key": 7}`), consoleHdr)
		wantProblem(t, rec, http.StatusBadRequest, "malformed-json")
	})
}

func TestSessionCookieAuthorizes(t *testing.T) {
	t.Parallel()
	b, tk, cfg := sessionSetup(t)
	cookie := func(key string) string {
		_, c := signIn(t, b, "/v1/session", key, consoleHdr)
		if c == nil {
			t.Fatalf("sign in with a configured key: got no cookie")
		}
		return c.Value
	}
	read, write, admin := cookie(tk.read), cookie(tk.write), cookie(tk.admin)
	secret := auth.SessionSecret(cfg.Keys, cfg.SigningKeys)
	expired := auth.SignSession(secret, auth.Session{Key: 1, Scopes: auth.ScopeWrite, Expires: time.Now().Add(-time.Minute), ID: auth.NewSessionID()})
	unknownKey := auth.SignSession(secret, auth.Session{Key: 9, Scopes: auth.ScopeWrite, Expires: time.Now().Add(time.Hour), ID: auth.NewSessionID()})
	otherSecret := auth.SignSession(auth.SessionSecret(cfg.Keys, nil), auth.Session{Key: 1, Scopes: auth.ScopeWrite, Expires: time.Now().Add(time.Hour), ID: auth.NewSessionID()})
	// A read session whose payload claims admin, with the read session's signature.
	payload, sig, _ := strings.Cut(read, ".")
	p, _ := base64.RawURLEncoding.DecodeString(payload)
	p[3] = byte(auth.ScopeAdmin)
	upgraded := base64.RawURLEncoding.EncodeToString(p) + "." + sig
	// One character in the middle of the signature changed (every bit of it counts there).
	i := strings.IndexByte(write, '.') + 10
	sub := byte('A')
	if write[i] == 'A' {
		sub = 'Q'
	}
	flipped := write[:i] + string(sub) + write[i+1:]

	tests := []struct {
		name           string
		cookie         string
		method, target string
		header         map[string]string
		status         int
		slug           string
	}{
		{"read session reads", read, "GET", "/v1/images", nil, 200, ""},
		{"write session writes with the console header", write, "POST", "/v1/images/img_a1/renditions", consoleHdr, 201, ""},
		{"write session without the console header", write, "POST", "/v1/images/img_a1/renditions", nil, 403, "csrf-header-missing"},
		{"delete without the console header", write, "DELETE", "/v1/images/img_a1/renditions", nil, 403, "csrf-header-missing"},
		{"read session cannot write", read, "POST", "/v1/images/img_a1/renditions", consoleHdr, 403, "insufficient-scope"},
		{"write session cannot see backends", write, "GET", "/v1/backends", nil, 403, "insufficient-scope"},
		{"admin session sees backends", admin, "GET", "/v1/backends", nil, 200, ""},
		{"expired", expired, "GET", "/v1/images", nil, 401, "unauthorized"},
		{"tampered signature", flipped, "GET", "/v1/images", nil, 401, "unauthorized"},
		{"scopes raised in the payload", upgraded, "GET", "/v1/backends", nil, 401, "unauthorized"},
		{"signed with another secret", otherSecret, "GET", "/v1/images", nil, 401, "unauthorized"},
		{"names no configured key", unknownKey, "GET", "/v1/images", nil, 401, "unauthorized"},
		{"garbage", "not-a-token", "GET", "/v1/images", nil, 401, "unauthorized"},
		{"a bad bearer key wins over a good cookie", admin, "GET", "/v1/images", map[string]string{"Authorization": "Bearer pk_wrong"}, 401, "unauthorized"},
		{"a bearer key needs no console header", "", "POST", "/v1/images/img_a1/renditions", map[string]string{"Authorization": "Bearer " + tk.write}, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(`{"recipe":"listing"}`))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.cookie})
			}
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, req)
			if tt.slug == "" {
				if rec.Code != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
				}
				return
			}
			wantProblem(t, rec, tt.status, tt.slug)
			if tt.status == http.StatusUnauthorized && tt.cookie != "" && tt.header == nil {
				cleared := false
				for _, c := range rec.Result().Cookies() {
					cleared = cleared || (c.Name == SessionCookie && c.MaxAge < 0)
				}
				if !cleared {
					t.Errorf("Set-Cookie: got %q, want the invalid session cleared", rec.Header().Values("Set-Cookie"))
				}
			}
		})
	}
}

// TestSessionRotation: a session from one configuration is refused by another (a key added
// or a signing key rotated), and accepted by an identical one (another replica).
func TestSessionRotation(t *testing.T) {
	t.Parallel()
	b, tk, cfg := sessionSetup(t)
	_, c := signIn(t, b, "/v1/session", tk.write, consoleHdr)
	if c == nil {
		t.Fatal("sign in: got no cookie")
	}
	_, extra, err := auth.NewKey(auth.ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	added := cfg
	added.Keys = append(append([]auth.Key{}, cfg.Keys...), extra)
	rotated := cfg
	rotated.SigningKeys = [][]byte{signKeyOld}
	rescoped := cfg
	rescoped.Keys = append([]auth.Key{}, cfg.Keys...)
	rescoped.Keys[1].Scopes = auth.ScopeRead
	tests := []struct {
		name   string
		cfg    Config
		status int
	}{
		{"same configuration on another replica", cfg, http.StatusOK},
		{"a key added", added, http.StatusUnauthorized},
		{"signing key rotated", rotated, http.StatusUnauthorized},
		{"the key's scopes changed", rescoped, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := setup(t, okCatalog(), &tt.cfg)
			req := httptest.NewRequest("GET", "/v1/images", nil)
			req.AddCookie(c)
			rec := httptest.NewRecorder()
			other.h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

func TestSessionWhoAmI(t *testing.T) {
	t.Parallel()
	b, tk, _ := sessionSetup(t)
	_, c := signIn(t, b, "/v1/session", tk.read, consoleHdr)
	if c == nil {
		t.Fatal("sign in: got no cookie")
	}
	tests := []struct {
		name       string
		cookie     *http.Cookie
		bearer     string
		status     int
		want       sessionAnswer
		wantExpiry bool
	}{
		{"cookie", c, "", 200, sessionAnswer{Key: "reader", Scopes: []string{"read"}, Via: "cookie"}, true},
		{"bearer", nil, tk.admin, 200, sessionAnswer{Key: "ops", Scopes: []string{"read", "write", "admin"}, Via: "bearer"}, false},
		{"bearer key without a name", nil, tk.write, 200, sessionAnswer{Key: "key-2", Scopes: []string{"read", "write"}, Via: "bearer"}, false},
		{"nothing", nil, "", 401, sessionAnswer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("GET", "/v1/session", nil)
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if tt.status != 200 {
				return
			}
			var got sessionAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if got.Key != tt.want.Key || got.Via != tt.want.Via || strings.Join(got.Scopes, ",") != strings.Join(tt.want.Scopes, ",") || got.Open {
				t.Errorf("session: got %+v, want %+v", got, tt.want)
			}
			if (got.ExpiresAt != nil) != tt.wantExpiry {
				t.Errorf("expires_at: got %v, want present %v", got.ExpiresAt, tt.wantExpiry)
			}
			if got.ExpiresAt != nil {
				if d := time.Until(*got.ExpiresAt); d < SessionTTL-time.Minute || d > SessionTTL {
					t.Errorf("expires in: got %v, want about %v", d, SessionTTL)
				}
			}
		})
	}
}

func TestSessionSignOut(t *testing.T) {
	t.Parallel()
	b, _, _ := sessionSetup(t)
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"with the console header", consoleHdr, http.StatusNoContent},
		{"without it", nil, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do(t, http.MethodDelete, "/v1/session", nil, tt.header)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			cleared := false
			for _, c := range rec.Result().Cookies() {
				cleared = cleared || (c.Name == SessionCookie && c.MaxAge < 0 && c.Value == "")
			}
			if cleared != (tt.status == http.StatusNoContent) {
				t.Errorf("cookie cleared: got %v, want %v (Set-Cookie %q)", cleared, tt.status == http.StatusNoContent, rec.Header().Values("Set-Cookie"))
			}
		})
	}
}

// TestSessionOpenService: with no keys the session routes answer without a cookie, and the
// console works with none.
func TestSessionOpenService(t *testing.T) {
	t.Parallel()
	b := setup(t, okCatalog(), nil)
	tests := []struct {
		method string
		body   string
		status int
	}{
		{"POST", `{"key":"anything"}`, http.StatusNoContent},
		{"DELETE", "", http.StatusNoContent},
		{"GET", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			rec := b.do(t, tt.method, "/v1/session", strings.NewReader(tt.body), nil)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if tt.method == "POST" && len(rec.Result().Cookies()) != 0 {
				t.Errorf("Set-Cookie: got %q, want none", rec.Header().Values("Set-Cookie"))
			}
			if tt.method == "GET" {
				var got sessionAnswer
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !got.Open || len(got.Scopes) != 3 {
					t.Errorf("session: got %+v (err %v), want open with every scope", got, err)
				}
			}
		})
	}
	if rec := b.do(t, "POST", "/v1/images/img_a1/renditions", strings.NewReader(`{"recipe":"listing"}`), nil); rec.Code != http.StatusCreated {
		t.Errorf("open service render without header: got %d, want 201", rec.Code)
	}
}

func TestSessionSignInRateLimited(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.RateLimit = RateLimit{PerSecond: 0.001, Burst: 2}
	b := setup(t, okCatalog(), &cfg)
	var codes []int
	for range 3 {
		rec, _ := signIn(t, b, "/v1/session", "pk_guess", consoleHdr)
		codes = append(codes, rec.Code)
	}
	if want := []int{401, 401, 429}; codes[0] != want[0] || codes[1] != want[1] || codes[2] != want[2] {
		t.Errorf("statuses: got %v, want %v", codes, want)
	}
}

// TestSessionSecretNotFromKeyHashes: without a session secret or signing keys, a token
// made from the key hashes alone (which config files carry) is refused; with a session
// secret, replicas sharing it accept each other's sessions and nobody else's.
func TestSessionSecretNotFromKeyHashes(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	forged := auth.SignSession(auth.SessionSecret(tk.keys, nil), auth.Session{Key: 2, Scopes: auth.ScopeAdmin, Expires: time.Now().Add(time.Hour), ID: auth.NewSessionID()})
	get := func(b *bundle, cookie string) int {
		req := httptest.NewRequest("GET", "/v1/backends", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		rec := httptest.NewRecorder()
		b.h.ServeHTTP(rec, req)
		return rec.Code
	}
	signedIn := func(b *bundle) string {
		_, c := signIn(t, b, "/v1/session", tk.admin, consoleHdr)
		if c == nil {
			t.Fatal("sign in: got no cookie")
		}
		return c.Value
	}

	bare := DefaultConfig()
	bare.Keys = tk.keys
	one, two := setup(t, okCatalog(), &bare), setup(t, okCatalog(), &bare)
	if code := get(one, forged); code != http.StatusUnauthorized {
		t.Errorf("token from the key hashes alone: status %d, want 401", code)
	}
	own := signedIn(one)
	if code := get(one, own); code != http.StatusOK {
		t.Errorf("own session: status %d, want 200", code)
	}
	if code := get(two, own); code != http.StatusUnauthorized {
		t.Errorf("another process without a shared secret: status %d, want 401", code)
	}

	shared := bare
	shared.SessionSecret = []byte(strings.Repeat("s", auth.MinSigningKeyLen))
	three, four := setup(t, okCatalog(), &shared), setup(t, okCatalog(), &shared)
	if code := get(four, signedIn(three)); code != http.StatusOK {
		t.Errorf("replica with the same session secret: status %d, want 200", code)
	}
	if code := get(three, forged); code != http.StatusUnauthorized {
		t.Errorf("token from the key hashes alone, secret set: status %d, want 401", code)
	}

	short := shared
	short.SessionSecret = []byte("short")
	if err := short.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a short session secret: Validate = %v, want ErrInvalidConfig", err)
	}
}
