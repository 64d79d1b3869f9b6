package pipeline

import (
	"context"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
)

// SD is how a run reaches Stable Diffusion WebUI backends and standalone rembg servers. A
// nil Env.SD means no backend is configured: steps that need one fail with ErrSDRequired.
type SD struct {
	// Pool runs calls on the WebUI backends, one in flight per backend; nil when only
	// rembg servers are configured (steps that need a WebUI then fail with
	// ErrSDRequired).
	Pool *sdclient.Pool
	// Rembg runs calls on standalone rembg servers (`rembg s`, a Pool of
	// sdclient.KindRembg); default nil. When set, remove_background with engine sd and a
	// rembg model runs there instead of on the WebUI's rembg extension; model sam still
	// needs the WebUI's segment-anything.
	Rembg *sdclient.Pool
	// Lane is the queue lane calls wait in; default Interactive.
	Lane sdclient.Lane
	// Checkpoint is the inpainting checkpoint, exactly as the backend lists it (its
	// title, name or hash; not a file path); default "" keeps the loaded model.
	Checkpoint string
	// Sampler is the sampler name exactly as the backend lists it, optionally followed
	// by a scheduler label ("DPM++ 2M Karras"); default "" uses sdclient.DefaultSampler.
	Sampler string
	// Scheduler is a scheduler name or label exactly as the backend lists it (Forge's
	// included); default "" leaves the backend's "Automatic".
	Scheduler string
	// OnUsage is told the GPU time of every call, for cost accounting; default nil.
	OnUsage func(sdclient.Usage)
	// OnProgress, when set, is told the backend's progress (fraction 0..1, seconds
	// left, live preview or nil) while a generation runs; default nil.
	OnProgress func(fraction, eta float64, preview []byte)
	// ProgressEvery is how often progress is polled; default 500ms.
	ProgressEvery time.Duration
	// Yield, when set, wraps each backend call, so the caller can give its CPU slot
	// back while the GPU works; default nil.
	Yield func(ctx context.Context, call func() error) error
}

// Serves reports whether sd has the backends r's steps need: a WebUI for every step
// that needs one, except a rembg cut-out, which a rembg server serves too. A nil sd
// serves nothing.
func (sd *SD) Serves(r *Recipe) bool {
	if sd == nil {
		return false
	}
	if sd.Pool != nil {
		return true
	}
	for _, st := range r.Steps {
		switch p := st.Params.(type) {
		case *RemoveBackgroundParams:
			if p.Engine == EngineSD && (sd.Rembg == nil || p.Model == "sam") {
				return false
			}
		case *UpscaleParams:
			if p.Engine == EngineSD {
				return false
			}
		case *ReplaceBackgroundParams:
			if p.Engine == EngineSD || p.Prompt != "" {
				return false
			}
		}
	}
	return true
}

// watchProgress polls the backend's global progress while a generation of ours runs
// on it, until stop is closed. /progress takes no lock, so it answers mid-generation.
func (sd *SD) watchProgress(ctx context.Context, cl *sdclient.Client, stop <-chan struct{}) {
	every := sd.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, err := cl.Progress(ctx, false)
		if err != nil || p.State.Job == "" {
			continue
		}
		sd.OnProgress(p.Progress, p.ETARelative, p.CurrentImage)
	}
}

// do runs fn on a WebUI backend and reports its usage.
func (sd *SD) do(ctx context.Context, fn func(ctx context.Context, c *sdclient.Client) error) error {
	if sd.Pool == nil {
		return ErrSDRequired
	}
	return sd.doOn(ctx, sd.Pool, fn)
}

// doOn runs fn on a backend of pool and reports its usage.
func (sd *SD) doOn(ctx context.Context, pool *sdclient.Pool, fn func(ctx context.Context, c *sdclient.Client) error) error {
	call := func() error {
		u, err := pool.Do(ctx, sd.Lane, fn)
		if sd.OnUsage != nil && u.Backend != "" {
			sd.OnUsage(u)
		}
		return err
	}
	if sd.Yield != nil {
		return sd.Yield(ctx, call)
	}
	return call()
}

// encodePNG is how images travel to the WebUI: lossless, alpha kept.
func encodePNG(im *imaging.Image) ([]byte, error) {
	return im.Encode(imaging.EncodeOptions{Format: imaging.PNG})
}

