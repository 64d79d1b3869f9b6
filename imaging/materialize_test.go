package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// greyPNG is a w x h grey PNG with a gradient, for the images Materialize keeps as TIFF.
func greyPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rgba16PNG is a 16-bit RGBA PNG: four bands of ushort, which Materialize computes in
// place like 8-bit ones.
func rgba16PNG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 211), G: uint16(y * 307), B: uint16((x + y) * 101), A: uint16(0xffff - x*97)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMaterialize(t *testing.T) {
	t.Parallel()
	sources := map[string][]byte{"grey.png": greyPNG(t, 300, 200), "rgba16.png": rgba16PNG(t, 300, 200)}
	for _, name := range []string{"photo.jpg", "alpha.png", "photo.webp", "cmyk.jpg"} {
		sources[name] = readFile(t, name)
	}
	for name, data := range sources {
		t.Run(name, func(t *testing.T) {
			im, err := Load(data, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if err := im.Resize(ResizeOptions{Width: 100, Height: 100, Fit: FitInside}); err != nil {
				t.Fatal(err)
			}
			// Every pixel as the lazy pipeline makes it, from a copy.
			c, err := im.Copy()
			if err != nil {
				t.Fatal(err)
			}
			before, err := c.ref.ToBytes()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			w, h, alpha := im.Width(), im.Height(), im.HasAlpha()
			if err := im.Materialize(); err != nil {
				t.Fatal(err)
			}
			after, err := im.ref.ToBytes()
			if err != nil {
				t.Fatal(err)
			}
			if im.Width() != w || im.Height() != h || im.HasAlpha() != alpha || !bytes.Equal(before, after) {
				t.Errorf("after: %dx%d alpha %v, pixels equal %v; want %dx%d alpha %v, the same pixels", im.Width(), im.Height(), im.HasAlpha(), bytes.Equal(before, after), w, h, alpha)
			}
			for range 2 {
				data, err := im.Encode(EncodeOptions{Format: PNG})
				if err != nil {
					t.Fatal(err)
				}
				if info, err := Probe(data); err != nil || info.Width != w {
					t.Errorf("encode after materialize: %+v %v", info, err)
				}
			}
			if im.SourceFormat() == TIFF {
				t.Error("source format became TIFF")
			}
		})
	}
	t.Run("truncated source", func(t *testing.T) {
		im := mustLoad(t, truncatedPNG(t), LoadOptions{})
		if err := im.Materialize(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})
}

// lazyJPEG loads data as Load does a JPEG larger than libvips' disc threshold: left to
// libvips' random-access loader, decoded as the pipeline first reads pixels.
func lazyJPEG(t *testing.T, data []byte, shrink int) *Image {
	t.Helper()
	ref, _, tidied, err := loadHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = decodeJPEG(ref, tidied, shrink, 1); err != nil {
		t.Fatal(err)
	}
	origin, err := ref.Copy()
	if err != nil {
		t.Fatal(err)
	}
	im := &Image{ref: ref, src: JPEG, data: tidied, origin: origin}
	t.Cleanup(im.Close)
	return im
}

// TestMaterializeOutlivesItsSource: the image Materialize keeps must not point back into
// the pipeline it was computed from. libvips hands every image downstream of a loader a
// pointer to the loader's image, for progress signals, without a reference: kept in the
// materialized image (and the copy Materialize takes of it) past the loader's end, the
// next libvips sink read freed memory and crashed. Here the loader is libvips' lazy
// JPEG one and the pipeline reduces with reduceWidth, whose image ends before the
// loader's.
func TestMaterializeOutlivesItsSource(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, noise(400, 250, false), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		im := lazyJPEG(t, buf.Bytes(), 2)
		if inMemory(im.ref) {
			t.Fatal("the JPEG was decoded by Load; want it left to libvips")
		}
		// Read first, as a recipe's analysis does: libvips decodes the whole source.
		if _, err := im.Sharpness(); err != nil {
			t.Fatal(err)
		}
		if err := im.Resize(ResizeOptions{Width: 125, Height: 125, Fit: FitInside}); err != nil {
			t.Fatal(err)
		}
		if err := im.Materialize(); err != nil {
			t.Fatal(err)
		}
		for _, f := range []Format{PNG, JPEG, WebP} {
			if _, err := im.Encode(EncodeOptions{Format: f}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
