// This file holds the classic matting algorithm (see Image.Matte): pure Go on
// plain byte slices, no libvips, so it can be read and tested on its own. matte
// takes 8-bit RGB pixels and returns the hard mask; the background colour model
// it measures against is in matting_bgmodel.go, the feather in feather.go.

package imaging

import (
	"math"
	"slices"
)

// Pixel states during matting.
const (
	stProduct    = iota // farther than the threshold from the background
	stBgLike            // near the background colour, not yet reached
	stBackground        // background: reached from the border, or a hole
	stVisiting          // an enclosed region being measured
	stKept              // an enclosed background-coloured region kept as product
)

// matte returns the hard mask (0 or 255) of rgb: see Matte. threshold 0 means
// automatic.
func matte(w, h int, rgb []byte, threshold, minHole float64) []byte {
	m := newBgModel(w, h, rgb)
	sigma := m.ringNoise(rgb)
	t := threshold
	if t == 0 {
		t = autoThreshold(sigma)
	}
	// A hole shows the background, so its mean colour matches the model within
	// the model's error; a white label on white is off by a few levels.
	holeTol := min(max(3, 2.5*sigma), t)
	// Holes are judged by the background's own noise whatever the threshold
	// asked for: their texture is taken over pixels within the automatic
	// threshold of the model (a higher threshold takes in JPEG ringing).
	auto := autoThreshold(sigma)
	ringTex := m.ringTexture(rgb, min(t, auto))

	state := make([]uint8, w*h)
	dist := make([]uint8, w*h) // distance to the model, 255 = sqrt(3)*255

	t2 := float32(t * t)
	row := make([]float32, 3*w)
	const distScale = 255 / 441.7
	for y := range h {
		m.row(y, row)
		p := rgb[y*w*3 : (y+1)*w*3]
		s := state[y*w : (y+1)*w]
		ds := dist[y*w : (y+1)*w]
		for x := range w {
			dr := float32(p[3*x]) - row[3*x]
			dg := float32(p[3*x+1]) - row[3*x+1]
			db := float32(p[3*x+2]) - row[3*x+2]
			d2 := dr*dr + dg*dg + db*db
			if d2 <= t2 {
				s[x] = stBgLike
			} else {
				s[x] = stProduct
			}
			ds[x] = uint8(min(255, math.Sqrt(float64(d2))*distScale+0.5))
		}
	}

	f := &filler{w: w, h: h, state: state}
	// Background reached from the border.
	for x := range w {
		f.fill(x, 0, stBgLike, stBackground, false, nil)
		f.fill(x, h-1, stBgLike, stBackground, false, nil)
	}
	for y := range h {
		f.fill(0, y, stBgLike, stBackground, false, nil)
		f.fill(w-1, y, stBgLike, stBackground, false, nil)
	}
	// Enclosed background-coloured regions: holes or product (see Matte and
	// region.measure).
	minArea := int(math.Ceil(minHole * float64(w) * float64(h)))
	speck := max(9, int(0.00005*float64(w)*float64(h)))
	calm := uint8(min(255, min(t, auto)*distScale+0.5))
	weak := uint8(min(255, 2*t*distScale+0.5))
	strong := uint8(min(255, 4*t*distScale+0.5))
	var scratch regionScratch
	for i, s := range state {
		if s != stBgLike {
			continue
		}
		x, y := i%w, i/w
		r := region{x0: x, x1: x, y0: y, y1: y}
		f.fill(x, y, stBgLike, stVisiting, false, func(y, x0, x1 int) {
			r.n += x1 - x0 + 1
			r.x0, r.x1 = min(r.x0, x0), max(r.x1, x1)
			r.y0, r.y1 = min(r.y0, y), max(r.y1, y)
			for x := x0; x <= x1; x++ {
				c := m.at(x, y)
				j := 3 * (y*w + x)
				for k := range 3 {
					r.sum[k] += float64(rgb[j+k]) - float64(c[k])
				}
			}
		})
		to := uint8(stKept)
		if r.n >= minArea && r.meanOffset() <= holeTol {
			r.measure(&scratch, state, dist, rgb, w, speck, calm, weak, strong)
			if r.isHole(ringTex) {
				to = stBackground
			}
		}
		f.fill(x, y, stVisiting, to, false, nil)
	}

	mask := state // reuse: 1 = product, 0 = background
	for i, s := range state {
		if s == stBackground {
			mask[i] = 0
		} else {
			mask[i] = 1
		}
	}
	tmp := make([]uint8, w*h)
	morph(mask, tmp, w, h, false) // open: erode, dilate
	morph(mask, tmp, w, h, true)
	morph(mask, tmp, w, h, true) // close: dilate, erode
	morph(mask, tmp, w, h, false)
	refineEdge(mask, dist, w, h)

	// Islands of product too small to be anything but specks.
	f.state = mask
	const island, done = 2, 3
	for i, s := range mask {
		if s != 1 {
			continue
		}
		n := 0
		f.fill(i%w, i/w, 1, island, true, func(_, x0, x1 int) { n += x1 - x0 + 1 })
		to := uint8(done)
		if n < speck {
			to = 0
		}
		f.fill(i%w, i/w, island, to, true, nil)
	}
	for i, s := range mask {
		if s == done {
			mask[i] = 255
		}
	}
	return mask
}

