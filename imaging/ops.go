package imaging

import (
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"
)

// Limits on what an operation may produce (ErrInvalidOption beyond them).
const (
	// MaxDimension is the largest width or height.
	MaxDimension = 65535
	// MaxResultPixels is the largest width*height (a resize or pad bomb guard).
	MaxResultPixels = 200_000_000
)

// Fit says how Resize meets a box of Width x Height, as in sharp.
type Fit string

// The fit modes. The empty Fit means FitCover.
const (
	// FitCover scales to cover the box, then crops the overflow by Gravity.
	FitCover Fit = "cover"
	// FitContain scales to fit within the box, then letterboxes onto Background.
	FitContain Fit = "contain"
	// FitFill stretches to exactly the box, ignoring the aspect ratio.
	FitFill Fit = "fill"
	// FitInside scales to fit within the box, no padding: the result may be smaller.
	FitInside Fit = "inside"
	// FitOutside scales to cover the box, no crop: the result may be larger.
	FitOutside Fit = "outside"
)

// Gravity anchors a crop, a letterbox or an overlay. The empty Gravity means
// GravityCenter.
type Gravity string

// The gravities. GravitySmart and GravityEntropy only apply to crops (Resize with
// FitCover, CropGravity).
const (
	// GravityCenter centres; the default.
	GravityCenter Gravity = "center"
	// GravityNorth anchors to the top edge, centred horizontally.
	GravityNorth Gravity = "north"
	// GravitySouth anchors to the bottom edge, centred horizontally.
	GravitySouth Gravity = "south"
	// GravityEast anchors to the right edge, centred vertically.
	GravityEast Gravity = "east"
	// GravityWest anchors to the left edge, centred vertically.
	GravityWest Gravity = "west"
	// GravityNorthEast anchors to the top-right corner.
	GravityNorthEast Gravity = "northeast"
	// GravityNorthWest anchors to the top-left corner.
	GravityNorthWest Gravity = "northwest"
	// GravitySouthEast anchors to the bottom-right corner.
	GravitySouthEast Gravity = "southeast"
	// GravitySouthWest anchors to the bottom-left corner.
	GravitySouthWest Gravity = "southwest"
	// GravitySmart crops to the most interesting region (libvips attention).
	GravitySmart Gravity = "smart"
	// GravityEntropy crops to the region with the most entropy.
	GravityEntropy Gravity = "entropy"
)

// anchor returns the horizontal and vertical anchors of g: -1 left/top, 0 centre,
// +1 right/bottom. ok is false for unknown gravities and for smart/entropy.
func (g Gravity) anchor() (hx, vy int, ok bool) {
	switch g {
	case "", GravityCenter:
		return 0, 0, true
	case GravityNorth:
		return 0, -1, true
	case GravitySouth:
		return 0, 1, true
	case GravityEast:
		return 1, 0, true
	case GravityWest:
		return -1, 0, true
	case GravityNorthEast:
		return 1, -1, true
	case GravityNorthWest:
		return -1, -1, true
	case GravitySouthEast:
		return 1, 1, true
	case GravitySouthWest:
		return -1, 1, true
	}
	return 0, 0, false
}

// interesting maps smart/entropy gravities to libvips' smartcrop strategy.
func (g Gravity) interesting() (vips.Interesting, bool) {
	switch g {
	case GravitySmart:
		return vips.InterestingAttention, true
	case GravityEntropy:
		return vips.InterestingEntropy, true
	}
	return vips.InterestingNone, false
}

// place returns the offset of an inner extent within an outer one for an anchor.
func place(outer, inner, anchor int) int {
	switch anchor {
	case -1:
		return 0
	case 1:
		return outer - inner
	}
	return (outer - inner) / 2
}

// ResizeOptions controls Resize.
type ResizeOptions struct {
	// Width and Height of the box; 0 derives it from the other and the aspect ratio
	// (then Fit does not matter). At least one is required.
	Width, Height int
	// Fit is how the image meets the box; default "" = FitCover.
	Fit Fit
	// Gravity anchors the crop of FitCover and the image within FitContain's
	// letterbox; default "" = GravityCenter. Smart and entropy apply to cover only.
	Gravity Gravity
	// Background fills FitContain's letterbox; default zero = transparent (an alpha
	// channel is added when needed).
	Background Color
	// WithoutEnlargement never scales up; default false. FitFill then caps each
	// side at the current size; FitCover crops to at most the box; FitContain still
	// returns the full box, with the unscaled image on it.
	WithoutEnlargement bool
}

