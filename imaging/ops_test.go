package imaging

import (
	"errors"
	"image"
	"image/color"
	"math"
	"testing"
)

// plain.jpg is 640x400 with a red 80x50 block in its top-left corner.

func TestAutoOrient(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "photo.jpg")
	if got := im.Orientation(); got != 6 {
		t.Fatalf("Orientation() = %d, want 6", got)
	}
	if err := im.AutoOrient(); err != nil {
		t.Fatal(err)
	}
	if im.Width() != 400 || im.Height() != 640 {
		t.Errorf("size %dx%d, want 400x640", im.Width(), im.Height())
	}
	if got := im.Orientation(); got != 1 {
		t.Errorf("Orientation() after = %d, want 1", got)
	}
	// Orientation 6: rotate 90 clockwise, so the stored top-left is now top-right.
	if p := px(t, im, 395, 5); !isRed(p) {
		t.Errorf("pixel 395,5 = %v, want red", p)
	}
	if p := px(t, im, 5, 5); isRed(p) {
		t.Errorf("pixel 5,5 = %v, want not red", p)
	}
	// A second call is a no-op.
	if err := im.AutoOrient(); err != nil || im.Width() != 400 {
		t.Errorf("second AutoOrient: %v, width %d", err, im.Width())
	}
}

// TestAutoOrientAll checks all eight EXIF orientations on a 4x2 image whose
// stored top-left pixel is red, against where that corner must land.
func TestAutoOrientAll(t *testing.T) {
	t.Parallel()
	src := solid(40, 20, white)
	fillRect(src, image.Rect(0, 0, 8, 8), red)
	data := pngOf(t, src)
	tests := []struct {
		orientation int
		w, h        int
		redX, redY  int // a pixel inside where the red corner must land
	}{
		{1, 40, 20, 2, 2},
		{2, 40, 20, 37, 2},  // mirror
		{3, 40, 20, 37, 17}, // 180
		{4, 40, 20, 2, 17},  // flip
		{5, 20, 40, 2, 2},   // transpose
		{6, 20, 40, 17, 2},  // 90 cw
		{7, 20, 40, 17, 37}, // transverse
		{8, 20, 40, 2, 37},  // 270 cw
	}
	for _, tt := range tests {
		t.Run(string(rune('0'+tt.orientation)), func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.ref.SetOrientation(tt.orientation); err != nil {
				t.Fatal(err)
			}
			if err := im.AutoOrient(); err != nil {
				t.Fatal(err)
			}
			if im.Width() != tt.w || im.Height() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", im.Width(), im.Height(), tt.w, tt.h)
			}
			if p := px(t, im, tt.redX, tt.redY); !isRed(p) {
				t.Errorf("pixel %d,%d = %v, want red", tt.redX, tt.redY, p)
			}
			red := 0
			for _, c := range [][2]int{{2, 2}, {im.Width() - 3, 2}, {2, im.Height() - 3}, {im.Width() - 3, im.Height() - 3}} {
				if isRed(px(t, im, c[0], c[1])) {
					red++
				}
			}
			if red != 1 {
				t.Errorf("%d red corners, want 1", red)
			}
		})
	}
}

