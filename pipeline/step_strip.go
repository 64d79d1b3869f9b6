package pipeline

// StripParams are the (no) parameters of strip.
type StripParams struct{}

func parseStrip(*object) *StripParams { return &StripParams{} }

func (*StripParams) run(c *Context) error { return c.Image.Strip() }
