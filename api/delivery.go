package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// deliverer serves signed delivery URLs: a named recipe's output, rendered on first hit.
type deliverer interface {
	Deliver(ctx context.Context, imageID, recipeName, ext string, accept []imaging.Format, width int) (io.ReadCloser, catalog.ObjectMeta, error)
}

// errBadWidth is a ?w= that no signer produces (not a plain positive integer, or repeated).
var errBadWidth = errors.New("malformed width")

// deliveryWidth reads ?w=: 0 when absent; a positive integer in canonical form (no sign,
// no leading zero, at most 5 digits) when present once.
func deliveryWidth(q url.Values) (int, error) {
	vs, ok := q["w"]
	if !ok {
		return 0, nil
	}
	if len(vs) != 1 {
		return 0, errBadWidth
	}
	v := vs[0]
	if v == "" || len(v) > 5 || v[0] == '0' {
		return 0, errBadWidth
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errBadWidth
		}
	}
	return strconv.Atoi(v)
}

// errBadExpiry is an exp= that no signer produces (not canonical Unix seconds, or repeated).
var errBadExpiry = errors.New("malformed expiry")

// maxExpiryDigits bounds exp=: 11 digits reach past the year 5000.
const maxExpiryDigits = 11

// deliveryExpiry reads exp=: 0 when absent; Unix seconds in canonical form (digits only, no
// leading zero, at most maxExpiryDigits) when present once.
func deliveryExpiry(q url.Values) (int64, error) {
	vs, ok := q["exp"]
	if !ok {
		return 0, nil
	}
	if len(vs) != 1 {
		return 0, errBadExpiry
	}
	v := vs[0]
	if v == "" || len(v) > maxExpiryDigits || v[0] == '0' {
		return 0, errBadExpiry
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, errBadExpiry
		}
	}
	return strconv.ParseInt(v, 10, 64)
}

// Cache lifetimes of deliveryCache, in seconds.
const (
	deliveryMaxAge = 86400
	deliverySWR    = 604800
)

// deliveryCacheUntil is deliveryCache for a URL that expires at exp (Unix seconds), seen at
// now: max-age is at most the seconds left, and stale-while-revalidate ends by exp too (left
// out when no time is left for it), so no cache serves the image after the URL expired.
// exp 0 (no expiry) is deliveryCache.
func deliveryCacheUntil(exp int64, now time.Time) string {
	if exp == 0 {
		return deliveryCache
	}
	left := max(int64(time.Unix(exp, 0).Sub(now)/time.Second), 0)
	maxAge := min(left, deliveryMaxAge)
	swr := min(left-maxAge, deliverySWR)
	var b strings.Builder
	b.WriteString("public, max-age=" + strconv.FormatInt(maxAge, 10))
	if swr > 0 {
		b.WriteString(", stale-while-revalidate=" + strconv.FormatInt(swr, 10))
	}
	return b.String()
}

// handleDeliver serves GET /img/{signature}/{recipe}/{id}.{ext}[?w=W][&exp=T]: a named recipe's first
// output for an image, in the format ext ("auto" picks from Accept, answered with Vary:
// Accept), optionally fitted to width W from Config.DeliveryWidths.
//
// The signature (auth.Sign over auth.DeliveryMessage) is checked before anything else: a
// missing, tampered or unknown-key signature is 403 forbidden-signature and the catalog is
// not called. With no signing keys configured the route answers 404 (delivery off). Other
// query parameters (cache busters, tracking) are ignored and not signed.
//
// exp=T (Unix seconds, canonical) is optional and signed with the rest (see
// auth.DeliveryMessageExpires); a non-canonical or repeated exp is forbidden-signature like
// any tampering. Once the signature verifies, a URL whose T is past (now > T) is 403
// expired-signature. URLs without exp never expire.
//
// The first hit renders and stores; later hits stream from storage with a strong ETag,
// If-None-Match -> 304, Content-Length and deliveryCache: a day, then revalidation (the URL
// names the recipe, whose outputs may change; rendition content URLs are immutable). With
// exp, caching ends by T (deliveryCacheUntil).
func (s *server) handleDeliver() http.HandlerFunc {
	return s.deliver(time.Now)
}

// deliver is handleDeliver reading the time from now, so tests can set the clock.
func (s *server) deliver(now func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.SigningKeys) == 0 {
			s.writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found",
				"signed delivery URLs are not enabled on this service"))
			return
		}
		sig, recipe := chi.URLParam(r, "signature"), chi.URLParam(r, "recipe")
		id, ext := chi.URLParam(r, "id"), chi.URLParam(r, "ext")
		q := r.URL.Query()
		width, werr := deliveryWidth(q)
		exp, eerr := deliveryExpiry(q)
		if werr != nil || eerr != nil ||
			!auth.Verify(s.cfg.SigningKeys, auth.DeliveryMessageExpires(recipe, id, ext, width, exp), sig) {
			s.forbiddenSignature(w, r)
			return
		}
		t := now()
		if exp > 0 && t.After(time.Unix(exp, 0)) {
			s.writeProblem(w, r, newProblem(http.StatusForbidden, "expired-signature", "Signature expired",
				fmt.Sprintf("the URL expired at %s; make a new one with pictor sign", time.Unix(exp, 0).UTC().Format(time.RFC3339))))
			return
		}
		if width > 0 && !slices.Contains(s.cfg.DeliveryWidths, width) {
			s.writeProblem(w, r, newProblem(http.StatusBadRequest, "width-not-allowed", "Width not allowed",
				fmt.Sprintf("w=%d is not one of the configured delivery widths %v", width, s.cfg.DeliveryWidths)))
			return
		}
		if ext == "auto" {
			w.Header().Add("Vary", "Accept")
		}
		rc, meta, err := s.catalog.Deliver(r.Context(), id, recipe, ext, acceptedFormats(r.Header.Get("Accept")), width)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if meta.Held {
			// Signed URLs are public: a held rendition is never delivered through them.
			rc.Close()
			s.heldForReview(w, r)
			return
		}
		s.serveContent(w, r, rc, meta, deliveryCacheUntil(exp, t))
	}
}

// forbiddenSignature answers a delivery URL whose signature does not verify.
func (s *server) forbiddenSignature(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, newProblem(http.StatusForbidden, "forbidden-signature", "Invalid signature",
		"the URL's signature does not match its path; make delivery URLs with pictor sign"))
}

// purgeResult is the body of DELETE /v1/images/{id}/renditions.
type purgeResult struct {
	ImageID string `json:"image_id"`
	Removed int    `json:"removed"`
}

// handlePurgeRenditions serves DELETE /v1/images/{id}/renditions: removes every rendition of
// the image (stored objects and records), so the next request renders afresh. 200 with the
// count, 404 for an unknown image. CDN copies expire on their own (or purge them there).
func (s *server) handlePurgeRenditions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		n, err := s.catalog.PurgeRenditions(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		s.writeJSON(w, r, http.StatusOK, purgeResult{ImageID: id, Removed: n})
	}
}
