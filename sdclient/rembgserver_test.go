package sdclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// rembgOpts are stand-in options for rembg's standalone server.
func rembgOpts() sdtest.Options {
	o := fastOpts()
	o.RembgServer = true
	return o
}

// setupRembgPool starts n stand-in rembg servers and a KindRembg Pool over them.
func setupRembgPool(t *testing.T, n int, opts sdtest.Options, edit func(*sdclient.PoolConfig)) poolBundle {
	t.Helper()
	return setupPool(t, n, opts, func(c *sdclient.PoolConfig) {
		c.Kind = sdclient.KindRembg
		if edit != nil {
			edit(c)
		}
	})
}

// decodePNG decodes a PNG answer and says whether it has an alpha channel (colour
// type 4 or 6).
func decodePNG(t *testing.T, b []byte) (image.Image, bool) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("answer is not a PNG: %v", err)
	}
	if len(b) < 26 {
		t.Fatalf("PNG of %d bytes", len(b))
	}
	ct := b[25] // IHDR colour type
	return img, ct == 4 || ct == 6
}

// TestRembgServerRemove runs a cut-out and a mask through a KindRembg Pool: the
// multipart request is accepted by the strict stand-in, the answers are raw PNGs (the
// cut-out with alpha, the mask greyscale), and GPU-seconds, metrics and status carry
// the rembg kind.
func TestRembgServerRemove(t *testing.T) {
	t.Parallel()
	pb := setupRembgPool(t, 1, rembgOpts(), nil)
	const w, h = 64, 48
	src := productImage(t, w, h)
	var cut, mask []byte
	u, err := pb.pool.Do(t.Context(), sdclient.Interactive, func(ctx context.Context, c *sdclient.Client) error {
		if err := c.CheckNames(ctx, sdclient.Names{RembgModel: "isnet-general-use"}); err != nil {
			return err
		}
		var err error
		if cut, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "isnet-general-use"}); err != nil {
			return err
		}
		mask, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, OnlyMask: true, PostProcessMask: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	img, alpha := decodePNG(t, cut)
	if !alpha {
		t.Error("cut-out: PNG has no alpha channel")
	}
	if _, _, _, a := img.At(1, 1).RGBA(); a != 0 {
		t.Errorf("cut-out background alpha: got %d, want 0", a)
	}
	if _, _, _, a := img.At(w/2, h/2).RGBA(); a != 0xffff {
		t.Errorf("cut-out product alpha: got %d, want opaque", a)
	}
	m, _ := decodePNG(t, mask)
	if _, gray := m.(*image.Gray); !gray || m.Bounds().Dx() != w || m.Bounds().Dy() != h {
		t.Errorf("mask: got %T %v, want an L PNG %dx%d", m, m.Bounds(), w, h)
	}
	if u.GPUSeconds <= 0 || u.Backend == "" {
		t.Errorf("usage: got %+v, want GPU-seconds and a backend", u)
	}
	calls := generations(pb.servers[0], "/api/remove")
	if len(calls) != 2 || calls[0].Status != 200 || calls[1].Status != 200 {
		t.Errorf("stand-in calls: got %+v, want two answered 200", calls)
	}
	st := pb.pool.Status()
	if len(st) != 1 || st[0].Kind != sdclient.KindRembg || st[0].Calls != 1 || st[0].GPUSeconds <= 0 {
		t.Errorf("status: got %+v", st)
	}
	fams, err := pb.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fams {
		if f.GetName() != "pictor_sd_calls_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			if hasLabels(mt, map[string]string{"kind": "rembg", "endpoint": "rembg-remove", "outcome": "ok"}) && mt.GetCounter().GetValue() == 2 {
				found = true
			}
		}
	}
	if !found {
		t.Error(`pictor_sd_calls_total{kind="rembg",endpoint="rembg-remove",outcome="ok"} is not 2`)
	}
}

