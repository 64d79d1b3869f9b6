package sdclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG init images and masks
	_ "image/png"  // DecodeConfig of PNG init images and masks
	"regexp"
	"strings"
)

// DefaultSteps is the number of sampling steps sent when a request leaves
// Steps at 0. The API's own default is 50, the UI's 20 (pitfall 3).
const DefaultSteps = 20

// DefaultSampler is the sampler sent when a request leaves SamplerName
// empty; it exists in A1111 1.x and in Forge.
const DefaultSampler = "DPM++ 2M"

// GenerationParams are the fields txt2img and img2img share. Zero values
// mean "our default" as stated per field; fields marked "always sent" go on
// the wire even when zero, because the API's defaults differ from the UI's.
type GenerationParams struct {
	// Prompt is the positive prompt; default "".
	Prompt string
	// NegativePrompt is the negative prompt; default "".
	NegativePrompt string
	// Styles are saved prompt style names; default none.
	Styles []string
	// Seed is the noise seed; default 0 sends -1 (random). The seed used is
	// in GenerationInfo.Seed.
	Seed int64
	// SamplerName is a sampler name exactly as /samplers lists it (the API
	// looks names up exactly and ignores aliases), optionally followed by a
	// scheduler label ("DPM++ 2M Karras"), always sent; default "" sends
	// DefaultSampler. The WebUI silently runs its default for an unknown
	// name: check it with Client.CheckNames, and read what ran in
	// GenerationInfo.SamplerName and GenerationInfo.Scheduler.
	SamplerName string
	// Scheduler is a scheduler name or label exactly as /schedulers lists
	// it (an unknown one silently becomes "Automatic"); default "" leaves
	// the server's "Automatic".
	Scheduler string
	// Steps is the number of sampling steps, always sent; default 0 sends
	// DefaultSteps.
	Steps int
	// CFGScale is the classifier-free guidance scale; default 0 leaves the
	// server's 7.
	CFGScale float64
	// Width and Height are the working resolution, multiples of 8; default
	// 0 leaves the server's 512.
	Width, Height int
	// BatchSize and NIter multiply the number of images; default 0 leaves
	// the server's 1.
	BatchSize, NIter int
	// Checkpoint, when set, is sent as override_settings.sd_model_checkpoint
	// (an SDModel title). The WebUI silently ignores an unknown one: check
	// it with Client.CheckNames. Default "" keeps the loaded model.
	Checkpoint string
	// OverrideSettings are per-request WebUI options; default none.
	// Unless set here, return_mask and return_mask_composite are sent as
	// false so that no mask images are interleaved with the results.
	OverrideSettings map[string]any
	// AlwaysonScripts is passed through as alwayson_scripts, e.g.
	// {"controlnet": {"args": [...]}}; default none.
	AlwaysonScripts map[string]any
	// ForceTaskID is sent as force_task_id, the task id under which the
	// WebUI reports the job (POST /internal/progress); default "" sends a
	// new random "pictor-…" id, so that a Pool can tell whether the
	// backend's current job is this one before it interrupts it.
	ForceTaskID string
	// Extra holds any other API fields by their JSON name. A typed field
	// that is sent wins over the same key here. Default none.
	Extra map[string]any
}

// payload builds the shared part of the wire request.
func (g *GenerationParams) payload() map[string]any {
	m := make(map[string]any, len(g.Extra)+16)
	for k, v := range g.Extra {
		m[k] = v
	}
	m["prompt"] = g.Prompt
	if g.NegativePrompt != "" {
		m["negative_prompt"] = g.NegativePrompt
	}
	if len(g.Styles) > 0 {
		m["styles"] = g.Styles
	}
	seed := g.Seed
	if seed == 0 {
		seed = -1
	}
	m["seed"] = seed
	m["sampler_name"] = orDefault(g.SamplerName, DefaultSampler)
	if g.Scheduler != "" {
		m["scheduler"] = g.Scheduler
	}
	steps := g.Steps
	if steps == 0 {
		steps = DefaultSteps
	}
	m["steps"] = steps
	setIf(m, "cfg_scale", g.CFGScale)
	setIf(m, "width", g.Width)
	setIf(m, "height", g.Height)
	setIf(m, "batch_size", g.BatchSize)
	setIf(m, "n_iter", g.NIter)
	ovr := make(map[string]any, len(g.OverrideSettings)+3)
	ovr["return_mask"] = false
	ovr["return_mask_composite"] = false
	for k, v := range g.OverrideSettings {
		ovr[k] = v
	}
	if g.Checkpoint != "" {
		ovr["sd_model_checkpoint"] = g.Checkpoint
	}
	m["override_settings"] = ovr
	if len(g.AlwaysonScripts) > 0 {
		m["alwayson_scripts"] = g.AlwaysonScripts
	}
	task := g.ForceTaskID
	if task == "" {
		task = NewTaskID()
	}
	m["force_task_id"] = task
	return m
}

