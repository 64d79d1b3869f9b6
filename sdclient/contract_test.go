package sdclient_test

// The contract suite: the requests Pictor sends and the response fields it decodes,
// checked against a backend. Point it at real servers with
//
//	PICTOR_SD_CONTRACT_URL=http://user:pass@gpu1:7860 \
//	PICTOR_SAM_CONTRACT_URL=http://gpu1:7860 \
//	PICTOR_REMBG_CONTRACT_URL=http://gpu1:7000 \
//	go test ./sdclient/... -run Contract -v
//
// (PICTOR_SAM_CONTRACT_URL defaults to PICTOR_SD_CONTRACT_URL: segment-anything is a
// WebUI extension, as is rembg's /rembg.) Every difference is reported as a test
// error starting "difference:"; none stops the suite. Without the variables the same
// checks run against the in-process stand-ins (both WebUI flavors and rembg's server),
// and the log says which real server was skipped.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// contractTimeout bounds the whole suite against one backend (a cold real GPU loads
// its model on the first generation).
const contractTimeout = 5 * time.Minute

// exchange is one recorded HTTP round trip.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// exchangeLog is a transport that keeps the last exchange per "METHOD /path".
type exchangeLog struct {
	mu   sync.Mutex
	last map[string]exchange
}

func (r *exchangeLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[req.Method+" "+req.URL.Path] = exchange{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	return resp, nil
}

// get returns the last exchange of key, decoded as JSON (numbers kept as json.Number).
func (r *exchangeLog) get(key string) (exchange, any, bool) {
	r.mu.Lock()
	ex, ok := r.last[key]
	r.mu.Unlock()
	if !ok {
		return ex, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(ex.body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return ex, nil, true
	}
	return ex, v, true
}

// contract reports differences from the contract.
type contract struct {
	t *testing.T
	n int
}

func (c *contract) diff(format string, args ...any) {
	c.t.Helper()
	c.n++
	c.t.Errorf("difference: "+format, args...)
}

// kindOf names a decoded JSON value's type: string, int, number, bool, array, object
// or null.
func kindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			return "number"
		}
		return "int"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// field checks that obj has key with one of the kinds ("number" also takes an int).
func (c *contract) field(where string, obj map[string]any, key string, kinds ...string) any {
	c.t.Helper()
	v, ok := obj[key]
	if !ok {
		c.diff("%s: field %q missing (want %s)", where, key, strings.Join(kinds, "|"))
		return nil
	}
	k := kindOf(v)
	if slices.Contains(kinds, k) || (k == "int" && slices.Contains(kinds, "number")) {
		return v
	}
	c.diff("%s: field %q is %s %.80v, want %s", where, key, k, v, strings.Join(kinds, "|"))
	return v
}

// object checks that v is an object.
func (c *contract) object(where string, v any) map[string]any {
	c.t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		c.diff("%s: got %s, want an object", where, kindOf(v))
		return map[string]any{}
	}
	return m
}

// list checks that v is an array and returns its objects.
func (c *contract) list(where string, v any, nonEmpty bool) []map[string]any {
	c.t.Helper()
	a, ok := v.([]any)
	if !ok {
		c.diff("%s: got %s, want an array", where, kindOf(v))
		return nil
	}
	if nonEmpty && len(a) == 0 {
		c.diff("%s: empty, want at least one entry", where)
	}
	var out []map[string]any
	for i, e := range a {
		out = append(out, c.object(fmt.Sprintf("%s[%d]", where, i), e))
	}
	return out
}

// b64PNG checks that v is a base64 PNG (plain, as the WebUI sends it) and returns it
// decoded.
func (c *contract) b64PNG(where string, v any) image.Image {
	c.t.Helper()
	s, ok := v.(string)
	if !ok {
		c.diff("%s: got %s, want a base64 string", where, kindOf(v))
		return nil
	}
	if strings.HasPrefix(s, "data:") {
		c.diff("%s: a data: URI, want plain base64 (Pictor tolerates it)", where)
		_, s, _ = strings.Cut(s, ",")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		c.diff("%s: not standard base64: %v", where, err)
		return nil
	}
	return c.png(where, raw)
}

