package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
	"github.com/pictor/pictor/storage"
)

// promptRecipe is a recipe whose step 2 paints a background from prompt and negative.
func promptRecipe(prompt, negative string) []byte {
	return fmt.Appendf(nil, `{"steps":[{"op":"auto_orient"},{"op":"remove_background","engine":"sd"},
		{"op":"replace_background","prompt":%q,"negative_prompt":%q}],
		"outputs":[{"name":"main","format":"jpeg"}]}`, prompt, negative)
}

// A batch's recipe passes the prompt policy when the batch is created, inline or named,
// before any manifest row is read or any GPU time is spent.
func TestCreateBatchChecksPrompts(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{blocklist: []string{"nude", "Beach"}})
	ctx := context.Background()
	// Store a named recipe through a catalog on the same database that does not block "beach".
	st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(t.TempDir(), "objects")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fetch.New(fetch.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	before, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{DB: b.db, Store: st, Fetcher: f, Gate: imaging.NewGate(1, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := before.PutRecipe(ctx, "beach", promptRecipe("a sunny beach", "")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		ref         catalog.RecipeRef
		field, term string
	}{
		{"inline prompt", catalog.RecipeRef{Inline: promptRecipe("a ＮＵＤＥ model", "")}, "steps[2].prompt", "nude"},
		{"inline negative prompt", catalog.RecipeRef{Inline: promptRecipe("a studio", "nu\u200bde")}, "steps[2].negative_prompt", "nude"},
		{"named recipe stored before the term", catalog.RecipeRef{Name: "beach"}, "steps[2].prompt", "Beach"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Name: tc.name, Recipe: tc.ref,
				Manifest: strings.NewReader("url\nhttps://example.com/a.jpg\n"), Format: manifest.CSV})
			var pb *catalog.PromptBlockedError
			if !errors.Is(err, catalog.ErrPromptBlocked) || !errors.As(err, &pb) {
				t.Fatalf("got %v, want a *catalog.PromptBlockedError", err)
			}
			if pb.Field != tc.field || pb.Term != tc.term {
				t.Errorf("got field %q term %q, want %q %q", pb.Field, pb.Term, tc.field, tc.term)
			}
		})
	}
	batches, err := b.jobs.ListBatches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 0 {
		t.Errorf("refused batches left %d batches behind, want 0", len(batches))
	}
	// A clean recipe passes the policy and meets the next check: no backend configured.
	_, err = b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: promptRecipe("a marble counter", "")},
		Manifest: strings.NewReader("url\nhttps://example.com/a.jpg\n"), Format: manifest.CSV})
	if !errors.Is(err, catalog.ErrSDRequired) {
		t.Errorf("clean recipe: got %v, want ErrSDRequired", err)
	}
}