// TestRembgServerHealth checks the health check: the server's /openapi.json lists its
// models, and a WebUI given as a rembg server is unhealthy (it has no /api/remove).
func TestRembgServerHealth(t *testing.T) {
	t.Parallel()
	pb := setupRembgPool(t, 1, rembgOpts(), nil)
	pb.pool.Start(t.Context())
	waitFor(t, "models from the health check", func() bool { return len(pb.pool.Status()[0].Models) > 0 })
	if got := pb.pool.Status()[0].Models; !slices.Equal(got, sdtest.RembgServerModels()) {
		t.Errorf("models: got %v, want the server's pattern %v", got, sdtest.RembgServerModels())
	}

	webui := sdtest.New(fastOpts())
	t.Cleanup(webui.Close)
	cfg := sdclient.DefaultPoolConfig()
	cfg.Kind = sdclient.KindRembg
	p, err := sdclient.NewPool([]sdclient.Backend{backendFor(t, webui, "")}, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.Start(t.Context())
	waitFor(t, "the WebUI to be found unhealthy", func() bool { return !p.Status()[0].Healthy })
	if _, err := p.Do(t.Context(), sdclient.Batch, func(context.Context, *sdclient.Client) error { return nil }); !errors.Is(err, sdclient.ErrUnavailable) {
		t.Errorf("Do on a pool with only a WebUI as rembg server: got %v, want ErrUnavailable", err)
	}
}

// TestRembgServerNamesAndErrors checks the names and error shapes: exact model names
// against the server's list (a near miss that its pattern lets through would be a
// bare 500), models that need extras refused, the server's 422 and 500 classified,
// and WebUI routes refused locally.
func TestRembgServerNamesAndErrors(t *testing.T) {
	t.Parallel()
	srv := sdtest.New(rembgOpts())
	t.Cleanup(srv.Close)
	c := sdclient.NewRembgClient(backendFor(t, srv, ""), nil)
	ctx := t.Context()
	src := productImage(t, 32, 32)

	var une *sdclient.UnknownNameError
	err := c.CheckNames(ctx, sdclient.Names{RembgModel: "u2net-x"})
	if !errors.As(err, &une) || !slices.Contains(une.Suggestions, "u2net") {
		t.Errorf("CheckNames(u2net-x): got %v, want UnknownNameError suggesting u2net", err)
	}
	if err := c.CheckNames(ctx, sdclient.Names{RembgModel: "sam"}); !errors.As(err, &une) || une.Reason == "" {
		t.Errorf("CheckNames(sam): got %v, want UnknownNameError with a reason", err)
	}
	if err := c.CheckNames(ctx, sdclient.Names{RembgModel: "birefnet-general"}); err != nil {
		t.Errorf("CheckNames(birefnet-general): %v", err)
	}

	// Sent without the check: the pattern lets "u2net-x" through, rembg fails.
	_, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "u2net-x"})
	var ae *sdclient.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !errors.Is(err, sdclient.ErrBackend) {
		t.Errorf("model u2net-x: got %v, want a 500 ErrBackend", err)
	}
	_, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, Model: "nope"})
	if !errors.As(err, &ae) || ae.Status != 422 || !errors.Is(err, sdclient.ErrBadRequest) ||
		len(ae.Validation) != 1 || !slices.Equal(ae.Validation[0].Loc, []string{"body", "model"}) || ae.Validation[0].Type != "string_pattern_mismatch" {
		t.Errorf("model nope: got %v, want a 422 on body.model", err)
	}
	_, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, AlphaMattingForegroundThreshold: 300})
	if !errors.As(err, &ae) || ae.Status != 422 || len(ae.Validation) != 1 || ae.Validation[0].Type != "less_than_equal" {
		t.Errorf("af 300: got %v, want a 422 less_than_equal", err)
	}
	_, err = c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: []byte("not a picture")})
	if !errors.Is(err, sdclient.ErrBackend) {
		t.Errorf("bad picture: got %v, want ErrBackend (a bare 500)", err)
	}

	before := len(srv.Calls())
	if _, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{}); !errors.Is(err, sdclient.ErrBadRequest) {
		t.Errorf("Txt2Img on a rembg server: got %v, want ErrBadRequest", err)
	}
	if _, err := sdclient.NewClient(backendFor(t, srv, ""), nil).RemoveBackground(ctx, sdclient.RemoveRequest{Image: src}); !errors.Is(err, sdclient.ErrBadRequest) {
		t.Errorf("RemoveBackground on a WebUI client: got %v, want ErrBadRequest", err)
	}
	if got := len(srv.Calls()); got != before {
		t.Errorf("calls of the wrong kind reached the server: %d new calls", got-before)
	}
}

