package sdtest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// checkpoint is one entry of /sd-models.
type checkpoint struct {
	title     string // "name.safetensors [hash10]"
	name      string // file name
	modelName string // name without extension
	hash      string // short hash (10 hex)
	sha256    string
}

var titleHash = regexp.MustCompile(`^(.*\S)\s*\[([0-9a-fA-F]{8,10})\]$`)

func makeCheckpoints(titles []string) []checkpoint {
	out := make([]checkpoint, 0, len(titles))
	for _, t := range titles {
		t = strings.TrimSpace(t)
		name, hash := t, ""
		if m := titleHash.FindStringSubmatch(t); m != nil {
			name, hash = m[1], strings.ToLower(m[2])
		}
		sum := sha256.Sum256([]byte(name))
		full := hex.EncodeToString(sum[:])
		if hash == "" {
			hash = full[:10]
		}
		full = hash + full[len(hash):]
		model := name
		for _, ext := range []string{".safetensors", ".ckpt", ".pt", ".bin"} {
			model = strings.TrimSuffix(model, ext)
		}
		out = append(out, checkpoint{
			title:     name + " [" + hash + "]",
			name:      name,
			modelName: model,
			hash:      hash,
			sha256:    full,
		})
	}
	return out
}

// findCheckpoint resolves a checkpoint the way checkpoint_aliases does,
// exactly: by title, file name, model name, short hash, sha256, or the file
// name without extension followed by the short hash. A file path is none
// of these.
func (s *Server) findCheckpoint(v string) (int, bool) {
	for i, c := range s.models {
		if v == c.title || v == c.name || v == c.modelName || v == c.hash || v == c.sha256 || v == c.modelName+" ["+c.hash+"]" {
			return i, true
		}
	}
	return 0, false
}

