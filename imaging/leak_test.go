package imaging

import (
	"runtime"
	"testing"
)

// TestNoLeaks runs Load/Resize/Encode/Close 50 times, over good and failing
// inputs, and checks libvips' tracked memory, allocations and open files return
// to where they started. It does not run in parallel with other tests.
func TestNoLeaks(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
		opts LoadOptions
	}{
		{"jpeg", readFile(t, "plain.jpg"), LoadOptions{ShrinkTo: Size{Width: 150, Height: 90}}},
		{"oriented jpeg", readFile(t, "photo.jpg"), LoadOptions{}},
		{"png alpha", readFile(t, "alpha.png"), LoadOptions{}},
		{"webp", readFile(t, "photo.webp"), LoadOptions{ShrinkTo: Size{Width: 100, Height: 60}}},
		{"cmyk", readFile(t, "cmyk.jpg"), LoadOptions{}},
		{"truncated", readFile(t, "truncated.jpg"), LoadOptions{}},
		{"huge", readFile(t, "huge.png"), LoadOptions{MaxPixels: 1_000_000}},
		{"svg", readFile(t, "image.svg"), LoadOptions{}},
		{"garbage", []byte("definitely not an image"), LoadOptions{}},
	}
	cycle := func() {
		for _, in := range inputs {
			im, err := Load(in.data, in.opts)
			if err != nil {
				continue
			}
			_ = im.AutoOrient()
			_ = im.ToSRGB()
			_ = im.Resize(ResizeOptions{Width: 120, Height: 120, Fit: FitContain})
			if c, err := im.Copy(); err == nil {
				_, _ = c.Encode(EncodeOptions{Format: WebP})
				c.Close()
			}
			_, _ = im.Encode(EncodeOptions{Format: JPEG})
			_, _ = im.Sharpness()
			im.Close()
		}
	}
	cycle() // warm up libvips' one-off allocations
	runtime.GC()
	before := ReadMemStats()
	for range 50 {
		cycle()
	}
	runtime.GC()
	after := ReadMemStats()
	t.Logf("before %+v after %+v", before, after)
	const slackBytes, slackAllocs = 64 << 10, 16
	if after.Mem > before.Mem+slackBytes {
		t.Errorf("libvips memory %d bytes, want at most %d (started at %d)", after.Mem, before.Mem+slackBytes, before.Mem)
	}
	if after.Allocs > before.Allocs+slackAllocs {
		t.Errorf("libvips allocations %d, want at most %d (started at %d)", after.Allocs, before.Allocs+slackAllocs, before.Allocs)
	}
	if after.Files > before.Files {
		t.Errorf("libvips open files %d, want at most %d", after.Files, before.Files)
	}
}
