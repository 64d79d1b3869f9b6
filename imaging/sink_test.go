package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"slices"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// noise is a w x h image of pseudo-random pixels, colour or grey, with a gradient under
// it: hard for a JPEG encoder, so that a difference in any table shows in the bytes.
func noise(w, h int, grey bool) image.Image {
	var m image.Image
	n := func(x, y, c int) uint8 { return uint8((x*7+y*3)/4 + (x*x*31+y*17+c*101+x*y)%61) }
	if grey {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				g.Pix[y*g.Stride+x] = n(x, y, 0)
			}
		}
		m = g
	} else {
		c := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				i := y*c.Stride + 4*x
				c.Pix[i], c.Pix[i+1], c.Pix[i+2], c.Pix[i+3] = n(x, y, 0), n(x, y, 1), n(x, y, 2), 255
			}
		}
		m = c
	}
	return m
}

// noiseImage loads noise(w, h, grey) as an 8-bit sRGB (or grey) image without alpha.
func noiseImage(t testing.TB, w, h int, grey bool) *Image {
	t.Helper()
	im := mustLoad(t, pngOf(t, noise(w, h, grey)), LoadOptions{})
	if im.HasAlpha() {
		if err := im.Flatten(Color{R: 255, G: 255, B: 255, A: 255}); err != nil {
			t.Fatal(err)
		}
	}
	return im
}

// TestEncodeJPEGIsLibvips: encodeJPEG writes what libvips' jpegsave writes with Encode's
// options, byte for byte, for colour and grey images of sizes that are and are not whole
// strips and MCUs, across the quality scale and on both sides of 90, where chroma stops
// being subsampled; from images in memory and from lazy pipelines.
func TestEncodeJPEGIsLibvips(t *testing.T) {
	t.Parallel()
	sizes := []Size{{1, 1}, {7, 3}, {16, 16}, {17, 33}, {100, 1}, {1, 100}, {803, 517}}
	qualities := []int{1, 25, 50, 80, 89, 90, 95, 100}
	for _, grey := range []bool{false, true} {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("grey %v %dx%d", grey, sz.Width, sz.Height), func(t *testing.T) {
				t.Parallel()
				im := noiseImage(t, sz.Width, sz.Height, grey)
				if !canEncodeJPEG(im.ref) {
					t.Fatalf("canEncodeJPEG(%d bands) = false", im.ref.Bands())
				}
				for _, q := range qualities {
					sameJPEG(t, im.ref, q)
				}
			})
		}
	}
	t.Run("photo resized lazily", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "display-p3.jpg")
		for _, step := range []func() error{im.AutoOrient, im.ToSRGB, func() error {
			return im.Resize(ResizeOptions{Width: 333, Height: 333, Fit: FitCover})
		}} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		if inMemory(im.ref) {
			t.Fatal("the resized image is in memory; want a lazy pipeline")
		}
		sameJPEG(t, im.ref, 80)
		// And through Encode, which strips.
		got, err := im.Encode(EncodeOptions{Format: JPEG})
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := im.ref.ExportJpeg(jpegParams(DefaultJPEGQuality, true))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Encode wrote %d bytes, libvips %d, not the same", len(got), len(want))
		}
	})
}

