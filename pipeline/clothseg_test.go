package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// sdEnv is an Env whose SD pool has one backend at url.
func sdEnv(t *testing.T, url string) Env {
	t.Helper()
	pool, err := sdclient.NewPool([]sdclient.Backend{{URL: url}}, sdclient.DefaultPoolConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return Env{SD: &SD{Pool: pool}}
}

// TestRemoveBackgroundClothSeg runs remove_background with u2net_cloth_seg against the
// stand-in, which answers rembg 2.0.50's three masks stacked on a W x 3H canvas: the
// cut-out must be the union of the classes, the whole product, and nothing else.
func TestRemoveBackgroundClothSeg(t *testing.T) {
	t.Parallel()
	srv := sdtest.New(sdtest.Options{StepLatency: 1})
	t.Cleanup(srv.Close)
	env := sdEnv(t, srv.URL)
	const w, h = 200, 160
	src := productShot(t, w, h)
	recipe := `{"steps": [{"op": "remove_background", "engine": "sd", "model": "u2net_cloth_seg"}], "outputs": [{"name": "main", "format": "png"}]}`
	out, err := Run(context.Background(), env, src, mustRecipe(t, recipe), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(out[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Fatalf("size: got %v, want %dx%d", got, w, h)
	}
	// productShot's product is [w/5, 4w/5) x [h/5, 4h/5) on white.
	prod := image.Rect(w/5, h/5, w*4/5, h*4/5)
	wrong := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			_, _, _, a := img.At(x, y).RGBA()
			in := image.Pt(x, y).In(prod)
			// A pixel's width either side of the edge may be feathered.
			edge := image.Pt(x, y).In(prod.Inset(-1)) && !image.Pt(x, y).In(prod.Inset(1))
			if !edge && (in && a < 0xf000 || !in && a > 0x0fff) {
				wrong++
			}
		}
	}
	if wrong > 0 {
		t.Errorf("alpha: got %d pixels wrong (product not opaque or background not transparent), want 0", wrong)
	}
	for _, p := range []image.Point{{0, 0}, {w - 1, 0}, {0, h - 1}, {w - 1, h - 1}} {
		if _, _, _, a := img.At(p.X, p.Y).RGBA(); a != 0 {
			t.Errorf("corner %v alpha: got %d, want 0", p, a)
		}
	}
	lin := out[0].Lineage
	if got, want := lin["mask_model"], "u2net_cloth_seg"; got != want {
		t.Errorf("lineage mask_model: got %q, want %q", got, want)
	}
	if got, want := lin["mask_classes"], "upper,lower,full union"; got != want {
		t.Errorf("lineage mask_classes: got %q, want %q", got, want)
	}
}

// TestRemoveBackgroundWrongSizeMask: a backend whose rembg mask is not the image's size
// (nor cloth_seg's stack of three) is a backend error naming both sizes, never a
// squashed mask.
func TestRemoveBackgroundWrongSizeMask(t *testing.T) {
	t.Parallel()
	const w, h = 120, 96
	cases := []struct {
		name, model string
		mw, mh      int
	}{
		{"u2net, half size", "u2net", w / 2, h / 2},
		{"u2net, cloth_seg's stack", "u2net", w, 3 * h},
		{"cloth_seg, two masks", "u2net_cloth_seg", w, 2 * h},
		{"cloth_seg, stacked sideways", "u2net_cloth_seg", 3 * w, h},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := sdEnv(t, wrongMaskBackend(t, c.mw, c.mh))
			recipe := `{"steps": [{"op": "remove_background", "engine": "sd", "model": "` + c.model + `"}], "outputs": [{"name": "main", "format": "png"}]}`
			_, err := Run(context.Background(), env, productShot(t, w, h), mustRecipe(t, recipe), RunOptions{})
			if !errors.Is(err, sdclient.ErrBackend) {
				t.Fatalf("error: got %v, want one wrapping sdclient.ErrBackend", err)
			}
			want := fmt.Sprintf("mask is %dx%d, image is %dx%d", c.mw, c.mh, w, h)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error: got %q, want it to say %q", err, want)
			}
		})
	}
}

// wrongMaskBackend is a WebUI whose rembg answers an mw x mh all-white L mask whatever
// the input; every other route is the stand-in's.
func wrongMaskBackend(t *testing.T, mw, mh int) string {
	t.Helper()
	real := sdtest.New(sdtest.Options{StepLatency: 1})
	t.Cleanup(real.Close)
	m := image.NewGray(image.Rect(0, 0, mw, mh))
	for i := range m.Pix {
		m.Pix[i] = 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{"image": base64.StdEncoding.EncodeToString(buf.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	fake := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/rembg" {
			rw.Header().Set("Content-Type", "application/json")
			rw.Write(body)
			return
		}
		// Everything else (CheckNames' lists, health) goes to the stand-in.
		r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(real.URL, "http://")
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			rw.Header()[k] = v
		}
		rw.WriteHeader(resp.StatusCode)
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		rw.Write(b.Bytes())
	}))
	t.Cleanup(fake.Close)
	return fake.URL
}
