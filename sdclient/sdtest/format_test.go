package sdtest

import (
	"bytes"
	"image"
	"image/color"
	"testing"

	"golang.org/x/image/webp"
)

// TestEncodeWebP decodes the stand-in's lossless WebP with a real decoder:
// every pixel's colour comes back, alpha is dropped.
func TestEncodeWebP(t *testing.T) {
	t.Parallel()
	for _, size := range []image.Point{{1, 1}, {7, 3}, {64, 33}} {
		img := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
		for y := range size.Y {
			for x := range size.X {
				img.SetNRGBA(x, y, color.NRGBA{uint8(x * 37), uint8(y * 91), uint8(x*y + 5), uint8(x * 13)})
			}
		}
		got, err := webp.Decode(bytes.NewReader(encodeWebP(img)))
		if err != nil {
			t.Fatalf("%v: decode: %v", size, err)
		}
		if got.Bounds().Size() != size {
			t.Fatalf("size: got %v, want %v", got.Bounds().Size(), size)
		}
		for y := range size.Y {
			for x := range size.X {
				want := img.NRGBAAt(x, y)
				want.A = 255
				if c := color.NRGBAModel.Convert(got.At(x, y)).(color.NRGBA); c != want {
					t.Fatalf("%v pixel (%d,%d): got %v, want %v", size, x, y, c, want)
				}
			}
		}
	}
}
