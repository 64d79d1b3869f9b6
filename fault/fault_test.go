package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorWrapsAndIsFound(t *testing.T) {
	a := New(NotFound, "thing-missing", "Thing missing", "thing not found")
	b := New(Invalid, "thing-bad", "Thing bad", "thing is bad")
	err := fmt.Errorf("load %q: %w", "x", a)
	if !errors.Is(err, a) || errors.Is(err, b) {
		t.Errorf("errors.Is: got %v/%v, want true/false", errors.Is(err, a), errors.Is(err, b))
	}
	if got := Of(err); got != a || got.Kind != NotFound || got.Code != "thing-missing" || err.Error() != `load "x": thing not found` {
		t.Errorf("Of = %+v (%q)", got, err)
	}
	if Of(errors.New("plain")) != nil {
		t.Error("Of(plain error) is not nil")
	}
	found := 0
	for _, e := range All() {
		if e == a || e == b {
			found++
		}
	}
	if found != 2 {
		t.Errorf("All lists %d of the 2 made", found)
	}
	if NotImplemented.String() != "not implemented" || Kind(99).String() != "unknown" {
		t.Error("Kind.String")
	}
}