func (s *Server) handleSDModels(w http.ResponseWriter, r *http.Request, c *Call) {
	out := make([]object, len(s.models))
	for i, m := range s.models {
		out[i] = object{
			{"title", m.title},
			{"model_name", m.modelName},
			{"hash", m.hash},
			{"sha256", m.sha256},
			{"filename", "/stable-diffusion-webui/models/Stable-diffusion/" + m.name},
			{"config", nil},
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// sampler is one entry of /samplers (k-diffusion, timestep and LCM samplers
// in the WebUI's order; the first is the fallback for unknown names).
type sampler struct {
	name    string
	aliases []string
	options map[string]string
}

var samplerList = []sampler{
	{"DPM++ 2M", []string{"k_dpmpp_2m"}, map[string]string{"scheduler": "karras"}},
	{"DPM++ SDE", []string{"k_dpmpp_sde"}, map[string]string{"scheduler": "karras", "second_order": "True", "brownian_noise": "True"}},
	{"DPM++ 2M SDE", []string{"k_dpmpp_2m_sde"}, map[string]string{"scheduler": "exponential", "brownian_noise": "True"}},
	{"DPM++ 2M SDE Heun", []string{"k_dpmpp_2m_sde_heun"}, map[string]string{"scheduler": "exponential", "brownian_noise": "True", "solver_type": "heun"}},
	{"DPM++ 2S a", []string{"k_dpmpp_2s_a"}, map[string]string{"scheduler": "karras", "uses_ensd": "True", "second_order": "True"}},
	{"DPM++ 3M SDE", []string{"k_dpmpp_3m_sde"}, map[string]string{"scheduler": "exponential", "discard_next_to_last_sigma": "True", "brownian_noise": "True"}},
	{"Euler a", []string{"k_euler_a", "k_euler_ancestral"}, map[string]string{"uses_ensd": "True"}},
	{"Euler", []string{"k_euler"}, map[string]string{}},
	{"LMS", []string{"k_lms"}, map[string]string{}},
	{"Heun", []string{"k_heun"}, map[string]string{"second_order": "True"}},
	{"DPM2", []string{"k_dpm_2"}, map[string]string{"scheduler": "karras", "discard_next_to_last_sigma": "True", "second_order": "True"}},
	{"DPM2 a", []string{"k_dpm_2_a"}, map[string]string{"scheduler": "karras", "discard_next_to_last_sigma": "True", "uses_ensd": "True", "second_order": "True"}},
	{"DPM fast", []string{"k_dpm_fast"}, map[string]string{"uses_ensd": "True"}},
	{"DPM adaptive", []string{"k_dpm_ad"}, map[string]string{"uses_ensd": "True"}},
	{"Restart", []string{"restart"}, map[string]string{"scheduler": "karras", "second_order": "True"}},
	{"DDIM", []string{"ddim"}, map[string]string{}},
	{"DDIM CFG++", []string{"ddim_cfgpp"}, map[string]string{}},
	{"PLMS", []string{"plms"}, map[string]string{}},
	{"UniPC", []string{"unipc"}, map[string]string{}},
	{"LCM", []string{"k_lcm"}, map[string]string{}},
}

// scheduler is one entry of /schedulers; the first is "Automatic".
type scheduler struct {
	name, label    string
	aliases        []string
	defaultRho     float64
	needInnerModel bool
	hasRho         bool
}

var schedulerList = []scheduler{
	{name: "automatic", label: "Automatic"},
	{name: "uniform", label: "Uniform", needInnerModel: true},
	{name: "karras", label: "Karras", defaultRho: 7, hasRho: true},
	{name: "exponential", label: "Exponential"},
	{name: "polyexponential", label: "Polyexponential", defaultRho: 1, hasRho: true},
	{name: "sgm_uniform", label: "SGM Uniform", aliases: []string{"SGMUniform"}, needInnerModel: true},
	{name: "kl_optimal", label: "KL Optimal"},
	{name: "align_your_steps", label: "Align Your Steps"},
	{name: "simple", label: "Simple"},
	{name: "normal", label: "Normal"},
	{name: "ddim", label: "DDIM"},
	{name: "beta", label: "Beta"},
}

// forgeSchedulers are the schedulers Forge lists after A1111's.
var forgeSchedulers = []scheduler{
	{name: "turbo", label: "Turbo", needInnerModel: true},
	{name: "align_your_steps_GITS", label: "Align Your Steps GITS"},
	{name: "align_your_steps_11", label: "Align Your Steps 11"},
	{name: "align_your_steps_32", label: "Align Your Steps 32"},
}

// schedulers is the flavor's /schedulers list.
func schedulers(forge bool) []scheduler {
	if !forge {
		return schedulerList
	}
	return append(append([]scheduler{}, schedulerList...), forgeSchedulers...)
}

// resolveSampler is get_sampler_and_scheduler: the scheduler field is looked
// up by name or label (schedulers_map) and silently becomes "Automatic" when
// unknown; a trailing scheduler label, name or alias is split off the
// sampler name ("DPM++ 2M Karras"); the sampler is looked up by its exact
// name (all_samplers_map: no aliases, case matters) and an unknown one
// silently becomes the first in the list; a scheduler equal to the
// sampler's own default becomes "Automatic". It returns the sampler name and
// the scheduler label.
func resolveSampler(name, sched string, forge bool) (string, string) {
	list := schedulers(forge)
	found := list[0]
	for _, sc := range list {
		if sc.name == sched || sc.label == sched {
			found = sc
		}
	}
	if name == "" {
		name = samplerList[0].name
	}
	for _, sc := range list {
		opts := append([]string{sc.label, sc.name}, sc.aliases...)
		for _, o := range opts {
			if strings.HasSuffix(name, " "+o) {
				found = sc
				name = name[:len(name)-len(o)-1]
				break
			}
		}
	}
	smp := samplerList[0]
	for _, x := range samplerList {
		if x.name == name {
			smp = x
		}
	}
	if smp.options["scheduler"] == found.name {
		found = list[0]
	}
	return smp.name, found.label
}

func (s *Server) handleSamplers(w http.ResponseWriter, r *http.Request, c *Call) {
	out := make([]object, len(samplerList))
	for i, x := range samplerList {
		out[i] = object{{"name", x.name}, {"aliases", x.aliases}, {"options", x.options}}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSchedulers(w http.ResponseWriter, r *http.Request, c *Call) {
	list := schedulers(s.flavorForge())
	out := make([]object, len(list))
	for i, x := range list {
		var rho any
		if x.hasRho {
			rho = pyFloat(x.defaultRho)
		}
		var aliases any
		if x.aliases != nil {
			aliases = x.aliases
		}
		out[i] = object{{"name", x.name}, {"label", x.label}, {"aliases", aliases},
			{"default_rho", rho}, {"need_inner_model", x.needInnerModel}}
	}
	writeJSON(w, http.StatusOK, out)
}

// upscaler is one entry of /upscalers.
type upscaler struct {
	name      string
	modelName string
	path      string
	scale     float64
	model     bool // a neural upscaler (tiled, RGB output)
}

var upscalerList = []upscaler{
	{name: "None", scale: 4},
	{name: "Lanczos", scale: 4},
	{name: "Nearest", scale: 4},
	{"ESRGAN_4x", "ESRGAN_4x", "https://github.com/cszn/KAIR/releases/download/v1.0/ESRGAN.pth", 4, true},
	{"LDSR", "LDSR", "https://heibox.uni-heidelberg.de/f/578df07c8fc04ffbadf3/?dl=1", 4, true},
	{"R-ESRGAN 4x+", "R-ESRGAN 4x+", "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth", 4, true},
	{"R-ESRGAN 4x+ Anime6B", "R-ESRGAN 4x+ Anime6B", "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth", 4, true},
	{"DAT x2", "DAT x2", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x2.pth", 2, true},
	{"DAT x3", "DAT x3", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x3.pth", 3, true},
	{"DAT x4", "DAT x4", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x4.pth", 4, true},
	{"ScuNET GAN", "ScuNET GAN", "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_gan.pth", 4, true},
	{"ScuNET PSNR", "ScuNET PSNR", "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_psnr.pth", 4, true},
	{"SwinIR 4x", "SwinIR 4x", "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth", 4, true},
}

func findUpscaler(name string) (upscaler, bool) {
	for _, u := range upscalerList {
		if u.name == name {
			return u, true
		}
	}
	return upscaler{}, false
}

func (s *Server) handleUpscalers(w http.ResponseWriter, r *http.Request, c *Call) {
	out := make([]object, len(upscalerList))
	for i, u := range upscalerList {
		var mn, mp any
		if u.modelName != "" {
			mn, mp = u.modelName, u.path
		}
		out[i] = object{{"name", u.name}, {"model_name", mn}, {"model_path", mp}, {"model_url", nil}, {"scale", pyFloat(u.scale)}}
	}
	writeJSON(w, http.StatusOK, out)
}

// defaultWebUIOptions is the subset of shared.opts the stand-in reports and
// partly honours (marked *): sd_model_checkpoint*, samples_format* (png or
// jpg), jpeg_quality*, return_grid*, n_rows*, grid_background_color*,
// img2img_fix_steps*, img2img_background_color*, live_previews_enable*,
// show_progress_every_n_steps*, return_mask*, return_mask_composite*,
// enable_pnginfo*.
func defaultWebUIOptions(s *Server) map[string]any {
	every := int64(s.opts.PreviewEvery)
	if every == 0 {
		every = 10
	}
	return map[string]any{
		"sd_model_checkpoint":             s.models[0].title,
		"sd_checkpoint_hash":              s.models[0].sha256,
		"sd_vae":                          "Automatic",
		"sd_checkpoints_limit":            int64(1),
		"CLIP_stop_at_last_layers":        int64(1),
		"samples_save":                    true,
		"samples_format":                  "png",
		"jpeg_quality":                    int64(80),
		"enable_pnginfo":                  true,
		"grid_save":                       true,
		"grid_format":                     "png",
		"return_grid":                     true,
		"grid_only_if_multiple":           true,
		"grid_prevent_empty_spots":        false,
		"n_rows":                          int64(-1),
		"grid_background_color":           "#ffffff",
		"img2img_fix_steps":               false,
		"img2img_background_color":        "#ffffff",
		"img2img_color_correction":        false,
		"inpainting_mask_weight":          1.0,
		"overlay_inpaint":                 true,
		"return_mask":                     false,
		"return_mask_composite":           false,
		"live_previews_enable":            true,
		"live_previews_image_format":      "png",
		"show_progress_grid":              true,
		"show_progress_every_n_steps":     every,
		"show_progress_type":              "Approx NN",
		"live_preview_content":            "Prompt",
		"api_enable_requests":             true,
		"api_forbid_local_requests":       true,
		"api_useragent":                   "",
		"eta_noise_seed_delta":            int64(0),
		"ESRGAN_tile":                     int64(192),
		"ESRGAN_tile_overlap":             int64(8),
		"realesrgan_enabled_models":       []any{"R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B"},
		"upscaler_for_img2img":            nil,
		"upscaling_max_images_in_cache":   int64(5),
		"sd_vae_overrides_per_model_pref": true,
		"outdir_samples":                  "",
		"outdir_txt2img_samples":          "outputs/txt2img-images",
		"outdir_img2img_samples":          "outputs/img2img-images",
		"outdir_extras_samples":           "outputs/extras-images",
	}
}

func (s *Server) handleGetOptions(w http.ResponseWriter, r *http.Request, c *Call) {
	s.mu.Lock()
	out := make(map[string]any, len(s.options))
	for k, v := range s.options {
		if f, ok := v.(float64); ok {
			v = pyFloat(f)
		}
		out[k] = v
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleSetOptions is POST /options: the body is a dict; an unknown
// sd_model_checkpoint is a 500 RuntimeError; a known one "loads"
// synchronously, without the queue lock. Answers null.
func (s *Server) handleSetOptions(w http.ResponseWriter, r *http.Request, c *Call) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, ok := s.parseDictBody(w, r, body)
	if !ok {
		return
	}
	if v, present := req["sd_model_checkpoint"]; present && v != nil {
		name, _ := v.(string)
		i, found := s.findCheckpoint(name)
		if !found {
			s.exception(w, "RuntimeError", "model "+pyRepr(v)+" not found")
			return
		}
		if !s.sleepSteps(r, 10) {
			return
		}
		s.mu.Lock()
		s.model = i
		s.options["sd_checkpoint_hash"] = s.models[i].sha256
		s.mu.Unlock()
		req["sd_model_checkpoint"] = s.models[i].title
	}
	s.mu.Lock()
	for k, v := range req {
		s.options[k] = plainJSON(v)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, nil)
}

// plainJSON turns decoded json.Numbers into int64 or float64.
func plainJSON(v any) any {
	switch t := v.(type) {
	case interface{ Int64() (int64, error) }:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, ok := v.(interface{ Float64() (float64, error) }); ok {
			x, _ := f.Float64()
			return x
		}
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plainJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = plainJSON(e)
		}
		return out
	}
	return v
}

// pyRepr is Python's repr for the values a JSON body can hold in messages.
func pyRepr(v any) string {
	switch t := v.(type) {
	case string:
		if strings.Contains(t, "'") && !strings.Contains(t, `"`) {
			return `"` + t + `"`
		}
		return "'" + strings.ReplaceAll(t, "'", `\'`) + "'"
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	}
	return pyDumps(v)
}

// sleepSteps waits n step latencies; false when the server closed.
func (s *Server) sleepSteps(r *http.Request, n int) bool {
	t := time.NewTimer(time.Duration(n) * s.opts.StepLatency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return false
	}
}

const gib = 1 << 30

// gb is f GiB in bytes.
func gb(f float64) int64 { return int64(f * gib) }

func (s *Server) handleMemory(w http.ResponseWriter, r *http.Request, c *Call) {
	s.mu.Lock()
	busy := s.active > 0
	ooms, leaked := s.ooms, s.leaked
	s.mu.Unlock()
	const ramTotal = 64.0 * gib
	rss := 9.5 * gib
	vramTotal := gb(24)
	allocated := gb(6.9) + leaked
	if busy {
		allocated += gb(2.6)
	}
	reserved := allocated + gb(0.8)
	used := reserved + gb(0.6)
	stat := func(cur int64) object {
		return object{{"current", cur}, {"peak", max(cur, gb(9.5)+leaked)}}
	}
	writeJSON(w, http.StatusOK, object{
		{"ram", object{{"free", pyFloat(ramTotal - rss)}, {"used", pyFloat(rss)}, {"total", pyFloat(ramTotal)}}},
		{"cuda", object{
			{"system", object{{"free", vramTotal - used}, {"used", used}, {"total", vramTotal}}},
			{"active", stat(allocated)},
			{"allocated", stat(allocated)},
			{"reserved", stat(reserved)},
			{"inactive", stat(gb(0.2))},
			{"events", object{{"retries", int64(ooms)}, {"oom", int64(ooms)}}},
		}},
	})
}

func (s *Server) handleRefreshCheckpoints(w http.ResponseWriter, r *http.Request, c *Call) {
	if !s.acquire(w, c) {
		return
	}
	s.release(c, false)
	writeJSON(w, http.StatusOK, nil)
}
