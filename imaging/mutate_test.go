package imaging

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// progressiveJPEG re-encodes a testdata JPEG as progressive.
func progressiveJPEG(t *testing.T, name string) []byte {
	t.Helper()
	ref, err := vips.LoadImageFromBuffer(readFile(t, name), vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	p := vips.NewJpegExportParams()
	p.Interlace = true
	p.Quality = 85
	b, _, err := ref.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mutate damages a copy of b the way transfers and broken encoders do: flipped
// bytes, a cut, a run copied over another place.
func mutate(rng *rand.Rand, b []byte) ([]byte, string) {
	b = append([]byte(nil), b...)
	switch rng.IntN(4) {
	case 0:
		n := 1 + rng.IntN(16)
		for range n {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		return b, fmt.Sprintf("%d bytes flipped", n)
	case 1:
		n := rng.IntN(len(b))
		return b[:n], fmt.Sprintf("cut at %d", n)
	case 2:
		n := 1 + rng.IntN(4)
		for range n {
			b[rng.IntN(min(len(b), 256))] = byte(rng.IntN(256))
		}
		return b, fmt.Sprintf("%d header bytes set", n)
	default:
		from, to := rng.IntN(len(b)), rng.IntN(len(b))
		n := rng.IntN(min(len(b)-max(from, to), 2048) + 1)
		copy(b[to:to+n], b[from:from+n])
		return b, fmt.Sprintf("%d bytes copied from %d to %d", n, from, to)
	}
}

// TestMutatedSources damages valid images of each format and runs a listing
// recipe's operations on them: every failure must be a classified one
// (ErrCorrupt for bad pixels; from Load also ErrUnsupportedFormat or
// ErrTooManyPixels), never a bare libvips error, which the service would answer
// with a 500. libvips decodes lazily, so a damaged scan can surface in any
// operation (a resize or a trim as well as an encode).
func TestMutatedSources(t *testing.T) {
	t.Parallel()
	sources := map[string][]byte{
		"photo.jpg":       readFile(t, "photo.jpg"),
		"cmyk.jpg":        readFile(t, "cmyk.jpg"),
		"display-p3.jpg":  readFile(t, "display-p3.jpg"),
		"progressive.jpg": progressiveJPEG(t, "photo.jpg"),
		"photo.webp":      readFile(t, "photo.webp"),
		"alpha.png":       readFile(t, "alpha.png"),
		"rgba16.png":      rgba16PNG(t, 120, 80),
	}
	type step struct {
		name string
		run  func(im *Image) error
	}
	steps := []step{
		{"auto orient", (*Image).AutoOrient},
		{"to srgb", (*Image).ToSRGB},
		{"resize smart", func(im *Image) error {
			return im.Resize(ResizeOptions{Width: 90, Height: 90, Fit: FitCover, Gravity: GravitySmart})
		}},
		{"trim", func(im *Image) error { return im.Trim(10) }},
		{"rotate", func(im *Image) error { return im.Rotate(30, Color{A: 255}) }},
		{"pad", func(im *Image) error { return im.Pad(2, 2, 2, 2, Color{R: 255, A: 128}) }},
		{"sharpen", func(im *Image) error { return im.Sharpen(1) }},
		{"materialize", (*Image).Materialize},
		{"encode jpeg", func(im *Image) error { _, err := im.Encode(EncodeOptions{Format: JPEG}); return err }},
		{"encode webp", func(im *Image) error { _, err := im.Encode(EncodeOptions{Format: WebP}); return err }},
	}
	const perSource = 40
	for name, data := range sources {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(len(data)), 13))
			failed := 0
			for i := range perSource {
				bad, how := mutate(rng, data)
				func() {
					im, err := Load(bad, LoadOptions{MaxPixels: 50_000_000})
					if err != nil {
						if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooManyPixels) {
							t.Errorf("#%d (%s): load: %v, want ErrCorrupt, ErrUnsupportedFormat or ErrTooManyPixels", i, how, err)
						}
						failed++
						return
					}
					defer im.Close()
					for _, s := range steps {
						if err := s.run(im); err != nil {
							if !errors.Is(err, ErrCorrupt) {
								t.Errorf("#%d (%s): %s: %v, want ErrCorrupt", i, how, s.name, err)
							}
							failed++
							return
						}
					}
				}()
			}
			t.Logf("%d of %d damaged copies refused", failed, perSource)
		})
	}
}
