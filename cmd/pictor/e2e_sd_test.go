package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/waitfor"
)

// startStub runs cmd/sdstub, the stand-in WebUI, on a free loopback port.
func startStub(t *testing.T, stepLatency string) string {
	t.Helper()
	return runStub(t, "-addr", "127.0.0.1:0", "-step-latency", stepLatency, "-preview-every", "2")
}

// runStub runs cmd/sdstub with args (which must make it listen on a free port) and returns
// its URL once it says it listens; it is stopped when the test ends.
func runStub(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(stubBinary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "sdstub listening on "); ok {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(20 * time.Second):
		t.Fatalf("sdstub %v did not start", args)
	}
	return ""
}

// shot is a studio product shot: a red box with a blue band on white, as PNG.
func shot(t *testing.T) ([]byte, image.Image) {
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(120, 70, 280, 240), image.NewUniform(color.RGBA{190, 40, 30, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(120, 140, 280, 160), image.NewUniform(color.RGBA{20, 50, 210, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), img
}

func decodeURL(t *testing.T, s *server, url string) image.Image {
	t.Helper()
	r := s.call(t, "GET", url, "", nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, r.StatusCode)
	}
	img, _, err := image.Decode(r.Body)
	if err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
	return img
}

type rendAnswer struct {
	Renditions []struct {
		ID, Name, Format, URL string
		Width, Height         int
		Lineage               map[string]string
		GPUSeconds            float64 `json:"gpu_seconds"`
	}
	Job *struct {
		ID    int64
		State string
	}
}

func TestAIStepsAgainstStub(t *testing.T) {
	t.Parallel()
	stub := startStub(t, "3ms")
	s := startServer(t, "PICTOR_SD_URLS="+stub, "PICTOR_PROMPT_BLOCKLIST=nsfw")
	src, srcImg := shot(t)
	var ing ingestAnswer
	if r := s.call(t, "POST", "/v1/images?sku=AI-1", "image/png", bytes.NewReader(src), &ing); r.StatusCode != 201 {
		t.Fatalf("ingest: %d %s", r.StatusCode, body(r))
	}
	render := func(t *testing.T, recipe string) rendAnswer {
		t.Helper()
		var a rendAnswer
		r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/renditions", "application/json",
			strings.NewReader(`{"wait":"60s","recipe":`+recipe+`}`), &a)
		if r.StatusCode != 201 || len(a.Renditions) == 0 {
			t.Fatalf("render: %d %s", r.StatusCode, body(r))
		}
		return a
	}

	t.Run("upscale", func(t *testing.T) {
		a := render(t, `{"steps":[{"op":"upscale","engine":"sd","factor":2}],"outputs":[{"name":"big","format":"png"}]}`)
		if got := a.Renditions[0]; got.Width != 800 || got.Height != 600 || got.GPUSeconds <= 0 {
			t.Errorf("upscaled = %+v, want 800x600 with GPU time", got)
		}
	})
	t.Run("cut-out", func(t *testing.T) {
		a := render(t, `{"steps":[{"op":"remove_background","engine":"sd"}],"outputs":[{"name":"cut","format":"png"}]}`)
		img := decodeURL(t, s, a.Renditions[0].URL)
		if _, _, _, alpha := img.At(5, 5).RGBA(); alpha != 0 {
			t.Errorf("corner alpha = %d, want 0 (background cut away)", alpha)
		}
		if _, _, _, alpha := img.At(200, 180).RGBA(); alpha != 0xffff {
			t.Errorf("product alpha = %d, want opaque", alpha)
		}
	})
	t.Run("background replacement keeps product pixels", func(t *testing.T) {
		a := render(t, `{"steps":[{"op":"remove_background","engine":"sd"},
			{"op":"replace_background","prompt":"a sunlit oak table","seed":7}],"outputs":[{"name":"scene","format":"png"}]}`)
		if a.Renditions[0].Lineage["seed"] != "7" || a.Renditions[0].Lineage["prompt"] != "a sunlit oak table" {
			t.Errorf("lineage = %v", a.Renditions[0].Lineage)
		}
		out := decodeURL(t, s, a.Renditions[0].URL)
		// Inside the product, eroded by 4 px from its edge, every pixel is the source's.
		for y := 74; y < 236; y++ {
			for x := 124; x < 276; x++ {
				if !sameRGB(out.At(x, y), srcImg.At(x, y)) {
					t.Fatalf("product pixel (%d,%d) = %v, want the source's %v", x, y, out.At(x, y), srcImg.At(x, y))
				}
			}
		}
		if sameRGB(out.At(10, 10), srcImg.At(10, 10)) && sameRGB(out.At(390, 290), srcImg.At(390, 290)) {
			t.Error("background unchanged: want a new one")
		}
	})
	t.Run("202 without wait", func(t *testing.T) {
		var a rendAnswer
		r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/renditions", "application/json",
			strings.NewReader(`{"recipe":{"steps":[{"op":"upscale","engine":"sd","factor":1.5}],"outputs":[{"name":"o","format":"png"}]}}`), &a)
		if r.StatusCode != 202 || a.Job == nil || r.Header.Get("Location") == "" {
			t.Fatalf("async render: %d %s", r.StatusCode, body(r))
		}
		var job struct {
			State  string
			Output struct{ Renditions []struct{ Width int } }
		}
		if !waitfor.Poll(30*time.Second, func() bool {
			s.call(t, "GET", r.Header.Get("Location"), "", nil, &job)
			return job.State == "completed"
		}) {
			t.Fatalf("job state %q after 30s, want completed", job.State)
		}
		if len(job.Output.Renditions) != 1 || job.Output.Renditions[0].Width != 600 {
			t.Errorf("job output = %+v", job.Output)
		}
	})
	t.Run("backends", func(t *testing.T) {
		var b struct {
			Configured bool
			Backends   []struct {
				Healthy    bool
				GPUSeconds float64 `json:"gpu_seconds"`
			}
		}
		if r := s.call(t, "GET", "/v1/backends", "", nil, &b); r.StatusCode != 200 || !b.Configured || len(b.Backends) != 1 || !b.Backends[0].Healthy {
			t.Errorf("backends: %d %+v", r.StatusCode, b)
		}
	})
	t.Run("blocked prompt", func(t *testing.T) {
		var p problem
		r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/scenes", "application/json", strings.NewReader(`{"prompt":"an NSFW room"}`), &p)
		if r.StatusCode != 422 || p.Type != "urn:pictor:problem:prompt-blocked" {
			t.Errorf("blocked prompt: %d %+v", r.StatusCode, p)
		}
	})
}

