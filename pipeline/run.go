package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"math"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/imaging"

	"github.com/pictor/pictor/fault"
)

// ErrNotImplemented is returned for a step the pipeline cannot run: an op it has no step
// for (Validate refuses those first), or a step that needs another stored image when
// Env.LoadImage is nil.
var ErrNotImplemented = fault.New(fault.NotImplemented, "not-implemented", "Not implemented", "not implemented")

// ErrSDRequired is returned by a step that needs a Stable Diffusion backend when none is set.
var ErrSDRequired = fault.New(fault.Unavailable, "sd-backend-required", "Stable Diffusion backend required",
	"a Stable Diffusion backend is required: set PICTOR_SD_URLS")

// Env is what a run may reach beyond its source bytes. The zero value runs every classic step
// that needs no other stored image.
type Env struct {
	// MaxPixels bounds width*height of every decoded input; 0 means no limit.
	MaxPixels int64
	// LoadImage returns the bytes of another stored image (for composite and image
	// backgrounds); nil means such steps fail with ErrNotImplemented.
	LoadImage func(ctx context.Context, id string) ([]byte, error)
	// SD reaches the WebUI backends; nil means none is configured.
	SD *SD
	// MaxCost is the budget of one run in estimated pixel operations (EstimateCost), checked
	// before anything is decoded; 0 means DefaultMaxCost, a negative value no limit.
	MaxCost float64
}

// RunOptions select outputs and resolve format "auto".
type RunOptions struct {
	// Accept lists the formats beyond JPEG and PNG the client takes, in no order, for
	// outputs with format "auto" (imaging.Auto); nil for none.
	Accept []imaging.Format
	// Formats, when it names an output, fixes that output's format (settled by the caller
	// beforehand, e.g. to build cache keys); default nil.
	Formats map[string]imaging.Format
	// NoChecks skips measuring the outputs of recipes with AI steps (for benchmarks that
	// price the checks); default false.
	NoChecks bool
}

// Rendered is one encoded output of a run.
type Rendered struct {
	Output string
	Format imaging.Format
	Data   []byte
	Width  int
	Height int
	// Lineage records how generative steps made it: prompt, seed, model, sampler,
	// steps, upscaler; empty for classic-only runs.
	Lineage map[string]string
	// Checks is what the output checks found, for recipes with AI steps; nil otherwise
	// (and for the stored mask).
	Checks *checks.Report
}

// Context carries one run's state from step to step.
type Context struct {
	Ctx   context.Context
	Env   Env
	Image *imaging.Image
	Facts Facts

	extra   []Rendered        // outputs a step adds (a stored mask)
	lineage map[string]string // what generative steps record

	m          *measures         // what the checks measured; nil when the run is not checked
	probe      *maskProbe        // the running masking step's input
	thresholds checks.Thresholds // the recipe's thresholds (erosion, tolerance)

	// outputFirst is the only output's resize as it applies to the stored image, when
	// shrinkFirst chose it: the output turns the image upright and converts it after.
	outputFirst *ResizeParams
}

// note records one fact of the run's lineage.
func (c *Context) note(k, v string) {
	if v == "" {
		return
	}
	if c.lineage == nil {
		c.lineage = map[string]string{}
	}
	c.lineage[k] = v
}

// StepFunc is one operation of a pipeline, run on the Context's image.
type StepFunc func(*Context) error

