package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Sample returns every step-th pixel of every step-th row (nearest neighbour, no
// blending), as 8-bit sRGB with alpha (4 bytes a pixel) or, with gray, one band (see
// Gray). Two images of the same size sampled with the same step give pixels from the same
// places, so they can be compared pixel for pixel at a fraction of the cost; step 1 reads
// every pixel. im is unchanged.
func (im *Image) Sample(step int, gray bool) (w, h int, pix []byte, err error) {
	if step < 1 {
		return 0, 0, nil, invalid("sample: step %d", step)
	}
	var sw, sh int
	pix, err = im.bandBytes("sample", func(ref *vips.ImageRef) error {
		if step > 1 {
			if err := ref.Resize(1/float64(step), vips.KernelNearest); err != nil {
				return err
			}
		}
		if gray {
			if err := grayBand(ref); err != nil {
				return err
			}
		} else {
			a := &Image{ref: ref}
			if err := a.ensureRGB8(); err != nil {
				return err
			}
			if !ref.HasAlpha() {
				if err := ref.AddAlpha(); err != nil {
					return err
				}
			}
		}
		sw, sh = ref.Width(), ref.Height()
		return nil
	})
	if err != nil {
		return 0, 0, nil, err
	}
	return sw, sh, pix, nil
}
