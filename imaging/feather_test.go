package imaging

import (
	"math/rand/v2"
	"testing"
)

// blurNaive is a gaussian blur of every pixel, in two passes, edges repeated.
func blurNaive(pix []byte, w, h int, sigma float64) []byte {
	k, r := gaussKernel(sigma)
	tmp := make([]byte, len(pix))
	for y := range h {
		for x := range w {
			var acc float32
			for j := -r; j <= r; j++ {
				acc += k[j+r] * float32(pix[y*w+min(max(x+j, 0), w-1)])
			}
			tmp[y*w+x] = byte(acc + 0.5)
		}
	}
	out := make([]byte, len(pix))
	for y := range h {
		for x := range w {
			var acc float32
			for j := -r; j <= r; j++ {
				acc += k[j+r] * float32(tmp[min(max(y+j, 0), h-1)*w+x])
			}
			out[y*w+x] = byte(acc + 0.5)
		}
	}
	return out
}

func TestFeatherMatchesAFullBlur(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sigma := range []float64{0.3, 1, 2.5, 4} {
		for _, size := range [][2]int{{1, 1}, {5, 3}, {40, 31}, {97, 64}} {
			w, h := size[0], size[1]
			pix := make([]byte, w*h)
			// Blobs, lines touching the edges and single pixels.
			for range 6 {
				x0, y0 := rng.IntN(w), rng.IntN(h)
				x1, y1 := min(w, x0+1+rng.IntN(w)), min(h, y0+1+rng.IntN(h))
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						pix[y*w+x] = 255
					}
				}
			}
			pix[rng.IntN(w*h)] ^= 255
			got, want := feather(pix, w, h, sigma), blurNaive(pix, w, h, sigma)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("sigma %v %dx%d: pixel (%d,%d) %d, full blur %d", sigma, w, h, i%w, i/w, got[i], want[i])
				}
			}
		}
	}
}
