package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Alpha returns the image's alpha channel as a new one-band image, or an opaque
// (all 255) one-band image when it has none. im is unchanged.
func (im *Image) Alpha() (*Image, error) {
	ref, err := im.ref.Copy()
	if err != nil {
		return nil, im.pixelError("alpha", err)
	}
	out := &Image{ref: ref, src: im.src}
	if !ref.HasAlpha() {
		if err := ref.ExtractBand(0, 1); err != nil {
			out.Close()
			return nil, im.pixelError("alpha", err)
		}
		// x*0 + 255: an opaque mask of the same size.
		if err := ref.Linear([]float64{0}, []float64{255}); err != nil {
			out.Close()
			return nil, im.pixelError("alpha", err)
		}
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			out.Close()
			return nil, im.pixelError("alpha", err)
		}
		return out, nil
	}
	if err := ref.ExtractBand(ref.Bands()-1, 1); err != nil {
		out.Close()
		return nil, im.pixelError("alpha", err)
	}
	return out, nil
}

// ToMask turns the image into a one-band 8-bit mask: greyscale images keep their
// grey level, colour images their luminance, and an image with alpha its alpha.
func (im *Image) ToMask() error {
	ref := im.ref
	if ref.HasAlpha() {
		if err := ref.ExtractBand(ref.Bands()-1, 1); err != nil {
			return im.pixelError("mask", err)
		}
	} else if ref.Bands() >= 3 {
		if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
			return im.pixelError("mask", err)
		}
	}
	if ref.Bands() > 1 {
		if err := ref.ExtractBand(0, 1); err != nil {
			return im.pixelError("mask", err)
		}
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			return im.pixelError("mask", err)
		}
	}
	return nil
}
