// This file holds the background colour model of the classic matting
// (matting.go): a smooth colour field fitted to the border strips of plain
// 8-bit RGB pixels, and the noise and texture of those strips. Pure Go, no libvips.

package imaging

import (
	"math"
	"slices"
)

// bgModel is a smooth background colour field over the image: a Coons patch
// through the colour profiles of its four border strips, exact for any field of
// the form f(x)+g(y) (linear gradients, separable vignettes).
type bgModel struct {
	w, h  int
	depth int          // strip depth in pixels
	u     []float32    // per column: 0 at the left strip's centre, 1 at the right's
	tt    [][3]float32 // per column: top profile minus the top corners' blend
	bt    [][3]float32 // per column: bottom profile minus the bottom corners' blend
	v     []float32    // per row: 0 at the top strip's centre, 1 at the bottom's
	l, rl [][3]float32 // per row: left profile, and right minus left
}

// newBgModel fits the model to the border strips of rgb. Strip pixels far
// from the strips' median colour (a product touching the border) are left out,
// and each profile is median-smoothed.
func newBgModel(w, h int, rgb []byte) *bgModel {
	d := min(max(2, int(math.Round(0.01*float64(min(w, h))))), 16, max(1, min(w, h)/4))
	m := &bgModel{w: w, h: h, depth: d}
	// The strips' median colour.
	var hist [3][256]int
	n := 0
	m.strips(func(_, _, i int) {
		for k := range 3 {
			hist[k][rgb[i+k]]++
		}
		n++
	})
	var med [3]float32
	for k := range 3 {
		seen := 0
		for v, c := range hist[k] {
			if seen += c; seen > n/2 {
				med[k] = float32(v)
				break
			}
		}
	}
	top, bottom := newProfile(w), newProfile(w)
	left, right := newProfile(h), newProfile(h)
	m.strips(func(x, y, i int) {
		var d2 float32
		for k := range 3 {
			e := float32(rgb[i+k]) - med[k]
			d2 += e * e
		}
		if d2 > profileOutlier*profileOutlier {
			return
		}
		switch {
		case y < d:
			top.add(x, rgb[i:i+3])
		case y >= h-d:
			bottom.add(x, rgb[i:i+3])
		}
		switch {
		case x < d:
			left.add(y, rgb[i:i+3])
		case x >= w-d:
			right.add(y, rgb[i:i+3])
		}
	})
	for _, p := range []*profile{top, bottom, left, right} {
		p.smooth(med)
	}
	m.fit(top.c, bottom.c, left.c, right.c)
	return m
}

// profileOutlier is the RGB distance from the border strips' median colour
// beyond which a strip pixel is not used for the background model.
const profileOutlier = 40

// strips calls fn with every pixel of the border strips (column, row and index
// into the RGB bytes); corner pixels once.
func (m *bgModel) strips(fn func(x, y, i int)) {
	w, h, d := m.w, m.h, m.depth
	for y := range h {
		if y < d || y >= h-d {
			for x := range w {
				fn(x, y, 3*(y*w+x))
			}
			continue
		}
		for x := range min(d, w) {
			fn(x, y, 3*(y*w+x))
			if x2 := w - 1 - x; x2 >= d {
				fn(x2, y, 3*(y*w+x2))
			}
		}
	}
}

// profile is the mean colour along one border strip, position by position.
type profile struct {
	c [][3]float32
	n []int
}

func newProfile(n int) *profile {
	return &profile{c: make([][3]float32, n), n: make([]int, n)}
}

func (p *profile) add(i int, px []byte) {
	for k := range 3 {
		p.c[i][k] += float32(px[k])
	}
	p.n[i]++
}

// smooth turns the sums into means and replaces each by the per-channel median
// of the positions with data in a window around it (about 5% of the length),
// which removes noise and short intrusions of the product; a window without
// data takes fallback.
func (p *profile) smooth(fallback [3]float32) {
	n := len(p.c)
	for i := range n {
		if p.n[i] > 0 {
			for k := range 3 {
				p.c[i][k] /= float32(p.n[i])
			}
		}
	}
	r := min(max(1, n/40), 60)
	src := slices.Clone(p.c)
	win := make([]float32, 0, 2*r+1)
	for i := range n {
		lo, hi := max(0, i-r), min(n-1, i+r)
		for k := range 3 {
			win = win[:0]
			for j := lo; j <= hi; j++ {
				if p.n[j] > 0 {
					win = append(win, src[j][k])
				}
			}
			if len(win) == 0 {
				p.c[i][k] = fallback[k]
				continue
			}
			slices.Sort(win)
			p.c[i][k] = win[len(win)/2]
		}
	}
}

