package pipeline

import (
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/imaging"
)

// Check settings that are not thresholds.
const (
	// distinctTolerance is how far (0..255, any channel) from a plain background's colour
	// a source pixel must be to count as clearly product when a backend's mask is checked
	// against the source: soft shadows and anti-aliased edges stay below it.
	distinctTolerance = 48
	// distinctErode is how many pixels more than the mask erosion the clearly-product
	// region is eroded by, so its own edge is never judged.
	distinctErode = 2
	// fillTolerance is the colour distance (0..255) from the border's colour that the
	// marketplace rules still call background when finding the product in an output.
	fillTolerance = 24
)

// measures are what the steps of one run measured, before any threshold is applied:
// each output judges them by its own thresholds.
type measures struct {
	// product pixels: the worst share over the masking steps, and what it was compared in.
	productShare  float64
	productDetail string
	productDone   bool
	// the first mask's statistics, and whether its source had a plain background.
	mask      *checks.MaskStat
	maskPlain bool
	// upscale: sharpness ratio against Lanczos, and SSIM of the content.
	upscaled      bool
	upSharpness   float64
	upContent     float64
	upscaleDetail string
}

// sizeWant is a size the recipe asks for, with the slack its rounding allows.
type sizeWant struct {
	w, h  int
	slack int
}

// maskProbe is a masking step's input, kept until the step is done. Pixels are sampled
// every step-th pixel in both directions (see imaging.Image.Sample).
type maskProbe struct {
	w, h   int // the working image's size
	step   int
	sw, sh int    // the sampled size
	src    []byte // RGBA samples of the step's input
	mask   []byte // samples of the mask the step used (255 = product)
	ref    []byte // clearly-product samples of a plain source, when the mask came from a backend; nil otherwise
	erode  int    // in sampled pixels
	// refErode is the erosion of ref, in sampled pixels.
	refErode int
	refNote  string
}

// checkMaxSide is the longest side checks look at: larger images are sampled every
// step-th pixel, step the smallest integer that brings them to this size.
const checkMaxSide = 800

// ruleMaxSide is the longest side the marketplace rules look at.
const ruleMaxSide = 400

func sampleStep(w, h int) int {
	return max(1, (max(w, h)+checkMaxSide-1)/checkMaxSide)
}

// checking tells whether this run measures its outputs.
func (c *Context) checking() bool { return c.m != nil }

// probeMask records a masking step's input and mask; the step's result is compared with it
// when the step returns (finishProbe). backend says the mask came from a backend model,
// so it is also held against the source's clearly-product pixels when the background is
// plain.
func (c *Context) probeMask(mask *imaging.Image, backend bool) error {
	return c.probeMaskOf(mask, backend, imaging.MattePixels{})
}

// probeMaskOf is probeMask given the pixels the step has in memory already: the input's
// own (px.Source) and the mask's (px.Mask); those it lacks are read.
func (c *Context) probeMaskOf(mask *imaging.Image, backend bool, px imaging.MattePixels) error {
	if !c.checking() || c.probe != nil {
		return nil
	}
	w, h := c.Image.Width(), c.Image.Height()
	if mask.Width() != w || mask.Height() != h {
		return fmt.Errorf("check: mask is %dx%d, image %dx%d", mask.Width(), mask.Height(), w, h)
	}
	step := sampleStep(w, h)
	var (
		sw, sh int
		src    []byte
		err    error
	)
	if px.Source != nil {
		sw, sh, src, err = imaging.PickRGB(w, h, px.Source, step)
	} else {
		sw, sh, src, err = c.Image.Sample(step, false)
	}
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	// The mask's sample: picked from the pixels the step has, else read out of libvips,
	// which picks the places itself (a backend's mask stays decoded in libvips' memory
	// for the step to apply).
	var (
		mw, mh int
		mpix   []byte
	)
	if px.Mask != nil {
		mw, mh, mpix, err = imaging.PickGray(w, h, px.Mask, step)
	} else {
		mw, mh, mpix, err = mask.Sample(step, true)
	}
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if mw != sw || mh != sh {
		return fmt.Errorf("check: mask sampled to %dx%d, image to %dx%d", mw, mh, sw, sh)
	}
	plain, bg := plainBorder(src, sw, sh)
	erode := int(math.Ceil(checks.Get(c.thresholds.MaskErode) / float64(step)))
	refErode := int(math.Ceil((checks.Get(c.thresholds.MaskErode) + distinctErode) / float64(step)))
	p := &maskProbe{w: w, h: h, step: step, sw: sw, sh: sh, src: src, mask: mpix, erode: erode, refErode: refErode}
	if c.m.mask == nil {
		st, err := checks.MaskStats(mpix, sw, sh)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		c.m.mask, c.m.maskPlain = &st, plain
	}
	p.refNote = "inside the eroded mask"
	if backend && plain {
		p.ref = distinct(src, sw, sh, bg, distinctTolerance)
		p.refNote = "inside the eroded mask and the source's clearly-product pixels"
	}
	c.probe = p
	return nil
}

