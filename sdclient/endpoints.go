package sdclient

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// Extras resize modes (resize_mode of extra-single-image).
const (
	// ExtrasScaleBy scales by UpscalingResize (0, the default).
	ExtrasScaleBy = 0
	// ExtrasScaleTo scales to UpscalingResizeW×UpscalingResizeH (1).
	ExtrasScaleTo = 1
)

// ExtrasRequest is a POST /sdapi/v1/extra-single-image request
// (upscaling). Face restoration is never requested.
type ExtrasRequest struct {
	// Image is the input image (PNG or JPEG bytes); required. Model
	// upscalers drop alpha (pitfall 5): upscale the alpha separately.
	Image []byte
	// ResizeMode is ExtrasScaleBy or ExtrasScaleTo, always sent; default
	// ExtrasScaleBy.
	ResizeMode int
	// UpscalingResize is the factor for ExtrasScaleBy; default 0 leaves the
	// server's 2.
	UpscalingResize float64
	// UpscalingResizeW and UpscalingResizeH are the target size for
	// ExtrasScaleTo; default 0 leaves the server's 512.
	UpscalingResizeW, UpscalingResizeH int
	// UpscalingCrop centre-crops onto the target size in ExtrasScaleTo
	// mode (on an RGB canvas). Always sent; default false (the server's
	// default is true).
	UpscalingCrop bool
	// Upscaler1 is an Upscaler name; default "" leaves the server's "None".
	// An unknown name fails with a 500 (ErrBadRequest).
	Upscaler1 string
	// Upscaler2 is a second Upscaler name blended in; default "" (none).
	Upscaler2 string
	// Upscaler2Visibility is the blend weight of Upscaler2, 0..1; default 0.
	Upscaler2Visibility float64
}

// ExtrasResponse is the answer of extra-single-image.
type ExtrasResponse struct {
	// Image is the upscaled image (PNG unless the backend's samples_format
	// says otherwise).
	Image []byte
	// HTMLInfo is the WebUI's html_info text.
	HTMLInfo string
}

type extrasWire struct {
	Image    b64Image `json:"image"`
	HTMLInfo string   `json:"html_info"`
}

// ExtraSingleImage runs POST /sdapi/v1/extra-single-image.
func (c *Client) ExtraSingleImage(ctx context.Context, req ExtrasRequest) (*ExtrasResponse, error) {
	if len(req.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: no image", epExtras.name(), ErrBadRequest)
	}
	m := map[string]any{
		"image":          encodeImage(req.Image),
		"resize_mode":    req.ResizeMode,
		"upscaling_crop": req.UpscalingCrop,
	}
	setIf(m, "upscaling_resize", req.UpscalingResize)
	setIf(m, "upscaling_resize_w", req.UpscalingResizeW)
	setIf(m, "upscaling_resize_h", req.UpscalingResizeH)
	if req.Upscaler1 != "" {
		m["upscaler_1"] = req.Upscaler1
	}
	if req.Upscaler2 != "" {
		m["upscaler_2"] = req.Upscaler2
		setIf(m, "extras_upscaler_2_visibility", req.Upscaler2Visibility)
	}
	var w extrasWire
	if err := c.call(ctx, epExtras, nil, m, &w); err != nil {
		return nil, err
	}
	if len(w.Image) == 0 {
		return nil, fmt.Errorf("sd %s: %w: response has no image", epExtras.name(), ErrBackend)
	}
	return &ExtrasResponse{Image: w.Image, HTMLInfo: w.HTMLInfo}, nil
}

// Upscaler is an entry of GET /sdapi/v1/upscalers.
type Upscaler struct {
	// Name is the value upscaler_1 and hr_upscaler expect.
	Name string `json:"name"`
	// ModelName is the model's name; "" when null.
	ModelName string `json:"model_name"`
	// ModelPath is the weights path or URL; "" when null.
	ModelPath string `json:"model_path"`
	// ModelURL is always null in practice; "" then.
	ModelURL string `json:"model_url"`
	// Scale is the model's native factor; 0 when null.
	Scale float64 `json:"scale"`
}

