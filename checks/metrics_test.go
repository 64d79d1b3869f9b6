package checks

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// offWhite is #F0EEE8, a common "almost white" studio background.
var offWhite = [3]byte{0xF0, 0xEE, 0xE8}

var white = [3]byte{255, 255, 255}

// texture is a deterministic pseudo-random product texture (40..189), so that a shifted
// copy differs almost everywhere.
func texture(x, y int) byte {
	v := uint32(x)*73856093 ^ uint32(y)*19349663
	v ^= v >> 13
	v *= 0x5bd1e995
	v ^= v >> 15
	return byte(40 + v%150)
}

// disc draws a textured product disc of radius r centred at (cx, cy) on a plain
// background and returns the pixels and the exact mask. The texture moves with the disc.
func disc(w, h, bands, cx, cy, r int, bg [3]byte) (pix, mask []byte) {
	pix = make([]byte, w*h*bands)
	mask = make([]byte, w*h)
	for y := range h {
		for x := range w {
			i := y*w + x
			p := pix[i*bands : (i+1)*bands]
			in := (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
			for c := range min(bands, 3) {
				if in {
					p[c] = texture(x-cx+31*c, y-cy)
				} else {
					p[c] = bg[c]
				}
			}
			if bands == 4 {
				p[3] = 255
			}
			if in {
				mask[i] = 255
			}
		}
	}
	return pix, mask
}

// box returns a w*h mask with the rectangle [x0, x1) x [y0, y1) set to v.
func box(w, h, x0, y0, x1, y1 int, v byte) []byte {
	m := make([]byte, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[y*w+x] = v
		}
	}
	return m
}

func near(got, want, eps float64) bool { return math.Abs(got-want) <= eps }

func TestProductPixelsChanged(t *testing.T) {
	t.Parallel()
	const w, h = 120, 100
	src, mask := disc(w, h, 3, 60, 50, 35, white)
	shifted, _ := disc(w, h, 3, 66, 50, 35, white)
	plus2 := slices.Clone(src)
	for i := range plus2 {
		if mask[i/3] == 255 {
			plus2[i] += 2
		}
	}
	// Only the mask's outer 2 px change: a feathered edge the erosion must hide.
	edge := slices.Clone(src)
	inner := erodeBrute(onSet(mask), w, h, 2)
	for i := range w * h {
		if mask[i] == 255 && !inner[i] {
			edge[i*3] = 0
		}
	}
	src4, mask4 := disc(w, h, 4, 60, 50, 35, white)
	clear := slices.Clone(src4)
	clear[(50*w+60)*4+3] = 0 // one product pixel made transparent, colour kept
	sq := box(30, 30, 10, 10, 20, 20, 255)
	flat := make([]byte, 30*30*3)
	corner := slices.Clone(flat)
	corner[0] = 200
	soft := box(30, 30, 0, 0, 30, 30, 127)
	soft[0] = 128

	tests := []struct {
		name        string
		src, out    []byte
		bands       int
		mask        []byte
		w, h        int
		erode, tol  int
		lo, hi      float64 // share within [lo, hi]
		wantCounted int     // -1: any positive
	}{
		{"identical", src, src, 3, mask, w, h, 3, 4, 0, 0, -1},
		{"shifted 6 px", src, shifted, 3, mask, w, h, 3, 4, 0.5, 1, -1},
		{"2 px change within tolerance 4", src, plus2, 3, mask, w, h, 3, 4, 0, 0, -1},
		{"2 px change over tolerance 1", src, plus2, 3, mask, w, h, 3, 1, 1, 1, -1},
		{"feathered edge eroded away", src, edge, 3, mask, w, h, 3, 4, 0, 0, -1},
		{"feathered edge without erosion", src, edge, 3, mask, w, h, 0, 4, 0.05, 0.2, -1},
		{"alpha made transparent", src4, clear, 4, mask4, w, h, 3, 4, 1e-6, 1e-3, -1},
		{"square eroded by 3 leaves 4x4", flat, flat, 3, sq, 30, 30, 3, 4, 0, 0, 16},
		{"frame edge does not erode", flat, corner, 3, box(30, 30, 0, 0, 30, 30, 255), 30, 30, 3, 4, 1.0 / 900, 1.0 / 900, 900},
		{"soft mask: 128 is product, 127 is not", flat, corner, 3, soft, 30, 30, 0, 4, 1, 1, 1},
		{"empty mask", src, shifted, 3, make([]byte, w*h), w, h, 3, 4, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			share, counted, err := ProductPixelsChanged(tt.src, tt.out, tt.bands, tt.mask, tt.w, tt.h, tt.erode, tt.tol)
			if err != nil {
				t.Fatal(err)
			}
			if share < tt.lo || share > tt.hi {
				t.Errorf("share = %g, want in [%g, %g]", share, tt.lo, tt.hi)
			}
			if tt.wantCounted >= 0 && counted != tt.wantCounted || tt.wantCounted < 0 && counted <= 0 {
				t.Errorf("counted = %d, want %d", counted, tt.wantCounted)
			}
		})
	}
}

