package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"slices"

	"github.com/davidbyttow/govips/v2/vips"
)

// The matting test sets (testdata/matte, and testdata/cutout: enclosed regions
// of the background's colour, holes or product) are drawn by:
//
//go:generate go run testdata/matte/gen.go
//go:generate go run testdata/cutout/gen.go

// ErrNoPlainBackground means the border ring of the image is not near-uniform (see
// PlainBackground), so classic matting cannot tell product from background.
var ErrNoPlainBackground = errors.New("background is not plain")

// Matting limits and defaults.
const (
	// MatteMaxPixels is the largest image (width*height) Matte accepts; larger ones
	// fail with ErrTooManyPixels. At its peak Matte holds about 9 bytes a pixel
	// (the RGB pixels twice while libvips hands them over, then a state, a
	// distance and a scratch byte, and the mask), and up to 7 more for each
	// pixel of the bounding box of the enclosed region it judges (three bytes
	// and, at worst, a flood fill's stack).
	MatteMaxPixels = 50_000_000
	// DefaultMatteFeather is the edge softening sigma in pixels used when
	// MatteOptions.Feather is 0.
	DefaultMatteFeather = 1.0
	// DefaultMatteMinHole is the smallest enclosed hole, as a fraction of the image
	// area, used when MatteOptions.MinHole is 0.
	DefaultMatteMinHole = 0.0005
	// MaxErode is the largest radius ErodeMask accepts.
	MaxErode = 1000
)

// MatteOptions controls Matte. The zero value is the default: automatic
// threshold, a 1 px feather and holes from 0.05% of the image area.
type MatteOptions struct {
	// Threshold is the colour distance (Euclidean in 8-bit RGB, 0..255) from the
	// local background colour under which a pixel counts as background; default 0
	// = automatic: five times the noise of the border ring plus 2, at least 6 and
	// at most 40.
	Threshold float64
	// Feather is the sigma in pixels of the gaussian that softens the mask's
	// edge, at most 100; default 0 = DefaultMatteFeather (1.0); negative (or
	// below 0.3) keeps a hard 0/255 edge.
	Feather float64
	// MinHole is the smallest region enclosed by the product (a fraction 0..1 of
	// the image area) that is cut out as a hole when it has the background's
	// colour, although it does not touch the border; default 0 =
	// DefaultMatteMinHole (0.0005). Smaller enclosed regions stay product.
	MinHole float64
}

// Validate reports NaN or out-of-range fields as ErrInvalidOption.
func (o MatteOptions) Validate() error {
	switch {
	case math.IsNaN(o.Threshold) || o.Threshold < 0 || o.Threshold > 255:
		return invalid("matte: threshold %v", o.Threshold)
	case math.IsNaN(o.Feather) || math.IsInf(o.Feather, 0) || o.Feather > 100:
		return invalid("matte: feather %v", o.Feather)
	case math.IsNaN(o.MinHole) || o.MinHole < 0 || o.MinHole > 1:
		return invalid("matte: min hole %v", o.MinHole)
	}
	return nil
}

// Matte computes a cut-out mask for a product shot on a plain, near-uniform
// background (studio white or any other flat colour). It fits a smooth
// background colour field to the border ring (a Coons patch through the four
// sides, so gradients and vignettes are followed; strip pixels far from the
// ring's median colour, such as a product touching the border, are left out),
// measures every pixel's RGB distance to it, flood-fills the background from
// the border, also cuts out the enclosed regions of the background's colour
// that are holes (the inside of a mug handle or a ring) rather than light parts
// of the product (a white clock face, a phone's screen, a label): a hole has at
// least MinHole of the area, its mean colour within about 3 levels of the
// model, no islands of product inside it (a clock's hands, a label's text) and
// a fine texture no grainier than the border strips' (paper is). It then
// removes specks (a 3x3 open and close, then product islands under 0.005% of
// the area), moves the outline to where edge pixels are half product (which
// also drops JPEG ringing around the product), and feathers the edge. The
// result is a one-band 8-bit mask of the same size (255 = product, 0 =
// background); im is unchanged. An image whose
// border ring is transparent (already cut out) gets its alpha channel as the
// mask.
//
// Matte fails with ErrNoPlainBackground when the border ring is not plain (see
// PlainBackground), with ErrTooManyPixels above MatteMaxPixels, and with
// ErrCorrupt when the source cannot be decoded. Limits: a soft shadow stays
// product where it is darker than the threshold; white product areas that touch
// the product's outline are kept only when they differ from the background by
// more than the threshold; an enclosed area of the background's colour, as
// smooth as the background and with nothing inside it (a blank white screen
// in a thin bezel) is cut out, as a hole is; product details under 3 px wide
// may be lost.
func (im *Image) Matte(o MatteOptions) (mask *Image, err error) {
	mask, _, err = im.MatteSource(o)
	return mask, err
}

