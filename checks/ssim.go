package checks

// SSIM constants: K1 = 0.01, K2 = 0.03, L = 255.
const (
	ssimC1 = (0.01 * 255) * (0.01 * 255)
	ssimC2 = (0.03 * 255) * (0.03 * 255)
)

// ssimSums are the sums one SSIM window needs.
type ssimSums struct {
	a, b, aa, bb, ab int64
}

func (s *ssimSums) add(o ssimSums) {
	s.a += o.a
	s.b += o.b
	s.aa += o.aa
	s.bb += o.bb
	s.ab += o.ab
}

// index is the SSIM of one window of n pixels (uniform weights, population variances).
func (s ssimSums) index(n float64) float64 {
	ma, mb := float64(s.a)/n, float64(s.b)/n
	va := float64(s.aa)/n - ma*ma
	vb := float64(s.bb)/n - mb*mb
	cov := float64(s.ab)/n - ma*mb
	return ((2*ma*mb + ssimC1) * (2*cov + ssimC2)) / ((ma*ma + mb*mb + ssimC1) * (va + vb + ssimC2))
}

// SSIM is the mean structural similarity of two grey images of the same size: the
// standard index (K1 = 0.01, K2 = 0.03, L = 255) over 8x8 windows with uniform weights
// and population variances, at a stride of 4 in both directions, averaged over windows.
// Windows sit on the 4-pixel grid from the top-left corner, so up to 3 columns on the
// right and 3 rows at the bottom fall outside every window. Images narrower or lower
// than 8 are compared as one window. Identical images give exactly 1.
func SSIM(a, b []byte, w, h int) (float64, error) {
	if err := checkBuf("first image", a, 1, w, h); err != nil {
		return 0, err
	}
	if err := checkBuf("second image", b, 1, w, h); err != nil {
		return 0, err
	}
	if w < 8 || h < 8 {
		var s ssimSums
		for i := range a {
			x, y := int64(a[i]), int64(b[i])
			s.add(ssimSums{x, y, x * x, y * y, x * y})
		}
		return s.index(float64(w * h)), nil
	}
	// Sums over the 4x4 blocks of the grid; each 8x8 window is 2x2 blocks.
	bw, bh := w/4, h/4
	blocks := make([]ssimSums, bw*bh)
	for y := range bh * 4 {
		ra, rb := a[y*w:y*w+bw*4], b[y*w:y*w+bw*4]
		brow := blocks[(y/4)*bw : (y/4+1)*bw]
		for bx := range brow {
			var s ssimSums
			for x := bx * 4; x < bx*4+4; x++ {
				p, q := int64(ra[x]), int64(rb[x])
				s.a += p
				s.b += q
				s.aa += p * p
				s.bb += q * q
				s.ab += p * q
			}
			brow[bx].add(s)
		}
	}
	total := 0.0
	for by := range bh - 1 {
		for bx := range bw - 1 {
			i := by*bw + bx
			s := blocks[i]
			s.add(blocks[i+1])
			s.add(blocks[i+bw])
			s.add(blocks[i+bw+1])
			total += s.index(64)
		}
	}
	return total / float64((bw-1)*(bh-1)), nil
}
