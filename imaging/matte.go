// This file holds the matting entry points on an Image: Matte, MatteSource and their
// options. They read the pixels out of libvips, run the pure-Go algorithm of
// matting.go and matting_bgmodel.go on them, and hand the mask back as an Image.

package imaging

import (
	"errors"
	"fmt"
	"math"

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
			return nil, MattePixels{}, im.pixelError("matte feather", err)
		}
		pix = nil
	}
	return out, MattePixels{Source: rgb, Mask: pix}, nil
}