// region is an enclosed background-coloured region being judged: a hole that
// shows the background (a mug's handle, a ring's centre), or a light part of
// the product (a clock's face, a phone's screen, a label).
type region struct {
	n              int // pixels
	x0, y0, x1, y1 int // bounding box, inclusive
	sum            [3]float64
	// Set by measure.
	islands int     // pixels of the product islands the region encloses
	hf, nhf float64 // sum of squared differences of neighbouring pixels deep inside, and their number
}

// meanOffset is the length of the region's mean residual colour.
func (r *region) meanOffset() float64 {
	return math.Hypot(math.Hypot(r.sum[0], r.sum[1]), r.sum[2]) / float64(r.n)
}

// texture is the region's mean squared difference of neighbouring pixels
// (per channel) away from its edge, or 0 when it has no such pixels.
func (r *region) texture() float64 {
	if r.nhf == 0 {
		return 0
	}
	return r.hf / r.nhf
}

// Judging enclosed regions.
const (
	// maxTextureRatio is the most a hole's fine texture may exceed the
	// background's (see bgModel.ringTexture): a standard deviation 1.5 times
	// the background's. A printed label, paper or a fabric is grainier than a
	// studio background seen through a hole.
	maxTextureRatio = 1.5 * 1.5
	// textureFloor is the least texture a hole may have whatever the
	// background's: neighbours one level apart in a quarter of the pairs, what
	// 8 bits and JPEG leave of a noiseless (blown-out) background.
	textureFloor = 0.25
	// textureDepth is how far (px) from a region's edges its texture is taken:
	// the product's anti-aliased outline is not texture.
	textureDepth = 4
	// haloWidth is how far (px) from a region's outer edge a faint enclosed
	// component may be JPEG ringing (a 4:2:0 chroma block reaches 8 px) rather
	// than an island of product.
	haloWidth = 8
)

// regionScratch holds buffers reused by region.measure.
type regionScratch struct {
	grid      []uint8
	dout, din []uint8
	stack     []int32
}

// Cells of the grid region.measure works on.
const (
	cellOther   = iota // not in the region, farther than twice the threshold from the background
	cellIn             // in the region
	cellWeak           // not in the region, within twice the threshold (noise, ringing, a soft edge)
	cellOutside        // reached from outside the region's bounding box
	cellDone           // an enclosed cell already counted
)

