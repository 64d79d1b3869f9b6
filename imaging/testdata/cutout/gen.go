//go:build ignore

// gen draws the cut-out test set of package imaging: product shots on a plain
// studio background (near-white, a gentle gradient and vignette, sensor noise, a
// faint soft shadow, JPEG compression), each with its exact mask. The set is
// about enclosed regions of the background's colour: some are product (a white
// clock face, a phone's white screen, a white label, a picture's white mat, the
// face of a white product whose outline is only a thin grey edge) and some are
// holes that show the background (a mug's handle, a ring, scissors' finger
// loops, a bag's handle). Run it from the imaging directory (`go generate` runs
// it too); it is deterministic and needs only the standard library.
//
//	go run testdata/cutout/gen.go
//
// For every NAME it writes NAME.jpg (the shot) and NAME.mask.png (8-bit grey,
// 255 = product: the pixel's coverage by the product's shapes, 4x4
// supersampled; shadows are not product). Light surfaces are drawn relative to
// the background's own colour at that point (onBg), so "white" means the
// background's colour, give or take a level or two; what a real shot adds to
// them (a rim's shade on a clock face, a label's curvature, paper grain, a
// screen's uneven backlight) is drawn where the object has it.
//
//	clock          560x560 dark-rimmed wall clock, face of the background's colour, rim shade, ticks, hands
//	clock_thin     480x480 thin silver rim, face one level under the background, dot numerals, hands
//	phone          360x640 black phone, white screen (cool tint) with status bar, text and icons
//	phone_blank    360x640 black phone, blank white screen: cool tint, backlight falling off to the corners
//	bottle_label   400x640 amber bottle, enclosed warm-white paper label curving with the bottle, text
//	carton_label   480x560 navy carton, enclosed blank white label of matte paper (grain), no text
//	mug            640x480 red mug: the handle's hole shows the background
//	white_mug      640x480 white mug with a thin grey edge (shading): body product, handle hole background
//	donut          560x560 gold ring with a large centre hole, strong vignette
//	tape           560x560 white roll of tape (shaded edges, cardboard core): band product, centre hole background
//	scissors       640x480 black finger loops (two holes), steel blades
//	handbag        560x560 leather bag (grain) whose handle encloses a large hole
//	vase_bottom    480x640 pale celadon vase cut by the bottom border, enclosed white label with text
//	small_watch    640x480 small watch (70 px) with a white face and thin hands
//	basket         640x480 woven basket (texture) with a handle hole
//	clipped_white  640x480 blown-out background (255), white box at 252-253 with a thin grey edge and a logo
//	frame          480x560 wooden frame, white mat (bevel shade) around a photo
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

const dir = "testdata/cutout"

// sdf is a signed distance in pixels (negative inside), or an underestimate of
// one (its gradient is at most 1), so |sdf| >= edgeBand means fully in or out.
type sdf func(x, y float64) float64

const edgeBand = 2.0

type rgb [3]float64

// paint gives a layer's colour at x, y over the background colour bg there.
type paint func(x, y float64, bg rgb) rgb

// layer is a shape painted over what is below it.
type layer struct {
	shape   sdf
	color   paint
	opacity func(x, y float64) float64 // nil: opaque
	product bool                       // part of the mask
}

// scene is one test image.
type scene struct {
	name    string
	w, h    int
	bg      func(x, y float64) rgb // background without noise (may exceed 255: clipped)
	noise   float64                // sensor noise sigma per channel
	quality int                    // JPEG quality
	layers  []layer
}

func main() {
	for _, s := range scenes() {
		img, mask := s.render()
		var jb, mb bytes.Buffer
		check(jpeg.Encode(&jb, img, &jpeg.Options{Quality: s.quality}))
		check(png.Encode(&mb, mask))
		write(s.name+".jpg", jb.Bytes())
		write(s.name+".mask.png", mb.Bytes())
	}
}