// AutoOrient applies the pending EXIF orientation (all eight, mirrors included)
// and sets the orientation to 1. A no-op when there is none.
func (im *Image) AutoOrient() error {
	o := im.Orientation()
	if o == 1 {
		return nil
	}
	var rot vips.Angle
	var mirror, flipV bool
	switch o {
	case 2:
		mirror = true
	case 3:
		rot = vips.Angle180
	case 4:
		flipV = true
	case 5:
		rot, mirror = vips.Angle90, true
	case 6:
		rot = vips.Angle90
	case 7:
		rot, mirror = vips.Angle270, true
	case 8:
		rot = vips.Angle270
	}
	if rot != vips.Angle0 {
		if err := im.ref.Rotate(rot); err != nil {
			return im.pixelError("auto orient", err)
		}
	}
	if mirror {
		if err := im.ref.Flip(vips.DirectionHorizontal); err != nil {
			return im.pixelError("auto orient", err)
		}
	}
	if flipV {
		if err := im.ref.Flip(vips.DirectionVertical); err != nil {
			return im.pixelError("auto orient", err)
		}
	}
	// 1 rather than removing the field: an encoder that keeps EXIF then writes 1.
	if err := im.ref.SetOrientation(1); err != nil {
		return im.pixelError("auto orient", err)
	}
	return nil
}

// ToSRGB converts the image to 8-bit sRGB (three bands plus any alpha): through
// its embedded ICC profile when it has one, through a generic CMYK profile for a
// CMYK image without one, and by plain colourspace conversion otherwise (grey,
// 16-bit). An 8-bit RGB image whose profile is sRGB's (isSRGBProfile) is already
// there and keeps its pixels. The result carries an sRGB profile, which Encode strips
// by default.
func (im *Image) ToSRGB() error {
	ref := im.ref
	switch {
	case ref.HasICCProfile():
		if im.isRGB8() && isSRGBProfile(ref.GetICCProfile()) {
			break
		}
		fallback := "srgb"
		if ref.Interpretation() == vips.InterpretationCMYK {
			fallback = "cmyk"
		}
		if err := ref.TransformICCProfileWithFallback("srgb", fallback); err != nil {
			// A broken embedded profile: fall back to a plain conversion.
			if err2 := ref.RemoveICCProfile(); err2 != nil {
				return im.pixelError("to srgb", err)
			}
			if ref.Interpretation() == vips.InterpretationCMYK {
				if err := ref.TransformICCProfileWithFallback("srgb", "cmyk"); err != nil {
					return im.pixelError("to srgb", err)
				}
			}
		}
	case ref.Interpretation() == vips.InterpretationCMYK:
		if err := ref.TransformICCProfileWithFallback("srgb", "cmyk"); err != nil {
			return im.pixelError("to srgb", err)
		}
	}
	return im.ensureRGB8()
}

// ProfileTransformPending reports whether ToSRGB would convert the image through its
// embedded profile with lcms: 8-bit RGB, with or without alpha, tagged with a profile
// other than sRGB's. That conversion works pixel by pixel, so a caller whose first
// operation only drops pixels may convert fewer of them by calling ToSRGB after it.
func (im *Image) ProfileTransformPending() bool {
	return im.ref.HasICCProfile() && im.isRGB8() && !isSRGBProfile(im.ref.GetICCProfile())
}

// isRGB8 reports whether the image is 8-bit RGB with or without alpha.
func (im *Image) isRGB8() bool {
	ref := im.ref
	return ref.Interpretation() == vips.InterpretationSRGB && ref.BandFormat() == vips.BandFormatUchar &&
		(ref.Bands() == 3 || ref.Bands() == 4)
}