func TestResizeFits(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg") // 640x400
	whiteBG := Color{255, 255, 255, 255}
	tests := []struct {
		name string
		o    ResizeOptions
		w, h int
		// optional pixel check
		at    image.Point
		check func([4]uint8) bool
	}{
		{name: "cover", o: ResizeOptions{Width: 200, Height: 200, Fit: FitCover}, w: 200, h: 200},
		{name: "default fit is cover", o: ResizeOptions{Width: 200, Height: 200}, w: 200, h: 200},
		{name: "contain", o: ResizeOptions{Width: 200, Height: 200, Fit: FitContain, Background: whiteBG}, w: 200, h: 200,
			at: image.Pt(100, 5), check: func(p [4]uint8) bool { return near(p, [4]uint8{255, 255, 255, 255}, 2) }},
		{name: "contain transparent", o: ResizeOptions{Width: 200, Height: 200, Fit: FitContain}, w: 200, h: 200,
			at: image.Pt(100, 5), check: func(p [4]uint8) bool { return p[3] == 0 }},
		{name: "contain north", o: ResizeOptions{Width: 200, Height: 200, Fit: FitContain, Gravity: GravityNorth, Background: whiteBG}, w: 200, h: 200,
			at: image.Pt(5, 5), check: isRed},
		{name: "fill", o: ResizeOptions{Width: 200, Height: 200, Fit: FitFill}, w: 200, h: 200,
			at: image.Pt(5, 5), check: isRed},
		{name: "inside", o: ResizeOptions{Width: 200, Height: 200, Fit: FitInside}, w: 200, h: 125},
		{name: "outside", o: ResizeOptions{Width: 200, Height: 200, Fit: FitOutside}, w: 320, h: 200},
		{name: "cover wide", o: ResizeOptions{Width: 300, Height: 100, Fit: FitCover}, w: 300, h: 100},
		{name: "contain wide", o: ResizeOptions{Width: 300, Height: 100, Fit: FitContain}, w: 300, h: 100},
		{name: "inside wide", o: ResizeOptions{Width: 300, Height: 100, Fit: FitInside}, w: 160, h: 100},
		{name: "outside wide", o: ResizeOptions{Width: 300, Height: 100, Fit: FitOutside}, w: 300, h: 188},
		{name: "width only", o: ResizeOptions{Width: 320}, w: 320, h: 200},
		{name: "height only", o: ResizeOptions{Height: 100, Fit: FitFill}, w: 160, h: 100},
		{name: "enlarge", o: ResizeOptions{Width: 1280, Height: 1280, Fit: FitInside}, w: 1280, h: 800},
		{name: "inside without enlargement", o: ResizeOptions{Width: 1280, Height: 1280, Fit: FitInside, WithoutEnlargement: true}, w: 640, h: 400},
		{name: "fill without enlargement", o: ResizeOptions{Width: 1000, Height: 100, Fit: FitFill, WithoutEnlargement: true}, w: 640, h: 100},
		{name: "cover without enlargement", o: ResizeOptions{Width: 1000, Height: 300, Fit: FitCover, WithoutEnlargement: true}, w: 640, h: 300},
		{name: "contain without enlargement", o: ResizeOptions{Width: 1000, Height: 1000, Fit: FitContain, WithoutEnlargement: true, Background: whiteBG}, w: 1000, h: 1000,
			at: image.Pt(180+5, 300+5), check: isRed},
		{name: "width only without enlargement", o: ResizeOptions{Width: 2000, WithoutEnlargement: true}, w: 640, h: 400},
		{name: "cover west keeps left", o: ResizeOptions{Width: 200, Height: 200, Gravity: GravityWest}, w: 200, h: 200,
			at: image.Pt(5, 5), check: isRed},
		{name: "cover east drops left", o: ResizeOptions{Width: 200, Height: 200, Gravity: GravityEast}, w: 200, h: 200,
			at: image.Pt(5, 5), check: func(p [4]uint8) bool { return !isRed(p) }},
		{name: "cover smart", o: ResizeOptions{Width: 150, Height: 150, Gravity: GravitySmart}, w: 150, h: 150},
		{name: "cover entropy", o: ResizeOptions{Width: 150, Height: 150, Gravity: GravityEntropy}, w: 150, h: 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Resize(tt.o); err != nil {
				t.Fatalf("Resize: %v", err)
			}
			if im.Width() != tt.w || im.Height() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", im.Width(), im.Height(), tt.w, tt.h)
			}
			if tt.check != nil {
				if p := px(t, im, tt.at.X, tt.at.Y); !tt.check(p) {
					t.Errorf("pixel %v = %v, fails check", tt.at, p)
				}
			}
			out, err := im.Encode(EncodeOptions{Format: PNG})
			if err != nil {
				t.Fatal(err)
			}
			info, err := Probe(out)
			if err != nil || info.Width != tt.w || info.Height != tt.h {
				t.Errorf("encoded %dx%d (%v), want %dx%d", info.Width, info.Height, err, tt.w, tt.h)
			}
		})
	}
}

