package imaging

import (
	"fmt"
	"image"

	"github.com/davidbyttow/govips/v2/vips"
)

// sampleStripBytes bounds the full-size pixels Sample has libvips work through at a
// time: a larger image is sampled in strips of rows. libvips picks the places (see
// subsample), so only the sample is copied out: copying whole images into Go cost more
// than the picking (page faults on fresh memory, garbage collections), and libvips'
// nearest-neighbour shrink, with govips premultiplying alpha in float, more still.
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
// stripBytes of full-size pixels at a time and writes its sampled pixels into dst, a
// sample dsw places wide whose first place is area's corner. With step > 1 libvips picks
// the places (see subsample), so only the sample itself is copied out of it.
func (im *Image) sampleInto(step int, gray bool, stripBytes int, area image.Rectangle, dst []byte, dsw int) error {
	ref, err := im.ref.Copy()
	if err != nil {
		return im.pixelError("sample", err)
	}
	defer ref.Close()
	if err := samplePrepare(ref, gray); err != nil {
		return im.pixelError("sample", err)
	}
	nb, ob := ref.Bands(), 1
	if !gray {
		if nb < 3 {
			return fmt.Errorf("sample: %d bands after conversion to sRGB", nb)
		}
		ob = 4
	}
	aw := area.Dx()
	sw := (aw + step - 1) / step
	rows := max(step, stripBytes/(aw*nb)/step*step)
	for y0 := area.Min.Y; y0 < area.Max.Y; y0 += rows {
		n := min(rows, area.Max.Y-y0)
		strip, err := im.stripSample(ref, area.Min.X, y0, aw, n, step)
		if err != nil {
			return err
		}
		for y := 0; y < (n+step-1)/step; y++ {
			row := strip[y*sw*nb : (y+1)*sw*nb]
			o := ((y0-area.Min.Y)/step + y) * dsw * ob
			if gray {
				copy(dst[o:o+sw], row)
				continue
			}
			for x := 0; x < sw; x++ {
				px := row[x*nb : x*nb+nb]
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

// stripSample reads the places of the w x n pixels of ref at (x0, y0) that a sample
// every step-th pixel picks: ceil(w/step) x ceil(n/step) pixels of ref's bands.
func (im *Image) stripSample(ref *vips.ImageRef, x0, y0, w, n, step int) ([]byte, error) {
	if step == 1 && x0 == 0 && y0 == 0 && w == ref.Width() && n == ref.Height() {
		return im.readBytes("sample", ref)
	}
	s, err := ref.Copy()
	if err != nil {
		return nil, im.pixelError("sample", err)
	}
	defer s.Close()
	if x0 != 0 || y0 != 0 || w != ref.Width() || n != ref.Height() {
		if err := s.ExtractArea(x0, y0, w, n); err != nil {
			return nil, im.pixelError("sample", err)
		}
	}
	if step > 1 {
		sub, err := subsample(s, step)
		if err != nil {
			return nil, im.pixelError("sample", err)
		}
		defer sub.Close()
		return im.readBytes("sample", sub)
	}
	return im.readBytes("sample", s)
}

// subsample returns every step-th pixel of every step-th row of ref, starting with the
// first, unchanged: ceil(width/step) x ceil(height/step) pixels, in a new reference the
// caller closes, its bands labelled multiband. It is libvips' affine
// reduction by exactly 1/step, whose output pixels land on input pixels, so the
// interpolator only copies them; the image is first extended (by copying its edge) to a
// multiple of step, so that the last, partial, step is kept. The bands are relabelled
// multiband first: the affine then neither premultiplies alpha (an 8-bit round trip
// that would change translucent colours) nor spends on colour handling; an alpha that
// libvips still sees as one is reduced as a band of its own.
func subsample(ref *vips.ImageRef, step int) (*vips.ImageRef, error) {
	mb, err := ref.CopyChangingInterpretation(vips.InterpretationMultiband)
	if err != nil {
		return nil, err
	}
	if err := subsampleInPlace(mb, step); err != nil {
		mb.Close()
		return nil, err
	}
	return mb, nil
}

func subsampleInPlace(mb *vips.ImageRef, step int) error {
	w, h := mb.Width(), mb.Height()
	sw, sh := (w+step-1)/step, (h+step-1)/step
	if sw*step != w || sh*step != h {
		if err := mb.Embed(0, 0, sw*step, sh*step, vips.ExtendCopy); err != nil {
			return err
		}
	}
	scale := 1 / float64(step)
	reduce := func(r *vips.ImageRef) error {
		if err := r.Similarity(scale, 0, &vips.ColorRGBA{}, 0, 0, 0, 0); err != nil {
			return err
		}
		if r.Width() != sw || r.Height() != sh {
			return fmt.Errorf("subsample by %d gave %dx%d, want %dx%d", step, r.Width(), r.Height(), sw, sh)
		}
		return nil
	}
	if mb.HasAlpha() {
		nb := mb.Bands()
		alpha, err := mb.Copy()
		if err != nil {
			return err
		}
		defer alpha.Close()
		if err := alpha.ExtractBand(nb-1, 1); err != nil {
			return err
		}
		if err := mb.ExtractBand(0, nb-1); err != nil {
			return err
		}
		if err := reduce(alpha); err != nil {
			return err
		}
		if err := reduce(mb); err != nil {
			return err
		}
		return mb.BandJoin(alpha)
	}
	return reduce(mb)
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

// GrayAt returns im resized to w x h as one 8-bit band of luminance (see Gray: alpha
// flattened onto black first), for comparing pictures' content and sharpness. The
// luminance is taken at the smaller of the two sizes: an enlargement takes it first and
// enlarges it with Lanczos3; a reduction resizes first and takes it after. A reduction
// to no less than grayAtDirect of the size is one Lanczos3 pass; a larger one first
// reduces linearly to twice w x h (see Resize). im is unchanged.
func (im *Image) GrayAt(w, h int) ([]byte, error) {
	if !validSize(w, h) {
		return nil, invalid("gray at: size %dx%d", w, h)
	}
	cp, err := im.Copy()
	if err != nil {
		return nil, err
	}
	defer cp.Close()
	if err := cp.Flatten(Color{A: 255}); err != nil {
		return nil, err
	}
	W, H := cp.Width(), cp.Height()
	hs, vs := float64(w)/float64(W), float64(h)/float64(H)
	switch {
	case w == W && h == H:
		err = grayBand(cp.ref)
	case int64(w)*int64(h) >= int64(W)*int64(H):
		if err = grayBand(cp.ref); err == nil {
			err = cp.ref.ResizeWithVScale(hs, vs, vips.KernelLanczos3)
		}
	case hs >= grayAtDirect && vs >= grayAtDirect:
		if err = cp.ref.ResizeWithVScale(hs, vs, vips.KernelLanczos3); err == nil {
			err = grayBand(cp.ref)
		}
	default:
		if err = cp.scaleTo(w, h); err == nil {
			err = grayBand(cp.ref)
		}
	}
	if err != nil {
		return nil, im.pixelError("gray at", err)
	}
	if cp.Width() != w || cp.Height() != h {
		return nil, fmt.Errorf("gray at: got %dx%d, want %dx%d", cp.Width(), cp.Height(), w, h)
	}
	if cp.ref.BandFormat() != vips.BandFormatUchar {
		if err := cp.ref.Cast(vips.BandFormatUchar); err != nil {
			return nil, im.pixelError("gray at", err)
		}
	}
	return cp.readBytes("gray at", cp.ref)
}

// grayAtDirect is the smallest scale GrayAt reduces by in one Lanczos3 pass: libvips
// 8.14's reduce costs in proportion to the reduction, and below about this the linear
// pass to twice the target (see scaleTo) is cheaper; above it, it is the dearer part.
const grayAtDirect = 0.3

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
