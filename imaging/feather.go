package imaging

import "math"

// featherGoMax is the widest feather (sigma, in pixels) the matte softens in Go; a wider one
// is left to libvips' gaussian blur.
const featherGoMax = 4.0

// feather returns the w x h grey mask pix softened by a gaussian of sigma (cut at 3 sigma,
// edges repeated, as libvips' blur does). A mask is flat almost everywhere, so only the
// pixels within the kernel's reach of a change are convolved; the rest are copied.
func feather(pix []byte, w, h int, sigma float64) []byte {
	k, r := gaussKernel(sigma)
	tmp := make([]byte, len(pix))
	for y := range h {
		blurLine(pix[y*w:(y+1)*w], tmp[y*w:(y+1)*w], k, r)
	}
	return blurColumns(tmp, w, h, k, r)
}

// gaussKernel is a normalised gaussian of sigma cut at 3 sigma, and its radius.
func gaussKernel(sigma float64) ([]float32, int) {
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var sum float32
	for i := range k {
		d := float64(i - r)
		k[i] = float32(math.Exp(-d * d / (2 * sigma * sigma)))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k, r
}

// blurLine convolves the line in with k (radius r) into out, edges repeated, where the
// line changes within r of a pixel; elsewhere it copies.
func blurLine(in, out []byte, k []float32, r int) {
	n := len(in)
	copy(out, in)
	// last is the index of the last change seen (in[i] != in[i-1]) at or before x+r.
	next := 1 // the next index to look at for a change
	last := -1 << 30
	for x := range n {
		for ; next <= min(x+r, n-1); next++ {
			if in[next] != in[next-1] {
				last = next
			}
		}
		// A change at c lies in the window when x-r < c <= x+r (c and c-1 both within it,
		// or one of them repeated from the edge).
		if last <= x-r {
			continue
		}
		var acc float32
		for j := -r; j <= r; j++ {
			acc += k[j+r] * float32(in[min(max(x+j, 0), n-1)])
		}
		out[x] = byte(acc + 0.5)
	}
}

// blurColumns is blurLine down every column of the w x h in, returning the result.
func blurColumns(in []byte, w, h int, k []float32, r int) []byte {
	out := make([]byte, len(in))
	copy(out, in)
	// below[i] is how many pixels from i downwards (i included) equal in[i], at most r+1.
	below := make([]byte, len(in))
	limit := byte(min(r+1, 255))
	for x := range w {
		below[(h-1)*w+x] = 1
	}
	for y := h - 2; y >= 0; y-- {
		row, next := in[y*w:(y+1)*w], in[(y+1)*w:(y+2)*w]
		brow, bnext := below[y*w:(y+1)*w], below[(y+1)*w:(y+2)*w]
		for x := range w {
			if row[x] == next[x] {
				brow[x] = min(bnext[x]+1, limit)
			} else {
				brow[x] = 1
			}
		}
	}
	// above[x] is how many pixels from the current row upwards equal it, at most r+1.
	above := make([]byte, w)
	for y := range h {
		row := in[y*w : (y+1)*w]
		for x := range w {
			if y > 0 && row[x] == in[(y-1)*w+x] {
				above[x] = min(above[x]+1, limit)
			} else {
				above[x] = 1
			}
			// Flat for r pixels both ways (or to the edge, which repeats): nothing to do.
			if (int(above[x]) > r || int(above[x]) > y) && (int(below[y*w+x]) > r || int(below[y*w+x]) >= h-y) {
				continue
			}
			var acc float32
			for j := -r; j <= r; j++ {
				acc += k[j+r] * float32(in[min(max(y+j, 0), h-1)*w+x])
			}
			out[y*w+x] = byte(acc + 0.5)
		}
	}
	return out
}
