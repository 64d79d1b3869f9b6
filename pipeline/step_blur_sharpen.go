package pipeline

// BlurParams are the parameters of blur.
type BlurParams struct {
	// Sigma of the gaussian, 0.3..100; required.
	Sigma float64 `json:"sigma"`
}

func parseBlur(o *object) *BlurParams {
	p := &BlurParams{}
	if o.required("sigma") {
		p.Sigma = o.floatIn("sigma", 0, 0.3, 100)
	}
	return p
}

func (p *BlurParams) run(c *Context) error { return c.Image.Blur(p.Sigma) }

// SharpenParams are the parameters of sharpen.
type SharpenParams struct {
	// Sigma of the sharpening mask, 0.3..10; default 1.
	Sigma float64 `json:"sigma"`
}

func parseSharpen(o *object) *SharpenParams {
	return &SharpenParams{Sigma: o.floatIn("sigma", 1, 0.3, 10)}
}

func (p *SharpenParams) run(c *Context) error { return c.Image.Sharpen(p.Sigma) }
