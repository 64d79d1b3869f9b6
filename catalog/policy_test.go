package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/promptpolicy"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// policyBundle is a catalog on SQLite with a stand-in WebUI, whose blocklist a test can
// change by opening another service on the same database and store (open).
type policyBundle struct {
	svc   *catalog.Service
	sd    *sdtest.Server
	image string // id of a stored product shot
	open  func(blocklist ...string) (*catalog.Service, error)
}

// mustOpen opens another service on b's database and store with blocklist.
func (b policyBundle) mustOpen(t *testing.T, blocklist ...string) *catalog.Service {
	t.Helper()
	svc, err := b.open(blocklist...)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func policySetup(t *testing.T, blocklist ...string) policyBundle {
	t.Helper()
	d, st := backends()[0].open(t) // SQLite and a local directory
	srv := sdtest.New(sdtest.Options{StepLatency: time.Millisecond})
	t.Cleanup(srv.Close)
	pool, err := sdclient.NewPool([]sdclient.Backend{{URL: srv.URL}}, sdclient.DefaultPoolConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	open := func(blocklist ...string) (*catalog.Service, error) {
		cfg := catalog.DefaultConfig()
		cfg.PromptBlocklist = blocklist
		svc, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(2, 16),
			SD: &pipeline.SD{Pool: pool}, Registerer: prometheus.NewRegistry()})
		if err != nil {
			return nil, err
		}
		return svc, svc.Init(context.Background())
	}
	b := policyBundle{sd: srv, open: open}
	b.svc = b.mustOpen(t, blocklist...)
	res, err := b.svc.Ingest(context.Background(), catalog.IngestRequest{Data: productJPEG(t, 320, 240)})
	if err != nil {
		t.Fatal(err)
	}
	b.image = res.Image.ID
	return b
}

// sceneRecipe is a recipe whose step 2 paints a background from prompt and negative.
func sceneRecipe(prompt, negative string) []byte {
	return fmt.Appendf(nil, `{"steps":[{"op":"auto_orient"},{"op":"remove_background","engine":"sd"},
		{"op":"replace_background","prompt":%q,"negative_prompt":%q,"seed":7}],
		"outputs":[{"name":"main","format":"jpeg"}]}`, prompt, negative)
}

// wantBlocked fails unless err is a refusal by the prompt policy naming field and term.
func wantBlocked(t *testing.T, err error, field, term string) {
	t.Helper()
	var pb *catalog.PromptBlockedError
	if !errors.Is(err, catalog.ErrPromptBlocked) || !errors.As(err, &pb) {
		t.Fatalf("got %v, want a *PromptBlockedError (ErrPromptBlocked)", err)
	}
	if pb.Field != field || pb.Term != term {
		t.Errorf("got field %q term %q, want %q %q", pb.Field, pb.Term, field, term)
	}
	if msg := err.Error(); !strings.Contains(msg, field) || !strings.Contains(msg, term) {
		t.Errorf("message %q does not name field %q and term %q", msg, field, term)
	}
}

// noGPU fails when the stand-in WebUI was called.
func noGPU(t *testing.T, b policyBundle) {
	t.Helper()
	if calls := b.sd.Calls(); len(calls) != 0 {
		t.Errorf("refused prompts reached the backend %d times", len(calls))
	}
}

func TestPutRecipeChecksPrompts(t *testing.T) {
	t.Parallel()
	b := policySetup(t, "nude", "裸体")
	ctx := context.Background()
	cases := []struct {
		name        string
		body        []byte
		field, term string // "" for an accepted recipe
	}{
		{"prompt", sceneRecipe("a NUDE model on a beach", ""), "steps[2].prompt", "nude"},
		{"negative prompt", sceneRecipe("a beach", "people, n u d e"), "steps[2].negative_prompt", "nude"},
		{"full-width prompt", sceneRecipe("ａ ｎｕｄｅ model", ""), "steps[2].prompt", "nude"},
		{"chinese prompt", sceneRecipe("一个裸体模特", ""), "steps[2].prompt", "裸体"},
		{"clean", sceneRecipe("a marble kitchen counter", "blurry"), "", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("scene-%d", i)
			_, _, err := b.svc.PutRecipe(ctx, name, tc.body)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want the recipe stored", err)
				}
				return
			}
			wantBlocked(t, err, tc.field, tc.term)
			if _, err := b.svc.GetRecipe(ctx, name); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("refused recipe: GetRecipe got %v, want ErrNotFound", err)
			}
		})
	}
	noGPU(t, b)
}

