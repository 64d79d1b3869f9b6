package api

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/api/console"
	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

// testKeys are one key per scope, made fresh for a test.
type testKeys struct {
	read, write, admin string
	keys               []auth.Key
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	var tk testKeys
	for _, k := range []struct {
		dst   *string
		scope auth.Scope
		name  string
	}{{&tk.read, auth.ScopeRead, "reader"}, {&tk.write, auth.ScopeWrite, ""}, {&tk.admin, auth.ScopeAdmin, "ops"}} {
		secret, key, err := auth.NewKey(k.scope, k.name)
		if err != nil {
			t.Fatalf("NewKey: %v", err)
		}
		*k.dst = secret
		tk.keys = append(tk.keys, key)
	}
	return tk
}

// okCatalog answers every call with a success.
func okCatalog() *fakeCatalog {
	img := catalog.Image{ID: "img_a1"}
	return &fakeCatalog{
		ingest: func(context.Context, catalog.IngestRequest) (*catalog.IngestResult, error) {
			return &catalog.IngestResult{Image: img}, nil
		},
		getImage:   func(context.Context, string) (catalog.Image, error) { return img, nil },
		listImages: func(context.Context, catalog.ListImagesQuery) ([]catalog.Image, string, error) { return nil, "", nil },
		openOriginal: func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
			return io.NopCloser(strings.NewReader("x")), catalog.ObjectMeta{ContentType: "image/png", Size: 1}, nil
		},
		openRendition: func(context.Context, string) (io.ReadCloser, catalog.ObjectMeta, error) {
			return io.NopCloser(strings.NewReader("x")), catalog.ObjectMeta{ContentType: "image/png", Size: 1}, nil
		},
		render: func(context.Context, string, catalog.RecipeRef, string) ([]catalog.Rendition, error) { return nil, nil },
		putRecipe: func(_ context.Context, name string, _ []byte) (catalog.StoredRecipe, bool, error) {
			return catalog.StoredRecipe{Name: name}, false, nil
		},
		getRecipe: func(_ context.Context, name string) (catalog.StoredRecipe, error) {
			return catalog.StoredRecipe{Name: name}, nil
		},
		deleteRecipe: func(context.Context, string) error { return nil },
		listRecipes:  func(context.Context) ([]catalog.StoredRecipe, error) { return nil, nil },
		analyze: func(context.Context, string, []byte) (catalog.QualityReport, error) {
			return catalog.QualityReport{}, nil
		},
		ready: func(context.Context) error { return nil },
		purge: func(context.Context, string) (int, error) { return 0, nil },
	}
}

func TestRequiredScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		want         auth.Scope
	}{
		{"GET", "/v1/images", auth.ScopeRead},
		{"HEAD", "/v1/images/x/content", auth.ScopeRead},
		{"POST", "/v1/images", auth.ScopeWrite},
		{"DELETE", "/v1/images/x/renditions", auth.ScopeWrite},
		{"PATCH", "/v1/images/x", auth.ScopeWrite},
		{"OPTIONS", "/v1/images", auth.ScopeWrite},
		{"GET", "/v1/recipes", auth.ScopeAdmin},
		{"GET", "/v1/recipes/listing", auth.ScopeAdmin},
		{"PUT", "/v1/recipes/listing", auth.ScopeAdmin},
		{"GET", "/v1/backends", auth.ScopeAdmin},
		{"GET", "/v1/backends/gpu-1", auth.ScopeAdmin},
		{"GET", "/v1/recipesque", auth.ScopeRead},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			if got := requiredScope(tt.method, tt.path); got != tt.want {
				t.Errorf("requiredScope: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.SigningKeys = [][]byte{signKeyNew}
	b := setup(t, okCatalog(), &cfg)

	type call struct {
		method, target, body string
	}
	var (
		ingest    = call{"POST", "/v1/images", `{"url":"https://example.com/a.jpg"}`}
		list      = call{"GET", "/v1/images", ""}
		get       = call{"GET", "/v1/images/img_a1", ""}
		head      = call{"HEAD", "/v1/images/img_a1/content", ""}
		render    = call{"POST", "/v1/images/img_a1/renditions", `{"recipe":"r"}`}
		purge     = call{"DELETE", "/v1/images/img_a1/renditions", ""}
		rendition = call{"GET", "/v1/renditions/rnd_1/content", ""}
		recipes   = call{"GET", "/v1/recipes", ""}
		recipe    = call{"GET", "/v1/recipes/r", ""}
		putRecipe = call{"PUT", "/v1/recipes/r", `{"steps":[],"outputs":[{"name":"main","format":"webp"}]}`}
		delRecipe = call{"DELETE", "/v1/recipes/r", ""}
		analyze   = call{"POST", "/v1/analyze", `{"url":"https://example.com/a.jpg"}`}
	)
	// want is the status for no key, read, write and admin keys.
	tests := []struct {
		name string
		c    call
		want [4]int
	}{
		{"ingest", ingest, [4]int{401, 403, 201, 201}},
		{"list images", list, [4]int{401, 200, 200, 200}},
		{"get image", get, [4]int{401, 200, 200, 200}},
		{"head original", head, [4]int{401, 200, 200, 200}},
		{"render", render, [4]int{401, 403, 201, 201}},
		{"purge", purge, [4]int{401, 403, 200, 200}},
		{"rendition bytes", rendition, [4]int{401, 200, 200, 200}},
		{"list recipes", recipes, [4]int{401, 403, 403, 200}},
		{"get recipe", recipe, [4]int{401, 403, 403, 200}},
		{"put recipe", putRecipe, [4]int{401, 403, 403, 200}},
		{"delete recipe", delRecipe, [4]int{401, 403, 403, 204}},
		{"analyze", analyze, [4]int{401, 403, 200, 200}},
		{"healthz is open", call{"GET", "/healthz", ""}, [4]int{200, 200, 200, 200}},
		{"openapi is open", call{"GET", "/openapi.json", ""}, [4]int{200, 200, 200, 200}},
		{"metrics is open", call{"GET", "/metrics", ""}, [4]int{200, 200, 200, 200}},
		{"readyz is open", call{"GET", "/readyz", ""}, [4]int{200, 200, 200, 200}},
		{"delivery is open (its signature decides)", call{"GET", "/img/x/r/img_a1.webp", ""}, [4]int{403, 403, 403, 403}},
		{"console is open", call{"GET", "/console/", ""}, [4]int{404, 404, 404, 404}},
	}
	secrets := [4]string{"", tk.read, tk.write, tk.admin}
	for _, tt := range tests {
		for i, secret := range secrets {
			who := [4]string{"no key", "read", "write", "admin"}[i]
			t.Run(tt.name+"/"+who, func(t *testing.T) {
				t.Parallel()
				hdr := map[string]string{"Content-Type": "application/json"}
				if secret != "" {
					hdr["Authorization"] = "Bearer " + secret
				}
				var body io.Reader
				if tt.c.body != "" {
					body = strings.NewReader(tt.c.body)
				}
				rec := b.do(t, tt.c.method, tt.c.target, body, hdr)
				if rec.Code != tt.want[i] {
					t.Fatalf("%s %s as %s: got %d, want %d (body %s)", tt.c.method, tt.c.target, who, rec.Code, tt.want[i], rec.Body)
				}
			})
		}
	}
}

func TestUnauthorizedAnswers(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	tests := []struct {
		name      string
		auth      string
		target    string
		status    int
		slug      string
		wantWWW   string
		wantInLog string
	}{
		{"no header", "", "/v1/images", 401, "unauthorized", `Bearer realm="pictor"`, ""},
		{"basic scheme", "Basic " + tk.admin, "/v1/images", 401, "unauthorized", `Bearer realm="pictor"`, ""},
		{"empty bearer", "Bearer ", "/v1/images", 401, "unauthorized", `Bearer realm="pictor"`, ""},
		{"unknown key", "Bearer pk_not-a-key-we-know", "/v1/images", 401, "unauthorized", `Bearer realm="pictor", error="invalid_token"`, ""},
		{"the hash is not the key", "Bearer " + hex.EncodeToString(tk.keys[2].Hash[:]), "/v1/images", 401, "unauthorized", `Bearer realm="pictor", error="invalid_token"`, ""},
		{"read key on recipes", "Bearer " + tk.read, "/v1/recipes", 403, "insufficient-scope", `Bearer realm="pictor", error="insufficient_scope", scope="admin"`, "key=reader"},
		{"write key on recipes", "bearer " + tk.write, "/v1/recipes", 403, "insufficient-scope", `Bearer realm="pictor", error="insufficient_scope", scope="admin"`, "key=key-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := okCatalog()
			b := setup(t, fc, &cfg)
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			rec := b.do(t, http.MethodGet, tt.target, nil, hdr)
			p := wantProblem(t, rec, tt.status, tt.slug)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantWWW {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.wantWWW)
			}
			for _, s := range []string{tk.read, tk.write, tk.admin} {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("body: got %s, want no key in it", rec.Body)
				}
			}
			if p.Detail == "" {
				t.Errorf("detail: got empty, want an explanation")
			}
			if tt.wantInLog != "" && !strings.Contains(b.logs.String(), tt.wantInLog) {
				t.Errorf("logs: got %s, want %q", b.logs, tt.wantInLog)
			}
		})
	}
}

