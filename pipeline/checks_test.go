package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"

	"github.com/pictor/pictor/checks"
)

// productShot is a product on a plain white background: a textured, shaded box with a
// round label, w x h, the product spanning about 60% of the frame.
func productShot(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	x0, x1, y0, y1 := w/5, w*4/5, h/5, h*4/5
	cx, cy, r := float64(w)/2, float64(h)/2, float64(min(w, h))/8
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{255, 255, 255, 255}
			if x >= x0 && x < x1 && y >= y0 && y < y1 {
				shade := uint8(40 + 80*(x-x0)/(x1-x0))
				tex := uint8((x*7 + y*13) % 23)
				c = color.NRGBA{150 + shade/2 + tex, 30 + tex, 40 + shade/3, 255}
				if math.Hypot(float64(x)-cx, float64(y)-cy) < r {
					c = color.NRGBA{30, 60, 200, 255}
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// verdicts maps each check of a report to its verdict.
func verdicts(rep *checks.Report) map[string]string {
	out := map[string]string{}
	if rep == nil {
		return out
	}
	for _, r := range rep.Results {
		out[r.Name] = r.Verdict
	}
	return out
}

func TestRunChecksClassic(t *testing.T) {
	t.Parallel()
	src := productShot(t, 600, 500)
	cases := []struct {
		name   string
		recipe string
		want   map[string]string // check -> verdict; checks not listed must be absent
	}{
		{"cut-out on white, marketplace rules met", `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"},
			{"op": "resize", "width": 400, "height": 400, "fit": "contain"}],
			"outputs": [{"name": "main", "format": "png", "checks": {"background_color": "#ffffff", "product_fill_min": 0.5}}]}`,
			map[string]string{checks.ProductPixels: checks.Pass, checks.MaskCoverage: checks.Pass, checks.MaskSpeckle: checks.Pass,
				checks.MaskBorder: checks.Pass, checks.Geometry: checks.Pass, checks.BackgroundWhite: checks.Pass, checks.ProductFill: checks.Pass}},
		{"product too small for the marketplace", `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
			"outputs": [{"name": "main", "format": "jpeg", "checks": {"product_fill_min": 0.9}}]}`,
			map[string]string{checks.ProductPixels: checks.Pass, checks.MaskCoverage: checks.Pass, checks.MaskSpeckle: checks.Pass,
				checks.MaskBorder: checks.Pass, checks.Geometry: checks.Pass, checks.ProductFill: checks.Fail}},
		{"background not the colour asked", `{"steps": [{"op": "replace_background", "color": "#f0ece4"}],
			"outputs": [{"name": "main", "format": "png", "checks": {"background_color": "#ffffff"}}]}`,
			map[string]string{checks.ProductPixels: checks.Pass, checks.MaskCoverage: checks.Pass, checks.MaskSpeckle: checks.Pass,
				checks.MaskBorder: checks.Pass, checks.Geometry: checks.Pass, checks.BackgroundWhite: checks.Fail}},
		{"recipe-level threshold applies to every output", `{"checks": {"mask_coverage_max": 0.2},
			"steps": [{"op": "remove_background"}],
			"outputs": [{"name": "a", "format": "png"}, {"name": "b", "format": "png", "resize": {"width": 100, "height": 100, "fit": "fill"}}]}`,
			map[string]string{checks.ProductPixels: checks.Pass, checks.MaskCoverage: checks.Fail, checks.MaskSpeckle: checks.Pass,
				checks.MaskBorder: checks.Pass, checks.Geometry: checks.Pass}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Run(context.Background(), Env{}, src, mustRecipe(t, tc.recipe), RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				got := verdicts(o.Checks)
				if len(got) != len(tc.want) {
					t.Errorf("output %s: checks %v, want %v (%s)", o.Output, got, tc.want, o.Checks)
				}
				for name, v := range tc.want {
					if got[name] != v {
						t.Errorf("output %s: %s = %q, want %q (%s)", o.Output, name, got[name], v, o.Checks)
					}
				}
				if want := !containsValue(tc.want, checks.Fail); o.Checks.Passed != want {
					t.Errorf("output %s: passed = %v, want %v", o.Output, o.Checks.Passed, want)
				}
			}
		})
	}
}

func containsValue(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

func TestRunChecksOnlyForAIRecipes(t *testing.T) {
	t.Parallel()
	src := productShot(t, 300, 200)
	out, err := Run(context.Background(), Env{}, src, mustRecipe(t, `{"steps": [{"op": "resize", "width": 100}], "outputs": [{"name": "m"}]}`), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Checks != nil {
		t.Errorf("classic recipe: checks %s, want none", out[0].Checks)
	}
	out, err = Run(context.Background(), Env{}, src, mustRecipe(t, `{"steps": [{"op": "remove_background"}], "outputs": [{"name": "m", "format": "png"}]}`), RunOptions{NoChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Checks != nil {
		t.Errorf("NoChecks: checks %s, want none", out[0].Checks)
	}
}

func TestExpectSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		recipe string
		w, h   int
		want   *sizeWant
	}{
		{`{"steps": [{"op": "resize", "width": 400, "height": 300, "fit": "cover"}], "outputs": [{"name": "m"}]}`, 1000, 1000, &sizeWant{w: 400, h: 300}},
		{`{"steps": [{"op": "resize", "width": 400, "height": 400, "fit": "inside"}], "outputs": [{"name": "m"}]}`, 1000, 500, &sizeWant{w: 400, h: 200, slack: 1}},
		{`{"steps": [{"op": "upscale", "factor": 2}], "outputs": [{"name": "m"}]}`, 300, 200, &sizeWant{w: 600, h: 400, slack: 1}},
		{`{"steps": [{"op": "pad", "top": 10, "left": 5}, {"op": "rotate", "angle": 90}], "outputs": [{"name": "m"}]}`, 300, 200, &sizeWant{w: 210, h: 305}},
		{`{"steps": [{"op": "trim"}], "outputs": [{"name": "m"}]}`, 300, 200, nil},
		{`{"steps": [{"op": "rotate", "angle": 30}], "outputs": [{"name": "m"}]}`, 300, 200, nil},
	}
	for _, tc := range cases {
		r := mustRecipe(t, tc.recipe)
		ran := make([]bool, len(r.Steps))
		for i := range ran {
			ran[i] = true
		}
		got := expectSize(r, tc.w, tc.h, ran)
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%s on %dx%d: got %+v, want %+v", tc.recipe, tc.w, tc.h, got, tc.want)
		}
	}
}

func TestRecipeChecksParse(t *testing.T) {
	t.Parallel()
	bad := []string{
		`{"checks": {"product_pixels_max": 2}, "outputs": [{"name": "m"}]}`,
		`{"checks": {"no_such_check": 1}, "outputs": [{"name": "m"}]}`,
		`{"outputs": [{"name": "m", "checks": {"background_color": "white-ish"}}]}`,
		`{"outputs": [{"name": "m", "checks": []}]}`,
		`{"checks": {"mask_coverage_min": 0.5, "mask_coverage_max": 0.4}, "outputs": [{"name": "m"}]}`,
	}
	for _, b := range bad {
		if _, err := ParseRecipe([]byte(b)); err == nil {
			t.Errorf("ParseRecipe(%s): no error, want one", b)
		}
	}
	plain := mustRecipe(t, `{"outputs": [{"name": "m"}]}`)
	with := mustRecipe(t, `{"checks": {"product_pixels_max": 0.01}, "outputs": [{"name": "m", "checks": {"background_color": "#FFF"}}]}`)
	if plain.Hash() == with.Hash() {
		t.Error("thresholds do not change the recipe hash; a stored report would not match the recipe")
	}
	if bytes.Contains(plain.Canonical(), []byte("checks")) {
		t.Errorf("a recipe without checks has them in its canonical form (stored hashes would change): %s", plain.Canonical())
	}
	th := with.Thresholds("m")
	if got := *th.BackgroundColor; got != "#ffffffff" && got != "#ffffff" {
		t.Errorf("background colour %q, want it normalised", got)
	}
	if checks.Get(th.ProductPixelsMax) != 0.01 || checks.Get(th.MaskCoverageMax) != 0.95 {
		t.Errorf("thresholds %+v: want the recipe's product_pixels_max and the default mask_coverage_max", th)
	}
}
