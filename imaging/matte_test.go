package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// The matting test set in testdata/matte is drawn by testdata/matte/gen.go (see
// its comment for what each image shows); every NAME.jpg has its exact mask in
// NAME.mask.png.

// loadMask decodes testdata/matte/NAME.mask.png with the standard library.
func loadMask(t testing.TB, name string) (w, h int, pix []byte) {
	t.Helper()
	return loadGrayPNG(t, filepath.Join("matte", name+".mask.png"))
}

// loadGrayPNG decodes testdata/REL (a mask) with the standard library.
func loadGrayPNG(t testing.TB, rel string) (w, h int, pix []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readFile(t, rel)))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]byte, 0, w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			pix = append(pix, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		}
	}
	return w, h, pix
}

// iou is the intersection over union of two masks, each cut at 128.
func iou(got, want []byte) float64 {
	var inter, union int
	for i := range got {
		g, w := got[i] >= 128, want[i] >= 128
		if g && w {
			inter++
		}
		if g || w {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}

// recall is the fraction of want's product pixels that got also has.
func recall(got, want []byte) float64 {
	var hit, n int
	for i := range got {
		if want[i] >= 128 {
			n++
			if got[i] >= 128 {
				hit++
			}
		}
	}
	return float64(hit) / float64(n)
}

// matteFile mattes testdata/matte/NAME.jpg and returns the mask's pixels.
func matteFile(t testing.TB, name string, o MatteOptions) (w, h int, pix []byte) {
	t.Helper()
	im := loadFile(t, filepath.Join("matte", name+".jpg"))
	mask, err := im.Matte(o)
	if err != nil {
		t.Fatalf("matte %s: %v", name, err)
	}
	defer mask.Close()
	if mask.Width() != im.Width() || mask.Height() != im.Height() {
		t.Fatalf("mask %dx%d, want %dx%d", mask.Width(), mask.Height(), im.Width(), im.Height())
	}
	w, h, pix, err = mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	return w, h, pix
}

// probe is a point whose mask value must be product (true) or background.
type probe struct {
	x, y    int
	product bool
	what    string
}

func TestMatteIoU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		probes []probe
	}{
		{"bottle", []probe{{450, 780, true, "pale label"}, {450, 175, true, "cap"}, {20, 20, false, "corner"}}},
		{"mug", []probe{{870, 500, false, "hole inside the handle"}, {870, 360, true, "handle"}, {520, 520, true, "body"}}},
		{"ring", []probe{{500, 500, false, "centre hole"}, {500, 200, true, "band"}, {60, 940, false, "vignetted corner"}}},
		{"shoe", []probe{{560, 380, true, "collar opening"}, {760, 520, true, "lace"}, {820, 850, true, "sole"}, {200, 300, false, "above the toe"}}},
		{"lightgrey", []probe{{500, 300, true, "light grey"}, {500, 420, true, "seam"}, {500, 700, false, "below"}}},
		{"whitelabel", []probe{{400, 520, true, "white label enclosed by the box"}, {250, 350, true, "white label's corner"}, {60, 500, false, "beside"}}},
		{"label", []probe{{330, 330, true, "white label enclosed by the box"}, {500, 770, true, "white band touching the box's edge"}, {205, 770, true, "band at the edge"}, {900, 500, false, "beside"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, h, got := matteFile(t, tt.name, MatteOptions{})
			ww, wh, want := loadMask(t, tt.name)
			if w != ww || h != wh {
				t.Fatalf("mask %dx%d, want %dx%d", w, h, ww, wh)
			}
			score := iou(got, want)
			t.Logf("%s: IoU %.4f", tt.name, score)
			if score < 0.95 {
				t.Errorf("IoU %.4f, want at least 0.95", score)
			}
			for _, p := range tt.probes {
				v := got[p.y*w+p.x]
				if (v >= 128) != p.product {
					t.Errorf("%s at %d,%d: mask %d, want product=%v", p.what, p.x, p.y, v, p.product)
				}
			}
		})
	}
}

// TestMatteShadow documents what happens to a soft grey shadow under a product:
// classic matting has no notion of shadow, so wherever the shadow darkens the
// background by more than the threshold (about 3.5 levels per channel at the
// default threshold of 6) it stays attached to the product and the mask is
// larger than the product alone (IoU about 0.79 here); the product itself is
// kept whole and the faint rim of the shadow is cut away. A recipe that must
// drop shadows needs the sd engine, or a higher Threshold.
func TestMatteShadow(t *testing.T) {
	t.Parallel()
	w, _, got := matteFile(t, "shadow", MatteOptions{})
	_, _, want := loadMask(t, "shadow")
	score, rec := iou(got, want), recall(got, want)
	extra := 0
	for i := range got {
		if got[i] >= 128 && want[i] < 128 {
			extra++
		}
	}
	t.Logf("shadow: IoU %.4f against the product alone, product recall %.4f, %d shadow pixels kept", score, rec, extra)
	if rec < 0.99 {
		t.Errorf("product recall %.4f, want at least 0.99", rec)
	}
	if extra < 10000 {
		t.Errorf("%d shadow pixels kept, want the dark core of the shadow (10000 or more): the documented behaviour changed", extra)
	}
	for _, p := range []probe{
		{500, 730, true, "dark core of the shadow"},
		{40, 715, false, "faint left end of the shadow"},
		{960, 715, false, "faint right end of the shadow"},
		{500, 830, false, "below the shadow"},
	} {
		if v := got[p.y*w+p.x]; (v >= 128) != p.product {
			t.Errorf("%s at %d,%d: mask %d, want product=%v", p.what, p.x, p.y, v, p.product)
		}
	}
	// A higher threshold cuts away more of the shadow.
	_, _, high := matteFile(t, "shadow", MatteOptions{Threshold: 40})
	extraHigh := 0
	for i := range high {
		if high[i] >= 128 && want[i] < 128 {
			extraHigh++
		}
	}
	t.Logf("shadow, threshold 40: IoU %.4f, %d shadow pixels kept", iou(high, want), extraHigh)
	if extraHigh >= extra || recall(high, want) < 0.99 {
		t.Errorf("threshold 40: %d shadow pixels kept (recall %.4f), want fewer than %d with the product whole", extraHigh, recall(high, want), extra)
	}
}

// TestMatteTouchingBorder: a product whose stand touches the bottom edge keeps
// the stand, and the background model ignores it.
func TestMatteTouchingBorder(t *testing.T) {
	t.Parallel()
	const n = 800
	rnd := rand.New(rand.NewPCG(1, 2))
	img := solid(n, n, white)
	want := make([]byte, n*n)
	// A light stand 30 px wide: wider than the profiles' median window, and
	// light enough for PlainBackground to call the ring plain.
	grey := color.NRGBA{150, 150, 155, 255}
	for y := range n {
		for x := range n {
			dx, dy := float64(x-400)+0.5, float64(y-350)+0.5
			c := color.NRGBA{250, 250, 250, 255}
			if dx*dx+dy*dy < 200*200 || (x >= 385 && x < 415 && y >= 350) {
				c = grey
				want[y*n+x] = 255
			}
			noise := uint8(rnd.IntN(3))
			img.SetNRGBA(x, y, color.NRGBA{c.R - noise, c.G - noise, c.B - noise, 255})
		}
	}
	im := mustLoad(t, jpegOf(t, img, 90), LoadOptions{})
	mask, err := im.Matte(MatteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	_, _, got, err := mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	score := iou(got, want)
	t.Logf("touching border: IoU %.4f", score)
	if score < 0.95 {
		t.Errorf("IoU %.4f, want at least 0.95", score)
	}
	for _, p := range []probe{{400, n - 1, true, "stand at the edge"}, {390, n - 10, true, "stand near the edge"}, {370, n - 1, false, "beside the stand"}} {
		if v := got[p.y*n+p.x]; (v >= 128) != p.product {
			t.Errorf("%s at %d,%d: mask %d, want product=%v", p.what, p.x, p.y, v, p.product)
		}
	}
}

func TestMatteOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    MatteOptions
		ok   bool
	}{
		{"zero", MatteOptions{}, true},
		{"threshold", MatteOptions{Threshold: 20}, true},
		{"negative threshold", MatteOptions{Threshold: -1}, false},
		{"threshold above 255", MatteOptions{Threshold: 256}, false},
		{"NaN threshold", MatteOptions{Threshold: math.NaN()}, false},
		{"hard edge", MatteOptions{Feather: -1}, true},
		{"feather too wide", MatteOptions{Feather: 101}, false},
		{"infinite feather", MatteOptions{Feather: math.Inf(-1)}, false},
		{"min hole", MatteOptions{MinHole: 0.5}, true},
		{"min hole above 1", MatteOptions{MinHole: 1.5}, false},
		{"negative min hole", MatteOptions{MinHole: -0.1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Validate() = %v, want ErrInvalidOption", err)
			}
			if tt.ok {
				return
			}
			im := loadFile(t, "plain.jpg")
			if _, err := im.Matte(tt.o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Matte() = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestMatteEffects checks that each option does what it says on the mug.
func TestMatteEffects(t *testing.T) {
	t.Parallel()
	const holeX, holeY = 870, 500
	_, _, want := loadMask(t, "mug")
	tests := []struct {
		name   string
		o      MatteOptions
		hole   bool // the handle's hole is cut out
		soft   bool // some pixels are neither 0 nor 255
		minIoU float64
	}{
		{"default", MatteOptions{}, true, true, 0.95},
		{"hard edge", MatteOptions{Feather: -1}, true, false, 0.95},
		{"wide feather", MatteOptions{Feather: 4}, true, true, 0.95},
		{"explicit threshold", MatteOptions{Threshold: 25}, true, true, 0.95},
		{"hole too small to count", MatteOptions{MinHole: 0.05}, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _, got := matteFile(t, "mug", tt.o)
			if v := got[holeY*w+holeX]; (v < 128) != tt.hole {
				t.Errorf("hole pixel %d, want cut out=%v", v, tt.hole)
			}
			soft := 0
			for _, v := range got {
				if v != 0 && v != 255 {
					soft++
				}
			}
			if (soft > 0) != tt.soft {
				t.Errorf("%d soft pixels, want soft=%v", soft, tt.soft)
			}
			if score := iou(got, want); score < tt.minIoU {
				t.Errorf("IoU %.4f, want at least %v", score, tt.minIoU)
			}
		})
	}
}

func TestMatteNoPlainBackground(t *testing.T) {
	t.Parallel()
	busy := solid(400, 300, white)
	for x := 0; x < 400; x += 20 {
		fillRect(busy, image.Rect(x, 0, x+10, 300), blue)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"photo", readFile(t, "photo.jpg")},
		{"stripes", pngOf(t, busy)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, tt.data, LoadOptions{})
			mask, err := im.Matte(MatteOptions{})
			if !errors.Is(err, ErrNoPlainBackground) {
				if mask != nil {
					mask.Close()
				}
				t.Fatalf("Matte() = %v, want ErrNoPlainBackground", err)
			}
			if mask != nil {
				t.Errorf("mask %v, want nil", mask)
			}
		})
	}
}