func scenes() []scene {
	dark := rgb{28, 28, 30}
	return []scene{
		{
			name: "clock", w: 560, h: 560, noise: 1.3, quality: 88,
			bg: studio(rgb{250, 250, 249}, 560, 560, 2, -3, 7),
			layers: append([]layer{
				softShadow(300, 520, 200, 22, 0.022),
				{shape: annulus(280, 270, 212, 14), color: shaded(rgb{48, 48, 52}, 280, 226, 0.3), product: true},
				{shape: circle(280, 270, 199), color: occluded(onBg(rgb{0, 0, 0}), circle(280, 270, 199), 9, 5), product: true},
				{shape: union(clockHands(280, 270, 100, 150, 6, 4)...), color: flat(dark), product: true},
			}, ticks(280, 270, 165, 185, 3, 12, dark)...),
		},
		{
			name: "clock_thin", w: 480, h: 480, noise: 1.6, quality: 85,
			bg: studio(rgb{247, 247, 247}, 480, 480, 3, 2, 5),
			layers: append([]layer{
				{shape: annulus(240, 240, 190, 4), color: brushed(rgb{172, 172, 178}), product: true},
				{shape: circle(240, 240, 187), color: onBg(rgb{-1, -1, -1}), product: true},
				{shape: union(clockHands(240, 240, 85, 130, 4, 2.5)...), color: flat(dark), product: true},
			}, dots(240, 240, 160, 6, 12, dark)...),
		},
		phone("phone", true),
		phone("phone_blank", false),
		{
			name: "bottle_label", w: 400, h: 640, noise: 1.2, quality: 90,
			bg: studio(rgb{249, 249, 249}, 400, 640, 0, 5, 4),
			layers: []layer{
				softShadow(205, 603, 150, 14, 0.022),
				{shape: union(
					roundRect(200, 400, 110, 200, 30),
					ellipse(200, 215, 110, 70),
					roundRect(200, 130, 35, 60, 6),
				), color: shaded(rgb{150, 85, 28}, 200, 110, 0.45), product: true},
				{shape: roundRect(200, 65, 40, 22, 5), color: shaded(rgb{180, 150, 60}, 200, 40, 0.3), product: true},
				{shape: roundRect(200, 420, 96, 95, 3), color: cylinder(onBg(rgb{1, 0, -2}), 200, 110, 14), product: true},
				{shape: union(
					roundRect(200, 370, 60, 12, 3),
					roundRect(200, 405, 75, 4, 2),
					roundRect(185, 425, 60, 4, 2),
					roundRect(210, 445, 70, 4, 2),
					circle(200, 480, 14),
				), color: flat(rgb{90, 30, 25}), product: true},
			},
		},
		{
			name: "carton_label", w: 480, h: 560, noise: 1.1, quality: 90,
			bg: studio(rgb{251, 251, 250}, 480, 560, -2, 3, 4),
			layers: []layer{
				softShadow(250, 520, 190, 14, 0.022),
				{shape: roundRect(240, 290, 170, 230, 6), color: flat(rgb{30, 42, 82}), product: true},
				{shape: roundRect(240, 130, 110, 14, 4), color: flat(rgb{200, 170, 60}), product: true},
				{shape: roundRect(240, 320, 120, 90, 4), color: grain(onBg(rgb{-1, -1, -1}), 2.2, 7), product: true},
			},
		},
		mug("mug", false),
		mug("white_mug", true),
		{
			name: "donut", w: 560, h: 560, noise: 1.4, quality: 88,
			bg: studio(rgb{252, 252, 252}, 560, 560, 0, 0, 12),
			layers: []layer{
				{shape: annulus(280, 280, 150, 75), color: func(x, y float64, _ rgb) rgb {
					a := math.Atan2(y-280, x-280)
					k := 0.8 + 0.2*math.Cos(2*a)
					return rgb{205 * k, 160 * k, 60 * k}
				}, product: true},
			},
		},
		{
			name: "tape", w: 560, h: 560, noise: 1.3, quality: 88,
			bg: studio(rgb{249, 249, 248}, 560, 560, 3, 3, 6),
			layers: []layer{
				softShadow(290, 500, 190, 18, 0.022),
				{shape: annulus(280, 270, 146, 56), color: func(x, y float64, bg rgb) rgb {
					t := (math.Hypot(x-280, y-270) - 146) / 56
					d := -1 - 30*t*t*t*t
					return rgb{bg[0] + d, bg[1] + d, bg[2] + d - 1}
				}, product: true},
				{shape: annulus(280, 270, 96, 6), color: flat(rgb{170, 130, 90}), product: true},
			},
		},
		{
			name: "scissors", w: 640, h: 480, noise: 1.2, quality: 90,
			bg: studio(rgb{250, 250, 250}, 640, 480, 4, 0, 5),
			layers: []layer{
				{shape: union(
					capsule(230, 205, 600, 290, 10),
					capsule(230, 285, 600, 200, 10),
				), color: brushed(rgb{150, 155, 162}), product: true},
				{shape: union(
					subtract(ellipse(160, 165, 80, 58), ellipse(160, 165, 52, 33)),
					subtract(ellipse(160, 325, 80, 58), ellipse(160, 325, 52, 33)),
					capsule(220, 180, 260, 235, 14),
					capsule(220, 310, 260, 255, 14),
				), color: flat(rgb{32, 32, 38}), product: true},
				{shape: circle(330, 245, 9), color: flat(rgb{90, 90, 95}), product: true},
			},
		},
		{
			name: "handbag", w: 560, h: 560, noise: 1.3, quality: 88,
			bg: studio(rgb{248, 248, 247}, 560, 560, 0, 4, 6),
			layers: []layer{
				softShadow(285, 520, 210, 14, 0.022),
				{shape: union(
					intersect(annulus(280, 260, 120, 12), halfAbove(275)),
					roundRect(280, 380, 190, 130, 22),
				), color: grain(shaded(rgb{150, 95, 55}, 280, 190, 0.25), 6, 3), product: true},
				{shape: roundRect(280, 300, 24, 14, 4), color: brushed(rgb{200, 180, 110}), product: true},
			},
		},
		{
			name: "vase_bottom", w: 480, h: 640, noise: 1.2, quality: 88,
			bg: studio(rgb{250, 250, 250}, 480, 640, 2, -4, 5),
			layers: []layer{
				{shape: union(
					ellipse(240, 460, 130, 200),
					roundRect(240, 240, 40, 60, 8),
				), color: cylinder(flat(rgb{212, 230, 222}), 240, 130, 40), product: true},
				{shape: roundRect(240, 450, 75, 55, 4), color: cylinder(onBg(rgb{0, 0, 0}), 240, 130, 10), product: true},
				{shape: union(
					roundRect(240, 420, 55, 9, 3),
					roundRect(230, 450, 45, 3, 1.5),
					roundRect(245, 470, 50, 3, 1.5),
				), color: flat(rgb{40, 60, 60}), product: true},
			},
		},
		{
			name: "small_watch", w: 640, h: 480, noise: 1.5, quality: 86,
			bg: studio(rgb{249, 249, 249}, 640, 480, 3, 3, 5),
			layers: append([]layer{
				softShadow(325, 335, 40, 6, 0.022),
				{shape: union(roundRect(320, 195, 19, 55, 5), roundRect(320, 285, 19, 55, 5)), color: flat(rgb{80, 50, 35}), product: true},
				{shape: circle(320, 240, 35), color: brushed(rgb{75, 75, 80}), product: true},
				{shape: circle(320, 240, 29), color: occluded(onBg(rgb{0, 0, 0}), circle(320, 240, 29), 6, 2), product: true},
				{shape: union(clockHands(320, 240, 15, 23, 1.5, 1)...), color: flat(dark), product: true},
			}, dots(320, 240, 24, 1.6, 4, dark)...),
		},
		{
			name: "basket", w: 640, h: 480, noise: 1.3, quality: 88,
			bg: studio(rgb{250, 250, 249}, 640, 480, 3, 3, 5),
			layers: []layer{
				softShadow(325, 440, 230, 12, 0.022),
				{shape: union(
					intersect(annulus(320, 230, 150, 11), halfAbove(235)),
					roundRect(320, 330, 210, 100, 30),
				), color: weave(), product: true},
			},
		},
		{
			name: "clipped_white", w: 640, h: 480, noise: 1.4, quality: 90,
			bg: studio(rgb{262, 262, 262}, 640, 480, 0, 2, 3),
			layers: []layer{
				softShadow(325, 395, 220, 10, 0.022),
				{shape: roundRect(320, 240, 180, 140, 10), color: flat(rgb{205, 205, 208}), product: true},
				{shape: roundRect(320, 240, 177, 137, 8), color: func(x, _ float64, _ rgb) rgb {
					d := -1.5 * (x - 140) / 360 // the key light from the left
					return rgb{253 + d, 253 + d, 252 + d}
				}, product: true},
				{shape: union(roundRect(250, 175, 40, 9, 3), circle(390, 175, 10)), color: flat(rgb{150, 150, 155}), product: true},
			},
		},
		{
			name: "frame", w: 480, h: 560, noise: 1.2, quality: 88,
			bg: studio(rgb{249, 249, 248}, 480, 560, -3, 2, 6),
			layers: []layer{
				{shape: roundRect(240, 280, 190, 240, 2), color: wood(), product: true},
				{shape: roundRect(240, 280, 160, 210, 1), color: occluded(onBg(rgb{0, 0, 0}), roundRect(240, 280, 160, 210, 1), 8, 4), product: true},
				{shape: roundRect(240, 280, 95, 130, 1), color: photo(240, 280, 95, 130), product: true},
			},
		},
	}
}