// measure sets the region's islands and, when it has none, its texture. state
// marks the region's pixels stVisiting, dist holds every pixel's distance to
// the background model; calm is the automatic threshold (or the threshold, if
// lower), weak twice the threshold and strong four times it, in dist's units.
//
// An island is a component of clearly-not-background pixels that the region
// encloses (a clock's hands and numerals, a label's text, the photo inside a
// frame's white mat) of at least speck pixels, either farther than haloWidth
// from the region's outer edge or at least strong. Seen through a hole, the
// background has no islands: anything floating in it would have to be
// attached to the product, and so would touch the hole's edge. Weak pixels
// (noise and JPEG ringing just over the threshold) count as the region, so
// they cannot chain a clock's hands to its rim.
func (r *region) measure(sc *regionScratch, state, dist, rgb []byte, w, speck int, calm, weak, strong uint8) {
	// A grid over the bounding box with a one-cell margin.
	gw, gh := r.x1-r.x0+3, r.y1-r.y0+3
	n := gw * gh
	sc.grid = slices.Grow(sc.grid[:0], n)[:n]
	sc.dout = slices.Grow(sc.dout[:0], n)[:n]
	sc.din = slices.Grow(sc.din[:0], n)[:n]
	g := sc.grid
	for gy := range gh {
		y := r.y0 - 1 + gy
		for gx := range gw {
			x := r.x0 - 1 + gx
			c := uint8(cellOther)
			if gx > 0 && gy > 0 && gx < gw-1 && gy < gh-1 {
				switch {
				case state[y*w+x] == stVisiting:
					c = cellIn
				case dist[y*w+x] <= weak:
					c = cellWeak
				}
			}
			g[gy*gw+gx] = c
		}
	}
	// flood changes the 8-connected component of i (the complement of a
	// 4-connected region is 8-connected) to to, and returns its size.
	flood := func(i int, to uint8, visit func(i int)) int {
		from := g[i]
		g[i] = to
		sc.stack = append(sc.stack[:0], int32(i))
		size := 0
		for len(sc.stack) > 0 {
			i := int(sc.stack[len(sc.stack)-1])
			sc.stack = sc.stack[:len(sc.stack)-1]
			size++
			if visit != nil {
				visit(i)
			}
			gx, gy := i%gw, i/gw
			for ny := max(0, gy-1); ny <= min(gh-1, gy+1); ny++ {
				for nx := max(0, gx-1); nx <= min(gw-1, gx+1); nx++ {
					if j := ny*gw + nx; g[j] == from {
						g[j] = to
						sc.stack = append(sc.stack, int32(j))
					}
				}
			}
		}
		return size
	}
	// The outside: the margin and what it reaches without crossing the region
	// or a weak cell.
	flood(0, cellOutside, nil)
	// Islands, measured by their distance from the outside (a chamfer
	// distance, 3 a step and 4 a diagonal).
	const inf = 255
	if slices.Contains(g, cellOther) {
		for i, c := range g {
			sc.dout[i] = inf
			if c == cellOutside {
				sc.dout[i] = 0
			}
		}
		chamfer(sc.dout, gw, gh)
		for i, c := range g {
			if c != cellOther {
				continue
			}
			depth, peak := uint8(inf), uint8(0)
			size := flood(i, cellDone, func(j int) {
				depth = min(depth, sc.dout[j])
				peak = max(peak, dist[(r.y0-1+j/gw)*w+r.x0-1+j%gw])
			})
			if size >= speck && (depth > 3*haloWidth || peak >= strong) {
				r.islands += size
			}
		}
		if r.islands > 0 {
			return // product: the texture does not matter
		}
	}
	for i, c := range g {
		sc.din[i] = 0
		if c == cellIn {
			sc.din[i] = inf
		}
	}
	chamfer(sc.din, gw, gh)
	// Fine texture: differences between neighbours in the region, both at
	// least textureDepth from anything not in it (its outline, specks of
	// ringing) and within calm of the background.
	const deep = 3 * textureDepth
	for gy := 1; gy < gh-1; gy++ {
		y := r.y0 - 1 + gy
		for gx := 1; gx < gw-1; gx++ {
			i := gy*gw + gx
			p := y*w + r.x0 - 1 + gx
			if sc.din[i] < deep || dist[p] > calm {
				continue
			}
			for _, nb := range [2][2]int{{1, 1}, {gw, w}} {
				ni, np := i+nb[0], p+nb[1]
				if sc.din[ni] < deep || dist[np] > calm {
					continue
				}
				for k := range 3 {
					e := float64(rgb[3*p+k]) - float64(rgb[3*np+k])
					r.hf += e * e
				}
				r.nhf += 3
			}
		}
	}
}

// isHole reports whether a measured region shows the background: no islands,
// and a texture no grainier than the background's (ringTexture).
func (r *region) isHole(ringTexture float64) bool {
	return r.islands == 0 && r.texture() <= max(maxTextureRatio*ringTexture, textureFloor)
}

// chamfer turns d (0 at sources, 255 elsewhere) into 3-4 chamfer distances
// to the nearest source (3 a step, 4 a diagonal), in place, saturating at 255
// (85 px).
func chamfer(d []uint8, w, h int) {
	step := func(v, n uint8, c uint8) uint8 {
		if n > 255-c {
			return v
		}
		return min(v, n+c)
	}
	for y := range h {
		for x := range w {
			i := y*w + x
			v := d[i]
			if x > 0 {
				v = step(v, d[i-1], 3)
			}
			if y > 0 {
				v = step(v, d[i-w], 3)
				if x > 0 {
					v = step(v, d[i-w-1], 4)
				}
				if x < w-1 {
					v = step(v, d[i-w+1], 4)
				}
			}
			d[i] = v
		}
	}
	for y := h - 1; y >= 0; y-- {
		for x := w - 1; x >= 0; x-- {
			i := y*w + x
			v := d[i]
			if x < w-1 {
				v = step(v, d[i+1], 3)
			}
			if y < h-1 {
				v = step(v, d[i+w], 3)
				if x < w-1 {
					v = step(v, d[i+w+1], 4)
				}
				if x > 0 {
					v = step(v, d[i+w-1], 4)
				}
			}
			d[i] = v
		}
	}
}

