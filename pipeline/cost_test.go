package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"testing"
	"time"
)

// runawayRecipe is the render that cost 49 s of CPU from a 149-byte PNG: a tiny source
// enlarged to 4000x4000 and blurred with sigma 100.
const runawayRecipe = `{"steps":[{"op":"resize","width":4000,"height":4000,"fit":"fill"},{"op":"blur","sigma":100}],
	"outputs":[{"name":"o","format":"jpeg"}]}`

// brokenPNG is a valid PNG header over pixel data that cannot be decoded: a run that
// decodes it fails with imaging.ErrCorrupt, so any other error came before decoding.
func brokenPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	return data[:len(data)-20]
}

func TestRunRefusesARecipeOverBudgetBeforeDecoding(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Env{}, brokenPNG(t, 8, 8), mustRecipe(t, runawayRecipe), RunOptions{})
	if !errors.Is(err, ErrOverBudget) {
		t.Fatalf("got %v, want ErrOverBudget", err)
	}
	var ce *CostError
	if !errors.As(err, &ce) || ce.Where != "steps[1] blur" || ce.Width != 4000 || ce.Height != 4000 || ce.Budget != DefaultMaxCost {
		t.Fatalf("got %#v, want the blur step named on a 4000x4000 image with the default budget", ce)
	}
	// The same shape with a sane blur is within the budget (and so reaches the decoder).
	_, err = Run(context.Background(), Env{}, brokenPNG(t, 8, 8), mustRecipe(t, `{"steps":[{"op":"resize","width":4000,"height":4000,"fit":"fill"},
		{"op":"blur","sigma":2}],"outputs":[{"name":"o","format":"jpeg"}]}`), RunOptions{})
	if err == nil || errors.Is(err, ErrOverBudget) {
		t.Fatalf("sigma 2: got %v, want a decoding error", err)
	}
	// A budget of the caller's: an output can be what takes it over.
	_, err = Run(context.Background(), Env{MaxCost: 1e6}, jpegOf(t, 800, 600), mustRecipe(t, `{"steps":[],
		"outputs":[{"name":"small","format":"jpeg","resize":{"width":100}},{"name":"big","format":"avif"}]}`), RunOptions{})
	if !errors.As(err, &ce) || ce.Where != "outputs[1] big" {
		t.Fatalf("budget 1e6: got %v, want outputs[1] big named", err)
	}
	// A negative budget is no limit.
	if _, err := Run(context.Background(), Env{MaxCost: -1}, jpegOf(t, 64, 48), mustRecipe(t, `{"steps":[{"op":"blur","sigma":100}],
		"outputs":[{"name":"o","format":"jpeg"}]}`), RunOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestEstimateCost(t *testing.T) {
	t.Parallel()
	listing := mustRecipe(t, `{"steps":[{"op":"auto_orient"},{"op":"resize","width":800,"height":800,"fit":"inside"}],
		"outputs":[{"name":"main","format":"jpeg"},{"name":"thumb","format":"webp","resize":{"width":200,"height":200,"fit":"cover"}}]}`)
	c, err := EstimateCost(listing, 6000, 4000, DefaultMaxCost)
	if err != nil {
		t.Fatal(err)
	}
	if c.Total > DefaultMaxCost/20 {
		t.Errorf("a listing render of a 24 MP photograph: %.3g, want a small share of the budget", c.Total)
	}
	sum := 0.0
	for _, v := range append(append([]float64{}, c.Steps...), c.Outputs...) {
		if v <= 0 {
			t.Errorf("a part costs %v", v)
		}
		sum += v
	}
	if sum != c.Total {
		t.Errorf("parts sum to %v, total %v", sum, c.Total)
	}
	// Costs follow the sizes the steps make: a right-angle rotation swaps them, pad adds,
	// upscale multiplies, crop cuts.
	cases := []struct {
		steps string
		w, h  int
	}{
		{`{"op":"rotate","angle":-270}`, 300, 200},
		{`{"op":"pad","top":10,"bottom":10,"left":5,"right":5}`, 210, 320},
		{`{"op":"upscale","factor":2}`, 400, 600},
		{`{"op":"crop","width":50,"height":60}`, 50, 60},
		{`{"op":"rotate","angle":45}`, 355, 355}, // 500·cos 45°, rounded up, plus one
		{`{"op":"resize","width":100,"fit":"inside"}`, 100, 150},
		{`{"op":"resize","width":1000,"fit":"inside"}`, 1000, 1500},
		// Without enlargement a resize never grows the image: a srcset width over a
		// sliver's is not 64 times its size.
		{`{"op":"resize","width":1000,"fit":"inside","without_enlargement":true}`, 200, 300},
		{`{"op":"resize","width":100,"height":100,"fit":"outside","without_enlargement":true}`, 100, 150},
	}
	for _, tc := range cases {
		r := mustRecipe(t, `{"steps":[`+tc.steps+`],"outputs":[{"name":"o","format":"png"}]}`)
		c, err := EstimateCost(r, 200, 300, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(tc.w*tc.h) * encodeCost(r.Outputs[0]); c.Outputs[0] != want {
			t.Errorf("%s: output cost %v, want %v (%dx%d)", tc.steps, c.Outputs[0], want, tc.w, tc.h)
		}
	}
	// A blur's cost grows with its sigma, a sharpen's too.
	small, _ := EstimateCost(mustRecipe(t, `{"steps":[{"op":"blur","sigma":1}],"outputs":[{"name":"o"}]}`), 1000, 1000, 0)
	large, _ := EstimateCost(mustRecipe(t, `{"steps":[{"op":"blur","sigma":50}],"outputs":[{"name":"o"}]}`), 1000, 1000, 0)
	if large.Steps[0] < 30*small.Steps[0] {
		t.Errorf("blur sigma 50 costs %v, sigma 1 %v", large.Steps[0], small.Steps[0])
	}
}

// TestRunStopsWhenCancelled cancels a run while a step runs (from inside the composite
// step's image loader) and checks that no later step or output is computed: the next
// step would blur a 3000x3000 image for seconds.
func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	env := Env{MaxCost: -1, LoadImage: func(context.Context, string) ([]byte, error) {
		cancelled = time.Now()
		cancel()
		return jpegOf(t, 16, 16), nil
	}}
	r := mustRecipe(t, `{"steps":[{"op":"resize","width":3000,"height":3000,"fit":"fill"},{"op":"composite","image":"logo"},
		{"op":"blur","sigma":60}],"outputs":[{"name":"o","format":"jpeg"}]}`)
	_, err := Run(ctx, env, jpegOf(t, 64, 64), r, RunOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// How promptly: the composite step finishes building its (lazy) operation, and the run
	// stops at the next step. The blur it skips costs seconds.
	t.Logf("stopped %v after the cancel", time.Since(cancelled))
}