func TestMatteCorrupt(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "truncated.jpg")
	if _, err := im.Matte(MatteOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Matte() = %v, want ErrCorrupt", err)
	}
}

// TestMatteCutOut: an image already cut out (transparent border) gets its alpha
// as the mask; a product on a plain colour other than white works too.
func TestMatteCutOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bg   color.NRGBA
	}{
		{"transparent", color.NRGBA{}},
		{"grey studio", color.NRGBA{200, 200, 200, 255}},
		{"green screen", color.NRGBA{40, 200, 60, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img := solid(400, 300, tt.bg)
			fillRect(img, image.Rect(100, 60, 300, 240), red)
			im := mustLoad(t, pngOf(t, img), LoadOptions{})
			mask, err := im.Matte(MatteOptions{Feather: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer mask.Close()
			w, h, got, err := mask.Gray()
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, w*h)
			for y := 60; y < 240; y++ {
				for x := 100; x < 300; x++ {
					want[y*w+x] = 255
				}
			}
			if score := iou(got, want); score != 1 {
				t.Errorf("IoU %.4f, want 1", score)
			}
		})
	}
}

// TestMatteTiny: tiny plain images are all background, without a panic.
func TestMatteTiny(t *testing.T) {
	t.Parallel()
	for _, s := range []image.Point{{1, 1}, {2, 3}, {5, 5}, {40, 1}} {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, pngOf(t, solid(s.X, s.Y, color.NRGBA{250, 250, 250, 255})), LoadOptions{})
			mask, err := im.Matte(MatteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer mask.Close()
			w, h, pix, err := mask.Gray()
			if err != nil {
				t.Fatal(err)
			}
			if w != s.X || h != s.Y || count(pix) != 0 {
				t.Errorf("got %dx%d with %d product pixels, want %dx%d with 0", w, h, count(pix), s.X, s.Y)
			}
		})
	}
}

