package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/pictor/pictor/fault"
)

// Every sentinel the core packages make (package fault) is listed in errorOrder, so which
// one answers when a failure carries two is decided here, not by accident; every kind has
// a status; no sentinel is listed twice; and a sentinel missing from the list would still
// answer by its kind.
func TestEveryFaultIsOrdered(t *testing.T) {
	t.Parallel()
	listed := map[error]bool{}
	for _, r := range errorOrder {
		if r.target == nil || listed[r.target] || r.status == 0 {
			t.Errorf("errorOrder row %q: target %v listed before %v, status %d", r.slug, r.target, listed[r.target], r.status)
		}
		listed[r.target] = true
	}
	for _, e := range fault.All() {
		if !listed[e] {
			t.Errorf("fault %q (%s) is not in errorOrder", e.Code, e.Kind)
		}
		if _, ok := kindStatus[e.Kind]; !ok {
			t.Errorf("fault %q: kind %s has no status", e.Code, e.Kind)
		}
	}
	stray := &fault.Error{Kind: fault.Conflict, Code: "test-stray", Title: "Stray"} // not made with New: not in All
	p := problemFor(fmt.Errorf("doing it: %w", stray))
	if p.Status != http.StatusConflict || p.Type != ProblemTypePrefix+"test-stray" || p.Title != "Stray" {
		t.Errorf("an unlisted fault answers %+v, want 409 test-stray", p)
	}
}
