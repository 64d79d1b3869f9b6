package sdtest

import (
	"context"
	"errors"
	"image"
	"image/color"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// img2imgBody is a small img2img request with a given step count.
func img2imgBody(t *testing.T, steps int, prompt string) map[string]any {
	t.Helper()
	return map[string]any{
		"init_images": []string{pngB64(t, solid(32, 32, color.NRGBA{90, 90, 90, 255}))},
		"prompt":      prompt, "steps": steps, "denoising_strength": 1.0, "seed": 5,
		"width": 32, "height": 32,
	}
}

// TestLockFIFO sends three img2img calls that arrive while the first runs:
// they must never overlap and must start in arrival order.
func TestLockFIFO(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.StepLatency = 3 * time.Millisecond
	s := setup(t, o)
	const n = 3
	var wg sync.WaitGroup
	prompts := make([]string, n)
	results := make([]response, n)
	for i := range n {
		prompts[i] = string(rune('a' + i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 20, prompts[i]))
		}()
		// Send the next only once this one has queued on the lock.
		waitFor(t, "call to queue", func() bool {
			calls := s.Calls()
			return len(calls) == i+1 && !calls[i].Queued.IsZero()
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusOK {
			t.Fatalf("call %d: got %d %s, want 200", i, r.status, r.body)
		}
		if got := info(t, r.json(t))["prompt"]; got != prompts[i] {
			t.Errorf("call %d: answer for prompt %v, want %v", i, got, prompts[i])
		}
	}
	calls := s.Calls()
	if len(calls) != n {
		t.Fatalf("calls: got %d, want %d", len(calls), n)
	}
	for i := 1; i < n; i++ {
		prev, cur := calls[i-1], calls[i]
		if !cur.Queued.After(prev.Queued) {
			t.Errorf("call %d queued at %v, not after call %d at %v", i, cur.Queued, i-1, prev.Queued)
		}
		if cur.Start.Before(prev.End) {
			t.Errorf("call %d started at %v before call %d ended at %v", i, cur.Start, i-1, prev.End)
		}
	}
	if got := s.MaxConcurrent(); got != 1 {
		t.Errorf("MaxConcurrent: got %d, want 1", got)
	}
}

// TestFIFOLockOrder checks the lock itself hands over in arrival order.
func TestFIFOLockOrder(t *testing.T) {
	t.Parallel()
	var l fifoLock
	l.lock(func() {})
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		queued := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.lock(func() { close(queued) })
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l.unlock()
		}()
		<-queued
	}
	l.unlock()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("order: got %v, want 0..4 in order", order)
		}
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.StepLatency = 10 * time.Millisecond
	s := setup(t, o)

	idle := progress(t, s, false)
	if idle["progress"] != 0.0 || idle["current_image"] != nil {
		t.Errorf("idle: got progress %v current_image %v, want 0 and null", idle["progress"], idle["current_image"])
	}
	if st := stateOf(idle); st["job"] != "" || st["job_count"] != 0.0 {
		t.Errorf("idle state: got %v, want no job", st)
	}

	done := make(chan response)
	go func() { done <- post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 40, "p")) }()
	var running map[string]any
	waitFor(t, "a preview", func() bool {
		running = progress(t, s, false)
		return running["current_image"] != nil
	})
	st := stateOf(running)
	if st["job"] != "scripts_img2img" || st["job_count"] != 1.0 || st["sampling_steps"] != 40.0 {
		t.Errorf("running state: got %v, want scripts_img2img, 1 job, 40 steps", st)
	}
	if p := running["progress"].(float64); p <= 0.01 || p >= 1 {
		t.Errorf("running progress: got %v, want in (0.01, 1)", p)
	}
	if img := decodeB64(t, running["current_image"]); img.Bounds().Size() != image.Pt(32, 32) {
		t.Errorf("preview size: got %v, want 32x32", img.Bounds().Size())
	}
	if skip := progress(t, s, true); skip["current_image"] != nil {
		t.Errorf("skip_current_image=true: got a preview, want null")
	}
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("img2img: got %d %s, want 200", r.status, r.body)
	}
	after := progress(t, s, false)
	if after["progress"] != 0.0 || stateOf(after)["job"] != "" {
		t.Errorf("after: got %v, want idle", after)
	}
	// Like the WebUI's State, end() leaves the counters: nextjob() moved
	// job_no on and reset sampling_step; sampling_steps stays.
	if st := stateOf(after); st["job_no"] != 1.0 || st["sampling_step"] != 0.0 || st["sampling_steps"] != 40.0 {
		t.Errorf("after: state got %v, want job_no 1, sampling_step 0, sampling_steps 40", st)
	}

	bad := get(t, s, "/sdapi/v1/progress?skip_current_image=maybe")
	if bad.status != http.StatusUnprocessableEntity {
		t.Errorf("bad query: got %d, want 422", bad.status)
	}
}

