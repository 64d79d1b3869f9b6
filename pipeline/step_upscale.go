package pipeline

import (
	"context"
	"fmt"
	"math"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
)

// UpscaleParams are the parameters of upscale: either a Factor, or a target Width and/or Height.
type UpscaleParams struct {
	// Factor of enlargement, 1 < Factor <= 8; default 2. It is 0 when Width or Height is set.
	Factor float64 `json:"factor"`
	// Width to reach in pixels, 0..16384; default 0 (use Factor).
	Width int `json:"width"`
	// Height to reach in pixels, 0..16384; default 0 (use Factor).
	Height int `json:"height"`
	// Engine is classic (default: libvips Lanczos plus sharpening) or sd (a WebUI upscaler).
	Engine string `json:"engine"`
	// Upscaler is the WebUI upscaler name used by engine sd; default "R-ESRGAN 4x+".
	Upscaler string `json:"upscaler"`
}

func parseUpscale(o *object) *UpscaleParams {
	p := &UpscaleParams{}
	p.Width, _ = o.intIn("width", 0, 0, MaxDimension)
	p.Height, _ = o.intIn("height", 0, 0, MaxDimension)
	factor, present, ok := o.number("factor")
	switch {
	case !ok:
	case p.Width > 0 || p.Height > 0:
		if present && factor != 0 {
			o.errs.add(o.field("factor"), "must be omitted when width or height is set")
		}
	case !present:
		p.Factor = 2
	case factor <= 1 || factor > 8:
		o.errs.add(o.field("factor"), "must be greater than 1 and at most 8, got %s", fmtFloat(factor))
	default:
		p.Factor = factor
	}
	p.Engine = o.enum("engine", EngineClassic, engines)
	p.Upscaler = o.text("upscaler", "R-ESRGAN 4x+", 1, 128)
	return p
}

// run upscales: engine classic is Lanczos plus a light sharpen; engine sd (sdUpscale) needs
// a backend.
func (p *UpscaleParams) run(c *Context) error {
	if p.Engine == EngineSD {
		return sdUpscale(c, p)
	}
	w, h := c.Image.Width(), c.Image.Height()
	tw, th := p.Width, p.Height
	if tw == 0 && th == 0 {
		tw = int(math.Round(float64(w) * p.Factor))
		th = int(math.Round(float64(h) * p.Factor))
	}
	fit := imaging.Fit("inside")
	if tw > 0 && th > 0 && p.Factor != 0 {
		fit = "fill"
	}
	if err := c.Image.Resize(imaging.ResizeOptions{Width: tw, Height: th, Fit: fit, Gravity: "center"}); err != nil {
		return err
	}
	return c.Image.Sharpen(0.6)
}

// sdUpscale upscales with a WebUI upscaler. Model upscalers drop alpha, so the alpha is
// upscaled here with Lanczos and put back.
func sdUpscale(c *Context, p *UpscaleParams) error {
	sd := c.Env.SD
	if sd == nil {
		return ErrSDRequired
	}
	var alpha *imaging.Image
	if c.Image.HasAlpha() {
		a, err := c.Image.Alpha()
		if err != nil {
			return err
		}
		defer a.Close()
		alpha = a
	}
	src, err := encodePNG(c.Image)
	if err != nil {
		return err
	}
	req := sdclient.ExtrasRequest{Image: src, Upscaler1: p.Upscaler, ResizeMode: sdclient.ExtrasScaleBy, UpscalingResize: p.Factor}
	if p.Width > 0 || p.Height > 0 {
		w, h := p.Width, p.Height
		if w == 0 {
			w = c.Image.Width() * h / c.Image.Height()
		}
		if h == 0 {
			h = c.Image.Height() * w / c.Image.Width()
		}
		req = sdclient.ExtrasRequest{Image: src, Upscaler1: p.Upscaler, ResizeMode: sdclient.ExtrasScaleTo, UpscalingResizeW: w, UpscalingResizeH: h}
	}
	var out []byte
	err = sd.do(c.Ctx, func(ctx context.Context, cl *sdclient.Client) error {
		if err := cl.CheckNames(ctx, sdclient.Names{Upscaler: p.Upscaler}); err != nil {
			return err
		}
		r, err := cl.ExtraSingleImage(ctx, req)
		if err != nil {
			return err
		}
		out = r.Image
		return nil
	})
	if err != nil {
		return fmt.Errorf("upscale on backend: %w", err)
	}
	next, err := imaging.Load(out, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return fmt.Errorf("upscaled image: %w", err)
	}
	if err := c.measureUpscale(c.Image, next); err != nil {
		next.Close()
		return err
	}
	if alpha != nil {
		if err := alpha.Resize(imaging.ResizeOptions{Width: next.Width(), Height: next.Height(), Fit: imaging.FitFill}); err != nil {
			next.Close()
			return err
		}
		if err := next.ApplyMask(alpha); err != nil {
			next.Close()
			return err
		}
	}
	c.replaceImage(next)
	c.note("upscaler", p.Upscaler)
	return nil
}
