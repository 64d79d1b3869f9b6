package imaging

import (
	"fmt"
	"image"

	"github.com/davidbyttow/govips/v2/vips"
)

// sampleStripBytes bounds the pixels Sample reads out of libvips at a time: a larger
// image is read in strips of rows. Reading the pixels out and picking in Go is several
// times cheaper than libvips' nearest-neighbour shrink.
const sampleStripBytes = 16 << 20

// Sample returns every step-th pixel of every step-th row, starting with the first (no
// blending), as 8-bit sRGB with alpha (4 bytes a pixel) or, with gray, one band (see
// Gray); the sample is ceil(width/step) x ceil(height/step). Two images of the same size
// sampled with the same step give pixels from the same places, so they can be compared
// pixel for pixel at a fraction of the cost; step 1 reads every pixel, and PickGray picks
// the same places from pixels already read. im is unchanged.
func (im *Image) Sample(step int, gray bool) (w, h int, pix []byte, err error) {
	return im.sample(step, gray, sampleStripBytes)
}

// sample is Sample reading at most stripBytes at a time (at least step rows).
func (im *Image) sample(step int, gray bool, stripBytes int) (w, h int, pix []byte, err error) {
	if step < 1 {
		return 0, 0, nil, invalid("sample: step %d", step)
	}
	w, h = im.Width(), im.Height()
	ob := 4
	if gray {
		ob = 1
	}
	sw, sh := (w+step-1)/step, (h+step-1)/step
	pix = make([]byte, sw*sh*ob)
	if err := im.sampleInto(step, gray, stripBytes, image.Rect(0, 0, w, h), pix, sw); err != nil {
		return 0, 0, nil, err
	}
	return sw, sh, pix, nil
}

// SampleArea is Sample of the pixels in area only (clipped to the image): the places of
// Sample(step, gray) that fall in it, as an aw x ah sample whose first place is area's top
// left corner, which must be a multiple of step.
func (im *Image) SampleArea(step int, gray bool, area image.Rectangle) (aw, ah int, pix []byte, err error) {
	if step < 1 || area.Min.X%step != 0 || area.Min.Y%step != 0 {
		return 0, 0, nil, invalid("sample area: %v with step %d", area, step)
	}
	area = area.Intersect(image.Rect(0, 0, im.Width(), im.Height()))
	if area.Empty() {
		return 0, 0, nil, nil
	}
	ob := 4
	if gray {
		ob = 1
	}
	aw, ah = (area.Dx()+step-1)/step, (area.Dy()+step-1)/step
	pix = make([]byte, aw*ah*ob)
	if err := im.sampleInto(step, gray, sampleStripBytes, area, pix, aw); err != nil {
		return 0, 0, nil, err
	}
	return aw, ah, pix, nil
}

// sampleInto reads area (within the image, its corner a multiple of step) at most
// stripBytes at a time and writes its sampled pixels into dst, a sample dsw places wide
// whose first place is area's corner.
func (im *Image) sampleInto(step int, gray bool, stripBytes int, area image.Rectangle, dst []byte, dsw int) error {
	ref, err := im.ref.Copy()
	if err != nil {
		return opError("sample", err)
	}
	defer ref.Close()
	if err := samplePrepare(ref, gray); err != nil {
		return opError("sample", err)
	}
	nb, ob := ref.Bands(), 1
	if !gray {
		if nb < 3 {
			return fmt.Errorf("sample: %d bands after conversion to sRGB", nb)
		}
		ob = 4
	}
	aw := area.Dx()
	rows := max(step, stripBytes/(aw*nb)/step*step)
	for y0 := area.Min.Y; y0 < area.Max.Y; y0 += rows {
		n := min(rows, area.Max.Y-y0)
		strip, err := im.stripBytes(ref, area.Min.X, y0, aw, n)
		if err != nil {
			return err
		}
		for y := 0; y < n; y += step {
			row := strip[y*aw*nb : (y+1)*aw*nb]
			o := ((y0 + y - area.Min.Y) / step) * dsw * ob
			for x := 0; x < aw; x += step {
				px := row[x*nb : x*nb+nb]
				if gray {
					dst[o] = px[0]
					o++
					continue
				}
				dst[o], dst[o+1], dst[o+2], dst[o+3] = px[0], px[1], px[2], 255
				if nb >= 4 {
					dst[o+3] = px[3]
				}
				o += 4
			}
		}
	}
	return nil
}

