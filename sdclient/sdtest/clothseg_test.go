package sdtest

import (
	"image"
	"net/http"
	"testing"
)

// TestRembgClothSegStacks checks that u2net_cloth_seg answers as rembg 2.0.50 does:
// three class masks (upper, lower, full), each the input's size, stacked vertically,
// both as a mask and as a cut-out.
func TestRembgClothSegStacks(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	const w, h = 60, 50
	prod := image.Rect(20, 10, 40, 40) // rows 10..39: upper 10..24, lower 25..39
	src := product(w, h, prod)
	cases := []struct {
		name       string
		returnMask bool
		// value reads a pixel of the answer as set (product) or not.
		value func(img image.Image, x, y int) bool
	}{
		{"mask", true, func(img image.Image, x, y int) bool { return rgbAt(img, x, y) == [3]int{255, 255, 255} }},
		{"cutout", false, func(img image.Image, x, y int) bool { _, _, _, a := img.At(x, y).RGBA(); return a == 0xffff }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/rembg", map[string]any{"input_image": pngB64(t, src), "model": "u2net_cloth_seg", "return_mask": c.returnMask})
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			img := decodeB64(t, r.json(t)["image"])
			if got, want := img.Bounds().Size(), image.Pt(w, 3*h); got != want {
				t.Fatalf("size: got %v, want %v (three %dx%d masks stacked)", got, want, w, h)
			}
			// get_concat_v pastes onto an RGBA canvas: stacked masks are RGBA too,
			// opaque, the mask in the colour channels.
			if _, gray := img.(*image.Gray); gray {
				t.Errorf("mode: got %T, want RGBA (get_concat_v's canvas)", img)
			}
			if c.returnMask {
				if _, _, _, a := img.At(2, 2).RGBA(); a != 0xffff {
					t.Errorf("stacked mask alpha at a background pixel: got %#x, want opaque", a)
				}
			}
			// In each third, one row in the product's upper part and one in its lower.
			thirds := []struct {
				class        string
				upper, lower bool
			}{{"upper", true, false}, {"lower", false, true}, {"full", true, true}}
			for i, th := range thirds {
				off := i * h
				if got := c.value(img, 2, off+2); got {
					t.Errorf("%s: background set: got %v, want false", th.class, got)
				}
				if got := c.value(img, 30, off+15); got != th.upper {
					t.Errorf("%s: product's upper part: got %v, want %v", th.class, got, th.upper)
				}
				if got := c.value(img, 30, off+35); got != th.lower {
					t.Errorf("%s: product's lower part: got %v, want %v", th.class, got, th.lower)
				}
			}
		})
	}
}