func TestUnauthorizedBeforeIdempotencyAndCatalog(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	fc := okCatalog()
	b := setup(t, fc, &cfg)
	body := `{"url":"https://example.com/a.jpg"}`
	hdr := map[string]string{"Content-Type": "application/json", IdempotencyKeyHeader: "k1", "Authorization": "Bearer " + tk.write}
	if rec := b.do(t, http.MethodPost, "/v1/images", strings.NewReader(body), hdr); rec.Code != http.StatusCreated {
		t.Fatalf("first ingest: got %d, want 201", rec.Code)
	}
	// Without a key, the stored answer must not be replayed.
	delete(hdr, "Authorization")
	rec := b.do(t, http.MethodPost, "/v1/images", strings.NewReader(body), hdr)
	wantProblem(t, rec, http.StatusUnauthorized, "unauthorized")
	if rec.Header().Get(IdempotentReplayedHeader) != "" {
		t.Errorf("replayed to a caller without a key: got %q, want no replay", rec.Header().Get(IdempotentReplayedHeader))
	}
	if n := len(fc.ingestCalls()); n != 1 {
		t.Errorf("ingest calls: got %d, want 1", n)
	}
}

func TestKeysNeverLogged(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	fc := okCatalog()
	fc.getImage = func(context.Context, string) (catalog.Image, error) {
		return catalog.Image{}, errors.New("database exploded")
	}
	b := setup(t, fc, &cfg)
	unknown := "pk_unknown-key-that-must-not-be-logged"
	for _, secret := range []string{tk.read, tk.write, tk.admin, unknown} {
		for _, target := range []string{"/v1/images", "/v1/images/img_a1", "/v1/recipes"} {
			b.do(t, http.MethodGet, target, nil, map[string]string{"Authorization": "Bearer " + secret})
		}
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "key=ops") || !strings.Contains(logs, "level=ERROR") {
		t.Fatalf("logs: got %s, want access records naming key ops and the 500's error", logs)
	}
	for _, s := range []string{tk.read, tk.write, tk.admin, unknown} {
		if strings.Contains(logs, s) || strings.Contains(logs, strings.TrimPrefix(s, auth.KeyPrefix)) {
			t.Errorf("logs: got a key in %s", logs)
		}
	}
	for _, k := range tk.keys {
		if strings.Contains(logs, hex.EncodeToString(k.Hash[:])) {
			t.Errorf("logs: got a key hash in %s", logs)
		}
	}
}

func TestOpenWarning(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	tests := []struct {
		name     string
		keys     []auth.Key
		wantWarn bool
	}{
		{"no keys warns", nil, true},
		{"keys do not", tk.keys, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			cfg.Keys = tt.keys
			b := setup(t, okCatalog(), &cfg)
			got := strings.Contains(b.logs.String(), "level=WARN msg=\"no API keys configured")
			if got != tt.wantWarn {
				t.Errorf("open warning: got %v, want %v (logs %s)", got, tt.wantWarn, b.logs)
			}
			if !tt.wantWarn {
				// And with keys the routes are closed.
				if rec := b.do(t, http.MethodGet, "/v1/images", nil, nil); rec.Code != http.StatusUnauthorized {
					t.Errorf("GET /v1/images without a key: got %d, want 401", rec.Code)
				}
			}
		})
	}
}

