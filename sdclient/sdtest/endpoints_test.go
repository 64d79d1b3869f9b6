package sdtest

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"slices"
	"testing"
)

func TestListEndpoints(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	cases := []struct {
		path  string
		check func(t *testing.T, body []byte)
	}{
		{"/sdapi/v1/sd-models", func(t *testing.T, body []byte) {
			var got []map[string]any
			mustJSON(t, body, &got)
			if len(got) != 2 || got[0]["title"] != "sd_xl_base_1.0.safetensors [31e35c80fc]" || got[0]["model_name"] != "sd_xl_base_1.0" ||
				got[0]["hash"] != "31e35c80fc" || len(got[0]["sha256"].(string)) != 64 || got[0]["filename"] == nil {
				t.Errorf("sd-models: got %v", got)
			}
			if _, ok := got[0]["config"]; !ok {
				t.Errorf("sd-models: no config key")
			}
		}},
		{"/sdapi/v1/samplers", func(t *testing.T, body []byte) {
			var got []map[string]any
			mustJSON(t, body, &got)
			names := make([]string, len(got))
			for i, x := range got {
				names[i] = x["name"].(string)
			}
			for _, want := range []string{"DPM++ 2M", "Euler a", "Euler", "DDIM", "UniPC", "LCM"} {
				if !slices.Contains(names, want) {
					t.Errorf("samplers: %q missing from %v", want, names)
				}
			}
			if _, ok := got[0]["aliases"].([]any); !ok {
				t.Errorf("samplers: aliases is not a list")
			}
		}},
		{"/sdapi/v1/schedulers", func(t *testing.T, body []byte) {
			var got []map[string]any
			mustJSON(t, body, &got)
			if len(got) != 12 || got[0]["name"] != "automatic" || got[2]["label"] != "Karras" || got[2]["default_rho"] != 7.0 {
				t.Errorf("schedulers: got %v", got)
			}
		}},
		{"/sdapi/v1/upscalers", func(t *testing.T, body []byte) {
			var got []map[string]any
			mustJSON(t, body, &got)
			var names []string
			for _, x := range got {
				names = append(names, x["name"].(string))
				if _, ok := x["model_url"]; !ok || x["model_url"] != nil {
					t.Errorf("upscaler %v: model_url should be null", x["name"])
				}
			}
			for _, want := range []string{"None", "Lanczos", "Nearest", "ESRGAN_4x", "LDSR", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B", "DAT x2", "DAT x3", "DAT x4", "ScuNET GAN", "ScuNET PSNR", "SwinIR 4x"} {
				if !slices.Contains(names, want) {
					t.Errorf("upscalers: %q missing from %v", want, names)
				}
			}
		}},
		{"/sdapi/v1/memory", func(t *testing.T, body []byte) {
			var got struct {
				RAM  struct{ Free, Used, Total float64 }
				Cuda struct {
					System                                struct{ Free, Used, Total float64 }
					Active, Allocated, Reserved, Inactive struct{ Current, Peak float64 }
					Events                                struct{ Retries, OOM float64 }
				}
			}
			mustJSON(t, body, &got)
			if got.RAM.Total <= got.RAM.Used || got.Cuda.System.Total != 24*gib || got.Cuda.System.Free <= 0 || got.Cuda.Allocated.Current <= 0 || got.Cuda.Events.OOM != 0 {
				t.Errorf("memory: got %+v", got)
			}
		}},
		{"/sdapi/v1/options", func(t *testing.T, body []byte) {
			var got map[string]any
			mustJSON(t, body, &got)
			if got["sd_model_checkpoint"] != "sd_xl_base_1.0.safetensors [31e35c80fc]" || got["samples_format"] != "png" || got["return_grid"] != true {
				t.Errorf("options: got %v", got)
			}
		}},
		{"/sam/heartbeat", func(t *testing.T, body []byte) {
			if string(body) != `{"msg":"Success!"}` {
				t.Errorf("heartbeat: got %s", body)
			}
		}},
		{"/sam/sam-model", func(t *testing.T, body []byte) {
			var got []string
			mustJSON(t, body, &got)
			if !slices.Contains(got, "sam_vit_h_4b8939.pth") {
				t.Errorf("sam-model: got %v", got)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			r := get(t, s, c.path)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			c.check(t, r.body)
		})
	}
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", firstN(body, 200), err)
	}
}