// TestMatteUnchanged: Matte leaves the image as it was.
func TestMatteUnchanged(t *testing.T) {
	t.Parallel()
	im := loadFile(t, filepath.Join("matte", "mug.jpg"))
	before := px(t, im, 520, 520)
	mask, err := im.Matte(MatteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mask.Close()
	if im.Width() != 1200 || im.Height() != 1000 || im.HasAlpha() || im.ref.Bands() != 3 {
		t.Errorf("image now %v, want the 1200x1000 RGB it was", im)
	}
	if after := px(t, im, 520, 520); after != before {
		t.Errorf("pixel after %v, want %v", after, before)
	}
}

func TestApplyMask(t *testing.T) {
	t.Parallel()
	// A mask with four quadrants: 0, 64, 128 and 255.
	const w, h = 300, 200
	pix := make([]byte, w*h)
	for y := range h {
		for x := range w {
			pix[y*w+x] = [4]byte{0, 64, 128, 255}[2*(y*2/h)+x*2/w]
		}
	}
	quadrant := [4][2]int{{75, 50}, {225, 50}, {75, 150}, {225, 150}}
	tests := []struct {
		name      string
		data      []byte
		wantAlpha [4]uint8 // per quadrant
	}{
		{"rgb", pngOf(t, solid(w, h, blue)), [4]uint8{0, 64, 128, 255}},
		{"grey", pngOf(t, image.NewGray(image.Rect(0, 0, w, h))), [4]uint8{0, 64, 128, 255}},
		// alpha 128 everywhere: multiplied, rounded.
		{"alpha", pngOf(t, solid(w, h, color.NRGBA{20, 40, 220, 128})), [4]uint8{0, 32, 64, 128}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, tt.data, LoadOptions{})
			mask, err := NewImageFromGray(w, h, pix)
			if err != nil {
				t.Fatal(err)
			}
			if err := im.ApplyMask(mask); err != nil {
				t.Fatal(err)
			}
			mask.Close() // the image must not depend on the mask staying open
			runtime.GC()
			if !im.HasAlpha() || im.ref.Bands() != 4 {
				t.Fatalf("got %v, want RGBA", im)
			}
			for q, p := range quadrant {
				if got := px(t, im, p[0], p[1]); got[3] != tt.wantAlpha[q] {
					t.Errorf("alpha at %v = %d, want %d", p, got[3], tt.wantAlpha[q])
				}
			}
			// An encode round trip keeps the alpha.
			out, err := im.Encode(EncodeOptions{Format: PNG})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := png.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, a := dec.At(225, 150).RGBA(); a>>8 != uint32(tt.wantAlpha[3]) {
				t.Errorf("encoded alpha %d, want %d", a>>8, tt.wantAlpha[3])
			}
		})
	}
}