// Run decodes src once, applies the recipe's steps in order (checking ctx between steps and
// skipping steps whose `when` does not hold), and encodes every output from that one decode.
func Run(ctx context.Context, env Env, src []byte, r *Recipe, opts RunOptions) ([]Rendered, error) {
	info, err := imaging.Probe(src)
	if err != nil {
		return nil, err
	}
	if env.MaxPixels > 0 && int64(info.Width)*int64(info.Height) > env.MaxPixels {
		return nil, fmt.Errorf("%dx%d: %w", info.Width, info.Height, imaging.ErrTooManyPixels)
	}
	if budget := cmp.Or(env.MaxCost, DefaultMaxCost); budget > 0 {
		w, h := info.Width, info.Height
		if oriented(info) {
			w, h = h, w
		}
		if _, err := EstimateCost(r, w, h, budget); err != nil {
			return nil, err
		}
	}
	im, err := imaging.Load(src, imaging.LoadOptions{MaxPixels: env.MaxPixels, ShrinkTo: shrinkTarget(info, r)})
	if err != nil {
		return nil, err
	}
	pc := &Context{Ctx: ctx, Env: env, Image: im}
	// A step may replace the working image; close whichever is current at the end.
	defer func() { pc.Image.Close() }()
	// EXIF orientation is applied first, always: outputs carry no metadata, so an unapplied
	// orientation would show the picture on its side. Every output is sRGB: embedded
	// profiles (and CMYK) are converted here, once. Both wait until after the first step
	// when that step only drops pixels (shrinkFirst), and then work on fewer of them.
	first, at, early := shrinkFirst(r, im)
	if !early {
		if err := uprightSRGB(im); err != nil {
			return nil, err
		}
	} else if at == len(r.Steps) {
		pc.outputFirst = first
	}
	pc.Facts = Facts{Width: info.Width, Height: info.Height, Format: string(info.Format), HasAlpha: info.HasAlpha}
	if oriented(info) {
		pc.Facts.Width, pc.Facts.Height = info.Height, info.Width
	}
	if q, ok := imaging.EstimateJPEGQuality(src); ok {
		pc.Facts.JPEGQuality = q
	}
	if needsAnalysis(r) {
		if err := analyzeInto(im, &pc.Facts); err != nil {
			return nil, err
		}
	}
	if r.HasAIStep() && !opts.NoChecks {
		pc.m = &measures{}
		pc.thresholds = checks.DefaultThresholds().Over(r.Checks)
	}
	ran := make([]bool, len(r.Steps))
	for i, st := range r.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if st.When != nil {
			f := pc.Facts
			f.Width, f.Height = pc.Image.Width(), pc.Image.Height()
			if !st.When.Match(f) {
				continue
			}
		}
		ran[i] = true
		if early && i < at {
			continue // auto_orient, which uprightSRGB does below
		}
		if early && i == at {
			if err := pc.Image.Resize(resizeOptions(first)); err != nil {
				return nil, fmt.Errorf("steps[%d] %s: %w", i, st.Op, err)
			}
			if err := uprightSRGB(pc.Image); err != nil {
				return nil, err
			}
			continue
		}
		fn, err := stepFunc(st)
		if err != nil {
			return nil, fmt.Errorf("steps[%d] %s: %w", i, st.Op, err)
		}
		if err := fn(pc); err != nil {
			return nil, fmt.Errorf("steps[%d] %s: %w", i, st.Op, err)
		}
		if err := pc.finishProbe(); err != nil {
			return nil, fmt.Errorf("steps[%d] %s: %w", i, st.Op, err)
		}
	}
	var want *sizeWant
	if pc.checking() {
		want = expectSize(r, pc.Facts.Width, pc.Facts.Height, ran)
	}
	// Compute the steps once when several outputs share them: libvips is lazy and
	// uncached, so otherwise every output would decode the source again.
	if len(r.Outputs) > 1 {
		if err := pc.Image.Materialize(); err != nil {
			return nil, err
		}
	}
	out := make([]Rendered, 0, len(r.Outputs))
	for i := range r.Outputs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rd, err := pc.output(r, i, opts, want)
		if err != nil {
			return nil, err
		}
		out = append(out, rd)
	}
	return append(out, pc.extra...), nil
}

