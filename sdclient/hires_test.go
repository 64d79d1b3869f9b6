package sdclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/draw"
	"image/png"
	"testing"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// TestHiresNegativePrompt runs a hires txt2img with and without a negative
// prompt on both flavors. Forge's hires pass defaults hr_cfg to 1.0, which
// turns guidance off there and drops the negative prompt, so the client
// must detect Forge and send hr_cfg; A1111 has no such field (the strict
// stand-in refuses it). Either way the negative prompt must change the
// picture.
func TestHiresNegativePrompt(t *testing.T) {
	t.Parallel()
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			opts := sdtest.DefaultOptions()
			opts.Flavor = flavor
			opts.StepLatency = 0
			_, c := setup(t, opts, "")
			ctx := context.Background()
			run := func(neg string) *sdclient.GenerationResponse {
				t.Helper()
				res, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{
					GenerationParams: sdclient.GenerationParams{Prompt: "a red mug", NegativePrompt: neg, Seed: 42, Steps: 2, Width: 32, Height: 32, CFGScale: 5},
					EnableHR:         true, HRScale: 2, HRUpscaler: "Lanczos", DenoisingStrength: 1,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Results()) != 1 {
					t.Fatalf("results: got %d, want 1", len(res.Results()))
				}
				return res
			}
			with, without := run("blurry, text"), run("")
			if bytes.Equal(pixels(t, with.Results()[0]), pixels(t, without.Results()[0])) {
				t.Errorf("hires picture with a negative prompt: got the same as without, want the negative prompt to take effect")
			}
			var params map[string]any
			if err := json.Unmarshal(with.Parameters, &params); err != nil {
				t.Fatal(err)
			}
			fl, err := c.Flavor(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(fl) != flavor {
				t.Errorf("Flavor: got %q, want %q", fl, flavor)
			}
			if flavor == sdtest.FlavorForge {
				if got := params["hr_cfg"]; got != 5.0 {
					t.Errorf("hr_cfg echoed: got %v, want 5 (the first pass's CFG scale)", got)
				}
				if got := with.Info.InfotextParam("Hires CFG Scale"); got != "5.0" {
					t.Errorf("infotext Hires CFG Scale: got %q, want 5.0", got)
				}
			}
		})
	}
}

// pixels decodes a PNG to its RGBA pixels (text chunks such as the infotext
// left out).
func pixels(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
	return rgba.Pix
}