func TestApplyMaskFromMatte(t *testing.T) {
	t.Parallel()
	im := loadFile(t, filepath.Join("matte", "ring.jpg"))
	mask, err := im.Matte(MatteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	_, _, want, err := mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if err := im.ApplyMask(mask); err != nil {
		t.Fatal(err)
	}
	w := im.Width()
	for _, p := range [][2]int{{500, 500}, {500, 200}, {500, 110}, {5, 5}, {287, 500}} {
		if got := px(t, im, p[0], p[1])[3]; got != want[p[1]*w+p[0]] {
			t.Errorf("alpha at %v = %d, want the mask's %d", p, got, want[p[1]*w+p[0]])
		}
	}
}

func TestApplyMaskInvalid(t *testing.T) {
	t.Parallel()
	im := mustLoad(t, pngOf(t, solid(40, 30, red)), LoadOptions{})
	small, err := NewImageFromGray(20, 30, make([]byte, 600))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	tests := []struct {
		name string
		mask *Image
	}{
		{"nil", nil},
		{"wrong size", small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := im.ApplyMask(tt.mask); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("ApplyMask() = %v, want ErrInvalidOption", err)
			}
		})
	}
	if im.HasAlpha() {
		t.Errorf("image got alpha from a failed ApplyMask")
	}
}