// sameJPEG fails t unless encodeJPEG and libvips write ref alike at quality q.
func sameJPEG(t *testing.T, ref *vips.ImageRef, q int) {
	t.Helper()
	got, err := encodeJPEG(ref, q)
	if err != nil {
		t.Fatalf("q%d: %v", q, err)
	}
	want, _, err := ref.ExportJpeg(jpegParams(q, true))
	if err != nil {
		t.Fatalf("q%d libvips: %v", q, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("q%d: encodeJPEG wrote %d bytes, libvips %d, not the same", q, len(got), len(want))
	}
}

func TestCanEncodeJPEG(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		im   func() *Image
		want bool
	}{
		{"srgb", func() *Image { return noiseImage(t, 20, 10, false) }, true},
		{"grey", func() *Image { return noiseImage(t, 20, 10, true) }, true},
		{"alpha", func() *Image { return loadFile(t, "alpha.png") }, false},
		{"cmyk", func() *Image { return loadFile(t, "cmyk.jpg") }, false},
		{"16-bit", func() *Image { return mustLoad(t, rgba16PNG(t, 20, 10), LoadOptions{}) }, false},
	}
	for _, tt := range tests {
		if got := canEncodeJPEG(tt.im().ref); got != tt.want {
			t.Errorf("%s: canEncodeJPEG = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestEncodeJPEGCorruptSource: a source that fails mid-image fails the encoder cleanly,
// again on a second try, and leaks nothing (TestSinkNoLeaks).
func TestEncodeJPEGCorruptSource(t *testing.T) {
	t.Parallel()
	im := mustLoad(t, truncatedPNG(t), LoadOptions{})
	if err := im.Flatten(Color{R: 255, G: 255, B: 255, A: 255}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if data, err := encodeJPEG(im.ref, 80); err == nil {
			t.Errorf("try %d: encodeJPEG wrote %d bytes of a truncated source, want an error", i+1, len(data))
		}
	}
}

// testJPEGs are JPEGs of every kind the loader meets: EXIF-oriented, CMYK, with an ICC
// profile, progressive, grey, three scans of one component each.
func testJPEGs(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{"photo.jpg", "cmyk.jpg", "display-p3.jpg", "plain.jpg", "sequential-3-scans.jpg"} {
		files[name] = readFile(t, name)
	}
	var grey bytes.Buffer
	if err := jpeg.Encode(&grey, noise(203, 121, true), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	files["grey"] = grey.Bytes()
	src := noiseImage(t, 309, 211, false)
	p := jpegParams(90, true)
	p.Interlace = true
	prog, _, err := src.ref.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	files["progressive"] = prog
	return files
}

// TestLoadJPEGIsLibvips: decodeJPEG's image, at every shrink, is libvips' own
// random-access load of the same bytes: size, bands, interpretation, every pixel and
// every metadata field; in memory, or, past maxBytes or in several scans, left to
// libvips.
func TestLoadJPEGIsLibvips(t *testing.T) {
	t.Parallel()
	for name, data := range testJPEGs(t) {
		for _, shrink := range []int{1, 2, 4, 8} {
			for _, max := range []uint64{discThreshold(), 1} {
				t.Run(fmt.Sprintf("%s by %d max %d", name, shrink, max), func(t *testing.T) {
					t.Parallel()
					ref, _, tidied, err := loadHeader(data)
					if err != nil {
						t.Fatal(err)
					}
					got, err := decodeJPEG(ref, tidied, shrink, max)
					if err != nil {
						t.Fatal(err)
					}
					defer got.Close()
					streams := jpegCoefficientBytes(tidied) == 0
					if mem := inMemory(got); mem != (max > 1 && streams) {
						t.Errorf("in memory %v, want %v (libjpeg streams it: %v)", mem, max > 1 && streams, streams)
					}
					p := importParams()
					p.JpegShrinkFactor.Set(shrink)
					want, err := vips.LoadImageFromBuffer(tidied, p)
					if err != nil {
						t.Fatal(err)
					}
					defer want.Close()
					sameImage(t, got, want)
				})
			}
		}
	}
	t.Run("corrupt", func(t *testing.T) {
		t.Parallel()
		ref, _, tidied, err := loadHeader(readFile(t, "truncated.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeJPEG(ref, tidied, 1, discThreshold()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeJPEG = %v, want ErrCorrupt", err)
			if err == nil {
				got.Close()
			}
		}
	})
}

// sameImage fails t unless got and want are alike in geometry, pixels and metadata.
func sameImage(t *testing.T, got, want *vips.ImageRef) {
	t.Helper()
	if got.Width() != want.Width() || got.Height() != want.Height() || got.Bands() != want.Bands() ||
		got.Interpretation() != want.Interpretation() || got.BandFormat() != want.BandFormat() {
		t.Fatalf("got %dx%d %d bands %v %v, want %dx%d %d bands %v %v", got.Width(), got.Height(), got.Bands(),
			got.Interpretation(), got.BandFormat(), want.Width(), want.Height(), want.Bands(), want.Interpretation(), want.BandFormat())
	}
	gp, err := got.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	wp, err := want.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gp, wp) {
		t.Error("pixels differ")
	}
	gf, wf := got.ImageFields(), want.ImageFields()
	slices.Sort(gf)
	slices.Sort(wf)
	if !slices.Equal(gf, wf) {
		t.Errorf("fields %v, want %v", gf, wf)
	}
	if got.Orientation() != want.Orientation() || !bytes.Equal(got.GetICCProfile(), want.GetICCProfile()) ||
		!bytes.Equal(got.GetBlob("exif-data"), want.GetBlob("exif-data")) {
		t.Errorf("orientation %d, ICC %d bytes, EXIF %d bytes; want %d, %d, %d", got.Orientation(), len(got.GetICCProfile()),
			len(got.GetBlob("exif-data")), want.Orientation(), len(want.GetICCProfile()), len(want.GetBlob("exif-data")))
	}
}

// TestSinkNoLeaks: the sinks release what they make, on success and on failure.
func TestSinkNoLeaks(t *testing.T) {
	good := readFile(t, "display-p3.jpg")
	bad := readFile(t, "truncated.jpg")
	png := truncatedPNG(t)
	cycle := func() {
		if im, err := Load(good, LoadOptions{ShrinkTo: Size{Width: 100, Height: 100}}); err == nil {
			_ = im.Resize(ResizeOptions{Width: 90, Height: 90, Fit: FitCover})
			_ = im.Materialize()
			_, _ = im.Encode(EncodeOptions{Format: JPEG})
			im.Close()
		}
		if im, err := Load(bad, LoadOptions{}); err == nil {
			im.Close()
		}
		if im, err := Load(png, LoadOptions{}); err == nil {
			_ = im.Flatten(Color{R: 255, G: 255, B: 255, A: 255})
			_, _ = encodeJPEG(im.ref, 80)
			_ = im.Materialize()
			im.Close()
		}
	}
	checkNoLeaks(t, cycle, 30)
}