func TestResizeInvalid(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name string
		o    ResizeOptions
	}{
		{"no size", ResizeOptions{}},
		{"negative", ResizeOptions{Width: -1, Height: 10}},
		{"too big", ResizeOptions{Width: MaxDimension + 1}},
		{"bad fit", ResizeOptions{Width: 10, Height: 10, Fit: "squash"}},
		{"bad gravity", ResizeOptions{Width: 10, Height: 10, Gravity: "up"}},
		{"smart needs cover", ResizeOptions{Width: 10, Height: 10, Fit: FitContain, Gravity: GravitySmart}},
		{"enlarges past max side", ResizeOptions{Width: MaxDimension, Height: MaxDimension, Fit: FitOutside}},
		{"enlarges past max pixels", ResizeOptions{Width: 20000, Height: 20000, Fit: FitFill}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Resize(tt.o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Resize error = %v, want ErrInvalidOption", err)
			}
			if im.Width() != 640 || im.Height() != 400 {
				t.Errorf("size changed to %dx%d", im.Width(), im.Height())
			}
		})
	}
}

// TestResizeCoverSliver: a cover resize of a sliver whose scaled whole would be
// over the size limits crops first, where gravity says, and gives the box.
func TestResizeCoverSliver(t *testing.T) {
	t.Parallel()
	src := solid(5, 3000, color.NRGBA{0, 0, 255, 255})
	fillRect(src, image.Rect(0, 0, 5, 1500), red)
	data := pngOf(t, src)
	for _, tt := range []struct {
		g       Gravity
		wantRed bool
	}{{GravityNorth, true}, {GravitySouth, false}, {GravityCenter, true}, {GravitySmart, false}} {
		t.Run(string(tt.g), func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Resize(ResizeOptions{Width: 120, Height: 120, Gravity: tt.g}); err != nil {
				t.Fatal(err)
			}
			if im.Width() != 120 || im.Height() != 120 {
				t.Fatalf("size %dx%d, want 120x120", im.Width(), im.Height())
			}
			if tt.g == GravitySmart {
				return // smart picks either half; the size is the point
			}
			// The centre's 5x5 source square straddles the halves: look at its top.
			if p := px(t, im, 60, 5); isRed(p) != tt.wantRed {
				t.Errorf("pixel at top = %v, want red %v", p, tt.wantRed)
			}
		})
	}
	// Outside gives the scaled whole, which is over the limits.
	im := mustLoad(t, data, LoadOptions{})
	if err := im.Resize(ResizeOptions{Width: 120, Height: 120, Fit: FitOutside}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("outside: %v, want ErrInvalidOption", err)
	}
}

// TestResizePremultiplied: transparent pixels are bright green; without
// premultiplication their colour would bleed into the red edge.
func TestResizePremultiplied(t *testing.T) {
	t.Parallel()
	src := solid(200, 100, color.NRGBA{0, 255, 0, 0})
	fillRect(src, image.Rect(0, 0, 100, 100), red)
	im := mustLoad(t, pngOf(t, src), LoadOptions{})
	if err := im.Resize(ResizeOptions{Width: 37, Height: 37, Fit: FitFill}); err != nil {
		t.Fatal(err)
	}
	for x := 14; x < 23; x++ {
		p := px(t, im, x, 18)
		if p[3] > 20 && p[1] > 40 {
			t.Errorf("pixel %d,18 = %v: green bled into the edge", x, p)
		}
	}
	if p := px(t, im, 2, 18); !isRed(p) {
		t.Errorf("pixel 2,18 = %v, want red", p)
	}
	if p := px(t, im, 35, 18); p[3] > 5 {
		t.Errorf("pixel 35,18 = %v, want transparent", p)
	}
}

