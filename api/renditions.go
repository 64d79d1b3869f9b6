package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// renderer is what the rendition routes need: render, list, serve and purge renditions.
type renderer interface {
	Render(ctx context.Context, imageID string, ref catalog.RecipeRef, accept []imaging.Format) ([]catalog.Rendition, error)
	OpenRendition(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error)
	ListRenditions(ctx context.Context, imageID string) ([]catalog.Rendition, error)
	PurgeRenditions(ctx context.Context, imageID string) (int, error)
}

// immutableCache is the Cache-Control of rendition bytes: their URLs are content addressed.
const immutableCache = "public, max-age=31536000, immutable"

// deliveryCache is the Cache-Control of /img delivery URLs. They name a recipe, not its
// hash, so their image changes when the recipe does: caches keep it a day, then revalidate
// with the ETag (a 304 while unchanged) and serve the stale copy meanwhile for up to a week.
const deliveryCache = "public, max-age=86400, stale-while-revalidate=604800"

// renderRequest is the body of POST /v1/images/{id}/renditions.
type renderRequest struct {
	Recipe json.RawMessage `json:"recipe"`
	// Wait is how long to wait for a GPU render before answering 202 ("30s").
	Wait string `json:"wait"`
}

// renditionList is the answer of POST /v1/images/{id}/renditions.
type renditionList struct {
	Renditions []catalog.Rendition `json:"renditions"`
}

// handleRender serves POST /v1/images/{id}/renditions {"recipe": name | object}: 201 with
// the renditions. The output format hint for format "auto" is the query parameter accept.
func (s *server) handleRender() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in renderRequest
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		ref, err := recipeRef(in.Recipe)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if ref.IsZero() {
			s.writeError(w, r, fmt.Errorf("%w: recipe is required", catalog.ErrInvalid))
			return
		}
		wait, err := parseWait(in.Wait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		needsSD, canonical, err := s.catalog.RecipeNeedsSD(r.Context(), ref)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if needsSD {
			id := chi.URLParam(r, "id")
			img, err := s.catalog.GetImage(r.Context(), id)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if img.QualityError != "" {
				// A job would fail on it: say so now.
				s.writeError(w, r, fmt.Errorf("the original of %s does not decode in full: %w", id, imaging.ErrCorrupt))
				return
			}
			s.renderAsync(w, r, nil, id, canonical, wait)
			return
		}
		rends, err := s.catalog.Render(r.Context(), chi.URLParam(r, "id"), ref, acceptedFormats(r.URL.Query().Get("accept")))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rends == nil {
			rends = []catalog.Rendition{}
		}
		s.writeJSON(w, r, http.StatusCreated, renditionList{Renditions: rends})
	}
}

// handleRenditionContent serves GET /v1/renditions/{id}/content: the rendition bytes,
// cacheable for a year.
func (s *server) handleRenditionContent() http.HandlerFunc {
	return s.serveOpened(s.catalog.OpenRendition, immutableCache)
}
