package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
)

// Reviews is the review queue the HTTP layer uses; *catalog.Service implements it.
type Reviews interface {
	ListReviews(ctx context.Context, q catalog.ReviewQuery) (catalog.ReviewPage, error)
	DecideReviews(ctx context.Context, d catalog.ReviewDecision) (int, []catalog.Review, error)
	PrepareRetry(ctx context.Context, id string, seed *int64, recipe catalog.RecipeRef) (catalog.Retry, error)
	RenderFor(ctx context.Context, imageID string, ref catalog.RecipeRef, o catalog.RenderOptions) ([]catalog.Rendition, error)
}

var _ Reviews = (*catalog.Service)(nil)

// needReviews answers 501 when no review queue is wired.
func (s *server) needReviews(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.reviews == nil {
			s.writeProblem(w, r, newProblem(http.StatusNotImplemented, "not-implemented", "Not implemented",
				"the review queue is not configured on this service"))
			return
		}
		h(w, r)
	}
}

// heldForReview answers a request for a rendition that awaits review or was rejected.
func (s *server) heldForReview(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, newProblem(http.StatusForbidden, "held-for-review", "Held for review",
		"this rendition awaits review (or was rejected) and is not delivered until a reviewer approves it"))
}

// reviewQuery reads the queue's filter from the query string.
func reviewQuery(r *http.Request) (catalog.ReviewQuery, error) {
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "state", "batch", "scene", "check", "cursor", "limit":
			if len(v) != 1 {
				return catalog.ReviewQuery{}, fmt.Errorf("%w: query parameter %q given %d times", catalog.ErrInvalid, k, len(v))
			}
		default:
			return catalog.ReviewQuery{}, fmt.Errorf("%w: unknown query parameter %q", catalog.ErrInvalid, k)
		}
	}
	out := catalog.ReviewQuery{State: q.Get("state"), BatchID: q.Get("batch"), SceneID: q.Get("scene"), Check: q.Get("check"), Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return catalog.ReviewQuery{}, fmt.Errorf("%w: limit %q: want 1..200", catalog.ErrInvalid, l)
		}
		out.Limit = n
	}
	return out, nil
}

// handleListReviews serves GET /v1/reviews: the renditions held for review (or decided),
// oldest first, filtered by state, batch, scene and failing check. Write scope: the
// before/after links lead to held content.
func (s *server) handleListReviews() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !mayReview(r) {
			s.writeProblem(w, r, newProblem(http.StatusForbidden, "insufficient-scope", "Insufficient scope",
				"reviewing needs the write scope"))
			return
		}
		q, err := reviewQuery(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, err := s.reviews.ListReviews(r.Context(), q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		s.writeJSON(w, r, http.StatusOK, page)
	}
}

// reviewFilter is the filter member of a decision.
type reviewFilter struct {
	State string `json:"state"`
	Batch string `json:"batch"`
	Scene string `json:"scene"`
	Check string `json:"check"`
}

// decideRequest is the body of POST /v1/reviews/decide.
type decideRequest struct {
	IDs      []string      `json:"ids"`
	Filter   *reviewFilter `json:"filter"`
	Decision string        `json:"decision"`
	Reason   string        `json:"reason"`
}

// decideAnswer is the answer of POST /v1/reviews/decide.
type decideAnswer struct {
	Decided int              `json:"decided"`
	Reviews []catalog.Review `json:"reviews"`
}

// handleDecideReviews serves POST /v1/reviews/decide: approve or reject the renditions
// named by ids, or every one matching filter; the caller's key name is recorded as the
// reviewer. A rejection needs a reason.
func (s *server) handleDecideReviews() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in decideRequest
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		d := catalog.ReviewDecision{IDs: in.IDs, Reason: in.Reason, Reviewer: reviewerName(r)}
		switch in.Decision {
		case "approve":
			d.Approve = true
		case "reject":
		default:
			s.writeError(w, r, fmt.Errorf("%w: decision %q: want approve or reject", catalog.ErrInvalid, in.Decision))
			return
		}
		if in.Filter != nil {
			d.Filter = &catalog.ReviewQuery{State: in.Filter.State, BatchID: in.Filter.Batch, SceneID: in.Filter.Scene, Check: in.Filter.Check}
		}
		n, rv, err := s.reviews.DecideReviews(r.Context(), d)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, decideAnswer{Decided: n, Reviews: rv})
	}
}

// reviewerName is who decides: the API key's name, or "open" on a service without keys.
func reviewerName(r *http.Request) string {
	c, ok := callerFrom(r.Context())
	switch {
	case !ok || c.key < 0:
		return "open"
	case c.name != "":
		return c.name
	}
	return "key-" + strconv.Itoa(c.key)
}

// retryRequest is the body of POST /v1/reviews/{id}/retry.
type retryRequest struct {
	// Seed replaces the seed of the rendition's prompt-painted steps; default random.
	Seed *int64 `json:"seed"`
	// Recipe, when set, is run instead of the rendition's own (a name or inline).
	Recipe json.RawMessage `json:"recipe"`
	// Wait is how long to wait for a GPU render before answering 202 ("30s").
	Wait string `json:"wait"`
}

// handleRetryReview serves POST /v1/reviews/{id}/retry: a rejected rendition made again,
// with another seed or another recipe, for the same image, batch and scene; the new
// renditions are checked and held as any. 201 with the renditions, or 202 with the job
// when the recipe needs the GPU (as POST /v1/images/{id}/renditions).
func (s *server) handleRetryReview() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in retryRequest
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		ref, err := recipeRef(in.Recipe)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		wait, err := parseWait(in.Wait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rt, err := s.reviews.PrepareRetry(r.Context(), chi.URLParam(r, "id"), in.Seed, ref)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rt.NeedsSD {
			s.renderAsync(w, r, nil, rt.ImageID, rt.Recipe, wait)
			return
		}
		rends, err := s.reviews.RenderFor(r.Context(), rt.ImageID, catalog.RecipeRef{Inline: rt.Recipe},
			catalog.RenderOptions{Accept: acceptedFormats(r.URL.Query().Get("accept")), BatchID: rt.BatchID, SceneID: rt.SceneID})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusCreated, renditionList{Renditions: rends})
	}
}