// TestAlphaDoesNotBleed: transparent pixels are bright green; without
// premultiplied alpha, blur and rotate would mix green into the red edge.
func TestAlphaDoesNotBleed(t *testing.T) {
	t.Parallel()
	src := solid(200, 100, color.NRGBA{0, 255, 0, 0})
	fillRect(src, image.Rect(0, 0, 100, 100), red)
	data := pngOf(t, src)
	tests := []struct {
		name string
		op   func(im *Image) error
	}{
		{"blur", func(im *Image) error { return im.Blur(3) }},
		{"rotate", func(im *Image) error { return im.Rotate(10, Color{}) }},
		{"resize up", func(im *Image) error { return im.Resize(ResizeOptions{Width: 600}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := tt.op(im); err != nil {
				t.Fatal(err)
			}
			bled := 0
			y := im.Height() / 2
			for x := 0; x < im.Width(); x += 2 {
				if p := px(t, im, x, y); p[3] > 20 && p[1] > 60 {
					bled++
				}
			}
			if bled > 0 {
				t.Errorf("%d pixels on row %d show green from transparent pixels", bled, y)
			}
		})
	}
}

func TestCrop(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name       string
		x, y, w, h int
		wantErr    bool
		redAt00    bool
	}{
		{"corner", 0, 0, 50, 40, false, true},
		{"middle", 200, 100, 100, 50, false, false},
		{"whole", 0, 0, 640, 400, false, true},
		{"to edge", 600, 300, 40, 100, false, false},
		{"outside", 600, 300, 41, 100, true, false},
		{"negative", -1, 0, 10, 10, true, false},
		{"empty", 0, 0, 0, 10, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			err := im.Crop(tt.x, tt.y, tt.w, tt.h)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("Crop error = %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != tt.w || im.Height() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", im.Width(), im.Height(), tt.w, tt.h)
			}
			if got := isRed(px(t, im, 1, 1)); got != tt.redAt00 {
				t.Errorf("red at 1,1 = %v, want %v", got, tt.redAt00)
			}
		})
	}
}

func TestCropGravity(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name    string
		w, h    int
		g       Gravity
		wantW   int
		wantH   int
		redAt   image.Point // (-1,-1): no red expected at 1,1
		wantErr bool
	}{
		{"northwest", 100, 100, GravityNorthWest, 100, 100, image.Pt(1, 1), false},
		{"center", 100, 100, GravityCenter, 100, 100, image.Pt(-1, -1), false},
		{"default center", 100, 100, "", 100, 100, image.Pt(-1, -1), false},
		{"north", 640, 100, GravityNorth, 640, 100, image.Pt(1, 1), false},
		{"southeast", 100, 100, GravitySouthEast, 100, 100, image.Pt(-1, -1), false},
		{"clamped", 1000, 1000, GravityCenter, 640, 400, image.Pt(1, 1), false},
		{"smart", 200, 200, GravitySmart, 200, 200, image.Pt(-2, -2), false},
		{"bad gravity", 10, 10, "middle", 0, 0, image.Point{}, true},
		{"bad size", 0, 10, GravityCenter, 0, 0, image.Point{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			err := im.CropGravity(tt.w, tt.h, tt.g)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("CropGravity error = %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != tt.wantW || im.Height() != tt.wantH {
				t.Errorf("size %dx%d, want %dx%d", im.Width(), im.Height(), tt.wantW, tt.wantH)
			}
			switch tt.redAt.X {
			case -1:
				if p := px(t, im, 1, 1); isRed(p) {
					t.Errorf("pixel 1,1 = %v, want not red", p)
				}
			case -2:
			default:
				if p := px(t, im, tt.redAt.X, tt.redAt.Y); !isRed(p) {
					t.Errorf("pixel %v = %v, want red", tt.redAt, p)
				}
			}
		})
	}
}

// TestTrimSpeck: libvips finds the border through a 3x3 median, which an image
// under 3 pixels on a side cannot hold; such an image is left as it is.
func TestTrimSpeck(t *testing.T) {
	t.Parallel()
	for _, sz := range []image.Point{{1, 1}, {2, 3}, {9, 1}, {1, 9}} {
		src := solid(sz.X, sz.Y, color.NRGBA{255, 255, 255, 255})
		src.Set(sz.X-1, sz.Y-1, red)
		im := mustLoad(t, pngOf(t, src), LoadOptions{})
		if err := im.Trim(10); err != nil {
			t.Errorf("%v: %v", sz, err)
			continue
		}
		if im.Width() != sz.X || im.Height() != sz.Y {
			t.Errorf("%v: trimmed to %dx%d", sz, im.Width(), im.Height())
		}
	}
	// 3x3 is enough for libvips.
	src := solid(3, 3, color.NRGBA{255, 255, 255, 255})
	src.Set(2, 2, red)
	im := mustLoad(t, pngOf(t, src), LoadOptions{})
	if err := im.Trim(10); err != nil {
		t.Fatal(err)
	}
}

