package pipeline

import (
	"math"

	"github.com/pictor/pictor/imaging"
)

// CropParams are the parameters of crop.
type CropParams struct {
	// X is the left edge in pixels, >= 0; default 0. Must be 0 when Gravity is set.
	X int `json:"x"`
	// Y is the top edge in pixels, >= 0; default 0. Must be 0 when Gravity is set.
	Y int `json:"y"`
	// Width of the crop in pixels, 1..16384; required.
	Width int `json:"width"`
	// Height of the crop in pixels, 1..16384; required.
	Height int `json:"height"`
	// Gravity, when set, places the crop by gravity instead of X/Y (same values as
	// ResizeParams.Gravity); default "" (crop at X, Y).
	Gravity string `json:"gravity"`
}

func parseCrop(o *object) *CropParams {
	p := &CropParams{}
	p.X, _ = o.intIn("x", 0, 0, math.MaxInt32)
	p.Y, _ = o.intIn("y", 0, 0, math.MaxInt32)
	if o.required("width") {
		p.Width, _ = o.intIn("width", 0, 1, MaxDimension)
	}
	if o.required("height") {
		p.Height, _ = o.intIn("height", 0, 1, MaxDimension)
	}
	if g := o.str("gravity", ""); g != "" {
		p.Gravity = o.enum("gravity", "", resizeGravities)
	}
	if p.Gravity != "" {
		if p.X != 0 {
			o.errs.add(o.field("x"), "must be 0 when gravity is set")
		}
		if p.Y != 0 {
			o.errs.add(o.field("y"), "must be 0 when gravity is set")
		}
	}
	return p
}

func (p *CropParams) run(c *Context) error {
	if p.Gravity != "" {
		return c.Image.CropGravity(p.Width, p.Height, imaging.Gravity(p.Gravity))
	}
	return c.Image.Crop(p.X, p.Y, p.Width, p.Height)
}
