//go:build ignore

// gen draws the matting test set of package imaging: product shots on plain,
// slightly off-white backgrounds (a gradient or vignette and gaussian noise),
// with anti-aliased edges, written as JPEG q90, each with its exact mask. Run it
// from the imaging directory (`go generate` runs it too); it is deterministic and
// needs only the standard library.
//
//	go run testdata/matte/gen.go
//
// For every NAME it writes NAME.jpg (the shot) and NAME.mask.png (8-bit grey,
// 255 = product, the pixel's coverage by the product's shapes, 4x4 supersampled):
//
//	bottle     900x1200  green bottle (rounded rect, ellipse shoulder, neck, red cap) on #fafafa, vertical gradient
//	mug        1200x1000 blue mug with a handle; the hole inside the handle shows the background (#f8f8f8)
//	ring       1000x1000 gold donut with a large centre hole, on #fcfcfc with a vignette
//	shoe       1600x1200 shoe-like blob (ellipses, collar, grey sole, laces) on #f6f6f6, diagonal gradient
//	lightgrey  1000x800  light-grey cushion (about #d6d6d8) on #fafafa: low contrast
//	label      1000x1000 dark box on #f4f4f4 with an enclosed pure-white label (dark text bars) and a
//	                     white band that runs to the box's left and right edges
//	whitelabel 800x1000  dark red box on #fcfcfc with an enclosed pure-white label: the label is within
//	                     the threshold of the background, enclosed like a hole, and must stay product
//	shadow     1000x1000 brown box on #fafafa with a soft grey shadow under it; the mask is the
//	                     box only (the shadow is not product)
package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

const dir = "testdata/matte"

// sdf is a signed distance in pixels (negative inside), or an underestimate of
// one (its gradient is at most 1), so |sdf| >= edgeBand means fully in or out.
type sdf func(x, y float64) float64

const edgeBand = 2.0

type rgb [3]float64

// layer is a shape painted over what is below it.
type layer struct {
	shape   sdf
	color   func(x, y float64) rgb
	opacity func(x, y float64) float64 // nil: opaque
	product bool                       // part of the mask
}

// scene is one test image.
type scene struct {
	name   string
	w, h   int
	bg     func(x, y float64) rgb // background without noise
	noise  float64                // gaussian sigma per channel
	layers []layer
}

func main() {
	for _, s := range scenes() {
		img, mask := s.render()
		var jb, mb bytes.Buffer
		check(jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}))
		check(png.Encode(&mb, mask))
		write(s.name+".jpg", jb.Bytes())
		write(s.name+".mask.png", mb.Bytes())
	}
}