// A named recipe stored before its term was blocked is refused wherever it is used.
func TestStoredRecipeRefusedAtUse(t *testing.T) {
	t.Parallel()
	b := policySetup(t)
	ctx := context.Background()
	if _, _, err := b.svc.PutRecipe(ctx, "beach", sceneRecipe("a sunny beach", "")); err != nil {
		t.Fatal(err)
	}
	later := b.mustOpen(t, "Beach")
	ref := catalog.RecipeRef{Name: "beach"}
	uses := []struct {
		name string
		use  func() error
	}{
		{"render", func() error { _, err := later.Render(ctx, b.image, ref, nil); return err }},
		{"recipe needs sd (api and batches)", func() error { _, _, err := later.RecipeNeedsSD(ctx, ref); return err }},
		{"ingest", func() error {
			_, err := later.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100), Recipe: ref})
			return err
		}},
		{"delivery", func() error { _, _, err := later.Deliver(ctx, b.image, "beach", "jpeg", nil, 0); return err }},
	}
	for _, u := range uses {
		t.Run(u.name, func(t *testing.T) {
			wantBlocked(t, u.use(), "steps[2].prompt", "Beach")
		})
	}
	// The service that stored it, without the term, still resolves it.
	if _, _, err := b.svc.RecipeNeedsSD(ctx, ref); err != nil {
		t.Errorf("without the term: got %v, want the recipe resolved", err)
	}
	noGPU(t, b)
}

func TestInlineRecipeCheckedAtUse(t *testing.T) {
	t.Parallel()
	b := policySetup(t, "nude")
	ctx := context.Background()
	cases := []struct {
		name        string
		recipe      []byte
		field, term string
	}{
		{"prompt", sceneRecipe("nude beach", ""), "steps[2].prompt", "nude"},
		{"negative prompt", sceneRecipe("beach", "Nu\u200bde"), "steps[2].negative_prompt", "nude"},
	}
	for _, tc := range cases {
		ref := catalog.RecipeRef{Inline: tc.recipe}
		t.Run(tc.name+"/render", func(t *testing.T) {
			_, err := b.svc.Render(ctx, b.image, ref, nil)
			wantBlocked(t, err, tc.field, tc.term)
		})
		t.Run(tc.name+"/recipe needs sd", func(t *testing.T) {
			_, _, err := b.svc.RecipeNeedsSD(ctx, ref)
			wantBlocked(t, err, tc.field, tc.term)
		})
		t.Run(tc.name+"/ingest", func(t *testing.T) {
			_, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100), Recipe: ref})
			wantBlocked(t, err, tc.field, tc.term)
		})
	}
	if _, _, err := b.svc.RecipeNeedsSD(ctx, catalog.RecipeRef{Inline: sceneRecipe("a beach", "blurry")}); err != nil {
		t.Errorf("clean inline recipe: got %v, want it resolved", err)
	}
	noGPU(t, b)
}