// ensureRGB8 converts to sRGB with 8 bits per band when the image is anything
// else (grey, 16-bit, Lab...), so that colours given as Color apply as expected.
func (im *Image) ensureRGB8() error {
	ref := im.ref
	if ref.Interpretation() == vips.InterpretationSRGB && ref.BandFormat() == vips.BandFormatUchar && ref.Bands() >= 3 {
		return nil
	}
	if ref.Interpretation() == vips.InterpretationCMYK {
		if err := ref.TransformICCProfileWithFallback("srgb", "cmyk"); err != nil {
			return im.pixelError("to srgb", err)
		}
	}
	if ref.Interpretation() != vips.InterpretationSRGB || ref.Bands() < 3 {
		if err := ref.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return im.pixelError("to srgb", err)
		}
	}
	if ref.BandFormat() != vips.BandFormatUchar {
		if err := ref.Cast(vips.BandFormatUchar); err != nil {
			return im.pixelError("to srgb", err)
		}
	}
	return nil
}

// withPremultiplied runs fn with alpha premultiplied when the image has alpha, so
// that filtering does not bleed the colour of transparent pixels. (libvips 8.14's
// resize and affine premultiply by themselves; convolutions do not.)
func (im *Image) withPremultiplied(fn func() error) error {
	if !im.ref.HasAlpha() {
		return fn()
	}
	if err := im.ref.PremultiplyAlpha(); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_ = im.ref.UnpremultiplyAlpha()
		return err
	}
	return im.ref.UnpremultiplyAlpha()
}

// scaleTo resamples to exactly w x h with Lanczos3. vips_resize premultiplies
// alpha itself.
func (im *Image) scaleTo(w, h int) error {
	W, H := im.Width(), im.Height()
	if w == W && h == H {
		return nil
	}
	if h <= H && (canReduceWidth(im.ref, w) || (w == W && canReduceHeight(im.ref, h))) {
		return im.scaleSplit(w, h)
	}
	hs, vs := float64(w)/float64(W), float64(h)/float64(H)
	if linearFirst(hs, vs) {
		if err := im.ref.ResizeWithVScale(hs*2, vs*2, vips.KernelLinear); err != nil {
			return err
		}
		hs, vs = float64(w)/float64(im.Width()), float64(h)/float64(im.Height())
	}
	return im.ref.ResizeWithVScale(hs, vs, vips.KernelLanczos3)
}

// linearFirst tells whether libvips' resize by hs x vs should take a linear pass to twice
// the target first. From a reduction by 4 on, libvips 8.14's resize box-shrinks by an
// integer factor first and that path is slow: Lanczos3 to a quarter of an 800x500 image
// costs 17 ms, to 0.26 of it 3 ms. There a cheap linear pass to twice the target, then
// Lanczos3 for the last halving, costs a quarter as much and looks the same at the
// target size. Above a quarter one Lanczos3 pass is both the better filter and the
// faster (3.6 ms against 6.7 ms for 0.4).
func linearFirst(hs, vs float64) bool { return hs < 0.5 && vs < 0.5 && min(hs, vs) <= 0.25 }

// scaleSplit is scaleTo for what canReduceWidth takes (or, not resized across,
// canReduceHeight) and is not enlarged vertically (libvips' resize enlarges after it
// reduces, and its enlargement differs by up to 30 levels between the two orders):
// reduceHeight the columns, then reduceWidth the rows, fewer by then, each in one
// Lanczos3 pass whatever the reduction: their cost per input pixel does not grow with
// it, and they need no linear pass (a 1280x800 image to 320x200: 1.0 ms, against 9.6 ms
// through libvips). Columns reduced by more than maxReduce go to libvips as scaleTo has
// them (through the linear pass to twice the target where scaleTo takes it), and so
// does a pass whose window is longer than the image.
func (im *Image) scaleSplit(w, h int) error {
	W, H := im.Width(), im.Height()
	if h != H && (!canReduceHeight(im.ref, h) || reduceHeight(im.ref, h) != nil) {
		vs := float64(h) / float64(H)
		if linearFirst(float64(w)/float64(W), vs) {
			if err := im.ref.ResizeWithVScale(1, vs*2, vips.KernelLinear); err != nil {
				return err
			}
			vs = float64(h) / float64(im.Height())
		}
		if err := im.ref.ResizeWithVScale(1, vs, vips.KernelLanczos3); err != nil {
			return err
		}
	}
	if w != W && reduceWidth(im.ref, w) != nil {
		return im.ref.ResizeWithVScale(float64(w)/float64(W), 1, vips.KernelLanczos3)
	}
	return nil
}