func TestTrim(t *testing.T) {
	t.Parallel()
	onWhite := solid(200, 100, white)
	fillRect(onWhite, image.Rect(60, 40, 110, 70), black)
	onTransparent := solid(200, 100, color.NRGBA{0, 0, 0, 0})
	fillRect(onTransparent, image.Rect(30, 10, 70, 30), blue)
	noisy := solid(200, 100, color.NRGBA{250, 250, 250, 255})
	fillRect(noisy, image.Rect(0, 0, 1, 1), color.NRGBA{255, 255, 255, 255})
	fillRect(noisy, image.Rect(100, 20, 150, 80), red)
	tests := []struct {
		name      string
		data      []byte
		threshold float64
		w, h      int
		check     func([4]uint8) bool
	}{
		{"white border", pngOf(t, onWhite), 10, 50, 30, func(p [4]uint8) bool { return near(p, [4]uint8{0, 0, 0, 255}, 10) }},
		{"white border jpeg", jpegOf(t, onWhite, 95), 20, 50, 30, func(p [4]uint8) bool { return near(p, [4]uint8{0, 0, 0, 255}, 30) }},
		{"transparent border", pngOf(t, onTransparent), 10, 40, 20, func(p [4]uint8) bool { return p[3] == 255 && p[2] > 150 }},
		{"near colours within threshold", pngOf(t, noisy), 10, 50, 60, isRed},
		{"all background", pngOf(t, solid(50, 40, white)), 10, 50, 40, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, tt.data, LoadOptions{})
			if err := im.Trim(tt.threshold); err != nil {
				t.Fatal(err)
			}
			if d := im.Width() - tt.w; d < -1 || d > 1 || im.Height()-tt.h < -1 || im.Height()-tt.h > 1 {
				t.Errorf("size %dx%d, want %dx%d (+-1)", im.Width(), im.Height(), tt.w, tt.h)
			}
			if tt.check != nil {
				if p := px(t, im, im.Width()/2, im.Height()/2); !tt.check(p) {
					t.Errorf("centre pixel = %v, fails check", p)
				}
			}
		})
	}
	t.Run("invalid threshold", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		for _, th := range []float64{-1, 256, math.NaN()} {
			if err := im.Trim(th); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Trim(%v) error = %v, want ErrInvalidOption", th, err)
			}
		}
	})
}