// fit sets the model from the four smoothed profiles.
func (m *bgModel) fit(top, bottom, left, right [][3]float32) {
	w, h, d := m.w, m.h, m.depth
	c := float32(d-1) / 2 // the strips' centre line
	m.u, m.v = axis(w, c), axis(h, c)
	ci, cj := int(c), w-1-int(c)
	ri, rj := int(c), h-1-int(c)
	var c00, c10, c01, c11 [3]float32 // corners: top-left, top-right, bottom-left, bottom-right
	for k := range 3 {
		c00[k] = (top[ci][k] + left[ri][k]) / 2
		c10[k] = (top[cj][k] + right[ri][k]) / 2
		c01[k] = (bottom[ci][k] + left[rj][k]) / 2
		c11[k] = (bottom[cj][k] + right[rj][k]) / 2
	}
	m.tt, m.bt = make([][3]float32, w), make([][3]float32, w)
	for x := range w {
		u := m.u[x]
		for k := range 3 {
			m.tt[x][k] = top[x][k] - ((1-u)*c00[k] + u*c10[k])
			m.bt[x][k] = bottom[x][k] - ((1-u)*c01[k] + u*c11[k])
		}
	}
	m.l, m.rl = left, make([][3]float32, h)
	for y := range h {
		for k := range 3 {
			m.rl[y][k] = right[y][k] - left[y][k]
		}
	}
}

// axis returns n coordinates running from 0 at c to 1 at n-1-c.
func axis(n int, c float32) []float32 {
	a := make([]float32, n)
	span := float32(n-1) - 2*c
	if span <= 0 {
		return a
	}
	for i := range a {
		a[i] = (float32(i) - c) / span
	}
	return a
}

// row writes the model's colour of every pixel of row y into out (3 per pixel).
func (m *bgModel) row(y int, out []float32) {
	v := m.v[y]
	l, rl := m.l[y], m.rl[y]
	for x := range m.w {
		u := m.u[x]
		tt, bt := m.tt[x], m.bt[x]
		for k := range 3 {
			out[3*x+k] = (1-v)*tt[k] + v*bt[k] + l[k] + u*rl[k]
		}
	}
}

// at returns the model's colour at x, y.
func (m *bgModel) at(x, y int) [3]float32 {
	v, u := m.v[y], m.u[x]
	var c [3]float32
	for k := range 3 {
		c[k] = (1-v)*m.tt[x][k] + v*m.bt[x][k] + m.l[y][k] + u*m.rl[y][k]
	}
	return c
}

// ringTexture is the mean squared difference between neighbouring pixels of
// the border strips (per channel), over pairs both within t of the model: the
// background's fine texture (sensor noise as the JPEG encoder left it).
func (m *bgModel) ringTexture(rgb []byte, t float64) float64 {
	w := m.w
	t2 := t * t
	near := func(x, y int) bool {
		c := m.at(x, y)
		i := 3 * (y*w + x)
		var d2 float64
		for k := range 3 {
			e := float64(rgb[i+k]) - float64(c[k])
			d2 += e * e
		}
		return d2 <= t2
	}
	var sum float64
	n := 0
	m.strips(func(x, y, i int) {
		if x+1 >= w || !m.inStrip(x+1, y) || !near(x, y) || !near(x+1, y) {
			return
		}
		for k := range 3 {
			e := float64(rgb[i+k]) - float64(rgb[i+3+k])
			sum += e * e
		}
		n += 3
	})
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// inStrip reports whether x, y is in a border strip.
func (m *bgModel) inStrip(x, y int) bool {
	d := m.depth
	return y < d || y >= m.h-d || x < d || x >= m.w-d
}

// ringNoise estimates the per-channel noise sigma of the background from the
// median distance of the border strips' pixels to the model (for gaussian noise
// the distance follows a chi distribution with 3 degrees of freedom, whose
// median is 1.538 sigma).
func (m *bgModel) ringNoise(rgb []byte) float64 {
	const binsPerLevel, bins = 8, 64 * 8
	var hist [bins + 1]int
	n := 0
	m.strips(func(x, y, i int) {
		c := m.at(x, y)
		var d2 float64
		for k := range 3 {
			e := float64(rgb[i+k]) - float64(c[k])
			d2 += e * e
		}
		hist[min(bins, int(math.Sqrt(d2)*binsPerLevel))]++
		n++
	})
	half, seen := n/2, 0
	for b, c := range hist {
		seen += c
		if seen > half {
			return (float64(b) + 0.5) / binsPerLevel / 1.538
		}
	}
	return 0
}