// doFrom serves a POST of body to target from a remote address, with an optional key.
func doFrom(t *testing.T, h http.Handler, remote, key, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.RateLimit = RateLimit{PerSecond: 0.001, Burst: 2} // one token every 1000 s: no refill during the test
	b := setup(t, okCatalog(), &cfg)
	ingest := `{"url":"https://example.com/a.jpg"}`
	for i := 0; i < 2; i++ {
		if rec := doFrom(t, b.h, "192.0.2.1:1000", tk.write, "/v1/images", ingest); rec.Code != http.StatusCreated {
			t.Fatalf("ingest %d within the burst: got %d, want 201", i+1, rec.Code)
		}
	}
	for _, target := range []string{"/v1/images", "/v1/images/img_a1/renditions", "/v1/analyze"} {
		rec := doFrom(t, b.h, "192.0.2.1:1000", tk.write, target, ingest)
		wantProblem(t, rec, http.StatusTooManyRequests, "rate-limited")
		ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if err != nil || ra < 900 || ra > 1000 {
			t.Errorf("Retry-After on %s: got %q, want about 1000 seconds", target, rec.Header().Get("Retry-After"))
		}
	}
	// Another key from the same address has its own bucket.
	if rec := doFrom(t, b.h, "192.0.2.1:1000", tk.admin, "/v1/images", ingest); rec.Code != http.StatusCreated {
		t.Errorf("ingest with another key: got %d, want 201", rec.Code)
	}
	// Reads are not limited.
	req := httptest.NewRequest(http.MethodGet, "/v1/images", nil)
	req.Header.Set("Authorization", "Bearer "+tk.write)
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("GET with a spent key: got %d, want 200", rec.Code)
	}
}