func TestPad(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name                     string
		top, right, bottom, left int
		bg                       Color
		w, h                     int
		at                       image.Point
		want                     [4]uint8
		wantErr                  bool
	}{
		{"white", 10, 20, 30, 40, Color{255, 255, 255, 255}, 700, 440, image.Pt(5, 5), [4]uint8{255, 255, 255, 255}, false},
		{"blue right", 0, 20, 0, 0, Color{0, 0, 255, 255}, 660, 400, image.Pt(650, 200), [4]uint8{0, 0, 255, 255}, false},
		{"transparent", 10, 10, 10, 10, Color{}, 660, 420, image.Pt(2, 2), [4]uint8{0, 0, 0, 0}, false},
		{"image moved", 10, 0, 0, 40, Color{255, 255, 255, 255}, 680, 410, image.Pt(45, 15), [4]uint8{220, 20, 20, 255}, false},
		{"zero", 0, 0, 0, 0, Color{}, 640, 400, image.Pt(1, 1), [4]uint8{220, 20, 20, 255}, false},
		{"negative", -1, 0, 0, 0, Color{}, 0, 0, image.Point{}, [4]uint8{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			err := im.Pad(tt.top, tt.right, tt.bottom, tt.left, tt.bg)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("Pad error = %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != tt.w || im.Height() != tt.h {
				t.Errorf("size %dx%d, want %dx%d", im.Width(), im.Height(), tt.w, tt.h)
			}
			if p := px(t, im, tt.at.X, tt.at.Y); !near(p, tt.want, 12) {
				t.Errorf("pixel %v = %v, want %v", tt.at, p, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name     string
		angle    float64
		bg       Color
		w, h     int
		tol      int
		redAt    image.Point
		bgAt     image.Point
		wantBGPx [4]uint8
	}{
		{"90", 90, Color{}, 400, 640, 0, image.Pt(395, 5), image.Pt(-1, -1), [4]uint8{}},
		{"-90", -90, Color{}, 400, 640, 0, image.Pt(5, 635), image.Pt(-1, -1), [4]uint8{}},
		{"180", 180, Color{}, 640, 400, 0, image.Pt(635, 395), image.Pt(-1, -1), [4]uint8{}},
		{"270", 270, Color{}, 400, 640, 0, image.Pt(5, 635), image.Pt(-1, -1), [4]uint8{}},
		{"450", 450, Color{}, 400, 640, 0, image.Pt(395, 5), image.Pt(-1, -1), [4]uint8{}},
		{"360", 360, Color{}, 640, 400, 0, image.Pt(5, 5), image.Pt(-1, -1), [4]uint8{}},
		// (640+400)/sqrt(2) = 735.4
		{"45 white", 45, Color{255, 255, 255, 255}, 736, 736, 2, image.Pt(-1, -1), image.Pt(3, 3), [4]uint8{255, 255, 255, 255}},
		{"30 transparent", 30, Color{}, 754, 666, 2, image.Pt(-1, -1), image.Pt(3, 3), [4]uint8{0, 0, 0, 0}},
		{"30 half blue", 30, Color{0, 0, 255, 128}, 754, 666, 2, image.Pt(-1, -1), image.Pt(3, 3), [4]uint8{0, 0, 255, 128}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Rotate(tt.angle, tt.bg); err != nil {
				t.Fatal(err)
			}
			if abs(im.Width()-tt.w) > tt.tol || abs(im.Height()-tt.h) > tt.tol {
				t.Errorf("size %dx%d, want %dx%d (+-%d)", im.Width(), im.Height(), tt.w, tt.h, tt.tol)
			}
			if tt.redAt.X >= 0 {
				if p := px(t, im, tt.redAt.X, tt.redAt.Y); !isRed(p) {
					t.Errorf("pixel %v = %v, want red", tt.redAt, p)
				}
			}
			if tt.bgAt.X >= 0 {
				if p := px(t, im, tt.bgAt.X, tt.bgAt.Y); !near(p, tt.wantBGPx, 3) {
					t.Errorf("pixel %v = %v, want background %v", tt.bgAt, p, tt.wantBGPx)
				}
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		if err := im.Rotate(math.Inf(1), Color{}); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Rotate(+Inf) error = %v, want ErrInvalidOption", err)
		}
	})
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestFlip(t *testing.T) {
	t.Parallel()
	data := readFile(t, "plain.jpg")
	tests := []struct {
		name       string
		h, v       bool
		redX, redY int
	}{
		{"none", false, false, 5, 5},
		{"horizontal", true, false, 635, 5},
		{"vertical", false, true, 5, 395},
		{"both", true, true, 635, 395},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Flip(tt.h, tt.v); err != nil {
				t.Fatal(err)
			}
			if im.Width() != 640 || im.Height() != 400 {
				t.Errorf("size %dx%d, want 640x400", im.Width(), im.Height())
			}
			if p := px(t, im, tt.redX, tt.redY); !isRed(p) {
				t.Errorf("pixel %d,%d = %v, want red", tt.redX, tt.redY, p)
			}
		})
	}
}

// edge is a 100x100 image, black on the left half, white on the right.
func edge(t *testing.T) []byte {
	img := solid(100, 100, white)
	fillRect(img, image.Rect(0, 0, 50, 100), black)
	return pngOf(t, img)
}

func TestBlurAndSharpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		op      func(im *Image) error
		wantErr bool
		// the pixel just left of the edge
		check func([4]uint8) bool
	}{
		{"blur", func(im *Image) error { return im.Blur(3) }, false, func(p [4]uint8) bool { return p[0] > 60 && p[0] < 200 }},
		{"blur tiny", func(im *Image) error { return im.Blur(0.3) }, false, func(p [4]uint8) bool { return p[0] < 40 }},
		{"blur zero", func(im *Image) error { return im.Blur(0) }, true, nil},
		{"blur huge", func(im *Image) error { return im.Blur(5000) }, true, nil},
		{"sharpen", func(im *Image) error { return im.Sharpen(1) }, false, func(p [4]uint8) bool { return p[0] < 10 }},
		{"sharpen zero", func(im *Image) error { return im.Sharpen(0) }, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, edge(t), LoadOptions{})
			err := tt.op(im)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("error = %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != 100 || im.Height() != 100 {
				t.Errorf("size %dx%d, want 100x100", im.Width(), im.Height())
			}
			if p := px(t, im, 49, 50); !tt.check(p) {
				t.Errorf("pixel 49,50 = %v, fails check", p)
			}
			if p := px(t, im, 5, 50); !near(p, [4]uint8{0, 0, 0, 255}, 3) {
				t.Errorf("pixel 5,50 = %v, want black", p)
			}
		})
	}
}

