package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

var (
	signKeyOld = []byte("old-url-signing-key-0123456789abcdef")
	signKeyNew = []byte("new-url-signing-key-0123456789abcdef")
)

// imgURL is the signed delivery path of recipe/id.ext (and ?w= when width > 0).
func imgURL(key []byte, recipe, id, ext string, width int) string {
	return auth.SignedURL("", key, recipe, id, ext, width)
}

// deliveryCatalog answers Deliver with bytes whose format follows ext, or for "auto" the
// Accept header (avif when listed, else webp), like the real catalog.
func deliveryCatalog() *fakeCatalog {
	return &fakeCatalog{
		deliver: func(_ context.Context, id, recipe, ext, accept string, width int) (io.ReadCloser, catalog.ObjectMeta, error) {
			if id == "img_missing" {
				return nil, catalog.ObjectMeta{}, catalog.ErrNotFound
			}
			format := ext
			if ext == "auto" {
				format = "webp"
				if strings.Contains(accept, "avif") {
					format = "avif"
				}
			}
			body := format + " bytes of " + recipe + "/" + id + " w" + strconv.Itoa(width)
			return io.NopCloser(strings.NewReader(body)), catalog.ObjectMeta{
				ContentType: "image/" + format,
				Size:        int64(len(body)),
				ETag:        `"` + format + "-" + id + "-" + strconv.Itoa(width) + `"`,
				Modified:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			}, nil
		},
	}
}

func deliveryConfig(keys ...[]byte) *Config {
	c := DefaultConfig()
	c.SigningKeys = keys
	return &c
}

func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew, signKeyOld))
	tests := []struct {
		name     string
		target   string
		accept   string
		wantType string
		wantVary bool
		want     deliverCall
	}{
		{"webp", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 0), "", "image/webp", false,
			deliverCall{ID: "img_a1", Recipe: "listing-main", Ext: "webp"}},
		{"rotation: old key still verifies", imgURL(signKeyOld, "listing-main", "img_a1", "jpeg", 0), "", "image/jpeg", false,
			deliverCall{ID: "img_a1", Recipe: "listing-main", Ext: "jpeg"}},
		{"allowed width", imgURL(signKeyNew, "listing.main", "img_a1", "png", 640), "", "image/png", false,
			deliverCall{ID: "img_a1", Recipe: "listing.main", Ext: "png", Width: 640}},
		{"auto with avif in Accept", imgURL(signKeyNew, "listing-main", "img_a1", "auto", 0), "image/avif,image/webp,*/*", "image/avif", true,
			deliverCall{ID: "img_a1", Recipe: "listing-main", Ext: "auto", Accept: "avif,webp"}},
		{"auto with webp only", imgURL(signKeyNew, "listing-main", "img_a1", "auto", 0), "image/webp,*/*", "image/webp", true,
			deliverCall{ID: "img_a1", Recipe: "listing-main", Ext: "auto", Accept: "webp"}},
		{"unsigned extra query is ignored", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 320) + "&utm_source=x", "", "image/webp", false,
			deliverCall{ID: "img_a1", Recipe: "listing-main", Ext: "webp", Width: 320}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: each case reads the last recorded call.
			rec := b.do(t, http.MethodGet, tt.target, nil, map[string]string{"Accept": tt.accept})
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
			}
			calls := b.cat.deliverCalls()
			if got := calls[len(calls)-1]; got != tt.want {
				t.Errorf("Deliver call: got %+v, want %+v", got, tt.want)
			}
			h := rec.Header()
			if got := h.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type: got %q, want %q", got, tt.wantType)
			}
			if got, want := h.Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
				t.Errorf("Content-Length: got %q, want %q", got, want)
			}
			if got := h.Get("Cache-Control"); got != deliveryCache {
				t.Errorf("Cache-Control: got %q, want %q (not immutable: the recipe behind the URL may change)", got, deliveryCache)
			}
			if etag := h.Get("ETag"); !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
				t.Errorf("ETag: got %q, want a strong quoted tag", etag)
			}
			if got := strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept"); got != tt.wantVary {
				t.Errorf("Vary has Accept: got %v (%q), want %v", got, h.Values("Vary"), tt.wantVary)
			}
		})
	}
}