// png checks that raw is a PNG and returns it decoded.
func (c *contract) png(where string, raw []byte) image.Image {
	c.t.Helper()
	if !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		c.diff("%s: not a PNG (%.8q): is samples_format png?", where, raw)
		return nil
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		c.diff("%s: PNG does not decode: %v", where, err)
		return nil
	}
	return img
}

// pngHasAlpha reports whether a PNG has an alpha channel (colour type 4 or 6) or a
// tRNS chunk.
func pngHasAlpha(raw []byte) bool {
	return len(raw) > 25 && (raw[25] == 4 || raw[25] == 6 || bytes.Contains(raw, []byte("tRNS")))
}

// contractURL returns the real server's URL from env, or starts a stand-in and says
// that the real one was skipped.
func contractURL(t *testing.T, env, what string, standIn func() string) (string, bool) {
	t.Helper()
	if u := os.Getenv(env); u != "" {
		b, err := sdclient.ParseBackend(u)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		t.Logf("%s is set: checking the real %s at %s", env, what, b.URL)
		return u, true
	}
	t.Logf("%s is not set: the real %s was skipped; checking the in-process stand-in instead", env, what)
	return standIn(), false
}

// standIn starts a stand-in and returns its URL.
func standIn(t *testing.T, opts sdtest.Options) string {
	t.Helper()
	srv := sdtest.New(opts)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestContractWebUI checks the WebUI routes Pictor uses: the list endpoints, progress,
// txt2img, img2img with an inpainting mask, an upscale, the task route, the error
// shapes, and the rembg and segment-anything extensions.
func TestContractWebUI(t *testing.T) {
	if os.Getenv("PICTOR_SD_CONTRACT_URL") != "" {
		u, _ := contractURL(t, "PICTOR_SD_CONTRACT_URL", "WebUI", nil)
		samURL := os.Getenv("PICTOR_SAM_CONTRACT_URL")
		if samURL == "" {
			samURL = u
		}
		checkWebUI(t, u, samURL)
		return
	}
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			opts := fastOpts()
			opts.Flavor = flavor
			u, _ := contractURL(t, "PICTOR_SD_CONTRACT_URL", "WebUI", func() string { return standIn(t, opts) })
			if os.Getenv("PICTOR_SAM_CONTRACT_URL") == "" {
				t.Log("PICTOR_SAM_CONTRACT_URL is not set: the real segment-anything was skipped; checking the stand-in's")
			}
			checkWebUI(t, u, u)
		})
	}
}