func TestPrepareSceneChecksPrompts(t *testing.T) {
	t.Parallel()
	b := policySetup(t, "nsfw", "裸体")
	ctx := context.Background()
	later := b.mustOpen(t, "nsfw", "裸体", "brand")
	// Stored before "brand" was blocked (b.svc does not block it): caught once filled.
	if _, _, err := b.svc.PutTemplate(ctx, catalog.PromptTemplate{Name: "kitchen",
		Prompt: "{product} on a {scene}", NegativePrompt: "{avoid}, brand logo"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		svc         *catalog.Service
		req         catalog.SceneRequest
		field, term string // "" when the scene is accepted
	}{
		{"prompt", b.svc, catalog.SceneRequest{Prompt: "an ＮＳＦＷ room"}, "prompt", "nsfw"},
		{"chinese prompt", b.svc, catalog.SceneRequest{Prompt: "一个裸\u3000体模特"}, "prompt", "裸体"},
		{"negative prompt", b.svc, catalog.SceneRequest{Prompt: "a room", NegativePrompt: "ns fw"}, "negative_prompt", "nsfw"},
		{"template-filled prompt", b.svc, catalog.SceneRequest{Template: "kitchen",
			Variables: map[string]string{"product": "a mug", "scene": "nsfw table", "avoid": "blur"}}, "template.prompt", "nsfw"},
		{"template-filled negative prompt", b.svc, catalog.SceneRequest{Template: "kitchen",
			Variables: map[string]string{"product": "a mug", "scene": "table", "avoid": "NSFW"}}, "template.negative_prompt", "nsfw"},
		{"template body blocked after it was stored", later, catalog.SceneRequest{Template: "kitchen",
			Variables: map[string]string{"product": "a mug", "scene": "table", "avoid": "blur"}}, "template.negative_prompt", "brand"},
		{"own negative prompt with a template", b.svc, catalog.SceneRequest{Template: "kitchen", NegativePrompt: "nsfw",
			Variables: map[string]string{"product": "a mug", "scene": "table"}}, "negative_prompt", "nsfw"},
		{"clean template", b.svc, catalog.SceneRequest{Template: "kitchen",
			Variables: map[string]string{"product": "a mug", "scene": "table", "avoid": "blur"}}, "", ""},
		{"clean prompt", b.svc, catalog.SceneRequest{Prompt: "a marble counter", NegativePrompt: "blurry"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.ImageID = b.image
			sc, err := tc.svc.PrepareScene(ctx, tc.req)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want the scene prepared", err)
				}
				// The variant recipe carries the prompts and passes the same policy.
				if _, _, err := tc.svc.RecipeNeedsSD(ctx, catalog.RecipeRef{Inline: sc.VariantRecipe(0)}); err != nil {
					t.Errorf("variant recipe: got %v, want it resolved", err)
				}
				return
			}
			wantBlocked(t, err, tc.field, tc.term)
		})
	}
	noGPU(t, b)
}

func TestPutTemplateChecksPrompts(t *testing.T) {
	t.Parallel()
	b := policySetup(t, "nsfw", "裸体")
	ctx := context.Background()
	cases := []struct {
		name        string
		tpl         catalog.PromptTemplate
		field, term string
	}{
		{"prompt", catalog.PromptTemplate{Prompt: "{product} in an NSFW scene"}, "prompt", "nsfw"},
		{"chinese prompt", catalog.PromptTemplate{Prompt: "{product} 裸体"}, "prompt", "裸体"},
		{"negative prompt", catalog.PromptTemplate{Prompt: "{product} on a table", NegativePrompt: "n s f w"}, "negative_prompt", "nsfw"},
		{"clean", catalog.PromptTemplate{Prompt: "{product} on a table", NegativePrompt: "blurry"}, "", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.tpl.Name = fmt.Sprintf("tpl-%d", i)
			_, _, err := b.svc.PutTemplate(ctx, tc.tpl)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want the template stored", err)
				}
				return
			}
			wantBlocked(t, err, tc.field, tc.term)
			if _, err := b.svc.GetTemplate(ctx, tc.tpl.Name); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("refused template: GetTemplate got %v, want ErrNotFound", err)
			}
		})
	}
}

// A term that normalises to nothing is a configuration error, never a silent allow.
func TestInvalidBlocklistTerm(t *testing.T) {
	t.Parallel()
	b := policySetup(t)
	svc, err := b.open("nsfw", "\u200b")
	if errors.Is(err, promptpolicy.ErrInvalidTerm) {
		return // refused at construction
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.PutRecipe(context.Background(), "x", sceneRecipe("a beach", ""))
	if !errors.Is(err, promptpolicy.ErrInvalidTerm) {
		t.Errorf("got %v, want an error wrapping promptpolicy.ErrInvalidTerm", err)
	}
}