func TestDeliverNotModified(t *testing.T) {
	t.Parallel()
	b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew))
	target := imgURL(signKeyNew, "listing-main", "img_a1", "auto", 0)
	first := b.do(t, http.MethodGet, target, nil, map[string]string{"Accept": "image/avif"})
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag == "" {
		t.Fatalf("first: got %d with ETag %q, want 200 with an ETag", first.Code, etag)
	}
	tests := []struct {
		name   string
		accept string
		inm    string
		want   int
	}{
		{"same tag", "image/avif", etag, http.StatusNotModified},
		{"one of several", "image/avif", `"other", ` + etag, http.StatusNotModified},
		{"weak form matches", "image/avif", "W/" + etag, http.StatusNotModified},
		{"other tag", "image/avif", `"other"`, http.StatusOK},
		{"other format negotiated", "image/webp", etag, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do(t, http.MethodGet, target, nil, map[string]string{"Accept": tt.accept, "If-None-Match": tt.inm})
			if rec.Code != tt.want {
				t.Fatalf("status: got %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusNotModified {
				if rec.Body.Len() != 0 {
					t.Errorf("304 body: got %q, want empty", rec.Body)
				}
				if got := rec.Header().Get("ETag"); got != etag {
					t.Errorf("304 ETag: got %q, want %q", got, etag)
				}
				if got := rec.Header().Get("Vary"); got != "Accept" {
					t.Errorf("304 Vary: got %q, want %q", got, "Accept")
				}
			}
		})
	}
}

func TestDeliverRefusesBeforeTouchingStorage(t *testing.T) {
	t.Parallel()
	good := imgURL(signKeyNew, "listing-main", "img_a1", "webp", 640)
	sig := strings.Split(good, "/")[2]
	stranger := []byte("a-key-this-service-never-had-0123456789")
	tests := []struct {
		name   string
		target string
		status int
		slug   string
	}{
		{"tampered image id", "/img/" + sig + "/listing-main/img_a2.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"tampered recipe", "/img/" + sig + "/listing-thumb/img_a1.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"tampered ext", "/img/" + sig + "/listing-main/img_a1.avif?w=640", http.StatusForbidden, "forbidden-signature"},
		{"tampered width", "/img/" + sig + "/listing-main/img_a1.webp?w=1920", http.StatusForbidden, "forbidden-signature"},
		{"width dropped", "/img/" + sig + "/listing-main/img_a1.webp", http.StatusForbidden, "forbidden-signature"},
		{"width repeated", good + "&w=640", http.StatusForbidden, "forbidden-signature"},
		{"width with leading zero", "/img/" + sig + "/listing-main/img_a1.webp?w=0640", http.StatusForbidden, "forbidden-signature"},
		{"width added", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 0) + "?w=640", http.StatusForbidden, "forbidden-signature"},
		{"empty signature", "/img//listing-main/img_a1.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"short signature", "/img/" + sig[:20] + "/listing-main/img_a1.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"made-up signature", "/img/" + strings.Repeat("A", auth.SignatureLen) + "/listing-main/img_a1.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"signed with an unknown key", imgURL(stranger, "listing-main", "img_a1", "webp", 640), http.StatusForbidden, "forbidden-signature"},
		{"escaped id", "/img/" + sig + "/listing-main/%69mg_a1.webp?w=640", http.StatusForbidden, "forbidden-signature"},
		{"signed width not in the set", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 500), http.StatusBadRequest, "width-not-allowed"},
		{"signed huge width", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 99999), http.StatusBadRequest, "width-not-allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew))
			rec := b.do(t, http.MethodGet, tt.target, nil, nil)
			wantProblem(t, rec, tt.status, tt.slug)
			if calls := b.cat.deliverCalls(); len(calls) != 0 {
				t.Errorf("catalog calls: got %+v, want none", calls)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store so a CDN keeps no refusal", got)
			}
		})
	}
	// The same good URL does reach the catalog, so the cases above fail for the right reason.
	b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew))
	if rec := b.do(t, http.MethodGet, good, nil, nil); rec.Code != http.StatusOK {
		t.Fatalf("untampered URL: got %d, want 200 (body %s)", rec.Code, rec.Body)
	}
}

func TestDeliverOffWithoutSigningKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, deliveryCatalog(), nil)
	rec := b.do(t, http.MethodGet, imgURL(signKeyNew, "listing-main", "img_a1", "webp", 0), nil, nil)
	wantProblem(t, rec, http.StatusNotFound, "not-found")
	if calls := b.cat.deliverCalls(); len(calls) != 0 {
		t.Errorf("catalog calls: got %+v, want none", calls)
	}
}