// ensureAlphaFor adds an alpha channel when bg is not opaque and the image has
// none, so that bg's transparency survives.
func (im *Image) ensureAlphaFor(bg Color) error {
	if bg.A == 255 || im.ref.HasAlpha() {
		return nil
	}
	return im.ref.AddAlpha()
}

func rgba(c Color) *vips.ColorRGBA {
	return &vips.ColorRGBA{R: c.R, G: c.G, B: c.B, A: c.A}
}

func validSize(w, h int) bool {
	return w > 0 && h > 0 && w <= MaxDimension && h <= MaxDimension && int64(w)*int64(h) <= MaxResultPixels
}

func roundDim(v float64) int {
	return max(1, int(math.Round(v)))
}

// Resize scales the image into a box as sharp does (see Fit), with a Lanczos3
// kernel, alpha premultiplied (by libvips) so transparent pixels do not bleed. Bad options wrap
// ErrInvalidOption. Resulting sizes: cover, contain and fill give exactly Width x
// Height; inside gives at most, outside at least the box, keeping the aspect ratio.
func (im *Image) Resize(o ResizeOptions) error {
	if o.Width < 0 || o.Height < 0 || o.Width > MaxDimension || o.Height > MaxDimension || (o.Width == 0 && o.Height == 0) {
		return invalid("resize: size %dx%d", o.Width, o.Height)
	}
	fit := o.Fit
	if fit == "" {
		fit = FitCover
	}
	switch fit {
	case FitCover, FitContain, FitFill, FitInside, FitOutside:
	default:
		return invalid("resize: fit %q", o.Fit)
	}
	if _, _, ok := o.Gravity.anchor(); !ok {
		if _, smart := o.Gravity.interesting(); !smart {
			return invalid("resize: gravity %q", o.Gravity)
		}
		if fit != FitCover {
			return invalid("resize: gravity %q needs fit cover", o.Gravity)
		}
	}
	W, H := float64(im.Width()), float64(im.Height())
	sx, sy := float64(o.Width)/W, float64(o.Height)/H
	// One side given: scale by it, whatever the fit.
	if o.Width == 0 || o.Height == 0 {
		s := math.Max(sx, sy)
		if o.WithoutEnlargement {
			s = math.Min(s, 1)
		}
		return im.resizeExact("resize", roundDim(W*s), roundDim(H*s))
	}
	var s float64
	switch fit {
	case FitFill:
		w, h := o.Width, o.Height
		if o.WithoutEnlargement {
			w, h = min(w, im.Width()), min(h, im.Height())
		}
		return im.resizeExact("resize", w, h)
	case FitInside, FitContain:
		s = math.Min(sx, sy)
	case FitOutside, FitCover:
		s = math.Max(sx, sy)
	}
	if o.WithoutEnlargement {
		s = math.Min(s, 1)
	}
	w, h := roundDim(W*s), roundDim(H*s)
	if fit == FitInside || fit == FitContain {
		w, h = min(w, o.Width), min(h, o.Height)
	}
	if fit == FitCover && !validSize(w, h) {
		return im.coverCropFirst(o, s, min(o.Width, w), min(o.Height, h))
	}
	if err := im.resizeExact("resize", w, h); err != nil {
		return err
	}
	switch fit {
	case FitCover:
		return im.cropGravity("resize", min(o.Width, w), min(o.Height, h), o.Gravity)
	case FitContain:
		return im.embed("resize", o.Width, o.Height, o.Gravity, o.Background)
	}
	return nil
}

// coverCropFirst is a cover resize by scale s to w x h for an image whose scaled
// whole would be over the size limits (a sliver: 5x3000 covering 120x120 would
// be 120x72000 before the crop). It crops the source to the part that the box
// keeps, placed by o.Gravity at the source's scale, then scales that part.
func (im *Image) coverCropFirst(o ResizeOptions, s float64, w, h int) error {
	if !validSize(w, h) {
		return invalid("resize: result %dx%d", w, h)
	}
	cw := min(im.Width(), roundDim(float64(w)/s))
	ch := min(im.Height(), roundDim(float64(h)/s))
	if err := im.cropGravity("resize", cw, ch, o.Gravity); err != nil {
		return err
	}
	return im.resizeExact("resize", w, h)
}

func (im *Image) resizeExact(op string, w, h int) error {
	if !validSize(w, h) {
		return invalid("%s: result %dx%d", op, w, h)
	}
	if err := im.scaleTo(w, h); err != nil {
		return im.pixelError(op, err)
	}
	return nil
}

