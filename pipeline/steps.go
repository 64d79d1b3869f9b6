package pipeline

import (
	"fmt"
	"math"

	"github.com/pictor/pictor/imaging"
)

// stepFunc turns a parsed step into the function that runs it.
func stepFunc(st Step) (StepFunc, error) {
	switch p := st.Params.(type) {
	case *AutoOrientParams:
		return func(c *Context) error { return c.Image.AutoOrient() }, nil
	case *ResizeParams:
		return func(c *Context) error { return c.Image.Resize(resizeOptions(p)) }, nil
	case *CropParams:
		return cropStep(p), nil
	case *TrimParams:
		return func(c *Context) error { return c.Image.Trim(p.Threshold) }, nil
	case *PadParams:
		return func(c *Context) error {
			bg, err := imaging.ParseColor(p.Color)
			if err != nil {
				return err
			}
			return c.Image.Pad(p.Top, p.Right, p.Bottom, p.Left, bg)
		}, nil
	case *RotateParams:
		return func(c *Context) error {
			bg, err := imaging.ParseColor(p.Background)
			if err != nil {
				return err
			}
			return c.Image.Rotate(p.Angle, bg)
		}, nil
	case *FlipParams:
		return func(c *Context) error { return c.Image.Flip(p.Horizontal, p.Vertical) }, nil
	case *BlurParams:
		return func(c *Context) error { return c.Image.Blur(p.Sigma) }, nil
	case *SharpenParams:
		return func(c *Context) error { return c.Image.Sharpen(p.Sigma) }, nil
	case *BackgroundParams:
		return func(c *Context) error {
			bg, err := imaging.ParseColor(p.Color)
			if err != nil {
				return err
			}
			return c.Image.Flatten(bg)
		}, nil
	case *StripParams:
		return func(c *Context) error { return c.Image.Strip() }, nil
	case *CompositeParams:
		return compositeStep(p), nil
	case *UpscaleParams:
		return upscaleStep(p), nil
	case *RemoveBackgroundParams:
		return func(c *Context) error { return removeBackground(c, p) }, nil
	case *ReplaceBackgroundParams:
		return replaceBackgroundStep(p), nil
	}
	return nil, fmt.Errorf("unknown op %q: %w", st.Op, ErrNotImplemented)
}

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

func cropStep(p *CropParams) StepFunc {
	return func(c *Context) error {
		if p.Gravity != "" {
			return c.Image.CropGravity(p.Width, p.Height, imaging.Gravity(p.Gravity))
		}
		return c.Image.Crop(p.X, p.Y, p.Width, p.Height)
	}
}

func loadOther(c *Context, id string) (*imaging.Image, error) {
	if c.Env.LoadImage == nil {
		return nil, fmt.Errorf("loading stored image %s: %w", id, ErrNotImplemented)
	}
	data, err := c.Env.LoadImage(c.Ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", id, err)
	}
	im, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id, err)
	}
	if err := im.AutoOrient(); err != nil {
		im.Close()
		return nil, err
	}
	return im, nil
}

func compositeStep(p *CompositeParams) StepFunc {
	return func(c *Context) error {
		over, err := loadOther(c, p.Image)
		if err != nil {
			return err
		}
		defer over.Close()
		return c.Image.Composite(over, imaging.Gravity(p.Gravity), p.OffsetX, p.OffsetY, p.Opacity)
	}
}

// upscaleStep: engine classic is Lanczos plus a light sharpen; engine sd needs a backend.
func upscaleStep(p *UpscaleParams) StepFunc {
	return func(c *Context) error {
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
}

// replaceBackgroundStep puts a colour or a stored image behind a cut-out (an image with
// alpha, e.g. after remove_background). A prompt needs the sd engine.
func replaceBackgroundStep(p *ReplaceBackgroundParams) StepFunc {
	return func(c *Context) error {
		switch {
		case p.Prompt != "":
			return sdReplaceBackground(c, p)
		}
		// An opaque image is cut out first, with the classic matting.
		if !c.Image.HasAlpha() {
			if err := removeBackground(c, &RemoveBackgroundParams{Engine: EngineClassic}); err != nil {
				return err
			}
		} else if c.checking() {
			a, err := c.Image.Alpha()
			if err != nil {
				return err
			}
			err = c.probeMask(a, false)
			a.Close()
			if err != nil {
				return err
			}
		}
		switch {
		case p.Color != "":
			bg, err := imaging.ParseColor(p.Color)
			if err != nil {
				return err
			}
			return c.Image.Flatten(bg)
		default:
			back, err := loadOther(c, p.Image)
			if err != nil {
				return err
			}
			if err := composeOnto(back, c.Image); err != nil {
				back.Close()
				return err
			}
			// The composed background becomes the working image.
			c.Image.Close()
			c.Image = back
			return nil
		}
	}
}

// composeOnto scales back to cover front's size and lays front over it, opaque.
func composeOnto(back, front *imaging.Image) error {
	if err := back.Resize(imaging.ResizeOptions{Width: front.Width(), Height: front.Height(), Fit: "cover", Gravity: "center"}); err != nil {
		return err
	}
	if err := back.Composite(front, "center", 0, 0, 1); err != nil {
		return err
	}
	if back.HasAlpha() {
		return back.Flatten(imaging.Color{R: 255, G: 255, B: 255, A: 255})
	}
	return nil
}