func TestPreviewsOff(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.StepLatency = 5 * time.Millisecond
	o.PreviewEvery = 0
	s := setup(t, o)
	done := make(chan response)
	go func() {
		done <- post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 30, "width": 16, "height": 16})
	}()
	waitFor(t, "steps to run", func() bool {
		p := progress(t, s, false)
		if p["current_image"] != nil {
			t.Fatalf("previews off: got a current_image")
		}
		st, _ := stateOf(p)["sampling_step"].(float64)
		return st >= 3
	})
	<-done
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	s := setup(t, DefaultOptions())
	full := post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 4, "scene"))
	done := make(chan response)
	go func() { done <- post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 100000, "scene")) }()
	waitFor(t, "the job to step", func() bool {
		st, _ := stateOf(progress(t, s, true))["sampling_step"].(float64)
		return st >= 2
	})
	if r := post(t, s, "/sdapi/v1/interrupt", nil); r.status != http.StatusOK || string(r.body) != "{}" {
		t.Fatalf("interrupt: got %d %s, want 200 {}", r.status, r.body)
	}
	r := <-done
	if r.status != http.StatusOK {
		t.Fatalf("interrupted job: got %d %s, want 200 with partial images", r.status, r.body)
	}
	part := images(t, r.json(t))
	if len(part) != 1 {
		t.Fatalf("partial images: got %d, want 1", len(part))
	}
	if string(rgbBytes(part[0])) == string(rgbBytes(images(t, full.json(t))[0])) {
		t.Errorf("partial picture equals the finished one")
	}
	calls := s.Calls()
	last := calls[len(calls)-2] // the interrupt is logged after it
	if last.Endpoint != "/sdapi/v1/img2img" || !last.Interrupted {
		t.Errorf("call log: got %+v, want an interrupted img2img", last)
	}
	st := stateOf(progress(t, s, true))
	if st["interrupted"] != true {
		t.Errorf("state.interrupted after: got %v, want true", st["interrupted"])
	}
	if step := st["sampling_step"].(float64); step >= 100000 {
		t.Errorf("sampling_step: got %v, want < 100000", step)
	}
	// The next job starts clean.
	if r := post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 2, "scene")); r.status != http.StatusOK {
		t.Fatalf("next job: got %d, want 200", r.status)
	}
	if c := s.Calls(); c[len(c)-1].Interrupted {
		t.Errorf("next job: marked interrupted")
	}
}