// NewTaskID returns a new random task id for force_task_id: "pictor-"
// followed by 16 hex digits.
func NewTaskID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("pictor-%x", b)
}

// InpaintingFill selects what fills the masked area before sampling.
type InpaintingFill int

// The inpainting_fill values.
const (
	// FillBlur fills with blurred surroundings (0, the default).
	FillBlur InpaintingFill = 0
	// FillOriginal keeps the original pixels (1).
	FillOriginal InpaintingFill = 1
	// FillLatentNoise starts from latent noise (2), for a fresh background.
	FillLatentNoise InpaintingFill = 2
	// FillLatentNothing starts from an empty latent (3).
	FillLatentNothing InpaintingFill = 3
)

// Img2ImgRequest is a POST /sdapi/v1/img2img request, including every
// inpainting field. steps, sampler_name, inpaint_full_res and
// inpaint_full_res_padding are always sent (pitfall 3).
type Img2ImgRequest struct {
	GenerationParams
	// InitImages are the source images (PNG or JPEG bytes); at least one is
	// required. Alpha is flattened onto white by the WebUI.
	InitImages [][]byte
	// Mask is the inpainting mask (white = regenerate, black = keep); it
	// must have the init image's size. Default nil: plain img2img.
	Mask []byte
	// InpaintingMaskInvert regenerates the unmasked area instead ("inpaint
	// not masked"): send a product mask to replace the background. Always
	// sent; default false.
	InpaintingMaskInvert bool
	// MaskBlur is the mask feathering in pixels, sent whenever Mask is set;
	// default 0 (the server's default would be 4).
	MaskBlur int
	// NoMaskRound turns off binarising the mask at 128; default false
	// (mask_round stays the server's true).
	NoMaskRound bool
	// InpaintingFill is the masked-area fill, always sent; default
	// FillBlur.
	InpaintingFill InpaintingFill
	// InpaintFullRes renders only the masked bounding box at Width×Height
	// and pastes it back. Always sent; default false (whole picture; the
	// API's own default is true).
	InpaintFullRes bool
	// InpaintFullResPadding is the context in pixels around that box,
	// always sent; default 0 (the UI uses 32).
	InpaintFullResPadding int
	// DenoisingStrength is how much may change, 0..1; default 0 leaves the
	// server's 0.75.
	DenoisingStrength float64
	// ResizeMode is 0 just resize, 1 crop and resize, 2 resize and fill,
	// 3 latent resize. Always sent; default 0.
	ResizeMode int
	// IncludeInitImages echoes init_images and mask in Parameters; default
	// false.
	IncludeInitImages bool
}

// Txt2ImgRequest is a POST /sdapi/v1/txt2img request. steps and
// sampler_name are always sent.
type Txt2ImgRequest struct {
	GenerationParams
	// EnableHR turns on the high-resolution second pass; default false.
	EnableHR bool
	// HRScale is the second-pass upscale factor; default 0 leaves the
	// server's 2.
	HRScale float64
	// HRUpscaler is an upscaler name for the second pass; default "" leaves
	// the server's choice.
	HRUpscaler string
	// HRSecondPassSteps is the second pass's step count; default 0 (same as
	// Steps).
	HRSecondPassSteps int
	// HRResizeX and HRResizeY set the second pass's size instead of
	// HRScale; default 0.
	HRResizeX, HRResizeY int
	// DenoisingStrength applies to the second pass; default 0 leaves the
	// server's value.
	DenoisingStrength float64
	// HRCFGScale is the second pass's CFG scale on Forge (hr_cfg), sent
	// whenever EnableHR is set and the backend is Forge: Forge's own
	// default, 1.0, turns classifier-free guidance off in that pass, and
	// with it the negative prompt. Default 0 sends the first pass's scale
	// (CFGScale, or 7 when that is 0). A1111 has no such field; it is not
	// sent there.
	HRCFGScale float64
}

// GenerationResponse is the answer of txt2img and img2img.
type GenerationResponse struct {
	// Images are every image returned, decoded: results, and possibly a
	// grid before them and masks or ControlNet maps after them. Use Results.
	Images [][]byte
	// Parameters is the request as echoed by the WebUI.
	Parameters json.RawMessage
	// Info is the decoded generation info. It is left zero where the info
	// string cannot be decoded; InfoText keeps the original.
	Info GenerationInfo
	// InfoText is the info JSON string as received.
	InfoText string
}