func TestRateLimitPerIPWhenOpen(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.RateLimit = RateLimit{PerSecond: 0.001, Burst: 1}
	b := setup(t, okCatalog(), &cfg)
	body := `{"url":"https://example.com/a.jpg"}`
	tests := []struct {
		name, remote string
		want         int
	}{
		{"first from A", "192.0.2.1:1000", 201},
		{"second from A, other port", "192.0.2.1:2000", 429},
		{"first from B", "192.0.2.2:1000", 201},
		{"first from an IPv6 /64", "[2001:db8:1:2::1]:1000", 201},
		{"same /64", "[2001:db8:1:2::ffff]:1000", 429},
		{"other /64", "[2001:db8:1:3::1]:1000", 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Sequential: each case spends the bucket the next one checks.
			if rec := doFrom(t, b.h, tt.remote, "", "/v1/images", body); rec.Code != tt.want {
				t.Errorf("status: got %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.RateLimit = RateLimit{}
	b := setup(t, okCatalog(), &cfg)
	for i := 0; i < 100; i++ {
		if rec := doFrom(t, b.h, "192.0.2.1:1000", "", "/v1/images", `{"url":"https://example.com/a.jpg"}`); rec.Code != http.StatusCreated {
			t.Fatalf("request %d with rate limiting off: got %d, want 201", i+1, rec.Code)
		}
	}
}

func TestLimiterRefillAndSweep(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimit{PerSecond: 2, Burst: 3})
	l.now = func() time.Time { return now }
	l.maxBuckets = 2
	steps := []struct {
		name     string
		advance  time.Duration
		id       string
		wantOK   bool
		wantWait time.Duration
	}{
		{"burst 1", 0, "a", true, 0},
		{"burst 2", 0, "a", true, 0},
		{"burst 3", 0, "a", true, 0},
		{"spent", 0, "a", false, 500 * time.Millisecond},
		{"half a token later", 250 * time.Millisecond, "a", false, 250 * time.Millisecond},
		{"one token later", 250 * time.Millisecond, "a", true, 0},
		{"b has its own bucket", 0, "b", true, 0},
		{"c overflows into the shared bucket", 0, "c", true, 0},
		{"d shares it", 0, "d", true, 0},
		{"and so on", 0, "e", true, 0},
		{"the shared bucket runs dry", 0, "f", false, 500 * time.Millisecond},
		{"after a sweep full buckets are gone, g gets its own", 2 * time.Minute, "g", true, 0},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		ok, wait := l.allow(st.id)
		if ok != st.wantOK || math.Abs(float64(wait-st.wantWait)) > float64(time.Millisecond) {
			t.Fatalf("%s: got %v, %v, want %v, %v", st.name, ok, wait, st.wantOK, st.wantWait)
		}
	}
	if _, ok := l.buckets["g"]; !ok || len(l.buckets) != 1 {
		t.Errorf("buckets after the sweep: got %d (%v), want only g", len(l.buckets), l.buckets)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	cfg := DefaultConfig()
	cfg.Keys = tk.keys
	cfg.CORSOrigins = []string{"https://shop.example.com", "http://localhost:3000"}
	b := setup(t, okCatalog(), &cfg)
	tests := []struct {
		name       string
		method     string
		origin     string
		reqMethod  string
		auth       string
		wantStatus int
		wantACAO   string
	}{
		{"preflight allowed", "OPTIONS", "https://shop.example.com", "POST", "", 204, "https://shop.example.com"},
		{"preflight allowed with port", "OPTIONS", "http://localhost:3000", "DELETE", "", 204, "http://localhost:3000"},
		{"preflight denied", "OPTIONS", "https://evil.example.com", "POST", "", 403, ""},
		{"preflight scheme differs", "OPTIONS", "http://shop.example.com", "POST", "", 403, ""},
		{"preflight subdomain", "OPTIONS", "https://a.shop.example.com", "GET", "", 403, ""},
		{"request from allowed origin", "GET", "https://shop.example.com", "", tk.read, 200, "https://shop.example.com"},
		{"request from other origin is served without CORS headers", "GET", "https://evil.example.com", "", tk.read, 200, ""},
		{"request without key from allowed origin still needs a key", "GET", "https://shop.example.com", "", "", 401, "https://shop.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{"Origin": tt.origin}
			if tt.reqMethod != "" {
				hdr["Access-Control-Request-Method"] = tt.reqMethod
				hdr["Access-Control-Request-Headers"] = "authorization, content-type"
			}
			if tt.auth != "" {
				hdr["Authorization"] = "Bearer " + tt.auth
			}
			rec := b.do(t, tt.method, "/v1/images", nil, hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			h := rec.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, tt.wantACAO)
			}
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary: got %q, want Origin", h.Values("Vary"))
			}
			switch {
			case tt.wantStatus == 204:
				for name, want := range map[string]string{
					"Access-Control-Allow-Methods": tt.reqMethod, "Access-Control-Allow-Headers": "Authorization",
				} {
					if !strings.Contains(h.Get(name), want) {
						t.Errorf("%s: got %q, want it to contain %q", name, h.Get(name), want)
					}
				}
			case tt.wantStatus == 403:
				wantProblem(t, rec, 403, "forbidden-origin")
				if h.Get("Access-Control-Allow-Methods") != "" {
					t.Errorf("Access-Control-Allow-Methods: got %q, want none", h.Get("Access-Control-Allow-Methods"))
				}
			case tt.wantACAO != "":
				if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") {
					t.Errorf("Access-Control-Expose-Headers: got %q, want ETag among them", h.Get("Access-Control-Expose-Headers"))
				}
			}
		})
	}
}

func TestCORSNoOrigins(t *testing.T) {
	t.Parallel()
	b := setup(t, okCatalog(), nil)
	rec := b.do(t, http.MethodOptions, "/v1/images", nil, map[string]string{
		"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
	})
	wantProblem(t, rec, http.StatusForbidden, "forbidden-origin")
	// An OPTIONS that is not a preflight is routed as before.
	rec = b.do(t, http.MethodOptions, "/v1/images", nil, nil)
	wantProblem(t, rec, http.StatusMethodNotAllowed, "method-not-allowed")
}

