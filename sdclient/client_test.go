package sdclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// setup starts a stand-in WebUI and returns it with a Client for it.
// creds, when not "", are put into the backend URL as user:pass.
func setup(t *testing.T, opts sdtest.Options, creds string) (*sdtest.Server, *sdclient.Client) {
	t.Helper()
	srv := sdtest.New(opts)
	t.Cleanup(srv.Close)
	return srv, sdclient.NewClient(backendFor(t, srv, creds), nil)
}

func backendFor(t *testing.T, srv *sdtest.Server, creds string) sdclient.Backend {
	t.Helper()
	u := srv.URL
	if creds != "" {
		u = strings.Replace(u, "http://", "http://"+creds+"@", 1)
	}
	b, err := sdclient.ParseBackend(u)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func imageSize(t *testing.T, b []byte) (int, int) {
	t.Helper()
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("result is not a decodable image: %v", err)
	}
	return cfg.Width, cfg.Height
}

var flavors = []string{sdtest.FlavorA1111, sdtest.FlavorForge}

func TestClientEndpoints(t *testing.T) {
	t.Parallel()
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			opts := sdtest.DefaultOptions()
			opts.StepLatency = time.Millisecond
			opts.Flavor = flavor
			_, c := setup(t, opts, "")
			ctx := context.Background()
			src := pngImage(t, 64, 48)

			t.Run("upscalers", func(t *testing.T) {
				t.Parallel()
				ups, err := c.Upscalers(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(ups, func(u sdclient.Upscaler) bool { return u.Name == "R-ESRGAN 4x+" }) {
					t.Errorf("Upscalers() = %+v, want R-ESRGAN 4x+ among them", ups)
				}
			})
			t.Run("sd-models", func(t *testing.T) {
				t.Parallel()
				models, err := c.SDModels(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var titles []string
				for _, m := range models {
					titles = append(titles, m.Title)
				}
				if want := sdtest.DefaultCheckpoints(); !slices.Equal(titles, want) {
					t.Errorf("SDModels() titles = %q, want %q", titles, want)
				}
			})
			t.Run("samplers", func(t *testing.T) {
				t.Parallel()
				ss, err := c.Samplers(ctx)
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(ss, func(s sdclient.Sampler) bool { return s.Name == "Euler a" })
				if i < 0 || !slices.Contains(ss[i].Aliases, "k_euler_a") {
					t.Errorf("Samplers() = %+v, want Euler a with alias k_euler_a", ss)
				}
			})
			t.Run("memory", func(t *testing.T) {
				t.Parallel()
				m, err := c.Memory(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.RAM.Total <= 0 {
					t.Errorf("Memory().RAM.Total = %v, want > 0", m.RAM.Total)
				}
			})
			t.Run("txt2img with grid", func(t *testing.T) {
				t.Parallel()
				resp, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: sdclient.GenerationParams{
					Prompt: "a red shoe", Steps: 2, Width: 64, Height: 64, BatchSize: 2, Seed: 7,
					// The API returns a grid only when it would save one.
					Extra: map[string]any{"save_images": true},
				}})
				if err != nil {
					t.Fatal(err)
				}
				if got := len(resp.Images); got != 3 {
					t.Fatalf("len(Images) = %d, want 3 (grid and two results)", got)
				}
				if got := resp.Info.IndexOfFirstImage; got != 1 {
					t.Errorf("Info.IndexOfFirstImage = %d, want 1", got)
				}
				if got := resp.Info.Seed; got != 7 {
					t.Errorf("Info.Seed = %d, want 7", got)
				}
				if got := resp.Info.AllSeeds; !slices.Equal(got, []int64{7, 8}) {
					t.Errorf("Info.AllSeeds = %v, want [7 8]", got)
				}
				res := resp.Results()
				if len(res) != 2 {
					t.Fatalf("len(Results()) = %d, want 2", len(res))
				}
				for i, r := range res {
					if w, h := imageSize(t, r); w != 64 || h != 64 {
						t.Errorf("Results()[%d] is %dx%d, want 64x64 (not the grid)", i, w, h)
					}
				}
				if gw, gh := imageSize(t, resp.Images[0]); gw == 64 && gh == 64 {
					t.Errorf("Images[0] is %dx%d: want the grid, larger than one result", gw, gh)
				}
			})
			t.Run("img2img inpaint", func(t *testing.T) {
				t.Parallel()
				mask := maskImage(t, 64, 48)
				resp, err := c.Img2Img(ctx, sdclient.Img2ImgRequest{
					GenerationParams:     sdclient.GenerationParams{Prompt: "studio background", Steps: 4, Width: 64, Height: 48},
					InitImages:           [][]byte{src},
					Mask:                 mask,
					InpaintingMaskInvert: true,
					MaskBlur:             2,
					InpaintingFill:       sdclient.FillOriginal,
					DenoisingStrength:    0.9,
				})
				if err != nil {
					t.Fatal(err)
				}
				res := resp.Results()
				if len(res) != 1 {
					t.Fatalf("len(Results()) = %d, want 1", len(res))
				}
				if w, h := imageSize(t, res[0]); w != 64 || h != 48 {
					t.Errorf("result is %dx%d, want 64x48", w, h)
				}
				if resp.Info.Seed <= 0 {
					t.Errorf("Info.Seed = %d, want the random seed used (> 0)", resp.Info.Seed)
				}
				if got := resp.Info.Steps; got != 4 {
					t.Errorf("Info.Steps = %d, want 4", got)
				}
			})
			t.Run("extra-single-image", func(t *testing.T) {
				t.Parallel()
				resp, err := c.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: src, UpscalingResize: 2, Upscaler1: "R-ESRGAN 4x+"})
				if err != nil {
					t.Fatal(err)
				}
				if w, h := imageSize(t, resp.Image); w != 128 || h != 96 {
					t.Errorf("upscaled image is %dx%d, want 128x96", w, h)
				}
			})
			t.Run("rembg", func(t *testing.T) {
				t.Parallel()
				out, err := c.Rembg(ctx, sdclient.RembgRequest{Image: productImage(t, 64, 48)})
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatalf("Rembg result is not a PNG: %v", err)
				}
				if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
					t.Errorf("corner alpha = %d, want 0 (background removed)", a)
				}
				if _, _, _, a := img.At(32, 24).RGBA(); a == 0 {
					t.Errorf("centre alpha = 0, want the product kept")
				}
			})
			t.Run("sam-predict", func(t *testing.T) {
				t.Parallel()
				resp, err := c.SAMPredict(ctx, sdclient.SAMRequest{Image: productImage(t, 64, 48), PositivePoints: [][2]int{{32, 24}}})
				if err != nil {
					t.Fatal(err)
				}
				if !resp.Found() {
					t.Fatalf("SAMPredict found nothing: msg %q", resp.Msg)
				}
				imageSize(t, resp.Masks[0])
				empty, err := c.SAMPredict(ctx, sdclient.SAMRequest{Image: productImage(t, 64, 48)})
				if err != nil {
					t.Fatal(err)
				}
				if empty.Found() || empty.Msg == "" {
					t.Errorf("SAMPredict without a prompt: Found() = %v, Msg = %q; want false and a message", empty.Found(), empty.Msg)
				}
			})
			t.Run("progress", func(t *testing.T) {
				t.Parallel()
				p, err := c.Progress(ctx, true)
				if err != nil {
					t.Fatal(err)
				}
				if p.CurrentImage != nil {
					t.Errorf("Progress(skip) has a preview of %d bytes, want none", len(p.CurrentImage))
				}
				if err := c.Interrupt(ctx); err != nil {
					t.Errorf("Interrupt: %v", err)
				}
			})
		})
	}
}