// GenerationInfo is the generation info (the `info` JSON string), as far
// as Pictor uses it; InfoText has all of it.
type GenerationInfo struct {
	// Prompt is the prompt of the first image.
	Prompt string `json:"prompt"`
	// NegativePrompt is the negative prompt of the first image.
	NegativePrompt string `json:"negative_prompt"`
	// Seed is the seed of the first image: the real one when -1 was sent.
	Seed int64 `json:"seed"`
	// AllSeeds has the seed of every image.
	AllSeeds []int64 `json:"all_seeds"`
	// Subseed is the variation seed of the first image.
	Subseed int64 `json:"subseed"`
	// AllSubseeds has the variation seed of every image.
	AllSubseeds []int64 `json:"all_subseeds"`
	// SubseedStrength is the variation strength.
	SubseedStrength float64 `json:"subseed_strength"`
	// Width is the working width.
	Width int `json:"width"`
	// Height is the working height.
	Height int `json:"height"`
	// SamplerName is the sampler actually used: compare it with the one
	// sent, since unknown names fall back silently.
	SamplerName string `json:"sampler_name"`
	// CFGScale is the guidance scale used.
	CFGScale float64 `json:"cfg_scale"`
	// Steps is the number of steps requested.
	Steps int `json:"steps"`
	// BatchSize is the batch size used.
	BatchSize int `json:"batch_size"`
	// DenoisingStrength is the denoising strength used; 0 when null.
	DenoisingStrength float64 `json:"denoising_strength"`
	// SDModelName is the checkpoint actually used.
	SDModelName string `json:"sd_model_name"`
	// SDModelHash is that checkpoint's short hash.
	SDModelHash string `json:"sd_model_hash"`
	// SDVAEName is the VAE used; "" when null.
	SDVAEName string `json:"sd_vae_name"`
	// Styles are the prompt styles applied.
	Styles []string `json:"styles"`
	// JobTimestamp is the job's start time as the WebUI formats it.
	JobTimestamp string `json:"job_timestamp"`
	// Version is the WebUI version.
	Version string `json:"version"`
	// ExtraGenerationParams are script and extension parameters.
	ExtraGenerationParams map[string]any `json:"extra_generation_params"`
	// Infotexts has one entry per image from IndexOfFirstImage on (and one
	// for a grid before it).
	Infotexts []string `json:"infotexts"`
	// IndexOfFirstImage is the index in Images of the first result: 1 when
	// a grid precedes the results, else 0.
	IndexOfFirstImage int `json:"index_of_first_image"`
}

// reParam is the WebUI's re_param_code: one "key: value" of an infotext's
// parameters line, the value possibly JSON-quoted.
var reParam = regexp.MustCompile(`\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`)

// InfotextParam returns a parameter of the first result's infotext (the
// "Steps: 20, Sampler: Euler a, Schedule type: Karras, ..." line), e.g.
// "Schedule type"; "" when it is absent.
func (i *GenerationInfo) InfotextParam(key string) string {
	if len(i.Infotexts) == 0 {
		return ""
	}
	text := i.Infotexts[min(max(i.IndexOfFirstImage, 0), len(i.Infotexts)-1)]
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for _, m := range reParam.FindAllStringSubmatch(lines[len(lines)-1], -1) {
		if strings.TrimSpace(m[1]) != key {
			continue
		}
		v := strings.TrimSpace(m[2])
		if strings.HasPrefix(v, `"`) {
			var u string
			if json.Unmarshal([]byte(v), &u) == nil {
				return u
			}
		}
		return v
	}
	return ""
}

// Scheduler is the scheduler the backend reports it used: "Schedule type"
// from the extra generation parameters or the infotext; "" when it reports
// none (the sampler's own default ran).
func (i *GenerationInfo) Scheduler() string {
	if s, ok := i.ExtraGenerationParams["Schedule type"].(string); ok && s != "" {
		return s
	}
	return i.InfotextParam("Schedule type")
}

// Results returns the generated images only: from Info.IndexOfFirstImage
// on, as many as there are infotexts for them (or seeds), so a grid before
// them and masks or ControlNet maps after them are skipped.
func (r *GenerationResponse) Results() [][]byte {
	idx := r.Info.IndexOfFirstImage
	if idx < 0 || idx > len(r.Images) {
		idx = 0
	}
	n := len(r.Images) - idx
	switch {
	case len(r.Info.Infotexts) > idx:
		n = min(n, len(r.Info.Infotexts)-idx)
	case len(r.Info.AllSeeds) > 0:
		n = min(n, len(r.Info.AllSeeds))
	}
	return r.Images[idx : idx+n]
}

