package imaging

import "github.com/davidbyttow/govips/v2/vips"

// RGBA returns the image's pixels as 8-bit sRGB with alpha, four bytes a pixel, row by
// row; an image without alpha reads as opaque (alpha 255). im is unchanged. It computes
// the image's pending operations, so call it on a materialized image when the pixels are
// needed again afterwards. Reads pixels, so a corrupt source fails with ErrCorrupt.
func (im *Image) RGBA() (w, h int, pix []byte, err error) {
	pix, err = im.bandBytes("rgba", func(ref *vips.ImageRef) error {
		a := &Image{ref: ref}
		if err := a.ensureRGB8(); err != nil {
			return err
		}
		if !ref.HasAlpha() {
			return ref.AddAlpha()
		}
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	return im.Width(), im.Height(), pix, nil
}