// output encodes (and checks) the recipe's output i. An output that resizes works on a
// copy of the image, closed before the next output starts, unless it is the last output,
// which may change the image itself.
func (pc *Context) output(r *Recipe, i int, opts RunOptions, want *sizeWant) (Rendered, error) {
	o := r.Outputs[i]
	img := pc.Image
	if o.Resize != nil && i < len(r.Outputs)-1 {
		c, err := img.Copy()
		if err != nil {
			return Rendered{}, err
		}
		defer c.Close()
		img = c
	}
	if o.Resize != nil {
		p := o.Resize
		if pc.outputFirst != nil {
			p = pc.outputFirst
		}
		if err := img.Resize(resizeOptions(p)); err != nil {
			return Rendered{}, fmt.Errorf("outputs[%d] resize: %w", i, err)
		}
		if pc.outputFirst != nil {
			pc.outputFirst = nil
			if err := uprightSRGB(img); err != nil {
				return Rendered{}, err
			}
		}
	}
	f, ok := opts.Formats[o.Name]
	if !ok {
		var err error
		if f, err = outputFormat(o.Format, opts.Accept, img.HasAlpha()); err != nil {
			return Rendered{}, fmt.Errorf("outputs[%d]: %w", i, err)
		}
	}
	data, err := img.Encode(imaging.EncodeOptions{Format: f, Quality: o.Quality, Lossless: o.Lossless, KeepICC: o.KeepICC})
	if err != nil {
		return Rendered{}, fmt.Errorf("outputs[%d] encode: %w", i, err)
	}
	var rep *checks.Report
	if pc.checking() {
		// Judged on the encoded bytes: what is delivered, not what was meant.
		if rep, err = pc.report(r, o, data, outputSize(o, want)); err != nil {
			return Rendered{}, fmt.Errorf("outputs[%d] checks: %w", i, err)
		}
	}
	return Rendered{Output: o.Name, Format: f, Data: data, Width: img.Width(), Height: img.Height(), Lineage: pc.lineage, Checks: rep}, nil
}

// outputFormat resolves an output's format, "auto" by the accepted formats and alpha.
func outputFormat(format string, accept []imaging.Format, alpha bool) (imaging.Format, error) {
	if format == "auto" {
		return imaging.Auto(accept, alpha), nil
	}
	return imaging.ParseFormat(format)
}

// ResolveFormat tells which format an output will be written in, before rendering: "auto"
// is settled from the accepted formats and whether the source may carry alpha.
func ResolveFormat(o Output, accept []imaging.Format, alpha bool) (imaging.Format, error) {
	return outputFormat(o.Format, accept, alpha)
}

func oriented(info imaging.Info) bool { return info.Orientation >= 5 && info.Orientation <= 8 }

// shrinkTarget finds how small the decoder may make the image: when the first step that
// changes geometry is a resize (or there are no steps and every output resizes), the
// decoded image only needs to cover what that resize keeps.
func shrinkTarget(info imaging.Info, r *Recipe) imaging.Size {
	w, h := info.Width, info.Height
	if oriented(info) {
		w, h = h, w
	}
	for _, st := range r.Steps {
		switch p := st.Params.(type) {
		case *AutoOrientParams, *StripParams, *SharpenParams, *BackgroundParams:
			continue
		case *ResizeParams:
			if st.When != nil {
				return imaging.Size{}
			}
			return need(w, h, p)
		default:
			return imaging.Size{}
		}
	}
	var best imaging.Size
	for _, o := range r.Outputs {
		if o.Resize == nil {
			return imaging.Size{}
		}
		n := need(w, h, o.Resize)
		if n.Width == 0 {
			return imaging.Size{}
		}
		best.Width = max(best.Width, n.Width)
		best.Height = max(best.Height, n.Height)
	}
	return best
}

// need is the size the source must keep so that resize p still works from real pixels.
func need(w, h int, p *ResizeParams) imaging.Size {
	if w <= 0 || h <= 0 {
		return imaging.Size{}
	}
	sx, sy := scaleFor(w, h, p)
	if sx >= 1 || sy >= 1 {
		return imaging.Size{}
	}
	return imaging.Size{Width: int(math.Ceil(float64(w) * sx)), Height: int(math.Ceil(float64(h) * sy))}
}

