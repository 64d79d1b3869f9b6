package pipeline

import (
	"fmt"
	"math"

	"github.com/pictor/pictor/fault"
)

// A run's cost is estimated before any pixel is decoded, from the source's size and what each
// step and output does to it, in pixel operations: the pixels a step writes times the work
// each takes (a blur's kernel taps, a resize's interpolation taps, an encoder's passes). The
// figures are upper bounds, close enough to stop a recipe that would keep a core busy for
// minutes (a 4000x4000 fill of a tiny source blurred with sigma 100 is about 1.9e10, about 50 s
// of CPU), not a price list. On the 2-core machine of benchmarks/README.md one core does 0.4 to
// 0.9e9 of them a second.

// DefaultMaxCost is the budget of one run when Env.MaxCost is 0: 6 to 12 s of one core's CPU.
// A 4x classic upscale of a 2000x2000 source costs about 4.6e9, a listing render of a 24 MP
// photograph to 800 px about 0.04e9.
const DefaultMaxCost = 5e9

// ErrOverBudget is wrapped by the error of a run whose estimated cost is over its budget,
// which names the step.
var ErrOverBudget = fault.New(fault.Unprocessable, "render-over-budget", "Render over budget", "over the render budget")

// CostError says which step or output took a run's estimate over its budget.
type CostError struct {
	// Where is the step or output, as "steps[2] blur" or "outputs[0] main".
	Where string
	// Cost is the estimate of the whole run up to and including Where, in pixel operations.
	Cost float64
	// Budget is the run's budget.
	Budget float64
	// Width and Height are the image's size when Where runs.
	Width, Height int
}

func (e *CostError) Error() string {
	return fmt.Sprintf("%s on a %dx%d image takes the estimated cost to %.2g pixel operations, over the budget of %.2g: %v",
		e.Where, e.Width, e.Height, e.Cost, e.Budget, ErrOverBudget)
}

func (e *CostError) Unwrap() error { return ErrOverBudget }

// Cost is a run's estimate.
type Cost struct {
	// Steps and Outputs are each step's and output's pixel operations, in recipe order.
	Steps, Outputs []float64
	// Total is their sum.
	Total float64
}

// EstimateCost estimates what r costs on a w x h source, counting every step as if its `when`
// held. budget > 0 stops at the first step or output that takes the total over it, with a
// *CostError.
func EstimateCost(r *Recipe, w, h int, budget float64) (Cost, error) {
	c := Cost{Steps: make([]float64, len(r.Steps)), Outputs: make([]float64, len(r.Outputs))}
	over := func(where string, cw, ch int) error {
		if budget > 0 && c.Total > budget {
			return &CostError{Where: where, Cost: c.Total, Budget: budget, Width: cw, Height: ch}
		}
		return nil
	}
	cw, ch := w, h
	for i, st := range r.Steps {
		nw, nh := boundSize(st, cw, ch)
		c.Steps[i] = stepCost(st, px(cw, ch), px(nw, nh))
		c.Total += c.Steps[i]
		if err := over(fmt.Sprintf("steps[%d] %s", i, st.Op), cw, ch); err != nil {
			return c, err
		}
		cw, ch = nw, nh
	}
	for i, o := range r.Outputs {
		ow, oh := cw, ch
		if o.Resize != nil {
			ow, oh = resizeBound(o.Resize, cw, ch)
			c.Outputs[i] = resizeCost(px(cw, ch), px(ow, oh))
		}
		c.Outputs[i] += px(ow, oh) * encodeCost(o)
		c.Total += c.Outputs[i]
		if err := over(fmt.Sprintf("outputs[%d] %s", i, o.Name), ow, oh); err != nil {
			return c, err
		}
	}
	return c, nil
}

func px(w, h int) float64 { return float64(w) * float64(h) }

// Work per pixel, in pixel operations: per pixel read for whole-image analyses, per pixel
// written otherwise.
const (
	costCopy       = 1  // crop, pad, flip, a right-angle rotation, flattening, stripping
	costAffine     = 60 // a free rotation (bilinear, per output pixel, with its edge handling)
	costTaps       = 12 // a Lanczos resize (two passes of six taps, per output pixel)
	costTrim       = 4  // finding the trim box
	costComposite  = 8  // blending an overlay
	costMatte      = 15 // the classic matte, in Go
	costMask       = 20 // decoding, resizing and applying a backend's mask or image
	costSharpenLab = 30 // sharpen's colour conversions and its lookup table
)

