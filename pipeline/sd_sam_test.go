package pipeline

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// texturedShot is a product on a background that is not plain (a diagonal gradient
// with noise, which classic matting refuses): a dark teal box, [w/5, 4w/5) x [h/5,
// 4h/5), with a yellow label around the centre.
func texturedShot(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := 205 + 40*(x+y)/(w+h) + rng.IntN(21) - 10
			c := color.NRGBA{uint8(g), uint8(g - 3), uint8(g - 8), 255}
			if x >= w/5 && x < w*4/5 && y >= h/5 && y < h*4/5 {
				c = color.NRGBA{20, 90 + uint8((x+y)%9), 100, 255}
				if x >= w*2/5 && x < w*3/5 && y >= h*2/5 && y < h*3/5 {
					c = color.NRGBA{230, 200, 40, 255}
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

// TestRemoveBackgroundSAMChoosesWholeProduct runs remove_background with
// segment-anything against the stand-in, which answers SAM's three masks (a part of
// the product, the whole product, the product with some surroundings) in decoder
// order, never the whole product first. On plain and on busy backgrounds the cut-out
// must be the whole product, and lineage must say which mask was taken and why.
func TestRemoveBackgroundSAMChoosesWholeProduct(t *testing.T) {
	t.Parallel()
	srv := sdtest.New(sdtest.Options{StepLatency: 1})
	t.Cleanup(srv.Close)
	env := sdEnv(t, srv.URL)
	type shot struct {
		name  string
		w, h  int
		src   []byte
		plain bool
	}
	var shots []shot
	for _, sz := range [][2]int{{200, 160}, {240, 180}, {180, 180}, {260, 200}, {150, 210}} {
		shots = append(shots, shot{"plain", sz[0], sz[1], productShot(t, sz[0], sz[1]), true})
	}
	for i, sz := range [][2]int{{200, 160}, {240, 180}, {180, 180}, {260, 200}} {
		shots = append(shots, shot{"textured", sz[0], sz[1], texturedShot(t, sz[0], sz[1], uint64(i)), false})
	}
	recipe := mustRecipe(t, `{"steps": [{"op": "remove_background", "engine": "sd", "model": "sam"}], "outputs": [{"name": "main", "format": "png"}]}`)
	picked := map[string]bool{}
	for _, s := range shots {
		im, err := imaging.Load(s.src, imaging.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plain, _, err := im.PlainBackground()
		im.Close()
		if err != nil || plain != s.plain {
			t.Fatalf("%s %dx%d: plain background %v (%v), want %v", s.name, s.w, s.h, plain, err, s.plain)
		}
		out, err := Run(context.Background(), env, s.src, recipe, RunOptions{})
		if err != nil {
			t.Fatalf("%s %dx%d: %v", s.name, s.w, s.h, err)
		}
		img, err := png.Decode(bytes.NewReader(out[0].Data))
		if err != nil {
			t.Fatal(err)
		}
		prod := image.Rect(s.w/5, s.h/5, s.w*4/5, s.h*4/5)
		wrong := 0
		for y := 0; y < s.h; y++ {
			for x := 0; x < s.w; x++ {
				_, _, _, a := img.At(x, y).RGBA()
				if in := image.Pt(x, y).In(prod); in && a < 0xf000 || !in && a > 0x0fff {
					wrong++
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%s %dx%d: got %d pixels wrong (a part of the product, or some background, cut out), want 0 (lineage %v)", s.name, s.w, s.h, wrong, out[0].Lineage)
		}
		lin := out[0].Lineage
		picked[lin["sam_mask"]] = true
		want := "classic matte"
		if !s.plain {
			want = "edges"
		}
		if lin["sam_mask"] == "" || !strings.Contains(lin["sam_mask_reason"], want) || !strings.Contains(lin["sam_mask_reason"], "chosen") {
			t.Errorf("%s %dx%d lineage: got sam_mask %q, reason %q, want the index and a reason about the %s", s.name, s.w, s.h, lin["sam_mask"], lin["sam_mask_reason"], want)
		}
	}
	// The stand-in's order varies with the picture: a fixed position would not do.
	if len(picked) < 2 {
		t.Errorf("masks chosen: got only %v, want the choice to follow the masks, not a position", picked)
	}
}