// replaceImage makes next the working image, closing the one it replaces.
func (c *Context) replaceImage(next *imaging.Image) {
	c.Image.Close()
	c.Image = next
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

// removeBackground cuts the product out: classic matting for plain backgrounds, or the
// WebUI's rembg / segment-anything. The working image becomes RGBA.
func removeBackground(c *Context, p *RemoveBackgroundParams) error {
	var mask *imaging.Image
	var px imaging.MattePixels // what the classic matte has in memory, for the checks
	var err error
	if p.Engine == EngineSD {
		mask, err = sdMask(c, p)
	} else {
		mask, px, err = c.Image.MatteSource(imaging.MatteOptions{Threshold: p.Threshold})
	}
	if err != nil {
		return err
	}
	defer mask.Close()
	if err := c.probeMaskOf(mask, p.Engine == EngineSD, px); err != nil {
		return err
	}
	if p.StoreMask {
		data, err := mask.Encode(imaging.EncodeOptions{Format: imaging.PNG})
		if err != nil {
			return err
		}
		c.extra = append(c.extra, Rendered{Output: MaskOutput, Format: imaging.PNG, Data: data, Width: mask.Width(), Height: mask.Height()})
	}
	return c.Image.ApplyMask(mask)
}

// sdMask asks the WebUI for a product mask (white = product).
func sdMask(c *Context, p *RemoveBackgroundParams) (*imaging.Image, error) {
	sd := c.Env.SD
	if sd == nil {
		return nil, ErrSDRequired
	}
	src, err := encodePNG(c.Image)
	if err != nil {
		return nil, err
	}
	w, h := c.Image.Width(), c.Image.Height()
	at := image.Pt(w/2, h/2) // the prompt: the product is where the shot is centred
	var out []byte
	var samMasks [][]byte
	onServer := sd.Rembg != nil && p.Model != "sam"
	if onServer {
		// rembg's standalone server: the same rembg models and masks, as a raw PNG.
		err = sd.doOn(c.Ctx, sd.Rembg, func(ctx context.Context, cl *sdclient.Client) error {
			if err := cl.CheckNames(ctx, sdclient.Names{RembgModel: p.Model}); err != nil {
				return err
			}
			m, err := cl.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: p.Model, OnlyMask: true})
			out = m
			return err
		})
	} else {
		err = sd.do(c.Ctx, func(ctx context.Context, cl *sdclient.Client) error {
			if p.Model == "sam" {
				r, err := cl.SAMPredict(ctx, sdclient.SAMRequest{Image: src, PositivePoints: [][2]int{{at.X, at.Y}}})
				if err != nil {
					return err
				}
				if len(r.Masks) == 0 {
					return fmt.Errorf("segment-anything found no object: %w", imaging.ErrInvalidOption)
				}
				samMasks = r.Masks
				return nil
			}
			if err := cl.CheckNames(ctx, sdclient.Names{RembgModel: p.Model}); err != nil {
				return err
			}
			m, err := cl.Rembg(ctx, sdclient.RembgRequest{Image: src, Model: p.Model, ReturnMask: true})
			out = m
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("cut-out on backend: %w", err)
	}
	if samMasks != nil {
		mask, err := c.chooseSAMMask(samMasks, at)
		if err != nil {
			return nil, err
		}
		c.note("mask_model", p.Model)
		return mask, nil
	}
	mask, err := loadRembgMask(c, out)
	if err != nil {
		return nil, err
	}
	mw, mh := mask.Width(), mask.Height()
	switch {
	case mw == w && mh == h:
	case p.Model == clothSegModel && mw == w && mh == 3*h:
		union, err := clothSegUnion(mask, w, h)
		mask.Close()
		if err != nil {
			return nil, err
		}
		mask = union
		c.note("mask_classes", "upper,lower,full union")
	default:
		// rembg and segment-anything answer masks the input's size; anything else is
		// a backend we do not understand, and squashing it would cut the wrong pixels.
		mask.Close()
		return nil, fmt.Errorf("mask from backend (model %s): mask is %dx%d, image is %dx%d: %w", p.Model, mw, mh, w, h, sdclient.ErrBackend)
	}
	c.note("mask_model", p.Model)
	if onServer {
		c.note("mask_backend", "rembg server")
	}
	return mask, nil
}

// loadRembgMask decodes a rembg mask (return_mask, or the server's om): one L mask, or
// u2net_cloth_seg's class masks stacked by get_concat_v on an opaque RGBA canvas with
// the masks in the colour channels. The alpha says nothing, so it is dropped before
// the mask is read.
func loadRembgMask(c *Context, data []byte) (*imaging.Image, error) {
	mask, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("mask from backend: %w", err)
	}
	if mask.HasAlpha() {
		if err := mask.Flatten(imaging.Color{A: 255}); err != nil {
			mask.Close()
			return nil, err
		}
	}
	if err := mask.ToMask(); err != nil {
		mask.Close()
		return nil, err
	}
	return mask, nil
}

