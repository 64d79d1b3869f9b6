package imaging

import (
	"encoding/binary"
	"math"
)

// Most photographs that carry an ICC profile carry an sRGB one (cameras, editors' "save
// for web" exports). Converting such an image "to sRGB" through lcms changes no pixel by
// more than rounding, and on the listing path it cost about a fifth of a render (10 ms
// of 45 for a 2560x1600 photograph fitted to 800), so ToSRGB skips it for a profile that
// isSRGBProfile recognizes by what it does, not by its name: many vendors write sRGB
// profiles (HP's IEC61966-2.1, lcms', libvips', Apple's, Google's), with slightly
// different numbers.

// sRGB's primaries adapted to the D50 profile connection space (Bradford), as the XYZ
// columns of its RGB-to-XYZ matrix: rXYZ, gXYZ and bXYZ of an sRGB profile.
var srgbColorants = [3][3]float64{
	{0.4360747, 0.2225045, 0.0139322},
	{0.3850649, 0.7168786, 0.0971045},
	{0.1430804, 0.0606169, 0.7141733},
}

// srgbColorantTolerance is how far a profile's colorant may sit from sRGB's. The
// colorants written by HP's, lcms' and libvips' sRGB profiles differ by up to 0.0003;
// an error of 0.0015 moves an 8-bit output by well under half a level (the error
// scales with the channel's linear value, and sRGB's curve is flattest where that is
// large). Other RGB spaces differ by 0.02 and more (Display P3's red: 0.515).
const srgbColorantTolerance = 0.0015

// isSRGBProfile reports whether an ICC profile describes sRGB: an RGB profile with an
// XYZ connection space whose transform is its matrix and tone curves (no A2B or D2B
// lookup tables, which would take precedence), with sRGB's colorants within
// srgbColorantTolerance and tone curves that decode every 8-bit code to within half a
// code of what sRGB's does. Anything it cannot read is not sRGB.
func isSRGBProfile(p []byte) bool {
	if len(p) < 132 || string(p[16:20]) != "RGB " || string(p[20:24]) != "XYZ " {
		return false
	}
	if size := binary.BigEndian.Uint32(p[0:4]); size < 132 || int64(size) > int64(len(p)) {
		return false
	}
	n := binary.BigEndian.Uint32(p[128:132])
	if n > 200 || 132+12*int64(n) > int64(len(p)) {
		return false
	}
	tags := make(map[string][]byte, n)
	for i := range int(n) {
		e := p[132+12*i:]
		sig := string(e[0:4])
		off, size := int64(binary.BigEndian.Uint32(e[4:8])), int64(binary.BigEndian.Uint32(e[8:12]))
		if off+size > int64(len(p)) || size < 8 {
			return false
		}
		tags[sig] = p[off : off+size]
	}
	for _, lut := range []string{"A2B0", "A2B1", "A2B2", "D2B0", "D2B1", "D2B2"} {
		if _, ok := tags[lut]; ok {
			return false
		}
	}
	for i, sig := range []string{"rXYZ", "gXYZ", "bXYZ"} {
		xyz, ok := readXYZ(tags[sig])
		if !ok {
			return false
		}
		for k := range 3 {
			if math.Abs(xyz[k]-srgbColorants[i][k]) > srgbColorantTolerance {
				return false
			}
		}
	}
	for _, sig := range []string{"rTRC", "gTRC", "bTRC"} {
		curve, ok := readCurve(tags[sig])
		if !ok || !decodesAsSRGB(curve) {
			return false
		}
	}
	return true
}

// readXYZ reads an XYZType tag: three s15Fixed16Number values.
func readXYZ(t []byte) ([3]float64, bool) {
	var xyz [3]float64
	if len(t) < 20 || string(t[0:4]) != "XYZ " {
		return xyz, false
	}
	for k := range 3 {
		xyz[k] = s15Fixed16(t[8+4*k:])
	}
	return xyz, true
}

func s15Fixed16(b []byte) float64 { return float64(int32(binary.BigEndian.Uint32(b))) / 65536 }

// readCurve reads a curveType or parametricCurveType tag as the function from an
// encoded value in [0,1] to a linear one.
func readCurve(t []byte) (func(float64) float64, bool) {
	if len(t) < 12 {
		return nil, false
	}
	switch string(t[0:4]) {
	case "curv":
		count := int64(binary.BigEndian.Uint32(t[8:12]))
		if 12+2*count > int64(len(t)) {
			return nil, false
		}
		switch count {
		case 0:
			return func(x float64) float64 { return x }, true
		case 1:
			g := float64(binary.BigEndian.Uint16(t[12:14])) / 256
			return func(x float64) float64 { return math.Pow(x, g) }, true
		}
		table := make([]float64, count)
		for i := range table {
			table[i] = float64(binary.BigEndian.Uint16(t[12+2*i:])) / 65535
		}
		return func(x float64) float64 {
			pos := x * float64(len(table)-1)
			i := min(int(pos), len(table)-2)
			return table[i] + (pos-float64(i))*(table[i+1]-table[i])
		}, true
	case "para":
		kind := binary.BigEndian.Uint16(t[8:10])
		counts := map[uint16]int{0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
		np, ok := counts[kind]
		if !ok || len(t) < 12+4*np {
			return nil, false
		}
		// Parameters g, a, b, c, d, e, f as in ICC.1 table 65; missing ones are 0.
		var v [7]float64
		for i := range np {
			v[i] = s15Fixed16(t[12+4*i:])
		}
		g, a, b, c, d, e, f := v[0], v[1], v[2], v[3], v[4], v[5], v[6]
		pow := func(x float64) float64 { return math.Pow(max(x, 0), g) }
		switch kind {
		case 0:
			return pow, true
		case 1:
			return func(x float64) float64 {
				if x >= -b/a {
					return pow(a*x + b)
				}
				return 0
			}, a != 0
		case 2:
			return func(x float64) float64 {
				if x >= -b/a {
					return pow(a*x+b) + c
				}
				return c
			}, a != 0
		case 3:
			return func(x float64) float64 {
				if x >= d {
					return pow(a*x + b)
				}
				return c * x
			}, true
		default:
			return func(x float64) float64 {
				if x >= d {
					return pow(a*x+b) + e
				}
				return c*x + f
			}, true
		}
	}
	return nil, false
}

// decodesAsSRGB tells whether a tone curve takes every 8-bit code to a linear value
// that sRGB's encoding brings back to within half a code of where it started.
func decodesAsSRGB(curve func(float64) float64) bool {
	for i := range 256 {
		x := float64(i) / 255
		if d := math.Abs(srgbEncode(curve(x))*255 - float64(i)); !(d <= 0.5) { // NaN too
			return false
		}
	}
	return true
}

// srgbEncode is sRGB's transfer function, from linear light to the encoded value.
func srgbEncode(l float64) float64 {
	if l <= 0.0031308 {
		return 12.92 * l
	}
	return 1.055*math.Pow(l, 1/2.4) - 0.055
}
