package sdtest

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"net/http"
	"reflect"
	"testing"
)

func TestTxt2ImgShape(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	r := post(t, s, "/sdapi/v1/txt2img", map[string]any{
		"prompt": "a red chair", "negative_prompt": "blurry", "seed": 1234, "steps": 4,
		"width": 64, "height": 48, "sampler_name": "Euler a",
	})
	if r.status != http.StatusOK {
		t.Fatalf("status: got %d %s, want 200", r.status, r.body)
	}
	m := r.json(t)
	imgs := images(t, m)
	if len(imgs) != 1 {
		t.Fatalf("images: got %d, want 1", len(imgs))
	}
	if got := imgs[0].Bounds().Size(); got != image.Pt(64, 48) {
		t.Errorf("size: got %v, want 64x48", got)
	}
	in := info(t, m)
	checks := []struct {
		key  string
		want any
	}{
		{"seed", 1234.0},
		{"all_seeds", []any{1234.0}},
		{"prompt", "a red chair"},
		{"negative_prompt", "blurry"},
		{"sampler_name", "Euler a"},
		{"index_of_first_image", 0.0},
		{"sd_model_name", "sd_xl_base_1.0"},
		{"sd_model_hash", "31e35c80fc"},
	}
	for _, c := range checks {
		if got := in[c.key]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("info[%s]: got %#v, want %#v", c.key, got, c.want)
		}
	}
	params, _ := m["parameters"].(map[string]any)
	if got := params["steps"]; got != 4.0 {
		t.Errorf("parameters.steps: got %v, want 4", got)
	}
	if got := params["cfg_scale"]; got != 7.0 {
		t.Errorf("parameters.cfg_scale default: got %v, want 7.0", got)
	}
	if !bytes.Contains(r.body, []byte(`"cfg_scale":7.0`)) {
		t.Errorf("cfg_scale is not written as a Python float in %s", firstN(r.body, 300))
	}
	// info is Python's json.dumps: ", " and ": " separators.
	if str := m["info"].(string); !bytes.Contains([]byte(str), []byte(`"seed": 1234, `)) {
		t.Errorf("info is not in json.dumps form: %.120s", str)
	}
	// The PNG carries the infotext in a tEXt "parameters" chunk.
	raw, _ := base64.StdEncoding.DecodeString(m["images"].([]any)[0].(string))
	if !bytes.Contains(raw, []byte("tEXtparameters\x00a red chair\nNegative prompt: blurry\nSteps: 4")) {
		t.Errorf("png has no parameters chunk")
	}
}

