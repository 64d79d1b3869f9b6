package pipeline

import "github.com/pictor/pictor/imaging"

// PadParams are the parameters of pad. At least one side is > 0.
type PadParams struct {
	// Top border in pixels, 0..4096; default 0.
	Top int `json:"top"`
	// Right border in pixels, 0..4096; default 0.
	Right int `json:"right"`
	// Bottom border in pixels, 0..4096; default 0.
	Bottom int `json:"bottom"`
	// Left border in pixels, 0..4096; default 0.
	Left int `json:"left"`
	// Color of the border as "#rrggbbaa"; default "#ffffffff".
	Color string `json:"color"`
}

func parsePad(o *object) *PadParams {
	p := &PadParams{}
	var ok [4]bool
	p.Top, ok[0] = o.intIn("top", 0, 0, 4096)
	p.Right, ok[1] = o.intIn("right", 0, 0, 4096)
	p.Bottom, ok[2] = o.intIn("bottom", 0, 0, 4096)
	p.Left, ok[3] = o.intIn("left", 0, 0, 4096)
	p.Color = o.color("color", "#ffffffff")
	if ok == [4]bool{true, true, true, true} && p.Top == 0 && p.Right == 0 && p.Bottom == 0 && p.Left == 0 {
		o.errs.add(o.path, "at least one of top, right, bottom, left must be > 0")
	}
	return p
}

func (p *PadParams) run(c *Context) error {
	bg, err := imaging.ParseColor(p.Color)
	if err != nil {
		return err
	}
	return c.Image.Pad(p.Top, p.Right, p.Bottom, p.Left, bg)
}
