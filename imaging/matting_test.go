package imaging

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

// Tests of the pure-Go matting in matting.go and matting_bgmodel.go. They work on
// plain byte slices and call no libvips (they still run under the package's
// TestMain, which starts it).

// patch is a rectangle of a synthetic shot: a product colour, or, when bg is
// set, the background's colour and noise (a hole, or a light label).
type patch struct {
	r   image.Rectangle
	c   [3]uint8
	bg  bool
	tex int // when bg: extra noise amplitude (a grainy label), 0 = the background's
}

// shot returns w x h 8-bit RGB pixels: a plain background of colour bg with
// noise of +-1 level (as a sensor and JPEG leave it), and the patches painted
// over it in order.
func shot(w, h int, bg [3]uint8, patches ...patch) []byte {
	rnd := rand.New(rand.NewPCG(7, 8))
	noisy := func(c [3]uint8, amp int) [3]uint8 {
		n := rnd.IntN(2*amp+1) - amp
		for k := range 3 {
			c[k] = uint8(min(255, max(0, int(c[k])+n)))
		}
		return c
	}
	rgb := make([]byte, 3*w*h)
	for y := range h {
		for x := range w {
			c := noisy(bg, 1)
			for _, p := range patches {
				if !(image.Point{x, y}).In(p.r) {
					continue
				}
				switch {
				case !p.bg:
					c = p.c
				case p.tex > 0:
					c = noisy(bg, p.tex)
				default:
					c = noisy(bg, 1)
				}
			}
			copy(rgb[3*(y*w+x):], c[:])
		}
	}
	return rgb
}

// TestMattePure mattes synthetic shots with matte (no libvips): a box with a
// hole that shows the background, a light label with text on it, a grainy
// (paper) label, and a speck on the background. Every probe lies well inside its
// area, away from the edges the outline refinement moves.
func TestMattePure(t *testing.T) {
	t.Parallel()
	const w, h = 300, 200
	studio := [3]uint8{245, 245, 242}
	navy := [3]uint8{30, 40, 110}
	box := patch{r: image.Rect(40, 30, 260, 170), c: navy}
	hole := patch{r: image.Rect(60, 60, 120, 140), bg: true}
	label := patch{r: image.Rect(160, 60, 240, 140), bg: true}
	text := patch{r: image.Rect(175, 95, 225, 105), c: [3]uint8{20, 20, 20}}
	paper := patch{r: image.Rect(160, 60, 240, 140), bg: true, tex: 3}
	speck := patch{r: image.Rect(10, 10, 12, 12), c: navy}
	pale := patch{r: image.Rect(40, 30, 260, 170), c: [3]uint8{233, 233, 230}} // 12 levels off the background
	tests := []struct {
		name      string
		patches   []patch
		threshold float64
		minHole   float64
		probes    []probe
	}{
		{
			name:    "box with a hole",
			patches: []patch{box, hole},
			minHole: DefaultMatteMinHole,
			probes: []probe{
				{50, 40, true, "box"}, {150, 100, true, "box between hole and edge"}, {250, 160, true, "box corner"},
				{90, 100, false, "hole"}, {5, 5, false, "corner"}, {150, 185, false, "below the box"},
			},
		},
		{
			name:    "hole smaller than MinHole",
			patches: []patch{box, hole},
			minHole: 0.5,
			probes:  []probe{{90, 100, true, "hole kept as product"}, {5, 5, false, "corner"}},
		},
		{
			name:    "label with text",
			patches: []patch{box, hole, label, text},
			minHole: DefaultMatteMinHole,
			probes: []probe{
				{170, 70, true, "label"}, {200, 100, true, "text"}, {230, 130, true, "label corner"},
				{90, 100, false, "hole"}, {290, 190, false, "corner"},
			},
		},
		{
			name:    "grainy label",
			patches: []patch{box, hole, paper},
			minHole: DefaultMatteMinHole,
			probes:  []probe{{200, 100, true, "paper label"}, {90, 100, false, "hole"}},
		},
		{
			name:    "speck on the background",
			patches: []patch{box, speck},
			minHole: DefaultMatteMinHole,
			probes:  []probe{{11, 11, false, "speck"}, {150, 100, true, "box"}},
		},
		{
			name:    "pale box, automatic threshold",
			patches: []patch{pale},
			minHole: DefaultMatteMinHole,
			probes:  []probe{{150, 100, true, "pale box"}, {5, 5, false, "corner"}},
		},
		{
			name:      "pale box under a high threshold",
			patches:   []patch{pale},
			threshold: 30,
			minHole:   DefaultMatteMinHole,
			probes:    []probe{{150, 100, false, "pale box taken as background"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rgb := shot(w, h, studio, tt.patches...)
			src := append([]byte(nil), rgb...)
			mask := matte(w, h, rgb, tt.threshold, tt.minHole)
			if len(mask) != w*h {
				t.Fatalf("mask of %d bytes, want %d", len(mask), w*h)
			}
			for i, v := range mask {
				if v != 0 && v != 255 {
					t.Fatalf("mask %d at %d,%d, want a hard 0 or 255", v, i%w, i/w)
				}
			}
			for i := range rgb {
				if rgb[i] != src[i] {
					t.Fatalf("matte changed the pixels at byte %d: %d, was %d", i, rgb[i], src[i])
				}
			}
			for _, p := range tt.probes {
				if v := mask[p.y*w+p.x]; (v == 255) != p.product {
					t.Errorf("%s at %d,%d: mask %d, want product=%v", p.what, p.x, p.y, v, p.product)
				}
			}
		})
	}
}

// TestMattePureIoU holds the box with a hole to its exact mask: everything but
// the outline agrees.
func TestMattePureIoU(t *testing.T) {
	t.Parallel()
	const w, h = 300, 200
	box, hole := image.Rect(40, 30, 260, 170), image.Rect(60, 60, 120, 140)
	rgb := shot(w, h, [3]uint8{245, 245, 242}, patch{r: box, c: [3]uint8{30, 40, 110}}, patch{r: hole, bg: true})
	got := matte(w, h, rgb, 0, DefaultMatteMinHole)
	want := make([]byte, w*h)
	for y := range h {
		for x := range w {
			if p := (image.Point{x, y}); p.In(box) && !p.In(hole) {
				want[y*w+x] = 255
			}
		}
	}
	// A hard edge on a hard edge: at most a pixel off along the outlines.
	if score := iou(got, want); score < 0.99 {
		t.Errorf("IoU %.4f, want at least 0.99", score)
	}
}

// TestAutoThreshold checks the automatic threshold's formula and its bounds.
func TestAutoThreshold(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ sigma, want float64 }{{0, 6}, {0.5, 6}, {1, 7}, {4, 22}, {7.6, 40}, {100, 40}} {
		if got := autoThreshold(tt.sigma); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("autoThreshold(%v) = %v, want %v", tt.sigma, got, tt.want)
		}
	}
}

