package pipeline

import "github.com/pictor/pictor/imaging"

// CompositeParams are the parameters of composite.
type CompositeParams struct {
	// Image is the id or sha256 of a stored original to overlay, [a-z0-9-]{1,80}; required.
	Image string `json:"image"`
	// Gravity places the overlay: center, north, south, east, west, northeast, northwest,
	// southeast (default) or southwest.
	Gravity string `json:"gravity"`
	// OffsetX moves the overlay right (left when negative), -4096..4096; default 0.
	OffsetX int `json:"offset_x"`
	// OffsetY moves the overlay down (up when negative), -4096..4096; default 0.
	OffsetY int `json:"offset_y"`
	// Opacity of the overlay, 0..1; default 1.
	Opacity float64 `json:"opacity"`
}

func parseComposite(o *object) *CompositeParams {
	p := &CompositeParams{}
	if o.required("image") {
		p.Image = o.imageRef("image")
	}
	p.Gravity = o.enum("gravity", "southeast", compassGravities)
	p.OffsetX, _ = o.intIn("offset_x", 0, -4096, 4096)
	p.OffsetY, _ = o.intIn("offset_y", 0, -4096, 4096)
	p.Opacity = o.floatIn("opacity", 1, 0, 1)
	return p
}

func (p *CompositeParams) run(c *Context) error {
	over, err := loadOther(c, p.Image)
	if err != nil {
		return err
	}
	defer over.Close()
	return c.Image.Composite(over, imaging.Gravity(p.Gravity), p.OffsetX, p.OffsetY, p.Opacity)
}
