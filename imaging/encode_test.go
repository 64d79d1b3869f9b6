package imaging

import (
	"bytes"
	"errors"
	"image"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string
		o     EncodeOptions
		alpha bool // the output keeps alpha
		tol   int  // pixel tolerance on the red block
	}{
		{"jpeg", "plain.jpg", EncodeOptions{Format: JPEG}, false, 20},
		{"jpeg q95", "plain.jpg", EncodeOptions{Format: JPEG, Quality: 95}, false, 15},
		{"png", "plain.jpg", EncodeOptions{Format: PNG}, false, 12},
		{"webp", "plain.jpg", EncodeOptions{Format: WebP}, false, 25},
		{"webp lossless", "plain.jpg", EncodeOptions{Format: WebP, Lossless: true}, false, 12},
		{"avif", "plain.jpg", EncodeOptions{Format: AVIF}, false, 30},
		{"avif lossless", "plain.jpg", EncodeOptions{Format: AVIF, Lossless: true}, false, 30},
		{"gif", "plain.jpg", EncodeOptions{Format: GIF}, false, 30},
		{"tiff", "plain.jpg", EncodeOptions{Format: TIFF}, false, 12},
		{"heif", "plain.jpg", EncodeOptions{Format: HEIF}, false, 30},
		{"png alpha", "alpha.png", EncodeOptions{Format: PNG}, true, 2},
		{"webp alpha", "alpha.png", EncodeOptions{Format: WebP}, true, 25},
		{"avif alpha", "alpha.png", EncodeOptions{Format: AVIF}, true, 30},
		{"jpeg alpha flattened", "alpha.png", EncodeOptions{Format: JPEG}, false, 20},
		{"jpeg from cmyk", "cmyk.jpg", EncodeOptions{Format: JPEG}, false, 60},
		{"png from webp", "photo.webp", EncodeOptions{Format: PNG}, false, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := loadFile(t, tt.file)
			w, h := im.Width(), im.Height()
			out, err := im.Encode(tt.o)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			info, err := Probe(out)
			if err != nil {
				t.Fatalf("Probe(output): %v", err)
			}
			if tt.o.Format == JPEG && (bytes.Contains(out, []byte{0xFF, 0xC2}) || !bytes.Contains(out, []byte{0xFF, 0xC0})) {
				t.Errorf("JPEG output is not baseline (SOF0)")
			}
			if info.Format != tt.o.Format || info.Width != w || info.Height != h {
				t.Errorf("output %s %dx%d, want %s %dx%d", info.Format, info.Width, info.Height, tt.o.Format, w, h)
			}
			if info.HasAlpha != tt.alpha {
				t.Errorf("output alpha %v, want %v", info.HasAlpha, tt.alpha)
			}
			back := mustLoad(t, out, LoadOptions{})
			// Red block top-left (plain.jpg, cmyk.jpg, photo.webp) or red disc centre (alpha.png).
			x, y := 5, 5
			if tt.file == "alpha.png" {
				x, y = w/2, h/2
			}
			ref, err := im.Copy()
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if err := ref.ToSRGB(); err != nil { // cmyk.jpg: compare in sRGB
				t.Fatal(err)
			}
			want := px(t, ref, x, y)
			if p := px(t, back, x, y); !near(p, want, tt.tol) {
				t.Errorf("pixel %d,%d = %v, want %v +-%d", x, y, p, want, tt.tol)
			}
			if tt.file == "alpha.png" && tt.o.Format == JPEG {
				if p := px(t, back, 2, 2); !near(p, [4]uint8{255, 255, 255, 255}, 6) {
					t.Errorf("transparent corner as jpeg = %v, want white", p)
				}
			}
			// Encode leaves the image as it was.
			if im.Width() != w || im.HasAlpha() != (tt.file == "alpha.png") {
				t.Errorf("image changed by Encode")
			}
		})
	}
}

func TestEncodeInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    EncodeOptions
	}{
		{"no format", EncodeOptions{}},
		{"unknown format", EncodeOptions{Format: "bmp"}},
		{"quality high", EncodeOptions{Format: JPEG, Quality: 101}},
		{"quality negative", EncodeOptions{Format: WebP, Quality: -1}},
		{"lossless jpeg", EncodeOptions{Format: JPEG, Lossless: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := loadFile(t, "plain.jpg")
			if _, err := im.Encode(tt.o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("Encode error = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestEncodeOverTheFormatsSide: WebP holds 16383 pixels a side and libjpeg-turbo
// 65500; longer is an invalid option (not an internal error), and one pixel less
// encodes.
func TestEncodeOverTheFormatsSide(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		f    Format
		side int
	}{{WebP, 16383}, {JPEG, 65500}} {
		for _, long := range []int{tt.side, tt.side + 1} {
			src := image.NewGray(image.Rect(0, 0, long, 2))
			im := mustLoad(t, pngOf(t, src), LoadOptions{})
			_, err := im.Encode(EncodeOptions{Format: tt.f})
			if long > tt.side && !errors.Is(err, ErrInvalidOption) {
				t.Errorf("%s %dx2: %v, want ErrInvalidOption", tt.f, long, err)
			}
			if long == tt.side && err != nil {
				t.Errorf("%s %dx2: %v", tt.f, long, err)
			}
		}
	}
}

// hasEXIF looks for an EXIF block in JPEG, PNG (eXIf), WebP (EXIF) or HEIF/AVIF
// ("Exif" item) output.
func hasEXIF(b []byte) bool {
	return bytes.Contains(b, []byte("Exif\x00\x00")) || bytes.Contains(b, []byte("eXIf")) ||
		bytes.Contains(b, []byte("EXIF")) || bytes.Contains(b, []byte("MM\x00\x2a\x00\x00\x00\x08"))
}

func hasICC(b []byte) bool {
	return bytes.Contains(b, []byte("ICC_PROFILE")) || bytes.Contains(b, []byte("iCCP")) ||
		bytes.Contains(b, []byte("ICCP")) || bytes.Contains(b, []byte("colrprof"))
}

// exifArtist is the Artist tag testdata/gen.go writes into photo.jpg.
const exifArtist = "pictor-test-artist"

func TestEncodeMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		o          EncodeOptions
		wantArtist bool // source EXIF kept
		noEXIF     bool // no EXIF block at all
		wantICC    bool
	}{
		{"jpeg default strips", EncodeOptions{Format: JPEG}, false, true, false},
		{"png default strips", EncodeOptions{Format: PNG}, false, true, false},
		{"webp default strips", EncodeOptions{Format: WebP}, false, true, false},
		{"avif default strips", EncodeOptions{Format: AVIF}, false, true, false},
		{"tiff default strips", EncodeOptions{Format: TIFF}, false, true, false},
		{"gif default strips", EncodeOptions{Format: GIF}, false, true, false},
		// libvips 8.14 always writes a fresh EXIF block (resolution) into HEIF.
		{"heif default strips source", EncodeOptions{Format: HEIF}, false, false, false},
		{"jpeg keep metadata", EncodeOptions{Format: JPEG, KeepMetadata: true}, true, false, false},
		{"webp keep metadata", EncodeOptions{Format: WebP, KeepMetadata: true}, true, false, false},
		{"jpeg keep icc", EncodeOptions{Format: JPEG, KeepICC: true}, false, false, true},
		{"png keep icc", EncodeOptions{Format: PNG, KeepICC: true}, false, true, true},
		{"jpeg keep both", EncodeOptions{Format: JPEG, KeepICC: true, KeepMetadata: true}, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// photo.jpg has EXIF (orientation 6, an Artist); the transform attaches
			// an sRGB ICC profile.
			im := loadFile(t, "photo.jpg")
			if err := im.ref.TransformICCProfileWithFallback("srgb", "srgb"); err != nil {
				t.Fatal(err)
			}
			if !im.ref.HasICCProfile() || !im.ref.HasExif() {
				t.Fatalf("setup: icc %v exif %v, want both", im.ref.HasICCProfile(), im.ref.HasExif())
			}
			if err := im.AutoOrient(); err != nil {
				t.Fatal(err)
			}
			out, err := im.Encode(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(out, []byte(exifArtist)); got != tt.wantArtist {
				t.Errorf("source EXIF in output = %v, want %v", got, tt.wantArtist)
			}
			if tt.noEXIF && hasEXIF(out) {
				t.Errorf("EXIF block in output, want none")
			}
			if got := hasICC(out); got != tt.wantICC {
				t.Errorf("ICC in output = %v, want %v", got, tt.wantICC)
			}
			info, err := Probe(out)
			if err != nil {
				t.Fatal(err)
			}
			if info.Orientation != 1 || info.Width != 400 {
				t.Errorf("output orientation %d width %d, want 1 and 400", info.Orientation, info.Width)
			}
		})
	}
}

func TestStripWebPMetadata(t *testing.T) {
	t.Parallel()
	chunk := func(typ string, data []byte) []byte {
		b := append([]byte(typ), byte(len(data)), byte(len(data)>>8), 0, 0)
		b = append(b, data...)
		if len(data)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	body := chunk("VP8X", []byte{0x08 | 0x04 | 0x10, 0, 0, 0, 1, 0, 0, 1, 0, 0})
	body = append(body, chunk("VP8 ", []byte("abc"))...)
	body = append(body, chunk("EXIF", []byte("Exif\x00\x00MM"))...)
	body = append(body, chunk("XMP ", []byte("<x/>"))...)
	riff := append([]byte("RIFF\x00\x00\x00\x00WEBP"), body...)
	riff[4] = byte(len(riff) - 8)

	got := stripWebPMetadata(riff)
	want := append([]byte("RIFF\x00\x00\x00\x00WEBP"), chunk("VP8X", []byte{0x10, 0, 0, 0, 1, 0, 0, 1, 0, 0})...)
	want = append(want, chunk("VP8 ", []byte("abc"))...)
	want[4] = byte(len(want) - 8)
	if !bytes.Equal(got, want) {
		t.Errorf("stripWebPMetadata =\n%q\nwant\n%q", got, want)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF"), riff[:34]} {
		if got := stripWebPMetadata(bad); !bytes.Equal(got, bad) {
			t.Errorf("malformed input changed: %q -> %q", bad, got)
		}
	}
}

func TestEstimateJPEGQuality(t *testing.T) {
	t.Parallel()
	for _, q := range []int{30, 50, 75, 80, 90, 98} {
		t.Run(string(rune('0'+q/10))+string(rune('0'+q%10)), func(t *testing.T) {
			t.Parallel()
			im := loadFile(t, "plain.jpg")
			out, err := im.Encode(EncodeOptions{Format: JPEG, Quality: q})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := EstimateJPEGQuality(out)
			if !ok || got < q-3 || got > q+3 {
				t.Errorf("EstimateJPEGQuality = %d, %v; want %d +-3", got, ok, q)
			}
		})
	}
	t.Run("go encoder q90", func(t *testing.T) {
		t.Parallel()
		// plain.jpg was written by Go's image/jpeg at quality 90 (IJG tables).
		if got, ok := EstimateJPEGQuality(readFile(t, "plain.jpg")); !ok || got < 87 || got > 93 {
			t.Errorf("EstimateJPEGQuality = %d, %v; want 90 +-3", got, ok)
		}
	})
	t.Run("default 80", func(t *testing.T) {
		t.Parallel()
		im := loadFile(t, "plain.jpg")
		out, err := im.Encode(EncodeOptions{Format: JPEG})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := EstimateJPEGQuality(out); !ok || got < DefaultJPEGQuality-3 || got > DefaultJPEGQuality+3 {
			t.Errorf("EstimateJPEGQuality = %d, %v; want %d +-3", got, ok, DefaultJPEGQuality)
		}
	})
	for _, bad := range []struct {
		name string
		data []byte
	}{
		{"png", []byte("\x89PNG\r\n\x1a\n")},
		{"empty", nil},
		{"soi only", []byte{0xFF, 0xD8}},
		{"bad length", []byte{0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xFF, 0x00}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			t.Parallel()
			if got, ok := EstimateJPEGQuality(bad.data); ok {
				t.Errorf("EstimateJPEGQuality = %d, true; want false", got)
			}
		})
	}
}

// TestAVIFEffort pins the AV1 encoder's effort: Encode's AVIF must be what libvips makes
// at AVIFEffort, and AVIFEffort must be 1 (see its comment: effort 2 cost 35-50 % more
// CPU for 1 % smaller files, and 0 means libvips' default, 4; a side-by-side with
// imgproxy showed Pictor at 0.70x its AVIF rate with effort 2).
func TestAVIFEffort(t *testing.T) {
	t.Parallel()
	if AVIFEffort != 1 {
		t.Fatalf("AVIFEffort = %d, want 1", AVIFEffort)
	}
	im := loadFile(t, "photo.jpg")
	got, err := im.Encode(EncodeOptions{Format: AVIF, Quality: 70})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	for _, effort := range []int{1, 2} {
		p := vips.NewAvifExportParams()
		p.Quality = 70
		p.Effort = effort
		p.Bitdepth = 8
		p.StripMetadata = true
		want, _, err := im.ref.ExportAvif(p)
		if err != nil {
			t.Fatal(err)
		}
		sizes[effort] = len(want)
	}
	if sizes[1] == sizes[2] {
		t.Fatalf("efforts 1 and 2 made files of the same size (%d bytes): the test cannot tell them apart", sizes[1])
	}
	if len(got) != sizes[1] {
		t.Errorf("Encode AVIF made %d bytes; libvips makes %d at effort 1 and %d at effort 2", len(got), sizes[1], sizes[2])
	}
}
