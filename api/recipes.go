package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
)

// recipeStore is what the named-recipe routes need.
type recipeStore interface {
	PutRecipe(ctx context.Context, name string, body []byte) (catalog.StoredRecipe, bool, error)
	GetRecipe(ctx context.Context, name string) (catalog.StoredRecipe, error)
	DeleteRecipe(ctx context.Context, name string) error
	ListRecipes(ctx context.Context) ([]catalog.StoredRecipe, error)
}

// recipeView is a stored recipe as the API shows it: the canonical recipe as a JSON object.
type recipeView struct {
	Name      string          `json:"name"`
	Hash      string          `json:"hash"`
	Recipe    json.RawMessage `json:"recipe"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func viewRecipe(sr catalog.StoredRecipe) recipeView {
	v := recipeView{Name: sr.Name, Hash: sr.Hash, Recipe: sr.Recipe, CreatedAt: sr.CreatedAt, UpdatedAt: sr.UpdatedAt}
	if len(v.Recipe) == 0 || !json.Valid(v.Recipe) {
		v.Recipe = json.RawMessage("null")
	}
	return v
}

// recipeList is the body of GET /v1/recipes.
type recipeList struct {
	Recipes []recipeView `json:"recipes"`
}

// handleListRecipes serves GET /v1/recipes.
func (s *server) handleListRecipes() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		list, err := s.catalog.ListRecipes(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := recipeList{Recipes: make([]recipeView, 0, len(list))}
		for _, sr := range list {
			out.Recipes = append(out.Recipes, viewRecipe(sr))
		}
		s.writeJSON(w, r, http.StatusOK, out)
	}
}

// handleGetRecipe serves GET /v1/recipes/{name}.
func (s *server) handleGetRecipe() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sr, err := s.catalog.GetRecipe(r.Context(), chi.URLParam(r, "name"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, viewRecipe(sr))
	}
}

// handlePutRecipe serves PUT /v1/recipes/{name}: the body is the recipe JSON object.
// 201 when created, 200 when replaced.
func (s *server) handlePutRecipe() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, s.cfg.MaxJSONBytes)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
			s.writeError(w, r, fmt.Errorf("%w: the body must be a recipe JSON object", errMalformedJSON))
			return
		}
		name := chi.URLParam(r, "name")
		sr, created, err := s.catalog.PutRecipe(r.Context(), name, body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "/v1/recipes/"+url.PathEscape(sr.Name))
		}
		s.writeJSON(w, r, status, viewRecipe(sr))
	}
}

// handleDeleteRecipe serves DELETE /v1/recipes/{name}: 204.
func (s *server) handleDeleteRecipe() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.catalog.DeleteRecipe(r.Context(), chi.URLParam(r, "name")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
