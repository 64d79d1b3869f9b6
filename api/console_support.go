package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
)

// handleListRenditions serves GET /v1/images/{id}/renditions: every rendition of the
// image's original (the same bytes ingested twice share them), newest first, with URL,
// recipe hash and lineage.
func (s *server) handleListRenditions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		rends, err := s.catalog.ListRenditions(r.Context(), id)
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
