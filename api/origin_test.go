package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCrossOriginRefused: what a web page on another site can make a browser send without a
// preflight (a text/plain, form or multipart POST, and every other change) is refused 403
// cross-origin-request before it reaches the catalog, on an open service and on a keyed
// one; reads, the service's own pages, the configured CORS origins and clients that are
// not browsers pass.
func TestCrossOriginRefused(t *testing.T) {
	t.Parallel()
	tk := newTestKeys(t)
	keyed := DefaultConfig()
	keyed.Keys = tk.keys
	keyed.CORSOrigins = []string{"https://shop.example.com"}
	open := DefaultConfig()
	open.CORSOrigins = []string{"https://shop.example.com"}
	for _, mode := range []struct {
		name string
		cfg  *Config
		auth map[string]string
	}{
		{"open", &open, nil},
		{"keyed", &keyed, map[string]string{"Authorization": "Bearer " + tk.admin}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name         string
				method, path string
				contentType  string
				header       map[string]string
				refused      bool
			}{
				{"text/plain POST, Sec-Fetch-Site cross-site", "POST", "/v1/images", "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
				{"text/plain POST, Sec-Fetch-Site same-site", "POST", "/v1/images", "text/plain", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
				{"text/plain POST, foreign Origin without Sec-Fetch-Site", "POST", "/v1/images", "text/plain", map[string]string{"Origin": "https://evil.example"}, true},
				{"form POST, foreign Origin and Sec-Fetch-Site", "POST", "/v1/images", "application/x-www-form-urlencoded", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, true},
				{"render, cross-site", "POST", "/v1/images/img_a1/renditions", "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
				{"recipe PUT, cross-site", "PUT", "/v1/recipes/listing", "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
				{"recipe DELETE, foreign Origin", "DELETE", "/v1/recipes/listing", "", map[string]string{"Origin": "http://attacker.test"}, true},
				{"sign-in, cross-site", "POST", "/v1/session", "text/plain", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
				{"an origin of another port", "POST", "/v1/images", "text/plain", map[string]string{"Origin": "http://example.com:8081"}, true},

				{"same-origin POST (Sec-Fetch-Site)", "POST", "/v1/images", "text/plain", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, false},
				{"same-origin POST (Origin matches Host)", "POST", "/v1/images", "text/plain", map[string]string{"Origin": "http://example.com"}, false},
				{"typed by the user (Sec-Fetch-Site none)", "POST", "/v1/images", "text/plain", map[string]string{"Sec-Fetch-Site": "none"}, false},
				{"a client that is not a browser", "POST", "/v1/images", "text/plain", nil, false},
				{"a configured CORS origin", "POST", "/v1/images", "text/plain", map[string]string{"Origin": "https://shop.example.com", "Sec-Fetch-Site": "cross-site"}, false},
				{"a cross-site read", "GET", "/v1/images", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false},
				{"a cross-site HEAD", "HEAD", "/v1/images/img_a1", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					fc := okCatalog()
					b := setup(t, fc, mode.cfg)
					req := httptest.NewRequest(tt.method, "http://example.com"+tt.path, strings.NewReader("\x89PNG not really"))
					if tt.contentType != "" {
						req.Header.Set("Content-Type", tt.contentType)
					}
					for k, v := range mode.auth {
						req.Header.Set(k, v)
					}
					for k, v := range tt.header {
						req.Header.Set(k, v)
					}
					if tt.path == "/v1/session" {
						req.Header.Set(ConsoleHeader, ConsoleHeaderValue)
					}
					rec := httptest.NewRecorder()
					b.h.ServeHTTP(rec, req)
					if tt.refused {
						p := wantProblem(t, rec, http.StatusForbidden, "cross-origin-request")
						if !strings.Contains(p.Detail, "PICTOR_CORS_ORIGINS") {
							t.Errorf("detail: got %q, want it to name PICTOR_CORS_ORIGINS", p.Detail)
						}
						fc.mu.Lock()
						calls := len(fc.ingests) + len(fc.renders)
						fc.mu.Unlock()
						if calls != 0 {
							t.Errorf("catalog calls: got %d, want none for a refused request", calls)
						}
						return
					}
					if rec.Code == http.StatusForbidden || rec.Code >= 500 {
						t.Fatalf("status: got %d, want it let through (body %s)", rec.Code, rec.Body)
					}
					if tt.method == "POST" && tt.path == "/v1/images" {
						fc.mu.Lock()
						n := len(fc.ingests)
						fc.mu.Unlock()
						if n != 1 {
							t.Errorf("ingests: got %d, want 1 (status %d, body %s)", n, rec.Code, rec.Body)
						}
					}
				})
			}
		})
	}
}

// TestCrossOriginProblemDocumented: the slug is in the OpenAPI document.
func TestCrossOriginProblemDocumented(t *testing.T) {
	t.Parallel()
	if !strings.Contains(string(openAPIDoc), "`cross-origin-request`") {
		t.Error("openapi.json: got no mention of problem type cross-origin-request, want one")
	}
}
