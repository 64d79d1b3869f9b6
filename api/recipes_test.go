package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/pipeline"
)

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		target     string
		body       string
		status     int
		slug       string
		wantRef    catalog.RecipeRef
		wantAccept string
	}{
		{"named", "/v1/images/img-1/renditions", `{"recipe":"listing-main"}`, 201, "", catalog.RecipeRef{Name: "listing-main"}, ""},
		{"inline with accept", "/v1/images/img-1/renditions?accept=image/avif", `{"recipe":{"outputs":[{"name":"a"}]}}`, 201, "",
			catalog.RecipeRef{Inline: []byte(`{"outputs":[{"name":"a"}]}`)}, "avif"},
		{"missing recipe", "/v1/images/img-1/renditions", `{}`, 400, "invalid-request", catalog.RecipeRef{}, ""},
		{"null recipe", "/v1/images/img-1/renditions", `{"recipe":null}`, 400, "invalid-request", catalog.RecipeRef{}, ""},
		{"unknown field", "/v1/images/img-1/renditions", `{"recipe":"a","hurry":true}`, 400, "malformed-json", catalog.RecipeRef{}, ""},
		{"recipe array", "/v1/images/img-1/renditions", `{"recipe":[1]}`, 400, "invalid-request", catalog.RecipeRef{}, ""},
		{"unknown image", "/v1/images/nope/renditions", `{"recipe":"a"}`, 404, "not-found", catalog.RecipeRef{Name: "a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeCatalog{render: func(_ context.Context, id string, _ catalog.RecipeRef, _ string) ([]catalog.Rendition, error) {
				if id != "img-1" {
					return nil, catalog.ErrNotFound
				}
				return []catalog.Rendition{{ID: "r1", Name: "main", URL: "/v1/renditions/r1/content"}}, nil
			}}
			b := setup(t, fc, nil)
			rec := b.do(t, http.MethodPost, tt.target, strings.NewReader(tt.body), map[string]string{"Content-Type": "application/json"})
			if tt.slug != "" {
				wantProblem(t, rec, tt.status, tt.slug)
			} else {
				if rec.Code != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
				}
				var out struct {
					Renditions []catalog.Rendition `json:"renditions"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if len(out.Renditions) != 1 || out.Renditions[0].ID != "r1" {
					t.Errorf("renditions: got %+v, want one with id r1", out.Renditions)
				}
			}
			if tt.wantRef.IsZero() {
				if len(fc.renders) != 0 {
					t.Errorf("render calls: got %d, want 0", len(fc.renders))
				}
				return
			}
			if len(fc.renders) != 1 {
				t.Fatalf("render calls: got %d, want 1", len(fc.renders))
			}
			got := fc.renders[0]
			if got.Ref.Name != tt.wantRef.Name || !bytes.Equal(got.Ref.Inline, tt.wantRef.Inline) || got.Accept != tt.wantAccept {
				t.Errorf("render call: got %+v (inline %s), want ref %+v (inline %s) accept %q", got, got.Ref.Inline, tt.wantRef, tt.wantRef.Inline, tt.wantAccept)
			}
		})
	}
}

func TestRenderEmptyListIsArray(t *testing.T) {
	t.Parallel()
	b := setup(t, &fakeCatalog{render: func(context.Context, string, catalog.RecipeRef, string) ([]catalog.Rendition, error) {
		return nil, nil
	}}, nil)
	rec := b.do(t, http.MethodPost, "/v1/images/i/renditions", strings.NewReader(`{"recipe":"a"}`), map[string]string{"Content-Type": "application/json"})
	if got := strings.TrimSpace(rec.Body.String()); got != `{"renditions":[]}` {
		t.Errorf("body: got %s, want {\"renditions\":[]}", got)
	}
}

var recipeTime = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func storedRecipe(name string) catalog.StoredRecipe {
	return catalog.StoredRecipe{
		Name: name, Hash: "h-" + name, Recipe: []byte(`{"outputs":[{"format":"webp","name":"main"}],"steps":[]}`),
		CreatedAt: recipeTime, UpdatedAt: recipeTime,
	}
}

func TestRecipes(t *testing.T) {
	t.Parallel()
	newCatalog := func() *fakeCatalog {
		return &fakeCatalog{
			listRecipes: func(context.Context) ([]catalog.StoredRecipe, error) {
				return []catalog.StoredRecipe{storedRecipe("a"), storedRecipe("b")}, nil
			},
			getRecipe: func(_ context.Context, name string) (catalog.StoredRecipe, error) {
				if name != "a" {
					return catalog.StoredRecipe{}, catalog.ErrNotFound
				}
				return storedRecipe(name), nil
			},
			putRecipe: func(_ context.Context, name string, body []byte) (catalog.StoredRecipe, bool, error) {
				if bytes.Contains(body, []byte("bogus")) {
					return catalog.StoredRecipe{}, false, &pipeline.ValidationError{Errors: []pipeline.FieldError{
						{Field: "steps[0].op", Message: "unknown operation"}, {Field: "outputs", Message: "required"}}}
				}
				return storedRecipe(name), name == "new", nil
			},
			deleteRecipe: func(_ context.Context, name string) error {
				if name != "a" {
					return catalog.ErrNotFound
				}
				return nil
			},
		}
	}
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		status   int
		slug     string
		contains []string
	}{
		{"list", http.MethodGet, "/v1/recipes", "", 200, "", []string{`"recipes":[{"name":"a","hash":"h-a","recipe":{"outputs"`, `"name":"b"`, `"created_at":"2025-05-06T07:08:09Z"`}},
		{"get", http.MethodGet, "/v1/recipes/a", "", 200, "", []string{`"name":"a"`, `"recipe":{"outputs":[{"format":"webp","name":"main"}],"steps":[]}`, `"updated_at"`}},
		{"get unknown", http.MethodGet, "/v1/recipes/zzz", "", 404, "not-found", nil},
		{"put creates", http.MethodPut, "/v1/recipes/new", `{"outputs":[{"name":"main"}]}`, 201, "", []string{`"name":"new"`, `"recipe":{"outputs"`}},
		{"put replaces", http.MethodPut, "/v1/recipes/old", `{"outputs":[{"name":"main"}]}`, 200, "", []string{`"name":"old"`}},
		{"put not json", http.MethodPut, "/v1/recipes/a", `steps: []`, 400, "malformed-json", nil},
		{"put array", http.MethodPut, "/v1/recipes/a", `[1,2]`, 400, "malformed-json", nil},
		{"put invalid recipe", http.MethodPut, "/v1/recipes/a", `{"steps":[{"op":"bogus"}]}`, 400, "invalid-recipe", []string{`"errors":[{"field":"steps[0].op","message":"unknown operation"},{"field":"outputs","message":"required"}]`}},
		{"delete", http.MethodDelete, "/v1/recipes/a", "", 204, "", nil},
		{"delete unknown", http.MethodDelete, "/v1/recipes/zzz", "", 404, "not-found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, newCatalog(), nil)
			rec := b.do(t, tt.method, tt.target, strings.NewReader(tt.body), map[string]string{"Content-Type": "application/json"})
			if tt.slug != "" {
				wantProblem(t, rec, tt.status, tt.slug)
			} else if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			for _, want := range tt.contains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("body: got %s, want it to contain %s", rec.Body, want)
				}
			}
			if tt.status == http.StatusNoContent && rec.Body.Len() != 0 {
				t.Errorf("204 body: got %q, want empty", rec.Body)
			}
			if tt.status == http.StatusCreated {
				if got := rec.Header().Get("Location"); got != "/v1/recipes/new" {
					t.Errorf("Location: got %q, want /v1/recipes/new", got)
				}
			}
		})
	}
}