// samplePrepare converts ref to what Sample reads: one 8-bit grey band, or 8-bit sRGB
// with alpha when it has one.
func samplePrepare(ref *vips.ImageRef, gray bool) error {
	if gray {
		if err := grayBand(ref); err != nil {
			return err
		}
	} else if err := (&Image{ref: ref}).ensureRGB8(); err != nil {
		return err
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		return ref.Cast(vips.BandFormatUchar)
	}
	return nil
}

// stripBytes reads the w x n pixels of ref at (x0, y0), the whole of it when that is all.
func (im *Image) stripBytes(ref *vips.ImageRef, x0, y0, w, n int) ([]byte, error) {
	r := ref
	if x0 != 0 || y0 != 0 || w != ref.Width() || n != ref.Height() {
		s, err := ref.Copy()
		if err != nil {
			return nil, opError("sample", err)
		}
		defer s.Close()
		if err := s.ExtractArea(x0, y0, w, n); err != nil {
			return nil, opError("sample", err)
		}
		r = s
	}
	return im.readBytes("sample", r)
}

// readBytes reads every pixel of r out of libvips, telling a broken source (see
// pixelError) from a failed operation.
func (im *Image) readBytes(op string, r *vips.ImageRef) ([]byte, error) {
	pix, err := r.ToBytes()
	if err != nil {
		// ToBytes leaves the cause in libvips' error buffer; evaluating again reports
		// it (and clears the buffer).
		if _, err2 := r.Average(); err2 != nil {
			return nil, im.pixelError(op, err2)
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if want := r.Width() * r.Height() * r.Bands(); len(pix) != want {
		return nil, fmt.Errorf("%s: got %d bytes, want %d", op, len(pix), want)
	}
	return pix, nil
}

// PickGray picks from the w x h grey pixels pix the places Sample(step, true) reads.
func PickGray(w, h int, pix []byte, step int) (sw, sh int, out []byte, err error) {
	if step < 1 || w < 1 || h < 1 || len(pix) != w*h {
		return 0, 0, nil, invalid("pick: %dx%d with %d bytes, step %d", w, h, len(pix), step)
	}
	sw, sh = (w+step-1)/step, (h+step-1)/step
	out = make([]byte, 0, sw*sh)
	for y := 0; y < h; y += step {
		row := pix[y*w : (y+1)*w]
		for x := 0; x < w; x += step {
			out = append(out, row[x])
		}
	}
	return sw, sh, out, nil
}

// PickRGB picks from the w x h 8-bit sRGB pixels rgb (3 bytes a pixel) the places
// Sample(step, false) reads, as Sample gives them (4 bytes a pixel, alpha opaque).
func PickRGB(w, h int, rgb []byte, step int) (sw, sh int, out []byte, err error) {
	if step < 1 || w < 1 || h < 1 || len(rgb) != w*h*3 {
		return 0, 0, nil, invalid("pick: %dx%d with %d bytes, step %d", w, h, len(rgb), step)
	}
	sw, sh = (w+step-1)/step, (h+step-1)/step
	out = make([]byte, 0, sw*sh*4)
	for y := 0; y < h; y += step {
		row := rgb[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x += step {
			out = append(out, row[x*3], row[x*3+1], row[x*3+2], 255)
		}
	}
	return sw, sh, out, nil
}

// SettleGray reduces im to one 8-bit grey band (see Gray), computes its pixels once and
// keeps them in memory: later reads no longer run the operations that made it (a
// feathered mask's blur, a backend mask's decoding and resizing). It returns the
// pixels, which the caller must not change. Its SourceFormat becomes PNG.
func (im *Image) SettleGray() (w, h int, pix []byte, err error) {
	w, h, pix, err = im.Gray()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("settle: %w", err)
	}
	n, err := NewImageFromGray(w, h, pix)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("settle: %w", err)
	}
	im.setRef(n.ref)
	if im.origin != nil {
		im.origin.Close()
	}
	im.origin, im.data, im.src = n.origin, n.data, n.src
	return w, h, pix, nil
}
