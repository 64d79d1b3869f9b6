package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// benchJPEG returns a 2560x1600 photo-like JPEG (q90), made in memory.
func benchJPEG(b *testing.B) []byte {
	b.Helper()
	const w, h = 2560, 1600
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/w, float64(y)/h
			n := uint8((x*7 + y*13) % 23) // a little high-frequency texture
			img.SetRGBA(x, y, color.RGBA{
				R: uint8(60+150*fx) + n,
				G: uint8(70+140*fy) + n,
				B: uint8(140+70*math.Sin(fx*9+fy*5)) + n,
				A: 255,
			})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkThumbnail is the reference pipeline: a 2560x1600 JPEG fitted inside
// 800x800 and saved as JPEG q80. Compare with
//
//	vipsthumbnail big.jpg -s 800x800 -o out.jpg[Q=80,optimize_coding,strip]
//
// (set PICTOR_BENCH_JPEG to a directory to get big.jpg written there).
func BenchmarkThumbnail(b *testing.B) {
	data := benchJPEG(b)
	if dir := os.Getenv("PICTOR_BENCH_JPEG"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "big.jpg"), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	box := Size{Width: 800, Height: 800}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		im, err := Load(data, LoadOptions{ShrinkTo: box})
		if err != nil {
			b.Fatal(err)
		}
		if err := im.AutoOrient(); err != nil {
			b.Fatal(err)
		}
		if err := im.ToSRGB(); err != nil {
			b.Fatal(err)
		}
		if err := im.Resize(ResizeOptions{Width: 800, Height: 800, Fit: FitInside}); err != nil {
			b.Fatal(err)
		}
		out, err := im.Encode(EncodeOptions{Format: JPEG, Quality: 80})
		if err != nil {
			b.Fatal(err)
		}
		if len(out) == 0 {
			b.Fatal("empty output")
		}
		im.Close()
	}
}

// BenchmarkThumbnailVipsReference does the same job with libvips' own
// vips_thumbnail_buffer (what vipsthumbnail runs), in process, for comparison.
func BenchmarkThumbnailVipsReference(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		ref, err := vips.LoadThumbnailFromBuffer(data, 800, 800, vips.InterestingNone, vips.SizeDown, vips.NewImportParams())
		if err != nil {
			b.Fatal(err)
		}
		out, _, err := ref.ExportJpeg(&vips.JpegExportParams{Quality: 80, OptimizeCoding: true, StripMetadata: true})
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
		ref.Close()
	}
}

// BenchmarkSecondOutput is what a recipe's second output costs once the steps are
// materialized: an 800x500 image resized to cover a smaller box and encoded, for boxes
// on both sides of the reduction by 4 where scaleTo changes method.
func BenchmarkSecondOutput(b *testing.B) {
	im, err := Load(benchJPEG(b), LoadOptions{ShrinkTo: Size{Width: 800, Height: 800}})
	if err != nil {
		b.Fatal(err)
	}
	defer im.Close()
	if err := im.Resize(ResizeOptions{Width: 800, Height: 800, Fit: FitInside}); err != nil {
		b.Fatal(err)
	}
	if err := im.Materialize(); err != nil {
		b.Fatal(err)
	}
	for _, side := range []int{100, 125, 130, 200, 300} {
		b.Run(strconv.Itoa(side), func(b *testing.B) {
			for b.Loop() {
				c, err := im.Copy()
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Resize(ResizeOptions{Width: side, Height: side, Fit: FitCover}); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Encode(EncodeOptions{Format: JPEG, Quality: 80}); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
