package sdclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pictor/pictor/sdclient"
)

// pngImage returns a w×h PNG whose bytes, base64-encoded, use both '+' and
// '/' often enough to tell the standard alphabet from the URL-safe one.
func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 13), B: 0xfb, A: 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// maskImage returns a w×h grayscale PNG: white in the central half, black
// around it.
func maskImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := h / 4; y < h*3/4; y++ {
		for x := w / 4; x < w*3/4; x++ {
			img.SetGray(x, y, color.Gray{Y: 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// productImage returns a w×h PNG of a dark product in the central half on a
// plain white background.
func productImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
			if x >= w/4 && x < w*3/4 && y >= h/4 && y < h*3/4 {
				c = color.NRGBA{R: 0x80, G: 0x20, B: 0x10, A: 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recorder is a loopback stand-in that records request bodies and answers
// with a fixed status and body.
type recorder struct {
	mu     sync.Mutex
	bodies map[string]map[string]any
	auth   map[string]string
	status int
	answer string
}

func newRecorder(t *testing.T, status int, answer string) (*recorder, *httptest.Server) {
	t.Helper()
	r := &recorder{bodies: map[string]map[string]any{}, auth: map[string]string{}, status: status, answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		m := map[string]any{}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("request body to %s is not a JSON object: %v", req.URL.Path, err)
			}
		}
		r.mu.Lock()
		r.bodies[req.URL.Path] = m
		r.auth[req.URL.Path] = req.Header.Get("Authorization")
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, r.answer)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *recorder) body(path string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[path]
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// wantFields checks that got holds every key of want with an equal JSON
// value.
func wantFields(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	if got == nil {
		t.Fatal("no request recorded")
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("field %q missing, want %v", k, w)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("field %q = %s, want %s", k, clipS(string(gj)), clipS(string(wj)))
		}
	}
}

func wantAbsent(t *testing.T, got map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := got[k]; ok {
			t.Errorf("field %q = %v, want it absent", k, v)
		}
	}
}

func clipS(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func TestWireImg2Img(t *testing.T) {
	t.Parallel()
	rec, srv := newRecorder(t, 200, `{"images":[],"parameters":{},"info":"{}"}`)
	c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
	initImg, mask := pngImage(t, 32, 24), pngImage(t, 32, 24)
	tests := []struct {
		name   string
		req    sdclient.Img2ImgRequest
		want   map[string]any
		absent []string
	}{
		{
			name: "defaults",
			req:  sdclient.Img2ImgRequest{InitImages: [][]byte{initImg}},
			want: map[string]any{
				"init_images":              []string{b64(initImg)},
				"steps":                    sdclient.DefaultSteps,
				"sampler_name":             sdclient.DefaultSampler,
				"inpaint_full_res":         false,
				"inpaint_full_res_padding": 0,
				"inpainting_mask_invert":   0,
				"inpainting_fill":          0,
				"resize_mode":              0,
				"seed":                     -1,
				"prompt":                   "",
				"override_settings":        map[string]any{"return_mask": false, "return_mask_composite": false},
			},
			absent: []string{"mask", "mask_blur", "mask_round", "denoising_strength", "width", "height", "cfg_scale", "batch_size", "n_iter", "alwayson_scripts", "scheduler"},
		},
		{
			name: "background replacement",
			req: sdclient.Img2ImgRequest{
				GenerationParams: sdclient.GenerationParams{
					Prompt: "a marble table", NegativePrompt: "text", Seed: 1234, SamplerName: "Euler a",
					Scheduler: "Karras", Steps: 30, CFGScale: 6.5, Width: 32, Height: 24, BatchSize: 2,
					Checkpoint:      "sd_xl_base_1.0.safetensors [31e35c80fc]",
					AlwaysonScripts: map[string]any{"controlnet": map[string]any{"args": []any{}}},
					Extra:           map[string]any{"steps": 999, "tiling": true},
				},
				InitImages:            [][]byte{initImg},
				Mask:                  mask,
				InpaintingMaskInvert:  true,
				MaskBlur:              2,
				NoMaskRound:           true,
				InpaintingFill:        sdclient.FillLatentNoise,
				InpaintFullRes:        true,
				InpaintFullResPadding: 32,
				DenoisingStrength:     0.9,
				ResizeMode:            1,
			},
			want: map[string]any{
				"prompt": "a marble table", "negative_prompt": "text", "seed": 1234, "sampler_name": "Euler a",
				"scheduler": "Karras", "steps": 30, "cfg_scale": 6.5, "width": 32, "height": 24, "batch_size": 2,
				"mask": b64(mask), "mask_blur": 2, "mask_round": false, "inpainting_mask_invert": 1,
				"inpainting_fill": 2, "inpaint_full_res": true, "inpaint_full_res_padding": 32,
				"denoising_strength": 0.9, "resize_mode": 1, "tiling": true,
				"alwayson_scripts": map[string]any{"controlnet": map[string]any{"args": []any{}}},
				"override_settings": map[string]any{
					"return_mask": false, "return_mask_composite": false,
					"sd_model_checkpoint": "sd_xl_base_1.0.safetensors [31e35c80fc]",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the recorder's last body.
			if _, err := c.Img2Img(context.Background(), tt.req); err != nil {
				t.Fatalf("Img2Img: %v", err)
			}
			got := rec.body("/sdapi/v1/img2img")
			wantFields(t, got, tt.want)
			wantAbsent(t, got, tt.absent...)
			if s, _ := got["init_images"].([]any); len(s) == 1 {
				if str, _ := s[0].(string); strings.HasPrefix(str, "data:") || strings.ContainsAny(str, "-_") {
					t.Errorf("init image %q is not plain standard base64", clipS(str))
				}
			}
		})
	}
}

func TestImg2ImgRefusedLocally(t *testing.T) {
	t.Parallel()
	rec, srv := newRecorder(t, 200, `{"images":[],"info":"{}"}`)
	c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
	tests := []struct {
		name string
		req  sdclient.Img2ImgRequest
	}{
		{name: "no init image", req: sdclient.Img2ImgRequest{}},
		{name: "mask size differs", req: sdclient.Img2ImgRequest{InitImages: [][]byte{pngImage(t, 32, 24)}, Mask: pngImage(t, 24, 32)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Img2Img(context.Background(), tt.req)
			if !errors.Is(err, sdclient.ErrBadRequest) {
				t.Errorf("Img2Img error = %v, want ErrBadRequest", err)
			}
		})
	}
	t.Cleanup(func() {
		if got := rec.body("/sdapi/v1/img2img"); got != nil {
			t.Errorf("a refused request reached the server: %v", got)
		}
	})
}

func TestWireOtherRequests(t *testing.T) {
	t.Parallel()
	img := pngImage(t, 16, 16)
	tests := []struct {
		name   string
		path   string
		answer string
		call   func(c *sdclient.Client) error
		want   map[string]any
		absent []string
	}{
		{
			name: "txt2img hires", path: "/sdapi/v1/txt2img", answer: `{"images":[],"info":"{}"}`,
			call: func(c *sdclient.Client) error {
				_, err := c.Txt2Img(context.Background(), sdclient.Txt2ImgRequest{
					GenerationParams: sdclient.GenerationParams{Prompt: "a shoe", Steps: 12},
					EnableHR:         true, HRScale: 1.5, HRUpscaler: "R-ESRGAN 4x+", DenoisingStrength: 0.4,
				})
				return err
			},
			want: map[string]any{"prompt": "a shoe", "steps": 12, "sampler_name": sdclient.DefaultSampler, "enable_hr": true,
				"hr_scale": 1.5, "hr_upscaler": "R-ESRGAN 4x+", "denoising_strength": 0.4, "seed": -1},
			absent: []string{"init_images", "inpaint_full_res"},
		},
		{
			name: "extras by factor", path: "/sdapi/v1/extra-single-image", answer: `{"image":"` + b64(img) + `","html_info":""}`,
			call: func(c *sdclient.Client) error {
				_, err := c.ExtraSingleImage(context.Background(), sdclient.ExtrasRequest{Image: img, UpscalingResize: 4, Upscaler1: "R-ESRGAN 4x+"})
				return err
			},
			want:   map[string]any{"image": b64(img), "resize_mode": 0, "upscaling_resize": 4, "upscaler_1": "R-ESRGAN 4x+", "upscaling_crop": false},
			absent: []string{"upscaler_2", "upscaling_resize_w", "gfpgan_visibility"},
		},
		{
			name: "rembg default model", path: "/rembg", answer: `{"image":"` + b64(img) + `"}`,
			call: func(c *sdclient.Client) error {
				_, err := c.Rembg(context.Background(), sdclient.RembgRequest{Image: img, ReturnMask: true})
				return err
			},
			want:   map[string]any{"input_image": b64(img), "model": "u2net", "return_mask": true, "alpha_matting": false},
			absent: []string{"alpha_matting_erode_size"},
		},
		{
			name: "sam with points", path: "/sam/sam-predict", answer: `{"msg":"ok","masks":[]}`,
			call: func(c *sdclient.Client) error {
				_, err := c.SAMPredict(context.Background(), sdclient.SAMRequest{Image: img, PositivePoints: [][2]int{{3, 4}}})
				return err
			},
			want:   map[string]any{"input_image": b64(img), "sam_positive_points": [][]int{{3, 4}}},
			absent: []string{"dino_enabled", "sam_negative_points", "sam_model_name"},
		},
		{
			name: "sam with dino", path: "/sam/sam-predict", answer: `{"msg":"ok"}`,
			call: func(c *sdclient.Client) error {
				_, err := c.SAMPredict(context.Background(), sdclient.SAMRequest{Image: img, DinoEnabled: true, DinoTextPrompt: "shoe", DinoBoxThreshold: 0.4})
				return err
			},
			want: map[string]any{"dino_enabled": true, "dino_text_prompt": "shoe", "dino_box_threshold": 0.4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, srv := newRecorder(t, 200, tt.answer)
			c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.body(tt.path)
			wantFields(t, got, tt.want)
			wantAbsent(t, got, tt.absent...)
		})
	}
}

func TestResponseDecoding(t *testing.T) {
	t.Parallel()
	a, grid, cn := pngImage(t, 8, 8), pngImage(t, 16, 8), pngImage(t, 4, 4)
	info := `{"seed": 42, "all_seeds": [42, 43], "infotexts": ["grid", "a", "b"], "index_of_first_image": 1, "sd_model_name": "sd_xl_base_1.0", "width": 8, "height": 8, "steps": 20}`
	infoJSON, _ := json.Marshal(info)
	answer := `{"images":["` + b64(grid) + `","data:image/png;base64,` + b64(a) + `","` + strings.TrimRight(b64(a), "=") + `","` + b64(cn) + `"],` +
		`"parameters":{"prompt":"x"},"info":` + string(infoJSON) + `}`
	_, srv := newRecorder(t, 200, answer)
	c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
	resp, err := c.Txt2Img(context.Background(), sdclient.Txt2ImgRequest{})
	if err != nil {
		t.Fatalf("Txt2Img: %v", err)
	}
	if got, want := len(resp.Images), 4; got != want {
		t.Fatalf("len(Images) = %d, want %d", got, want)
	}
	if got := resp.Info.Seed; got != 42 {
		t.Errorf("Info.Seed = %d, want 42", got)
	}
	if got := resp.Info.SDModelName; got != "sd_xl_base_1.0" {
		t.Errorf("Info.SDModelName = %q, want %q", got, "sd_xl_base_1.0")
	}
	if resp.InfoText != info {
		t.Errorf("InfoText = %q, want %q", resp.InfoText, info)
	}
	if got := string(resp.Parameters); got != `{"prompt":"x"}` {
		t.Errorf("Parameters = %s, want %s", got, `{"prompt":"x"}`)
	}
	res := resp.Results()
	if len(res) != 2 {
		t.Fatalf("len(Results()) = %d, want 2", len(res))
	}
	for i, r := range res {
		if !bytes.Equal(r, a) {
			t.Errorf("Results()[%d] is not the generated image (%d bytes, want %d)", i, len(r), len(a))
		}
	}
}

func TestAuthHeaderAndRedaction(t *testing.T) {
	t.Parallel()
	rec, srv := newRecorder(t, 200, `[]`)
	bs, err := sdclient.ParseBackends(strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1))
	if err != nil {
		t.Fatal(err)
	}
	c := sdclient.NewClient(bs[0], nil)
	if _, err := c.Samplers(context.Background()); err != nil {
		t.Fatalf("Samplers: %v", err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	rec.mu.Lock()
	got := rec.auth["/sdapi/v1/samplers"]
	rec.mu.Unlock()
	if got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if strings.Contains(c.Backend().URL, "s3cret") || strings.Contains(c.Backend().Name(), "s3cret") {
		t.Errorf("backend %q / %q shows the password", c.Backend().URL, c.Backend().Name())
	}
}

func TestParseBackends(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		want      []sdclient.Backend
		wantNames []string
		wantErr   bool
	}{
		{name: "empty", in: " "},
		{
			name:      "two with auth",
			in:        "https://user:pa:ss@gpu1:7860/, http://gpu2",
			want:      []sdclient.Backend{{URL: "https://gpu1:7860", User: "user", Password: "pa:ss"}, {URL: "http://gpu2"}},
			wantNames: []string{"gpu1:7860", "gpu2:80"},
		},
		{
			name:      "subpath and ipv6",
			in:        "http://[::1]:7861/sd/,https://h",
			want:      []sdclient.Backend{{URL: "http://[::1]:7861/sd"}, {URL: "https://h"}},
			wantNames: []string{"[::1]:7861/sd", "h:443"},
		},
		{name: "bad scheme", in: "ftp://h", wantErr: true},
		{name: "no host", in: "http://", wantErr: true},
		{name: "no scheme", in: "gpu1:7860", wantErr: true},
		{name: "query", in: "http://h?x=1", wantErr: true},
		{name: "duplicate", in: "http://h:1,http://h:1/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sdclient.ParseBackends(tt.in)
			if tt.wantErr {
				if !errors.Is(err, sdclient.ErrInvalidBackend) {
					t.Fatalf("ParseBackends(%q) = %v, %v; want ErrInvalidBackend", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBackends(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseBackends(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
				if n := got[i].Name(); n != tt.wantNames[i] {
					t.Errorf("[%d].Name() = %q, want %q", i, n, tt.wantNames[i])
				}
			}
		})
	}
	t.Run("password not in error", func(t *testing.T) {
		t.Parallel()
		_, err := sdclient.ParseBackends("ftp://bob:hunter2@h")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error = %v, want one without the password", err)
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := sdclient.NewClient(sdclient.Backend{URL: "http://" + addr}, nil)
	_, err = c.Progress(context.Background(), true)
	if !errors.Is(err, sdclient.ErrUnavailable) {
		t.Errorf("Progress on a closed port: error = %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Progress(ctx, true)
	if !errors.Is(err, context.Canceled) || errors.Is(err, sdclient.ErrUnavailable) {
		t.Errorf("Progress with a canceled context: error = %v, want context.Canceled only", err)
	}
	bad := sdclient.NewClient(sdclient.Backend{URL: "gopher://x"}, nil)
	if _, err := bad.Samplers(context.Background()); !errors.Is(err, sdclient.ErrInvalidBackend) {
		t.Errorf("client with a bad URL: error = %v, want ErrInvalidBackend", err)
	}
}

func TestBadResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		answer string
		want   error
	}{
		{name: "not json", status: 200, answer: "<html>", want: sdclient.ErrBackend},
		{name: "empty", status: 200, answer: "", want: sdclient.ErrBackend},
		{name: "bad base64", status: 200, answer: `{"image":"@@@"}`, want: sdclient.ErrBackend},
		{name: "null image", status: 200, answer: `{"image":null}`, want: sdclient.ErrBackend},
		{name: "extension missing", status: 404, answer: `{"detail":"Not Found"}`, want: sdclient.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, srv := newRecorder(t, tt.status, tt.answer)
			c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
			_, err := c.Rembg(context.Background(), sdclient.RembgRequest{Image: []byte{1}})
			if !errors.Is(err, tt.want) {
				t.Errorf("Rembg error = %v, want %v", err, tt.want)
			}
		})
	}
}
