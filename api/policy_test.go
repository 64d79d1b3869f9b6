package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
)

// policyRecipe is a recipe whose step 2 paints a background from prompt and negative.
func policyRecipe(prompt, negative string) string {
	return fmt.Sprintf(`{"steps":[{"op":"auto_orient"},{"op":"remove_background","engine":"sd"},
		{"op":"replace_background","prompt":%q,"negative_prompt":%q}],
		"outputs":[{"name":"main","format":"jpeg"}]}`, prompt, negative)
}

// The prompt policy answers 422 problem+json naming the field and the term, on the real
// catalog, before anything else (no backend is configured: a recipe that passed would be a 503).
func TestPromptPolicyProblems(t *testing.T) {
	t.Parallel()
	openCatalog := realCatalog(t)
	open := func(blocklist ...string) *catalog.Service {
		cfg := catalog.DefaultConfig()
		cfg.PromptBlocklist = blocklist
		return openCatalog(cfg)
	}
	// Stored while "beach" was allowed.
	if _, _, err := open().PutRecipe(context.Background(), "beach", []byte(policyRecipe("a sunny beach", ""))); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(DefaultConfig(), Deps{Catalog: open("nude", "Beach", "裸体"), Logger: slog.New(slog.DiscardHandler), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{h: h, reg: reg}
	jsonBody := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name, method, target, body string
		field, term                string
	}{
		{"named recipe put", http.MethodPut, "/v1/recipes/scene", policyRecipe("ａ ＮＵＤＥ model", ""), "steps[2].prompt", "nude"},
		{"inline recipe render", http.MethodPost, "/v1/images/img_1/renditions",
			`{"recipe":` + policyRecipe("a studio", "一个裸体模特") + `}`, "steps[2].negative_prompt", "裸体"},
		{"named recipe stored before the term", http.MethodPost, "/v1/images/img_1/renditions", `{"recipe":"beach"}`, "steps[2].prompt", "Beach"},
		{"ingest with inline recipe", http.MethodPost, "/v1/images",
			`{"url":"https://example.com/a.jpg","recipe":` + policyRecipe("n u d e", "") + `}`, "steps[2].prompt", "nude"},
		{"template put", http.MethodPut, "/v1/templates/kitchen", `{"prompt":"{product} on a table","negative_prompt":"NUDE"}`, "negative_prompt", "nude"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.do(t, tc.method, tc.target, strings.NewReader(tc.body), jsonBody)
			p := wantProblem(t, rec, http.StatusUnprocessableEntity, "prompt-blocked")
			if !strings.Contains(p.Detail, tc.field) || !strings.Contains(p.Detail, fmt.Sprintf("%q", tc.term)) {
				t.Errorf("detail: got %q, want it to name field %s and term %q", p.Detail, tc.field, tc.term)
			}
		})
	}
	// A clean recipe goes past the policy to the next check: no backend, 503.
	rec := b.do(t, http.MethodPost, "/v1/images/img_1/renditions", strings.NewReader(`{"recipe":`+policyRecipe("a marble counter", "")+`}`), jsonBody)
	wantProblem(t, rec, http.StatusServiceUnavailable, "sd-backend-required")
}
