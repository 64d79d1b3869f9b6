package sdtest

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
)

const webuiVersion = "v1.10.1"
const forgeVersion = "f2.0.1v1.10.1-previous-669-gdfdcbab6"

// generationHead are the fields StableDiffusionProcessing declares, shared
// by txt2img and img2img. Every field generated from the processing class is
// Optional; the keys the API model adds are not all (generationTail).
func generationHead(forge bool) []field {
	o := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def, nullable: true} }
	fs := []field{
		o("prompt", kStrOrList, ""),
		o("negative_prompt", kStrOrList, ""),
		{name: "styles", kind: kList, nullable: true, elem: &field{kind: kStr}},
		o("seed", kInt, int64(-1)),
		o("subseed", kInt, int64(-1)),
		o("subseed_strength", kFloat, int64(0)),
		o("seed_resize_from_h", kInt, int64(-1)),
		o("seed_resize_from_w", kInt, int64(-1)),
		o("sampler_name", kStr, nil),
		o("scheduler", kStr, nil),
		o("batch_size", kInt, int64(1)),
		o("n_iter", kInt, int64(1)),
		o("steps", kInt, int64(50)),
		o("cfg_scale", kFloat, 7.0),
	}
	if forge {
		fs = append(fs, o("distilled_cfg_scale", kFloat, 3.5))
	}
	return append(fs,
		o("width", kInt, int64(512)),
		o("height", kInt, int64(512)),
		o("restore_faces", kBool, nil),
		o("tiling", kBool, nil),
		o("do_not_save_samples", kBool, false),
		o("do_not_save_grid", kBool, false),
		o("eta", kFloat, nil),
		o("denoising_strength", kFloat, 0.75),
		o("s_min_uncond", kFloat, nil),
		o("s_churn", kFloat, nil),
		o("s_tmax", kFloat, nil),
		o("s_tmin", kFloat, nil),
		o("s_noise", kFloat, nil),
		o("override_settings", kDict, nil),
		o("override_settings_restore_afterwards", kBool, true),
		o("refiner_checkpoint", kStr, nil),
		o("refiner_switch_at", kFloat, nil),
		o("disable_extra_networks", kBool, false),
		o("firstpass_image", kStr, nil),
		o("comments", kDict, nil),
	)
}

// generationTail are the fields the API model adds. Those declared with a
// plain type and a non-None default (sampler_index, include_init_images,
// script_args, send_images, save_images, alwayson_scripts) are not
// Optional: an explicit null is a 422.
func generationTail(img2img bool) []field {
	o := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def, nullable: true} }
	d := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def} }
	fs := []field{o("force_task_id", kStr, nil), d("sampler_index", kStr, "Euler")}
	if img2img {
		fs = append(fs, d("include_init_images", kBool, false))
	}
	return append(fs,
		o("script_name", kStr, nil),
		d("script_args", kList, []any{}),
		d("send_images", kBool, true),
		d("save_images", kBool, false),
		d("alwayson_scripts", kDict, map[string]any{}),
		o("infotext", kStr, nil),
	)
}

func txt2imgFields(forge bool) []field {
	o := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def, nullable: true} }
	fs := generationHead(forge)
	fs = append(fs,
		o("enable_hr", kBool, false),
		o("firstphase_width", kInt, int64(0)),
		o("firstphase_height", kInt, int64(0)),
		o("hr_scale", kFloat, 2.0),
		o("hr_upscaler", kStr, nil),
		o("hr_second_pass_steps", kInt, int64(0)),
		o("hr_resize_x", kInt, int64(0)),
		o("hr_resize_y", kInt, int64(0)),
		o("hr_checkpoint_name", kStr, nil),
		o("hr_sampler_name", kStr, nil),
		o("hr_scheduler", kStr, nil),
		o("hr_prompt", kStr, ""),
		o("hr_negative_prompt", kStr, ""),
	)
	if forge {
		fs = append(fs,
			field{name: "hr_additional_modules", kind: kList, nullable: true, elem: &field{kind: kStr}},
			o("hr_cfg", kFloat, 1.0), o("hr_distilled_cfg", kFloat, 3.5))
	}
	return append(fs, generationTail(false)...)
}

func img2imgFields(forge bool) []field {
	o := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def, nullable: true} }
	fs := generationHead(forge)
	fs = append(fs,
		o("init_images", kList, nil),
		o("resize_mode", kInt, int64(0)),
		o("image_cfg_scale", kFloat, nil),
		o("mask", kStr, nil),
		o("mask_blur_x", kInt, int64(4)),
		o("mask_blur_y", kInt, int64(4)),
		o("mask_blur", kInt, nil),
		o("mask_round", kBool, true),
		o("inpainting_fill", kInt, int64(0)),
		o("inpaint_full_res", kBool, true),
		o("inpaint_full_res_padding", kInt, int64(0)),
		o("inpainting_mask_invert", kInt, int64(0)),
		o("initial_noise_multiplier", kFloat, nil),
		o("latent_mask", kStr, nil),
	)
	// The API model declares denoising_strength again, as a plain float.
	for i := range fs {
		if fs[i].name == "denoising_strength" {
			fs[i].nullable = false
		}
	}
	return append(fs, generationTail(true)...)
}