func TestSharpenRaisesSharpness(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "plain.jpg")
	before, err := im.Sharpness()
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Sharpen(1.5); err != nil {
		t.Fatal(err)
	}
	after, err := im.Sharpness()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("sharpness after sharpen %.1f, want more than %.1f", after, before)
	}
}

func TestFlatten(t *testing.T) {
	t.Parallel()
	data := readFile(t, "alpha.png") // transparent, red disc in the centre, half-transparent blue bar at y 170..190
	tests := []struct {
		name   string
		bg     Color
		corner [4]uint8
		bar    [4]uint8
	}{
		{"white", Color{255, 255, 255, 255}, [4]uint8{255, 255, 255, 255}, [4]uint8{137, 147, 227, 255}},
		{"black", Color{0, 0, 0, 255}, [4]uint8{0, 0, 0, 255}, [4]uint8{10, 20, 100, 255}},
		{"alpha ignored", Color{0, 255, 0, 0}, [4]uint8{0, 255, 0, 255}, [4]uint8{10, 147, 100, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := im.Flatten(tt.bg); err != nil {
				t.Fatal(err)
			}
			if im.HasAlpha() {
				t.Errorf("HasAlpha() = true after Flatten")
			}
			if p := px(t, im, 2, 2); !near(p, tt.corner, 2) {
				t.Errorf("corner = %v, want %v", p, tt.corner)
			}
			if p := px(t, im, 150, 100); !isRed(p) {
				t.Errorf("centre = %v, want red", p)
			}
			if p := px(t, im, 10, 180); !near(p, tt.bar, 4) {
				t.Errorf("bar = %v, want %v", p, tt.bar)
			}
		})
	}
	t.Run("no alpha is a no-op", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		if err := im.Flatten(Color{A: 255}); err != nil {
			t.Fatal(err)
		}
		if p := px(t, im, 5, 5); !isRed(p) {
			t.Errorf("pixel = %v, want red", p)
		}
	})
}

