package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

// replicas are two routers with the same keyed configuration (a shared session secret)
// over one fakeCatalog, which holds the signed-out sessions as the shared database does.
func replicas(t *testing.T) (one, two *bundle, tk testKeys, cfg Config) {
	t.Helper()
	tk = newTestKeys(t)
	cfg = DefaultConfig()
	cfg.Keys = tk.keys
	cfg.SessionSecret = []byte(strings.Repeat("r", auth.MinSigningKeyLen))
	fc := okCatalog()
	return setup(t, fc, &cfg), setup(t, fc, &cfg), tk, cfg
}

// withCookie serves method target on b with the session cookie c and header.
func withCookie(b *bundle, method, target string, c *http.Cookie, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// TestSessionSignOutRevokes: signing out on one replica ends that session on every replica,
// even for a client that kept the cookie, and leaves the key's other sessions alone.
func TestSessionSignOutRevokes(t *testing.T) {
	t.Parallel()
	one, two, tk, _ := replicas(t)
	_, c := signIn(t, one, "/v1/session", tk.write, consoleHdr)
	_, other := signIn(t, one, "/v1/session", tk.write, consoleHdr)
	if c == nil || other == nil {
		t.Fatal("sign in: got no cookie")
	}
	if c.Value == other.Value {
		t.Fatal("two sign-ins of one key: got the same token, want distinct sessions")
	}
	if rec := withCookie(two, "GET", "/v1/images", c, nil); rec.Code != http.StatusOK {
		t.Fatalf("before sign-out, on the other replica: got %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	rec := withCookie(one, "DELETE", "/v1/session", c, consoleHdr)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("sign out: got %d, want 204 (body %s)", rec.Code, rec.Body)
	}
	if !strings.Contains(one.logs.String(), "key=key-2") {
		t.Errorf("access log of the sign-out: got %s, want the key named", one.logs)
	}
	for name, b := range map[string]*bundle{"same replica": one, "other replica": two} {
		for _, target := range []string{"/v1/images", "/v1/session"} {
			rec := withCookie(b, "GET", target, c, nil)
			wantProblem(t, rec, http.StatusUnauthorized, "unauthorized")
			cleared := false
			for _, ck := range rec.Result().Cookies() {
				cleared = cleared || (ck.Name == SessionCookie && ck.MaxAge < 0)
			}
			if !cleared {
				t.Errorf("%s GET %s with the signed-out cookie: Set-Cookie %q, want it cleared", name, target, rec.Header().Values("Set-Cookie"))
			}
		}
		if rec := withCookie(b, "POST", "/v1/images/img_a1/renditions", c, consoleHdr); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s POST with the signed-out cookie: got %d, want 401", name, rec.Code)
		}
	}
	if rec := withCookie(two, "GET", "/v1/images", other, nil); rec.Code != http.StatusOK {
		t.Errorf("the key's other session after the sign-out: got %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	// Signing out again with the dead cookie, or with none, is still 204.
	for _, ck := range []*http.Cookie{c, nil} {
		if rec := withCookie(two, "DELETE", "/v1/session", ck, consoleHdr); rec.Code != http.StatusNoContent {
			t.Errorf("sign out again (cookie %v): got %d, want 204", ck != nil, rec.Code)
		}
	}
}

// TestSessionRevocationStoreDown: when the signed-out sessions cannot be read or written
// the cookie is not honoured and the sign-out is not reported done.
func TestSessionRevocationStoreDown(t *testing.T) {
	t.Parallel()
	one, _, tk, _ := replicas(t)
	_, c := signIn(t, one, "/v1/session", tk.read, consoleHdr)
	if c == nil {
		t.Fatal("sign in: got no cookie")
	}
	one.cat.mu.Lock()
	one.cat.sessionErr = catalog.ErrUnavailable
	one.cat.mu.Unlock()
	t.Cleanup(func() { one.cat.mu.Lock(); one.cat.sessionErr = nil; one.cat.mu.Unlock() })
	wantProblem(t, withCookie(one, "GET", "/v1/images", c, nil), http.StatusServiceUnavailable, "database-unavailable")
	wantProblem(t, withCookie(one, "DELETE", "/v1/session", c, consoleHdr), http.StatusServiceUnavailable, "database-unavailable")
	// A bearer key needs no session lookup.
	if rec := one.do(t, "GET", "/v1/images", nil, map[string]string{"Authorization": "Bearer " + tk.read}); rec.Code != http.StatusOK {
		t.Errorf("bearer key while the session store is down: got %d, want 200", rec.Code)
	}
}

// TestSessionKeyRemovalEndsSessions: removing a key from the configuration ends the
// sessions made with it, and every other session too (the session secret is derived from
// every key), on a replica that runs the new configuration.
func TestSessionKeyRemovalEndsSessions(t *testing.T) {
	t.Parallel()
	one, _, tk, cfg := replicas(t)
	_, c := signIn(t, one, "/v1/session", tk.write, consoleHdr)
	if c == nil {
		t.Fatal("sign in: got no cookie")
	}
	without := func(i int) Config {
		out := cfg
		out.Keys = append(append([]auth.Key{}, cfg.Keys[:i]...), cfg.Keys[i+1:]...)
		return out
	}
	tests := []struct {
		name   string
		cfg    Config
		status int
	}{
		{"unchanged", cfg, http.StatusOK},
		{"the session's own key removed", without(1), http.StatusUnauthorized},
		{"a later key removed", without(2), http.StatusUnauthorized},
		{"an earlier key removed", without(0), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, okCatalog(), &tt.cfg)
			rec := withCookie(b, "GET", "/v1/images", c, nil)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
		})
	}
}

// TestSessionCookieSecure: the cookie is Secure when the browser reached the service over
// HTTPS: TLS to this process, or X-Forwarded-Proto https from a configured trusted proxy,
// and from nobody else.
func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	trusting := DefaultConfig()
	trusting.Keys = tk.keys
	trusting.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	plain := DefaultConfig()
	plain.Keys = tk.keys
	withProxies, without := setup(t, okCatalog(), &trusting), setup(t, okCatalog(), &plain)
	tests := []struct {
		name   string
		b      *bundle
		target string
		remote string
		proto  string
		secure bool
	}{
		{"trusted proxy says https", withProxies, "/v1/session", "10.1.2.3:40000", "https", true},
		{"trusted proxy, IPv6", withProxies, "/v1/session", "[fd00::7]:40000", "HTTPS", true},
		{"trusted proxy, IPv4-mapped", withProxies, "/v1/session", "[::ffff:10.9.9.9]:40000", "https", true},
		{"trusted proxy, first of a chain", withProxies, "/v1/session", "10.1.2.3:40000", "https, http", true},
		{"trusted proxy says http", withProxies, "/v1/session", "10.1.2.3:40000", "http", false},
		{"trusted proxy says nothing", withProxies, "/v1/session", "10.1.2.3:40000", "", false},
		{"untrusted peer says https", withProxies, "/v1/session", "203.0.113.9:40000", "https", false},
		{"untrusted peer, last of a chain", withProxies, "/v1/session", "203.0.113.9:40000", "http, https", false},
		{"no trusted proxies configured", without, "/v1/session", "10.1.2.3:40000", "https", false},
		{"TLS to this process", without, "https://pictor.example/v1/session", "203.0.113.9:40000", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{ConsoleHeader: ConsoleHeaderValue}
			if tt.proto != "" {
				hdr["X-Forwarded-Proto"] = tt.proto
			}
			for _, method := range []string{"POST", "DELETE"} {
				req := httptest.NewRequest(method, tt.target, strings.NewReader(`{"key":"`+tk.read+`"}`))
				req.RemoteAddr = tt.remote
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				tt.b.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					t.Fatalf("%s: got %d, want 204 (body %s)", method, rec.Code, rec.Body)
				}
				var got *http.Cookie
				for _, c := range rec.Result().Cookies() {
					if c.Name == SessionCookie {
						got = c
					}
				}
				if got == nil || got.Secure != tt.secure {
					t.Errorf("%s Set-Cookie: got %q, want Secure %v", method, rec.Header().Values("Set-Cookie"), tt.secure)
				}
			}
		})
	}
}

func TestTrustedProxiesValidate(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a zero prefix: Validate = %v, want ErrInvalidConfig", err)
	}
	cfg.TrustedProxies = cfg.TrustedProxies[:1]
	if err := cfg.Validate(); err != nil {
		t.Errorf("10.0.0.0/8: Validate = %v, want nil", err)
	}
}
