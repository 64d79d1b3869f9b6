package pipeline

import "github.com/pictor/pictor/imaging"

// ResizeParams are the parameters of resize, and of an output's resize.
type ResizeParams struct {
	// Width of the box in pixels, 0..16384; 0 (the default) means from the aspect ratio.
	// At least one of Width and Height is > 0.
	Width int `json:"width"`
	// Height of the box in pixels, 0..16384; 0 (the default) means from the aspect ratio.
	Height int `json:"height"`
	// Fit is how the image meets the box: cover (default), contain, fill, inside or outside.
	Fit string `json:"fit"`
	// Gravity anchors the crop of cover: center (default), north, south, east, west,
	// northeast, northwest, southeast, southwest, smart or entropy.
	Gravity string `json:"gravity"`
	// Background is the letterbox colour of contain, as "#rrggbbaa"; default "#ffffffff".
	Background string `json:"background"`
	// WithoutEnlargement never makes the image larger; default false.
	WithoutEnlargement bool `json:"without_enlargement"`
}

// fits are the allowed values of ResizeParams.Fit, comma-separated.
const fits = "cover,contain,fill,inside,outside"

func parseResize(o *object) *ResizeParams {
	p := &ResizeParams{}
	var wOK, hOK bool
	p.Width, wOK = o.intIn("width", 0, 0, MaxDimension)
	p.Height, hOK = o.intIn("height", 0, 0, MaxDimension)
	p.Fit = o.enum("fit", "cover", fits)
	p.Gravity = o.enum("gravity", "center", resizeGravities)
	p.Background = o.color("background", "#ffffffff")
	p.WithoutEnlargement = o.boolean("without_enlargement", false)
	if wOK && hOK && p.Width == 0 && p.Height == 0 {
		o.errs.add(o.field("width"), "width or height is required (> 0)")
	}
	return p
}

func (p *ResizeParams) run(c *Context) error { return c.Image.Resize(resizeOptions(p)) }

func resizeOptions(p *ResizeParams) imaging.ResizeOptions {
	bg, err := imaging.ParseColor(p.Background)
	if err != nil {
		bg = imaging.Color{R: 255, G: 255, B: 255, A: 255}
	}
	return imaging.ResizeOptions{
		Width: p.Width, Height: p.Height, Fit: imaging.Fit(p.Fit), Gravity: imaging.Gravity(p.Gravity),
		Background: bg, WithoutEnlargement: p.WithoutEnlargement,
	}
}
