package sdclient_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// TestCheckNamesMatchBackend holds CheckNames to what the strict stand-in
// (like the WebUI) really does with a name: every name it accepts runs as
// itself, and every name it refuses would have run as something else.
// Refusals list the close matches.
func TestCheckNamesMatchBackend(t *testing.T) {
	t.Parallel()
	const (
		inpaint      = "realisticVisionV60B1_v51VAE-inpainting.safetensors [b7aa5c4ecd]"
		inpaintModel = "realisticVisionV60B1_v51VAE-inpainting"
		inpaintPath  = "/stable-diffusion-webui/models/Stable-diffusion/realisticVisionV60B1_v51VAE-inpainting.safetensors"
	)
	tests := []struct {
		name   string
		flavor string // "" = both
		names  sdclient.Names
		// What the backend must report it used when accepted.
		wantSampler, wantSched, wantModel string
		// What the refusal must say when refused.
		wantKind, wantSuggestion string
	}{
		{name: "sampler as listed", names: sdclient.Names{Sampler: "Euler a"}, wantSampler: "Euler a", wantSched: "Automatic"},
		{name: "sampler in another case", names: sdclient.Names{Sampler: "euler a"}, wantKind: "sampler", wantSuggestion: "Euler a"},
		{name: "sampler alias", names: sdclient.Names{Sampler: "k_euler_a"}, wantKind: "sampler", wantSuggestion: "Euler a"},
		{name: "sampler misspelt", names: sdclient.Names{Sampler: "Eular a Karras"}, wantKind: "sampler", wantSuggestion: "Euler a Karras"},
		{name: "sampler with scheduler label", names: sdclient.Names{Sampler: "Euler a Karras"}, wantSampler: "Euler a", wantSched: "Karras"},
		{name: "sampler with its own default scheduler", names: sdclient.Names{Sampler: "DPM++ 2M karras"}, wantSampler: "DPM++ 2M", wantSched: "Automatic"},
		{name: "alias with scheduler", names: sdclient.Names{Sampler: "k_euler Karras"}, wantKind: "sampler", wantSuggestion: "Euler Karras"},
		{name: "scheduler label", names: sdclient.Names{Sampler: "Euler", Scheduler: "Exponential"}, wantSampler: "Euler", wantSched: "Exponential"},
		{name: "scheduler name", names: sdclient.Names{Sampler: "Euler", Scheduler: "sgm_uniform"}, wantSampler: "Euler", wantSched: "SGM Uniform"},
		{name: "scheduler in another case", names: sdclient.Names{Sampler: "Euler", Scheduler: "KARRAS"}, wantKind: "scheduler", wantSuggestion: "Karras"},
		{name: "forge scheduler on forge", flavor: sdtest.FlavorForge, names: sdclient.Names{Sampler: "Euler", Scheduler: "Align Your Steps GITS"}, wantSampler: "Euler", wantSched: "Align Your Steps GITS"},
		{name: "forge scheduler suffix on forge", flavor: sdtest.FlavorForge, names: sdclient.Names{Sampler: "Euler a Turbo"}, wantSampler: "Euler a", wantSched: "Turbo"},
		{name: "forge scheduler on a1111", flavor: sdtest.FlavorA1111, names: sdclient.Names{Sampler: "Euler", Scheduler: "Align Your Steps GITS"}, wantKind: "scheduler", wantSuggestion: "Align Your Steps"},
		{name: "checkpoint title", names: sdclient.Names{Checkpoint: inpaint}, wantModel: inpaintModel},
		{name: "checkpoint without hash", names: sdclient.Names{Checkpoint: "realisticVisionV60B1_v51VAE-inpainting.safetensors"}, wantModel: inpaintModel},
		{name: "checkpoint model name", names: sdclient.Names{Checkpoint: inpaintModel}, wantModel: inpaintModel},
		{name: "checkpoint short hash", names: sdclient.Names{Checkpoint: "b7aa5c4ecd"}, wantModel: inpaintModel},
		{name: "checkpoint file path", names: sdclient.Names{Checkpoint: inpaintPath}, wantKind: "checkpoint", wantSuggestion: inpaint},
		{name: "checkpoint relative path", names: sdclient.Names{Checkpoint: "models/Stable-diffusion/realisticVisionV60B1_v51VAE-inpainting.safetensors"}, wantKind: "checkpoint", wantSuggestion: inpaint},
		{name: "checkpoint in another case", names: sdclient.Names{Checkpoint: strings.ToLower(inpaintModel)}, wantKind: "checkpoint", wantSuggestion: inpaint},
		{name: "unknown upscaler", names: sdclient.Names{Upscaler: "R-ESRGAN 4x"}, wantKind: "upscaler", wantSuggestion: "R-ESRGAN 4x+"},
		{name: "unknown rembg model", names: sdclient.Names{RembgModel: "u2net-cloth-seg"}, wantKind: "rembg model", wantSuggestion: "u2net_cloth_seg"},
	}
	for _, flavor := range flavors {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			opts := sdtest.DefaultOptions()
			opts.Flavor = flavor
			opts.StepLatency = 0
			_, c := setup(t, opts, "")
			for _, tt := range tests {
				if tt.flavor != "" && tt.flavor != flavor {
					continue
				}
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					err := c.CheckNames(ctx, tt.names)
					if tt.wantKind != "" {
						var ue *sdclient.UnknownNameError
						if !errors.As(err, &ue) || !errors.Is(err, sdclient.ErrUnknownName) || !errors.Is(err, sdclient.ErrBadRequest) {
							t.Fatalf("CheckNames(%+v): got %v, want an *UnknownNameError matching ErrUnknownName and ErrBadRequest", tt.names, err)
						}
						if ue.Kind != tt.wantKind || !slices.Contains(ue.Suggestions, tt.wantSuggestion) {
							t.Errorf("refusal: got kind %q suggestions %q, want kind %q suggesting %q", ue.Kind, ue.Suggestions, tt.wantKind, tt.wantSuggestion)
						}
						if !strings.Contains(err.Error(), `"`+tt.wantSuggestion+`"`) {
							t.Errorf("error text: got %q, want it to list %q", err, tt.wantSuggestion)
						}
						return
					}
					if err != nil {
						t.Fatalf("CheckNames(%+v): got %v, want nil", tt.names, err)
					}
					// Accepted: the backend must run exactly that.
					res, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: sdclient.GenerationParams{
						Steps: 1, Width: 8, Height: 8, SamplerName: tt.names.Sampler, Scheduler: tt.names.Scheduler, Checkpoint: tt.names.Checkpoint,
					}})
					if err != nil {
						t.Fatal(err)
					}
					if tt.wantSampler != "" && res.Info.SamplerName != tt.wantSampler {
						t.Errorf("sampler run: got %q, want %q", res.Info.SamplerName, tt.wantSampler)
					}
					if tt.wantSched != "" && res.Info.Scheduler() != tt.wantSched {
						t.Errorf("scheduler run: got %q, want %q", res.Info.Scheduler(), tt.wantSched)
					}
					if tt.wantModel != "" && res.Info.SDModelName != tt.wantModel {
						t.Errorf("checkpoint run: got %q, want %q", res.Info.SDModelName, tt.wantModel)
					}
				})
			}
		})
	}
}

// TestCheckNamesEmptyAndFirst checks that empty names are not checked and
// that the first unknown name is the one reported.
func TestCheckNamesEmptyAndFirst(t *testing.T) {
	t.Parallel()
	_, c := setup(t, sdtest.DefaultOptions(), "")
	ctx := context.Background()
	if err := c.CheckNames(ctx, sdclient.Names{}); err != nil {
		t.Fatalf("CheckNames(empty): got %v, want nil", err)
	}
	err := c.CheckNames(ctx, sdclient.Names{Sampler: "Euler a", Upscaler: "Bogus Upscaler 9000", RembgModel: "u3net"})
	var ue *sdclient.UnknownNameError
	if !errors.As(err, &ue) || ue.Kind != "upscaler" {
		t.Fatalf("CheckNames: got %v, want the upscaler refused", err)
	}
	if len(ue.Suggestions) != 0 {
		t.Errorf("suggestions for %q: got %q, want none (nothing is close)", ue.Name, ue.Suggestions)
	}
}
