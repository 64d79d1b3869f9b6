package pipeline

import (
	"context"
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