func TestDeliverWidthsConfigured(t *testing.T) {
	t.Parallel()
	cfg := deliveryConfig(signKeyNew)
	cfg.DeliveryWidths = []int{500}
	b := setup(t, deliveryCatalog(), cfg)
	if rec := b.do(t, http.MethodGet, imgURL(signKeyNew, "r", "img_a1", "webp", 500), nil, nil); rec.Code != http.StatusOK {
		t.Errorf("w=500 in the configured set: got %d, want 200", rec.Code)
	}
	rec := b.do(t, http.MethodGet, imgURL(signKeyNew, "r", "img_a1", "webp", 640), nil, nil)
	wantProblem(t, rec, http.StatusBadRequest, "width-not-allowed")

	cfg.DeliveryWidths = nil
	b = setup(t, deliveryCatalog(), cfg)
	rec = b.do(t, http.MethodGet, imgURL(signKeyNew, "r", "img_a1", "webp", 500), nil, nil)
	wantProblem(t, rec, http.StatusBadRequest, "width-not-allowed")
}

func TestDeliverCatalogErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew))
	rec := b.do(t, http.MethodGet, imgURL(signKeyNew, "listing-main", "img_missing", "webp", 0), nil, nil)
	wantProblem(t, rec, http.StatusNotFound, "not-found")
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control of an error: got %q, want no-store", got)
	}
}

func TestPurgeRenditions(t *testing.T) {
	t.Parallel()
	fc := &fakeCatalog{purge: func(_ context.Context, id string) (int, error) {
		switch id {
		case "img_a1":
			return 3, nil
		case "img_down":
			return 0, errors.New("disk on fire")
		}
		return 0, catalog.ErrNotFound
	}}
	b := setup(t, fc, nil)
	rec := b.do(t, http.MethodDelete, "/v1/images/img_a1/renditions", nil, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	if got, want := strings.TrimSpace(rec.Body.String()), `{"image_id":"img_a1","removed":3}`; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
	wantProblem(t, b.do(t, http.MethodDelete, "/v1/images/img_nope/renditions", nil, nil), http.StatusNotFound, "not-found")
	wantProblem(t, b.do(t, http.MethodDelete, "/v1/images/img_down/renditions", nil, nil), http.StatusInternalServerError, "internal")
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if want := []string{"img_a1", "img_nope", "img_down"}; strings.Join(fc.purges, ",") != strings.Join(want, ",") {
		t.Errorf("purge calls: got %v, want %v", fc.purges, want)
	}
}

// clockBundle serves /img with the delivery handler reading its time from a fixed clock.
type clockBundle struct {
	h   http.Handler
	cat *fakeCatalog
}

// setupClock builds a server as New does for /img, but with deliver's clock fixed at now.
func setupClock(t *testing.T, now time.Time) *clockBundle {
	t.Helper()
	fc := deliveryCatalog()
	s := &server{cfg: *deliveryConfig(signKeyNew), catalog: fc, log: slog.New(slog.DiscardHandler)}
	r := chi.NewRouter()
	r.Get("/img/{signature}/{recipe}/{id}.{ext}", s.deliver(func() time.Time { return now }))
	return &clockBundle{h: r, cat: fc}
}

func (b *clockBundle) get(target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestDeliverExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 500_000_000, time.UTC)
	exp := now.Unix() + 3600
	good := auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 640, exp)
	sig := strings.Split(good, "/")[2]
	base := "/img/" + sig + "/listing-main/img_a1.webp?w=640"
	tests := []struct {
		name   string
		target string
		now    time.Time
		status int
		slug   string // problem type when status is not 200
	}{
		{"future expiry serves", good, now, http.StatusOK, ""},
		{"at the expiry second serves", good, time.Unix(exp, 0), http.StatusOK, ""},
		{"past expiry", good, time.Unix(exp, 1), http.StatusForbidden, "expired-signature"},
		{"long past expiry", auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 640, now.Unix()-86400), now, http.StatusForbidden, "expired-signature"},
		{"expiry without width", auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "png", 0, exp), now, http.StatusOK, ""},
		{"unsigned extra query is ignored", good + "&utm_source=x", now, http.StatusOK, ""},
		{"tampered expiry", base + "&exp=" + strconv.FormatInt(exp+86400, 10), now, http.StatusForbidden, "forbidden-signature"},
		{"tampered expiry, even when past", base + "&exp=" + strconv.FormatInt(exp+86400, 10), time.Unix(exp+86400*2, 0), http.StatusForbidden, "forbidden-signature"},
		{"expiry dropped", base, now, http.StatusForbidden, "forbidden-signature"},
		{"expiry added to a URL without one", imgURL(signKeyNew, "listing-main", "img_a1", "webp", 640) + "&exp=" + strconv.FormatInt(exp, 10), now, http.StatusForbidden, "forbidden-signature"},
		{"leading zero", base + "&exp=0" + strconv.FormatInt(exp, 10), now, http.StatusForbidden, "forbidden-signature"},
		{"plus sign", base + "&exp=%2B" + strconv.FormatInt(exp, 10), now, http.StatusForbidden, "forbidden-signature"},
		{"zero", base + "&exp=0", now, http.StatusForbidden, "forbidden-signature"},
		{"empty", base + "&exp=", now, http.StatusForbidden, "forbidden-signature"},
		{"not digits", base + "&exp=1e9", now, http.StatusForbidden, "forbidden-signature"},
		{"twelve digits", base + "&exp=100000000000", now, http.StatusForbidden, "forbidden-signature"},
		{"repeated", good + "&exp=" + strconv.FormatInt(exp, 10), now, http.StatusForbidden, "forbidden-signature"},
		{"signed twelve digits", auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 640, 100000000000), now, http.StatusForbidden, "forbidden-signature"},
		{"signed eleven digits serves", auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 640, 99999999999), now, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupClock(t, tt.now)
			rec := b.get(tt.target)
			if tt.status == http.StatusOK {
				if rec.Code != http.StatusOK {
					t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
				}
				if calls := b.cat.deliverCalls(); len(calls) != 1 {
					t.Errorf("catalog calls: got %+v, want one", calls)
				}
				return
			}
			p := wantProblem(t, rec, tt.status, tt.slug)
			if tt.slug == "expired-signature" && p.Title != "Signature expired" {
				t.Errorf("title: got %q, want %q", p.Title, "Signature expired")
			}
			if calls := b.cat.deliverCalls(); len(calls) != 0 {
				t.Errorf("catalog calls: got %+v, want none", calls)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
		})
	}
}

