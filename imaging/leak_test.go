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
	checkNoLeaks(t, cycle, 50)
}

// checkNoLeaks runs cycle once to warm libvips up, then rounds times, and fails if libvips'
// tracked memory or allocations grew past a small slack, or its open files grew at all. A
// round that grew is run once more, and only growth in that round fails: a leak grows every
// round, while a libvips worker thread started during the first (under load the pool may
// start one while the last pipeline's thread is on its way back) keeps a buffer cache for
// as long as it lives, once. Not for parallel tests: the figures are the process's.
func checkNoLeaks(t *testing.T, cycle func(), rounds int) {
	t.Helper()
	measure := func() (before, after MemStats) {
		runtime.GC()
		before = ReadMemStats()
		for range rounds {
			cycle()
		}
		runtime.GC()
		return before, ReadMemStats()
	}
	const slackBytes, slackAllocs = 64 << 10, 16
	grew := func(before, after MemStats) bool {
		return after.Mem > before.Mem+slackBytes || after.Allocs > before.Allocs+slackAllocs || after.Files > before.Files
	}
	cycle() // warm up libvips' one-off allocations
	before, after := measure()
	if grew(before, after) {
		t.Logf("first round grew (before %+v after %+v); measuring a second", before, after)
		before, after = measure()
	}
	t.Logf("before %+v after %+v", before, after)
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
