package sdclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// poolBundle is what setupPool returns.
type poolBundle struct {
	servers []*sdtest.Server
	pool    *sdclient.Pool
	reg     *prometheus.Registry
}

// setupPool starts n stand-in WebUIs and a Pool over them. cfg is
// DefaultPoolConfig changed by edit.
func setupPool(t *testing.T, n int, opts sdtest.Options, edit func(*sdclient.PoolConfig)) poolBundle {
	t.Helper()
	var pb poolBundle
	var backends []sdclient.Backend
	for range n {
		srv := sdtest.New(opts)
		t.Cleanup(srv.Close)
		pb.servers = append(pb.servers, srv)
		backends = append(backends, backendFor(t, srv, ""))
	}
	cfg := sdclient.DefaultPoolConfig()
	if edit != nil {
		edit(&cfg)
	}
	pb.reg = prometheus.NewPedanticRegistry()
	p, err := sdclient.NewPool(backends, cfg, slog.New(slog.DiscardHandler), pb.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	pb.pool = p
	return pb
}

func fastOpts() sdtest.Options {
	o := sdtest.DefaultOptions()
	o.StepLatency = 2 * time.Millisecond
	return o
}

func txt2img(steps int) func(context.Context, *sdclient.Client) error {
	return func(ctx context.Context, c *sdclient.Client) error {
		_, err := c.Txt2Img(ctx, sdclient.Txt2ImgRequest{GenerationParams: sdclient.GenerationParams{Steps: steps, Width: 64, Height: 64}})
		return err
	}
}

// generations returns the server's calls to path.
func generations(srv *sdtest.Server, path string) []sdtest.Call {
	var out []sdtest.Call
	for _, c := range srv.Calls() {
		if c.Endpoint == path {
			out = append(out, c)
		}
	}
	return out
}

// waitFor polls cond until it holds; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting 30 s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPoolOneInFlightPerBackend(t *testing.T) {
	t.Parallel()
	pb := setupPool(t, 1, fastOpts(), nil)
	var running, maxRunning atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pb.pool.Do(context.Background(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				return txt2img(5)(ctx, c)
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	srv := pb.servers[0]
	if got := srv.MaxConcurrent(); got != 1 {
		t.Errorf("MaxConcurrent() = %d, want 1", got)
	}
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("calls running at once on one backend = %d, want 1", got)
	}
	calls := generations(srv, "/sdapi/v1/txt2img")
	if len(calls) != 6 {
		t.Fatalf("server saw %d txt2img calls, want 6", len(calls))
	}
	// No call reached the server while another one was there.
	for i := 1; i < len(calls); i++ {
		if calls[i].Queued.Before(calls[i-1].End) {
			t.Errorf("call %d arrived at %v, before call %d ended at %v", i, calls[i].Queued, i-1, calls[i-1].End)
		}
	}
	st := pb.pool.Status()[0]
	if st.Calls != 6 || st.InFlight != 0 || st.Queued != 0 {
		t.Errorf("Status = %+v, want 6 calls, none in flight or queued", st)
	}
}

func TestPoolUsesEveryBackend(t *testing.T) {
	t.Parallel()
	pb := setupPool(t, 2, fastOpts(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Each call waits until both run at once: that can only happen on two
	// backends.
	var arrived sync.WaitGroup
	arrived.Add(2)
	both := make(chan struct{})
	go func() { arrived.Wait(); close(both) }()
	usages := make(chan sdclient.Usage, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := pb.pool.Do(ctx, sdclient.Interactive, func(ctx context.Context, c *sdclient.Client) error {
				arrived.Done()
				select {
				case <-both:
				case <-ctx.Done():
					return ctx.Err()
				}
				return txt2img(2)(ctx, c)
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
			usages <- u
		}()
	}
	wg.Wait()
	close(usages)
	var names []string
	for u := range usages {
		names = append(names, u.Backend)
	}
	slices.Sort(names)
	if len(names) != 2 || names[0] == names[1] || names[0] == "" {
		t.Errorf("backends used = %q, want two different ones", names)
	}
	for i, srv := range pb.servers {
		if got := len(generations(srv, "/sdapi/v1/txt2img")); got != 1 {
			t.Errorf("backend %d got %d calls, want 1", i, got)
		}
	}
}

func TestPoolInteractiveFirst(t *testing.T) {
	t.Parallel()
	pb := setupPool(t, 1, fastOpts(), nil)
	p := pb.pool
	release := make(chan struct{})
	blockerDone := make(chan error, 1)
	go func() {
		_, err := p.Do(context.Background(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
			<-release
			return nil
		})
		blockerDone <- err
	}()
	waitFor(t, "the blocker to hold the backend", func() bool { return p.Status()[0].InFlight == 1 })

	var mu sync.Mutex
	var order []string
	record := func(id string) func(context.Context, *sdclient.Client) error {
		return func(ctx context.Context, c *sdclient.Client) error {
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			return txt2img(1)(ctx, c)
		}
	}
	var wg sync.WaitGroup
	do := func(lane sdclient.Lane, id string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Do(context.Background(), lane, record(id)); err != nil {
				t.Errorf("Do %s: %v", id, err)
			}
		}()
	}
	var want []string
	for i := range 20 {
		id := "batch-" + string(rune('a'+i))
		do(sdclient.Batch, id)
		want = append(want, id)
		waitFor(t, id+" to be queued", func() bool { return p.QueueLen(sdclient.Batch) == i+1 })
	}
	do(sdclient.Interactive, "interactive")
	waitFor(t, "the interactive call to be queued", func() bool { return p.QueueLen(sdclient.Interactive) == 1 })
	if got := p.Status()[0].Queued; got != 21 {
		t.Errorf("Status().Queued = %d, want 21", got)
	}
	close(release)
	if err := <-blockerDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want = append([]string{"interactive"}, want...)
	if !slices.Equal(order, want) {
		t.Errorf("order = %q, want %q", order, want)
	}
	if got := len(generations(pb.servers[0], "/sdapi/v1/txt2img")); got != 21 {
		t.Errorf("server saw %d calls, want 21", got)
	}
}

func TestPoolCancelInterrupts(t *testing.T) {
	t.Parallel()
	opts := sdtest.DefaultOptions()
	opts.StepLatency = 10 * time.Millisecond
	pb := setupPool(t, 1, opts, nil)
	srv := pb.servers[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pb.pool.Do(ctx, sdclient.Interactive, txt2img(3000)) // 30 s unless interrupted
		done <- err
	}()
	watcher := sdclient.NewClient(backendFor(t, srv, ""), nil)
	waitFor(t, "the generation to sample", func() bool {
		p, err := watcher.Progress(context.Background(), true)
		return err == nil && p.State.SamplingStep > 0
	})
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Do error = %v, want context.Canceled", err)
	}
	// The job was ours and running: the interrupt went out before Do
	// returned.
	if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 1 {
		t.Errorf("interrupts sent = %d, want 1", got)
	}
	waitFor(t, "the job to end", func() bool { return !generations(srv, "/sdapi/v1/txt2img")[0].End.IsZero() })
	if c := generations(srv, "/sdapi/v1/txt2img")[0]; !c.Interrupted {
		t.Errorf("job %+v was not interrupted, want it stopped early", c)
	}

	// A call that finishes, or one cancelled while still queued, sends no
	// interrupt.
	if _, err := pb.pool.Do(context.Background(), sdclient.Interactive, txt2img(1)); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	go func() {
		_, _ = pb.pool.Do(context.Background(), sdclient.Batch, func(context.Context, *sdclient.Client) error { <-release; return nil })
	}()
	waitFor(t, "the blocker", func() bool { return pb.pool.Status()[0].InFlight == 1 })
	qctx, qcancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, err := pb.pool.Do(qctx, sdclient.Interactive, txt2img(1))
		queued <- err
	}()
	waitFor(t, "the queued call", func() bool { return pb.pool.QueueLen(sdclient.Interactive) == 1 })
	qcancel()
	if err := <-queued; err != context.Canceled {
		t.Errorf("queued Do error = %v, want context.Canceled", err)
	}
	close(release)
	if got := pb.pool.QueueLen(sdclient.Interactive); got != 0 {
		t.Errorf("QueueLen after cancel = %d, want 0", got)
	}
	if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 1 {
		t.Errorf("interrupts sent = %d, want still 1", got)
	}
}

func TestPoolNoResend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		callTimeout time.Duration
		ctxTimeout  time.Duration
		want        error
	}{
		{name: "caller deadline", callTimeout: time.Minute, ctxTimeout: 500 * time.Millisecond, want: context.DeadlineExceeded},
		{name: "pool call timeout", callTimeout: 500 * time.Millisecond, ctxTimeout: time.Minute, want: sdclient.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb := setupPool(t, 1, fastOpts(), func(c *sdclient.PoolConfig) { c.CallTimeout = tt.callTimeout })
			srv := pb.servers[0]
			srv.FailNext(sdtest.FailHang, 1)
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTimeout)
			defer cancel()
			src := pngImage(t, 64, 64)
			_, err := pb.pool.Do(ctx, sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
				_, err := c.Img2Img(ctx, sdclient.Img2ImgRequest{GenerationParams: sdclient.GenerationParams{Steps: 2}, InitImages: [][]byte{src}})
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Do error = %v, want %v", err, tt.want)
			}
			// The hung job ends (like the WebUI, the stand-in does not end
			// it when the client goes away: the interrupt does); the backend
			// is free again, and nothing was sent twice.
			waitFor(t, "the hung job to end", func() bool {
				c := generations(srv, "/sdapi/v1/img2img")
				return len(c) > 0 && !c[0].End.IsZero()
			})
			if _, err := pb.pool.Do(context.Background(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
				_, err := c.Progress(ctx, true)
				return err
			}); err != nil {
				t.Fatalf("next Do: %v", err)
			}
			if got := len(generations(srv, "/sdapi/v1/img2img")); got != 1 {
				t.Errorf("img2img calls = %d, want exactly 1", got)
			}
			if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 1 {
				t.Errorf("interrupts = %d, want 1 (the hung job was ours)", got)
			}
		})
	}
}