// MattePixels are pixels the matte has in memory anyway, for a caller that reads them too
// (the output checks). The caller must not change them.
type MattePixels struct {
	// Source is the image's own pixels as 8-bit sRGB, 3 bytes a pixel, when it has no
	// alpha (with alpha, what the matte read was flattened); nil otherwise.
	Source []byte
	// Mask is the mask's pixels, one byte each, when they were made in memory (a feather
	// up to 4 px, or none); nil when libvips softens a wider feather lazily.
	Mask []byte
}

// MatteSource is Matte that also hands back the pixels it has in memory.
func (im *Image) MatteSource(o MatteOptions) (mask *Image, px MattePixels, err error) {
	mask, px, err = im.matteSource(o)
	if err == nil && im.HasAlpha() {
		px.Source = nil
	}
	return mask, px, err
}

func (im *Image) matteSource(o MatteOptions) (mask *Image, px MattePixels, err error) {
	if err := o.Validate(); err != nil {
		return nil, MattePixels{}, err
	}
	if o.Feather == 0 {
		o.Feather = DefaultMatteFeather
	}
	if o.MinHole == 0 {
		o.MinHole = DefaultMatteMinHole
	}
	w, h := im.Width(), im.Height()
	if int64(w)*int64(h) > MatteMaxPixels {
		return nil, MattePixels{}, fmt.Errorf("matte: %dx%d is more than %d pixels: %w", w, h, MatteMaxPixels, ErrTooManyPixels)
	}
	if err := im.decodeSource("matte"); err != nil {
		return nil, MattePixels{}, err
	}
	plain, bg, err := im.PlainBackground()
	if err != nil {
		return nil, MattePixels{}, fmt.Errorf("matte: %w", err)
	}
	if !plain {
		return nil, MattePixels{}, fmt.Errorf("matte: border ring is not near-uniform: %w", ErrNoPlainBackground)
	}
	if bg.A == 0 && im.HasAlpha() {
		// Already cut out: the alpha channel is the mask.
		pix, err := im.bandBytes("matte", func(ref *vips.ImageRef) error {
			a := &Image{ref: ref}
			if err := a.ensureRGB8(); err != nil {
				return err
			}
			return ref.ExtractBand(3, 1)
		})
		if err != nil {
			return nil, MattePixels{}, err
		}
		mask, err := NewImageFromGray(w, h, pix)
		return mask, MattePixels{Mask: pix}, err
	}
	rgb, err := im.bandBytes("matte", func(ref *vips.ImageRef) error {
		a := &Image{ref: ref}
		if err := a.ensureRGB8(); err != nil {
			return err
		}
		if ref.HasAlpha() {
			// Transparent pixels take the background colour.
			if err := ref.Flatten(&vips.Color{R: bg.R, G: bg.G, B: bg.B}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, MattePixels{}, err
	}
	if len(rgb) != w*h*3 {
		return nil, MattePixels{}, fmt.Errorf("matte: got %d bytes, want %d", len(rgb), w*h*3)
	}
	pix := matte(w, h, rgb, o.Threshold, o.MinHole)
	inGo := o.Feather <= featherGoMax
	if inGo && o.Feather >= 0.3 {
		pix = feather(pix, w, h, o.Feather)
	}
	out, err := NewImageFromGray(w, h, pix)
	if err != nil {
		return nil, MattePixels{}, err
	}
	if !inGo {
		if err := out.ref.GaussianBlur(o.Feather); err != nil {
			out.Close()
			return nil, MattePixels{}, opError("matte feather", err)
		}
		pix = nil
	}
	return out, MattePixels{Source: rgb, Mask: pix}, nil
}

// bandBytes returns the 8-bit pixels of a copy of im after prepare, which may
// change the copy's bands and colourspace.
func (im *Image) bandBytes(op string, prepare func(ref *vips.ImageRef) error) ([]byte, error) {
	ref, err := im.ref.Copy()
	if err != nil {
		return nil, opError(op, err)
	}
	defer ref.Close()
	if err := prepare(ref); err != nil {
		return nil, opError(op, err)
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			return nil, opError(op, err)
		}
	}
	return im.readBytes(op, ref)
}

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

// NewImageFromGray makes a one-band 8-bit image (a mask) of w x h pixels from
// pix, row by row, one byte a pixel; len(pix) must be w*h, else
// ErrInvalidOption. pix is not retained.
func NewImageFromGray(w, h int, pix []byte) (*Image, error) {
	if !validSize(w, h) || len(pix) != w*h {
		return nil, invalid("gray image: %dx%d with %d bytes", w, h, len(pix))
	}
	// Stored PNG: no compression, so encoding is a copy; libvips decodes it into
	// its own memory (decodeSource below), and the pixels no longer depend on data.
	var buf bytes.Buffer
	buf.Grow(w*h + h + 1024)
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}); err != nil {
		return nil, fmt.Errorf("gray image: %w", err)
	}
	data := buf.Bytes()
	ensureStarted()
	ref, err := vips.LoadImageFromBuffer(data, importParams())
	if err != nil {
		return nil, opError("gray image", err)
	}
	origin, err := ref.Copy()
	if err != nil {
		ref.Close()
		return nil, opError("gray image", err)
	}
	im := &Image{ref: ref, src: PNG, data: data, origin: origin}
	if err := im.decodeSource("gray image"); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

// Gray returns the image's pixels as one 8-bit band, row by row: a one-band
// image (a mask) as it is, anything else as its luminance, with alpha
// flattened onto black (transparent counts as 0). im is unchanged.
func (im *Image) Gray() (w, h int, pix []byte, err error) {
	pix, err = im.bandBytes("gray", grayBand)
	if err != nil {
		return 0, 0, nil, err
	}
	return im.Width(), im.Height(), pix, nil
}

// grayBand reduces ref to one 8-bit band: see Gray.
func grayBand(ref *vips.ImageRef) error {
	if ref.Bands() == 1 {
		if ref.BandFormat() != vips.BandFormatUchar {
			// 16-bit grey and the like: through colourspace conversion.
			if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
				return err
			}
			return ref.Cast(vips.BandFormatUchar)
		}
		return nil
	}
	a := &Image{ref: ref}
	if err := a.ensureRGB8(); err != nil {
		return err
	}
	if ref.HasAlpha() {
		if err := ref.Flatten(&vips.Color{}); err != nil {
			return err
		}
	}
	if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
		return err
	}
	if ref.Bands() > 1 {
		if err := ref.ExtractBand(0, 1); err != nil {
			return err
		}
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		return ref.Cast(vips.BandFormatUchar)
	}
	return nil
}

