package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pictor/pictor/catalog"
)

// openAPI is the part of the document the tests read.
type openAPI struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// routeSet walks the router and returns "METHOD path" for every route.
func routeSet(t *testing.T, h http.Handler) map[string]bool {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("New: got %T, want a chi.Routes", h)
	}
	set := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/")
		if route == "" {
			route = "/"
		}
		set[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatalf("chi.Walk: %v", err)
	}
	return set
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi: got %q, want 3.1.x", doc.OpenAPI)
	}
	b := setup(t, nil, nil)
	routes := routeSet(t, b.h)
	if len(routes) < 14 {
		t.Fatalf("routes: got %d, want at least 14 (walk found %v)", len(routes), routes)
	}
	for r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.json: got no operation for %s %s, want one", method, path)
		}
	}
	// And the other way: the document describes no route that does not exist.
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if !routes[strings.ToUpper(method)+" "+path] {
				t.Errorf("openapi.json: got %s %s, want no operation for a route the router lacks", method, path)
			}
		}
	}
}

// TestOpenAPIRefsResolve catches typos in $ref: every reference names a component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatalf("refs: got none, want the document to use components")
	}
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var cur any = doc
		for _, p := range parts {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[p]
		}
		if cur == nil {
			t.Errorf("$ref %q: got nothing, want a component", ref)
		}
	}
}

// TestOpenAPIProblemTypes checks that every problem type the table can produce is named in
// the document, so clients can learn the slugs.
func TestOpenAPIProblemTypes(t *testing.T) {
	t.Parallel()
	slugs := map[string]bool{"not-found": true, "method-not-allowed": true, "not-ready": true, internalRow.slug: true,
		// Answered outside the table by the access and delivery middleware.
		"unauthorized": true, "insufficient-scope": true, "forbidden-signature": true, "expired-signature": true, "width-not-allowed": true,
		"rate-limited": true, "forbidden-origin": true}
	for _, r := range errorTable {
		if r.status != statusClientClosedRequest {
			slugs[r.slug] = true
		}
	}
	for slug := range slugs {
		if !strings.Contains(string(openAPIDoc), "`"+slug+"`") {
			t.Errorf("openapi.json: got no mention of problem type %q, want one", slug)
		}
	}
}

// TestOpenAPIAccess checks the security markings: the open routes say security [], every
// /v1 operation documents 401 and 403, and the bearer scheme exists.
func TestOpenAPIAccess(t *testing.T) {
	t.Parallel()
	var doc struct {
		Security   []map[string][]string `json:"security"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security  *[]map[string][]string     `json:"security"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	scheme, ok := doc.Components.SecuritySchemes["apiKey"]
	if !ok || scheme.Type != "http" || scheme.Scheme != "bearer" {
		t.Errorf("securitySchemes.apiKey: got %+v, want http bearer", scheme)
	}
	if len(doc.Security) != 1 || doc.Security[0]["apiKey"] == nil {
		t.Errorf("security: got %v, want apiKey by default", doc.Security)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			open := !strings.HasPrefix(path, "/v1/")
			if got := op.Security != nil && len(*op.Security) == 0; got != open {
				t.Errorf("%s %s: got open %v, want %v", method, path, got, open)
			}
			if open {
				continue
			}
			for _, code := range []string{"401", "403"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s %s: got no %s response, want one", method, path, code)
				}
			}
		}
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("newMetrics: %v", err)
	}
	m.duration.WithLabelValues("/v1/images", "GET", "200").Observe(0.1)
	m.inFlight.Inc()
	for name, c := range map[string]prometheus.Collector{
		"pictor_http_request_duration_seconds": m.duration,
		"pictor_http_requests_in_flight":       m.inFlight,
		"pictor_manifest_uploads_receiving":    m.manifestUploads,
	} {
		problems, err := testutil.CollectAndLint(c, name)
		if err != nil {
			t.Fatalf("CollectAndLint %s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: got problem %q, want none", p.Metric, p.Text)
		}
		if n := testutil.CollectAndCount(c, name); n != 1 {
			t.Errorf("%s series: got %d, want 1", name, n)
		}
	}
}

func TestMetricsByRoute(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{getImage: func(_ context.Context, id string) (catalog.Image, error) {
		if id == "missing" {
			return catalog.Image{}, catalog.ErrNotFound
		}
		return catalog.Image{ID: id}, nil
	}}, nil)
	b.do(t, http.MethodGet, "/v1/images/a", nil, nil)
	b.do(t, http.MethodGet, "/v1/images/b", nil, nil)
	b.do(t, http.MethodGet, "/v1/images/missing", nil, nil)
	b.do(t, http.MethodGet, "/v1/no/such/route", nil, nil)
	b.do(t, http.MethodGet, "/elsewhere", nil, nil)
	b.do(t, http.MethodDelete, "/healthz", nil, nil)
	b.do(t, "BREW", "/v1/images/a", nil, nil)

	got := map[string]uint64{}
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pictor_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[labelKey(m)] += m.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{
		"route=/v1/images/{id} method=GET code=200": 2,
		"route=/v1/images/{id} method=GET code=404": 1,
		"route=unmatched method=GET code=404":       2,
		"route=unmatched method=DELETE code=405":    1,
		"route=unmatched method=other code=405":     1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("samples %s: got %d, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("series: got %v, want exactly %d", keys, len(want))
	}

	rec := b.do(t, http.MethodGet, "/metrics", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status: got %d, want 200", rec.Code)
	}
	for _, want := range []string{"pictor_http_request_duration_seconds_bucket", "pictor_http_requests_in_flight 1", `route="/v1/images/{id}"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics: got %s, want it to contain %s", rec.Body, want)
		}
	}
	if strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Errorf("/metrics: got process metrics of the global registry, want only Deps.Gatherer")
	}
	if !strings.Contains(b.logs.String(), `msg="http request"`) || !strings.Contains(b.logs.String(), "route=/v1/images/{id}") {
		t.Errorf("access log: got %s, want records with the route", b.logs.String())
	}
}

func labelKey(m *dto.Metric) string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return "route=" + l["route"] + " method=" + l["method"] + " code=" + l["code"]
}
