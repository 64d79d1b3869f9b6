package catalog_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/safety"
	"github.com/pictor/pictor/safety/safetytest"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// Recipes of the review tests: an AI-class classic cut-out whose marketplace rule passes
// or fails on productJPEG (the product spans half the frame), and a classic resize.
const (
	cutoutPasses = `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "jpeg", "checks": {"product_fill_min": 0.4}}]}`
	cutoutFails = `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "jpeg", "checks": {"product_fill_min": 0.9}}]}`
	classicOnly = `{"steps": [{"op": "resize", "width": 100}], "outputs": [{"name": "main"}]}`
)

func ingestWith(t *testing.T, svc *catalog.Service, recipe string, w int) catalog.Image {
	t.Helper()
	res, err := svc.Ingest(context.Background(), catalog.IngestRequest{Data: productJPEG(t, w, w*3/4), SKU: "R-1"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Image
}

func TestReviewHoldsFailingOutputs(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			bd := setup(t, b)
			ctx := context.Background()
			img := ingestWith(t, bd.svc, "", 400)
			// Default policy on an AI recipe: failed outputs are held, passing ones are not.
			failing, err := bd.svc.RenderFor(ctx, img.ID, catalog.RecipeRef{Inline: []byte(cutoutFails)}, catalog.RenderOptions{BatchID: "bat_x"})
			if err != nil {
				t.Fatal(err)
			}
			rd := failing[0]
			if rd.Review != catalog.ReviewPending || rd.Checks == nil || rd.Checks.Passed {
				t.Fatalf("failing output: review %q, checks %s; want pending with a failing report", rd.Review, rd.Checks)
			}
			if got := rd.Checks.Failed(); len(got) != 1 || got[0] != checks.ProductFill {
				t.Errorf("failed checks %v, want [product_fill]", got)
			}
			if rd.URL != (testLinks{}).RenditionContent(rd.ID) {
				t.Errorf("held rendition URL %q, want the service's content route (it checks the caller)", rd.URL)
			}
			rc, meta, err := bd.svc.OpenRendition(ctx, rd.ID)
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if !meta.Held {
				t.Error("OpenRendition of a pending rendition: Held = false, want true")
			}
			passing, err := bd.svc.RenderFor(ctx, img.ID, catalog.RecipeRef{Inline: []byte(cutoutPasses)}, catalog.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if passing[0].Review != "" || passing[0].Checks == nil || !passing[0].Checks.Passed {
				t.Errorf("passing output: review %q, checks %s; want published with a passing report", passing[0].Review, passing[0].Checks)
			}
			classic, err := bd.svc.RenderFor(ctx, img.ID, catalog.RecipeRef{Inline: []byte(classicOnly)}, catalog.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if classic[0].Review != "" || classic[0].Checks != nil {
				t.Errorf("classic recipe: review %q, checks %s; want neither", classic[0].Review, classic[0].Checks)
			}

			// The queue: by batch and by check; a cached render keeps its state.
			page, err := bd.svc.ListReviews(ctx, catalog.ReviewQuery{BatchID: "bat_x", Check: checks.ProductFill})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != 1 || len(page.Reviews) != 1 || page.Reviews[0].ID != rd.ID || page.Reviews[0].SKU != "R-1" {
				t.Fatalf("reviews %+v, want the one held rendition with its SKU", page)
			}
			if rv := page.Reviews[0]; rv.BeforeURL != (testLinks{}).ImageContent(img.ID) || len(rv.Failed) != 1 {
				t.Errorf("review %+v: want before/after URLs and the failing check", rv)
			}
			if p, _ := bd.svc.ListReviews(ctx, catalog.ReviewQuery{Check: checks.MaskCoverage}); p.Total != 0 {
				t.Errorf("filter by a check that passed: %d reviews, want 0", p.Total)
			}
			again, err := bd.svc.RenderFor(ctx, img.ID, catalog.RecipeRef{Inline: []byte(cutoutFails)}, catalog.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !again[0].Cached || again[0].Review != catalog.ReviewPending {
				t.Errorf("cached render: cached %v review %q, want the stored pending state", again[0].Cached, again[0].Review)
			}

			// Decisions: a rejection needs a reason; approval records who and releases it.
			if _, _, err := bd.svc.DecideReviews(ctx, catalog.ReviewDecision{IDs: []string{rd.ID}, Reviewer: "ann"}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("reject without reason: %v, want ErrInvalid", err)
			}
			if _, _, err := bd.svc.DecideReviews(ctx, catalog.ReviewDecision{IDs: []string{passing[0].ID}, Approve: true}); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("decide a rendition that is not under review: %v, want ErrNotFound", err)
			}
			n, rvs, err := bd.svc.DecideReviews(ctx, catalog.ReviewDecision{IDs: []string{rd.ID}, Approve: true, Reviewer: "ann", Reason: "fill is fine for this shot"})
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || rvs[0].State != catalog.ReviewApproved || rvs[0].Reviewer != "ann" || rvs[0].DecidedAt == nil {
				t.Errorf("decided %d %+v, want approved by ann with a time", n, rvs)
			}
			rc, meta, err = bd.svc.OpenRendition(ctx, rd.ID)
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if meta.Held {
				t.Error("approved rendition still held")
			}
			if p, _ := bd.svc.ListReviews(ctx, catalog.ReviewQuery{}); p.Total != 0 {
				t.Errorf("pending after approval: %d, want 0", p.Total)
			}
		})
	}
}

func TestReviewPolicies(t *testing.T) {
	b := backends()[0]
	bd := setup(t, b)
	ctx := context.Background()
	img := ingestWith(t, bd.svc, "", 300)
	cases := []struct {
		policy, recipe, want string
	}{
		{catalog.ReviewAll, cutoutPasses, catalog.ReviewPending},
		{catalog.ReviewNone, cutoutFails, ""},
		{catalog.ReviewAll, classicOnly, catalog.ReviewPending},
	}
	for i, tc := range cases {
		// Each case its own source, so no rendition is cached from another case.
		res, err := bd.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 300+8*(i+1), 240)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := bd.svc.RenderFor(ctx, res.Image.ID, catalog.RecipeRef{Inline: []byte(tc.recipe)}, catalog.RenderOptions{Review: tc.policy})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Review != tc.want {
			t.Errorf("review %s on %s: state %q, want %q", tc.policy, tc.recipe[:40], out[0].Review, tc.want)
		}
	}
	if _, err := bd.svc.RenderFor(ctx, img.ID, catalog.RecipeRef{Inline: []byte(cutoutPasses)}, catalog.RenderOptions{Review: "sometimes"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("unknown review policy: %v, want ErrInvalid", err)
	}
	// Approving every pending rendition of a filter at once.
	n, _, err := bd.svc.DecideReviews(ctx, catalog.ReviewDecision{Filter: &catalog.ReviewQuery{}, Approve: true, Reviewer: "bulk"})
	if err != nil || n != 2 {
		t.Errorf("bulk approval: %d, %v; want 2 decided", n, err)
	}
}

// TestSafetyHoldsGeneratedImages runs a generated scene through the safety stand-in: a
// clean image is published, a flagged one or one that could not be classified is held
// whatever the review policy.
func TestSafetyHoldsGeneratedImages(t *testing.T) {
	sd := sdtest.New(sdtest.Options{StepLatency: 1})
	t.Cleanup(sd.Close)
	pool, err := sdclient.NewPool([]sdclient.Backend{{URL: sd.URL}}, sdclient.DefaultPoolConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cls := safetytest.New(safetytest.Options{})
	t.Cleanup(cls.Close)
	sc := safety.DefaultConfig()
	sc.URL = cls.URL()
	client, err := safety.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, st := backends()[0].open(t)
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := catalog.DefaultConfig()
	cfg.BucketOriginals, cfg.BucketRenditions = testenv.Bucket(t, "orig"), testenv.Bucket(t, "rend")
	svc, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(2, 16),
		SD: &pipeline.SD{Pool: pool}, Safety: client, Links: testLinks{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 320, 256)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		mode    safetytest.Mode
		policy  string
		held    bool
		verdict string
	}{
		{"clean", safetytest.ModeClean, "", false, checks.Pass},
		{"flagged", safetytest.ModeFlagAll, catalog.ReviewNone, true, checks.Fail},
		{"classifier down", safetytest.ModeError, catalog.ReviewNone, true, checks.Fail},
		{"answer without a verdict", safetytest.ModeGarbage, "", true, checks.Fail},
	}
	var last catalog.Rendition
	for i, tc := range cases {
		cls.SetMode(tc.mode)
		recipe := `{"steps": [{"op": "replace_background", "prompt": "a marble kitchen counter", "seed": ` + string(rune('1'+i)) + `, "steps": 4}],
			"outputs": [{"name": "main", "format": "png"}]}`
		before := cls.Calls()
		out, err := svc.RenderFor(ctx, res.Image.ID, catalog.RecipeRef{Inline: []byte(recipe)}, catalog.RenderOptions{Review: tc.policy})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cls.Calls() == before && tc.mode != safetytest.ModeError {
			t.Errorf("%s: the classifier was not asked", tc.name)
		}
		var got string
		for _, r := range out[0].Checks.Results {
			if r.Name == checks.Safety {
				got = r.Verdict
			}
		}
		if got != tc.verdict || out[0].Held() != tc.held {
			t.Errorf("%s: safety %q, held %v; want %q, %v (%s)", tc.name, got, out[0].Held(), tc.verdict, tc.held, out[0].Checks)
		}
		last = out[0]
	}
	// The last one is held: reject it and make it again with another seed.
	if _, _, err := svc.DecideReviews(ctx, catalog.ReviewDecision{IDs: []string{last.ID}, Reason: "unsafe", Reviewer: "ann"}); err != nil {
		t.Fatal(err)
	}
	seed := int64(4242)
	rt, err := svc.PrepareRetry(ctx, last.ID, &seed, catalog.RecipeRef{})
	if err != nil {
		t.Fatal(err)
	}
	if !rt.NeedsSD || rt.ImageID != res.Image.ID || !strings.Contains(string(rt.Recipe), `"seed":4242`) {
		t.Errorf("retry %+v (%s): want the image's recipe with seed 4242, on the GPU", rt, rt.Recipe)
	}
	cls.SetMode(safetytest.ModeClean)
	again, err := svc.RenderFor(ctx, rt.ImageID, catalog.RecipeRef{Inline: rt.Recipe}, catalog.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID == last.ID || again[0].Held() || again[0].Lineage["seed"] != "4242" {
		t.Errorf("retried rendition %+v: want a new one, published, made with seed 4242", again[0])
	}
}

var _ = io.EOF