// plainBorder tells whether the outermost ring of rgba (4 bands, opaque pixels only) is
// near-uniform, and its median colour.
func plainBorder(rgba []byte, w, h int) (bool, [3]uint8) {
	var ring [3][]int
	add := func(x, y int) {
		i := (y*w + x) * 4
		if rgba[i+3] < 255 {
			return
		}
		for k := 0; k < 3; k++ {
			ring[k] = append(ring[k], int(rgba[i+k]))
		}
	}
	for x := 0; x < w; x++ {
		add(x, 0)
		add(x, h-1)
	}
	for y := 1; y < h-1; y++ {
		add(0, y)
		add(w-1, y)
	}
	var med [3]uint8
	if len(ring[0]) < max(4, (w+h)) {
		return false, med // mostly transparent: no plain colour to learn
	}
	plain := true
	for k := 0; k < 3; k++ {
		v := ring[k]
		sum, sq := 0.0, 0.0
		for _, x := range v {
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		n := float64(len(v))
		mean := sum / n
		if math.Sqrt(math.Max(0, sq/n-mean*mean)) > imaging.PlainBackgroundMaxStdDev {
			plain = false
		}
		slices.Sort(v)
		med[k] = uint8(v[len(v)/2])
	}
	return plain, med
}

// finishProbe compares the working image, after a masking step, with the step's input.
func (c *Context) finishProbe() error {
	p := c.probe
	c.probe = nil
	if p == nil {
		return nil
	}
	if c.Image.Width() != p.w || c.Image.Height() != p.h {
		return fmt.Errorf("check: the step changed the size from %dx%d to %dx%d", p.w, p.h, c.Image.Width(), c.Image.Height())
	}
	// Only the places under the mask (and the reference) are compared: read the box that
	// holds them, with a margin wider than the erosion so that the box's edge erodes them
	// as the image's would, and compare within it.
	box := p.productBox()
	var share float64
	var n int
	if !box.Empty() {
		aw, ah, out, err := c.Image.SampleArea(p.step, false, image.Rect(box.Min.X*p.step, box.Min.Y*p.step,
			(box.Max.X-1)*p.step+1, (box.Max.Y-1)*p.step+1))
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if aw != box.Dx() || ah != box.Dy() {
			return fmt.Errorf("check: sampled %dx%d after the step, want %dx%d", aw, ah, box.Dx(), box.Dy())
		}
		src := crop(p.src, 4, p.sw, box)
		tol := int(checks.Get(c.thresholds.ProductPixelsTolerance))
		if share, n, err = checks.ProductPixelsChanged(src, out, 4, crop(p.mask, 1, p.sw, box), aw, ah, p.erode, tol); err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if p.ref != nil {
			s2, n2, err := checks.ProductPixelsChanged(src, out, 4, crop(p.ref, 1, p.sw, box), aw, ah, p.refErode, tol)
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			if n2 > 0 && (n == 0 || s2 > share) {
				share, n = s2, n2
			}
		}
	}
	if !c.m.productDone || share > c.m.productShare {
		c.m.productShare = share
		c.m.productDetail = fmt.Sprintf("%d product pixels compared %s (every %d px, eroded %g px)", n, p.refNote, p.step,
			checks.Get(c.thresholds.MaskErode))
	}
	c.m.productDone = true
	return nil
}

// productBox is the box, in sampled places, of every place where the mask or the
// reference is not zero, widened by more than the erosion and clipped to the sample: the
// places the comparison of finishProbe needs. Empty when the mask and reference are.
func (p *maskProbe) productBox() image.Rectangle {
	x0, y0, x1, y1 := p.sw, p.sh, -1, -1
	for i := range p.mask {
		if p.mask[i] == 0 && (p.ref == nil || p.ref[i] == 0) {
			continue
		}
		x, y := i%p.sw, i/p.sw
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
	}
	if x1 < 0 {
		return image.Rectangle{}
	}
	m := max(p.erode, p.refErode) + 1
	return image.Rect(x0-m, y0-m, x1+1+m, y1+1+m).Intersect(image.Rect(0, 0, p.sw, p.sh))
}

// crop copies box out of buf, a sample sw places wide of bands bytes a place.
func crop(buf []byte, bands, sw int, box image.Rectangle) []byte {
	out := make([]byte, 0, box.Dx()*box.Dy()*bands)
	for y := box.Min.Y; y < box.Max.Y; y++ {
		out = append(out, buf[(y*sw+box.Min.X)*bands:(y*sw+box.Max.X)*bands]...)
	}
	return out
}

// distinct marks the pixels of rgba (4 bands) farther than tol from bg in some channel.
func distinct(rgba []byte, w, h int, bg [3]uint8, tol int) []byte {
	out := make([]byte, w*h)
	for i := range out {
		px := rgba[i*4 : i*4+3]
		for k := 0; k < 3; k++ {
			d := int(px[k]) - int(bg[k])
			if d > tol || -d > tol {
				out[i] = 255
				break
			}
		}
	}
	return out
}

// Upscale measurement sizes.
const (
	// sharpnessCrop is the side of the central square, in output pixels, where an AI
	// upscale's sharpness is compared with a Lanczos upscale's.
	sharpnessCrop = 768
	// contentSide is the longest side at which an upscale's content is compared with
	// its source.
	contentSide = 512
)

// measureUpscale compares an AI upscale (up) of in with a Lanczos upscale of in (sharpness,
// on a central crop) and, both brought to the same small size, with in itself (structure).
func (c *Context) measureUpscale(in, up *imaging.Image) error {
	if !c.checking() {
		return nil
	}
	iw, ih, uw, uh := in.Width(), in.Height(), up.Width(), up.Height()
	fx, fy := float64(uw)/float64(iw), float64(uh)/float64(ih)
	// The crop in the source, and the same region in the upscale.
	cw, ch := min(iw, max(1, int(sharpnessCrop/fx))), min(ih, max(1, int(sharpnessCrop/fy)))
	cx, cy := (iw-cw)/2, (ih-ch)/2
	ox, oy, ow, oh := int(float64(cx)*fx), int(float64(cy)*fy), max(1, int(float64(cw)*fx)), max(1, int(float64(ch)*fy))
	ow, oh = min(ow, uw-ox), min(oh, uh-oy)
	aiSharp, err := regionSharpness(up, ox, oy, ow, oh, 0, 0)
	if err != nil {
		return err
	}
	lzSharp, err := regionSharpness(in, cx, cy, cw, ch, ow, oh)
	if err != nil {
		return err
	}
	tw, th := contentSize(iw, ih)
	a, err := grayAt(in, tw, th)
	if err != nil {
		return err
	}
	b, err := grayAt(up, tw, th)
	if err != nil {
		return err
	}
	ssim, err := checks.SSIM(a, b, tw, th)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	ratio := 1.0 // a flat picture: neither can be sharper
	switch {
	case lzSharp > 0:
		ratio = aiSharp / lzSharp
	case aiSharp > 0:
		ratio = 1e6
	}
	c.m.upscaled, c.m.upSharpness, c.m.upContent = true, math.Min(ratio, 1e6), ssim
	c.m.upscaleDetail = fmt.Sprintf("sharpness %.1f against Lanczos %.1f on the central %dx%d", aiSharp, lzSharp, ow, oh)
	return nil
}

// contentSize is w x h brought within contentSide, keeping the aspect ratio.
func contentSize(w, h int) (int, int) {
	s := math.Min(1, float64(contentSide)/float64(max(w, h)))
	return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
}

// regionSharpness crops im to (x, y, w, h), brings it to tw x th when tw > 0 (see
// imaging.Image.GrayAt: an enlargement is a Lanczos3 one of its luminance), and measures
// the Laplacian variance of its luminance.
func regionSharpness(im *imaging.Image, x, y, w, h, tw, th int) (float64, error) {
	cp, err := im.Copy()
	if err != nil {
		return 0, err
	}
	defer cp.Close()
	if err := cp.Crop(x, y, w, h); err != nil {
		return 0, fmt.Errorf("check: %w", err)
	}
	if tw <= 0 {
		tw, th = w, h
	}
	g, err := cp.GrayAt(tw, th)
	if err != nil {
		return 0, fmt.Errorf("check: %w", err)
	}
	return checks.Sharpness(g, tw, th)
}

// grayAt is im brought to w x h, as luminance (see imaging.Image.GrayAt).
func grayAt(im *imaging.Image, w, h int) ([]byte, error) {
	g, err := im.GrayAt(w, h)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return g, nil
}

// report judges the run's measures, and the output image img, by the output's thresholds.
func (c *Context) report(r *Recipe, o Output, data []byte, want *sizeWant) (*checks.Report, error) {
	info, err := imaging.Probe(data)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	t := r.Thresholds(o.Name)
	rep := &checks.Report{}
	m := c.m
	if m.productDone {
		rep.Add(checks.Result{Name: checks.ProductPixels, Value: m.productShare, Op: checks.AtMost,
			Threshold: checks.Get(t.ProductPixelsMax), Detail: m.productDetail})
	}
	if m.mask != nil {
		cov := checks.Result{Name: checks.MaskCoverage, Value: m.mask.Coverage, Op: checks.AtLeast, Threshold: checks.Get(t.MaskCoverageMin)}
		if m.mask.Coverage > checks.Get(t.MaskCoverageMax) {
			cov.Op, cov.Threshold = checks.AtMost, checks.Get(t.MaskCoverageMax)
		}
		rep.Add(cov)
		rep.Add(checks.Result{Name: checks.MaskSpeckle, Value: m.mask.Speckle, Op: checks.AtMost, Threshold: checks.Get(t.MaskSpeckleMax)})
		if m.maskPlain {
			rep.Add(checks.Result{Name: checks.MaskBorder, Value: m.mask.Border, Op: checks.AtMost, Threshold: checks.Get(t.MaskBorderMax),
				Detail: "the source's background was plain"})
		}
	}
	if m.upscaled {
		rep.Add(checks.Result{Name: checks.UpscaleSharpness, Value: m.upSharpness, Op: checks.AtLeast,
			Threshold: checks.Get(t.UpscaleSharpnessMin), Detail: m.upscaleDetail})
		rep.Add(checks.Result{Name: checks.UpscaleContent, Value: m.upContent, Op: checks.AtLeast,
			Threshold: checks.Get(t.UpscaleContentMin), Detail: fmt.Sprintf("SSIM of the upscale against the source, both reduced to %d px on the longer side", contentSide)})
	}
	if want != nil {
		dev := max(abs(info.Width-want.w), abs(info.Height-want.h))
		rep.Add(checks.Result{Name: checks.Geometry, Value: float64(dev), Op: checks.AtMost, Threshold: float64(want.slack),
			Detail: fmt.Sprintf("got %dx%d, the recipe asks %dx%d", info.Width, info.Height, want.w, want.h)})
	}
	if t.BackgroundColor != nil || t.ProductFillMin != nil {
		if err := c.marketplaceRules(rep, t, data, info); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// marketplaceRules checks an output's background colour and how much of the frame the
// product fills, finding the product as what is not reachable from the border through
// the border's colour.
func (c *Context) marketplaceRules(rep *checks.Report, t checks.Thresholds, data []byte, info imaging.Info) error {
	// Background share and fill are coarse measures: half the checks' resolution is plenty,
	// and the decoder may shrink on load to it.
	step := max(1, (max(info.Width, info.Height)+ruleMaxSide-1)/ruleMaxSide)
	img, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels,
		ShrinkTo: imaging.Size{Width: (info.Width + step - 1) / step, Height: (info.Height + step - 1) / step}})
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer img.Close()
	w, h, pix, err := img.Sample(max(1, (max(img.Width(), img.Height())+ruleMaxSide-1)/ruleMaxSide), false)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	mask, err := checks.BorderFlood(pix, 4, w, h, fillTolerance)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if t.BackgroundColor != nil {
		col, err := imaging.ParseColor(*t.BackgroundColor)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		tol := int(checks.Get(t.BackgroundTolerance))
		share, n, err := checks.Background(pix, 4, mask, w, h, [3]uint8{col.R, col.G, col.B}, tol, 1)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		detail := fmt.Sprintf("%d background pixels within %d of %s", n, tol, *t.BackgroundColor)
		if n < w*h/100 {
			share, detail = 0, "no plain background found around the product"
		}
		rep.Add(checks.Result{Name: checks.BackgroundWhite, Value: share, Op: checks.AtLeast,
			Threshold: checks.Get(t.BackgroundMinShare), Detail: detail})
	}
	if t.ProductFillMin != nil {
		fill, err := checks.Fill(mask, w, h)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		rep.Add(checks.Result{Name: checks.ProductFill, Value: fill, Op: checks.AtLeast, Threshold: *t.ProductFillMin,
			Detail: "the product's box over the frame, on its longer side"})
	}
	return nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// expectSize follows the sizes a recipe's steps ask for from a w x h input; nil when a
// step's result size cannot be known beforehand (trim, a free rotation, a skipped
// condition, without_enlargement).
func expectSize(r *Recipe, w, h int, ran []bool) *sizeWant {
	cur := &sizeWant{w: w, h: h}
	for i, st := range r.Steps {
		if !ran[i] {
			continue
		}
		cur = stepSize(st, cur)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// outputSize applies an output's own resize to the steps' size.
func outputSize(o Output, cur *sizeWant) *sizeWant {
	if cur == nil || o.Resize == nil {
		return cur
	}
	return resizeSize(o.Resize, cur)
}

func stepSize(st Step, cur *sizeWant) *sizeWant {
	switch p := st.Params.(type) {
	case *ResizeParams:
		return resizeSize(p, cur)
	case *UpscaleParams:
		switch {
		case p.Width == 0 && p.Height == 0:
			return &sizeWant{w: roundInt(float64(cur.w) * p.Factor), h: roundInt(float64(cur.h) * p.Factor), slack: 1}
		case p.Width > 0 && p.Height > 0:
			if p.Engine == EngineSD {
				return &sizeWant{w: p.Width, h: p.Height}
			}
			return nil
		case p.Width > 0:
			return &sizeWant{w: p.Width, h: roundInt(float64(cur.h) * float64(p.Width) / float64(cur.w)), slack: 1}
		default:
			return &sizeWant{w: roundInt(float64(cur.w) * float64(p.Height) / float64(cur.h)), h: p.Height, slack: 1}
		}
	case *CropParams:
		if p.Width > cur.w || p.Height > cur.h {
			return nil
		}
		return &sizeWant{w: p.Width, h: p.Height, slack: cur.slack}
	case *PadParams:
		return &sizeWant{w: cur.w + p.Left + p.Right, h: cur.h + p.Top + p.Bottom, slack: cur.slack}
	case *RotateParams:
		a := math.Mod(p.Angle, 360)
		if a < 0 {
			a += 360
		}
		q := math.Round(a / 90)
		if math.Abs(a-q*90) > 1e-9 {
			return nil
		}
		if int(q)%2 == 1 {
			return &sizeWant{w: cur.h, h: cur.w, slack: cur.slack}
		}
		return cur
	case *TrimParams:
		return nil
	}
	return cur
}

func resizeSize(p *ResizeParams, cur *sizeWant) *sizeWant {
	if p.WithoutEnlargement {
		return nil
	}
	sx, sy := scaleFor(cur.w, cur.h, p)
	switch {
	case p.Width > 0 && p.Height > 0 && (p.Fit == "cover" || p.Fit == "contain" || p.Fit == "fill"):
		return &sizeWant{w: p.Width, h: p.Height}
	default:
		return &sizeWant{w: roundInt(float64(cur.w) * sx), h: roundInt(float64(cur.h) * sy), slack: 1}
	}
}

func roundInt(v float64) int { return max(1, int(math.Round(v))) }
