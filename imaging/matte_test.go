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
	"slices"
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
	im := mustLoad(t, truncatedPNG(t), LoadOptions{})
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

// count is the number of product pixels (128 or more) of a mask.
func count(pix []byte) int {
	n := 0
	for _, v := range pix {
		if v >= 128 {
			n++
		}
	}
	return n
}

// TestMatteRunsMatting: with a hard edge, Matte's mask is exactly what the pure-Go
// matte makes of the image's pixels (see TestMattePure for what that is).
func TestMatteRunsMatting(t *testing.T) {
	t.Parallel()
	const w, h = 300, 200
	rgb := shot(w, h, [3]uint8{245, 245, 242},
		patch{r: image.Rect(40, 30, 260, 170), c: [3]uint8{30, 40, 110}},
		patch{r: image.Rect(60, 60, 120, 140), bg: true})
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(img.Pix[4*i:], rgb[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	want := matte(w, h, slices.Clone(rgb), 0, DefaultMatteMinHole)
	im := mustLoad(t, pngOf(t, img), LoadOptions{})
	mask, px, err := im.MatteSource(MatteOptions{Feather: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	if !bytes.Equal(px.Source, rgb) {
		t.Errorf("MattePixels.Source differs from the image's pixels")
	}
	_, _, got, err := mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || !bytes.Equal(px.Mask, want) {
		t.Errorf("Matte's mask differs from matte's: %d and %d product pixels", count(got), count(want))
	}
}

// TestMatteNoLeaks runs Matte, NewImageFromGray, Gray, ApplyMask and Encode in a loop and checks
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
		_, _, _, _ = inner.Gray()
		inner.Close()
		_ = im.ApplyMask(mask)
		mask.Close()
		_, _ = im.Encode(EncodeOptions{Format: PNG})
		im.Close()
		if p, err := Load(photo, LoadOptions{}); err == nil {
			_, _ = p.Matte(MatteOptions{})
			p.Close()
		}
	}
	checkNoLeaks(t, cycle, 30)
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
