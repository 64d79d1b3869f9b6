package imaging

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzProbe checks format sniffing and header probing: Probe never panics;
// on success the format is one of the known ones and both dimensions are
// positive; on failure the error matches one of the package's sentinels.
func FuzzProbe(f *testing.F) {
	for _, name := range []string{"alpha.png", "display-p3.jpg", "photo.webp", "huge.png", "doc.pdf", "image.svg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"\xff\xd8\xff",
		"\x89PNG\r\n\x1a\n",
		"GIF89a\x01\x00\x01\x00",
		"RIFF\x00\x00\x00\x00WEBPVP8 ",
		"II*\x00\x08\x00\x00\x00",
		"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1",
		"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00heicmif1",
		"BM" + string(make([]byte, 30)),
		"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Probe(data)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorrupt) &&
				!errors.Is(err, ErrTooManyPixels) && !errors.Is(err, ErrBusy) {
				t.Fatalf("Probe error %v matches no sentinel", err)
			}
			return
		}
		if !info.Format.Valid() {
			t.Fatalf("Probe format: got %q, want a valid format", info.Format)
		}
		if info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("Probe size: got %dx%d, want both > 0", info.Width, info.Height)
		}
		if info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("Probe orientation: got %d, want 1..8", info.Orientation)
		}
		if info.Pages < 1 {
			t.Fatalf("Probe pages: got %d, want >= 1", info.Pages)
		}
	})
}

// FuzzDecodeMemory: the estimate never panics and is never negative, whatever a header
// claims; a sequential JPEG counts 0.
func FuzzDecodeMemory(f *testing.F) {
	for _, name := range []string{"plain.jpg", "cmyk.jpg", "truncated.jpg", "alpha.png", "photo.webp", "huge.png"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// A progressive frame header claiming 65535x65535 with odd sampling factors, and an
	// interlaced PNG header claiming 2^31-1 x 2^31-1 at 16 bits RGBA.
	f.Add([]byte("\xff\xd8\xff\xc2\x00\x11\x08\xff\xff\xff\xff\x03\x01\xf3\x00\x02\x11\x01\x03\x4f\x01"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x7f\xff\xff\xff\x7f\xff\xff\xff\x10\x06\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := DecodeMemory(data); n < 0 {
			t.Fatalf("DecodeMemory: got %d, want >= 0", n)
		}
	})
}

// FuzzTidyJPEG: the tidy never panics, never grows the bytes, leaves everything
// after the header region's junk in order, and is idempotent (a tidied copy has
// nothing left to tidy).
func FuzzTidyJPEG(f *testing.F) {
	for _, name := range []string{"plain.jpg", "display-p3.jpg", "cmyk.jpg", "sequential-3-scans.jpg", "truncated.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x94\x49\x01\x00\x48\x00\x48\x00\x00\x00\xff\x00\xff\xdb\x00\x02\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := tidyJPEG(data)
		if len(out) > len(data) {
			t.Fatalf("grew from %d to %d bytes", len(data), len(out))
		}
		again := tidyJPEG(out)
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q then %q", out, again)
		}
		if len(out) > 0 && len(again) > 0 && &again[0] != &out[0] {
			t.Fatal("a tidied copy was copied again")
		}
	})
}

// FuzzRenderJPEG: whatever the bytes, the listing path (Load, which decodes a JPEG on the
// calling thread; a resize through reduceh.c and reducev.c; Materialize; a stripped JPEG
// written by sink.c) answers an image or an error, never a crash, and an image it
// answers is one a decoder reads back at the size asked.
func FuzzRenderJPEG(f *testing.F) {
	for _, name := range []string{"plain.jpg", "photo.jpg", "cmyk.jpg", "display-p3.jpg", "sequential-3-scans.jpg", "truncated.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := Load(data, LoadOptions{MaxPixels: 4 << 20, ShrinkTo: Size{Width: 60, Height: 60}})
		if err != nil {
			return
		}
		defer im.Close()
		if im.AutoOrient() != nil || im.ToSRGB() != nil || im.Resize(ResizeOptions{Width: 60, Height: 60, Fit: FitCover}) != nil ||
			im.Materialize() != nil {
			return
		}
		out, err := im.Encode(EncodeOptions{Format: JPEG, Quality: 75})
		if err != nil {
			return
		}
		if info, err := Probe(out); err != nil || info.Width != 60 || info.Height != 60 {
			t.Fatalf("encoded %d bytes read back as %+v, %v; want 60x60", len(out), info, err)
		}
	})
}
