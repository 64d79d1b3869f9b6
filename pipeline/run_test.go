package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"testing"

	"github.com/pictor/pictor/imaging"
)

func TestMain(m *testing.M) {
	imaging.Startup(imaging.StartupConfig{}, slog.New(slog.DiscardHandler))
	code := m.Run()
	imaging.Shutdown()
	os.Exit(code)
}

func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRecipe(t *testing.T, s string) *Recipe {
	t.Helper()
	r, err := ParseRecipe([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRun(t *testing.T) {
	t.Parallel()
	src := jpegOf(t, 1200, 800)
	logo := func() []byte {
		img := image.NewNRGBA(image.Rect(0, 0, 50, 20))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		return buf.Bytes()
	}()
	env := Env{LoadImage: func(ctx context.Context, id string) ([]byte, error) {
		if id == "logo" {
			return logo, nil
		}
		return nil, errors.New("no such image")
	}}
	type out struct {
		format imaging.Format
		w, h   int
	}
	cases := []struct {
		name   string
		recipe string
		want   []out
	}{
		{"resize inside two outputs", `{"steps":[{"op":"resize","width":600,"height":600,"fit":"inside"}],
			"outputs":[{"name":"a","format":"webp"},{"name":"b","format":"png","resize":{"width":100,"height":100,"fit":"cover"}}]}`,
			[]out{{imaging.WebP, 600, 400}, {imaging.PNG, 100, 100}}},
		{"when skips a step", `{"steps":[{"op":"resize","width":300,"when":{"shorter_side_below":500}}],"outputs":[{"name":"a"}]}`,
			[]out{{imaging.JPEG, 1200, 800}}},
		{"when runs a step", `{"steps":[{"op":"resize","width":300,"when":{"shorter_side_below":900}}],"outputs":[{"name":"a"}]}`,
			[]out{{imaging.JPEG, 300, 200}}},
		{"crop pad rotate", `{"steps":[{"op":"crop","x":0,"y":0,"width":400,"height":300},{"op":"pad","top":10,"bottom":10},{"op":"rotate","angle":90}],"outputs":[{"name":"a","format":"png"}]}`,
			[]out{{imaging.PNG, 320, 400}}},
		{"composite watermark", `{"steps":[{"op":"composite","image":"logo"}],"outputs":[{"name":"a"}]}`,
			[]out{{imaging.JPEG, 1200, 800}}},
		{"classic upscale", `{"steps":[{"op":"upscale","factor":1.5}],"outputs":[{"name":"a"}]}`,
			[]out{{imaging.JPEG, 1800, 1200}}},
		{"auto format without accept", `{"outputs":[{"name":"a","format":"auto","resize":{"width":120}}]}`,
			[]out{{imaging.JPEG, 120, 80}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Run(context.Background(), env, src, mustRecipe(t, tc.recipe), RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d outputs, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				info, err := imaging.Probe(got[i].Data)
				if err != nil || info.Format != w.format || info.Width != w.w || info.Height != w.h || got[i].Width != w.w {
					t.Errorf("output %d: got %+v (%v), want %+v", i, info, err, w)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	src := jpegOf(t, 300, 200)
	cases := []struct {
		name, recipe string
		want         error
	}{
		{"sd upscale without backend", `{"steps":[{"op":"upscale","engine":"sd"}],"outputs":[{"name":"a"}]}`, ErrSDRequired},
		{"prompt background without backend", `{"steps":[{"op":"replace_background","prompt":"a beach"}],"outputs":[{"name":"a"}]}`, ErrSDRequired},
		{"composite without loader", `{"steps":[{"op":"composite","image":"x"}],"outputs":[{"name":"a"}]}`, ErrNotImplemented},
		{"replace background on a busy photo", `{"steps":[{"op":"replace_background","color":"#fff"}],"outputs":[{"name":"a"}]}`, imaging.ErrNoPlainBackground},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(context.Background(), Env{}, src, mustRecipe(t, tc.recipe), RunOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("cancelled between steps", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Run(ctx, Env{}, src, mustRecipe(t, `{"steps":[{"op":"blur","sigma":2}],"outputs":[{"name":"a"}]}`), RunOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
	t.Run("pixel limit", func(t *testing.T) {
		_, err := Run(context.Background(), Env{MaxPixels: 1000}, src, mustRecipe(t, `{"outputs":[{"name":"a"}]}`), RunOptions{})
		if !errors.Is(err, imaging.ErrTooManyPixels) {
			t.Errorf("got %v, want ErrTooManyPixels", err)
		}
	})
}

func TestShrinkTarget(t *testing.T) {
	t.Parallel()
	info := imaging.Info{Width: 2560, Height: 1600, Orientation: 1}
	cases := []struct {
		name, recipe string
		want         imaging.Size
	}{
		{"fit inside", `{"steps":[{"op":"auto_orient"},{"op":"resize","width":800,"height":800,"fit":"inside"}],"outputs":[{"name":"a"}]}`, imaging.Size{Width: 800, Height: 500}},
		{"cover", `{"steps":[{"op":"resize","width":800,"height":800,"fit":"cover"}],"outputs":[{"name":"a"}]}`, imaging.Size{Width: 1280, Height: 800}},
		{"crop first: no shrink", `{"steps":[{"op":"crop","width":100,"height":100},{"op":"resize","width":10}],"outputs":[{"name":"a"}]}`, imaging.Size{}},
		{"enlarging: no shrink", `{"steps":[{"op":"resize","width":4000}],"outputs":[{"name":"a"}]}`, imaging.Size{}},
		{"outputs only, largest wins", `{"outputs":[{"name":"a","resize":{"width":400}},{"name":"b","resize":{"width":200}}]}`, imaging.Size{Width: 400, Height: 250}},
		{"an output without resize: no shrink", `{"outputs":[{"name":"a","resize":{"width":400}},{"name":"b"}]}`, imaging.Size{}},
		{"conditional resize: no shrink", `{"steps":[{"op":"resize","width":100,"when":{"width_below":5000}}],"outputs":[{"name":"a"}]}`, imaging.Size{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := shrinkTarget(info, mustRecipe(t, tc.recipe)); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	rotated := imaging.Info{Width: 2560, Height: 1600, Orientation: 6}
	if got := shrinkTarget(rotated, mustRecipe(t, `{"steps":[{"op":"resize","width":800,"height":800,"fit":"inside"}],"outputs":[{"name":"a"}]}`)); got != (imaging.Size{Width: 500, Height: 800}) {
		t.Errorf("rotated: got %+v, want 500x800", got)
	}
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	rep, err := Analyze(context.Background(), jpegOf(t, 1000, 700), 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Width != 1000 || rep.Height != 700 || rep.Format != "jpeg" || rep.JPEGQuality < 85 || rep.JPEGQuality > 95 || rep.Bytes == 0 {
		t.Errorf("report = %+v", rep)
	}
	if _, err := Analyze(context.Background(), []byte("nope"), 0); !errors.Is(err, imaging.ErrCorrupt) {
		t.Errorf("garbage: %v, want ErrCorrupt", err)
	}
}

func TestCutOutAndReplaceBackground(t *testing.T) {
	t.Parallel()
	// A dark box on white.
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for y := 0; y < 200; y++ {
		for x := 0; x < 300; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if x >= 100 && x < 200 && y >= 50 && y < 150 {
				c = color.RGBA{30, 60, 150, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	out, err := Run(context.Background(), Env{}, buf.Bytes(), mustRecipe(t, `{"steps":[
		{"op":"remove_background","store_mask":true},
		{"op":"replace_background","color":"#00ff00"}],"outputs":[{"name":"a","format":"png"}]}`), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].Output != "mask" || out[1].Format != imaging.PNG {
		t.Fatalf("outputs = %d (%v), want the image and its stored mask", len(out), out[len(out)-1].Output)
	}
	got, _ := png.Decode(bytes.NewReader(out[0].Data))
	if r, g, b, _ := got.At(10, 10).RGBA(); r>>8 > 5 || g>>8 < 250 || b>>8 > 5 {
		t.Errorf("background = %d,%d,%d, want green", r>>8, g>>8, b>>8)
	}
	if r, g, b, _ := got.At(150, 100).RGBA(); r>>8 != 30 || g>>8 != 60 || b>>8 != 150 {
		t.Errorf("product = %d,%d,%d, want the source's 30,60,150", r>>8, g>>8, b>>8)
	}
	mask, _ := png.Decode(bytes.NewReader(out[1].Data))
	if y, _, _, _ := mask.At(150, 100).RGBA(); y>>8 != 255 {
		t.Errorf("mask inside = %d, want 255", y>>8)
	}
	if y, _, _, _ := mask.At(5, 5).RGBA(); y>>8 != 0 {
		t.Errorf("mask outside = %d, want 0", y>>8)
	}
}

// A CMYK source comes out as an sRGB JPEG that any browser shows.
func TestRunColourManagesToSRGB(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../imaging/testdata/cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Run(context.Background(), Env{}, src, mustRecipe(t, `{"outputs":[{"name":"a","format":"jpeg"}]}`), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(out[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ColorModel == color.CMYKModel {
		t.Error("output is still CMYK, want sRGB")
	}
}

// An RGB source with an embedded wide-gamut profile (Display P3) is converted to sRGB
// through it: the output's pixels are the colour the source shows, not its raw values.
// The encoder strips the profile, so without the conversion the raw values would show.
func TestRunConvertsEmbeddedProfileToSRGB(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../imaging/testdata/display-p3.jpg") // sRGB (200, 30, 40) in P3: about (184, 50, 47)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Run(context.Background(), Env{}, src, mustRecipe(t, `{"outputs":[{"name":"a","format":"png"}]}`), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := img.At(8, 8).RGBA()
	got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	for i, want := range [3]int{200, 30, 40} {
		if d := got[i] - want; d < -6 || d > 6 {
			t.Fatalf("centre pixel %v, want about (200, 30, 40): the embedded P3 profile was not applied", got)
		}
	}
}

// runPNG runs r on src and decodes its first output, a PNG.
func runPNG(t *testing.T, src []byte, r *Recipe) image.Image {
	t.Helper()
	out, err := Run(context.Background(), Env{}, src, r, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// p3JPEG is a w x h JPEG of one colour, raw values (184, 50, 47), tagged with the Display
// P3 profile of imaging's testdata: the colour sRGB shows as about (200, 30, 40).
func p3JPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	tagged, err := os.ReadFile("../imaging/testdata/display-p3.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var app2 []byte // the ICC_PROFILE segment, whole
	for i := 2; i+4 <= len(tagged) && tagged[i] == 0xFF && tagged[i+1] != 0xDA; {
		n := int(tagged[i+2])<<8 | int(tagged[i+3])
		if tagged[i+1] == 0xE2 && bytes.HasPrefix(tagged[i+4:], []byte("ICC_PROFILE\x00")) {
			app2 = tagged[i : i+2+n]
			break
		}
		i += 2 + n
	}
	if app2 == nil {
		t.Fatal("display-p3.jpg has no ICC_PROFILE segment")
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{184, 50, 47, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return append(append(append([]byte{}, b[:2]...), app2...), b[2:]...)
}

// A Display P3 source whose first step shrinks it is converted to sRGB after that step
// (shrinkFirst), and still through its profile: the output shows the source's
// colour, not its raw values.
func TestRunConvertsEmbeddedProfileAfterResize(t *testing.T) {
	t.Parallel()
	src := p3JPEG(t, 64, 48)
	r := mustRecipe(t, `{"steps":[{"op":"resize","width":24,"height":24,"fit":"inside"}],"outputs":[{"name":"a","format":"png"}]}`)
	// As Run loads it: shrunk on load to 32x24, then resized to 24x18.
	info, err := imaging.Probe(src)
	if err != nil {
		t.Fatal(err)
	}
	im, err := imaging.Load(src, imaging.LoadOptions{ShrinkTo: shrinkTarget(info, r)})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if _, _, early := shrinkFirst(r, im); !early {
		t.Fatalf("shrinkFirst = false for a P3 source (loaded at %dx%d) shrunk by its first step; the test would not cover the late conversion", im.Width(), im.Height())
	}
	img := runPNG(t, src, r)
	if b := img.Bounds(); b.Dx() != 24 || b.Dy() != 18 {
		t.Fatalf("output %v, want 24x18", b)
	}
	r0, g0, b0, _ := img.At(12, 9).RGBA()
	got := [3]int{int(r0 >> 8), int(g0 >> 8), int(b0 >> 8)}
	for i, want := range [3]int{200, 30, 40} {
		if d := got[i] - want; d < -6 || d > 6 {
			t.Fatalf("centre pixel %v, want about (200, 30, 40): the embedded P3 profile was not applied", got)
		}
	}
}

// TestShrinkFirst: orientation and conversion wait for the first step only when that
// step is an unconditional shrinking resize that adds no colour and anchors at the
// centre, and only for a source that has an orientation to apply or needs an lcms
// transform; the box is turned for an orientation that swaps the sides.
func TestShrinkFirst(t *testing.T) {
	t.Parallel()
	load := func(b []byte) *imaging.Image {
		im, err := imaging.Load(b, imaging.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(im.Close)
		return im
	}
	rotated, err := os.ReadFile("../imaging/testdata/photo.jpg") // stored 640x400, orientation 6
	if err != nil {
		t.Fatal(err)
	}
	p3, plain, turned := load(p3JPEG(t, 16, 16)), load(jpegOf(t, 16, 16)), load(rotated)
	const out = `"outputs":[{"name":"a"}]`
	tests := []struct {
		name   string
		recipe string
		im     *imaging.Image
		want   bool
		w, h   int // the box as it applies to the stored image
		at     int // the resize's step
	}{
		{"P3, fit inside smaller", `{"steps":[{"op":"resize","width":8,"height":6,"fit":"inside"}],` + out + `}`, p3, true, 8, 6, 0},
		{"P3, cover smaller", `{"steps":[{"op":"resize","width":8,"height":4}],` + out + `}`, p3, true, 8, 4, 0},
		{"P3, fill narrower only", `{"steps":[{"op":"resize","width":8,"height":16,"fit":"fill"}],` + out + `}`, p3, true, 8, 16, 0},
		{"oriented 6, inside", `{"steps":[{"op":"resize","width":200,"height":300,"fit":"inside"}],` + out + `}`, turned, true, 300, 200, 0},
		{"oriented 6, width only", `{"steps":[{"op":"resize","width":100}],` + out + `}`, turned, true, 0, 100, 0},
		{"oriented 6, cover at the centre", `{"steps":[{"op":"resize","width":100,"height":100,"gravity":"center"}],` + out + `}`, turned, true, 100, 100, 0},
		{"oriented 6, after auto_orient", `{"steps":[{"op":"auto_orient"},{"op":"resize","width":200,"height":300,"fit":"inside"}],` + out + `}`, turned, true, 300, 200, 1},
		{"P3, after auto_orient", `{"steps":[{"op":"auto_orient"},{"op":"resize","width":8,"height":6,"fit":"inside"}],` + out + `}`, p3, true, 8, 6, 1},
		{"auto_orient only", `{"steps":[{"op":"auto_orient"}],` + out + `}`, turned, false, 0, 0, 0},
		{"oriented 6, the only output's resize", `{"outputs":[{"name":"a","resize":{"width":200,"height":300,"fit":"inside"}}]}`, turned, true, 300, 200, 0},
		{"oriented 6, auto_orient then the only output's resize", `{"steps":[{"op":"auto_orient"}],"outputs":[{"name":"a","resize":{"width":200,"height":300,"fit":"inside"}}]}`, turned, true, 300, 200, 1},
		{"oriented 6, two outputs' resizes", `{"outputs":[{"name":"a","resize":{"width":200,"height":300,"fit":"inside"}},{"name":"b","resize":{"width":20,"height":20}}]}`, turned, false, 0, 0, 0},
		{"oriented 6, a sharpen then the output's resize", `{"steps":[{"op":"sharpen"}],"outputs":[{"name":"a","resize":{"width":200,"height":300,"fit":"inside"}}]}`, turned, false, 0, 0, 0},
		{"oriented 6, strip first", `{"steps":[{"op":"strip"},{"op":"resize","width":200,"height":300,"fit":"inside"}],` + out + `}`, turned, false, 0, 0, 0},
		{"oriented 6, cover at the north", `{"steps":[{"op":"resize","width":100,"height":100,"gravity":"north"}],` + out + `}`, turned, false, 0, 0, 0},
		{"oriented 6, enlarging", `{"steps":[{"op":"resize","width":1000,"height":1000,"fit":"inside"}],` + out + `}`, turned, false, 0, 0, 0},
		{"no profile, no orientation", `{"steps":[{"op":"resize","width":8,"height":8,"fit":"inside"}],` + out + `}`, plain, false, 0, 0, 0},
		{"P3, contain letterboxes", `{"steps":[{"op":"resize","width":8,"height":4,"fit":"contain"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, smart crop", `{"steps":[{"op":"resize","width":8,"height":4,"gravity":"smart"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, entropy crop", `{"steps":[{"op":"resize","width":8,"height":4,"gravity":"entropy"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, enlarging", `{"steps":[{"op":"resize","width":32,"height":32,"fit":"inside"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, same size", `{"steps":[{"op":"resize","width":16,"height":16,"fit":"inside"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, fill wider", `{"steps":[{"op":"resize","width":8,"height":32,"fit":"fill"}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, conditional resize", `{"steps":[{"op":"resize","width":8,"height":8,"fit":"inside","when":{"width_below":100}}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, crop first", `{"steps":[{"op":"crop","width":8,"height":8},{"op":"resize","width":4,"height":4}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, an AI step later", `{"steps":[{"op":"resize","width":8,"height":8,"fit":"inside"},{"op":"upscale","engine":"sd","factor":2}],` + out + `}`, p3, false, 0, 0, 0},
		{"P3, no steps", `{` + out + `}`, p3, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, at, got := shrinkFirst(mustRecipe(t, tt.recipe), tt.im)
			if got != tt.want {
				t.Fatalf("shrinkFirst = %v, want %v", got, tt.want)
			}
			if got && (p.Width != tt.w || p.Height != tt.h || at != tt.at) {
				t.Errorf("stored box %dx%d at step %d, want %dx%d at step %d", p.Width, p.Height, at, tt.w, tt.h, tt.at)
			}
		})
	}
}

// A photograph stored on its side (EXIF orientation 6) whose first step shrinks it is
// turned upright after that step: the output is what turning first gives (the same
// recipe anchored at the north, which never waits), to within rounding.
func TestRunOrientsAfterResize(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../imaging/testdata/photo.jpg") // stored 640x400, orientation 6
	if err != nil {
		t.Fatal(err)
	}
	render := func(before, extra string) image.Image {
		t.Helper()
		return runPNG(t, src, mustRecipe(t, `{"steps":[`+before+`{"op":"resize","width":150,"height":300,"fit":"inside"`+extra+`}],"outputs":[{"name":"a","format":"png"}]}`))
	}
	late, first := render("", ""), render("", `,"gravity":"north"`)
	if b := late.Bounds(); b.Dx() != 150 || b.Dy() != 240 || b != first.Bounds() {
		t.Fatalf("output %v (turned first: %v), want 150x240, upright", b, first.Bounds())
	}
	// The README's recipe names auto_orient first: the same.
	if b := render(`{"op":"auto_orient"},`, "").Bounds(); b != late.Bounds() {
		t.Fatalf("with auto_orient first: output %v, want %v", b, late.Bounds())
	}
	// A recipe whose only output resizes, with no steps, waits the same way.
	byOutput := runPNG(t, src, mustRecipe(t, `{"outputs":[{"name":"a","format":"png","resize":{"width":150,"height":300,"fit":"inside"}}]}`))
	if b := byOutput.Bounds(); b != late.Bounds() {
		t.Fatalf("resized by its output: %v, want %v", b, late.Bounds())
	}
	// libvips resamples one axis, rounds to 8 bits, then the other: turning swaps which
	// goes first, so single pixels may differ by a few levels, on average by a fraction.
	var worst, sum int
	for y := range 240 {
		for x := range 150 {
			if a, b := byOutput.At(x, y), late.At(x, y); a != b {
				t.Fatalf("resized by its output, pixel %d,%d is %v, want %v as resized by a step", x, y, a, b)
			}
			r1, g1, b1, _ := late.At(x, y).RGBA()
			r2, g2, b2, _ := first.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst, sum = max(worst, d, -d), sum+max(d, -d)
			}
		}
	}
	if mean := float64(sum) / (150 * 240 * 3); worst > 6 || mean > 0.5 {
		t.Errorf("turned after the resize, pixels differ from turning first by %.2f levels on average and %d at most, want at most 0.5 and 6", mean, worst)
	}
}

// withOrientation puts an EXIF segment naming orientation o right after a JPEG's SOI.
func withOrientation(jpg []byte, o int) []byte {
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, byte(o), 0, 0, 0, 0, 0, 0, 0}
	body := append([]byte("Exif\x00\x00"), tiff...)
	seg := append([]byte{0xff, 0xe1, 0, byte(len(body) + 2)}, body...)
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}

// TestShrinkFirstEveryOrientation: for all eight EXIF orientations and every fit that may
// wait, resizing the stored image with shrinkFirst's box and then turning it gives what
// turning first and resizing gives: the same size, and pixels within what a one-pixel
// shift of a centred crop and libvips' rounding move on a smooth gradient.
func TestShrinkFirstEveryOrientation(t *testing.T) {
	t.Parallel()
	for o := 1; o <= 8; o++ {
		src := withOrientation(jpegOf(t, 160, 100), o)
		for _, step := range []string{
			`{"op":"resize","width":61,"height":77,"fit":"inside"}`,
			`{"op":"resize","width":61,"height":77}`,
			`{"op":"resize","width":61,"height":77,"fit":"fill"}`,
			`{"op":"resize","width":61,"height":47,"fit":"outside"}`,
			`{"op":"resize","width":45}`,
			`{"op":"resize","height":45}`,
		} {
			r := mustRecipe(t, `{"steps":[`+step+`],"outputs":[{"name":"a","format":"png"}]}`)
			load := func() *imaging.Image {
				im, err := imaging.Load(src, imaging.LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(im.Close)
				return im
			}
			late, first := load(), load()
			if got := late.Orientation(); got != o {
				t.Fatalf("orientation %d read as %d", o, got)
			}
			p, _, early := shrinkFirst(r, late)
			if early != (o != 1) {
				t.Fatalf("orientation %d, %s: shrinkFirst = %v", o, step, early)
			}
			if !early {
				continue
			}
			if err := late.Resize(resizeOptions(p)); err != nil {
				t.Fatal(err)
			}
			if err := uprightSRGB(late); err != nil {
				t.Fatal(err)
			}
			if err := uprightSRGB(first); err != nil {
				t.Fatal(err)
			}
			if err := first.Resize(resizeOptions(r.Steps[0].Params.(*ResizeParams))); err != nil {
				t.Fatal(err)
			}
			if late.Width() != first.Width() || late.Height() != first.Height() {
				t.Fatalf("orientation %d, %s: %dx%d resizing first, %dx%d turning first", o, step, late.Width(), late.Height(), first.Width(), first.Height())
			}
			a, b := pngPixels(t, late), pngPixels(t, first)
			var worst, sum int
			for i := range a.Pix {
				d := int(a.Pix[i]) - int(b.Pix[i])
				worst, sum = max(worst, d, -d), sum+max(d, -d)
			}
			if mean := float64(sum) / float64(len(a.Pix)); worst > 8 || mean > 1.5 {
				t.Errorf("orientation %d, %s: pixels differ by %.2f on average, %d at most; want at most 1.5 and 8", o, step, mean, worst)
			}
		}
	}
}

// pngPixels encodes im as PNG and decodes it as NRGBA.
func pngPixels(t *testing.T, im *imaging.Image) *image.NRGBA {
	t.Helper()
	b, err := im.Encode(imaging.EncodeOptions{Format: imaging.PNG})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}
