package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
)

// A scene id that cannot be an object key (the caller typed it) names no preview:
// ErrNotFound, which the API answers 404, not the store's invalid-key error (500).
func TestScenePreviewBadID(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	for _, id := range []string{"", ".", "..", "\x00", "a/b/", strings.Repeat("A", 3000), "scn_0000000000"} {
		if _, _, err := b.svc.OpenScenePreview(context.Background(), id); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("OpenScenePreview(%.20q): %v, want ErrNotFound", id, err)
		}
	}
}
