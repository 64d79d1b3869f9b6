package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/auth"
)

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

// handleDeliver serves GET /img/{signature}/{recipe}/{id}.{ext}[?w=W]: a named recipe's first
// output for an image, in the format ext ("auto" picks from Accept, answered with Vary:
// Accept), optionally fitted to width W from Config.DeliveryWidths.
//
// The signature (auth.Sign over auth.DeliveryMessage) is checked before anything else: a
// missing, tampered or unknown-key signature is 403 forbidden-signature and the catalog is
// not called. With no signing keys configured the route answers 404 (delivery off). Other
// query parameters (cache busters, tracking) are ignored and not signed.
//
// The first hit renders and stores; later hits stream from storage with a strong ETag,
// If-None-Match -> 304, Content-Length and deliveryCache: a day, then revalidation (the URL
// names the recipe, whose outputs may change; rendition content URLs are immutable).
func (s *server) handleDeliver() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.SigningKeys) == 0 {
			s.writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found",
				"signed delivery URLs are not enabled on this service"))
			return
		}
		sig, recipe := chi.URLParam(r, "signature"), chi.URLParam(r, "recipe")
		id, ext := chi.URLParam(r, "id"), chi.URLParam(r, "ext")
		width, err := deliveryWidth(r.URL.Query())
		if err != nil || !auth.Verify(s.cfg.SigningKeys, auth.DeliveryMessage(recipe, id, ext, width), sig) {
			s.forbiddenSignature(w, r)
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
		rc, meta, err := s.catalog.Deliver(r.Context(), id, recipe, ext, r.Header.Get("Accept"), width)
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
		s.serveContent(w, r, rc, meta, deliveryCache)
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