func TestProductPixelsChangedShiftAboveThreshold(t *testing.T) {
	t.Parallel()
	// A plain (untextured) product moved by 6 px changes only a crescent of its edge; the
	// share must still be well above the default 0.001 after a 3-px erosion.
	const w, h = 200, 200
	src, mask := disc(w, h, 3, 100, 100, 60, white)
	out, _ := disc(w, h, 3, 106, 100, 60, white)
	for i := range src {
		if src[i] != 255 {
			src[i] = 50
		}
		if out[i] != 255 {
			out[i] = 50
		}
	}
	share, _, err := ProductPixelsChanged(src, out, 3, mask, w, h, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if share < 0.005 {
		t.Errorf("share = %g, want >= 0.005", share)
	}
}

func TestMaskStats(t *testing.T) {
	t.Parallel()
	const w, h = 50, 40
	speckled := box(w, h, 15, 10, 35, 30, 255) // 400 px
	for i := range 40 {
		speckled[(2+2*(i%10))*w+[]int{2, 6, 40, 44}[i/10]] = 255 // isolated pixels, outside the box
	}
	// A diagonal staircase: 8-connected only through corners.
	diagonal := make([]byte, w*h)
	for i := range 30 {
		diagonal[(5+i)*w+10+i] = 255
	}
	left := box(w, h, 0, 0, 1, h, 255)
	soft := box(w, h, 10, 10, 20, 20, 128)
	copy(soft[30*w+30:30*w+40], slices.Repeat([]byte{127}, 10))
	ring := float64(2*w + 2*h - 4)

	tests := []struct {
		name string
		mask []byte
		w, h int
		want MaskStat
	}{
		{"full", box(w, h, 0, 0, w, h, 255), w, h, MaskStat{1, 0, 1}},
		{"empty", make([]byte, w*h), w, h, MaskStat{0, 0, 0}},
		{"one solid region", box(w, h, 15, 10, 35, 30, 255), w, h, MaskStat{400.0 / (w * h), 0, 0}},
		{"scattered speckles", speckled, w, h, MaskStat{440.0 / (w * h), 40.0 / 440, 0}},
		{"diagonal is one 8-connected region", diagonal, w, h, MaskStat{30.0 / (w * h), 0, 0}},
		{"left column", left, w, h, MaskStat{float64(h) / (w * h), 0, float64(h) / ring}},
		{"soft: 128 counts, 127 does not", soft, w, h, MaskStat{100.0 / (w * h), 0, 0}},
		{"one row is all border", []byte{0, 255, 255, 0}, 4, 1, MaskStat{0.5, 0, 0.5}},
		{"two separate regions", []byte{255, 255, 0, 255}, 4, 1, MaskStat{0.75, 1.0 / 3, 0.75}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MaskStats(tt.mask, tt.w, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.Coverage, tt.want.Coverage, 1e-12) || !near(got.Speckle, tt.want.Speckle, 1e-12) || !near(got.Border, tt.want.Border, 1e-12) {
				t.Errorf("MaskStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// labelBrute labels 8-connected regions with a plain BFS, for comparison.
func labelBrute(mask []byte, w, h int) []component {
	seen := make([]bool, len(mask))
	var out []component
	for start := range mask {
		if seen[start] || mask[start] < maskOn {
			continue
		}
		c := component{x0: w, y0: h, x1: -1, y1: -1}
		queue := []int{start}
		seen[start] = true
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			x, y := i%w, i/w
			c.area++
			c.x0, c.y0, c.x1, c.y1 = min(c.x0, x), min(c.y0, y), max(c.x1, x), max(c.y1, y)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					xx, yy := x+dx, y+dy
					if xx < 0 || yy < 0 || xx >= w || yy >= h {
						continue
					}
					j := yy*w + xx
					if !seen[j] && mask[j] >= maskOn {
						seen[j] = true
						queue = append(queue, j)
					}
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func sortComps(c []component) []component {
	c = slices.Clone(c)
	slices.SortFunc(c, func(a, b component) int {
		if a.y0 != b.y0 {
			return a.y0 - b.y0
		}
		if a.x0 != b.x0 {
			return a.x0 - b.x0
		}
		return a.area - b.area
	})
	return c
}

func TestComponentsMatchBruteForce(t *testing.T) {
	t.Parallel()
	for _, density := range []float64{0.2, 0.45, 0.6, 0.8} {
		rng := rand.New(rand.NewPCG(uint64(density*100), 7))
		const w, h = 41, 29
		mask := make([]byte, w*h)
		for i := range mask {
			if rng.Float64() < density {
				mask[i] = 255
			}
		}
		got, want := sortComps(components(mask, w, h)), sortComps(labelBrute(mask, w, h))
		if !slices.Equal(got, want) {
			t.Errorf("density %g: components = %v, want %v", density, got, want)
		}
	}
}

// dilateBrute checks every pixel's square neighbourhood.
func dilateBrute(set []bool, w, h, r int) []bool {
	out := make([]bool, len(set))
	for y := range h {
		for x := range w {
			for yy := max(0, y-r); yy <= min(h-1, y+r) && !out[y*w+x]; yy++ {
				for xx := max(0, x-r); xx <= min(w-1, x+r); xx++ {
					if set[yy*w+xx] {
						out[y*w+x] = true
						break
					}
				}
			}
		}
	}
	return out
}

func erodeBrute(set []bool, w, h, r int) []bool {
	not := make([]bool, len(set))
	for i, v := range set {
		not[i] = !v
	}
	d := dilateBrute(not, w, h, r)
	for i, v := range d {
		d[i] = !v
	}
	return d
}

func TestMorphologyMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const w, h = 37, 23
	set := make([]bool, w*h)
	for i := range set {
		set[i] = rng.Float64() < 0.03
	}
	for _, r := range []int{0, 1, 2, 3, 5, 40} {
		if got, want := dilateSet(set, w, h, r), dilateBrute(set, w, h, r); !slices.Equal(got, want) {
			t.Errorf("dilate r=%d differs from brute force", r)
		}
		dense := dilateBrute(set, w, h, 2)
		if got, want := erodeSet(dense, w, h, r), erodeBrute(dense, w, h, r); !slices.Equal(got, want) {
			t.Errorf("erode r=%d differs from brute force", r)
		}
	}
}

// boxBlur is a (2r+1)-square mean filter, clamped at the frame edge.
func boxBlur(g []byte, w, h, r int) []byte {
	out := make([]byte, len(g))
	for y := range h {
		for x := range w {
			sum, n := 0, 0
			for yy := max(0, y-r); yy <= min(h-1, y+r); yy++ {
				for xx := max(0, x-r); xx <= min(w-1, x+r); xx++ {
					sum += int(g[yy*w+xx])
					n++
				}
			}
			out[y*w+x] = byte(sum / n)
		}
	}
	return out
}

func randomGrey(w, h int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	g := make([]byte, w*h)
	for i := range g {
		g[i] = byte(rng.IntN(256))
	}
	return g
}

func TestSharpness(t *testing.T) {
	t.Parallel()
	checker := func(w, h int) []byte {
		g := make([]byte, w*h)
		for i := range g {
			if (i%w+i/w)%2 == 0 {
				g[i] = 255
			}
		}
		return g
	}
	ramp := make([]byte, 20*10)
	for i := range ramp {
		ramp[i] = byte(10 * (i % 20))
	}
	tests := []struct {
		name string
		g    []byte
		w, h int
		want float64
	}{
		// Interior 4x2: four pixels at +1020, four at -1020.
		{"1-px checker", checker(6, 4), 6, 4, 1020 * 1020},
		{"flat", slices.Repeat([]byte{77}, 100), 10, 10, 0},
		{"linear ramp has no curvature", ramp, 20, 10, 0},
		{"smaller than 3x3", []byte{0, 255, 0, 255}, 2, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Sharpness(tt.g, tt.w, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tt.want, 1e-6) {
				t.Errorf("Sharpness = %g, want %g", got, tt.want)
			}
		})
	}
	t.Run("blurred is lower than crisp", func(t *testing.T) {
		t.Parallel()
		crisp := randomGrey(64, 64, 9)
		sc, _ := Sharpness(crisp, 64, 64)
		sb, _ := Sharpness(boxBlur(crisp, 64, 64, 1), 64, 64)
		if sb >= sc/4 {
			t.Errorf("blurred %g, crisp %g: want blurred under a quarter of crisp", sb, sc)
		}
	})
}

func TestSSIM(t *testing.T) {
	t.Parallel()
	const w, h = 64, 48
	// A structured image: a gradient with a few bars.
	img := make([]byte, w*h)
	for y := range h {
		for x := range w {
			v := 2*x + y
			if (x/8)%2 == 0 && y > 10 && y < 40 {
				v += 60
			}
			img[y*w+x] = byte(v)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	noisy := slices.Clone(img)
	for i := range noisy {
		noisy[i] = byte(min(255, max(0, int(noisy[i])+int(rng.NormFloat64()*12))))
	}
	c100, c110 := slices.Repeat([]byte{100}, 16*16), slices.Repeat([]byte{110}, 16*16)
	// Flat windows: only the luminance term is left.
	flatWant := (2*100*110 + ssimC1) / (100*100 + 110*110 + ssimC1)
	small := []byte{1, 50, 100, 150, 200, 250}

	tests := []struct {
		name   string
		a, b   []byte
		w, h   int
		lo, hi float64
	}{
		{"identical", img, img, w, h, 1, 1},
		{"noisy", img, noisy, w, h, 0.3, 0.95},
		{"unrelated", randomGrey(w, h, 1), randomGrey(w, h, 2), w, h, -0.1, 0.1},
		{"inverted", img, invert(img), w, h, -1, 0},
		{"flat 100 vs 110 (constants)", c100, c110, 16, 16, flatWant - 1e-12, flatWant + 1e-12},
		{"smaller than a window, identical", small, small, 3, 2, 1, 1},
		{"smaller than a window, different", small, invert(small), 3, 2, -1, 0},
		{"not a multiple of 4", randomGrey(13, 10, 3), randomGrey(13, 10, 3), 13, 10, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SSIM(tt.a, tt.b, tt.w, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if got < tt.lo || got > tt.hi {
				t.Errorf("SSIM = %.15g, want in [%g, %g]", got, tt.lo, tt.hi)
			}
		})
	}
}

func invert(g []byte) []byte {
	out := make([]byte, len(g))
	for i, v := range g {
		out[i] = 255 - v
	}
	return out
}

func TestBackground(t *testing.T) {
	t.Parallel()
	const w, h = 80, 60
	onWhite, mask := disc(w, h, 3, 40, 30, 20, white)
	onOff, _ := disc(w, h, 3, 40, 30, 20, offWhite)
	nearWhite, _ := disc(w, h, 3, 40, 30, 20, [3]byte{250, 251, 252})
	// A 2-px grey anti-aliased halo just outside the mask.
	halo := slices.Clone(onWhite)
	grown := dilateBrute(onSet(mask), w, h, 2)
	haloN, bgN := 0, 0
	for i := range w * h {
		if mask[i] == 0 {
			bgN++
		}
		if grown[i] && mask[i] == 0 {
			halo[i*3], halo[i*3+1], halo[i*3+2] = 128, 128, 128
			haloN++
		}
	}
	haloWant := 1 - float64(haloN)/float64(bgN)
	rgba, mask4 := disc(w, h, 4, 40, 30, 20, white)
	for i := 3; i < len(rgba); i += 4 {
		rgba[i] = 0 // alpha is ignored
	}
	grey := slices.Repeat([]byte{250}, 30*30)
	sq := box(30, 30, 10, 10, 20, 20, 255)

	tests := []struct {
		name        string
		pix         []byte
		bands       int
		mask        []byte
		w, h        int
		color       [3]uint8
		tol, away   int
		want        float64
		wantCounted int // -1: any positive
	}{
		{"pure white", onWhite, 3, mask, w, h, white, 8, 3, 1, -1},
		{"off-white #F0EEE8, tol 8", onOff, 3, mask, w, h, white, 8, 3, 0, -1},
		{"off-white against itself", onOff, 3, mask, w, h, offWhite, 8, 3, 1, -1},
		{"within tol 5", nearWhite, 3, mask, w, h, white, 5, 3, 1, -1},
		{"one channel over tol 4", nearWhite, 3, mask, w, h, white, 4, 3, 0, -1},
		{"halo skipped with away 3", halo, 3, mask, w, h, white, 8, 3, 1, -1},
		{"halo judged with away 0", halo, 3, mask, w, h, white, 8, 0, haloWant, bgN},
		{"alpha ignored", rgba, 4, mask4, w, h, white, 8, 3, 1, -1},
		{"grey band", grey, 1, sq, 30, 30, [3]uint8{252, 248, 250}, 2, 3, 1, 900 - 16*16},
		{"grey band off", grey, 1, sq, 30, 30, [3]uint8{252, 247, 250}, 2, 3, 0, 900 - 16*16},
		{"no background", grey, 1, box(30, 30, 0, 0, 30, 30, 255), 30, 30, white, 8, 3, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			share, counted, err := Background(tt.pix, tt.bands, tt.mask, tt.w, tt.h, tt.color, tt.tol, tt.away)
			if err != nil {
				t.Fatal(err)
			}
			if !near(share, tt.want, 1e-12) {
				t.Errorf("share = %g, want %g", share, tt.want)
			}
			if tt.wantCounted >= 0 && counted != tt.wantCounted || tt.wantCounted < 0 && counted <= 0 {
				t.Errorf("counted = %d, want %d", counted, tt.wantCounted)
			}
		})
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	const w, h = 100, 100
	wide := box(w, h, 5, 30, 95, 70, 255)
	speckled := slices.Clone(wide)
	speckled[0], speckled[w*h-1], speckled[50*w] = 255, 255, 255 // 1 px < 0.05% of 10000
	second := slices.Clone(wide)
	for _, i := range []int{0, 1, 2, w, w + 1, w + 2} { // 6 px >= 5 px: a real part
		second[i] = 255
	}
	tests := []struct {
		name string
		mask []byte
		want float64
	}{
		{"centred box 90% wide", wide, 0.9},
		{"speckles do not widen the box", speckled, 0.9},
		{"a second real part does", second, 0.95},
		{"tall box", box(w, h, 40, 2, 70, 97, 255), 0.95},
		{"tiny product still has a box", box(w, h, 50, 50, 52, 51, 255), 0.02},
		{"empty", make([]byte, w*h), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Fill(tt.mask, w, h)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, tt.want, 1e-12) {
				t.Errorf("Fill = %g, want %g", got, tt.want)
			}
		})
	}
}

// noisyProduct draws a dark textured disc with an enclosed background-coloured label on a
// noisy off-white background: Gaussian noise (sigma 5) plus 0.5% outliers of +-60, the
// way JPEG ringing and sensor noise look. It returns the pixels, the true product mask
// and the label's pixel indices.
func noisyProduct(w, h, bands int, seed uint64) (pix, truth []byte, label []int) {
	pix, truth = disc(w, h, bands, w/2, h/2, min(w, h)*3/10, offWhite)
	for y := h/2 - h/20; y < h/2+h/20; y++ {
		for x := w/2 - w/10; x < w/2+w/10; x++ {
			i := y*w + x
			label = append(label, i)
			for c := range 3 {
				pix[i*bands+c] = offWhite[c]
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	for i := range w * h {
		if truth[i] == 255 {
			continue
		}
		d := int(rng.NormFloat64() * 5)
		if rng.Float64() < 0.005 {
			d = 60 * (2*rng.IntN(2) - 1)
		}
		for c := range 3 {
			pix[i*bands+c] = byte(min(255, max(0, int(pix[i*bands+c])+d)))
		}
	}
	return pix, truth, label
}

func abs(x int) int { return max(x, -x) }

func iou(a, b []byte) float64 {
	inter, union := 0, 0
	for i := range a {
		x, y := a[i] >= maskOn, b[i] >= maskOn
		if x && y {
			inter++
		}
		if x || y {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

func TestBorderFlood(t *testing.T) {
	t.Parallel()
	const w, h = 200, 160
	noisy, truth, label := noisyProduct(w, h, 3, 1)

	// RGBA: transparent background of random colours, opaque product.
	rgba, truth4 := disc(w, h, 4, 90, 80, 50, [3]byte{0, 0, 0})
	rng := rand.New(rand.NewPCG(8, 9))
	for i := range w * h {
		if truth4[i] == 0 {
			rgba[i*4], rgba[i*4+1], rgba[i*4+2], rgba[i*4+3] = byte(rng.IntN(256)), byte(rng.IntN(256)), 0, 0
		}
	}
	// A dark ring around a background-coloured hole: the hole is product.
	ringImg, ringTruth := disc(60, 60, 1, 30, 30, 20, [3]byte{240, 0, 0})
	for i := range ringImg {
		x, y := i%60-30, i/60-30
		if x*x+y*y <= 100 {
			ringImg[i] = 240
		}
	}
	// A background-coloured product drawn only by a 1-px grey outline (200 on 240, not
	// within 24): the outline must hold the flood, diagonals included.
	outline := slices.Repeat([]byte{240}, 60*60)
	outlineTruth := make([]byte, 60*60)
	for y := range 60 {
		for x := range 60 {
			d := max(abs(x-30), abs(y-30)) + abs(x-30) + abs(y-30) // an octagon
			if d <= 40 {
				outlineTruth[y*60+x] = 255
				if d >= 39 {
					outline[y*60+x] = 200
				}
			}
		}
	}

	tests := []struct {
		name    string
		pix     []byte
		bands   int
		w, h    int
		truth   []byte
		minIoU  float64
		product []int // indices that must be product
	}{
		{"noisy off-white with a white label", noisy, 3, w, h, truth, 0.97, label},
		{"transparent background", rgba, 4, w, h, truth4, 1, nil},
		{"enclosed hole in grey", ringImg, 1, 60, 60, ringTruth, 1, nil},
		{"1-px outline holds", outline, 1, 60, 60, outlineTruth, 1, []int{30*60 + 30}},
		{"plain background only", slices.Repeat([]byte{240, 238, 232}, 40*30), 3, 40, 30, make([]byte, 40*30), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := BorderFlood(tt.pix, tt.bands, tt.w, tt.h, 24)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range got {
				if v != 0 && v != 255 {
					t.Fatalf("mask value %d, want 0 or 255", v)
				}
			}
			if j := iou(got, tt.truth); j < tt.minIoU {
				t.Errorf("IoU = %g, want >= %g", j, tt.minIoU)
			}
			for _, i := range tt.product {
				if got[i] != 255 {
					t.Fatalf("pixel %d,%d = %d, want 255 (enclosed, not reachable from the border)", i%tt.w, i/tt.w, got[i])
				}
			}
		})
	}
	t.Run("noise outliers do not become specks", func(t *testing.T) {
		t.Parallel()
		got, _ := BorderFlood(noisy, 3, w, h, 24)
		zone := dilateBrute(onSet(truth), w, h, 2)
		specks, bg := 0, 0
		for i := range got {
			if !zone[i] {
				bg++
				if got[i] == 255 {
					specks++
				}
			}
		}
		if share := float64(specks) / float64(bg); share > 0.0005 {
			t.Errorf("background pixels marked product = %g, want <= 0.0005", share)
		}
	})
}

func TestBadBuffers(t *testing.T) {
	t.Parallel()
	ok3, ok1 := make([]byte, 4*3*3), make([]byte, 4*3)
	calls := []struct {
		name string
		call func() error
	}{
		{"product pixels: short output", func() error {
			_, _, err := ProductPixelsChanged(ok3, ok3[1:], 3, ok1, 4, 3, 3, 4)
			return err
		}},
		{"product pixels: mask of the wrong size", func() error {
			_, _, err := ProductPixelsChanged(ok3, ok3, 3, ok1[:11], 4, 3, 3, 4)
			return err
		}},
		{"product pixels: 2 bands", func() error {
			_, _, err := ProductPixelsChanged(ok3[:24], ok3[:24], 2, ok1, 4, 3, 3, 4)
			return err
		}},
		{"mask stats: zero width", func() error { _, err := MaskStats(nil, 0, 3); return err }},
		{"mask stats: long", func() error { _, err := MaskStats(ok3, 4, 3); return err }},
		{"sharpness", func() error { _, err := Sharpness(ok3, 4, 3); return err }},
		{"ssim: sizes differ", func() error { _, err := SSIM(ok1, ok1[:8], 4, 3); return err }},
		{"background: mask", func() error {
			_, _, err := Background(ok3, 3, ok3, 4, 3, white, 8, 3)
			return err
		}},
		{"fill: negative height", func() error { _, err := Fill(ok1, 4, -3); return err }},
		{"border flood: bands", func() error { _, err := BorderFlood(ok3, 4, 4, 3, 24); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := c.call(); !errors.Is(err, ErrBadBuffer) {
				t.Errorf("error = %v, want ErrBadBuffer", err)
			}
		})
	}
}

const benchSide = 1000

func BenchmarkProductPixelsChanged(b *testing.B) {
	src, mask := disc(benchSide, benchSide, 4, 500, 500, 350, white)
	out, _ := disc(benchSide, benchSide, 4, 503, 500, 350, white)
	for b.Loop() {
		if _, _, err := ProductPixelsChanged(src, out, 4, mask, benchSide, benchSide, 3, 4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaskStats(b *testing.B) {
	for _, side := range []int{benchSide, 2000} {
		_, mask, _ := noisyProduct(side, side, 3, 2)
		// Add speckles so there are many components.
		for i := 0; i < len(mask); i += 997 {
			mask[i] = 255
		}
		b.Run(strconv.Itoa(side), func(b *testing.B) {
			for b.Loop() {
				if _, err := MaskStats(mask, side, side); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSSIM(b *testing.B) {
	x, y := randomGrey(benchSide, benchSide, 1), randomGrey(benchSide, benchSide, 2)
	for b.Loop() {
		if _, err := SSIM(x, y, benchSide, benchSide); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBorderFlood(b *testing.B) {
	pix, _, _ := noisyProduct(benchSide, benchSide, 3, 3)
	for b.Loop() {
		if _, err := BorderFlood(pix, 3, benchSide, benchSide, 24); err != nil {
			b.Fatal(err)
		}
	}
}
