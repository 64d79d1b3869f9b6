package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
)

// renditionLister lists an image's renditions. *catalog.Service implements it; a Catalog
// that does not answers GET /v1/images/{id}/renditions with 404.
type renditionLister interface {
	ListRenditions(ctx context.Context, imageID string) ([]catalog.Rendition, error)
}

var _ renditionLister = (*catalog.Service)(nil)

// handleListRenditions serves GET /v1/images/{id}/renditions: every rendition of the
// image's original (the same bytes ingested twice share them), newest first, with URL,
// recipe hash and lineage.
func (s *server) handleListRenditions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		rl, ok := s.catalog.(renditionLister)
		if !ok {
			s.writeError(w, r, fmt.Errorf("list renditions of %s: %w", id, catalog.ErrNotFound))
			return
		}
		rends, err := rl.ListRenditions(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rends == nil {
			rends = []catalog.Rendition{}
		}
		s.writeJSON(w, r, http.StatusOK, renditionList{Renditions: rends})
	}
}