func checkWebUI(t *testing.T, u, samURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), contractTimeout)
	defer cancel()
	c := &contract{t: t}
	defer func() { t.Logf("%d differences", c.n) }()
	rec := &exchangeLog{last: map[string]exchange{}}
	hc := &http.Client{Transport: rec}
	b, err := sdclient.ParseBackend(u)
	if err != nil {
		t.Fatal(err)
	}
	cl := sdclient.NewClient(b, hc)

	// The list endpoints, as CheckNames and the health check read them.
	samplers, err := cl.Samplers(ctx)
	if err != nil {
		c.diff("GET samplers: %v", err)
	}
	if ex, v, ok := rec.get("GET /sdapi/v1/samplers"); ok && ex.status == 200 {
		for i, s := range c.list("samplers", v, true) {
			w := fmt.Sprintf("samplers[%d]", i)
			c.field(w, s, "name", "string")
			c.field(w, s, "aliases", "array")
			c.field(w, s, "options", "object")
		}
	}
	if err := cl.CheckNames(ctx, sdclient.Names{Scheduler: "Automatic"}); err != nil && !errors.Is(err, sdclient.ErrUnknownName) {
		c.diff("schedulers: %v", err)
	}
	if ex, v, ok := rec.get("GET /sdapi/v1/schedulers"); ok && ex.status == 200 {
		for i, s := range c.list("schedulers", v, true) {
			w := fmt.Sprintf("schedulers[%d]", i)
			c.field(w, s, "name", "string")
			c.field(w, s, "label", "string")
			c.field(w, s, "aliases", "array", "null")
		}
	} else if ok {
		t.Logf("GET /sdapi/v1/schedulers answered %d: a WebUI before 1.9; Pictor uses A1111's list", ex.status)
	}
	upscalers, err := cl.Upscalers(ctx)
	if err != nil {
		c.diff("GET upscalers: %v", err)
	}
	if ex, v, ok := rec.get("GET /sdapi/v1/upscalers"); ok && ex.status == 200 {
		for i, s := range c.list("upscalers", v, true) {
			w := fmt.Sprintf("upscalers[%d]", i)
			c.field(w, s, "name", "string")
			c.field(w, s, "model_name", "string", "null")
			c.field(w, s, "model_path", "string", "null")
			c.field(w, s, "model_url", "string", "null")
			c.field(w, s, "scale", "number", "null")
		}
	}
	if _, err := cl.SDModels(ctx); err != nil {
		c.diff("GET sd-models: %v", err)
	}
	if ex, v, ok := rec.get("GET /sdapi/v1/sd-models"); ok && ex.status == 200 {
		for i, s := range c.list("sd-models", v, true) {
			w := fmt.Sprintf("sd-models[%d]", i)
			c.field(w, s, "title", "string")
			c.field(w, s, "model_name", "string")
			c.field(w, s, "hash", "string", "null")
			c.field(w, s, "sha256", "string", "null")
			c.field(w, s, "filename", "string")
			c.field(w, s, "config", "string", "null")
		}
	}
	if _, err := cl.Progress(ctx, true); err != nil {
		c.diff("GET progress: %v", err)
	}
	if ex, v, ok := rec.get("GET /sdapi/v1/progress"); ok && ex.status == 200 {
		checkProgress(c, c.object("progress", v), true)
	}

	// txt2img and img2img, with the fields Pictor sends.
	sampler := sdclient.DefaultSampler
	if len(samplers) > 0 && !slices.ContainsFunc(samplers, func(s sdclient.Sampler) bool { return s.Name == sampler }) {
		sampler = samplers[0].Name
	}
	gen := sdclient.GenerationParams{Prompt: "a red box on a table", NegativePrompt: "blur", SamplerName: sampler, Steps: 2, Width: 64, Height: 64, Seed: 7}
	if _, err := cl.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: gen}); err != nil {
		c.diff("POST txt2img (Pictor's request): %v", err)
	}
	if ex, v, ok := rec.get("POST /sdapi/v1/txt2img"); ok && ex.status == 200 {
		checkGeneration(c, "txt2img", c.object("txt2img", v))
	}
	src := productImage(t, 64, 64)
	img2img := sdclient.Img2ImgRequest{
		GenerationParams: gen, InitImages: [][]byte{src}, Mask: maskImage(t, 64, 64), InpaintingMaskInvert: true, MaskBlur: 4,
		InpaintingFill: sdclient.FillOriginal, DenoisingStrength: 0.75,
	}
	if _, err := cl.Img2Img(ctx, img2img); err != nil {
		c.diff("POST img2img (Pictor's inpainting request): %v", err)
	}
	if ex, v, ok := rec.get("POST /sdapi/v1/img2img"); ok && ex.status == 200 {
		checkGeneration(c, "img2img", c.object("img2img", v))
	}

	// An upscale, as sdUpscale sends it.
	upscaler := ""
	for _, u := range upscalers {
		if u.Name == "Lanczos" || (upscaler == "" && u.Name != "None") {
			upscaler = u.Name
		}
	}
	if upscaler != "" {
		r, err := cl.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: src, Upscaler1: upscaler, ResizeMode: sdclient.ExtrasScaleBy, UpscalingResize: 2})
		if err != nil {
			c.diff("POST extra-single-image (%s): %v", upscaler, err)
		} else if w, h := imageSize(t, r.Image); w != 128 || h != 128 {
			c.diff("extra-single-image: got %dx%d, want 128x128", w, h)
		}
		if ex, v, ok := rec.get("POST /sdapi/v1/extra-single-image"); ok && ex.status == 200 {
			o := c.object("extra-single-image", v)
			c.b64PNG("extra-single-image.image", c.field("extra-single-image", o, "image", "string"))
			c.field("extra-single-image", o, "html_info", "string")
		}
	}

	// The task route the pool asks before interrupting.
	if st, err := cl.TaskStatus(ctx, sdclient.NewTaskID()); errors.Is(err, sdclient.ErrNotFound) {
		t.Log("POST /internal/progress answered 404: the WebUI runs --nowebui; Pictor then never interrupts it")
	} else if err != nil {
		c.diff("POST /internal/progress: %v", err)
	} else if st.Active || st.Queued || st.Completed {
		c.diff("POST /internal/progress of an unknown task: got %+v, want all false", st)
	}
	if ex, v, ok := rec.get("POST /internal/progress"); ok && ex.status == 200 {
		o := c.object("internal/progress", v)
		for _, k := range []string{"active", "queued", "completed"} {
			c.field("internal/progress", o, k, "bool")
		}
	}

	// Error shapes: a 422 list, a 404 "Not Found".
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/sdapi/v1/txt2img", strings.NewReader(`{"steps":"many"}`))
	req.Header.Set("Content-Type", "application/json")
	if b.User != "" {
		req.SetBasicAuth(b.User, b.Password)
	}
	if resp, err := hc.Do(req); err != nil {
		c.diff("POST txt2img with a bad steps: %v", err)
	} else {
		resp.Body.Close()
		ex, v, _ := rec.get("POST /sdapi/v1/txt2img")
		if ex.status != 422 {
			c.diff("txt2img with steps \"many\": got %d %.200s, want 422", ex.status, ex.body)
		} else {
			for i, d := range c.list("422 detail", c.object("422 body", v)["detail"], true) {
				w := fmt.Sprintf("422 detail[%d]", i)
				c.field(w, d, "loc", "array")
				c.field(w, d, "msg", "string")
				c.field(w, d, "type", "string")
			}
		}
	}
	if err := missingRoute(ctx, hc, b, "/sdapi/v1/no-such-route"); !errors.Is(err, sdclient.ErrNotFound) {
		c.diff("GET an unknown route: got %v, want ErrNotFound (404 Not Found)", err)
	}

	// The rembg extension, as the WebUI path of remove_background calls it.
	mask, err := cl.Rembg(ctx, sdclient.RembgRequest{Image: src, Model: "u2net", ReturnMask: true})
	switch {
	case errors.Is(err, sdclient.ErrNotFound):
		t.Log("POST /rembg answered 404: the rembg extension is not installed; skipped")
	case err != nil:
		c.diff("POST /rembg (Pictor's request): %v", err)
	default:
		if w, h := imageSize(t, mask); w != 64 || h != 64 {
			c.diff("/rembg mask: got %dx%d, want 64x64", w, h)
		}
		if ex, v, ok := rec.get("POST /rembg"); ok && ex.status == 200 {
			c.b64PNG("/rembg image", c.field("/rembg", c.object("/rembg", v), "image", "string"))
		}
	}

	// segment-anything, on its own host when PICTOR_SAM_CONTRACT_URL says so.
	sb, err := sdclient.ParseBackend(samURL)
	if err != nil {
		t.Fatal(err)
	}
	sam := sdclient.NewClient(sb, hc)
	r, err := sam.SAMPredict(ctx, sdclient.SAMRequest{Image: src, PositivePoints: [][2]int{{32, 32}}})
	switch {
	case errors.Is(err, sdclient.ErrNotFound):
		t.Log("POST /sam/sam-predict answered 404: segment-anything is not installed; skipped")
	case err != nil:
		c.diff("POST /sam/sam-predict (Pictor's request): %v", err)
	default:
		if len(r.Masks) != 3 {
			c.diff("sam-predict: %d masks, want SAM's 3 multimask outputs", len(r.Masks))
		}
		if ex, v, ok := rec.get("POST /sam/sam-predict"); ok && ex.status == 200 {
			o := c.object("sam-predict", v)
			c.field("sam-predict", o, "msg", "string")
			for _, k := range []string{"blended_images", "masks", "masked_images"} {
				if a, ok := c.field("sam-predict", o, k, "array").([]any); ok {
					for i, m := range a {
						if img := c.b64PNG(fmt.Sprintf("sam-predict.%s[%d]", k, i), m); img != nil && img.Bounds().Size() != image.Pt(64, 64) {
							c.diff("sam-predict.%s[%d]: %v, want 64x64", k, i, img.Bounds())
						}
					}
				}
			}
		}
	}
}

