package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
)

// ReplaceBackgroundParams are the parameters of replace_background. Exactly one of Color,
// Image and Prompt is set.
type ReplaceBackgroundParams struct {
	// Color is a plain new background, as "#rrggbbaa"; default "".
	Color string `json:"color,omitempty"`
	// Image is the id or sha256 of a stored original to put behind the product; default "".
	Image string `json:"image,omitempty"`
	// Prompt describes a scene that the WebUI paints around the product (at most 2000
	// characters); default "".
	Prompt string `json:"prompt,omitempty"`
	// NegativePrompt is what the scene must not show (at most 2000 characters); only with
	// Prompt; default "".
	NegativePrompt string `json:"negative_prompt,omitempty"`
	// Seed of the generation, 0..4294967295; only with Prompt; default nil (random, chosen
	// and recorded by the executor). A given seed is part of the recipe hash.
	Seed *int64 `json:"seed,omitempty"`
	// Steps is the number of sampling steps, 1..150; only with Prompt, where it defaults to 30.
	Steps int `json:"steps,omitempty"`
	// Strength is the denoising strength, 0..1; only with Prompt, where it defaults to 0.9.
	Strength float64 `json:"strength,omitempty"`
	// Engine is "sd" when Prompt is set and "classic" otherwise; it is derived, and an
	// explicit value must agree.
	Engine string `json:"engine"`
}

// MarshalJSON writes the prompt-only fields (negative_prompt, steps, strength, seed) only when
// Prompt is set, and writes them even when zero, so that the output parses back to p.
func (p ReplaceBackgroundParams) MarshalJSON() ([]byte, error) {
	m := map[string]any{"engine": p.Engine}
	if p.Color != "" {
		m["color"] = p.Color
	}
	if p.Image != "" {
		m["image"] = p.Image
	}
	if p.Prompt != "" {
		m["prompt"] = p.Prompt
		m["negative_prompt"] = p.NegativePrompt
		m["steps"] = p.Steps
		m["strength"] = p.Strength
		if p.Seed != nil {
			m["seed"] = *p.Seed
		}
	}
	return json.Marshal(m)
}

