package sdtest

import (
	"crypto/sha256"
	"encoding/binary"
	"image"
	"math"
)

// splitmix64 is a small, good 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// pattern is the picture "diffused" from a prompt and a seed: a smooth
// two-colour gradient with a gentle wave, defined on the unit square so it
// looks the same at any resolution.
type pattern struct {
	c1, c2       [3]float64
	cosA, sinA   float64
	freq, phase  float64
	wave, offset float64
}

func newPattern(prompt, negative string, seed int64) pattern {
	h := sha256.New()
	h.Write([]byte(prompt))
	h.Write([]byte{0})
	h.Write([]byte(negative))
	var sb [8]byte
	binary.LittleEndian.PutUint64(sb[:], uint64(seed))
	h.Write(sb[:])
	sum := h.Sum(nil)
	u := func(i int) float64 { return float64(binary.LittleEndian.Uint16(sum[2*i:])) / 65535 }
	hue := u(0) * 360
	p := pattern{
		c1:     hsv(hue, 0.55+0.35*u(1), 0.45+0.45*u(2)),
		c2:     hsv(math.Mod(hue+150+60*u(3), 360), 0.55+0.35*u(4), 0.45+0.45*u(5)),
		freq:   1 + 2*u(6),
		phase:  2 * math.Pi * u(7),
		wave:   0.08 + 0.08*u(8),
		offset: 0.2*u(9) - 0.1,
	}
	a := 2 * math.Pi * u(10)
	p.cosA, p.sinA = math.Cos(a), math.Sin(a)
	return p
}

func hsv(h, s, v float64) [3]float64 {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return [3]float64{255 * (r + m), 255 * (g + m), 255 * (b + m)}
}

// at returns the colour at (u, v) in [0,1]².
func (p pattern) at(u, v float64) [3]float64 {
	du, dv := u-0.5, v-0.5
	t := 0.5 + p.offset + du*p.cosA + dv*p.sinA +
		p.wave*math.Sin(2*math.Pi*p.freq*(du*p.sinA-dv*p.cosA)+p.phase)
	t = min(max(t, 0), 1)
	var out [3]float64
	for c := range 3 {
		out[c] = p.c1[c] + (p.c2[c]-p.c1[c])*t
	}
	return out
}

// render draws the pattern at w×h.
func (p pattern) render(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		v := (float64(y) + 0.5) / float64(h)
		for x := 0; x < w; x++ {
			c := p.at((float64(x)+0.5)/float64(w), v)
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = clamp8(c[0]), clamp8(c[1]), clamp8(c[2]), 255
		}
	}
	return img
}

// drift shifts every channel of every pixel by 2 to 4 levels, up or down,
// deterministically from the seed and the position, as a VAE encode/decode
// round trip would. A shift that would leave 0..255 goes the other way, so
// every channel always differs by 2..4.
func drift(src *image.NRGBA, seed int64) *image.NRGBA {
	dst := image.NewNRGBA(src.Rect)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	base := splitmix64(uint64(seed) ^ 0x5ee0d7f1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r := splitmix64(base ^ uint64(y)<<24 ^ uint64(x))
			o := src.PixOffset(x, y)
			for c := range 3 {
				bits := r >> (8 * c)
				d := 2 + int(bits%3)
				if bits&0x80 != 0 {
					d = -d
				}
				v := int(src.Pix[o+c])
				if v+d > 255 || v+d < 0 {
					d = -d
				}
				dst.Pix[o+c] = uint8(v + d)
			}
			dst.Pix[o+3] = 255
		}
	}
	return dst
}

// lerpImage returns a + (b-a)·t per channel; both the same size and opaque.
func lerpImage(a, b *image.NRGBA, t float64) *image.NRGBA {
	dst := image.NewNRGBA(a.Rect)
	for i := 0; i < len(a.Pix); i += 4 {
		for c := range 3 {
			dst.Pix[i+c] = clamp8(float64(a.Pix[i+c]) + (float64(b.Pix[i+c])-float64(a.Pix[i+c]))*t)
		}
		dst.Pix[i+3] = 255
	}
	return dst
}
