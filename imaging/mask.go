// This file holds the libvips helpers for one-band 8-bit masks: making an Image
// from Go bytes (NewImageFromGray), reading an Image back as bytes (Gray,
// bandBytes) and applying a mask as alpha (ApplyMask).

package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/davidbyttow/govips/v2/vips"
)

// bandBytes returns the 8-bit pixels of a copy of im after prepare, which may
// change the copy's bands and colourspace.
func (im *Image) bandBytes(op string, prepare func(ref *vips.ImageRef) error) ([]byte, error) {
	ref, err := im.ref.Copy()
	if err != nil {
		return nil, im.pixelError(op, err)
	}
	defer ref.Close()
	if err := prepare(ref); err != nil {
		return nil, im.pixelError(op, err)
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			return nil, im.pixelError(op, err)
		}
	}
	return im.readBytes(op, ref)
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
		return im.pixelError("apply mask", err)
	}
	defer m.Close()
	if err := grayBand(m); err != nil {
		return im.pixelError("apply mask", err)
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if im.ref.HasAlpha() {
		a, err := im.ref.ExtractBandToImage(3, 1)
		if err != nil {
			return im.pixelError("apply mask", err)
		}
		defer a.Close()
		// alpha*mask/255, rounded: uchar*uchar is ushort, linear gives float.
		if err := a.Multiply(m); err != nil {
			return im.pixelError("apply mask", err)
		}
		if err := a.Linear1(1.0/255, 0.5); err != nil {
			return im.pixelError("apply mask", err)
		}
		if err := a.Cast(vips.BandFormatUchar); err != nil {
			return im.pixelError("apply mask", err)
		}
		if err := im.ref.ExtractBand(0, 3); err != nil {
			return im.pixelError("apply mask", err)
		}
		m = a
	}
	if err := im.ref.BandJoin(m); err != nil {
		return im.pixelError("apply mask", err)
	}
	return nil
}