func TestSetOptions(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	r := post(t, s, "/sdapi/v1/options", map[string]any{"sd_model_checkpoint": "realisticVisionV60B1_v51VAE-inpainting", "return_grid": false})
	if r.status != http.StatusOK || string(r.body) != "null" {
		t.Fatalf("set options: got %d %s, want 200 null", r.status, r.body)
	}
	opts := get(t, s, "/sdapi/v1/options").json(t)
	if opts["sd_model_checkpoint"] != "realisticVisionV60B1_v51VAE-inpainting.safetensors [b7aa5c4ecd]" || opts["return_grid"] != false {
		t.Errorf("options after set: got checkpoint %v, return_grid %v", opts["sd_model_checkpoint"], opts["return_grid"])
	}
	gen := post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8, "batch_size": 2, "save_images": true})
	in := info(t, gen.json(t))
	if in["sd_model_name"] != "realisticVisionV60B1_v51VAE-inpainting" {
		t.Errorf("generation model: got %v", in["sd_model_name"])
	}
	if in["index_of_first_image"] != 0.0 {
		t.Errorf("return_grid=false: got index_of_first_image %v, want 0", in["index_of_first_image"])
	}
	if r := post(t, s, "/sdapi/v1/options", `[1]`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("non-dict options: got %d, want 422", r.status)
	}
}

func TestExtrasSingle(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	// A half-transparent RGBA source: the output must be RGB, alpha dropped.
	src := image.NewNRGBA(image.Rect(0, 0, 100, 75))
	for i := 0; i < len(src.Pix); i += 4 {
		src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = 200, 100, 50, uint8(i/4%2*255)
	}
	cases := []struct {
		name string
		req  map[string]any
		want image.Point
		info string
	}{
		{"factor 2, floored to 8", map[string]any{"upscaler_1": "R-ESRGAN 4x+"}, image.Pt(200, 144), "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+"},
		{"factor 1.5", map[string]any{"upscaler_1": "Lanczos", "upscaling_resize": 1.5}, image.Pt(144, 112), "Postprocess upscale by: 1.5"},
		{"to size with crop", map[string]any{"upscaler_1": "Nearest", "resize_mode": 1, "upscaling_resize_w": 256, "upscaling_resize_h": 256}, image.Pt(256, 256), "Postprocess crop to: 256x256"},
		{"to size without crop keeps the aspect", map[string]any{"upscaler_1": "ESRGAN_4x", "resize_mode": 1, "upscaling_resize_w": 200, "upscaling_resize_h": 200, "upscaling_crop": false}, image.Pt(264, 200), "Postprocess upscale to: 200x200"},
		{"None leaves the size", map[string]any{}, image.Pt(100, 75), ""},
		{"data URI input", map[string]any{"upscaler_1": "Lanczos", "image": "data:image/png;base64," + pngB64(t, src)}, image.Pt(200, 144), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := map[string]any{"image": pngB64(t, src)}
			for k, v := range c.req {
				req[k] = v
			}
			r := post(t, s, "/sdapi/v1/extra-single-image", req)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			m := r.json(t)
			raw, _ := base64.StdEncoding.DecodeString(m["image"].(string))
			cfg, err := png.DecodeConfig(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("png: %v", err)
			}
			if got := image.Pt(cfg.Width, cfg.Height); got != c.want {
				t.Errorf("size: got %v, want %v", got, c.want)
			}
			img := decodeB64(t, m["image"])
			if _, _, _, a := img.At(1, 0).RGBA(); a != 0xffff {
				t.Errorf("alpha: got %d, want opaque RGB", a)
			}
			if html, _ := m["html_info"].(string); !bytes.Contains([]byte(html), []byte(c.info)) {
				t.Errorf("html_info: got %q, want it to contain %q", html, c.info)
			}
		})
	}
}

func TestExtrasBatch(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	a := pngB64(t, solid(40, 40, color.NRGBA{10, 20, 30, 255}))
	b := pngB64(t, solid(24, 16, color.NRGBA{10, 20, 30, 255}))
	r := post(t, s, "/sdapi/v1/extra-batch-images", map[string]any{
		"imageList":  []map[string]any{{"data": a, "name": "a.png"}, {"data": b, "name": "b.png"}},
		"upscaler_1": "DAT x2", "upscaling_resize": 2,
	})
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	imgs := images(t, r.json(t))
	if len(imgs) != 2 || imgs[0].Bounds().Size() != image.Pt(80, 80) || imgs[1].Bounds().Size() != image.Pt(48, 32) {
		t.Errorf("batch: got %d images %v", len(imgs), imgs)
	}
	calls := s.Calls()
	if c := calls[len(calls)-1]; c.Endpoint != "/sdapi/v1/extra-batch-images" || c.Status != 200 || c.Start.IsZero() {
		t.Errorf("call log: got %+v", c)
	}
}