func firstN(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func TestSamplerFallback(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	cases := []struct {
		name        string
		sampler     any
		wantSampler string
		wantSched   string
	}{
		{"null uses sampler_index Euler", nil, "Euler", "Schedule type: Automatic"},
		{"unknown silently uses the first sampler", "No Such Sampler", "DPM++ 2M", "Schedule type: Automatic"},
		{"scheduler suffix split off", "Euler Karras", "Euler", "Schedule type: Karras"},
		{"own default scheduler becomes Automatic", "DPM++ 2M Karras", "DPM++ 2M", "Schedule type: Automatic"},
	}
	for _, c := range cases {
		r := post(t, s, "/sdapi/v1/txt2img", map[string]any{"sampler_name": c.sampler, "steps": 1, "width": 16, "height": 16, "seed": 1})
		if r.status != http.StatusOK {
			t.Fatalf("%s: status got %d %s, want 200", c.name, r.status, r.body)
		}
		in := info(t, r.json(t))
		if got := in["sampler_name"]; got != c.wantSampler {
			t.Errorf("%s: sampler got %v, want %v", c.name, got, c.wantSampler)
		}
		texts, _ := in["infotexts"].([]any)
		if len(texts) != 1 || !bytes.Contains([]byte(texts[0].(string)), []byte(c.wantSched)) {
			t.Errorf("%s: infotexts got %v, want one containing %q", c.name, texts, c.wantSched)
		}
	}
}

func TestSameSeedSameOutput(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := product(96, 96, image.Rect(30, 30, 66, 66))
	mask := rectMask(96, 96, image.Rect(0, 0, 96, 20))
	run := func(seed int, prompt string) []byte {
		r := post(t, s, "/sdapi/v1/img2img", map[string]any{
			"init_images": []string{pngB64(t, src)}, "mask": pngB64(t, mask), "prompt": prompt,
			"seed": seed, "steps": 4, "width": 64, "height": 64,
		})
		if r.status != http.StatusOK {
			t.Fatalf("status: got %d %s, want 200", r.status, r.body)
		}
		return rgbBytes(images(t, r.json(t))[0])
	}
	a, b := run(7, "beach"), run(7, "beach")
	if !bytes.Equal(a, b) {
		t.Errorf("same seed and prompt gave different pixels")
	}
	if bytes.Equal(a, run(8, "beach")) {
		t.Errorf("another seed gave the same pixels")
	}
	if bytes.Equal(a, run(7, "forest")) {
		t.Errorf("another prompt gave the same pixels")
	}
}

// TestInpaintPixels checks the contract that matters to Pictor: outside
// the (feathered) mask every channel drifts by 1..4 levels and never more;
// inside, the picture changes a lot.
func TestInpaintPixels(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	const W, H = 120, 90
	src := product(W, H, image.Rect(40, 25, 80, 65))
	productMask := rectMask(W, H, image.Rect(40, 25, 80, 65))
	cases := []struct {
		name     string
		fullRes  bool
		invert   int
		blur     int
		mask     *image.Gray
		wantSize image.Point
		// regen reports whether (x, y) is in the area regenerated
		// (including the feathered edge); keep reports whether it is
		// certainly kept.
		regen, keep func(x, y int) bool
	}{
		{
			name: "only masked, background regenerated by invert", fullRes: true, invert: 1, blur: 4,
			mask: productMask, wantSize: image.Pt(W, H),
			regen: func(x, y int) bool { return x < 28 || x >= 92 || y < 13 || y >= 77 },
			keep:  func(x, y int) bool { return x >= 52 && x < 68 && y >= 37 && y < 53 },
		},
		{
			name: "only masked, product regenerated", fullRes: true, blur: 0,
			mask: productMask, wantSize: image.Pt(W, H),
			regen: func(x, y int) bool { return x >= 42 && x < 78 && y >= 27 && y < 63 },
			keep:  func(x, y int) bool { return x < 38 || x >= 82 || y < 23 || y >= 67 },
		},
		{
			name: "whole picture at the source size", fullRes: false, invert: 1, blur: 2,
			mask: productMask, wantSize: image.Pt(W, H),
			regen: func(x, y int) bool { return x < 34 || x >= 86 || y < 19 || y >= 71 },
			keep:  func(x, y int) bool { return x >= 46 && x < 74 && y >= 31 && y < 59 },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/sdapi/v1/img2img", map[string]any{
				"init_images": []string{pngB64(t, src)}, "mask": pngB64(t, c.mask),
				"inpainting_mask_invert": c.invert, "mask_blur": c.blur, "inpaint_full_res": c.fullRes,
				"inpainting_fill": 1, "denoising_strength": 1.0,
				"prompt": "studio scene", "seed": 42, "steps": 6, "width": W, "height": H,
			})
			if r.status != http.StatusOK {
				t.Fatalf("status: got %d %s, want 200", r.status, r.body)
			}
			out := images(t, r.json(t))[0]
			if got := out.Bounds().Size(); got != c.wantSize {
				t.Fatalf("size: got %v, want %v", got, c.wantSize)
			}
			var regenDiff, regenN int
			for y := 0; y < H; y++ {
				for x := 0; x < W; x++ {
					got, want := rgbAt(out, x, y), rgbAt(src, x, y)
					switch {
					case c.keep(x, y):
						for ch := range 3 {
							if d := absInt(got[ch] - want[ch]); d < 1 || d > 4 {
								t.Fatalf("kept pixel (%d,%d) channel %d: got %d, want %d±1..4", x, y, ch, got[ch], want[ch])
							}
						}
					case c.regen(x, y):
						for ch := range 3 {
							regenDiff += absInt(got[ch] - want[ch])
						}
						regenN += 3
					}
				}
			}
			if regenN == 0 {
				t.Fatal("no regenerated pixels checked")
			}
			if mean := float64(regenDiff) / float64(regenN); mean < 25 {
				t.Errorf("regenerated area mean difference: got %.1f, want ≥ 25", mean)
			}
		})
	}
}

