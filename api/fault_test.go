package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/pictor/pictor/fault"
)

// Every sentinel the service's packages make (package fault) is listed in faultOrder, so
// which one answers when a failure carries two is decided here, not by accident; every kind
// has a status; and a sentinel missing from the list would still answer by its kind.
func TestEveryFaultIsOrdered(t *testing.T) {
	t.Parallel()
	listed := map[*fault.Error]bool{}
	for _, e := range faultOrder {
		if listed[e] {
			t.Errorf("faultOrder lists %q twice", e.Code)
		}
		listed[e] = true
	}
	for _, e := range fault.All() {
		if !listed[e] {
			t.Errorf("fault %q (%s) is not in faultOrder", e.Code, e.Kind)
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