func TestPoolCircuit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail sdtest.Failure
		want error
	}{
		{name: "500", fail: sdtest.Fail500, want: sdclient.ErrBackend},
		{name: "oom", fail: sdtest.FailOOM, want: sdclient.ErrOutOfMemory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const openFor = 30 * time.Second
			pb := setupPool(t, 1, fastOpts(), func(c *sdclient.PoolConfig) { c.FailureThreshold = 3; c.OpenFor = openFor })
			srv, p := pb.servers[0], pb.pool
			clock := newFakeClock()
			sdclient.SetPoolClock(p, clock.Now)
			srv.FailNext(tt.fail, 4) // three to open it, one for the first probe
			for i := range 3 {
				if _, err := p.Do(context.Background(), sdclient.Batch, txt2img(1)); !errors.Is(err, tt.want) {
					t.Fatalf("Do %d error = %v, want %v", i, err, tt.want)
				}
				if open := p.Status()[0].CircuitOpen; open != (i == 2) {
					t.Errorf("after %d failures CircuitOpen = %v, want %v", i+1, open, i == 2)
				}
			}
			clock.Advance(openFor - time.Second)
			if _, err := p.Do(context.Background(), sdclient.Interactive, txt2img(1)); !errors.Is(err, sdclient.ErrUnavailable) {
				t.Errorf("Do on an open circuit: error = %v, want ErrUnavailable", err)
			}
			if got := len(generations(srv, "/sdapi/v1/txt2img")); got != 3 {
				t.Errorf("server saw %d calls, want 3 (none while open)", got)
			}
			clock.Advance(time.Second)
			if _, err := p.Do(context.Background(), sdclient.Batch, txt2img(1)); !errors.Is(err, tt.want) {
				t.Fatalf("failing probe: error = %v, want %v", err, tt.want)
			}
			if !p.Status()[0].CircuitOpen {
				t.Fatal("circuit closed after a failed probe, want it open again")
			}
			if _, err := p.Do(context.Background(), sdclient.Batch, txt2img(1)); !errors.Is(err, sdclient.ErrUnavailable) {
				t.Errorf("Do right after a failed probe: error = %v, want ErrUnavailable", err)
			}
			clock.Advance(openFor)
			if _, err := p.Do(context.Background(), sdclient.Batch, txt2img(1)); err != nil {
				t.Fatalf("healthy probe: %v", err)
			}
			if st := p.Status()[0]; st.CircuitOpen || st.LastError == "" {
				t.Errorf("after a healthy probe Status = %+v, want circuit closed and the last error kept", st)
			}
			if got := len(generations(srv, "/sdapi/v1/txt2img")); got != 5 {
				t.Errorf("server saw %d calls, want 5 (3 failures and 2 probes)", got)
			}
		})
	}
	t.Run("request errors do not count", func(t *testing.T) {
		t.Parallel()
		pb := setupPool(t, 1, fastOpts(), func(c *sdclient.PoolConfig) { c.FailureThreshold = 2 })
		for range 4 {
			_, err := pb.pool.Do(context.Background(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
				_, err := c.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: pngImage(t, 16, 16), Upscaler1: "Nope"})
				return err
			})
			if !errors.Is(err, sdclient.ErrBadRequest) {
				t.Fatalf("Do error = %v, want ErrBadRequest", err)
			}
		}
		if pb.pool.Status()[0].CircuitOpen {
			t.Error("circuit opened on bad requests")
		}
	})
}

