package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"runtime"
	"testing"
)

// Tests of the libvips mask helpers in mask.go.

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