func TestImg2ImgSizes(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := product(100, 60, image.Rect(30, 20, 70, 40))
	mask := rectMask(100, 60, image.Rect(30, 20, 70, 40))
	cases := []struct {
		name string
		req  map[string]any
		want image.Point
	}{
		{"no mask gives W×H", map[string]any{"width": 48, "height": 32}, image.Pt(48, 32)},
		{"default size is 512", map[string]any{}, image.Pt(512, 512)},
		{"only masked keeps the init size", map[string]any{"mask": pngB64(t, mask), "width": 64, "height": 64}, image.Pt(100, 60)},
		{"whole picture gives W×H", map[string]any{"mask": pngB64(t, mask), "inpaint_full_res": false, "width": 40, "height": 24}, image.Pt(40, 24)},
		{"blank mask falls back to whole image", map[string]any{"mask": pngB64(t, image.NewGray(image.Rect(0, 0, 100, 60))), "width": 32, "height": 32}, image.Pt(32, 32)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := map[string]any{"init_images": []string{pngB64(t, src)}, "steps": 2, "seed": 3}
			for k, v := range c.req {
				req[k] = v
			}
			r := post(t, s, "/sdapi/v1/img2img", req)
			if r.status != http.StatusOK {
				t.Fatalf("status: got %d %s, want 200", r.status, r.body)
			}
			if got := images(t, r.json(t))[0].Bounds().Size(); got != c.want {
				t.Errorf("size: got %v, want %v", got, c.want)
			}
		})
	}
}

func TestImg2ImgEcho(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := pngB64(t, solid(16, 16, color.NRGBA{1, 2, 3, 255}))
	cn := map[string]any{"controlnet": map[string]any{"args": []any{map[string]any{"enabled": true, "module": "canny"}}}}
	cases := []struct {
		name        string
		include     bool
		wantInit    bool
		wantSeedRnd bool
	}{
		{"init images nulled", false, false, true},
		{"include_init_images echoes them", true, true, true},
	}
	for _, c := range cases {
		r := post(t, s, "/sdapi/v1/img2img", map[string]any{
			"init_images": []string{src}, "mask": src, "steps": 1, "width": 16, "height": 16,
			"include_init_images": c.include, "alwayson_scripts": cn,
		})
		if r.status != http.StatusOK {
			t.Fatalf("%s: status got %d %s, want 200", c.name, r.status, r.body)
		}
		m := r.json(t)
		p := m["parameters"].(map[string]any)
		if got := p["init_images"] != nil; got != c.wantInit {
			t.Errorf("%s: init_images echoed: got %v, want %v", c.name, got, c.wantInit)
		}
		if got := p["mask"] != nil; got != c.wantInit {
			t.Errorf("%s: mask echoed: got %v, want %v", c.name, got, c.wantInit)
		}
		if !reflect.DeepEqual(p["alwayson_scripts"], cn) {
			t.Errorf("%s: alwayson_scripts: got %v, want %v", c.name, p["alwayson_scripts"], cn)
		}
		for _, k := range []string{"inpaint_full_res", "inpaint_full_res_padding", "denoising_strength", "mask_blur_x", "sampler_index"} {
			if _, ok := p[k]; !ok {
				t.Errorf("%s: parameters has no %s", c.name, k)
			}
		}
		in := info(t, m)
		if seed, _ := in["seed"].(float64); seed < 0 {
			t.Errorf("%s: seed -1 should be replaced: got %v", c.name, seed)
		}
	}
}