// square returns a w x h mask with a filled square of side s at x0, y0.
func square(w, h, x0, y0, s int) []byte {
	pix := make([]byte, w*h)
	for y := y0; y < y0+s; y++ {
		for x := x0; x < x0+s; x++ {
			pix[y*w+x] = 255
		}
	}
	return pix
}

func count(pix []byte) int {
	n := 0
	for _, v := range pix {
		if v >= 128 {
			n++
		}
	}
	return n
}

func TestErodeMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		px   int
		want int // product pixels left of a 100x100 square
	}{
		{0, 100 * 100},
		{1, 98 * 98},
		{5, 90 * 90},
		{49, 2 * 2},
		{50, 0},
	}
	for _, tt := range tests {
		t.Run("px "+strconv.Itoa(tt.px), func(t *testing.T) {
			t.Parallel()
			m, err := NewImageFromGray(200, 200, square(200, 200, 50, 50, 100))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.ErodeMask(tt.px); err != nil {
				t.Fatal(err)
			}
			_, _, pix, err := m.Gray()
			if err != nil {
				t.Fatal(err)
			}
			if got := count(pix); got != tt.want {
				t.Errorf("erode %d: %d pixels, want %d", tt.px, got, tt.want)
			}
			if tt.px < 50 && pix[100*200+100] != 255 {
				t.Errorf("erode %d: centre %d, want 255", tt.px, pix[100*200+100])
			}
		})
	}
}

// TestErode checks the running-minimum erosion against brute force.
func TestErode(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct{ w, h, r int }{{1, 1, 1}, {7, 5, 1}, {13, 9, 2}, {30, 20, 4}, {9, 31, 7}, {5, 5, 40}} {
		pix := make([]byte, tt.w*tt.h)
		for i := range pix {
			pix[i] = byte(rnd.IntN(256))
		}
		want := make([]byte, len(pix))
		for y := range tt.h {
			for x := range tt.w {
				m := byte(255)
				for yy := max(0, y-tt.r); yy <= min(tt.h-1, y+tt.r); yy++ {
					for xx := max(0, x-tt.r); xx <= min(tt.w-1, x+tt.r); xx++ {
						m = min(m, pix[yy*tt.w+xx])
					}
				}
				want[y*tt.w+x] = m
			}
		}
		erode(pix, tt.w, tt.h, tt.r)
		if !bytes.Equal(pix, want) {
			t.Errorf("%dx%d r %d: got %v, want %v", tt.w, tt.h, tt.r, pix, want)
		}
	}
}

func TestErodeMaskEdge(t *testing.T) {
	t.Parallel()
	// A product touching the image's edge is not eroded from that edge.
	m, err := NewImageFromGray(100, 100, square(100, 100, 0, 0, 50))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.ErodeMask(3); err != nil {
		t.Fatal(err)
	}
	_, _, pix, err := m.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if got := count(pix); got != 47*47 {
		t.Errorf("%d pixels, want %d", got, 47*47)
	}
	if pix[0] != 255 {
		t.Errorf("corner %d, want 255", pix[0])
	}
}

func TestErodeMaskInvalid(t *testing.T) {
	t.Parallel()
	m, err := NewImageFromGray(10, 10, make([]byte, 100))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rgb := mustLoad(t, pngOf(t, solid(10, 10, red)), LoadOptions{})
	tests := []struct {
		name string
		im   *Image
		px   int
	}{
		{"negative", m, -1},
		{"too wide", m, MaxErode + 1},
		{"rgb", rgb, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.im.ErodeMask(tt.px); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("ErodeMask(%d) = %v, want ErrInvalidOption", tt.px, err)
			}
		})
	}
}