// stepCost is what st costs from in to out pixels.
func stepCost(st Step, in, out float64) float64 {
	switch p := st.Params.(type) {
	case *ResizeParams:
		return resizeCost(in, out)
	case *UpscaleParams:
		if p.Engine == EngineSD {
			return in + out*costMask
		}
		return resizeCost(in, out) + out*(2*gaussTaps(1)+costSharpenLab)
	case *BlurParams:
		return out * 2 * gaussTaps(p.Sigma)
	case *SharpenParams:
		return out * (2*gaussTaps(p.Sigma) + costSharpenLab)
	case *RotateParams:
		if rightAngle(p.Angle) {
			return out * costCopy
		}
		return out * costAffine
	case *TrimParams:
		return in * costTrim
	case *CompositeParams:
		return out * costComposite
	case *RemoveBackgroundParams:
		if p.Engine == EngineSD {
			return in * costMask
		}
		return in * (costMatte + costMask)
	case *ReplaceBackgroundParams:
		return in*costMask + out*costComposite
	}
	return out * costCopy
}

// resizeCost is a resize from in to out pixels: reading the input (libvips shrinks by whole
// factors first) and interpolating every output pixel.
func resizeCost(in, out float64) float64 { return in + out*costTaps }

// gaussTaps bounds the taps of one pass of a gaussian of sigma, out to 3 sigma (measured: a
// sigma 100 blur costs about what 3 sigma predicts).
func gaussTaps(sigma float64) float64 { return 2*math.Ceil(3*sigma) + 1 }

// encodeCost is an output's encoder work per pixel.
func encodeCost(o Output) float64 {
	switch o.Format {
	case "png":
		return 30
	case "webp":
		return 60
	case "avif", "auto":
		return 100
	}
	return 20 // jpeg
}

func rightAngle(a float64) bool {
	q := math.Round(a / 90)
	return math.Abs(a-q*90) < 1e-9
}

// boundSize bounds the size st makes of a w x h image (at least what it makes).
func boundSize(st Step, w, h int) (int, int) {
	switch p := st.Params.(type) {
	case *ResizeParams:
		return resizeBound(p, w, h)
	case *UpscaleParams:
		switch {
		case p.Width > 0 && p.Height > 0:
			return p.Width, p.Height
		case p.Width > 0:
			return p.Width, roundInt(float64(h) * float64(p.Width) / float64(w))
		case p.Height > 0:
			return roundInt(float64(w) * float64(p.Height) / float64(h)), p.Height
		}
		return roundInt(float64(w) * p.Factor), roundInt(float64(h) * p.Factor)
	case *CropParams:
		return min(w, p.Width), min(h, p.Height)
	case *PadParams:
		return w + p.Left + p.Right, h + p.Top + p.Bottom
	case *RotateParams:
		if rightAngle(p.Angle) {
			if int(math.Abs(math.Round(p.Angle/90)))%2 == 1 {
				return h, w
			}
			return w, h
		}
		s, c := math.Abs(math.Sin(p.Angle*math.Pi/180)), math.Abs(math.Cos(p.Angle*math.Pi/180))
		return int(math.Ceil(float64(w)*c+float64(h)*s)) + 1, int(math.Ceil(float64(w)*s+float64(h)*c)) + 1
	}
	return w, h
}

// resizeBound is the size a resize makes of w x h. A box fit is the box (which bounds
// without_enlargement too); otherwise without_enlargement keeps each side within w x h,
// the scaled size when it shrinks.
func resizeBound(p *ResizeParams, w, h int) (int, int) {
	if p.Width > 0 && p.Height > 0 && (p.Fit == "cover" || p.Fit == "contain" || p.Fit == "fill") {
		return p.Width, p.Height
	}
	sx, sy := scaleFor(w, h, p)
	bw, bh := roundInt(float64(w)*sx), roundInt(float64(h)*sy)
	if p.WithoutEnlargement {
		return min(bw, w), min(bh, h)
	}
	return bw, bh
}
