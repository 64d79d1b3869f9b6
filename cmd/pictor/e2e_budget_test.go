package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A recipe whose estimated cost is over the render budget is refused before any work, with
// 422 render-over-budget naming the step: the 149-byte-PNG attack of the hardening issue
// (enlarged to 4000x4000, blurred with sigma 100) cost 49 s of CPU. A tighter budget set
// through the environment names the step that passes it.
func TestRenderOverBudgetAnswers422(t *testing.T) {
	t.Parallel()
	const runaway = `{"steps":[{"op":"resize","width":4000,"height":4000,"fit":"fill"},{"op":"blur","sigma":100}],"outputs":[{"name":"o","format":"jpeg"}]}`
	cases := []struct {
		env    []string
		recipe string
		where  string
	}{
		{nil, runaway, "steps[1] blur"},
		{[]string{"PICTOR_RENDER_BUDGET=1000000"}, `{"steps":[{"op":"resize","width":2000,"height":2000,"fit":"fill"}],"outputs":[{"name":"o","format":"jpeg"}]}`, "steps[0] resize"},
	}
	for _, tc := range cases {
		s := startServer(t, tc.env...)
		var in struct {
			Image struct {
				ID string `json:"id"`
			} `json:"image"`
		}
		if r := s.call(t, "POST", "/v1/images?sku=B-1", "image/jpeg", bytes.NewReader(photo(t, 16, 16)), &in); r.StatusCode != 201 {
			t.Fatalf("ingest: %d", r.StatusCode)
		}
		r := s.call(t, "POST", "/v1/images/"+in.Image.ID+"/renditions", "application/json", strings.NewReader(`{"recipe": `+tc.recipe+`}`), nil)
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != 422 || r.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(body), "render-over-budget") || !strings.Contains(string(body), tc.where) {
			t.Errorf("%v: got %d %s, want 422 render-over-budget naming %s", tc.env, r.StatusCode, body, tc.where)
		}
	}
}