func TestNewImageFromGray(t *testing.T) {
	t.Parallel()
	pix := make([]byte, 7*5)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	im, err := NewImageFromGray(7, 5, pix)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	pix[0] = 99 // not retained
	w, h, got, err := im.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if w != 7 || h != 5 || im.ref.Bands() != 1 {
		t.Fatalf("got %dx%d with %d bands, want 7x5 with 1", w, h, im.ref.Bands())
	}
	for i := range got {
		if want := byte(i * 7); got[i] != want {
			t.Fatalf("pixel %d = %d, want %d", i, got[i], want)
		}
	}
	// A mask encodes as grey PNG (a rendition of its own).
	out, err := im.Encode(EncodeOptions{Format: PNG})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dec.(*image.Gray); !ok {
		t.Errorf("encoded mask is %T, want *image.Gray", dec)
	}

	bad := []struct {
		name string
		w, h int
		n    int
	}{
		{"short", 7, 5, 34},
		{"long", 7, 5, 36},
		{"zero width", 0, 5, 0},
		{"negative", -7, -5, 35},
		{"too wide", MaxDimension + 1, 1, MaxDimension + 1},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if im, err := NewImageFromGray(tt.w, tt.h, make([]byte, tt.n)); !errors.Is(err, ErrInvalidOption) {
				if im != nil {
					im.Close()
				}
				t.Errorf("NewImageFromGray(%d, %d, %d bytes) = %v, want ErrInvalidOption", tt.w, tt.h, tt.n, err)
			}
		})
	}
}

func TestGray(t *testing.T) {
	t.Parallel()
	img := solid(30, 10, white)
	fillRect(img, image.Rect(10, 0, 20, 10), black)
	fillRect(img, image.Rect(20, 0, 30, 10), color.NRGBA{255, 255, 255, 0})
	im := mustLoad(t, pngOf(t, img), LoadOptions{})
	w, h, pix, err := im.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if w != 30 || h != 10 || len(pix) != 300 {
		t.Fatalf("got %dx%d, %d bytes, want 30x10, 300", w, h, len(pix))
	}
	for _, c := range []struct {
		x    int
		want byte
		what string
	}{{5, 255, "white"}, {15, 0, "black"}, {25, 0, "transparent white"}} {
		if got := pix[5*w+c.x]; got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	if !im.HasAlpha() {
		t.Errorf("Gray changed the image")
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

// TestMatteNoLeaks runs Matte, ApplyMask, ErodeMask and Encode in a loop and checks
// libvips' memory returns to where it started. Not parallel.
func TestMatteNoLeaks(t *testing.T) {
	data := readFile(t, filepath.Join("matte", "mug.jpg"))
	photo := readFile(t, "photo.jpg")
	cycle := func() {
		im, err := Load(data, LoadOptions{ShrinkTo: Size{Width: 300, Height: 250}})
		if err != nil {
			t.Fatal(err)
		}
		mask, err := im.Matte(MatteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inner, err := NewImageFromGray(mask.Width(), mask.Height(), make([]byte, mask.Width()*mask.Height()))
		if err != nil {
			t.Fatal(err)
		}
		_ = inner.ErodeMask(3)
		_, _, _, _ = inner.Gray()
		inner.Close()
		_ = mask.ErodeMask(2)
		_ = im.ApplyMask(mask)
		mask.Close()
		_, _ = im.Encode(EncodeOptions{Format: PNG})
		im.Close()
		if p, err := Load(photo, LoadOptions{}); err == nil {
			_, _ = p.Matte(MatteOptions{})
			p.Close()
		}
	}
	cycle()
	runtime.GC()
	before := ReadMemStats()
	for range 30 {
		cycle()
	}
	runtime.GC()
	after := ReadMemStats()
	t.Logf("before %+v after %+v", before, after)
	const slackBytes, slackAllocs = 64 << 10, 16
	if after.Mem > before.Mem+slackBytes {
		t.Errorf("libvips memory %d bytes, want at most %d (started at %d)", after.Mem, before.Mem+slackBytes, before.Mem)
	}
	if after.Allocs > before.Allocs+slackAllocs {
		t.Errorf("libvips allocations %d, want at most %d (started at %d)", after.Allocs, before.Allocs+slackAllocs, before.Allocs)
	}
	if after.Files > before.Files {
		t.Errorf("libvips open files %d, want at most %d", after.Files, before.Files)
	}
}

// BenchmarkMatte mattes the 1600x1200 shoe (run on purpose: go test -bench Matte).
func BenchmarkMatte(b *testing.B) {
	im := loadFile(b, filepath.Join("matte", "shoe.jpg"))
	if _, _, _, err := im.Gray(); err != nil { // decode once
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		mask, err := im.Matte(MatteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := mask.Gray(); err != nil {
			b.Fatal(err)
		}
		mask.Close()
	}
}
