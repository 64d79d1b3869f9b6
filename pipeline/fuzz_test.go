package pipeline

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRecipe checks that ParseRecipe either fails with ErrInvalidRecipe
// or returns a recipe whose canonical form parses back to the same recipe.
func FuzzParseRecipe(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "recipes", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``,
		`null`,
		`{}`,
		`[]`,
		`{"steps": [], "outputs": []}`,
		`{"outputs": [{"name": "a", "format": "jpeg"}]}`,
		`{"outputs": [{"name": "a", "format": "jpeg", "resize": {"width": -1}}]}`,
		`{"steps": [{"op": "nope"}], "outputs": [{"name": "a"}]}`,
		`{"steps": [{"op": "pad", "color": "#fff"}], "outputs": [{"name": "a", "format": "png"}]}`,
		`{"outputs": [{"name": "a", "format": "png"}], "outputs": []}`,
		`{"outputs": [{"name": "a", "quality": 1e400}]}`,
		"{\"outputs\": [{\"name\": \"\xff\"}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecipe(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecipe) {
				t.Fatalf("ParseRecipe error %v does not match ErrInvalidRecipe", err)
			}
			if r != nil {
				t.Fatalf("ParseRecipe returned recipe %+v with error %v", r, err)
			}
			return
		}
		canon := r.Canonical()
		r2, err := ParseRecipe(canon)
		if err != nil {
			t.Fatalf("ParseRecipe(Canonical()) = %v for canonical %s", err, canon)
		}
		if got := r2.Canonical(); !bytes.Equal(got, canon) {
			t.Fatalf("canonical changed on re-parse: got %s, want %s", got, canon)
		}
		if got, want := r2.Hash(), r.Hash(); got != want {
			t.Fatalf("hash changed on re-parse: got %s, want %s", got, want)
		}
	})
}
