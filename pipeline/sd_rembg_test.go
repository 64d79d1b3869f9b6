package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// rembgEnv is an Env with only a standalone rembg server (no WebUI): the stand-in's.
func rembgEnv(t *testing.T) (Env, *sdtest.Server) {
	t.Helper()
	srv := sdtest.New(sdtest.Options{StepLatency: 1, RembgServer: true})
	t.Cleanup(srv.Close)
	cfg := sdclient.DefaultPoolConfig()
	cfg.Kind = sdclient.KindRembg
	pool, err := sdclient.NewPool([]sdclient.Backend{{URL: srv.URL}}, cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return Env{SD: &SD{Rembg: pool}}, srv
}

// TestRemoveBackgroundRembgServer runs remove_background engine sd on a standalone rembg
// server: the mask comes from POST /api/remove (u2net_cloth_seg's stacked RGBA canvas
// read as the union of its classes), the product stays, the background goes, and
// lineage says where it ran.
func TestRemoveBackgroundRembgServer(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"u2net", "u2net_cloth_seg"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			env, srv := rembgEnv(t)
			const w, h = 200, 160
			recipe := `{"steps": [{"op": "remove_background", "engine": "sd", "model": "` + model + `"}], "outputs": [{"name": "main", "format": "png"}]}`
			out, err := Run(context.Background(), env, productShot(t, w, h), mustRecipe(t, recipe), RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(out[0].Data))
			if err != nil {
				t.Fatal(err)
			}
			prod := image.Rect(w/5, h/5, w*4/5, h*4/5)
			wrong := 0
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					_, _, _, a := img.At(x, y).RGBA()
					in := image.Pt(x, y).In(prod)
					edge := image.Pt(x, y).In(prod.Inset(-1)) && !image.Pt(x, y).In(prod.Inset(1))
					if !edge && (in && a < 0xf000 || !in && a > 0x0fff) {
						wrong++
					}
				}
			}
			if wrong > 0 {
				t.Errorf("alpha: %d pixels wrong, want 0", wrong)
			}
			if lin := out[0].Lineage; lin["mask_model"] != model || lin["mask_backend"] != "rembg server" {
				t.Errorf("lineage: got %v", lin)
			}
			calls := srv.Calls()
			if len(calls) != 1 || calls[0].Endpoint != "/api/remove" || calls[0].Status != 200 {
				t.Errorf("server calls: got %+v, want one POST /api/remove answered 200", calls)
			}
		})
	}
}

// TestRembgServerOnlyServes checks what a rembg server alone can run: rembg cut-outs,
// not segment-anything, upscales or painted backgrounds.
func TestRembgServerOnlyServes(t *testing.T) {
	t.Parallel()
	env, _ := rembgEnv(t)
	cases := []struct {
		recipe string
		serves bool
	}{
		{`{"steps": [{"op": "remove_background", "engine": "sd", "model": "isnet-general-use"}], "outputs": [{"name": "o", "format": "png"}]}`, true},
		{`{"steps": [{"op": "remove_background", "engine": "sd", "model": "sam"}], "outputs": [{"name": "o", "format": "png"}]}`, false},
		{`{"steps": [{"op": "upscale", "engine": "sd", "factor": 2}], "outputs": [{"name": "o", "format": "png"}]}`, false},
		{`{"steps": [{"op": "remove_background", "engine": "sd"}, {"op": "replace_background", "prompt": "a table"}], "outputs": [{"name": "o", "format": "png"}]}`, false},
	}
	for _, c := range cases {
		if got := env.SD.Serves(mustRecipe(t, c.recipe)); got != c.serves {
			t.Errorf("Serves(%s) = %v, want %v", c.recipe, got, c.serves)
		}
	}
	if (*SD)(nil).Serves(mustRecipe(t, cases[0].recipe)) {
		t.Error("a nil SD serves a cut-out")
	}
	_, err := Run(context.Background(), env, productShot(t, 64, 48), mustRecipe(t, cases[1].recipe), RunOptions{})
	if !errors.Is(err, ErrSDRequired) {
		t.Errorf("sam without a WebUI: got %v, want ErrSDRequired", err)
	}
}