// scaleFor returns the horizontal and vertical scale a resize applies to a w x h image.
func scaleFor(w, h int, p *ResizeParams) (float64, float64) {
	fw, fh := float64(p.Width)/float64(w), float64(p.Height)/float64(h)
	switch {
	case p.Width == 0:
		return fh, fh
	case p.Height == 0:
		return fw, fw
	}
	switch p.Fit {
	case "fill":
		return fw, fh
	case "cover", "outside":
		s := math.Max(fw, fh)
		return s, s
	default: // contain, inside
		s := math.Min(fw, fh)
		return s, s
	}
}

// uprightSRGB applies the pending EXIF orientation and converts to sRGB.
func uprightSRGB(im *imaging.Image) error {
	if err := im.AutoOrient(); err != nil {
		return err
	}
	return im.ToSRGB()
}

// shrinkFirst tells whether the recipe's first step (after any auto_orient, which Run
// does anyway), or, in a recipe with no other steps and one output, that output's resize,
// may run before the image is turned upright and converted to sRGB, so that both work on
// the pixels it leaves, and returns that step's index (len(r.Steps) for the output) and
// its resize as it applies to the image as stored (the box turned for an orientation that
// swaps width and height). It may when one of the two has work to do (an EXIF orientation, or
// an lcms transform: ProfileTransformPending) and the step is an unconditional resize
// that shrinks the image, brings in no colour of its own (not contain's letterbox) and
// anchors at the centre (no gravity to turn, no crop chosen by colour), with no
// analysis or AI measures reading the pixels before it. imgproxy orders them so too.
// Resizing then turning differs from the other order by rounding (libvips rounds
// between its two passes); resizing in the source's encoding then converting differs
// where neighbouring colours are far apart or outside sRGB's gamut (a Display P3
// photograph fitted to 800: 0.24 of a level on average, 15 at most on a saturated edge).
func shrinkFirst(r *Recipe, im *imaging.Image) (*ResizeParams, int, bool) {
	if needsAnalysis(r) || r.HasAIStep() {
		return nil, 0, false
	}
	at := 0
	for at < len(r.Steps) && r.Steps[at].Op == OpAutoOrient && r.Steps[at].When == nil {
		at++
	}
	var p *ResizeParams
	switch {
	case at < len(r.Steps) && r.Steps[at].When == nil:
		p, _ = r.Steps[at].Params.(*ResizeParams)
	case at == len(r.Steps) && len(r.Outputs) == 1:
		p = r.Outputs[0].Resize
	}
	if p == nil || p.Fit == "contain" || (p.Gravity != "" && p.Gravity != "center") {
		return nil, 0, false
	}
	orientation := im.Orientation()
	stored := *p
	if orientation >= 5 {
		stored.Width, stored.Height = p.Height, p.Width
	}
	sx, sy := scaleFor(im.Width(), im.Height(), &stored)
	// Last, as the dearest: whether the profile needs lcms reads it (about 50 us).
	if sx > 1 || sy > 1 || sx*sy >= 1 || (orientation == 1 && !im.ProfileTransformPending()) {
		return nil, 0, false
	}
	return &stored, at, true
}

func needsAnalysis(r *Recipe) bool {
	for _, st := range r.Steps {
		if st.When != nil && st.When.NeedsAnalysis() {
			return true
		}
	}
	return false
}

func analyzeInto(im *imaging.Image, f *Facts) error {
	s, err := im.Sharpness()
	if err != nil {
		return err
	}
	plain, _, err := im.PlainBackground()
	if err != nil {
		return err
	}
	f.Sharpness, f.PlainBackground, f.Analyzed = s, plain, true
	return nil
}