func TestSkip(t *testing.T) {
	t.Parallel()
	s := setup(t, DefaultOptions())
	done := make(chan response)
	go func() {
		done <- post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 100000, "n_iter": 2, "width": 16, "height": 16, "seed": 1})
	}()
	waitFor(t, "the first iteration", func() bool {
		st := stateOf(progress(t, s, true))
		return st["job"] == "Batch 1 out of 2" && st["sampling_step"].(float64) >= 1
	})
	if r := post(t, s, "/sdapi/v1/skip", nil); r.status != http.StatusOK || string(r.body) != "null" {
		t.Fatalf("skip: got %d %s, want 200 null", r.status, r.body)
	}
	waitFor(t, "the second iteration", func() bool {
		return stateOf(progress(t, s, true))["job"] == "Batch 2 out of 2"
	})
	post(t, s, "/sdapi/v1/interrupt", nil)
	r := <-done
	if r.status != http.StatusOK {
		t.Fatalf("txt2img: got %d %s, want 200", r.status, r.body)
	}
	if got := len(images(t, r.json(t))); got != 2 {
		t.Errorf("images after skip then interrupt: got %d, want 2", got)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		kind   Failure
		flavor string
		path   string
		body   map[string]any
		want   string
	}{
		{"oom img2img", FailOOM, FlavorA1111, "/sdapi/v1/img2img", nil,
			`{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 1.11 GiB`},
		{"oom forge", FailOOM, FlavorForge, "/sdapi/v1/txt2img", map[string]any{"steps": 2},
			`{"error":"OutOfMemoryError","detail":"","body":"","message":"CUDA out of memory. Tried to allocate 1.11 GiB`},
		{"runtime error extras", Fail500, FlavorA1111, "/sdapi/v1/extra-single-image", nil,
			`{"error":"RuntimeError","detail":"","body":"","errors":"sdtest: injected RuntimeError"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := fastOptions()
			o.Flavor = c.flavor
			s := setup(t, o)
			body := c.body
			switch {
			case body == nil && strings.Contains(c.path, "extra"):
				body = map[string]any{"image": pngB64(t, solid(8, 8, color.NRGBA{1, 1, 1, 255})), "upscaler_1": "Lanczos"}
			case body == nil:
				body = img2imgBody(t, 2, "x")
			}
			s.FailNext(c.kind, 1)
			r := post(t, s, c.path, body)
			if r.status != http.StatusInternalServerError || !strings.HasPrefix(string(r.body), c.want) {
				t.Errorf("failed call: got %d %s, want 500 %s…", r.status, r.body, c.want)
			}
			if r := post(t, s, c.path, body); r.status != http.StatusOK {
				t.Errorf("next call: got %d %s, want 200", r.status, r.body)
			}
			mem := get(t, s, "/sdapi/v1/memory").json(t)
			ooms := mem["cuda"].(map[string]any)["events"].(map[string]any)["oom"]
			want := 0.0
			if c.kind == FailOOM {
				want = 1
			}
			if ooms != want {
				t.Errorf("memory cuda.events.oom: got %v, want %v", ooms, want)
			}
		})
	}
}

func TestFailHang(t *testing.T) {
	t.Parallel()
	t.Run("interrupt ends it", func(t *testing.T) {
		t.Parallel()
		s := setup(t, fastOptions())
		s.FailNext(FailHang, 1)
		done := make(chan response)
		go func() { done <- post(t, s, "/sdapi/v1/img2img", img2imgBody(t, 3, "x")) }()
		waitFor(t, "the hung job", func() bool { return stateOf(progress(t, s, true))["job"] == "scripts_img2img" })
		// A queued call waits behind the hang.
		queued := make(chan response)
		go func() { queued <- post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8}) }()
		waitFor(t, "the second call to queue", func() bool {
			c := s.Calls()
			return len(c) == 2 && !c[1].Queued.IsZero() && c[1].Start.IsZero()
		})
		if st := stateOf(progress(t, s, true)); st["sampling_step"] != 0.0 {
			t.Errorf("hung job stepped: %v", st)
		}
		post(t, s, "/sdapi/v1/interrupt", nil)
		if r := <-done; r.status != http.StatusOK {
			t.Errorf("hung job after interrupt: got %d %s, want 200", r.status, r.body)
		}
		if r := <-queued; r.status != http.StatusOK {
			t.Errorf("queued job: got %d, want 200", r.status)
		}
	})
	t.Run("client going away does not end it", func(t *testing.T) {
		t.Parallel()
		s := setup(t, fastOptions())
		s.FailNext(FailHang, 1)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/sdapi/v1/txt2img", strings.NewReader(`{"steps":3}`))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		waitFor(t, "the hung job", func() bool { return stateOf(progress(t, s, true))["job"] == "scripts_txt2img" })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("client error: got %v, want context.Canceled", err)
		}
		// As in the WebUI, nothing notices the closed connection: the job
		// still holds the lock, and a second call queues behind it.
		queued := make(chan response)
		go func() { queued <- post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8}) }()
		waitFor(t, "the second call to queue", func() bool {
			c := s.Calls()
			return len(c) == 2 && !c[1].Queued.IsZero()
		})
		if c := s.Calls(); c[0].Status != 0 || !c[0].End.IsZero() || !c[1].Start.IsZero() {
			t.Errorf("after the client left: got first call %+v, second %+v, want the first still running and the second queued", c[0], c[1])
		}
		if st := stateOf(progress(t, s, true)); st["job"] != "scripts_txt2img" {
			t.Errorf("job after the client left: got %v, want scripts_txt2img still running", st["job"])
		}
		post(t, s, "/sdapi/v1/interrupt", nil)
		if r := <-queued; r.status != http.StatusOK {
			t.Errorf("queued call after the interrupt: got %d %s, want 200", r.status, r.body)
		}
		waitFor(t, "the hung call to end", func() bool { return s.Calls()[0].Status != 0 })
		if c := s.Calls(); c[0].Status != StatusClientGone || !c[0].Interrupted {
			t.Errorf("hung call: got status %d interrupted %v, want %d and interrupted", c[0].Status, c[0].Interrupted, StatusClientGone)
		}
	})
}

// TestCloseWithQueue checks Close does not wait for long or queued jobs.
func TestCloseWithQueue(t *testing.T) {
	t.Parallel()
	s := New(DefaultOptions())
	results := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Post(s.URL+"/sdapi/v1/txt2img", "application/json", strings.NewReader(`{"steps":1000000,"width":8,"height":8}`))
			if err != nil {
				results <- 0
				return
			}
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	waitFor(t, "both queued", func() bool {
		c := s.Calls()
		return len(c) == 2 && !c[0].Queued.IsZero() && !c[1].Queued.IsZero()
	})
	s.Close()
	for range 2 {
		if got := <-results; got != http.StatusServiceUnavailable && got != 0 {
			t.Errorf("call during close: got %d, want 503 (or a dropped connection)", got)
		}
	}
}