func TestClientProgressDuringJob(t *testing.T) {
	t.Parallel()
	opts := sdtest.DefaultOptions()
	opts.StepLatency = 5 * time.Millisecond
	_, c := setup(t, opts, "")
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: sdclient.GenerationParams{Steps: 2000, Width: 64, Height: 64}})
		done <- err
	}()
	var p *sdclient.Progress
	for {
		var err error
		p, err = c.Progress(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.State.SamplingStep > 0 && p.CurrentImage != nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("job ended (%v) before progress showed a step with a preview", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if p.Progress <= 0 || p.State.SamplingSteps != 2000 {
		t.Errorf("Progress = %v, SamplingSteps = %d; want > 0 and 2000", p.Progress, p.State.SamplingSteps)
	}
	imageSize(t, p.CurrentImage)
	if err := c.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("interrupted Txt2Img: %v, want partial results and no error", err)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			opts := sdtest.DefaultOptions()
			opts.StepLatency = time.Millisecond
			opts.Flavor = flavor
			srv, c := setup(t, opts, "")
			ctx := context.Background()
			small := sdclient.GenerationParams{Steps: 2, Width: 64, Height: 64}

			t.Run("422 validation", func(t *testing.T) {
				g := small
				g.Extra = map[string]any{"n_iter": "many"}
				_, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: g})
				var ae *sdclient.APIError
				if !errors.As(err, &ae) || !errors.Is(err, sdclient.ErrBadRequest) {
					t.Fatalf("error = %v, want an *APIError matching ErrBadRequest", err)
				}
				if ae.Status != 422 || len(ae.Validation) == 0 {
					t.Fatalf("Status = %d, Validation = %v; want 422 with issues", ae.Status, ae.Validation)
				}
				if loc := strings.Join(ae.Validation[0].Loc, "."); loc != "body.n_iter" {
					t.Errorf("Validation[0].Loc = %q, want %q", loc, "body.n_iter")
				}
				if flavor == sdtest.FlavorForge && string(ae.Validation[0].Input) != `"many"` {
					t.Errorf("Validation[0].Input = %s, want %q (pydantic v2)", ae.Validation[0].Input, "many")
				}
			})
			t.Run("oom", func(t *testing.T) {
				srv.FailNext(sdtest.FailOOM, 1)
				_, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: small})
				var ae *sdclient.APIError
				if !errors.As(err, &ae) || !errors.Is(err, sdclient.ErrOutOfMemory) || errors.Is(err, sdclient.ErrBackend) {
					t.Fatalf("error = %v, want an *APIError matching only ErrOutOfMemory", err)
				}
				if ae.Kind != "OutOfMemoryError" || !strings.Contains(strings.ToLower(ae.Message), "out of memory") {
					t.Errorf("Kind = %q, Message = %q; want OutOfMemoryError and the CUDA message", ae.Kind, ae.Message)
				}
			})
			t.Run("500", func(t *testing.T) {
				srv.FailNext(sdtest.Fail500, 1)
				_, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: small})
				if !errors.Is(err, sdclient.ErrBackend) {
					t.Fatalf("error = %v, want ErrBackend", err)
				}
			})
			t.Run("unknown upscaler", func(t *testing.T) {
				_, err := c.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: pngImage(t, 16, 16), Upscaler1: "Nope 9x"})
				if !errors.Is(err, sdclient.ErrBadRequest) {
					t.Fatalf("error = %v, want ErrBadRequest", err)
				}
			})
			t.Run("invalid image", func(t *testing.T) {
				_, err := c.Img2Img(ctx, sdclient.Img2ImgRequest{GenerationParams: small, InitImages: [][]byte{[]byte("not an image")}})
				if !errors.Is(err, sdclient.ErrBadRequest) {
					t.Fatalf("error = %v, want ErrBadRequest", err)
				}
			})
			t.Run("route missing", func(t *testing.T) {
				nc := sdclient.NewClient(sdclient.Backend{URL: srv.URL + "/no-such-prefix"}, nil)
				_, err := nc.Rembg(ctx, sdclient.RembgRequest{Image: pngImage(t, 16, 16)})
				if !errors.Is(err, sdclient.ErrNotFound) || !errors.Is(err, sdclient.ErrBadRequest) {
					t.Fatalf("error = %v, want ErrNotFound and ErrBadRequest", err)
				}
			})
		})
	}
}