// A console file name that is not UTF-8 is no file: the embedded file system refuses
// such a name as invalid, which the file server would answer 500.
func TestConsoleNameNotUTF8(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h, err := New(DefaultConfig(), Deps{Catalog: okCatalog(), Console: console.FS, Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/console/%ff", "/console/js/%c3%28.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		wantProblem(t, rec, http.StatusNotFound, "not-found")
	}
}

func TestConsoleSecurityHeaders(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	console := fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>console</title>")}, "app.js": {Data: []byte("1")}}
	tests := []struct {
		name     string
		console  fstest.MapFS
		target   string
		want     int
		wantBody string
	}{
		{"index", console, "/console/", 200, "<title>console</title>"},
		{"asset", console, "/console/app.js", 200, "1"},
		{"missing file", console, "/console/nope.css", 404, ""},
		{"no console in the build", nil, "/console/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			cfg := DefaultConfig()
			cfg.Keys = tk.keys // the console's files are open even so
			deps := Deps{Catalog: okCatalog(), Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg}
			if tt.console != nil {
				deps.Console = tt.console
			}
			h, err := New(cfg, deps)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if rec.Code != tt.want {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.want)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("body: got %q, want it to contain %q", rec.Body, tt.wantBody)
			}
			for name, want := range map[string]string{
				"Content-Security-Policy": ConsoleCSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			} {
				if got := rec.Header().Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
			for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(ConsoleCSP, want) {
					t.Errorf("CSP: got %q, want %q in it", ConsoleCSP, want)
				}
			}
		})
	}
	// The API routes do not carry the console's CSP.
	b := setup(t, okCatalog(), nil)
	if got := b.do(t, http.MethodGet, "/healthz", nil, nil).Header().Get("Content-Security-Policy"); got != "" {
		t.Errorf("CSP on /healthz: got %q, want none", got)
	}
}

func TestAccessConfigValidate(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"keys and signing keys", func(c *Config) { c.Keys = tk.keys; c.SigningKeys = [][]byte{signKeyNew, signKeyOld} }, ""},
		{"key without scope", func(c *Config) { c.Keys = []auth.Key{{Hash: tk.keys[0].Hash}} }, "api key 1 has no valid scope"},
		{"duplicate key", func(c *Config) { c.Keys = append(tk.keys, tk.keys[1]) }, "api key 4 is configured twice"},
		{"short signing key", func(c *Config) { c.SigningKeys = [][]byte{signKeyNew, []byte("short")} }, "signing key 2 is 5 bytes"},
		{"zero width", func(c *Config) { c.DeliveryWidths = []int{0} }, "delivery width 0"},
		{"huge width", func(c *Config) { c.DeliveryWidths = []int{320, MaxDeliveryWidth + 1} }, "delivery width 8193"},
		{"no widths is fine", func(c *Config) { c.DeliveryWidths = nil }, ""},
		{"good origins", func(c *Config) { c.CORSOrigins = []string{"https://a.example.com", "http://localhost:3000"} }, ""},
		{"origin with path", func(c *Config) { c.CORSOrigins = []string{"https://a.example.com/"} }, "cors origin"},
		{"origin upper case", func(c *Config) { c.CORSOrigins = []string{"https://A.example.com"} }, "cors origin"},
		{"origin wildcard", func(c *Config) { c.CORSOrigins = []string{"*"} }, "cors origin"},
		{"origin other scheme", func(c *Config) { c.CORSOrigins = []string{"ftp://a.example.com"} }, "cors origin"},
		{"origin with user", func(c *Config) { c.CORSOrigins = []string{"https://u@a.example.com"} }, "cors origin"},
		{"negative rate", func(c *Config) { c.RateLimit.PerSecond = -1 }, "rate limit"},
		{"NaN rate", func(c *Config) { c.RateLimit.PerSecond = math.NaN() }, "rate limit"},
		{"no burst", func(c *Config) { c.RateLimit.Burst = 0 }, "burst"},
		{"off needs no burst", func(c *Config) { c.RateLimit = RateLimit{} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate: got %v, want ErrInvalidConfig containing %q", err, tt.wantErr)
			}
			for _, k := range tk.keys {
				if strings.Contains(err.Error(), hex.EncodeToString(k.Hash[:])) {
					t.Errorf("Validate: got a key hash in %q", err)
				}
			}
		})
	}
	// DefaultConfig hands out a fresh widths slice each time.
	a := DefaultConfig()
	a.DeliveryWidths[0] = 1
	if got := DefaultConfig().DeliveryWidths[0]; got != 320 {
		t.Errorf("DefaultConfig widths after a caller changed its copy: got %d, want 320", got)
	}
}
