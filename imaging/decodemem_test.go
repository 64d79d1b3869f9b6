package imaging

import (
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// encodeBlack encodes a black 801x601 sRGB image with export.
func encodeBlack(t *testing.T, export func(*vips.ImageRef) ([]byte, *vips.ImageMetadata, error)) []byte {
	t.Helper()
	return encodeBlackSize(t, 801, 601, export)
}

// encodeBlackSize encodes a black w x h sRGB image with export.
func encodeBlackSize(t *testing.T, w, h int, export func(*vips.ImageRef) ([]byte, *vips.ImageMetadata, error)) []byte {
	t.Helper()
	ref, err := vips.Black(w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if err := ref.ToColorSpace(vips.InterpretationSRGB); err != nil {
		t.Fatal(err)
	}
	b, _, err := export(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jpegExport(progressive bool, subsample vips.SubsampleMode) func(*vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
	return func(r *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
		p := vips.NewJpegExportParams()
		p.Interlace = progressive
		p.SubsampleMode = subsample
		return r.ExportJpeg(p)
	}
}

func pngExport(interlace bool) func(*vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
	return func(r *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
		p := vips.NewPngExportParams()
		p.Interlace = interlace
		return r.ExportPng(p)
	}
}

// TestDecodeMemory: the decoders that hold the whole image are counted at their size,
// the streaming ones at 0.
func TestDecodeMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data []byte
		want int64
	}{
		// 801x601 is 101x76 blocks a component at full resolution: 3 x 7676 x 128.
		{"progressive jpeg 4:4:4", encodeBlack(t, jpegExport(true, vips.VipsForeignSubsampleOff)), 3 * 7676 * 128},
		// Luma 102x76 blocks (rounded up to whole 2x2 MCUs), each chroma 51x38.
		{"progressive jpeg 4:2:0", encodeBlack(t, jpegExport(true, vips.VipsForeignSubsampleOn)), (102*76 + 2*51*38) * 128},
		{"baseline jpeg", encodeBlack(t, jpegExport(false, vips.VipsForeignSubsampleOff)), 0},
		// 160x100 at 4:2:0 in one scan a component: luma 20x14 blocks, each chroma 10x7.
		{"sequential jpeg, a scan a component", readFile(t, "sequential-3-scans.jpg"), (20*14 + 2*10*7) * 128},
		{"sequential jpeg, interleaved", readFile(t, "plain.jpg"), 0},
		{"interlaced png", encodeBlack(t, pngExport(true)), 801 * 601 * 3},
		{"png", encodeBlack(t, pngExport(false)), 0},
		{"interlaced palette png", encodeBlack(t, func(r *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
			p := vips.NewPngExportParams()
			p.Interlace, p.Palette = true, true
			return r.ExportPng(p)
		}), 801 * 601 * 4},
		{"webp", encodeBlack(t, func(r *vips.ImageRef) ([]byte, *vips.ImageMetadata, error) {
			return r.ExportWebp(vips.NewWebpExportParams())
		}), 801 * 601 * 4},
		{"not an image", []byte("hello, world"), 0},
		{"truncated progressive jpeg", encodeBlack(t, jpegExport(true, vips.VipsForeignSubsampleOff))[:40], 0},
	} {
		if got := DecodeMemory(tc.data); got != tc.want {
			t.Errorf("%s: got %d bytes, want %d", tc.name, got, tc.want)
		}
	}
}
