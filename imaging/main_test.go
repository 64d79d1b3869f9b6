package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// vipsLog collects what libvips logs through Startup's slog routing.
var vipsLog syncBuffer

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(mallocChildEnv); mode != "" {
		os.Exit(mallocChild(mode))
	}
	Startup(StartupConfig{}, slog.New(slog.NewTextHandler(&vipsLog, &slog.HandlerOptions{Level: slog.LevelWarn})))
	Startup(StartupConfig{ConcurrencyLevel: 4}, slog.New(slog.NewTextHandler(io.Discard, nil))) // a second call is a no-op
	code := m.Run()
	Shutdown()
	Shutdown()
	os.Exit(code)
}

// readFile returns a file from testdata.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mustLoad loads data and closes the image when the test ends.
func mustLoad(t testing.TB, data []byte, opts LoadOptions) *Image {
	t.Helper()
	im, err := Load(data, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(im.Close)
	return im
}

// loadFile loads a testdata file.
func loadFile(t testing.TB, name string) *Image {
	t.Helper()
	return mustLoad(t, readFile(t, name), LoadOptions{})
}

// pngOf encodes a Go image as PNG.
func pngOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jpegOf encodes a Go image as JPEG.
func jpegOf(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// solid returns a w x h image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// fillRect paints a rectangle of img.
func fillRect(img *image.NRGBA, r image.Rectangle, c color.NRGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
}

// px reads the pixel at x, y as RGBA (A=255 without alpha; grey is replicated).
func px(t testing.TB, im *Image, x, y int) [4]uint8 {
	t.Helper()
	c, err := im.ref.Copy()
	if err != nil {
		t.Fatal(err)
	}
	tmp := &Image{ref: c}
	defer tmp.Close()
	bands := c.Bands()
	p, err := tmp.pixel(x, y)
	if err != nil {
		t.Fatalf("pixel %d,%d: %v", x, y, err)
	}
	switch bands {
	case 1:
		return [4]uint8{p[0], p[0], p[0], 255}
	case 2:
		return [4]uint8{p[0], p[0], p[0], p[1]}
	}
	return [4]uint8{p[0], p[1], p[2], p[3]}
}

// near reports whether every channel of got is within tol of want.
func near(got, want [4]uint8, tol int) bool {
	for i := range 4 {
		d := int(got[i]) - int(want[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}

// isRed is true for a strongly red opaque pixel.
func isRed(p [4]uint8) bool { return p[0] > 170 && p[1] < 80 && p[2] < 80 && p[3] > 200 }

var (
	red   = color.NRGBA{220, 20, 20, 255}
	blue  = color.NRGBA{20, 40, 220, 255}
	white = color.NRGBA{255, 255, 255, 255}
	black = color.NRGBA{0, 0, 0, 255}
)