func TestDeliverExpiryThroughNew(t *testing.T) {
	t.Parallel()
	// The real clock: an hour either side of now cannot be misjudged.
	b := setup(t, deliveryCatalog(), deliveryConfig(signKeyNew))
	now := time.Now().Unix()
	future := auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 0, now+3600)
	if rec := b.do(t, http.MethodGet, future, nil, nil); rec.Code != http.StatusOK {
		t.Errorf("future expiry: got %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	past := auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 0, now-3600)
	wantProblem(t, b.do(t, http.MethodGet, past, nil, nil), http.StatusForbidden, "expired-signature")
	// A URL without exp is unchanged: same text as before, and it serves with deliveryCache.
	plain := imgURL(signKeyNew, "listing-main", "img_a1", "webp", 0)
	if want := "/img/" + auth.Sign(signKeyNew, "/listing-main/img_a1.webp") + "/listing-main/img_a1.webp"; plain != want {
		t.Errorf("URL without expiry: got %q, want %q", plain, want)
	}
	rec := b.do(t, http.MethodGet, plain, nil, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != deliveryCache {
		t.Errorf("URL without expiry: got %d with Cache-Control %q, want 200 with %q", rec.Code, rec.Header().Get("Cache-Control"), deliveryCache)
	}
}

func TestDeliverExpiryCacheControl(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 250_000_000, time.UTC)
	tests := []struct {
		name string
		left int64 // exp - now.Unix()
		want string
	}{
		{"under a second left", 1, "public, max-age=0"},
		{"an hour left: max-age capped, no stale window", 3600, "public, max-age=3599"},
		{"a day left", 86400, "public, max-age=86399"},
		{"two days left: stale window ends at expiry", 2 * 86400, "public, max-age=86400, stale-while-revalidate=86399"},
		{"a year left: as without expiry", 365 * 86400, deliveryCache},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupClock(t, now)
			target := auth.SignedURLExpires("", signKeyNew, "listing-main", "img_a1", "webp", 640, now.Unix()+tt.left)
			rec := b.get(target)
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (body %s)", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.want {
				t.Errorf("Cache-Control: got %q, want %q", got, tt.want)
			}
			// A revalidation answers 304 with the same capped lifetime.
			req := httptest.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
			rec304 := httptest.NewRecorder()
			b.h.ServeHTTP(rec304, req)
			if rec304.Code != http.StatusNotModified || rec304.Header().Get("Cache-Control") != tt.want {
				t.Errorf("revalidation: got %d with %q, want 304 with %q", rec304.Code, rec304.Header().Get("Cache-Control"), tt.want)
			}
		})
	}
	if got := deliveryCacheUntil(0, now); got != deliveryCache {
		t.Errorf("deliveryCacheUntil without expiry: got %q, want %q", got, deliveryCache)
	}
}