func sameRGB(a, b color.Color) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	return r1>>8 == r2>>8 && g1>>8 == g2>>8 && b1>>8 == b2>>8
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
}

// readEvents reads a server-sent event stream until it ends.
func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

func TestSceneWithEventsAndApproval(t *testing.T) {
	t.Parallel()
	// Slow enough steps that progress is polled mid-generation (every 500ms).
	stub := startStub(t, "40ms")
	s := startServer(t, "PICTOR_SD_URLS="+stub)
	src, _ := shot(t)
	var ing ingestAnswer
	if r := s.call(t, "POST", "/v1/images", "image/png", bytes.NewReader(src), &ing); r.StatusCode != 201 {
		t.Fatalf("ingest: %d %s", r.StatusCode, body(r))
	}
	if r := s.call(t, "PUT", "/v1/templates/kitchen", "application/json", strings.NewReader(`{"prompt":"{product} on a {scene}, {lighting}"}`), nil); r.StatusCode != 201 {
		t.Fatalf("template: %d %s", r.StatusCode, body(r))
	}
	var sc struct {
		ID, Prompt, State string
		Seed              int64
	}
	r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/scenes", "application/json", strings.NewReader(
		`{"template":"kitchen","variables":{"product":"a red box","scene":"marble counter","lighting":"soft light"},"variants":4,"seed":1000,"steps":40}`), &sc)
	if r.StatusCode != 202 || sc.ID == "" || sc.Prompt != "a red box on a marble counter, soft light" {
		t.Fatalf("create scene: %d %s", r.StatusCode, body(r))
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/scenes/"+sc.ID+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	events := readEvents(t, resp.Body)
	var progress []float64
	variants, previews := 0, 0
	var done struct {
		State   string
		Results []struct {
			Index     int
			Seed      int64
			Rendition struct{ ID string }
		}
	}
	for _, e := range events {
		switch e.name {
		case "progress":
			var p struct {
				Progress   float64
				PreviewURL string `json:"preview_url"`
			}
			json.Unmarshal([]byte(e.data), &p)
			progress = append(progress, p.Progress)
			if p.PreviewURL != "" {
				previews++
			}
		case "variant":
			variants++
		case "done":
			json.Unmarshal([]byte(e.data), &done)
		}
	}
	if done.State != "succeeded" || len(done.Results) != 4 || variants != 4 {
		t.Fatalf("done = %+v after %d variant events", done, variants)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] < progress[i-1] {
			t.Errorf("progress went back: %v", progress)
			break
		}
	}
	if len(progress) < 3 || progress[len(progress)-1] != 1 {
		t.Errorf("progress events %v, want several ending at 1", progress)
	}
	if previews == 0 {
		t.Error("no progress event carried a preview URL")
	}
	for k, v := range done.Results {
		if v.Seed != 1000+int64(k) {
			t.Errorf("variant %d seed %d, want %d", k, v.Seed, 1000+k)
		}
	}
	var approved struct {
		ApprovedVariant *int `json:"approved_variant"`
	}
	if r := s.call(t, "POST", "/v1/scenes/"+sc.ID+"/approve", "application/json", strings.NewReader(`{"variant":2}`), &approved); r.StatusCode != 200 || approved.ApprovedVariant == nil || *approved.ApprovedVariant != 2 {
		t.Fatalf("approve: %d %s", r.StatusCode, body(r))
	}
	var img struct {
		SceneRenditionID string `json:"scene_rendition_id"`
	}
	s.call(t, "GET", "/v1/images/"+ing.Image.ID, "", nil, &img)
	if img.SceneRenditionID != done.Results[2].Rendition.ID {
		t.Errorf("image scene rendition %q, want variant 2's %s", img.SceneRenditionID, done.Results[2].Rendition.ID)
	}
}