func TestBatchAndGrid(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	cases := []struct {
		name       string
		save       bool
		batch, it  int
		wantImages int
		wantFirst  float64
		wantGrid   image.Point
	}{
		{"API default save_images=false: no grid", false, 2, 2, 4, 0, image.Point{}},
		{"save_images=true: grid first", true, 2, 2, 5, 1, image.Pt(64, 64)},
		{"single picture: never a grid", true, 1, 1, 1, 0, image.Point{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/sdapi/v1/txt2img", map[string]any{
				"batch_size": c.batch, "n_iter": c.it, "save_images": c.save, "seed": 10,
				"steps": 1, "width": 32, "height": 32,
			})
			if r.status != http.StatusOK {
				t.Fatalf("status: got %d %s, want 200", r.status, r.body)
			}
			m := r.json(t)
			imgs := images(t, m)
			if len(imgs) != c.wantImages {
				t.Fatalf("images: got %d, want %d", len(imgs), c.wantImages)
			}
			in := info(t, m)
			if got := in["index_of_first_image"]; got != c.wantFirst {
				t.Errorf("index_of_first_image: got %v, want %v", got, c.wantFirst)
			}
			seeds := in["all_seeds"].([]any)
			if len(seeds) != c.batch*c.it || seeds[len(seeds)-1] != float64(10+c.batch*c.it-1) {
				t.Errorf("all_seeds: got %v, want %d seeds from 10", seeds, c.batch*c.it)
			}
			if c.wantFirst == 1 {
				if got := imgs[0].Bounds().Size(); got != c.wantGrid {
					t.Errorf("grid size: got %v, want %v", got, c.wantGrid)
				}
				if got := len(in["infotexts"].([]any)); got != c.wantImages {
					t.Errorf("infotexts: got %d, want %d", got, c.wantImages)
				}
			}
		})
	}
}