// Upscalers runs GET /sdapi/v1/upscalers.
func (c *Client) Upscalers(ctx context.Context) ([]Upscaler, error) {
	var out []Upscaler
	if err := c.call(ctx, epUpscalers, nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SDModel is an entry of GET /sdapi/v1/sd-models.
type SDModel struct {
	// Title is the value sd_model_checkpoint expects, e.g.
	// "x.safetensors [6ce0161689]".
	Title string `json:"title"`
	// ModelName is the file name without extension.
	ModelName string `json:"model_name"`
	// Hash is the short hash; "" when not computed yet.
	Hash string `json:"hash"`
	// SHA256 is the full hash; "" when not computed yet.
	SHA256 string `json:"sha256"`
	// Filename is the path on the backend.
	Filename string `json:"filename"`
	// Config is the model config path; "" when null.
	Config string `json:"config"`
}

// SDModels runs GET /sdapi/v1/sd-models.
func (c *Client) SDModels(ctx context.Context) ([]SDModel, error) {
	var out []SDModel
	if err := c.call(ctx, epSDModels, nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Sampler is an entry of GET /sdapi/v1/samplers.
type Sampler struct {
	// Name is the value sampler_name expects.
	Name string `json:"name"`
	// Aliases are other accepted names.
	Aliases []string `json:"aliases"`
	// Options are the sampler's options as the WebUI lists them.
	Options map[string]any `json:"options"`
}

// Samplers runs GET /sdapi/v1/samplers.
func (c *Client) Samplers(ctx context.Context) ([]Sampler, error) {
	var out []Sampler
	if err := c.call(ctx, epSamplers, nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Progress is the answer of GET /sdapi/v1/progress. It describes whatever
// job the backend is running, ours or not (pitfall 7).
type Progress struct {
	// Progress is 0 when idle, else 0..1.
	Progress float64
	// ETARelative is the estimated number of seconds left.
	ETARelative float64
	// State is the WebUI's job state.
	State ProgressState
	// CurrentImage is the live preview; nil when skipped, disabled or under
	// --medvram/--lowvram.
	CurrentImage []byte
	// TextInfo is the WebUI's status text; "" when null.
	TextInfo string
}

// ProgressState is the `state` object of a Progress.
type ProgressState struct {
	// Skipped is true after POST /skip.
	Skipped bool `json:"skipped"`
	// Interrupted is true after POST /interrupt.
	Interrupted bool `json:"interrupted"`
	// StoppingGeneration is true while a stop is pending.
	StoppingGeneration bool `json:"stopping_generation"`
	// Job names the running job, e.g. "scripts_img2img" or "extras"; ""
	// when idle.
	Job string `json:"job"`
	// JobCount is the number of jobs in the current task (-1 right after
	// start).
	JobCount int `json:"job_count"`
	// JobTimestamp is the job's start time as the WebUI formats it.
	JobTimestamp string `json:"job_timestamp"`
	// JobNo is the index of the current job.
	JobNo int `json:"job_no"`
	// SamplingStep is the current sampling step.
	SamplingStep int `json:"sampling_step"`
	// SamplingSteps is the number of sampling steps of the job.
	SamplingSteps int `json:"sampling_steps"`
}

type progressWire struct {
	Progress     float64       `json:"progress"`
	ETARelative  float64       `json:"eta_relative"`
	State        ProgressState `json:"state"`
	CurrentImage b64Image      `json:"current_image"`
	TextInfo     string        `json:"textinfo"`
}

// Progress runs GET /sdapi/v1/progress. skipImage asks the backend not to
// encode a live preview, which makes the call cheap (use it for polling
// numbers and health checks).
func (c *Client) Progress(ctx context.Context, skipImage bool) (*Progress, error) {
	q := url.Values{"skip_current_image": {strconv.FormatBool(skipImage)}}
	var w progressWire
	if err := c.call(ctx, epProgress, q, nil, &w); err != nil {
		return nil, err
	}
	return &Progress{
		Progress:     w.Progress,
		ETARelative:  w.ETARelative,
		State:        w.State,
		CurrentImage: w.CurrentImage,
		TextInfo:     w.TextInfo,
	}, nil
}

// TaskStatus is what the WebUI knows of a task id (POST /internal/progress).
type TaskStatus struct {
	// Active is true while the task is the backend's current job.
	Active bool `json:"active"`
	// Queued is true while the task waits for the queue lock.
	Queued bool `json:"queued"`
	// Completed is true once the task finished (among the last 16).
	Completed bool `json:"completed"`
}

// TaskStatus runs the WebUI's POST /internal/progress for a task id (a
// generation's force_task_id), without a live preview. The route exists
// only when the WebUI runs with its UI (not --nowebui): without it the call
// fails with ErrNotFound. A task the backend has never heard of is neither
// active, queued nor completed.
func (c *Client) TaskStatus(ctx context.Context, id string) (*TaskStatus, error) {
	var out TaskStatus
	in := map[string]any{"id_task": id, "id_live_preview": -1, "live_preview": false}
	if err := c.call(ctx, epTaskProgress, nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Interrupt runs POST /sdapi/v1/interrupt. It stops whatever job the
// backend is running at its next step, whoever owns it (pitfall 10); the
// Pool calls it only when TaskStatus says that job is one of its own.
func (c *Client) Interrupt(ctx context.Context) error {
	return c.call(ctx, epInterrupt, nil, nil, nil)
}

// Memory is the answer of GET /sdapi/v1/memory, in bytes.
type Memory struct {
	// RAM is system memory.
	RAM MemoryUsage `json:"ram"`
	// CUDA is GPU memory.
	CUDA CUDAMemory `json:"cuda"`
}

// MemoryUsage is free, used and total bytes.
type MemoryUsage struct {
	// Free is the number of free bytes.
	Free float64 `json:"free"`
	// Used is the number of used bytes.
	Used float64 `json:"used"`
	// Total is the number of bytes in all.
	Total float64 `json:"total"`
	// Error is set when the backend could not read the figures.
	Error string `json:"error"`
}

// MemoryPeak is a current and a peak figure in bytes.
type MemoryPeak struct {
	// Current is the current number of bytes.
	Current float64 `json:"current"`
	// Peak is the highest number of bytes seen.
	Peak float64 `json:"peak"`
}

// CUDAMemory is the `cuda` object of Memory.
type CUDAMemory struct {
	// System is the device's memory as the driver reports it.
	System MemoryUsage `json:"system"`
	// Active is torch's active memory.
	Active MemoryPeak `json:"active"`
	// Allocated is torch's allocated memory.
	Allocated MemoryPeak `json:"allocated"`
	// Reserved is torch's reserved memory.
	Reserved MemoryPeak `json:"reserved"`
	// Inactive is torch's inactive memory.
	Inactive MemoryPeak `json:"inactive"`
	// Events counts allocator retries and OOMs; a growing OOM count means
	// the backend needs a restart (pitfall 8).
	Events CUDAEvents `json:"events"`
	// Error is set when there is no CUDA device or it cannot be read.
	Error string `json:"error"`
}

// CUDAEvents are the allocator's event counters.
type CUDAEvents struct {
	// Retries counts allocation retries.
	Retries int64 `json:"retries"`
	// OOM counts out-of-memory events.
	OOM int64 `json:"oom"`
}

// Memory runs GET /sdapi/v1/memory.
func (c *Client) Memory(ctx context.Context) (*Memory, error) {
	var out Memory
	if err := c.call(ctx, epMemory, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