// phone is a black phone standing upright; its screen shows an app (busy) or
// nothing.
func phone(name string, busy bool) scene {
	s := scene{
		name: name, w: 360, h: 640, noise: 1.3, quality: 88,
		bg: studio(rgb{250, 250, 250}, 360, 640, 2, 3, 5),
	}
	screen := roundRect(180, 322, 118, 252, 18)
	s.layers = []layer{
		softShadow(185, 605, 120, 10, 0.022),
		{shape: roundRect(180, 320, 130, 280, 30), color: shaded(rgb{26, 26, 30}, 180, 130, 0.2), product: true},
		{shape: circle(180, 55, 4), color: flat(rgb{60, 60, 70}), product: true},
	}
	if busy {
		s.layers = append(s.layers,
			layer{shape: screen, color: onBg(rgb{-2, 0, 2}), product: true},
			layer{shape: union(
				roundRect(95, 88, 18, 5, 2), roundRect(262, 88, 14, 5, 2), roundRect(235, 88, 6, 5, 1),
				roundRect(150, 130, 80, 8, 3), roundRect(140, 160, 70, 4, 2), roundRect(160, 175, 90, 4, 2),
				roundRect(130, 190, 60, 4, 2), roundRect(155, 380, 85, 4, 2), roundRect(140, 395, 70, 4, 2),
				roundRect(150, 410, 80, 4, 2), roundRect(120, 425, 50, 4, 2),
				circle(105, 540, 14), circle(155, 540, 14), circle(205, 540, 14), circle(255, 540, 14),
			), color: flat(rgb{60, 62, 70}), product: true},
			layer{shape: roundRect(180, 280, 95, 60, 6), color: photo(180, 280, 95, 60), product: true},
		)
		return s
	}
	s.layers = append(s.layers, layer{shape: screen, color: func(x, y float64, bg rgb) rgb {
		u, v := (x-180)/118, (y-322)/252
		d := 1.0 - 3.5*(u*u+v*v)/2
		return rgb{bg[0] + d - 2, bg[1] + d - 1, bg[2] + d + 1}
	}, product: true})
	return s
}