// missingRoute GETs a route no backend has, through the Client's error parsing.
func missingRoute(ctx context.Context, hc *http.Client, b sdclient.Backend, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+path, nil)
	if err != nil {
		return err
	}
	if b.User != "" {
		req.SetBasicAuth(b.User, b.Password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return sdclient.ParseAPIError("no-such-route", resp.StatusCode, body)
}

// checkProgress checks a GET /progress answer.
func checkProgress(c *contract, o map[string]any, skipped bool) {
	c.t.Helper()
	c.field("progress", o, "progress", "number")
	c.field("progress", o, "eta_relative", "number")
	c.field("progress", o, "textinfo", "string", "null")
	if skipped {
		c.field("progress", o, "current_image", "null")
	} else {
		c.field("progress", o, "current_image", "string", "null")
	}
	st := c.object("progress.state", c.field("progress", o, "state", "object"))
	for _, k := range []string{"skipped", "interrupted"} {
		c.field("progress.state", st, k, "bool")
	}
	c.field("progress.state", st, "job", "string")
	c.field("progress.state", st, "job_timestamp", "string")
	for _, k := range []string{"job_count", "job_no", "sampling_step", "sampling_steps"} {
		c.field("progress.state", st, k, "int")
	}
}

// checkGeneration checks a txt2img or img2img answer: base64 PNG images, the
// parameters object and info, a JSON object encoded in a string.
func checkGeneration(c *contract, name string, o map[string]any) {
	c.t.Helper()
	if imgs, ok := c.field(name, o, "images", "array").([]any); ok {
		if len(imgs) == 0 {
			c.diff("%s.images: empty", name)
		}
		for i, im := range imgs {
			c.b64PNG(fmt.Sprintf("%s.images[%d]", name, i), im)
		}
	}
	c.field(name, o, "parameters", "object")
	s, ok := c.field(name, o, "info", "string").(string)
	if !ok {
		return
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var info any
	if err := dec.Decode(&info); err != nil {
		c.diff("%s.info: not JSON inside the string: %v", name, err)
		return
	}
	inf := c.object(name+".info", info)
	w := name + ".info"
	c.field(w, inf, "seed", "int")
	c.field(w, inf, "all_seeds", "array")
	c.field(w, inf, "sampler_name", "string")
	c.field(w, inf, "steps", "int")
	c.field(w, inf, "width", "int")
	c.field(w, inf, "height", "int")
	c.field(w, inf, "sd_model_name", "string", "null")
	c.field(w, inf, "sd_model_hash", "string", "null")
	c.field(w, inf, "infotexts", "array")
	c.field(w, inf, "extra_generation_params", "object")
}

// TestContractRembgServer checks rembg's standalone server as the rembg-server
// backend uses it: /openapi.json (health and models), a cut-out with alpha, a mask,
// and the 422 shapes.
func TestContractRembgServer(t *testing.T) {
	t.Parallel()
	u, real := contractURL(t, "PICTOR_REMBG_CONTRACT_URL", "rembg server", func() string { return standIn(t, rembgOpts()) })
	ctx, cancel := context.WithTimeout(t.Context(), contractTimeout)
	defer cancel()
	c := &contract{t: t}
	defer func() { t.Logf("%d differences", c.n) }()
	rec := &exchangeLog{last: map[string]exchange{}}
	hc := &http.Client{Transport: rec}
	b, err := sdclient.ParseBackend(u)
	if err != nil {
		t.Fatal(err)
	}
	cl := sdclient.NewRembgClient(b, hc)

	info, err := cl.RembgServerInfo(ctx)
	if err != nil {
		c.diff("GET /openapi.json: %v", err)
	} else {
		if info.Title != "Rembg" {
			c.diff("openapi title: got %q, want Rembg", info.Title)
		}
		if !info.ModelsListed {
			c.diff("openapi: no model pattern to read the models from; Pictor falls back to rembg %s's list", sdtest.RembgVersion)
		}
		for _, m := range []string{"u2net", "u2netp", "isnet-general-use", "u2net_cloth_seg"} {
			if !slices.Contains(info.Models, m) {
				c.diff("openapi models: %q missing from %v", m, info.Models)
			}
		}
		if !real && !slices.Equal(info.Models, sdtest.RembgServerModels()) {
			c.diff("stand-in models: got %v", info.Models)
		}
	}

	const w, h = 64, 48
	src := productImage(t, w, h)
	cut, err := cl.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "u2net"})
	if err != nil {
		c.diff("POST /api/remove (cut-out): %v", err)
	} else {
		if img := c.png("cut-out", cut); img != nil && img.Bounds().Size() != image.Pt(w, h) {
			c.diff("cut-out: %v, want %dx%d", img.Bounds(), w, h)
		}
		if !pngHasAlpha(cut) {
			c.diff("cut-out: PNG without alpha")
		}
		if ex, _, _ := rec.get("POST /api/remove"); ex.header.Get("Content-Type") != "image/png" {
			c.diff("cut-out: Content-Type %q, want image/png", ex.header.Get("Content-Type"))
		}
	}
	mask, err := cl.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "u2net", OnlyMask: true})
	if err != nil {
		c.diff("POST /api/remove (om): %v", err)
	} else if img := c.png("mask", mask); img != nil {
		if _, gray := img.(*image.Gray); !gray || img.Bounds().Size() != image.Pt(w, h) {
			c.diff("mask: %T %v, want an L PNG %dx%d", img, img.Bounds(), w, h)
		}
	}

	// The 422 shapes: no file; a model outside the pattern.
	for _, tc := range []struct {
		name, body, ct string
		loc            string
	}{
		{"no file", "--b\r\nContent-Disposition: form-data; name=\"om\"\r\n\r\ntrue\r\n--b--\r\n", "multipart/form-data; boundary=b", "body.file"},
		{"bad model", "", "", "body.model"},
	} {
		var err error
		if tc.name == "bad model" {
			_, err = cl.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "no-such-model"})
		} else {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/api/remove", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ct)
			resp, derr := hc.Do(req)
			if derr != nil {
				c.diff("%s: %v", tc.name, derr)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err = sdclient.ParseAPIError("rembg-remove", resp.StatusCode, body)
		}
		var ae *sdclient.APIError
		if !errors.As(err, &ae) || ae.Status != 422 || !errors.Is(err, sdclient.ErrBadRequest) {
			c.diff("%s: got %v, want a 422 ErrBadRequest", tc.name, err)
			continue
		}
		if !slices.ContainsFunc(ae.Validation, func(v sdclient.ValidationIssue) bool {
			return strings.Join(v.Loc, ".") == tc.loc && v.Msg != "" && v.Type != ""
		}) {
			c.diff("%s: 422 issues %v, want one at %s with msg and type", tc.name, ae.Validation, tc.loc)
		}
	}
}
