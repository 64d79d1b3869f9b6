package pipeline

import "github.com/pictor/pictor/imaging"

// The steps that orient the image: auto_orient, rotate and flip.

// AutoOrientParams are the (no) parameters of auto_orient.
type AutoOrientParams struct{}

func parseAutoOrient(*object) *AutoOrientParams { return &AutoOrientParams{} }

func (*AutoOrientParams) run(c *Context) error { return c.Image.AutoOrient() }

// RotateParams are the parameters of rotate.
type RotateParams struct {
	// Angle in degrees clockwise, -360..360, non-zero; required.
	Angle float64 `json:"angle"`
	// Background fills the corners uncovered by a non-right angle, as "#rrggbbaa";
	// default "#ffffffff".
	Background string `json:"background"`
}

func parseRotate(o *object) *RotateParams {
	p := &RotateParams{}
	if o.required("angle") {
		var ok bool
		p.Angle, ok = o.float("angle", 0, -360, 360)
		if ok && p.Angle == 0 {
			o.errs.add(o.field("angle"), "must not be 0")
		}
	}
	p.Background = o.color("background", "#ffffffff")
	return p
}

func (p *RotateParams) run(c *Context) error {
	bg, err := imaging.ParseColor(p.Background)
	if err != nil {
		return err
	}
	return c.Image.Rotate(p.Angle, bg)
}

// FlipParams are the parameters of flip. At least one of them is true.
type FlipParams struct {
	// Horizontal mirrors left to right; default false.
	Horizontal bool `json:"horizontal"`
	// Vertical mirrors top to bottom; default false.
	Vertical bool `json:"vertical"`
}

func parseFlip(o *object) *FlipParams {
	p := &FlipParams{}
	p.Horizontal = o.boolean("horizontal", false)
	p.Vertical = o.boolean("vertical", false)
	if !p.Horizontal && !p.Vertical && !o.failed("horizontal") && !o.failed("vertical") {
		o.errs.add(o.path, "at least one of horizontal, vertical must be true")
	}
	return p
}

func (p *FlipParams) run(c *Context) error { return c.Image.Flip(p.Horizontal, p.Vertical) }