// mug is a mug seen from the side, the handle on the right; white makes it a
// white mug whose outline is only its shading.
func mug(name string, white bool) scene {
	s := scene{
		name: name, w: 640, h: 480, noise: 1.2, quality: 88,
		bg: studio(rgb{248, 248, 248}, 640, 480, 4, 2, 5),
	}
	body := roundRect(270, 250, 140, 170, 22)
	handle := subtract(roundRect(430, 250, 80, 95, 60), roundRect(430, 250, 42, 58, 36))
	s.layers = []layer{softShadow(285, 425, 170, 12, 0.022)}
	if !white {
		s.layers = append(s.layers, layer{shape: union(body, handle), color: shaded(rgb{175, 35, 40}, 270, 140, 0.45), product: true})
		return s
	}
	s.layers = append(s.layers,
		layer{shape: handle, color: occluded(onBg(rgb{-3, -3, -3}), handle, 35, 5), product: true},
		layer{shape: body, color: occluded(cylinder(onBg(rgb{-2, -2, -2}), 270, 140, 40), body, 25, 2.5), product: true},
	)
	return s
}

// clockHands returns an hour and a minute hand from cx, cy and the centre cap.
func clockHands(cx, cy, hourLen, minLen, hourR, minR float64) []sdf {
	ha, ma := -2.2, 0.7 // radians from 12 o'clock, clockwise
	return []sdf{
		capsule(cx, cy, cx+hourLen*math.Sin(ha), cy-hourLen*math.Cos(ha), hourR),
		capsule(cx, cy, cx+minLen*math.Sin(ma), cy-minLen*math.Cos(ma), minR),
		circle(cx, cy, 2*hourR),
	}
}