// autoThreshold is the automatic threshold for a background whose noise
// sigma is sigma: see MatteOptions.Threshold.
func autoThreshold(sigma float64) float64 {
	return min(max(5*sigma+2, 6), 40)
}

// refineEdge moves the product's outline to where pixels are half product:
// the flood fill stops at the first pixel farther than the threshold, which on
// an anti-aliased (and JPEG-ringing) edge is a pixel or more outside. Three
// times, a product pixel next to the background is dropped when its distance to
// the background is under half the largest distance within 3 px (taken as the
// product's own colour nearby).
func refineEdge(mask, dist []uint8, w, h int) {
	const r = 3
	var drop []int32
	for range 3 {
		drop = drop[:0]
		for y := range h {
			for x := range w {
				i := y*w + x
				if mask[i] == 0 {
					continue
				}
				if !(x > 0 && mask[i-1] == 0 || x < w-1 && mask[i+1] == 0 ||
					y > 0 && mask[i-w] == 0 || y < h-1 && mask[i+w] == 0) {
					continue
				}
				var peak uint8
				for yy := max(0, y-r); yy <= min(h-1, y+r); yy++ {
					for xx := max(0, x-r); xx <= min(w-1, x+r); xx++ {
						peak = max(peak, dist[yy*w+xx])
					}
				}
				if 2*int(dist[i]) < int(peak) {
					drop = append(drop, int32(i))
				}
			}
		}
		for _, i := range drop {
			mask[i] = 0
		}
	}
}

// filler flood-fills regions of a state grid with scanlines.
type filler struct {
	w, h  int
	state []uint8
	stack []int32
}

// fill changes the region of from-valued cells connected to x, y (4-connected,
// or 8-connected when diag) to to, calling visit with each run of cells (row,
// first and last column) when visit is not nil. from and to must differ.
func (f *filler) fill(x, y int, from, to uint8, diag bool, visit func(y, x0, x1 int)) {
	w, s := f.w, f.state
	if s[y*w+x] != from {
		return
	}
	f.stack = append(f.stack[:0], int32(y*w+x))
	for len(f.stack) > 0 {
		i := int(f.stack[len(f.stack)-1])
		f.stack = f.stack[:len(f.stack)-1]
		if s[i] != from {
			continue
		}
		y := i / w
		row := y * w
		x0, x1 := i-row, i-row
		for x0 > 0 && s[row+x0-1] == from {
			x0--
		}
		for x1 < w-1 && s[row+x1+1] == from {
			x1++
		}
		for x := x0; x <= x1; x++ {
			s[row+x] = to
		}
		if visit != nil {
			visit(y, x0, x1)
		}
		lo, hi := x0, x1
		if diag {
			lo, hi = max(0, x0-1), min(w-1, x1+1)
		}
		for _, ny := range [2]int{y - 1, y + 1} {
			if ny < 0 || ny >= f.h {
				continue
			}
			nrow := ny * w
			in := false
			for x := lo; x <= hi; x++ {
				if s[nrow+x] == from {
					if !in {
						f.stack = append(f.stack, int32(nrow+x))
						in = true
					}
				} else {
					in = false
				}
			}
		}
	}
}

// morph dilates (or erodes) the 0/1 mask by a 3x3 square in place; tmp is
// scratch of the same size. Outside the image counts as the mask's nearest edge
// pixel.
func morph(mask, tmp []uint8, w, h int, dilate bool) {
	pick := func(a, b, c uint8) uint8 {
		if dilate {
			return max(a, b, c)
		}
		return min(a, b, c)
	}
	for y := range h {
		r := mask[y*w : (y+1)*w]
		t := tmp[y*w : (y+1)*w]
		for x := range w {
			t[x] = pick(r[max(0, x-1)], r[x], r[min(w-1, x+1)])
		}
	}
	for y := range h {
		up, mid, down := tmp[max(0, y-1)*w:], tmp[y*w:], tmp[min(h-1, y+1)*w:]
		r := mask[y*w : (y+1)*w]
		for x := range w {
			r[x] = pick(up[x], mid[x], down[x])
		}
	}
}