func TestRembg(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := product(60, 50, image.Rect(20, 15, 40, 35))
	cases := []struct {
		name  string
		req   map[string]any
		check func(t *testing.T, r response)
	}{
		{"cutout", map[string]any{"input_image": pngB64(t, src)}, func(t *testing.T, r response) {
			img := decodeB64(t, r.json(t)["image"])
			if _, _, _, a := img.At(2, 2).RGBA(); a != 0 {
				t.Errorf("background alpha: got %d, want 0", a)
			}
			if got, want := rgbAt(img, 30, 25), rgbAt(src, 30, 25); got != want {
				t.Errorf("product pixel: got %v, want %v", got, want)
			}
			if _, _, _, a := img.At(30, 25).RGBA(); a != 0xffff {
				t.Errorf("product alpha: got %d, want opaque", a)
			}
		}},
		{"mask, unknown model acts as u2net", map[string]any{"input_image": pngB64(t, src), "return_mask": true, "model": "nope"}, func(t *testing.T, r response) {
			img := decodeB64(t, r.json(t)["image"])
			if _, ok := img.(*image.Gray); !ok {
				t.Errorf("mask type: got %T, want *image.Gray (L)", img)
			}
			if got := rgbAt(img, 2, 2); got != [3]int{} {
				t.Errorf("background: got %v, want black", got)
			}
			if got := rgbAt(img, 25, 20); got != [3]int{255, 255, 255} {
				t.Errorf("foreground: got %v, want white", got)
			}
		}},
		{"model None answers null", map[string]any{"input_image": "whatever", "model": "None"}, func(t *testing.T, r response) {
			if string(r.body) != "null" {
				t.Errorf("got %s, want null", r.body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/rembg", c.req)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			c.check(t, r)
		})
	}
	if r := post(t, s, "/rembg", map[string]any{"input_image": "!!"}); r.status != 500 {
		t.Errorf("bad image: got %d, want 500", r.status)
	}
}

func TestSAM(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := product(60, 50, image.Rect(20, 15, 40, 35))
	in := pngB64(t, src)
	cases := []struct {
		name     string
		req      map[string]any
		status   int
		wantMsg  string
		wantMask bool
		fgAt     image.Point // a pixel the middle mask must cover
		bgAt     image.Point // a pixel it must not
	}{
		{"positive point on the product", map[string]any{"input_image": in, "sam_positive_points": [][]float64{{30, 25}}}, 200,
			"SAM inference with 0 box, 1 positive prompts, 0 negative prompts done.", true, image.Pt(30, 25), image.Pt(2, 2)},
		{"positive point on the background", map[string]any{"input_image": in, "sam_positive_points": [][]float64{{2, 2}}}, 200,
			"SAM inference with 0 box, 1 positive prompts, 0 negative prompts done.", true, image.Pt(2, 2), image.Pt(30, 25)},
		{"dino text prompt", map[string]any{"input_image": in, "dino_enabled": true, "dino_text_prompt": "bottle"}, 200,
			"SAM inference with 1 box, 0 positive prompts, 0 negative prompts done.", true, image.Pt(30, 25), image.Pt(2, 2)},
		{"no prompt", map[string]any{"input_image": in}, 200,
			"You neither added point prompts nor enabled GroundingDINO. Segmentation cannot be generated.", false, image.Point{}, image.Point{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := post(t, s, "/sam/sam-predict", c.req)
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			m := r.json(t)
			if m["msg"] != c.wantMsg {
				t.Errorf("msg: got %q, want %q", m["msg"], c.wantMsg)
			}
			if !c.wantMask {
				if len(m) != 1 {
					t.Errorf("keys: got %v, want only msg", m)
				}
				return
			}
			for _, k := range []string{"blended_images", "masks", "masked_images"} {
				if l, _ := m[k].([]any); len(l) != 3 {
					t.Fatalf("%s: got %v, want 3 images", k, m[k])
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(m["masks"].([]any)[1].(string))
			if raw[24] != 1 || raw[25] != 0 {
				t.Errorf("mask PNG: bit depth %d colour type %d, want 1-bit greyscale", raw[24], raw[25])
			}
			mask := decodeB64(t, m["masks"].([]any)[1])
			if rgbAt(mask, c.fgAt.X, c.fgAt.Y)[0] != 255 || rgbAt(mask, c.bgAt.X, c.bgAt.Y)[0] != 0 {
				t.Errorf("mask: got %v at %v and %v at %v, want white then black",
					rgbAt(mask, c.fgAt.X, c.fgAt.Y), c.fgAt, rgbAt(mask, c.bgAt.X, c.bgAt.Y), c.bgAt)
			}
			cut := decodeB64(t, m["masked_images"].([]any)[1])
			if _, _, _, a := cut.At(c.bgAt.X, c.bgAt.Y).RGBA(); a != 0 {
				t.Errorf("masked image: alpha %d outside the mask, want 0", a)
			}
		})
	}
	r := post(t, s, "/sam/sam-predict", map[string]any{"input_image": in, "sam_model_name": "nope.pth", "sam_positive_points": [][]float64{{1, 1}}})
	if r.status != 500 || string(r.body) != `{"error":"Exception","detail":"","body":"","errors":"nope.pth not found, please download model to models/sam."}` {
		t.Errorf("unknown model: got %d %s, want 500 Exception", r.status, r.body)
	}
}