func TestImg2ImgErrors(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	good := pngB64(t, solid(32, 32, color.NRGBA{200, 10, 10, 255}))
	small := pngB64(t, rectMask(16, 16, image.Rect(0, 0, 8, 8)))
	cases := []struct {
		name   string
		req    map[string]any
		status int
		body   string
	}{
		{"no init_images", map[string]any{"prompt": "x"}, 404,
			`{"error":"HTTPException","detail":"Init image not found","body":"","errors":""}`},
		{"mask size mismatch in only-masked mode", map[string]any{"init_images": []string{good}, "mask": small}, 500,
			`{"error":"ValueError","detail":"","body":"","errors":"images do not match"}`},
		{"undecodable base64", map[string]any{"init_images": []string{"not an image!!"}}, 500,
			`{"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":""}`},
		{"url-safe alphabet breaks the decode", map[string]any{"init_images": []string{toURLSafe(good)}}, 500,
			`{"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":""}`},
		{"http URL is refused", map[string]any{"init_images": []string{"https://example.com/a.png"}}, 500,
			`{"error":"HTTPException","detail":"Invalid encoded image","body":"","errors":""}`},
		{"data URI without ';'", map[string]any{"init_images": []string{"data:image/png," + good}}, 500,
			`{"error":"IndexError","detail":"","body":"","errors":"list index out of range"}`},
		{"unknown script", map[string]any{"init_images": []string{good}, "script_name": "nope"}, 422,
			`{"error":"HTTPException","detail":"Script 'nope' not found","body":"","errors":""}`},
		{"unknown always-on script", map[string]any{"init_images": []string{good}, "alwayson_scripts": map[string]any{"nope": map[string]any{}}}, 422,
			`{"error":"HTTPException","detail":"always on script nope not found","body":"","errors":""}`},
		{"too many pictures", map[string]any{"init_images": []string{good}, "batch_size": 3, "n_iter": 3}, 500,
			`{"error":"ValueError","detail":"","body":"","errors":"sdtest limit: batch_size × n_iter = 9 is more than 8"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/sdapi/v1/img2img", c.req)
			if r.status != c.status || string(r.body) != c.body {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, c.status, c.body)
			}
		})
	}
}

func toURLSafe(s string) string {
	return string(bytes.Map(func(r rune) rune {
		switch r {
		case '+':
			return '-'
		case '/':
			return '_'
		}
		return r
	}, []byte(s)))
}

func TestImageInputForms(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	plain := pngB64(t, solid(16, 16, color.NRGBA{9, 9, 9, 255}))
	cases := []struct {
		name string
		in   string
	}{
		{"plain base64", plain},
		{"data URI", "data:image/png;base64," + plain},
		{"line breaks and junk dropped", plain[:10] + "\n*" + plain[10:]},
		{"padding stripped is an error only if it leaves a partial quantum", plain},
	}
	for _, c := range cases {
		r := post(t, s, "/sdapi/v1/img2img", map[string]any{"init_images": []string{c.in}, "steps": 1, "width": 16, "height": 16})
		if r.status != http.StatusOK {
			t.Errorf("%s: got %d %s, want 200", c.name, r.status, r.body)
		}
	}
}

func TestOverrideSettings(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	cases := []struct {
		name      string
		override  any
		wantModel string
	}{
		{"known checkpoint by title", "realisticVisionV60B1_v51VAE-inpainting.safetensors [b7aa5c4ecd]", "realisticVisionV60B1_v51VAE-inpainting"},
		{"known checkpoint by model name", "realisticVisionV60B1_v51VAE-inpainting", "realisticVisionV60B1_v51VAE-inpainting"},
		{"unknown checkpoint silently ignored", "nope.safetensors", "sd_xl_base_1.0"},
	}
	for _, c := range cases {
		r := post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 16, "height": 16,
			"override_settings": map[string]any{"sd_model_checkpoint": c.override}})
		if r.status != http.StatusOK {
			t.Fatalf("%s: got %d %s, want 200", c.name, r.status, r.body)
		}
		if got := info(t, r.json(t))["sd_model_name"]; got != c.wantModel {
			t.Errorf("%s: sd_model_name got %v, want %v", c.name, got, c.wantModel)
		}
	}
	// The override was restored afterwards.
	opts := get(t, s, "/sdapi/v1/options").json(t)
	if got := opts["sd_model_checkpoint"]; got != "sd_xl_base_1.0.safetensors [31e35c80fc]" {
		t.Errorf("sd_model_checkpoint after overrides: got %v, want the default", got)
	}
}

// TestAlphaMask checks create_binary_mask: a semi-transparent RGBA mask is
// read from its alpha channel, not its (all black) colour.
func TestAlphaMask(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	const W, H = 64, 48
	src := product(W, H, image.Rect(20, 12, 44, 36))
	mask := image.NewNRGBA(image.Rect(0, 0, W, H))
	for y := 12; y < 36; y++ {
		for x := 20; x < 44; x++ {
			mask.Pix[mask.PixOffset(x, y)+3] = 255
		}
	}
	r := post(t, s, "/sdapi/v1/img2img", map[string]any{
		"init_images": []string{pngB64(t, src)}, "mask": pngB64(t, mask), "mask_blur": 0,
		"seed": 9, "steps": 2, "width": 32, "height": 32,
	})
	if r.status != http.StatusOK {
		t.Fatalf("status: got %d %s, want 200", r.status, r.body)
	}
	out := images(t, r.json(t))[0]
	// Only-masked mode with a non-blank mask keeps the init size.
	if got := out.Bounds().Size(); got != image.Pt(W, H) {
		t.Fatalf("size: got %v, want %v (a blank mask would give 32x32)", got, image.Pt(W, H))
	}
	var diff int
	for ch, v := range rgbAt(out, 32, 24) {
		diff += absInt(v - rgbAt(src, 32, 24)[ch])
	}
	if diff < 30 {
		t.Errorf("masked pixel barely changed: sum of differences %d", diff)
	}
	if got, want := rgbAt(out, 2, 2), rgbAt(src, 2, 2); absInt(got[0]-want[0]) > 4 || got == want {
		t.Errorf("pixel outside the alpha mask: got %v, want %v drifted by 2..4", got, want)
	}
}

func TestForgeFieldsAndJPEG(t *testing.T) {
	t.Parallel()
	o := fastOptions()
	o.Flavor = FlavorForge
	s := setup(t, o)
	if r := post(t, s, "/sdapi/v1/options", map[string]any{"samples_format": "jpg"}); r.status != http.StatusOK {
		t.Fatalf("set options: got %d %s", r.status, r.body)
	}
	r := post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 16, "height": 16})
	if r.status != http.StatusOK {
		t.Fatalf("txt2img: got %d %s", r.status, r.body)
	}
	m := r.json(t)
	if _, ok := m["parameters"].(map[string]any)["distilled_cfg_scale"]; !ok {
		t.Errorf("forge parameters: no distilled_cfg_scale")
	}
	raw, _ := base64.StdEncoding.DecodeString(m["images"].([]any)[0].(string))
	if !bytes.HasPrefix(raw, []byte{0xff, 0xd8}) {
		t.Errorf("samples_format jpg: got %x…, want a JPEG", raw[:4])
	}
	if v := info(t, m)["version"].(string); v[0] != 'f' {
		t.Errorf("forge version: got %q", v)
	}
}

func TestCheckpointRoutes(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	for _, p := range []string{"/sdapi/v1/unload-checkpoint", "/sdapi/v1/reload-checkpoint", "/sdapi/v1/refresh-checkpoints"} {
		if r := post(t, s, p, nil); r.status != http.StatusOK || string(r.body) != "null" {
			t.Errorf("%s: got %d %s, want 200 null", p, r.status, r.body)
		}
	}
	calls := s.Calls()
	if last := calls[len(calls)-1]; last.Endpoint != "/sdapi/v1/refresh-checkpoints" || last.Start.Before(last.Queued) || last.End.IsZero() {
		t.Errorf("refresh-checkpoints call: got %+v, want a locked call", last)
	}
}

// expandCropRegion grows the masked crop to the processing aspect ratio about its centre,
// shifted back inside the image at its edges, as the WebUI's expand_crop_region does.
func TestExpandCropRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		crop           image.Rectangle
		pw, ph, iw, ih int
		want           image.Rectangle
	}{
		{"wider about the centre", image.Rect(20, 20, 30, 30), 512, 256, 100, 100, image.Rect(15, 20, 35, 30)},
		{"shifted in from the right", image.Rect(90, 0, 100, 10), 512, 256, 100, 100, image.Rect(80, 0, 100, 10)},
		{"shifted in from the left", image.Rect(0, 0, 10, 10), 512, 256, 100, 100, image.Rect(0, 0, 20, 10)},
		{"taller, from the top", image.Rect(0, 0, 20, 10), 512, 512, 100, 100, image.Rect(0, 0, 20, 20)},
		{"taller than the image: clipped", image.Rect(0, 40, 100, 50), 256, 512, 100, 100, image.Rect(0, 0, 100, 100)},
		{"already the ratio", image.Rect(10, 10, 30, 20), 512, 256, 100, 100, image.Rect(10, 10, 30, 20)},
	}
	for _, tt := range tests {
		if got := expandCropRegion(tt.crop, tt.pw, tt.ph, tt.iw, tt.ih); got != tt.want {
			t.Errorf("%s: expandCropRegion(%v) = %v, want %v", tt.name, tt.crop, got, tt.want)
		}
	}
}