func parseReplaceBackground(o *object) *ReplaceBackgroundParams {
	p := &ReplaceBackgroundParams{}
	var set []string
	for _, name := range []string{"color", "image", "prompt"} {
		if o.has(name) {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 0:
		o.errs.add(o.path, "exactly one of color, image, prompt is required")
	case 1:
	default:
		o.errs.add(o.field(set[1]), "only one of color, image, prompt may be set (%s is set too)", set[0])
	}
	if o.has("color") {
		p.Color = o.color("color", "")
	}
	if o.has("image") {
		p.Image = o.imageRef("image")
	}
	if o.has("prompt") {
		p.Prompt = o.text("prompt", "", 1, MaxPromptChars)
	}
	wantEngine := EngineClassic
	if o.has("prompt") {
		wantEngine = EngineSD
		p.NegativePrompt = o.text("negative_prompt", "", 0, MaxPromptChars)
		if o.has("seed") {
			if v, ok := o.int64In("seed", 0, 0, math.MaxUint32); ok {
				p.Seed = &v
			}
		}
		p.Steps, _ = o.intIn("steps", 30, 1, 150)
		p.Strength = o.floatIn("strength", 0.9, 0, 1)
	} else {
		for _, name := range []string{"negative_prompt", "seed", "steps", "strength"} {
			if o.has(name) {
				o.fail(name, "only allowed with prompt")
			}
		}
	}
	p.Engine = wantEngine
	if e := o.enum("engine", wantEngine, engines); !o.failed("engine") && e != wantEngine {
		if wantEngine == EngineSD {
			o.errs.add(o.field("engine"), "must be %q when prompt is set", EngineSD)
		} else {
			o.errs.add(o.field("engine"), "must be %q unless prompt is set", EngineClassic)
		}
	}
	return p
}

// run puts a colour or a stored image behind a cut-out (an image with
// alpha, e.g. after remove_background). A prompt needs the sd engine.
func (p *ReplaceBackgroundParams) run(c *Context) error {
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

// workSize is the WebUI working resolution for a w x h picture: multiples of 8, the
// longer side at most 1536.
func workSize(w, h int) (int, int) {
	const maxSide = 1536
	if s := max(w, h); s > maxSide {
		w, h = w*maxSide/s, h*maxSide/s
	}
	return max(8, w/8*8), max(8, h/8*8)
}

// sdReplaceBackground paints a new background from a prompt around the product and puts
// the product's own pixels back through the mask: only the feathered edge may change.
func sdReplaceBackground(c *Context, p *ReplaceBackgroundParams) error {
	sd := c.Env.SD
	if sd == nil {
		return ErrSDRequired
	}
	w, h := c.Image.Width(), c.Image.Height()
	var mask *imaging.Image
	var err error
	if c.Image.HasAlpha() {
		mask, err = c.Image.Alpha()
		if err == nil {
			err = c.probeMask(mask, false)
		}
	} else {
		var px imaging.MattePixels
		mask, px, err = c.Image.MatteSource(imaging.MatteOptions{})
		if err == nil {
			err = c.probeMaskOf(mask, false, px)
		}
		if err == nil {
			err = c.Image.ApplyMask(mask)
		}
	}
	if mask != nil {
		defer mask.Close()
	}
	if err != nil {
		return err
	}
	// The init image: the product flattened on white, as the WebUI would do anyway.
	flat, err := c.Image.Copy()
	if err != nil {
		return err
	}
	defer flat.Close()
	if err := flat.Flatten(imaging.Color{R: 255, G: 255, B: 255, A: 255}); err != nil {
		return err
	}
	initPNG, err := encodePNG(flat)
	if err != nil {
		return err
	}
	maskPNG, err := mask.Encode(imaging.EncodeOptions{Format: imaging.PNG})
	if err != nil {
		return err
	}
	ww, wh := workSize(w, h)
	sampler := sd.Sampler
	if sampler == "" {
		sampler = sdclient.DefaultSampler // checked too: a backend may not have it
	}
	req := sdclient.Img2ImgRequest{
		GenerationParams: sdclient.GenerationParams{
			Prompt: p.Prompt, NegativePrompt: p.NegativePrompt, SamplerName: sampler, Scheduler: sd.Scheduler, Steps: p.Steps,
			Width: ww, Height: wh, Checkpoint: sd.Checkpoint,
		},
		InitImages: [][]byte{initPNG}, Mask: maskPNG, InpaintingMaskInvert: true, MaskBlur: 4,
		InpaintingFill: sdclient.FillOriginal, InpaintFullRes: false, DenoisingStrength: p.Strength,
	}
	if p.Seed != nil {
		req.Seed = *p.Seed
	}
	var res *sdclient.GenerationResponse
	err = sd.do(c.Ctx, func(ctx context.Context, cl *sdclient.Client) error {
		if err := cl.CheckNames(ctx, sdclient.Names{Sampler: req.SamplerName, Scheduler: sd.Scheduler, Checkpoint: sd.Checkpoint}); err != nil {
			return err
		}
		if sd.OnProgress != nil {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { defer close(done); sd.watchProgress(ctx, cl, stop) }()
			defer func() { close(stop); <-done }()
		}
		r, err := cl.Img2Img(ctx, req)
		res = r
		return err
	})
	if err != nil {
		return fmt.Errorf("background on backend: %w", err)
	}
	results := res.Results()
	if len(results) == 0 {
		return fmt.Errorf("backend returned no image: %w", sdclient.ErrBackend)
	}
	back, err := imaging.Load(results[0], imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return fmt.Errorf("image from backend: %w", err)
	}
	if back.Width() != w || back.Height() != h {
		if err := back.Resize(imaging.ResizeOptions{Width: w, Height: h, Fit: imaging.FitFill}); err != nil {
			back.Close()
			return err
		}
	}
	if back.HasAlpha() {
		if err := back.Flatten(imaging.Color{R: 255, G: 255, B: 255, A: 255}); err != nil {
			back.Close()
			return err
		}
	}
	// Product pixels are sacred: the cut-out (alpha 255 inside the mask) goes back over
	// whatever the backend painted.
	if err := back.Composite(c.Image, imaging.GravityCenter, 0, 0, 1); err != nil {
		back.Close()
		return err
	}
	c.replaceImage(back)
	c.note("prompt", p.Prompt)
	c.note("negative_prompt", p.NegativePrompt)
	c.note("seed", strconv.FormatInt(res.Info.Seed, 10))
	c.note("steps", strconv.Itoa(p.Steps))
	// What ran, as the backend reports it: a name it did not know would have run as its
	// default, and "DPM++ 2M Karras" runs as a sampler plus a scheduler.
	c.note("sampler", res.Info.SamplerName)
	if sched := res.Info.Scheduler(); sched != "" {
		c.note("scheduler", sched)
	}
	c.note("model", res.Info.SDModelName)
	if res.Info.SDModelHash != "" {
		c.note("model_hash", res.Info.SDModelHash)
	}
	return nil
}
