package pipeline

// TrimParams are the parameters of trim.
type TrimParams struct {
	// Threshold is how far from the border colour a pixel may be and still be trimmed,
	// 0..255; default 10.
	Threshold float64 `json:"threshold"`
}

func parseTrim(o *object) *TrimParams {
	return &TrimParams{Threshold: o.floatIn("threshold", 10, 0, 255)}
}

func (p *TrimParams) run(c *Context) error { return c.Image.Trim(p.Threshold) }