// TestChamfer checks the saturating 3-4 chamfer distance against brute force.
func TestChamfer(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, tt := range []struct{ w, h, sources int }{{1, 1, 1}, {9, 7, 2}, {40, 30, 3}, {200, 3, 1}, {120, 100, 0}} {
		d := make([]uint8, tt.w*tt.h)
		for i := range d {
			d[i] = 255
		}
		var src [][2]int
		for range tt.sources {
			x, y := rnd.IntN(tt.w), rnd.IntN(tt.h)
			d[y*tt.w+x] = 0
			src = append(src, [2]int{x, y})
		}
		chamfer(d, tt.w, tt.h)
		for y := range tt.h {
			for x := range tt.w {
				want := 255
				for _, s := range src {
					dx, dy := abs(x-s[0]), abs(y-s[1])
					want = min(want, 4*min(dx, dy)+3*(max(dx, dy)-min(dx, dy)))
				}
				if got := int(d[y*tt.w+x]); got != want {
					t.Fatalf("%dx%d at %d,%d: %d, want %d", tt.w, tt.h, x, y, got, want)
				}
			}
		}
	}
}

// TestBgModel checks that the background model reproduces a field of the form
// f(x)+g(y) (a ramp plus a vignette-like bowl) from the border strips alone.
func TestBgModel(t *testing.T) {
	t.Parallel()
	const w, h = 300, 200
	field := func(x, y, k int) float64 {
		fx := float64(x) / w
		fy := float64(y) / h
		return 220 + float64(k)*5 + 10*fx + 8*(fy-0.5)*(fy-0.5)*4
	}
	rgb := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			for k := range 3 {
				rgb[3*(y*w+x)+k] = byte(math.Round(field(x, y, k)))
			}
		}
	}
	// The interior is not looked at: fill it with product.
	for y := 20; y < h-20; y++ {
		for x := 20; x < w-20; x++ {
			copy(rgb[3*(y*w+x):], []byte{10, 10, 10})
		}
	}
	m := newBgModel(w, h, rgb)
	worst := 0.0
	for y := range h {
		for x := range w {
			c := m.at(x, y)
			for k := range 3 {
				worst = max(worst, math.Abs(float64(c[k])-field(x, y, k)))
			}
		}
	}
	if worst > 1.5 {
		t.Errorf("model off by up to %.2f levels, want at most 1.5", worst)
	}
	if s := m.ringNoise(rgb); s > 0.5 {
		t.Errorf("ring noise %.2f on a noiseless field, want at most 0.5", s)
	}
}