// TestRembgServerCircuit checks that bare 500s open the circuit of a rembg server
// as they do a WebUI's, and that the pool then fails fast.
func TestRembgServerCircuit(t *testing.T) {
	t.Parallel()
	pb := setupRembgPool(t, 1, rembgOpts(), func(c *sdclient.PoolConfig) { c.FailureThreshold = 2; c.OpenFor = time.Hour })
	pb.servers[0].FailNext(sdtest.Fail500, 2)
	src := productImage(t, 32, 32)
	remove := func(ctx context.Context, c *sdclient.Client) error {
		_, err := c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, OnlyMask: true})
		return err
	}
	for i := range 2 {
		if _, err := pb.pool.Do(t.Context(), sdclient.Batch, remove); !errors.Is(err, sdclient.ErrBackend) {
			t.Fatalf("call %d: got %v, want ErrBackend", i, err)
		}
	}
	if !pb.pool.Status()[0].CircuitOpen {
		t.Fatal("circuit not open after two failures")
	}
	if _, err := pb.pool.Do(t.Context(), sdclient.Batch, remove); !errors.Is(err, sdclient.ErrUnavailable) {
		t.Errorf("call with the circuit open: got %v, want ErrUnavailable", err)
	}
}

// TestRembgServerLanes checks that a rembg pool keeps one call in flight per server
// and serves Interactive work before Batch work queued earlier.
func TestRembgServerLanes(t *testing.T) {
	t.Parallel()
	pb := setupRembgPool(t, 1, rembgOpts(), nil)
	src := productImage(t, 32, 32)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = pb.pool.Do(t.Context(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	order := make(chan string, 2)
	run := func(lane sdclient.Lane) {
		_, err := pb.pool.Do(t.Context(), lane, func(ctx context.Context, c *sdclient.Client) error {
			_, err := c.RemoveBackground(ctx, sdclient.RemoveRequest{Image: src, OnlyMask: true})
			order <- lane.String()
			return err
		})
		if err != nil {
			t.Errorf("%s: %v", lane, err)
		}
	}
	go run(sdclient.Batch)
	waitFor(t, "the batch call to queue", func() bool { return pb.pool.QueueLen(sdclient.Batch) == 1 })
	go run(sdclient.Interactive)
	waitFor(t, "the interactive call to queue", func() bool { return pb.pool.QueueLen(sdclient.Interactive) == 1 })
	close(release)
	if first, second := <-order, <-order; first != "interactive" || second != "batch" {
		t.Errorf("order: got %s then %s, want interactive then batch", first, second)
	}
}

// TestKindConfigAndJSON checks that an unknown Kind is an invalid config and that kinds
// read and write as their names.
func TestKindConfigAndJSON(t *testing.T) {
	t.Parallel()
	cfg := sdclient.DefaultPoolConfig()
	cfg.Kind = sdclient.Kind(7)
	if err := cfg.Validate(); !errors.Is(err, sdclient.ErrInvalidConfig) {
		t.Errorf("Kind(7): got %v, want ErrInvalidConfig", err)
	}
	for _, k := range []sdclient.Kind{sdclient.KindWebUI, sdclient.KindRembg} {
		b, err := json.Marshal(k)
		var back sdclient.Kind
		if err != nil || string(b) != `"`+k.String()+`"` || json.Unmarshal(b, &back) != nil || back != k {
			t.Errorf("%v: marshal %s %v, read back %v", k, b, err, back)
		}
	}
	var k sdclient.Kind
	if err := json.Unmarshal([]byte(`"gpu"`), &k); err == nil {
		t.Error(`"gpu" read as a kind`)
	}
}