var (
	txt2imgScripts  = []string{"Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot"}
	img2imgScripts  = []string{"Prompt matrix", "Prompts from file or textbox", "X/Y/Z plot", "img2img alternative test", "Loopback", "Outpainting mk2", "Poor man's outpainting", "SD upscale"}
	alwaysOnScripts = []string{"ControlNet", "Refiner", "Seed", "Sampler", "Extra options", "Hypertile", "Soft Inpainting", "Comments"}
	latentUpscalers = []string{"Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)", "Latent (nearest-exact)"}
)

// checkScripts validates script_name and alwayson_scripts titles as
// get_selectable_script and init_script_args do (422 HTTP exceptions). The
// scripts themselves do nothing here.
func checkScripts(v values, img2img bool) *apiError {
	if name := v.str("script_name"); name != "" {
		list := txt2imgScripts
		if img2img {
			list = img2imgScripts
		}
		if !containsFold(list, name) {
			return httpErr(http.StatusUnprocessableEntity, fmt.Sprintf("Script '%s' not found", name))
		}
	}
	if m, ok := v["alwayson_scripts"].(map[string]any); ok {
		for name := range m {
			if !containsFold(alwaysOnScripts, name) {
				return httpErr(http.StatusUnprocessableEntity, "always on script "+name+" not found")
			}
		}
	}
	return nil
}

