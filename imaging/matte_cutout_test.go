package imaging

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The cut-out set in testdata/cutout is drawn by testdata/cutout/gen.go (see its
// comment for what each shot shows): product shots on a plain studio background
// in which a region of the background's colour is enclosed by the product, some
// of them product (a clock face, a phone's screen, a label) and some holes (a
// mug's handle, a ring). Every NAME.jpg has its exact mask in NAME.mask.png.

// Figures the classic cut-out must reach on the set (issue 11).
const (
	cutoutMeanIoU = 0.97
	cutoutMinIoU  = 0.85
)

// cutoutNames lists the shots of testdata/cutout.
func cutoutNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "cutout", "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".jpg"))
	}
	slices.Sort(names)
	return names
}

// TestMatteCutoutSet mattes every shot of testdata/cutout with the defaults and
// holds the IoU with the true masks to the figures: a mean of at least
// 0.97 and no shot under 0.85.
func TestMatteCutoutSet(t *testing.T) {
	t.Parallel()
	names := cutoutNames(t)
	if len(names) < 12 {
		t.Fatalf("%d shots in testdata/cutout, want at least 12", len(names))
	}
	var mu sync.Mutex
	scores := map[string]float64{}
	t.Run("shots", func(t *testing.T) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				im := loadFile(t, filepath.Join("cutout", name+".jpg"))
				mask, err := im.Matte(MatteOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer mask.Close()
				w, h, got, err := mask.Gray()
				if err != nil {
					t.Fatal(err)
				}
				ww, wh, want := loadGrayPNG(t, filepath.Join("cutout", name+".mask.png"))
				if w != ww || h != wh {
					t.Fatalf("mask %dx%d, want %dx%d", w, h, ww, wh)
				}
				score := iou(got, want)
				mu.Lock()
				scores[name] = score
				mu.Unlock()
				t.Logf("%s: IoU %.4f", name, score)
				if score < cutoutMinIoU {
					t.Errorf("IoU %.4f, want at least %v", score, cutoutMinIoU)
				}
			})
		}
	})
	if len(scores) != len(names) {
		t.Fatalf("%d shots scored, want %d", len(scores), len(names))
	}
	var sum float64
	for _, s := range scores {
		sum += s
	}
	mean := sum / float64(len(scores))
	t.Logf("mean IoU %.4f over %d shots", mean, len(scores))
	if mean < cutoutMeanIoU {
		t.Errorf("mean IoU %.4f, want at least %v", mean, cutoutMeanIoU)
	}
}