func TestPoolHealth(t *testing.T) {
	t.Parallel()
	good := sdtest.New(fastOpts())
	t.Cleanup(good.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	cfg := sdclient.DefaultPoolConfig()
	cfg.HealthInterval = 10 * time.Millisecond
	p, err := sdclient.NewPool([]sdclient.Backend{backendFor(t, good, ""), {URL: deadURL}}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.Start(ctx)
	p.Start(ctx) // a second Start does nothing
	waitFor(t, "health checks", func() bool {
		st := p.Status()
		return !st[1].Healthy && len(st[0].Models) > 0
	})
	st := p.Status()
	if !st[0].Healthy || !slices.Equal(st[0].Models, sdtest.DefaultCheckpoints()) {
		t.Errorf("good backend Status = %+v, want healthy with the default checkpoints", st[0])
	}
	if !strings.Contains(st[1].LastError, "unavailable") {
		t.Errorf("dead backend LastError = %q, want the connection error", st[1].LastError)
	}
	for range 3 {
		u, err := p.Do(context.Background(), sdclient.Batch, txt2img(1))
		if err != nil {
			t.Fatal(err)
		}
		if u.Backend != st[0].Name {
			t.Errorf("call served by %q, want the healthy %q", u.Backend, st[0].Name)
		}
	}

	// A pool whose only backend is down fails at once.
	dead, err := sdclient.NewPool([]sdclient.Backend{{URL: deadURL}}, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	dead.Start(ctx)
	waitFor(t, "the dead backend to be marked", func() bool { return !dead.Status()[0].Healthy })
	if _, err := dead.Do(context.Background(), sdclient.Interactive, txt2img(1)); !errors.Is(err, sdclient.ErrUnavailable) {
		t.Errorf("Do with no healthy backend: error = %v, want ErrUnavailable", err)
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	pb := setupPool(t, 1, fastOpts(), nil)
	p := pb.pool
	release := make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		_, err := p.Do(context.Background(), sdclient.Batch, func(context.Context, *sdclient.Client) error { <-release; return nil })
		blocker <- err
	}()
	waitFor(t, "the blocker", func() bool { return p.Status()[0].InFlight == 1 })
	queued := make(chan error, 1)
	go func() {
		_, err := p.Do(context.Background(), sdclient.Batch, txt2img(1))
		queued <- err
	}()
	waitFor(t, "the queued call", func() bool { return p.QueueLen(sdclient.Batch) == 1 })
	p.Close()
	if err := <-queued; !errors.Is(err, sdclient.ErrPoolClosed) {
		t.Errorf("queued Do error = %v, want ErrPoolClosed", err)
	}
	close(release)
	if err := <-blocker; err != nil {
		t.Errorf("running Do error = %v, want nil (running calls finish)", err)
	}
	if _, err := p.Do(context.Background(), sdclient.Batch, txt2img(1)); !errors.Is(err, sdclient.ErrPoolClosed) {
		t.Errorf("Do after Close: error = %v, want ErrPoolClosed", err)
	}
	p.Close() // twice is fine
}

func TestPoolUsageAndMetrics(t *testing.T) {
	t.Parallel()
	opts := fastOpts()
	opts.Auth = "pictor:s3cret"
	srv := sdtest.New(opts)
	t.Cleanup(srv.Close)
	reg := prometheus.NewPedanticRegistry()
	p, err := sdclient.NewPool([]sdclient.Backend{backendFor(t, srv, "pictor:s3cret")}, sdclient.DefaultPoolConfig(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u, err := p.Do(context.Background(), sdclient.Interactive, func(ctx context.Context, c *sdclient.Client) error {
		if err := c.CheckNames(ctx, sdclient.Names{Sampler: "Euler a"}); err != nil {
			return err
		}
		return txt2img(5)(ctx, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	name := p.Status()[0].Name
	if u.Backend != name || u.GPUSeconds <= 0 || u.Queued < 0 {
		t.Errorf("Usage = %+v, want backend %q and GPUSeconds > 0", u, name)
	}
	if st := p.Status()[0]; st.GPUSeconds != u.GPUSeconds || st.Calls != 1 {
		t.Errorf("Status = %+v, want GPUSeconds %v and 1 call", st, u.GPUSeconds)
	}
	if _, err := p.Do(context.Background(), sdclient.Batch, func(ctx context.Context, c *sdclient.Client) error {
		_, err := c.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: pngImage(t, 8, 8), Upscaler1: "Nope"})
		return err
	}); !errors.Is(err, sdclient.ErrBadRequest) {
		t.Fatalf("Do error = %v, want ErrBadRequest", err)
	}

	problems, err := testutil.CollectAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("metric lint: %s: %s", pr.Metric, pr.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value := func(family string, labels map[string]string) (float64, bool) {
		for _, f := range families {
			if f.GetName() != family {
				continue
			}
			for _, m := range f.GetMetric() {
				if hasLabels(m, labels) {
					switch {
					case m.Counter != nil:
						return m.Counter.GetValue(), true
					case m.Gauge != nil:
						return m.Gauge.GetValue(), true
					case m.Histogram != nil:
						return float64(m.Histogram.GetSampleCount()), true
					}
				}
			}
		}
		return 0, false
	}
	checks := []struct {
		family string
		labels map[string]string
		want   float64 // -1: any value > 0
	}{
		{"pictor_sd_calls_total", map[string]string{"backend": name, "endpoint": "txt2img", "outcome": "ok"}, 1},
		{"pictor_sd_calls_total", map[string]string{"backend": name, "endpoint": "samplers", "outcome": "ok"}, 1},
		{"pictor_sd_calls_total", map[string]string{"backend": name, "endpoint": "extra-single-image", "outcome": "bad_request"}, 1},
		{"pictor_sd_call_duration_seconds", map[string]string{"backend": name, "endpoint": "txt2img"}, 1},
		{"pictor_sd_gpu_seconds_total", map[string]string{"backend": name}, -1},
		{"pictor_sd_queue_length", map[string]string{"lane": "interactive"}, 0},
		{"pictor_sd_queue_length", map[string]string{"lane": "batch"}, 0},
		{"pictor_sd_backend_up", map[string]string{"backend": name}, 1},
	}
	for _, c := range checks {
		got, ok := value(c.family, c.labels)
		switch {
		case !ok:
			t.Errorf("%s%v missing", c.family, c.labels)
		case c.want < 0 && got <= 0:
			t.Errorf("%s%v = %v, want > 0", c.family, c.labels, got)
		case c.want >= 0 && got != c.want:
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "s3cret") || strings.Contains(l.GetValue(), "@") {
					t.Errorf("%s label %s=%q leaks credentials", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

func TestPoolConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*sdclient.PoolConfig)
		wantErr bool
	}{
		{name: "defaults", edit: func(*sdclient.PoolConfig) {}},
		{name: "zero health interval", edit: func(c *sdclient.PoolConfig) { c.HealthInterval = 0 }, wantErr: true},
		{name: "zero threshold", edit: func(c *sdclient.PoolConfig) { c.FailureThreshold = 0 }, wantErr: true},
		{name: "negative open for", edit: func(c *sdclient.PoolConfig) { c.OpenFor = -time.Second }, wantErr: true},
		{name: "zero call timeout", edit: func(c *sdclient.PoolConfig) { c.CallTimeout = 0 }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := sdclient.DefaultPoolConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error: %v", err, tt.wantErr)
			}
			_, err = sdclient.NewPool([]sdclient.Backend{{URL: "http://127.0.0.1:1"}}, cfg, nil, nil)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, sdclient.ErrInvalidConfig)) {
				t.Errorf("NewPool error = %v, want ErrInvalidConfig: %v", err, tt.wantErr)
			}
		})
	}
	if _, err := sdclient.NewPool(nil, sdclient.DefaultPoolConfig(), nil, nil); !errors.Is(err, sdclient.ErrInvalidConfig) {
		t.Errorf("NewPool without backends: error = %v, want ErrInvalidConfig", err)
	}
	two := []sdclient.Backend{{URL: "http://127.0.0.1:1"}, {URL: "http://127.0.0.1:1/"}}
	if _, err := sdclient.NewPool(two, sdclient.DefaultPoolConfig(), nil, nil); err == nil {
		t.Error("NewPool with the same backend twice: no error")
	}
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := sdclient.NewPool([]sdclient.Backend{{URL: "http://127.0.0.1:1"}}, sdclient.DefaultPoolConfig(), nil, reg); err != nil {
			t.Errorf("second Pool on one registry: %v", err)
		}
	}
}