// ticks returns n radial tick marks from r0 to r1.
func ticks(cx, cy, r0, r1, half float64, n int, c rgb) []layer {
	var out []layer
	for i := range n {
		a := 2 * math.Pi * float64(i) / float64(n)
		s, co := math.Sin(a), math.Cos(a)
		out = append(out, layer{shape: capsule(cx+r0*s, cy-r0*co, cx+r1*s, cy-r1*co, half), color: flat(c), product: true})
	}
	return out
}

// dots returns n round marks of radius rd on a circle of radius r.
func dots(cx, cy, r, rd float64, n int, c rgb) []layer {
	var out []layer
	for i := range n {
		a := 2 * math.Pi * float64(i) / float64(n)
		out = append(out, layer{shape: circle(cx+r*math.Sin(a), cy-r*math.Cos(a), rd), color: flat(c), product: true})
	}
	return out
}

// softShadow is a faint shadow on the floor, an ellipse with soft edges: depth
// 0.022 darkens a white floor by about 4 levels at its core (a high-key shot;
// a darker shadow stays attached to the product, see TestMatteShadow).
func softShadow(cx, cy, a, b, depth float64) layer {
	return layer{
		shape: func(_, _ float64) float64 { return -10 },
		color: flat(rgb{60, 60, 60}),
		opacity: func(x, y float64) float64 {
			dx, dy := (x-cx)/a, (y-cy)/b
			return depth * math.Exp(-2*(dx*dx+dy*dy))
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
			bg := s.bg(cx, cy)
			c := bg
			for _, l := range s.layers {
				a := coverage(l.shape, cx, cy)
				if a == 0 {
					continue
				}
				if l.opacity != nil {
					a *= l.opacity(cx, cy)
				}
				lc := l.color(cx, cy, bg)
				for k := range 3 {
					c[k] = c[k]*(1-a) + lc[k]*a
				}
			}
			// Sensor noise, partly shared by the channels (demosaicing).
			shared := r.NormFloat64()
			for k := range 3 {
				c[k] += s.noise * (0.6*shared + 0.8*r.NormFloat64())
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

// capsule is the segment from x0, y0 to x1, y1 thickened by r.
func capsule(x0, y0, x1, y1, r float64) sdf {
	return func(x, y float64) float64 {
		px, py, dx, dy := x-x0, y-y0, x1-x0, y1-y0
		t := max(0, min(1, (px*dx+py*dy)/(dx*dx+dy*dy)))
		return math.Hypot(px-t*dx, py-t*dy) - r
	}
}

// roundRect is centred at cx, cy with half sizes hw, hh and corner radius r.
func roundRect(cx, cy, hw, hh, r float64) sdf {
	return func(x, y float64) float64 {
		qx := math.Abs(x-cx) - hw + r
		qy := math.Abs(y-cy) - hh + r
		return math.Hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - r
	}
}

// halfAbove is everything above the line y = y0.
func halfAbove(y0 float64) sdf {
	return func(_, y float64) float64 { return y - y0 }
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

func flat(c rgb) paint {
	return func(_, _ float64, _ rgb) rgb { return c }
}

// onBg is the background's own colour there plus d: a surface as light as the
// studio's.
func onBg(d rgb) paint {
	return func(_, _ float64, bg rgb) rgb {
		return rgb{min(bg[0], 255) + d[0], min(bg[1], 255) + d[1], min(bg[2], 255) + d[2]}
	}
}

// shaded darkens c away from the vertical line x = cx (a cylinder lit from the
// front): by depth at half-width hw.
func shaded(c rgb, cx, hw, depth float64) paint {
	return func(x, _ float64, _ rgb) rgb {
		t := min(math.Abs(x-cx)/hw, 1)
		k := 1 - depth*t*t + 0.15*math.Exp(-40*(t-0.35)*(t-0.35)) // a highlight stripe
		return rgb{c[0] * k, c[1] * k, c[2] * k}
	}
}

// cylinder darkens p by up to levels towards x = cx +- hw (a surface curving
// away from the light).
func cylinder(p paint, cx, hw, levels float64) paint {
	return func(x, y float64, bg rgb) rgb {
		c := p(x, y, bg)
		t := min(math.Abs(x-cx)/hw, 1)
		d := levels * t * t
		return rgb{c[0] - d, c[1] - d, c[2] - d}
	}
}

// occluded darkens p inside shape by up to levels at its outline, fading over
// width pixels inwards (a rim's shade, or a rounded edge turning away).
func occluded(p paint, shape sdf, levels, width float64) paint {
	return func(x, y float64, bg rgb) rgb {
		c := p(x, y, bg)
		d := levels * math.Exp(min(0, shape(x, y))/width)
		return rgb{c[0] - d, c[1] - d, c[2] - d}
	}
}

// grain adds a material's fine texture of sigma levels (paper, leather).
func grain(p paint, sigma float64, seed uint64) paint {
	return func(x, y float64, bg rgb) rgb {
		c := p(x, y, bg)
		n := sigma * hashNoise(int(x), int(y), seed)
		return rgb{c[0] + n, c[1] + n, c[2] + n}
	}
}

// brushed is a metal with fine horizontal streaks.
func brushed(c rgb) paint {
	return func(x, y float64, _ rgb) rgb {
		k := 1 + 0.06*hashNoise(int(x)/7, int(y), 11)
		return rgb{c[0] * k, c[1] * k, c[2] * k}
	}
}

// weave is wicker: light strands crossing darker ones.
func weave() paint {
	return func(x, y float64, _ rgb) rgb {
		u := math.Sin(x*2*math.Pi/14) * math.Sin(y*2*math.Pi/14)
		k := 0.72 + 0.22*u + 0.05*hashNoise(int(x), int(y), 5)
		return rgb{232 * k, 190 * k, 130 * k}
	}
}

// wood is a frame's grain.
func wood() paint {
	return func(x, y float64, _ rgb) rgb {
		g := 0.5 + 0.5*math.Sin((x+y*0.15+7*math.Sin(y/29))/3.1)
		k := 0.75 + 0.2*g
		return rgb{120 * k, 75 * k, 40 * k}
	}
}

// photo is a small landscape picture in the box centred at cx, cy.
func photo(cx, cy, hw, hh float64) paint {
	return func(x, y float64, _ rgb) rgb {
		v := (y - (cy - hh)) / (2 * hh)
		u := (x - (cx - hw)) / (2 * hw)
		hill := 0.55 + 0.1*math.Sin(u*7)
		if v < hill {
			return rgb{90 + 80*v, 140 + 60*v, 220}
		}
		return rgb{50 + 40*u, 120 - 30*v, 50}
	}
}

// studio is a near-white background: base, plus gx levels across and gy down
// (centred), darkened by up to vig levels towards the corners.
func studio(base rgb, w, h, gx, gy, vig float64) func(x, y float64) rgb {
	return func(x, y float64) rgb {
		u, v := x/w-0.5, y/h-0.5
		d := gx*u + gy*v - vig*(u*u+v*v)*2
		return rgb{base[0] + d, base[1] + d, base[2] + d}
	}
}

// hashNoise is a deterministic value in about -1.7..1.7 with unit variance for
// the cell x, y.
func hashNoise(x, y int, seed uint64) float64 {
	z := uint64(x)*0x9e3779b97f4a7c15 ^ uint64(y)*0xc2b2ae3d27d4eb4f ^ seed*0x165667b19e3779f9
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return (float64(z>>11)/float64(1<<53) - 0.5) * 2 * math.Sqrt(3)
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
