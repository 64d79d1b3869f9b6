package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// TestReplaceBackgroundNames runs replace_background against the strict stand-in with
// the sampler, scheduler and checkpoint a deployment configures. Names are matched
// exactly as the backend lists them (a near miss is refused, naming the close match,
// instead of silently running the backend's default), and lineage records what the
// backend reports it ran, not what was asked.
func TestReplaceBackgroundNames(t *testing.T) {
	t.Parallel()
	const inpaint = "realisticVisionV60B1_v51VAE-inpainting.safetensors [b7aa5c4ecd]"
	recipe := `{"steps": [{"op": "replace_background", "prompt": "on a marble table", "seed": 3, "steps": 2}], "outputs": [{"name": "main", "format": "png"}]}`
	tests := []struct {
		name                        string
		flavor                      string
		sd                          SD
		wantSampler, wantSched      string
		wantModel                   string
		wantRefused, wantSuggestion string
	}{
		{name: "sampler with scheduler", sd: SD{Sampler: "Euler a Karras", Checkpoint: inpaint},
			wantSampler: "Euler a", wantSched: "Karras", wantModel: "realisticVisionV60B1_v51VAE-inpainting"},
		{name: "default sampler", sd: SD{},
			wantSampler: sdclient.DefaultSampler, wantSched: "Automatic", wantModel: "sd_xl_base_1.0"},
		{name: "forge scheduler", flavor: sdtest.FlavorForge, sd: SD{Sampler: "Euler", Scheduler: "Align Your Steps 11"},
			wantSampler: "Euler", wantSched: "Align Your Steps 11", wantModel: "sd_xl_base_1.0"},
		{name: "sampler in another case", sd: SD{Sampler: "euler a"}, wantRefused: "sampler", wantSuggestion: "Euler a"},
		{name: "sampler alias", sd: SD{Sampler: "k_dpmpp_2m"}, wantRefused: "sampler", wantSuggestion: "DPM++ 2M"},
		{name: "checkpoint file path", sd: SD{Checkpoint: "/stable-diffusion-webui/models/Stable-diffusion/realisticVisionV60B1_v51VAE-inpainting.safetensors"},
			wantRefused: "checkpoint", wantSuggestion: inpaint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := sdtest.DefaultOptions()
			opts.StepLatency = 0
			if tt.flavor != "" {
				opts.Flavor = tt.flavor
			}
			srv := sdtest.New(opts)
			t.Cleanup(srv.Close)
			env := sdEnv(t, srv.URL)
			pool := env.SD.Pool
			*env.SD = tt.sd
			env.SD.Pool = pool
			out, err := Run(context.Background(), env, productShot(t, 160, 128), mustRecipe(t, recipe), RunOptions{})
			if tt.wantRefused != "" {
				var ue *sdclient.UnknownNameError
				if !errors.As(err, &ue) || ue.Kind != tt.wantRefused || !errors.Is(err, sdclient.ErrUnknownName) {
					t.Fatalf("error: got %v, want the %s refused (ErrUnknownName, a 422)", err, tt.wantRefused)
				}
				if !strings.Contains(err.Error(), `"`+tt.wantSuggestion+`"`) {
					t.Errorf("error: got %q, want it to name %q", err, tt.wantSuggestion)
				}
				for _, c := range srv.Calls() {
					if c.Endpoint == "/sdapi/v1/img2img" {
						t.Errorf("img2img was called with a refused name")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lin := out[0].Lineage
			if lin["sampler"] != tt.wantSampler || lin["scheduler"] != tt.wantSched || lin["model"] != tt.wantModel {
				t.Errorf("lineage: got sampler %q scheduler %q model %q, want %q %q %q",
					lin["sampler"], lin["scheduler"], lin["model"], tt.wantSampler, tt.wantSched, tt.wantModel)
			}
		})
	}
}