func scenes() []scene {
	return []scene{
		{
			name: "bottle", w: 900, h: 1200, noise: 1.2,
			bg: gradient(rgb{250, 250, 250}, 0, 5), // -2.5 to +3.5 levels top to bottom
			layers: []layer{
				{shape: union(
					roundRect(450, 760, 170, 330, 60),
					ellipse(450, 440, 170, 110),
					roundRect(450, 300, 55, 120, 10),
				), color: shaded(rgb{30, 115, 60}, 450, 170, 0.45), product: true},
				{shape: roundRect(450, 175, 66, 40, 8), color: flat(rgb{170, 30, 35}), product: true},
				// a pale label band, well inside the body
				{shape: roundRect(450, 780, 140, 110, 6), color: flat(rgb{235, 225, 200}), product: true},
			},
		},
		{
			name: "mug", w: 1200, h: 1000, noise: 1.2,
			bg: gradient(rgb{248, 248, 248}, 4, 0),
			layers: []layer{
				{shape: union(
					roundRect(520, 520, 250, 300, 40),
					subtract(roundRect(870, 500, 140, 170, 100), roundRect(870, 500, 80, 110, 60)),
				), color: shaded(rgb{40, 70, 165}, 520, 250, 0.5), product: true},
			},
		},
		{
			name: "ring", w: 1000, h: 1000, noise: 1.0,
			bg: vignette(rgb{252, 252, 252}, 500, 500, 6),
			layers: []layer{
				{shape: annulus(500, 500, 300, 90), color: func(x, y float64) rgb {
					a := math.Atan2(y-500, x-500)
					k := 0.8 + 0.2*math.Cos(2*a)
					return rgb{205 * k, 160 * k, 60 * k}
				}, product: true},
			},
		},
		{
			name: "shoe", w: 1600, h: 1200, noise: 1.5,
			bg: gradient(rgb{246, 246, 246}, 3, 3),
			layers: []layer{
				{shape: union(
					intersect(union(
						ellipse(820, 650, 560, 210),
						ellipse(560, 500, 230, 190),
						ellipse(1250, 700, 170, 140),
					), halfBelow(330)),
				), color: shaded(rgb{150, 60, 40}, 800, 560, 0.35), product: true},
				{shape: ellipse(560, 380, 150, 45), color: flat(rgb{40, 25, 20}), product: true}, // collar opening
				{shape: roundRect(820, 850, 610, 38, 34), color: flat(rgb{95, 95, 100}), product: true},
				{shape: union(circle(760, 520, 12), circle(830, 540, 12), circle(900, 560, 12), circle(970, 580, 12)),
					color: flat(rgb{235, 235, 230}), product: true},
			},
		},
		{
			name: "lightgrey", w: 1000, h: 800, noise: 1.2,
			bg: gradient(rgb{250, 250, 250}, 2, 2),
			layers: []layer{
				{shape: roundRect(500, 420, 300, 220, 80), color: func(x, y float64) rgb {
					k := 6 * math.Cos((x-500)/300*math.Pi/2) * math.Cos((y-420)/220*math.Pi/2)
					return rgb{208 + k, 208 + k, 210 + k}
				}, product: true},
				{shape: roundRect(500, 420, 260, 3, 2), color: flat(rgb{190, 190, 193}), product: true}, // seam
			},
		},
		{
			name: "label", w: 1000, h: 1000, noise: 1.2,
			bg: gradient(rgb{244, 244, 244}, 2, 2),
			layers: []layer{
				{shape: roundRect(500, 500, 300, 340, 12), color: flat(rgb{35, 45, 70}), product: true},
				{shape: roundRect(500, 430, 200, 130, 4), color: flat(rgb{255, 255, 255}), product: true},
				{shape: union(
					roundRect(500, 370, 150, 14, 3),
					roundRect(460, 420, 110, 10, 3),
					roundRect(520, 470, 130, 10, 3),
				), color: flat(rgb{60, 60, 60}), product: true},
				// a white band touching the box's left and right edges
				{shape: intersect(roundRect(500, 500, 300, 340, 12), rect(0, 740, 1000, 800)),
					color: flat(rgb{255, 255, 255}), product: true},
			},
		},
		{
			name: "whitelabel", w: 800, h: 1000, noise: 1.0,
			bg: gradient(rgb{252, 252, 252}, 1, 1),
			layers: []layer{
				{shape: roundRect(400, 500, 260, 380, 20), color: flat(rgb{120, 20, 30}), product: true},
				{shape: roundRect(400, 520, 190, 230, 6), color: flat(rgb{255, 255, 255}), product: true},
				{shape: union(
					roundRect(400, 380, 140, 16, 4),
					roundRect(360, 660, 90, 10, 3),
				), color: flat(rgb{120, 20, 30}), product: true},
			},
		},
		{
			name: "shadow", w: 1000, h: 1000, noise: 1.2,
			bg: gradient(rgb{250, 250, 250}, 0, 2),
			layers: []layer{
				{shape: rect(0, 0, 1000, 1000), color: flat(rgb{60, 60, 60}), opacity: func(x, y float64) float64 {
					dx, dy := (x-500)/320, (y-715)/55
					return 0.45 * math.Exp(-2*(dx*dx+dy*dy))
				}},
				{shape: roundRect(500, 450, 220, 260, 30), color: shaded(rgb{170, 110, 60}, 500, 220, 0.3), product: true},
			},
		},
	}
}

// render draws s and its mask.
func (s scene) render() (*image.RGBA, *image.Gray) {
	img := image.NewRGBA(image.Rect(0, 0, s.w, s.h))
	mask := image.NewGray(image.Rect(0, 0, s.w, s.h))
	r := rand.New(rand.NewPCG(uint64(len(s.name)), uint64(s.w*s.h)))
	var products []sdf
	for _, l := range s.layers {
		if l.product {
			products = append(products, l.shape)
		}
	}
	productShape := union(products...)
	for y := range s.h {
		for x := range s.w {
			cx, cy := float64(x)+0.5, float64(y)+0.5
			c := s.bg(cx, cy)
			for k := range 3 {
				c[k] += r.NormFloat64() * s.noise
			}
			for _, l := range s.layers {
				a := coverage(l.shape, cx, cy)
				if a == 0 {
					continue
				}
				if l.opacity != nil {
					a *= l.opacity(cx, cy)
				}
				lc := l.color(cx, cy)
				for k := range 3 {
					c[k] = c[k]*(1-a) + lc[k]*a
				}
			}
			img.SetRGBA(x, y, color.RGBA{clamp(c[0]), clamp(c[1]), clamp(c[2]), 255})
			mask.SetGray(x, y, color.Gray{clamp(255 * coverage(productShape, cx, cy))})
		}
	}
	return img, mask
}