func TestGPUWorkWithoutBackend(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	src, _ := shot(t)
	var ing ingestAnswer
	if r := s.call(t, "POST", "/v1/images", "image/png", bytes.NewReader(src), &ing); r.StatusCode != 201 {
		t.Fatalf("ingest: %d", r.StatusCode)
	}
	for name, c := range map[string]struct{ path, body string }{
		"sd upscale": {"/v1/images/" + ing.Image.ID + "/renditions", `{"recipe":{"steps":[{"op":"upscale","engine":"sd"}],"outputs":[{"name":"o"}]}}`},
		"scene":      {"/v1/images/" + ing.Image.ID + "/scenes", `{"prompt":"a beach"}`},
	} {
		var p problem
		r := s.call(t, "POST", c.path, "application/json", strings.NewReader(c.body), &p)
		if r.StatusCode != 503 || p.Type != "urn:pictor:problem:sd-backend-required" || !strings.Contains(p.Detail, "PICTOR_SD_URLS") {
			t.Errorf("%s: %d %+v, want 503 telling to configure a backend", name, r.StatusCode, p)
		}
	}
	// The classic engines need no backend.
	var a rendAnswer
	r := s.call(t, "POST", "/v1/images/"+ing.Image.ID+"/renditions", "application/json",
		strings.NewReader(`{"recipe":{"steps":[{"op":"upscale","factor":2},{"op":"remove_background"}],"outputs":[{"name":"o","format":"png"}]}}`), &a)
	if r.StatusCode != 201 || a.Renditions[0].Width != 800 {
		t.Errorf("classic upscale + cut-out: %d %s", r.StatusCode, body(r))
	}
	var b struct{ Configured bool }
	if s.call(t, "GET", "/v1/backends", "", nil, &b); b.Configured {
		t.Error("backends configured without PICTOR_SD_URLS")
	}
}
