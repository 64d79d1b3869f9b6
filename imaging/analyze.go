package imaging

import (
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"
)

// Analysis settings.
const (
	// AnalysisMaxSide is the longest side of the downsample that Sharpness and
	// PlainBackground measure; larger images are shrunk to it first.
	AnalysisMaxSide = 512
	// PlainBackgroundMaxStdDev is the largest standard deviation (0..255 scale, in
	// any band) of the border ring that PlainBackground still calls uniform.
	PlainBackgroundMaxStdDev = 12.0
	// PlainBackgroundRing is the width of the border ring, as a fraction of the
	// shorter side (at least one pixel).
	PlainBackgroundRing = 0.03
)

// analysisPixels returns 8-bit pixels of a copy of im shrunk to at most
// AnalysisMaxSide: grey (one band, alpha flattened onto white) or sRGB (three
// bands, plus alpha when present).
func (im *Image) analysisPixels(grey bool) (w, h, bands int, pix []byte, err error) {
	ref, err := im.ref.Copy()
	if err != nil {
		return 0, 0, 0, nil, im.pixelError("analyze", err)
	}
	defer ref.Close()
	a := &Image{ref: ref}
	if err := a.ensureRGB8(); err != nil {
		return 0, 0, 0, nil, err
	}
	if grey {
		if err := a.Flatten(Color{R: 255, G: 255, B: 255, A: 255}); err != nil {
			return 0, 0, 0, nil, err
		}
		if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
			return 0, 0, 0, nil, im.pixelError("analyze", err)
		}
	}
	if long := max(ref.Width(), ref.Height()); long > AnalysisMaxSide {
		s := float64(AnalysisMaxSide) / float64(long)
		if err := a.resizeExact("analyze", roundDim(float64(ref.Width())*s), roundDim(float64(ref.Height())*s)); err != nil {
			return 0, 0, 0, nil, err
		}
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			return 0, 0, 0, nil, im.pixelError("analyze", err)
		}
	}
	pix, err = ref.ToBytes()
	if err != nil {
		// ToBytes leaves the cause in libvips' error buffer; evaluating again
		// reports it (and clears the buffer).
		if _, err2 := ref.Average(); err2 != nil {
			return 0, 0, 0, nil, im.pixelError("analyze", err2)
		}
		return 0, 0, 0, nil, fmt.Errorf("analyze: %w", err)
	}
	w, h, bands = ref.Width(), ref.Height(), ref.Bands()
	if len(pix) != w*h*bands {
		return 0, 0, 0, nil, fmt.Errorf("analyze: got %d bytes, want %d", len(pix), w*h*bands)
	}
	return w, h, bands, pix, nil
}

// Sharpness measures focus as the variance of the 4-neighbour Laplacian of the
// 8-bit luminance (0..255) of a downsample whose longest side is at most
// AnalysisMaxSide (alpha flattened onto white). Higher is sharper; the scale is
// in squared 8-bit levels and unbounded. As a rough guide: a flat image scores 0,
// a photo blurred with sigma 3 or more under about 20, a crisp photo 100 or more,
// hard black/white edges tens of thousands. Images smaller than 3x3 score 0.
// Reads pixels, so a corrupt source fails with ErrCorrupt.
func (im *Image) Sharpness() (float64, error) {
	w, h, _, pix, err := im.analysisPixels(true)
	if err != nil {
		return 0, err
	}
	return laplacianVariance(w, h, pix), nil
}

func laplacianVariance(w, h int, pix []byte) float64 {
	if w < 3 || h < 3 {
		return 0
	}
	var sum, sum2 float64
	n := 0
	for y := 1; y < h-1; y++ {
		row := y * w
		for x := 1; x < w-1; x++ {
			i := row + x
			l := 4*float64(pix[i]) - float64(pix[i-1]) - float64(pix[i+1]) - float64(pix[i-w]) - float64(pix[i+w])
			sum += l
			sum2 += l * l
			n++
		}
	}
	mean := sum / float64(n)
	return sum2/float64(n) - mean*mean
}

// PlainBackground reports whether the border ring of the image (the outer
// PlainBackgroundRing of the shorter side, measured on a downsample) is near
// uniform: every band's standard deviation at most PlainBackgroundMaxStdDev. It
// returns the ring's mean colour; for a ring that is transparent throughout it
// returns true and the zero (transparent) Color. Colours of partly transparent
// pixels are taken as composited onto white.
func (im *Image) PlainBackground() (bool, Color, error) {
	w, h, bands, pix, err := im.analysisPixels(false)
	if err != nil {
		return false, Color{}, err
	}
	ring := max(1, int(math.Round(PlainBackgroundRing*float64(min(w, h)))))
	alpha := bands == 4
	var sum, sum2 [4]float64
	n := 0
	for y := 0; y < h; y++ {
		edgeRow := y < ring || y >= h-ring
		for x := 0; x < w; x++ {
			if !edgeRow && x >= ring && x < w-ring {
				x = w - ring - 1 // skip the interior
				continue
			}
			p := pix[(y*w+x)*bands:]
			a := 255.0
			if alpha {
				a = float64(p[3])
			}
			f := a / 255
			for b := 0; b < 3; b++ {
				v := float64(p[b])*f + 255*(1-f)
				sum[b] += v
				sum2[b] += v * v
			}
			sum[3] += a
			sum2[3] += a * a
			n++
		}
	}
	if n == 0 {
		return false, Color{}, nil
	}
	var mean, sd [4]float64
	for b := range 4 {
		mean[b] = sum[b] / float64(n)
		sd[b] = math.Sqrt(math.Max(0, sum2[b]/float64(n)-mean[b]*mean[b]))
	}
	if alpha && mean[3] <= 8 && sd[3] <= PlainBackgroundMaxStdDev {
		return true, Color{}, nil
	}
	plain := true
	for b := range 4 {
		if sd[b] > PlainBackgroundMaxStdDev {
			plain = false
		}
	}
	c := Color{R: clamp8(mean[0]), G: clamp8(mean[1]), B: clamp8(mean[2]), A: clamp8(mean[3])}
	return plain, c, nil
}

func clamp8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, math.Round(v))))
}