// coverage is the fraction of the pixel centred at x, y inside shape.
func coverage(shape sdf, x, y float64) float64 {
	d := shape(x, y)
	if d <= -edgeBand {
		return 1
	}
	if d >= edgeBand {
		return 0
	}
	const n = 4
	in := 0
	for i := range n {
		for j := range n {
			if shape(x+(float64(i)+0.5)/n-0.5, y+(float64(j)+0.5)/n-0.5) < 0 {
				in++
			}
		}
	}
	return float64(in) / (n * n)
}

func circle(cx, cy, r float64) sdf {
	return func(x, y float64) float64 { return math.Hypot(x-cx, y-cy) - r }
}

func ellipse(cx, cy, a, b float64) sdf {
	return func(x, y float64) float64 {
		return (math.Hypot((x-cx)/a, (y-cy)/b) - 1) * min(a, b)
	}
}

func annulus(cx, cy, r, half float64) sdf {
	return func(x, y float64) float64 { return math.Abs(math.Hypot(x-cx, y-cy)-r) - half }
}

// roundRect is centred at cx, cy with half sizes hw, hh and corner radius r.
func roundRect(cx, cy, hw, hh, r float64) sdf {
	return func(x, y float64) float64 {
		qx := math.Abs(x-cx) - hw + r
		qy := math.Abs(y-cy) - hh + r
		return math.Hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - r
	}
}

// rect is the axis-aligned rectangle [x0,x1) x [y0,y1).
func rect(x0, y0, x1, y1 float64) sdf {
	return roundRect((x0+x1)/2, (y0+y1)/2, (x1-x0)/2, (y1-y0)/2, 0)
}

// halfBelow is everything below the line y = y0.
func halfBelow(y0 float64) sdf {
	return func(_, y float64) float64 { return y0 - y }
}

func union(shapes ...sdf) sdf {
	return func(x, y float64) float64 {
		d := math.Inf(1)
		for _, s := range shapes {
			d = min(d, s(x, y))
		}
		return d
	}
}

func intersect(a, b sdf) sdf {
	return func(x, y float64) float64 { return max(a(x, y), b(x, y)) }
}

func subtract(a, b sdf) sdf {
	return func(x, y float64) float64 { return max(a(x, y), -b(x, y)) }
}

func flat(c rgb) func(x, y float64) rgb {
	return func(_, _ float64) rgb { return c }
}

// shaded darkens c away from the vertical line x = cx (a cylinder lit from the
// front): by depth at half-width hw.
func shaded(c rgb, cx, hw, depth float64) func(x, y float64) rgb {
	return func(x, _ float64) rgb {
		t := min(math.Abs(x-cx)/hw, 1)
		k := 1 - depth*t*t + 0.15*math.Exp(-40*(t-0.35)*(t-0.35)) // a highlight stripe
		return rgb{c[0] * k, c[1] * k, c[2] * k}
	}
}

// gradient is c plus a linear ramp of gx levels across and gy levels down,
// centred on c.
func gradient(c rgb, gx, gy float64) func(x, y float64) rgb {
	return func(x, y float64) rgb {
		d := gx*(x/1000-0.5) + gy*(y/1000-0.5)
		return rgb{c[0] + d, c[1] + d, c[2] + d}
	}
}

// vignette is c darkened by up to depth levels towards the corners.
func vignette(c rgb, cx, cy, depth float64) func(x, y float64) rgb {
	return func(x, y float64) rgb {
		r2 := ((x-cx)*(x-cx) + (y-cy)*(y-cy)) / (cx*cx + cy*cy)
		d := depth * r2
		return rgb{c[0] - d, c[1] - d, c[2] - d}
	}
}

func clamp(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}

func write(name string, data []byte) {
	check(os.WriteFile(filepath.Join(dir, name), data, 0o644))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