func TestComposite(t *testing.T) {
	t.Parallel()
	base := readFile(t, "plain.jpg")
	mark := pngOf(t, solid(100, 50, blue))
	isBlue := func(p [4]uint8) bool { return p[2] > 180 && p[0] < 60 && p[1] < 80 }
	tests := []struct {
		name    string
		g       Gravity
		dx, dy  int
		opacity float64
		in, out image.Point // a pixel inside and one just outside the overlay
		check   func([4]uint8) bool
		wantErr bool
	}{
		{"northwest", GravityNorthWest, 0, 0, 1, image.Pt(2, 2), image.Pt(102, 2), isBlue, false},
		{"southeast margin", GravitySouthEast, 10, 20, 1, image.Pt(640-10-2, 400-20-2), image.Pt(640-5, 400-5), isBlue, false},
		{"center", GravityCenter, 0, 0, 0, image.Pt(320, 200), image.Pt(320-55, 200), isBlue, false},
		{"east offset", GravityEast, 5, 0, 1, image.Pt(640-6, 200), image.Pt(640-2, 200), isBlue, false},
		{"north offset", GravityNorth, 0, 30, 1, image.Pt(320, 31), image.Pt(320, 28), isBlue, false},
		{"half opacity", GravityNorthWest, 200, 200, 0.5, image.Pt(250, 220), image.Pt(150, 150),
			func(p [4]uint8) bool { return p[2] > 100 && p[2] < 220 && p[0] > 50 }, false},
		{"bad opacity", GravityCenter, 0, 0, 2, image.Point{}, image.Point{}, nil, true},
		{"smart gravity", GravitySmart, 0, 0, 1, image.Point{}, image.Point{}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, base, LoadOptions{})
			over := mustLoad(t, mark, LoadOptions{})
			err := im.Composite(over, tt.g, tt.dx, tt.dy, tt.opacity)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("Composite error = %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != 640 || im.Height() != 400 || im.HasAlpha() {
				t.Errorf("size %dx%d alpha %v, want 640x400 without alpha", im.Width(), im.Height(), im.HasAlpha())
			}
			if p := px(t, im, tt.in.X, tt.in.Y); !tt.check(p) {
				t.Errorf("inside pixel %v = %v, fails check", tt.in, p)
			}
			if p := px(t, im, tt.out.X, tt.out.Y); isBlue(p) {
				t.Errorf("outside pixel %v = %v, want not blue", tt.out, p)
			}
			// The overlay itself is untouched.
			if over.Width() != 100 || over.HasAlpha() {
				t.Errorf("overlay changed: %dx%d alpha %v", over.Width(), over.Height(), over.HasAlpha())
			}
		})
	}
	t.Run("overlay with alpha onto alpha", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "alpha.png")
		over := mustLoad(t, pngOf(t, solid(20, 20, blue)), LoadOptions{})
		if err := im.Composite(over, GravityNorthWest, 0, 0, 1); err != nil {
			t.Fatal(err)
		}
		if !im.HasAlpha() {
			t.Errorf("alpha lost")
		}
		if p := px(t, im, 5, 5); !isBlue(p) || p[3] != 255 {
			t.Errorf("pixel 5,5 = %v, want opaque blue", p)
		}
		if p := px(t, im, 50, 5); p[3] != 0 {
			t.Errorf("pixel 50,5 = %v, want transparent", p)
		}
	})
	t.Run("nil overlay", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		if err := im.Composite(nil, GravityCenter, 0, 0, 1); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("error = %v, want ErrInvalidOption", err)
		}
	})
}

func TestToSRGB(t *testing.T) {
	t.Parallel()
	t.Run("cmyk", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "cmyk.jpg")
		if b := im.ref.Bands(); b != 4 {
			t.Fatalf("cmyk bands = %d, want 4", b)
		}
		if err := im.ToSRGB(); err != nil {
			t.Fatal(err)
		}
		if b := im.ref.Bands(); b != 3 {
			t.Errorf("bands = %d, want 3", b)
		}
		if im.HasAlpha() {
			t.Errorf("HasAlpha() = true, want false")
		}
		// The red block survives the CMYK round trip, roughly.
		if p := px(t, im, 3, 3); p[0] < 150 || p[1] > 100 || p[2] > 100 {
			t.Errorf("pixel 3,3 = %v, want reddish", p)
		}
		out, err := im.Encode(EncodeOptions{Format: JPEG})
		if err != nil {
			t.Fatal(err)
		}
		back := mustLoad(t, out, LoadOptions{})
		if b := back.ref.Bands(); b != 3 {
			t.Errorf("encoded bands = %d, want 3", b)
		}
	})
	t.Run("srgb unchanged", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		if err := im.ToSRGB(); err != nil {
			t.Fatal(err)
		}
		if p := px(t, im, 5, 5); !near(p, [4]uint8{230, 20, 20, 255}, 12) {
			t.Errorf("pixel = %v, want about 230,20,20", p)
		}
	})
	t.Run("alpha kept", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "alpha.png")
		if err := im.ToSRGB(); err != nil {
			t.Fatal(err)
		}
		if !im.HasAlpha() {
			t.Errorf("HasAlpha() = false, want true")
		}
	})
}

func TestStrip(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "photo.jpg")
	if !im.ref.HasExif() {
		t.Fatalf("photo.jpg has no EXIF to strip")
	}
	if err := im.Strip(); err != nil {
		t.Fatal(err)
	}
	if im.ref.HasExif() {
		t.Errorf("EXIF still present after Strip")
	}
	if im.ref.HasICCProfile() {
		t.Errorf("ICC still present after Strip")
	}
	if got := im.Orientation(); got != 6 {
		t.Errorf("Orientation() = %d, want 6 (still pending)", got)
	}
}