// unknownOptions lists, for the strict stand-in, the override_settings
// keys that are not options the server reports (GET /options). The WebUI
// itself accepts any key there.
func (s *Server) unknownOptions(v values) []fieldErr {
	ov, ok := v["override_settings"].(map[string]any)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range ov {
		if _, known := s.options[k]; !known {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var errs []fieldErr
	for _, k := range keys {
		errs = append(errs, extraErr([]any{"body", "override_settings", k}, ov[k]))
	}
	return errs
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// gen is a validated generation request.
type gen struct {
	v              values
	img2img        bool
	prompts, negs  []string
	seeds, subseed []int64
	seed, subSeed  int64
	sampler, sched string
	steps          int // requested steps
	w, h           int
	batch, iter    int
	denoise        float64
	model          checkpoint
	opts           map[string]any // options with override_settings applied
	overrides      map[string]any
	hr             bool
	hrW, hrH       int
	hrSteps        int
	forge          bool
	hrCFG          float64 // Forge's hr_cfg; NaN when null
	task           string  // force_task_id, or the id made up for it
	faults         Faults  // as the request arrived
}

func (g *gen) n() int { return g.batch * g.iter }

// passNegative is the negative prompt a sampling pass of picture idx
// conditions on. Forge skips the unconditional conditioning, and with it the
// negative prompt, when the pass's CFG scale is 1: cfg_scale for the first
// pass, hr_cfg (default 1.0) for the hires pass.
func (g *gen) passNegative(idx int, hires bool) string {
	if g.forge {
		cfg := g.cfg()
		if hires {
			cfg = g.hrCFG
		}
		if cfg == 1 {
			return ""
		}
	}
	return g.negs[idx]
}

// cfg is the first pass's CFG scale (default 7).
func (g *gen) cfg() float64 {
	if g.v.isNull("cfg_scale") {
		return 7
	}
	if n, ok := g.v["cfg_scale"].(int64); ok {
		return float64(n)
	}
	return g.v.float("cfg_scale")
}

func (g *gen) optBool(k string) bool {
	b, _ := g.opts[k].(bool)
	return b
}

func (g *gen) optInt(k string) int64 {
	switch x := g.opts[k].(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func (g *gen) optStr(k string) string {
	x, _ := g.opts[k].(string)
	return x
}

// newGen resolves a validated request: prompts, seeds, sampler, sizes and
// the checkpoint, and checks the stand-in limits.
func (s *Server) newGen(v values, img2img bool) (*gen, *apiError) {
	g := &gen{v: v, img2img: img2img, forge: s.flavorForge()}
	g.w, g.h = int(v.int("width")), int(v.int("height"))
	g.batch, g.iter = int(max(v.int("batch_size"), 1)), int(max(v.int("n_iter"), 1))
	g.steps = int(v.int("steps"))
	g.denoise = 0.75
	if !v.isNull("denoising_strength") {
		g.denoise = v.float("denoising_strength")
	}
	if g.w < 8 || g.h < 8 || g.w > MaxSide || g.h > MaxSide {
		return nil, limitErr("size %dx%d is outside 8..%d", g.w, g.h, MaxSide)
	}
	if g.n() > MaxImages {
		return nil, limitErr("batch_size × n_iter = %d is more than %d", g.n(), MaxImages)
	}
	if g.n()*g.w*g.h > MaxPixels {
		return nil, limitErr("%d pictures of %dx%d are more than %d pixels", g.n(), g.w, g.h, MaxPixels)
	}
	if !img2img && v.bool("enable_hr") {
		g.hr = true
		x, y := int(v.int("hr_resize_x")), int(v.int("hr_resize_y"))
		switch {
		case x == 0 && y == 0:
			scale := 2.0
			if !v.isNull("hr_scale") {
				scale = v.float("hr_scale")
			}
			g.hrW, g.hrH = int(float64(g.w)*scale), int(float64(g.h)*scale)
		case y == 0:
			g.hrW, g.hrH = x, x*g.h/g.w
		case x == 0:
			g.hrW, g.hrH = y*g.w/g.h, y
		default:
			g.hrW, g.hrH = x, y
		}
		if g.hrW < 8 || g.hrH < 8 || g.hrW > MaxSide || g.hrH > MaxSide {
			return nil, limitErr("hires size %dx%d is outside 8..%d", g.hrW, g.hrH, MaxSide)
		}
		if g.n()*g.hrW*g.hrH > MaxPixels {
			return nil, limitErr("%d pictures of %dx%d are more than %d pixels", g.n(), g.hrW, g.hrH, MaxPixels)
		}
		up := v.str("hr_upscaler")
		if _, ok := findUpscaler(up); up != "" && !ok && !containsFold(latentUpscalers, up) {
			return nil, pyErr("Exception", "could not find upscaler named %s", up)
		}
		g.hrSteps = int(v.int("hr_second_pass_steps"))
		if g.hrSteps <= 0 {
			g.hrSteps = g.steps
		}
		if s.flavorForge() {
			g.hrCFG = math.NaN()
			if !v.isNull("hr_cfg") {
				g.hrCFG = v.float("hr_cfg")
				if n, ok := v["hr_cfg"].(int64); ok {
					g.hrCFG = float64(n)
				}
			}
		}
	}

	var err *apiError
	if g.prompts, err = expandPrompts(v["prompt"], g.n()); err != nil {
		return nil, err
	}
	if g.negs, err = expandPrompts(v["negative_prompt"], g.n()); err != nil {
		return nil, err
	}

	g.seed = v.int("seed")
	if v.isNull("seed") || g.seed == -1 {
		g.seed = int64(rand.Uint32N(4294967294))
	}
	g.subSeed = v.int("subseed")
	if v.isNull("subseed") || g.subSeed == -1 {
		g.subSeed = int64(rand.Uint32N(4294967294))
	}
	strength := 0.0
	if !v.isNull("subseed_strength") {
		strength = v.float("subseed_strength")
		if n, ok := v["subseed_strength"].(int64); ok {
			strength = float64(n)
		}
	}
	for i := range g.n() {
		if strength == 0 {
			g.seeds = append(g.seeds, g.seed+int64(i))
		} else {
			g.seeds = append(g.seeds, g.seed)
		}
		g.subseed = append(g.subseed, g.subSeed+int64(i))
	}

	name := v.str("sampler_name")
	if name == "" {
		name = v.str("sampler_index")
	}
	g.sampler, g.sched = resolveSampler(name, v.str("scheduler"), s.flavorForge())

	s.mu.Lock()
	g.opts = make(map[string]any, len(s.options))
	for k, x := range s.options {
		g.opts[k] = x
	}
	g.model = s.models[s.model]
	g.faults = s.faults
	s.mu.Unlock()
	if ov, ok := v["override_settings"].(map[string]any); ok {
		g.overrides = map[string]any{}
		for k, x := range ov {
			x = plainJSON(x)
			if k == "sd_model_checkpoint" {
				name, _ := x.(string)
				i, found := s.findCheckpoint(name)
				if !found {
					continue // silently ignored, as the WebUI does
				}
				g.model = s.models[i]
				x = g.model.title
			}
			g.opts[k] = x
			g.overrides[k] = x
		}
	}
	return g, nil
}

// expandPrompts gives one prompt per picture: a string repeats, a list is
// used as given and must cover every picture.
func expandPrompts(p any, n int) ([]string, *apiError) {
	out := make([]string, n)
	switch t := p.(type) {
	case []any:
		if len(t) < n {
			return nil, pyErr("IndexError", "list index out of range")
		}
		for i := range n {
			out[i], _ = t[i].(string)
		}
	case string:
		for i := range out {
			out[i] = t
		}
	}
	return out, nil
}

// genResult is what a generation produced.
type genResult struct {
	images     []*image.NRGBA
	texts      []string // infotext per image ("" for masks)
	infotexts  []string
	firstIndex int
	timestamp  string
}

// plan is the per-init-image geometry of an img2img job.
type plan struct {
	start   *image.NRGBA // what sampling starts from, at W×H
	latent  *image.Gray  // regenerate where ≥128, at W×H; nil = everywhere
	base    *image.NRGBA // the picture the result is composited onto
	overlay *image.Gray  // mask_for_overlay at base size; nil = no overlay
	paste   image.Rectangle
}

// createBinaryMask is create_binary_mask: the alpha channel of a
// semi-transparent RGBA mask, binarised at >128 when round; any other mask
// is converted to L as it is, its soft edges kept whatever round says.
func createBinaryMask(p picture, round bool) *image.Gray {
	img := p.img
	m := image.NewGray(image.Rect(0, 0, img.Rect.Dx(), img.Rect.Dy()))
	for i := range m.Pix {
		o := 4 * i
		if !p.hasAlpha {
			m.Pix[i] = luma(img.Pix[o], img.Pix[o+1], img.Pix[o+2])
			continue
		}
		v := img.Pix[o+3]
		if round {
			if v > 128 {
				v = 255
			} else {
				v = 0
			}
		}
		m.Pix[i] = v
	}
	return m
}

// expandCropRegion is masking.expand_crop_region: grow the crop to the
// processing aspect ratio, within the image.
func expandCropRegion(r image.Rectangle, pw, ph, iw, ih int) image.Rectangle {
	x1, y1, x2, y2 := r.Min.X, r.Min.Y, r.Max.X, r.Max.Y
	ratioCrop := float64(x2-x1) / float64(y2-y1)
	ratioProc := float64(pw) / float64(ph)
	if ratioCrop > ratioProc {
		y1, y2 = widen(y1, y2, float64(x2-x1)/ratioProc, ih)
	} else {
		x1, x2 = widen(x1, x2, float64(y2-y1)*ratioProc, iw)
	}
	return image.Rect(x1, y1, x2, y2)
}

// widen grows [lo, hi) to length want about its centre, then shifts it back inside
// [0, limit) and clips it there, on one axis.
func widen(lo, hi int, want float64, limit int) (int, int) {
	diff := int(want - float64(hi-lo))
	lo -= diff / 2
	hi += diff - diff/2
	if hi >= limit {
		d := hi - limit
		hi -= d
		lo -= d
	}
	if lo < 0 {
		hi -= lo
		lo = 0
	}
	if hi >= limit {
		hi = limit
	}
	return lo, hi
}

// makePlan follows StableDiffusionProcessingImg2Img.init for one init image.
func makePlan(g *gen, init *image.NRGBA, mask *picture) (*plan, *apiError) {
	v := g.v
	resizeMode := v.int("resize_mode")
	if mask == nil {
		st := fitResize(resizeMode, init, g.w, g.h)
		return &plan{start: st, base: st, paste: st.Rect}, nil
	}
	m := createBinaryMask(*mask, v.isNull("mask_round") || v.bool("mask_round"))
	if v.int("inpainting_mask_invert") != 0 {
		for i := range m.Pix {
			m.Pix[i] = 255 - m.Pix[i]
		}
	}
	bx, by := v.int("mask_blur_x"), v.int("mask_blur_y")
	if !v.isNull("mask_blur") {
		bx, by = v.int("mask_blur"), v.int("mask_blur")
	}
	m = gaussianBlur1D(m, float64(bx), true)
	m = gaussianBlur1D(m, float64(by), false)

	if v.isNull("inpaint_full_res") || v.bool("inpaint_full_res") {
		if m.Rect.Size() != init.Rect.Size() {
			return nil, pyErr("ValueError", "images do not match")
		}
		crop, ok := bbox(m)
		if !ok {
			// A blank mask silently becomes whole-image img2img.
			st := fitResize(resizeMode, init, g.w, g.h)
			return &plan{start: st, base: st, paste: st.Rect}, nil
		}
		pad := int(v.int("inpaint_full_res_padding"))
		iw, ih := init.Rect.Dx(), init.Rect.Dy()
		crop = image.Rect(max(crop.Min.X-pad, 0), max(crop.Min.Y-pad, 0), min(crop.Max.X+pad, iw), min(crop.Max.Y+pad, ih))
		crop = expandCropRegion(crop, g.w, g.h, iw, ih)
		return &plan{
			start:   resize(cropNRGBA(init, crop), g.w, g.h, lanczos),
			latent:  resizeGray(cropGray(m, crop), g.w, g.h),
			base:    init,
			overlay: m,
			paste:   crop,
		}, nil
	}
	lat := fitResizeGray(resizeMode, m, g.w, g.h)
	over := image.NewGray(lat.Rect)
	for i, x := range lat.Pix {
		over.Pix[i] = uint8(min(int(x)*2, 255))
	}
	st := fitResize(resizeMode, init, g.w, g.h)
	return &plan{start: st, latent: lat, base: st, overlay: over, paste: st.Rect}, nil
}

// target is the fully sampled picture at W×H: the pattern where the latent
// mask regenerates (blended with the start by the denoising strength for
// inpainting_fill 1 "original", or for unmasked img2img), the start
// elsewhere.
func (pl *plan) target(p *image.NRGBA, denoise float64, fill int64) *image.NRGBA {
	if pl.latent == nil {
		return lerpImage(pl.start, p, min(max(denoise, 0), 1))
	}
	regen := p
	if fill == 1 {
		regen = lerpImage(pl.start, p, min(max(denoise, 0), 1))
	}
	dst := image.NewNRGBA(pl.start.Rect)
	copy(dst.Pix, pl.start.Pix)
	for i, mv := range pl.latent.Pix {
		if mv >= 128 {
			copy(dst.Pix[4*i:4*i+4], regen.Pix[4*i:4*i+4])
		}
	}
	return dst
}

// finish pastes a sampled W×H picture back (apply_overlay): the original,
// drifted by the VAE round trip, is kept where mask_for_overlay is black,
// and the feathered edge blends.
func (pl *plan) finish(x *image.NRGBA, seed int64) *image.NRGBA {
	if pl.overlay == nil {
		return x
	}
	out := drift(pl.base, seed)
	gen := resize(x, pl.paste.Dx(), pl.paste.Dy(), lanczos)
	for y := pl.paste.Min.Y; y < pl.paste.Max.Y; y++ {
		for xx := pl.paste.Min.X; xx < pl.paste.Max.X; xx++ {
			a := float64(pl.overlay.Pix[y*pl.overlay.Stride+xx]) / 255
			if a == 0 {
				continue
			}
			o := out.PixOffset(xx, y)
			gi := gen.PixOffset(xx-pl.paste.Min.X, y-pl.paste.Min.Y)
			for c := range 3 {
				out.Pix[o+c] = clamp8(float64(gen.Pix[gi+c])*a + float64(out.Pix[o+c])*(1-a))
			}
		}
	}
	return out
}

// pyTypeName names a decoded JSON value's Python type, for messages.
func pyTypeName(x any) string {
	switch t := x.(type) {
	case json.Number:
		if strings.ContainsAny(t.String(), ".eE") {
			return "float"
		}
		return "int"
	case bool:
		return "bool"
	case map[string]any, values:
		return "dict"
	case []any:
		return "list"
	case nil:
		return "NoneType"
	}
	return "str"
}

func (s *Server) handleTxt2Img(w http.ResponseWriter, r *http.Request, c *Call) {
	s.handleGeneration(w, r, c, false)
}

func (s *Server) handleImg2Img(w http.ResponseWriter, r *http.Request, c *Call) {
	s.handleGeneration(w, r, c, true)
}

// handleGeneration is txt2imgapi / img2imgapi.
func (s *Server) handleGeneration(w http.ResponseWriter, r *http.Request, c *Call, img2img bool) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	fields := txt2imgFields(s.flavorForge())
	if img2img {
		fields = img2imgFields(s.flavorForge())
	}
	v, ok := s.parseBody(w, r, body, fields, false)
	if !ok {
		return
	}
	if s.strict() {
		if errs := s.unknownOptions(v); len(errs) > 0 {
			s.write422(w, errs)
			return
		}
	}
	kind := "txt2img"
	if img2img {
		kind = "img2img"
	}
	task := v.str("force_task_id")
	if task == "" {
		task = createTaskID(kind)
	}
	var mask *picture
	if img2img {
		if v.isNull("init_images") {
			s.writeErr(w, httpErr(http.StatusNotFound, "Init image not found"))
			return
		}
		if m := v.str("mask"); m != "" {
			p, err := decodeImage(m)
			if err != nil {
				s.writeErr(w, err)
				return
			}
			mask = &p
		}
	}
	if err := checkScripts(v, img2img); err != nil {
		s.writeErr(w, err)
		return
	}
	g, err := s.newGen(v, img2img)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	g.task = task
	s.mu.Lock()
	c.Task = task
	s.mu.Unlock()
	s.queueTask(task)
	if !s.acquire(w, c) {
		return
	}
	res, outcome, err := s.runGeneration(g, mask)
	s.release(c, outcome == stopInterrupted)
	switch {
	case outcome == stopClosed:
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "sdtest: server closed"})
		return
	case err != nil:
		s.writeErr(w, err)
		return
	}
	if !v.bool("override_settings_restore_afterwards") && !v.isNull("override_settings_restore_afterwards") && g.overrides != nil {
		s.mu.Lock()
		for k, x := range g.overrides {
			s.options[k] = x
			if k == "sd_model_checkpoint" {
				s.model, _ = s.findCheckpoint(x.(string))
			}
		}
		s.mu.Unlock()
	}

	images := []string{}
	if v.isNull("send_images") || v.bool("send_images") {
		for i, img := range res.images {
			var text [][2]string
			if res.texts[i] != "" {
				text = append(text, [2]string{"parameters", res.texts[i]})
			}
			raw, err := s.encodeOutput(img, text...)
			if err != nil {
				s.writeErr(w, err)
				return
			}
			images = append(images, b64(raw))
		}
	}
	params := v.echo(fields)
	if img2img && !v.bool("include_init_images") {
		for i := range params {
			if params[i].k == "init_images" || params[i].k == "mask" {
				params[i].v = nil
			}
		}
	}
	writeJSON(w, http.StatusOK, object{
		{"images", images},
		{"parameters", params},
		{"info", pyDumps(s.infoJSON(g, res))},
	})
}

// runGeneration runs the locked part of a generation: decode, begin the
// job and its task, sample n_iter loops and build the pictures. The task is
// finished only when processing returns, as in the WebUI: after a failure it
// stays current.
func (s *Server) runGeneration(g *gen, mask *picture) (*genResult, stop, *apiError) {
	var inits []*image.NRGBA
	if g.img2img {
		raw, _ := g.v["init_images"].([]any)
		for _, x := range raw {
			str, ok := x.(string)
			if !ok {
				return nil, stopNone, pyErr("AttributeError", "'%s' object has no attribute 'startswith'", pyTypeName(x))
			}
			p, err := decodeImage(str)
			if err != nil {
				return nil, stopNone, err
			}
			bg := parseHexColor(g.optStr("img2img_background_color"))
			inits = append(inits, flatten(p, bg))
		}
	}

	job := "scripts_txt2img"
	if g.img2img {
		job = "scripts_img2img"
	}
	s.beginJob(job)
	defer s.endJob()
	s.startTask(g.task)
	res := &genResult{timestamp: s.jobTimestamp()}

	var hang bool
	if f, ok := s.takeFailure(); ok {
		if f == FailHang {
			hang = true
		} else {
			s.mu.Lock()
			s.st.jobCount = g.iter
			s.mu.Unlock()
			s.startSampling(g.samplingSteps(), nil)
			if st := s.waitStep(false, false); st == stopClosed {
				return nil, st, nil
			}
			return nil, stopNone, s.failureErr(f)
		}
	}

	var plans []*plan
	if g.img2img {
		if len(inits) == 0 || (len(inits) > 1 && len(inits) > g.batch) {
			return nil, stopNone, pyErr("RuntimeError", "bad number of images passed: %d; expecting %d or less", len(inits), g.batch)
		}
		if len(inits) > 1 {
			g.batch = len(inits)
		}
		for _, init := range inits {
			pl, err := makePlan(g, init, mask)
			if err != nil {
				return nil, stopNone, err
			}
			plans = append(plans, pl)
		}
	}

	jobCount := g.iter
	if g.hr {
		jobCount *= 2
	}
	s.mu.Lock()
	s.st.jobCount = jobCount
	s.mu.Unlock()

	var outcome stop
	for it := 0; it < g.iter; it++ {
		s.mu.Lock()
		s.st.skipped = false
		stopNow := s.st.interrupted
		if g.iter > 1 {
			s.st.job = fmt.Sprintf("Batch %d out of %d", it+1, g.iter)
		}
		s.mu.Unlock()
		if stopNow {
			break
		}
		n := g.samplingSteps()
		starts := make([]*image.NRGBA, g.batch)
		targets := make([]*image.NRGBA, g.batch)
		for b := range g.batch {
			idx := it*g.batch + b
			pat := newPattern(g.prompts[idx], g.passNegative(idx, false), g.seeds[idx]).render(g.w, g.h)
			if g.img2img {
				pl := plans[b%len(plans)]
				starts[b] = pl.start
				fill := g.v.int("inpainting_fill")
				if c, ok := g.faults.flatBackground(g.prompts[idx]); ok {
					// A flat background replaces the regenerated region
					// outright, whatever the fill.
					pat, fill = flatPicture(g.w, g.h, c, g.seeds[idx]), 0
				}
				targets[b] = pl.target(pat, g.denoise, fill)
			} else {
				starts[b] = grey(g.w, g.h)
				targets[b] = pat
			}
		}
		render := func(k int) image.Image { return lerpImage(starts[0], targets[0], float64(k)/float64(n)) }
		reached, st := s.sample(n, hang, render)
		hang = false
		if st == stopClosed {
			return nil, st, nil
		}
		if st == stopInterrupted {
			outcome = stopInterrupted
		}
		pics := make([]*image.NRGBA, g.batch)
		for b := range g.batch {
			idx := it*g.batch + b
			x := lerpImage(starts[b], targets[b], float64(reached)/float64(n))
			if g.img2img {
				x = plans[b%len(plans)].finish(x, g.seeds[idx])
			}
			pics[b] = x
		}
		s.nextJob()
		if g.hr {
			s.mu.Lock()
			hrSkip := s.st.interrupted
			s.mu.Unlock()
			if !hrSkip {
				n2 := max(int(float64(g.hrSteps)*g.denoise), 1)
				for b := range g.batch {
					idx := it*g.batch + b
					starts[b] = resize(pics[b], g.hrW, g.hrH, lanczos)
					targets[b] = newPattern(g.prompts[idx], g.passNegative(idx, true), g.seeds[idx]).render(g.hrW, g.hrH)
				}
				reached2, st2 := s.sample(n2, false, func(k int) image.Image {
					return lerpImage(starts[0], targets[0], float64(k)/float64(n2))
				})
				if st2 == stopClosed {
					return nil, st2, nil
				}
				if st2 == stopInterrupted {
					outcome = stopInterrupted
				}
				for b := range g.batch {
					pics[b] = lerpImage(starts[b], targets[b], float64(reached2)/float64(n2))
				}
			}
			s.nextJob()
		}
		for b := range g.batch {
			idx := it*g.batch + b
			text := s.infotext(g, idx)
			res.images = append(res.images, pics[b])
			res.texts = append(res.texts, text)
			res.infotexts = append(res.infotexts, text)
			if g.img2img && plans[b%len(plans)].overlay != nil && g.optBool("return_mask") {
				res.images = append(res.images, grayToRGB(plans[b%len(plans)].overlay))
				res.texts = append(res.texts, "")
			}
		}
	}
	s.addGrid(g, res)
	s.finishTask(g.task)
	return res, outcome, nil
}

// samplingSteps is how many sampler steps one loop runs: steps for
// txt2img; int(steps × denoising_strength) for img2img, unless
// img2img_fix_steps.
func (g *gen) samplingSteps() int {
	if !g.img2img || g.optBool("img2img_fix_steps") {
		return max(g.steps, 1)
	}
	return max(int(float64(g.steps)*g.denoise), 1)
}

// sample runs one sampling loop of n steps; it returns the last step
// reached and why it stopped early, if it did.
func (s *Server) sample(n int, hang bool, render func(int) image.Image) (int, stop) {
	s.startSampling(n, render)
	for k := 1; k <= n; k++ {
		if st := s.waitStep(hang, true); st != stopNone {
			return k - 1, st
		}
		hang = false
		s.setStep(k)
	}
	return n, stopNone
}

func grey(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 128
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// addGrid puts image_grid at index 0 when the WebUI would: more than one
// picture, return_grid on, and a grid allowed (the API sets
// do_not_save_grid = not save_images).
func (s *Server) addGrid(g *gen, res *genResult) {
	saveGrid := g.v.bool("save_images") && !g.v.bool("do_not_save_grid")
	if len(res.images) < 2 && g.optBool("grid_only_if_multiple") || !saveGrid || !g.optBool("return_grid") {
		return
	}
	imgs := res.images
	n := len(imgs)
	var rows int
	switch nr := g.optInt("n_rows"); {
	case nr > 0:
		rows = int(nr)
	case nr == 0:
		rows = g.batch
	case g.optBool("grid_prevent_empty_spots"):
		rows = int(math.Floor(math.Sqrt(float64(n))))
		for n%rows != 0 {
			rows--
		}
	default:
		rows = int(math.RoundToEven(math.Sqrt(float64(n))))
	}
	rows = max(min(rows, n), 1)
	cols := (n + rows - 1) / rows
	cw, ch := 0, 0
	for _, im := range imgs {
		cw, ch = max(cw, im.Rect.Dx()), max(ch, im.Rect.Dy())
	}
	grid := image.NewNRGBA(image.Rect(0, 0, cols*cw, rows*ch))
	bg := parseHexColor(g.optStr("grid_background_color"))
	for i := 0; i < len(grid.Pix); i += 4 {
		grid.Pix[i], grid.Pix[i+1], grid.Pix[i+2], grid.Pix[i+3] = bg.R, bg.G, bg.B, 255
	}
	for i, im := range imgs {
		ox, oy := (i%cols)*cw+(cw-im.Rect.Dx())/2, (i/cols)*ch+(ch-im.Rect.Dy())/2
		for y := 0; y < im.Rect.Dy(); y++ {
			copy(grid.Pix[grid.PixOffset(ox, oy+y):grid.PixOffset(ox, oy+y)+4*im.Rect.Dx()], im.Pix[im.PixOffset(0, y):])
		}
	}
	text := s.infotext(g, 0)
	res.images = append([]*image.NRGBA{grid}, res.images...)
	res.texts = append([]string{text}, res.texts...)
	res.infotexts = append([]string{text}, res.infotexts...)
	res.firstIndex = 1
}

// infotext is create_infotext for picture idx.
func (s *Server) infotext(g *gen, idx int) string {
	var b strings.Builder
	b.WriteString(g.prompts[idx])
	if g.negs[idx] != "" {
		b.WriteString("\nNegative prompt: " + g.negs[idx])
	}
	cfg := g.v.float("cfg_scale")
	if g.v.isNull("cfg_scale") {
		cfg = 7
	}
	parts := []string{
		fmt.Sprintf("Steps: %d", g.steps),
		"Sampler: " + g.sampler,
		"Schedule type: " + g.sched,
		"CFG scale: " + pyFloatRepr(cfg),
		fmt.Sprintf("Seed: %d", g.seeds[idx]),
		fmt.Sprintf("Size: %dx%d", g.w, g.h),
		"Model hash: " + g.model.hash,
		"Model: " + g.model.modelName,
	}
	if g.img2img || g.hr {
		parts = append(parts, "Denoising strength: "+pyFloatRepr(g.denoise))
	}
	for _, p := range g.extraParams() {
		parts = append(parts, fmt.Sprintf("%s: %v", p.k, p.v))
	}
	if g.hr {
		parts = append(parts, fmt.Sprintf("Hires resize: %dx%d", g.hrW, g.hrH), fmt.Sprintf("Hires steps: %d", g.hrSteps))
		if g.forge && !math.IsNaN(g.hrCFG) {
			parts = append(parts, "Hires CFG Scale: "+pyFloatRepr(g.hrCFG))
		}
	}
	parts = append(parts, "Version: "+s.version())
	b.WriteString("\n" + strings.Join(parts, ", "))
	return b.String()
}

func (s *Server) version() string {
	if s.flavorForge() {
		return forgeVersion
	}
	return webuiVersion
}

// extraParams is extra_generation_params for an img2img with a mask.
func (g *gen) extraParams() object {
	if !g.img2img || g.v.str("mask") == "" {
		return nil
	}
	bx := g.v.int("mask_blur_x")
	if !g.v.isNull("mask_blur") {
		bx = g.v.int("mask_blur")
	}
	o := object{{"Mask blur", bx}}
	if g.v.int("inpainting_mask_invert") != 0 {
		o = append(o, kv{"Mask mode", "Inpaint not masked"})
	}
	if g.v.isNull("inpaint_full_res") || g.v.bool("inpaint_full_res") {
		o = append(o, kv{"Inpaint area", "Only masked"}, kv{"Masked area padding", g.v.int("inpaint_full_res_padding")})
	}
	return o
}

// infoJSON is Processed.js().
func (s *Server) infoJSON(g *gen, res *genResult) object {
	n := g.n()
	if len(res.infotexts) == 0 {
		// Interrupted before the first loop: the WebUI still reports the
		// request's values.
		res.infotexts = []string{}
	}
	firstPrompt, firstNeg := "", ""
	if n > 0 {
		firstPrompt, firstNeg = g.prompts[0], g.negs[0]
	}
	var denoise any
	if g.img2img || g.hr {
		denoise = g.denoise
	}
	cfg := g.v.float("cfg_scale")
	if g.v.isNull("cfg_scale") {
		cfg = 7
	}
	var strength any = int64(0)
	if x, ok := g.v["subseed_strength"].(float64); ok {
		strength = x
	}
	extra := g.extraParams()
	if extra == nil {
		extra = object{}
	}
	styles := g.v["styles"]
	if styles == nil {
		styles = []any{}
	}
	return object{
		{"prompt", firstPrompt},
		{"all_prompts", g.prompts},
		{"negative_prompt", firstNeg},
		{"all_negative_prompts", g.negs},
		{"seed", g.seed},
		{"all_seeds", g.seeds},
		{"subseed", g.subSeed},
		{"all_subseeds", g.subseed},
		{"subseed_strength", strength},
		{"width", g.w},
		{"height", g.h},
		{"sampler_name", g.sampler},
		{"cfg_scale", cfg},
		{"steps", g.steps},
		{"batch_size", g.batch},
		{"restore_faces", g.v.bool("restore_faces")},
		{"face_restoration_model", nil},
		{"sd_model_name", g.model.modelName},
		{"sd_model_hash", g.model.hash},
		{"sd_vae_name", nil},
		{"sd_vae_hash", nil},
		{"seed_resize_from_w", g.v.int("seed_resize_from_w")},
		{"seed_resize_from_h", g.v.int("seed_resize_from_h")},
		{"denoising_strength", denoise},
		{"extra_generation_params", extra},
		{"index_of_first_image", res.firstIndex},
		{"infotexts", res.infotexts},
		{"styles", styles},
		{"job_timestamp", res.timestamp},
		{"clip_skip", int64(1)},
		{"is_using_inpainting_conditioning", g.img2img && strings.Contains(strings.ToLower(g.model.name), "inpainting")},
		{"version", s.version()},
	}
}

func (s *Server) jobTimestamp() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.jobTimestamp
}