// embed places the image on a w x h canvas of bg, anchored by g.
func (im *Image) embed(op string, w, h int, g Gravity, bg Color) error {
	if w == im.Width() && h == im.Height() {
		return nil
	}
	hx, vy, ok := g.anchor()
	if !ok {
		hx, vy = 0, 0
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if err := im.ensureAlphaFor(bg); err != nil {
		return im.pixelError(op, err)
	}
	x, y := place(w, im.Width(), hx), place(h, im.Height(), vy)
	if err := im.ref.EmbedBackgroundRGBA(x, y, w, h, rgba(bg)); err != nil {
		return im.pixelError(op, err)
	}
	return nil
}

// Crop keeps the w x h rectangle at (x, y). The rectangle must lie inside the
// image, else ErrInvalidOption.
func (im *Image) Crop(x, y, w, h int) error {
	if x < 0 || y < 0 || w <= 0 || h <= 0 || x+w > im.Width() || y+h > im.Height() {
		return invalid("crop %dx%d+%d+%d outside %dx%d", w, h, x, y, im.Width(), im.Height())
	}
	if x == 0 && y == 0 && w == im.Width() && h == im.Height() {
		return nil
	}
	if err := im.ref.ExtractArea(x, y, w, h); err != nil {
		return im.pixelError("crop", err)
	}
	return nil
}

// CropGravity keeps a w x h region placed by g (smart and entropy pick the most
// interesting region). A size larger than the image is clamped to it.
func (im *Image) CropGravity(w, h int, g Gravity) error {
	if w <= 0 || h <= 0 {
		return invalid("crop: size %dx%d", w, h)
	}
	if _, _, ok := g.anchor(); !ok {
		if _, smart := g.interesting(); !smart {
			return invalid("crop: gravity %q", g)
		}
	}
	return im.cropGravity("crop", min(w, im.Width()), min(h, im.Height()), g)
}

func (im *Image) cropGravity(op string, w, h int, g Gravity) error {
	if w == im.Width() && h == im.Height() {
		return nil
	}
	if how, smart := g.interesting(); smart {
		if err := im.ref.SmartCrop(w, h, how); err != nil {
			return im.pixelError(op, err)
		}
		return nil
	}
	hx, vy, _ := g.anchor()
	if err := im.ref.ExtractArea(place(im.Width(), w, hx), place(im.Height(), h, vy), w, h); err != nil {
		return im.pixelError(op, err)
	}
	return nil
}

// Trim crops away a border of the colour of the top-left pixel. threshold is how
// far (0..255, per band) a pixel may differ from it and still be border; libvips'
// usual value is 10. On an image with alpha whose corner is transparent, the
// transparent border is trimmed. An image that is all border is left unchanged,
// and so is one under 3 pixels on a side (libvips finds the border through a 3x3
// median filter, which such an image cannot hold). Trim reads pixels, so a
// corrupt source fails here with ErrCorrupt.
func (im *Image) Trim(threshold float64) error {
	if math.IsNaN(threshold) || threshold < 0 || threshold > 255 {
		return invalid("trim: threshold %v", threshold)
	}
	if im.Width() < 3 || im.Height() < 3 {
		return nil
	}
	a, err := im.ref.Copy()
	if err != nil {
		return im.pixelError("trim", err)
	}
	defer a.Close()
	tmp := &Image{ref: a}
	if err := tmp.ensureRGB8(); err != nil {
		return err
	}
	corner, err := tmp.pixel(0, 0)
	if err != nil {
		return im.pixelError("trim", err)
	}
	bg := &vips.Color{R: corner[0], G: corner[1], B: corner[2]}
	if a.HasAlpha() {
		if corner[3] < 128 {
			// Transparent corner: the alpha band alone decides.
			if err := a.ExtractBand(3, 1); err != nil {
				return im.pixelError("trim", err)
			}
			bg = &vips.Color{}
		} else if err := a.Flatten(bg); err != nil {
			return im.pixelError("trim", err)
		}
	}
	left, top, w, h, err := a.FindTrim(math.Max(threshold, 0.5), bg)
	if err != nil {
		return im.pixelError("trim", err)
	}
	if w <= 0 || h <= 0 {
		return nil
	}
	return im.Crop(left, top, w, h)
}

// pixel reads one 8-bit pixel (all bands) at x, y.
func (im *Image) pixel(x, y int) ([]uint8, error) {
	p, err := im.ref.Copy()
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.ExtractArea(x, y, 1, 1); err != nil {
		return nil, err
	}
	if p.BandFormat() != vips.BandFormatUchar {
		if err := p.Cast(vips.BandFormatUchar); err != nil {
			return nil, err
		}
	}
	b, err := p.ToBytes()
	if err != nil {
		// ToBytes leaves the cause in libvips' error buffer; evaluating again
		// reports it (and clears the buffer).
		if _, err2 := p.Average(); err2 != nil {
			return nil, err2
		}
		return nil, err
	}
	for len(b) < 4 {
		b = append(b, 255)
	}
	return b, nil
}

// Pad adds borders of bg around the image. Sides must be >= 0. A bg that is not
// opaque adds an alpha channel.
func (im *Image) Pad(top, right, bottom, left int, bg Color) error {
	if top < 0 || right < 0 || bottom < 0 || left < 0 {
		return invalid("pad: negative side")
	}
	w, h := im.Width()+left+right, im.Height()+top+bottom
	if !validSize(w, h) {
		return invalid("pad: result %dx%d", w, h)
	}
	if w == im.Width() && h == im.Height() {
		return nil
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if err := im.ensureAlphaFor(bg); err != nil {
		return im.pixelError("pad", err)
	}
	if err := im.ref.EmbedBackgroundRGBA(left, top, w, h, rgba(bg)); err != nil {
		return im.pixelError("pad", err)
	}
	return nil
}

// Rotate turns the image clockwise by angle degrees. Multiples of 90 are exact
// (no resampling, bg unused); other angles grow the canvas to the rotated bounds
// and fill the corners with bg (adding alpha when bg is not opaque).
func (im *Image) Rotate(angle float64, bg Color) error {
	if math.IsNaN(angle) || math.IsInf(angle, 0) {
		return invalid("rotate: angle %v", angle)
	}
	a := math.Mod(angle, 360)
	if a < 0 {
		a += 360
	}
	if q := math.Round(a / 90); math.Abs(a-q*90) < 1e-9 {
		var rot vips.Angle
		switch int(q) % 4 {
		case 0:
			return nil
		case 1:
			rot = vips.Angle90
		case 2:
			rot = vips.Angle180
		case 3:
			rot = vips.Angle270
		}
		if err := im.ref.Rotate(rot); err != nil {
			return im.pixelError("rotate", err)
		}
		return nil
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if err := im.ensureAlphaFor(bg); err != nil {
		return im.pixelError("rotate", err)
	}
	// vips_similarity premultiplies alpha itself.
	if err := im.ref.Similarity(1, a, rgba(bg), 0, 0, 0, 0); err != nil {
		return im.pixelError("rotate", err)
	}
	return nil
}

// Flip mirrors the image left-right when horizontal, top-bottom when vertical.
func (im *Image) Flip(horizontal, vertical bool) error {
	if horizontal {
		if err := im.ref.Flip(vips.DirectionHorizontal); err != nil {
			return im.pixelError("flip", err)
		}
	}
	if vertical {
		if err := im.ref.Flip(vips.DirectionVertical); err != nil {
			return im.pixelError("flip", err)
		}
	}
	return nil
}

// Blur applies a gaussian blur of sigma pixels, 0.3..1000, with alpha
// premultiplied so transparent pixels do not bleed.
func (im *Image) Blur(sigma float64) error {
	if math.IsNaN(sigma) || sigma < 0.3 || sigma > 1000 {
		return invalid("blur: sigma %v", sigma)
	}
	if err := im.withPremultiplied(func() error { return im.ref.GaussianBlur(sigma) }); err != nil {
		return im.pixelError("blur", err)
	}
	return nil
}

// Sharpen applies libvips' unsharp mask (in Lab, so colours do not fringe) with a
// gaussian of sigma pixels, 0.3..100; flat areas are left alone.
func (im *Image) Sharpen(sigma float64) error {
	if math.IsNaN(sigma) || sigma < 0.3 || sigma > 100 {
		return invalid("sharpen: sigma %v", sigma)
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	// x1 = 2 (flat/jagged threshold), m2 = 3 (jagged slope): libvips' defaults.
	if err := im.ref.Sharpen(sigma, 2, 3); err != nil {
		return im.pixelError("sharpen", err)
	}
	if im.ref.BandFormat() != vips.BandFormatUchar || im.ref.Interpretation() != vips.InterpretationSRGB {
		return im.ensureRGB8()
	}
	return nil
}

// Flatten composites an image with alpha onto an opaque bg (its alpha is ignored)
// and drops the alpha channel. A no-op without alpha.
func (im *Image) Flatten(bg Color) error {
	if !im.ref.HasAlpha() {
		return nil
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	if err := im.ref.Flatten(&vips.Color{R: bg.R, G: bg.G, B: bg.B}); err != nil {
		return im.pixelError("flatten", err)
	}
	return nil
}

// Composite draws overlay over the image (a watermark), placed by g (compass
// gravities only) and moved inward by offsetX, offsetY pixels from the anchored
// edges: from the left for west gravities, from the right for east ones, to the
// right of centre otherwise (likewise vertically). opacity 0..1 scales the
// overlay's alpha; 0 means the default, 1 (opaque). The overlay is not modified and
// may be larger than the image (it is clipped). The result keeps the image's bands:
// no alpha is added to an opaque image.
func (im *Image) Composite(overlay *Image, g Gravity, offsetX, offsetY int, opacity float64) error {
	if overlay == nil || overlay.ref == nil {
		return invalid("composite: no overlay")
	}
	if math.IsNaN(opacity) || opacity < 0 || opacity > 1 {
		return invalid("composite: opacity %v", opacity)
	}
	if opacity == 0 {
		opacity = 1
	}
	hx, vy, ok := g.anchor()
	if !ok {
		return invalid("composite: gravity %q", g)
	}
	if err := overlay.decodeSource("composite overlay"); err != nil {
		return err
	}
	ov, err := overlay.ref.Copy()
	if err != nil {
		return im.pixelError("composite", err)
	}
	defer ov.Close()
	ovi := &Image{ref: ov}
	if err := ovi.ensureRGB8(); err != nil {
		return err
	}
	if err := ov.AddAlpha(); err != nil {
		return im.pixelError("composite", err)
	}
	if opacity < 1 {
		if err := ov.Linear([]float64{1, 1, 1, opacity}, []float64{0, 0, 0, 0}); err != nil {
			return im.pixelError("composite", err)
		}
		if err := ov.Cast(vips.BandFormatUchar); err != nil {
			return im.pixelError("composite", err)
		}
	}
	if err := im.ensureRGB8(); err != nil {
		return err
	}
	hadAlpha := im.ref.HasAlpha()
	x := place(im.Width(), ov.Width(), hx) - hx*offsetX
	y := place(im.Height(), ov.Height(), vy) - vy*offsetY
	if hx == 0 {
		x += offsetX
	}
	if vy == 0 {
		y += offsetY
	}
	if err := im.ref.Composite(ov, vips.BlendModeOver, x, y); err != nil {
		return im.pixelError("composite", err)
	}
	if !hadAlpha && im.ref.HasAlpha() {
		if err := im.ref.ExtractBand(0, 3); err != nil {
			return im.pixelError("composite", err)
		}
	}
	if im.ref.BandFormat() != vips.BandFormatUchar {
		if err := im.ref.Cast(vips.BandFormatUchar); err != nil {
			return im.pixelError("composite", err)
		}
	}
	return nil
}

// Strip removes metadata: EXIF, XMP, IPTC, the ICC profile and any other
// non-technical field. A pending orientation is kept (AutoOrient still works).
// Call ToSRGB first if the image is not in sRGB, or its colours will change.
func (im *Image) Strip() error {
	if err := im.ref.RemoveMetadata(); err != nil {
		return im.pixelError("strip", err)
	}
	if im.ref.HasICCProfile() {
		if err := im.ref.RemoveICCProfile(); err != nil {
			return im.pixelError("strip", err)
		}
	}
	return nil
}

// String describes the image for logs.
func (im *Image) String() string {
	if im == nil || im.ref == nil {
		return "imaging.Image(closed)"
	}
	return fmt.Sprintf("imaging.Image(%s %dx%d bands=%d)", im.src, im.Width(), im.Height(), im.ref.Bands())
}
