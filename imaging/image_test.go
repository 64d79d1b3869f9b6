package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		want    Info
		wantErr error
	}{
		{"photo.jpg", Info{Format: JPEG, Width: 640, Height: 400, Orientation: 6, Pages: 1}, nil},
		{"plain.jpg", Info{Format: JPEG, Width: 640, Height: 400, Orientation: 1, Pages: 1}, nil},
		{"alpha.png", Info{Format: PNG, Width: 300, Height: 200, HasAlpha: true, Orientation: 1, Pages: 1}, nil},
		{"photo.webp", Info{Format: WebP, Width: 640, Height: 400, Orientation: 1, Pages: 1}, nil},
		{"cmyk.jpg", Info{Format: JPEG, Width: 160, Height: 100, Orientation: 1, Pages: 1}, nil},
		// The header alone: 20000x20000 from a 53-byte file.
		{"huge.png", Info{Format: PNG, Width: 20000, Height: 20000, Orientation: 1, Pages: 1}, nil},
		// A truncated body still has a good header.
		{"truncated.jpg", Info{Format: JPEG, Width: 640, Height: 400, Orientation: 1, Pages: 1}, nil},
		{"image.svg", Info{}, ErrUnsupportedFormat},
		{"doc.pdf", Info{}, ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := Probe(readFile(t, tt.file))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Probe error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Probe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProbeCorrupt(t *testing.T) {
	t.Parallel()
	plain := readFile(t, "plain.jpg")
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("this is not an image at all, just text")},
		{"empty", nil},
		{"jpeg header only", plain[:20]},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n")},
		{"png bad ihdr crc", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x02\x00\x00\x00\xde\xad\xbe\xef")},
		{"webp riff only", []byte("RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00\x00\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Probe(tt.data); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Probe error = %v, want ErrCorrupt", err)
			}
			if _, err := Load(tt.data, LoadOptions{}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Load error = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestLoadLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		opts    LoadOptions
		wantErr error
	}{
		{"huge refused from header", "huge.png", LoadOptions{MaxPixels: 50_000_000}, ErrTooManyPixels},
		{"limit just below", "plain.jpg", LoadOptions{MaxPixels: 640*400 - 1}, ErrTooManyPixels},
		{"limit exact", "plain.jpg", LoadOptions{MaxPixels: 640 * 400}, nil},
		{"svg", "image.svg", LoadOptions{}, ErrUnsupportedFormat},
		{"pdf", "doc.pdf", LoadOptions{}, ErrUnsupportedFormat},
		{"format not allowed", "alpha.png", LoadOptions{AllowedFormats: []Format{JPEG}}, ErrUnsupportedFormat},
		{"format allowed", "alpha.png", LoadOptions{AllowedFormats: []Format{PNG}}, nil},
		{"negative limit", "plain.jpg", LoadOptions{MaxPixels: -1}, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im, err := Load(readFile(t, tt.file), tt.opts)
			if err == nil {
				im.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Load error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestPolyglotRefused: bytes sniff takes for one of our formats but govips would hand
// to another loader (poppler's PDF loader, librsvg's SVG loader) are refused before any
// loader runs. Without the check,
// the first one was read by poppler as a 64x64 page.
func TestPolyglotRefused(t *testing.T) {
	t.Parallel()
	pdf := readFile(t, "doc.pdf")
	tests := []struct {
		name string
		data []byte
	}{
		{"avif compatible brand then pdf", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00avifmif1"), pdf...)},
		{"heif compatible brand then pdf", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00mif1heic"), pdf...)},
		// govips' own detection parses this as an SVG document (librsvg's loader).
		{"avif compatible brand then svg", []byte("    ftypisom    avif" +
			`<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if info, err := Probe(tt.data); !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("Probe = %+v, %v; want ErrUnsupportedFormat", info, err)
			}
			im, err := Load(tt.data, LoadOptions{})
			if err == nil {
				t.Errorf("Load read a %dx%d image, want ErrUnsupportedFormat", im.Width(), im.Height())
				im.Close()
			} else if !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("Load error = %v, want ErrUnsupportedFormat", err)
			}
		})
	}
}

// TestHugeRefusedWithoutDecode checks the pixel limit is enforced from the header:
// libvips' memory does not move when the 20000x20000 PNG is refused.
func TestHugeRefusedWithoutDecode(t *testing.T) {
	data := readFile(t, "huge.png")
	before := ReadMemStats()
	_, err := Load(data, LoadOptions{MaxPixels: 100_000_000})
	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("Load error = %v, want ErrTooManyPixels", err)
	}
	after := ReadMemStats()
	if after.MemHigh > before.MemHigh+1<<20 {
		t.Errorf("libvips memory high-water went from %d to %d: pixels were decoded", before.MemHigh, after.MemHigh)
	}
}

// truncatedPNG is a 300x200 PNG of noise cut at two thirds: its header is whole, and
// libvips decodes PNG lazily, so the fault shows only when pixels are read.
func truncatedPNG(t testing.TB) []byte {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := range m.Pix {
		m.Pix[i] = uint8(i*7919 + i/3)
	}
	data := pngOf(t, m)
	return data[:len(data)*2/3]
}

func TestTruncatedIsCorrupt(t *testing.T) {
	t.Parallel()
	t.Run("jpeg decoded by Load", func(t *testing.T) {
		t.Parallel()
		for _, shrink := range []Size{{}, {Width: 100, Height: 100}} {
			if im, err := Load(readFile(t, "truncated.jpg"), LoadOptions{ShrinkTo: shrink}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Load(shrink to %v) error = %v, want ErrCorrupt", shrink, err)
				if err == nil {
					im.Close()
				}
			}
		}
	})
	data := truncatedPNG(t)
	ops := []struct {
		name string
		run  func(im *Image) error
	}{
		{"encode jpeg", func(im *Image) error { _, err := im.Encode(EncodeOptions{Format: JPEG}); return err }},
		{"encode png", func(im *Image) error { _, err := im.Encode(EncodeOptions{Format: PNG}); return err }},
		{"resize then encode", func(im *Image) error {
			if err := im.Resize(ResizeOptions{Width: 100}); err != nil {
				return err
			}
			_, err := im.Encode(EncodeOptions{Format: WebP})
			return err
		}},
		{"sharpness", func(im *Image) error { _, err := im.Sharpness(); return err }},
		{"plain background", func(im *Image) error { _, _, err := im.PlainBackground(); return err }},
		{"trim", func(im *Image) error { return im.Trim(10) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, data, LoadOptions{})
			if err := op.run(im); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s error = %v, want ErrCorrupt", op.name, err)
			}
		})
	}
	t.Run("second read after failure", func(t *testing.T) {
		t.Parallel()
		im := mustLoad(t, data, LoadOptions{})
		for i := range 2 {
			if _, err := im.Encode(EncodeOptions{Format: PNG}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("encode #%d error = %v, want ErrCorrupt", i+1, err)
			}
		}
	})
}

func TestShrinkOnLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		file          string
		shrinkTo      Size
		wantW, wantH  int // exact stored size after load; 0: see min/max
		minW, maxW    int
		wantOrient    int
		orientedAtLst Size
	}{
		{"jpeg none", "plain.jpg", Size{}, 640, 400, 0, 0, 1, Size{}},
		{"jpeg by 2", "plain.jpg", Size{Width: 200, Height: 100}, 320, 200, 0, 0, 1, Size{200, 100}},
		{"jpeg by 4", "plain.jpg", Size{Width: 150, Height: 90}, 160, 100, 0, 0, 1, Size{150, 90}},
		{"jpeg by 8", "plain.jpg", Size{Width: 80, Height: 0}, 80, 50, 0, 0, 1, Size{80, 0}},
		{"jpeg too big to shrink", "plain.jpg", Size{Width: 500, Height: 10}, 640, 400, 0, 0, 1, Size{500, 10}},
		// photo.jpg is stored 640x400 with orientation 6: upright it is 400x640.
		// 150 wide upright needs the stored height 400 / 2 = 200 >= 150, not / 4.
		{"jpeg oriented", "photo.jpg", Size{Width: 150, Height: 90}, 320, 200, 0, 0, 6, Size{150, 90}},
		{"jpeg oriented by 4", "photo.jpg", Size{Width: 100, Height: 160}, 160, 100, 0, 0, 6, Size{100, 160}},
		{"webp scaled", "photo.webp", Size{Width: 160, Height: 100}, 160, 100, 0, 0, 1, Size{160, 100}},
		{"webp not worth it", "photo.webp", Size{Width: 400, Height: 100}, 640, 400, 0, 0, 1, Size{}},
		{"png never", "alpha.png", Size{Width: 10, Height: 10}, 300, 200, 0, 0, 1, Size{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, readFile(t, tt.file), LoadOptions{ShrinkTo: tt.shrinkTo})
			if tt.wantW != 0 {
				if im.Width() != tt.wantW || im.Height() != tt.wantH {
					t.Errorf("loaded size %dx%d, want %dx%d", im.Width(), im.Height(), tt.wantW, tt.wantH)
				}
			} else if im.Width() < tt.minW || im.Width() > tt.maxW {
				t.Errorf("loaded width %d, want %d..%d", im.Width(), tt.minW, tt.maxW)
			}
			if got := im.Orientation(); got != tt.wantOrient {
				t.Errorf("orientation %d, want %d", got, tt.wantOrient)
			}
			if err := im.AutoOrient(); err != nil {
				t.Fatal(err)
			}
			if im.Width() < tt.orientedAtLst.Width || im.Height() < tt.orientedAtLst.Height {
				t.Errorf("oriented size %dx%d, want at least %dx%d", im.Width(), im.Height(), tt.orientedAtLst.Width, tt.orientedAtLst.Height)
			}
			// The shrunk image still decodes.
			if _, err := im.Encode(EncodeOptions{Format: PNG}); err != nil {
				t.Errorf("encode: %v", err)
			}
		})
	}
}

// TestShrinkOnLoadWebP: a WebP shrunk on load covers its target on both sides and
// overshoots it by no more than the rounding up of the target's other side can (the
// aspect ratio, plus a pixel), so the resize after it has little or nothing to do; a
// target of exactly half the source comes out at exactly that size.
func TestShrinkOnLoadWebP(t *testing.T) {
	t.Parallel()
	for _, src := range []Size{{1600, 1000}, {1601, 1000}, {1333, 777}, {999, 1501}, {640, 400}} {
		img := image.NewRGBA(image.Rect(0, 0, src.Width, src.Height))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		webp, err := mustLoad(t, pngOf(t, img), LoadOptions{}).Encode(EncodeOptions{Format: WebP, Quality: 60})
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range []int{100, 199, 320, 333, 500} {
			s := float64(side) / float64(max(src.Width, src.Height))
			if s > 0.5 {
				continue // not shrunk on load
			}
			target := Size{int(math.Ceil(float64(src.Width) * s)), int(math.Ceil(float64(src.Height) * s))}
			slack := 1 + int(math.Ceil(float64(max(src.Width, src.Height))/float64(min(src.Width, src.Height))))
			im := mustLoad(t, webp, LoadOptions{ShrinkTo: target})
			if im.Width() < target.Width || im.Height() < target.Height || im.Width() > target.Width+slack || im.Height() > target.Height+slack {
				t.Errorf("%dx%d shrunk for %dx%d: loaded %dx%d, want that or up to %d pixels more", src.Width, src.Height, target.Width, target.Height, im.Width(), im.Height(), slack)
			}
		}
	}
	half := image.NewRGBA(image.Rect(0, 0, 1600, 1000))
	webp, err := mustLoad(t, pngOf(t, half), LoadOptions{}).Encode(EncodeOptions{Format: WebP, Quality: 60})
	if err != nil {
		t.Fatal(err)
	}
	if im := mustLoad(t, webp, LoadOptions{ShrinkTo: Size{800, 500}}); im.Width() != 800 || im.Height() != 500 {
		t.Errorf("1600x1000 shrunk for 800x500: loaded %dx%d, want 800x500", im.Width(), im.Height())
	}
	// A box that falls short of the target, as libvips' rounding could make it, is
	// widened by a pixel each way.
	ref, err := webpThumbnail(webp, Size{799, 499}, Size{800, 500})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if ref.Width() != 800 || ref.Height() != 500 {
		t.Errorf("thumbnail into 799x499 for 800x500: %dx%d, want 800x500", ref.Width(), ref.Height())
	}
}

// TestShrinkOnLoadThin: libvips rounds a shrunk JPEG's size down, and aborts the
// process when a side rounds to 0, so a sliver of an image (5 pixels wide, a
// catalog's divider strip) loads shrunk only as far as keeps it at least one
// pixel, and a shrunk load is never below the target.
func TestShrinkOnLoadThin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		w, h         int
		shrinkTo     Size
		wantW, wantH int
	}{
		{"5 wide", 5, 3000, Size{Width: 1, Height: 300}, 1, 750},
		{"5 high", 3000, 5, Size{Width: 300, Height: 0}, 750, 1},
		{"7 by 7", 7, 7, Size{Width: 1, Height: 1}, 1, 1},
		{"1 by 1", 1, 1, Size{Width: 1, Height: 1}, 1, 1},
		{"rounds down below target", 1801, 1000, Size{Width: 451, Height: 0}, 900, 500},
		{"zero target", 9, 17, Size{Width: 0, Height: 1}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img := image.NewRGBA(image.Rect(0, 0, tt.w, tt.h))
			for i := range img.Pix {
				img.Pix[i] = byte(i * 7)
			}
			im := mustLoad(t, jpegOf(t, img, 90), LoadOptions{ShrinkTo: tt.shrinkTo})
			if im.Width() != tt.wantW || im.Height() != tt.wantH {
				t.Errorf("loaded size %dx%d, want %dx%d", im.Width(), im.Height(), tt.wantW, tt.wantH)
			}
			if _, err := im.Encode(EncodeOptions{Format: PNG}); err != nil {
				t.Errorf("encode: %v", err)
			}
		})
	}
}

func TestImageAccessors(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "alpha.png")
	if got := im.SourceFormat(); got != PNG {
		t.Errorf("SourceFormat() = %q, want %q", got, PNG)
	}
	if !im.HasAlpha() {
		t.Errorf("HasAlpha() = false, want true")
	}
	if got := im.Orientation(); got != 1 {
		t.Errorf("Orientation() = %d, want 1", got)
	}
	im.Close()
	im.Close() // twice is fine
}

func TestCopyIsIndependent(t *testing.T) {
	t.Parallel()
	im := loadFile(t, "plain.jpg")
	c, err := im.Copy()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Resize(ResizeOptions{Width: 100, Height: 100, Fit: FitFill}); err != nil {
		t.Fatal(err)
	}
	if err := im.Flip(true, false); err != nil {
		t.Fatal(err)
	}
	if im.Width() != 640 || im.Height() != 400 {
		t.Errorf("original size %dx%d, want 640x400", im.Width(), im.Height())
	}
	if c.Width() != 100 || c.Height() != 100 {
		t.Errorf("copy size %dx%d, want 100x100", c.Width(), c.Height())
	}
	// The flip of the original did not reach the copy: red block still top-left.
	if p := px(t, c, 5, 5); !isRed(p) {
		t.Errorf("copy pixel 5,5 = %v, want red", p)
	}
	if p := px(t, im, 5, 5); isRed(p) {
		t.Errorf("flipped original pixel 5,5 = %v, want not red", p)
	}
	// Closing the original leaves the copy usable.
	im.Close()
	if _, err := c.Encode(EncodeOptions{Format: JPEG}); err != nil {
		t.Errorf("encode copy after closing original: %v", err)
	}
}

func TestLoadGreyAndPalette(t *testing.T) {
	t.Parallel()
	grey := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	pal := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 0, 0}})
	tests := []struct {
		name string
		img  image.Image
		want [4]uint8
	}{
		{"grey", grey, [4]uint8{128, 128, 128, 255}},
		{"palette", pal, [4]uint8{255, 0, 0, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, pngOf(t, tt.img), LoadOptions{})
			if err := im.ToSRGB(); err != nil {
				t.Fatal(err)
			}
			if b := im.ref.Bands(); b < 3 {
				t.Errorf("bands after ToSRGB = %d, want >= 3", b)
			}
			if p := px(t, im, 3, 3); !near(p, tt.want, 2) {
				t.Errorf("pixel = %v, want %v", p, tt.want)
			}
		})
	}
}

func TestLibvipsLogsReachSlog(t *testing.T) {
	t.Parallel()
	if im, err := Load(readFile(t, "truncated.jpg"), LoadOptions{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			im.Close()
		}
		t.Fatalf("Load error = %v, want ErrCorrupt", err)
	}
	// libvips warns about the bad tile; Startup routed it into the slog handler
	// given in TestMain (the second Startup, with a discarding logger, did nothing).
	if got := vipsLog.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "component=libvips") {
		t.Errorf("slog output %q, want a libvips warning", got)
	}
}

func TestAnimatedGIF(t *testing.T) {
	t.Parallel()
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	frame := func(i uint8) *image.Paletted {
		f := image.NewPaletted(image.Rect(0, 0, 30, 20), pal)
		for j := range f.Pix {
			f.Pix[j] = i
		}
		return f
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &gif.GIF{Image: []*image.Paletted{frame(0), frame(1), frame(1)}, Delay: []int{10, 10, 10}}); err != nil {
		t.Fatal(err)
	}
	info, err := Probe(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != GIF || info.Pages != 3 || info.Width != 30 || info.Height != 20 {
		t.Errorf("Probe = %+v, want gif 30x20 with 3 pages", info)
	}
	im := mustLoad(t, buf.Bytes(), LoadOptions{})
	if im.Width() != 30 || im.Height() != 20 {
		t.Errorf("loaded %dx%d, want the first frame, 30x20", im.Width(), im.Height())
	}
	if p := px(t, im, 5, 5); !near(p, [4]uint8{255, 0, 0, 255}, 2) {
		t.Errorf("pixel = %v, want red (first frame)", p)
	}
}
