package pipeline

import "github.com/pictor/pictor/imaging"

// BackgroundParams are the parameters of background.
type BackgroundParams struct {
	// Color to flatten onto, as "#rrggbbaa"; default "#ffffffff".
	Color string `json:"color"`
}

func parseBackground(o *object) *BackgroundParams {
	return &BackgroundParams{Color: o.color("color", "#ffffffff")}
}

func (p *BackgroundParams) run(c *Context) error {
	bg, err := imaging.ParseColor(p.Color)
	if err != nil {
		return err
	}
	return c.Image.Flatten(bg)
}