type generationWire struct {
	Images     []b64Image      `json:"images"`
	Parameters json.RawMessage `json:"parameters"`
	Info       json.RawMessage `json:"info"`
}

func (w *generationWire) response() *GenerationResponse {
	r := &GenerationResponse{Images: imageList(w.Images), Parameters: w.Parameters}
	info := bytes.TrimSpace(w.Info)
	if len(info) > 0 && info[0] == '"' {
		var s string
		if json.Unmarshal(info, &s) == nil {
			r.InfoText = s
			info = []byte(s)
		}
	} else if len(info) > 0 && info[0] == '{' {
		r.InfoText = string(info)
	}
	if len(info) > 0 && info[0] == '{' {
		// A field of an unexpected type must not throw away a finished
		// generation: keep what decodes.
		_ = json.Unmarshal(info, &r.Info)
	}
	return r
}

// Img2Img runs POST /sdapi/v1/img2img. It refuses, without calling the
// backend, a request without init images or with a mask whose size differs
// from the first init image (ErrBadRequest).
func (c *Client) Img2Img(ctx context.Context, req Img2ImgRequest) (*GenerationResponse, error) {
	if len(req.InitImages) == 0 {
		return nil, fmt.Errorf("sd img2img: %w: no init images", ErrBadRequest)
	}
	if len(req.Mask) > 0 {
		if err := sameSize(req.InitImages[0], req.Mask); err != nil {
			return nil, fmt.Errorf("sd img2img: %w: %w", ErrBadRequest, err)
		}
	}
	m := req.payload()
	inits := make([]string, len(req.InitImages))
	for i, b := range req.InitImages {
		inits[i] = encodeImage(b)
	}
	m["init_images"] = inits
	if len(req.Mask) > 0 {
		m["mask"] = encodeImage(req.Mask)
		m["mask_blur"] = req.MaskBlur
		if req.NoMaskRound {
			m["mask_round"] = false
		}
	}
	m["inpainting_mask_invert"] = boolInt(req.InpaintingMaskInvert)
	m["inpainting_fill"] = int(req.InpaintingFill)
	m["inpaint_full_res"] = req.InpaintFullRes
	m["inpaint_full_res_padding"] = req.InpaintFullResPadding
	setIf(m, "denoising_strength", req.DenoisingStrength)
	m["resize_mode"] = req.ResizeMode
	if req.IncludeInitImages {
		m["include_init_images"] = true
	}
	var w generationWire
	if err := c.call(ctx, epImg2Img, nil, m, &w); err != nil {
		return nil, err
	}
	return w.response(), nil
}

// Txt2Img runs POST /sdapi/v1/txt2img.
func (c *Client) Txt2Img(ctx context.Context, req Txt2ImgRequest) (*GenerationResponse, error) {
	m := req.payload()
	if req.EnableHR {
		m["enable_hr"] = true
		fl, err := c.Flavor(ctx)
		if err != nil {
			return nil, fmt.Errorf("sd %s: detect flavor: %w", epTxt2Img.name(), err)
		}
		if fl == FlavorForge {
			cfg := req.HRCFGScale
			if cfg == 0 {
				cfg = req.CFGScale
			}
			if cfg == 0 {
				cfg = 7
			}
			m["hr_cfg"] = cfg
		}
		setIf(m, "hr_scale", req.HRScale)
		if req.HRUpscaler != "" {
			m["hr_upscaler"] = req.HRUpscaler
		}
		setIf(m, "hr_second_pass_steps", req.HRSecondPassSteps)
		setIf(m, "hr_resize_x", req.HRResizeX)
		setIf(m, "hr_resize_y", req.HRResizeY)
	}
	setIf(m, "denoising_strength", req.DenoisingStrength)
	var w generationWire
	if err := c.call(ctx, epTxt2Img, nil, m, &w); err != nil {
		return nil, err
	}
	return w.response(), nil
}

// sameSize checks that a mask has the init image's size (pitfall 1). Images
// that the standard library cannot decode (e.g. WebP) are not checked.
func sameSize(initImage, mask []byte) error {
	ic, _, err := image.DecodeConfig(bytes.NewReader(initImage))
	if err != nil {
		return nil
	}
	mc, _, err := image.DecodeConfig(bytes.NewReader(mask))
	if err != nil {
		return nil
	}
	if ic.Width != mc.Width || ic.Height != mc.Height {
		return fmt.Errorf("mask is %dx%d, init image is %dx%d", mc.Width, mc.Height, ic.Width, ic.Height)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setIf sets m[k] = v unless v is zero.
func setIf[T int | int64 | float64](m map[string]any, k string, v T) {
	if v != 0 {
		m[k] = v
	}
}