func TestClientAuth(t *testing.T) {
	t.Parallel()
	opts := sdtest.DefaultOptions()
	opts.Auth = "pictor:s3cret"
	srv := sdtest.New(opts)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	tests := []struct {
		name       string
		creds      string
		want       error
		wantDetail string
	}{
		{name: "no credentials", creds: "", want: sdclient.ErrUnauthorized, wantDetail: "Not authenticated"},
		{name: "wrong password", creds: "pictor:nope", want: sdclient.ErrUnauthorized, wantDetail: "Incorrect username or password"},
		{name: "right credentials", creds: "pictor:s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sdclient.NewClient(backendFor(t, srv, tt.creds), nil)
			_, err := c.Samplers(ctx)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Samplers: %v", err)
				}
			} else {
				var ae *sdclient.APIError
				if !errors.Is(err, tt.want) || !errors.As(err, &ae) {
					t.Fatalf("Samplers error = %v, want %v", err, tt.want)
				}
				if ae.Status != 401 || ae.Detail != tt.wantDetail {
					t.Errorf("Status, Detail = %d, %q; want 401, %q", ae.Status, ae.Detail, tt.wantDetail)
				}
			}
			// Extension routes are not behind --api-auth.
			if _, err := c.Rembg(ctx, sdclient.RembgRequest{Image: productImage(t, 32, 32)}); err != nil {
				t.Errorf("Rembg: %v, want no error (extension routes are open)", err)
			}
		})
	}
}

func TestCheckNamesCaches(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sdapi/v1/samplers" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		_ = json.NewEncoder(w).Encode([]map[string]any{{"name": "Euler a", "aliases": []string{"k_euler_a"}, "options": map[string]any{}}})
	}))
	t.Cleanup(srv.Close)
	c := sdclient.NewClient(sdclient.Backend{URL: srv.URL}, nil)
	ctx := context.Background()
	for range 3 {
		if err := c.CheckNames(ctx, sdclient.Names{Sampler: "Euler a"}); err != nil {
			t.Fatal(err)
		}
	}
	// A miss on a fresh list is answered from the cache too.
	if err := c.CheckNames(ctx, sdclient.Names{Sampler: "Heun"}); !errors.Is(err, sdclient.ErrUnknownName) {
		t.Fatalf("CheckNames(Heun) = %v, want ErrUnknownName", err)
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("samplers fetched %d times, want 1", got)
	}
	if err := c.CheckNames(ctx, sdclient.Names{Checkpoint: "x"}); !errors.Is(err, sdclient.ErrNotFound) {
		t.Errorf("CheckNames on a backend without sd-models = %v, want the list call's ErrNotFound", err)
	}
}