// ApplyMask makes the image sRGB with alpha, the alpha being mask (255 = keep)
// multiplied by any alpha the image already has. mask must have the image's
// size, else ErrInvalidOption; a mask with more than one band counts by its
// luminance (see Gray). mask is not changed and may be closed afterwards.
func (im *Image) ApplyMask(mask *Image) error {
	if mask == nil || mask.ref == nil {
		return invalid("apply mask: no mask")
	}
	if mask.Width() != im.Width() || mask.Height() != im.Height() {
		return invalid("apply mask: mask %dx%d, image %dx%d", mask.Width(), mask.Height(), im.Width(), im.Height())
	}
	if err := mask.decodeSource("apply mask"); err != nil {
		return err
	}
	m, err := mask.ref.Copy()
	if err != nil {
		return opError("apply mask", err)
	}
	defer m.Close()
	if err := grayBand(m); err != nil {
		return opError("apply mask", err)
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if im.ref.HasAlpha() {
		a, err := im.ref.ExtractBandToImage(3, 1)
		if err != nil {
			return opError("apply mask", err)
		}
		defer a.Close()
		// alpha*mask/255, rounded: uchar*uchar is ushort, linear gives float.
		if err := a.Multiply(m); err != nil {
			return opError("apply mask", err)
		}
		if err := a.Linear1(1.0/255, 0.5); err != nil {
			return opError("apply mask", err)
		}
		if err := a.Cast(vips.BandFormatUchar); err != nil {
			return opError("apply mask", err)
		}
		if err := im.ref.ExtractBand(0, 3); err != nil {
			return opError("apply mask", err)
		}
		m = a
	}
	if err := im.ref.BandJoin(m); err != nil {
		return opError("apply mask", err)
	}
	return nil
}

// ErodeMask shrinks the white (product) part of a one-band mask by px pixels: each
// pixel becomes the minimum of the (2*px+1)-square around it, pixels beyond the
// image's edge repeating the edge (a product touching the edge is not eroded
// from it). It finds the inside of a product, whose pixels must stay exactly the
// source's. The work is done in Go in time independent of px (van Herk/Gil-Werman
// running minima; libvips 8.14's rank filter gives wrong minima for windows of
// more than 90 pixels), and the image becomes a new in-memory mask (its
// SourceFormat becomes PNG). px 0 does nothing; a negative px, one above
// MaxErode, or an image with more than one band fails with ErrInvalidOption.
func (im *Image) ErodeMask(px int) error {
	if px < 0 || px > MaxErode {
		return invalid("erode mask: %d px", px)
	}
	if im.ref.Bands() != 1 {
		return invalid("erode mask: %d bands, want 1", im.ref.Bands())
	}
	if px == 0 {
		return nil
	}
	w, h, pix, err := im.Gray()
	if err != nil {
		return fmt.Errorf("erode mask: %w", err)
	}
	erode(pix, w, h, px)
	n, err := NewImageFromGray(w, h, pix)
	if err != nil {
		return err
	}
	im.setRef(n.ref)
	if im.origin != nil {
		im.origin.Close()
	}
	im.origin, im.data, im.src = n.origin, n.data, n.src
	return nil
}

// erode replaces every pixel of the w x h grey pix by the minimum of the square
// of radius r around it, the edge repeating beyond the image.
func erode(pix []byte, w, h, r int) {
	k := 2*r + 1
	n := max(w, h) + 2*r
	line, pre, suf := make([]byte, n), make([]byte, n), make([]byte, n)
	// minLine sets out[i] to the minimum of in[i-r..i+r] (edge repeated).
	minLine := func(get func(i int) byte, set func(i int, v byte), length int) {
		m := length + 2*r
		for i := range m {
			line[i] = get(min(max(i-r, 0), length-1))
		}
		for i := range m {
			if i%k == 0 {
				pre[i] = line[i]
			} else {
				pre[i] = min(pre[i-1], line[i])
			}
		}
		for i := m - 1; i >= 0; i-- {
			if i == m-1 || (i+1)%k == 0 {
				suf[i] = line[i]
			} else {
				suf[i] = min(suf[i+1], line[i])
			}
		}
		// The window [i, i+k-1] of line is exactly k long: it is one block, or
		// the end of one and the start of the next.
		for i := range length {
			set(i, min(suf[i], pre[i+k-1]))
		}
	}
	for y := range h {
		row := pix[y*w : (y+1)*w]
		minLine(func(i int) byte { return row[i] }, func(i int, v byte) { row[i] = v }, w)
	}
	for x := range w {
		minLine(func(i int) byte { return pix[i*w+x] }, func(i int, v byte) { pix[i*w+x] = v }, h)
	}
}