// loadMask decodes a mask from a backend into a one-band mask.
func loadMask(c *Context, data []byte) (*imaging.Image, error) {
	mask, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("mask from backend: %w", err)
	}
	if err := mask.ToMask(); err != nil {
		mask.Close()
		return nil, err
	}
	return mask, nil
}

// samCandidate is one of segment-anything's masks, measured on the sampled grid.
type samCandidate struct {
	mask     *imaging.Image
	area     int     // sampled pixels set
	contains bool    // the prompt point is set
	border   float64 // share of the image border that is set
	edge     float64 // mean gradient of the picture along the mask's outline
	iou      float64 // agreement with the classic matte; -1 without one
}

// chooseSAMMask picks one of segment-anything's masks and records which and why. The
// extension answers SAM's three multimask outputs in decoder order with their scores
// dropped: one may be a part of the product (a label, a face of the box), one the whole
// product, one the product with some of its surroundings. The choice:
//   - only masks that hold the prompt point, are neither empty nor almost the whole
//     picture, and cover less than half the picture's border count (all non-empty ones
//     when none does);
//   - on a plain background, the one that agrees best with the classic matte (IoU at
//     least 0.5);
//   - otherwise the largest whose outline runs along the picture's edges: its mean
//     gradient at least 0.7 of the best one's. A part is smaller than the whole; an
//     over-large region's outline runs through flat background.
//
// Lineage records sam_mask (the index chosen, of the count answered) and
// sam_mask_reason.
func (c *Context) chooseSAMMask(masks [][]byte, at image.Point) (*imaging.Image, error) {
	w, h := c.Image.Width(), c.Image.Height()
	step := sampleStep(w, h)
	cands := make([]*samCandidate, 0, len(masks))
	defer func() {
		for _, k := range cands {
			if k.mask != nil {
				k.mask.Close()
			}
		}
	}()
	sw, sh, src, err := c.Image.Sample(step, true)
	if err != nil {
		return nil, fmt.Errorf("segment-anything masks: %w", err)
	}
	var matte []byte
	if plain, _, err := c.Image.PlainBackground(); err == nil && plain {
		if mt, err := c.Image.Matte(imaging.MatteOptions{}); err == nil {
			_, _, full, gerr := mt.Gray()
			mt.Close()
			if gerr == nil {
				_, _, matte, _ = imaging.PickGray(w, h, full, step)
			}
		}
	}
	px, py := min(at.X/step, sw-1), min(at.Y/step, sh-1)
	for i, data := range masks {
		m, err := loadMask(c, data)
		if err != nil {
			return nil, fmt.Errorf("segment-anything mask %d: %w", i, err)
		}
		k := &samCandidate{mask: m, iou: -1}
		cands = append(cands, k)
		if m.Width() != w || m.Height() != h {
			return nil, fmt.Errorf("segment-anything mask %d is %dx%d, image is %dx%d: %w", i, m.Width(), m.Height(), w, h, sdclient.ErrBackend)
		}
		_, _, full, err := m.Gray()
		if err != nil {
			return nil, fmt.Errorf("segment-anything mask %d: %w", i, err)
		}
		mw, mh, pix, err := imaging.PickGray(w, h, full, step)
		if err != nil || mw != sw || mh != sh {
			return nil, fmt.Errorf("segment-anything mask %d: sampled to %dx%d, image to %dx%d: %w", i, mw, mh, sw, sh, err)
		}
		measureSAM(k, pix, src, matte, sw, sh, px, py)
	}
	n := sw * sh
	var valid []int
	for i, k := range cands {
		if k.contains && k.area > 0 && k.area*100 < n*95 && k.border < 0.5 {
			valid = append(valid, i)
		}
	}
	relaxed := len(valid) == 0
	if relaxed {
		for i, k := range cands {
			if k.area > 0 {
				valid = append(valid, i)
			}
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("segment-anything found no object: every mask is empty: %w", imaging.ErrInvalidOption)
	}
	pick, reason := -1, ""
	if matte != nil {
		for _, i := range valid {
			if pick < 0 || cands[i].iou > cands[pick].iou {
				pick = i
			}
		}
		if cands[pick].iou >= 0.5 {
			reason = fmt.Sprintf("plain background: agrees best with the classic matte (IoU %s)", samFigures(cands, pick, func(k *samCandidate) float64 { return k.iou }, "%.2f"))
		} else {
			pick = -1
		}
	}
	if pick < 0 {
		best := 0.0
		for _, i := range valid {
			best = max(best, cands[i].edge)
		}
		for _, i := range valid {
			if cands[i].edge >= 0.7*best && (pick < 0 || cands[i].area > cands[pick].area) {
				pick = i
			}
		}
		reason = fmt.Sprintf("largest mask whose outline follows the picture's edges (mean outline gradient %s)", samFigures(cands, pick, func(k *samCandidate) float64 { return k.edge }, "%.0f"))
	}
	if relaxed {
		reason += "; no mask held the prompt point without covering most of the border"
	}
	chosen := cands[pick].mask
	cands[pick].mask = nil // kept: the caller closes it
	c.note("sam_mask", fmt.Sprintf("%d of %d", pick, len(masks)))
	c.note("sam_mask_reason", reason)
	return chosen, nil
}

// samFigures formats one measure of every candidate, the chosen one marked.
func samFigures(cands []*samCandidate, pick int, f func(*samCandidate) float64, format string) string {
	parts := make([]string, len(cands))
	for i, k := range cands {
		parts[i] = fmt.Sprintf("masks[%d] "+format, i, f(k))
		if i == pick {
			parts[i] += " chosen"
		}
	}
	return strings.Join(parts, ", ")
}

// measureSAM fills a candidate's measures from its sampled mask pix, the sampled grey
// picture src, the sampled classic matte (nil without one) and the prompt point.
func measureSAM(k *samCandidate, pix, src, matte []byte, w, h, px, py int) {
	set := func(x, y int) bool { return pix[y*w+x] >= 128 }
	k.contains = set(px, py)
	borderSet, borderN := 0, 0
	var edgeSum float64
	edgeN := 0
	inter, union := 0, 0
	for y := range h {
		for x := range w {
			i := y*w + x
			in := pix[i] >= 128
			if in {
				k.area++
			}
			if matte != nil {
				mt := matte[i] >= 128
				if in && mt {
					inter++
				}
				if in || mt {
					union++
				}
			}
			if x == 0 || y == 0 || x == w-1 || y == h-1 {
				borderN++
				if in {
					borderSet++
				}
				continue
			}
			if in && (!set(x-1, y) || !set(x+1, y) || !set(x, y-1) || !set(x, y+1)) {
				gx := float64(src[i+1]) - float64(src[i-1])
				gy := float64(src[i+w]) - float64(src[i-w])
				edgeSum += math.Abs(gx) + math.Abs(gy)
				edgeN++
			}
		}
	}
	if borderN > 0 {
		k.border = float64(borderSet) / float64(borderN)
	}
	if edgeN > 0 {
		k.edge = edgeSum / float64(edgeN)
	}
	if matte != nil && union > 0 {
		k.iou = float64(inter) / float64(union)
	}
}

// clothSegModel is rembg's clothes segmentation model: it answers its three class
// masks (upper body, lower body, full body), each the input's size, stacked vertically
// on one canvas three times as tall.
const clothSegModel = "u2net_cloth_seg"

// clothSegUnion reads a u2net_cloth_seg answer, a one-band w x 3h mask, and returns the
// garment mask: the pixelwise maximum of its three w x h class masks.
func clothSegUnion(stack *imaging.Image, w, h int) (*imaging.Image, error) {
	_, _, pix, err := stack.Gray()
	if err != nil {
		return nil, fmt.Errorf("cloth segmentation mask: %w", err)
	}
	if len(pix) != w*3*h {
		return nil, fmt.Errorf("cloth segmentation mask: %d pixels, want %d: %w", len(pix), w*3*h, sdclient.ErrBackend)
	}
	n := w * h
	union := make([]byte, n)
	for i := range union {
		union[i] = max(pix[i], pix[n+i], pix[2*n+i])
	}
	out, err := imaging.NewImageFromGray(w, h, union)
	if err != nil {
		return nil, fmt.Errorf("cloth segmentation mask: %w", err)
	}
	return out, nil
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
