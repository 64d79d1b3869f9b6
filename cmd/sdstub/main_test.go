package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader; when wrote is set,
// every write signals it (without blocking).
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		select {
		case b.wrote <- struct{}{}:
		default:
		}
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantStatus int
		wantBody   string
	}{
		{"a1111", []string{"-step-latency", "1ms"}, 404,
			`{"error":"HTTPException","detail":"Init image not found","body":"","errors":""}`},
		{"forge", []string{"-flavor", "forge"}, 404, `{"detail":"Init image not found"}`},
		{"auth", []string{"-auth", "u:p"}, 401,
			`{"error":"HTTPException","detail":"Not authenticated","body":"","errors":""}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, c.args)
			base, stderr := r.base, r.stderr
			resp, err := http.Post(base+"/sdapi/v1/img2img", "application/json", strings.NewReader(`{"prompt":"x"}`))
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus || string(body) != c.wantBody {
				t.Errorf("img2img: got %d %s, want %d %s", resp.StatusCode, body, c.wantStatus, c.wantBody)
			}
			if c.name == "a1111" {
				resp, err := http.Post(base+"/sdapi/v1/txt2img", "application/json", strings.NewReader(`{"steps":2,"width":16,"height":16}`))
				if err != nil {
					t.Fatalf("txt2img: %v", err)
				}
				var out struct{ Images []string }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(out.Images) != 1 {
					t.Errorf("txt2img: got %d, %d images, %v; want 200 with 1 image", resp.StatusCode, len(out.Images), err)
				}
				if !strings.Contains(stderr.String(), "path=/sdapi/v1/txt2img") {
					t.Errorf("request log: got %q, want a txt2img record", stderr.String())
				}
			}
			r.stop(t)
		})
	}
}

// TestRunStrictness: sdstub refuses a misspelt field unless -lenient, and serves the
// UI's task progress route unless -nowebui.
func TestRunStrictness(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                   string
		args                   []string
		wantTxt2Img, wantTasks int
	}{
		{"default", nil, http.StatusUnprocessableEntity, http.StatusOK},
		{"lenient nowebui", []string{"-lenient", "-nowebui"}, http.StatusOK, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, append([]string{"-step-latency", "1ms"}, c.args...))
			for _, call := range []struct {
				path, body string
				want       int
			}{
				{"/sdapi/v1/txt2img", `{"steps":1,"width":8,"height":8,"negativ_prompt":"x"}`, c.wantTxt2Img},
				{"/internal/progress", `{"id_task":"task(x)"}`, c.wantTasks},
			} {
				resp, err := http.Post(r.base+call.path, "application/json", strings.NewReader(call.body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != call.want {
					t.Errorf("%s: got %d %s, want %d", call.path, resp.StatusCode, body, call.want)
				}
			}
			r.stop(t)
		})
	}
}

// running is a run started by start.
type running struct {
	base   string // "http://127.0.0.1:PORT"
	stderr *syncBuffer
	cancel context.CancelFunc
	errc   chan error
}

// start runs sdstub on a free port with args and waits, with a deadline,
// for its listening line. The caller calls stop; a cleanup stops it too.
func start(t *testing.T, args []string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &syncBuffer{wrote: make(chan struct{}, 1)}
	r := &running{stderr: &syncBuffer{}, cancel: cancel, errc: make(chan error, 1)}
	go func() {
		r.errc <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), stdout, r.stderr)
	}()
	t.Cleanup(cancel)
	timeout := time.After(10 * time.Second)
	for {
		if out := stdout.String(); strings.HasPrefix(out, "sdstub listening on http://127.0.0.1:") && strings.HasSuffix(out, "\n") {
			r.base = strings.TrimSpace(strings.TrimPrefix(out, "sdstub listening on "))
			return r
		}
		select {
		case <-stdout.wrote:
		case err := <-r.errc:
			t.Fatalf("run ended early: %v (stderr %s)", err, r.stderr.String())
		case <-timeout:
			t.Fatalf("no listening line; stdout %q", stdout.String())
		}
	}
}

// stop cancels the run and checks that it ended cleanly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.errc:
		if err != nil {
			t.Errorf("run: got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end within 10s of cancel")
	}
}

// call sends one request and returns the status and body.
func call(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(raw)
}

// rembgMask asks /rembg for the mask of a 32×32 picture: a dark square on
// white, and returns how many of its pixels are product (non-zero).
func rembgMask(t *testing.T, base string) int {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := color.NRGBA{255, 255, 255, 255}
			if x >= 10 && x < 22 && y >= 10 && y < 22 {
				c = color.NRGBA{40, 60, 90, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("encode: %v", err)
	}
	req, _ := json.Marshal(map[string]any{"input_image": base64.StdEncoding.EncodeToString(buf.Bytes()), "return_mask": true})
	status, body := call(t, http.MethodPost, base+"/rembg", "application/json", string(req))
	if status != http.StatusOK {
		t.Fatalf("rembg: got %d %s, want 200", status, body)
	}
	var out struct{ Image string }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("rembg body: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Image)
	if err != nil {
		t.Fatalf("rembg image: %v", err)
	}
	m, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("rembg png: %v", err)
	}
	n := 0
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			if r, _, _, _ := m.At(x, y).RGBA(); r != 0 {
				n++
			}
		}
	}
	return n
}

func TestRunFaults(t *testing.T) {
	t.Parallel()
	r := start(t, []string{"-step-latency", "1ms", "-faults", " mask=full , upscale=blurry"})
	// The control route answers and changes the faults in order.
	steps := []struct {
		name, method, body string
		wantStatus         int
		wantBody           string // "" with 204 means no body
		wantProduct        int    // product pixels in a rembg mask afterwards
	}{
		{"flag sets the faults", http.MethodGet, "", 200, "mask=full,upscale=blurry", 32 * 32},
		{"put changes them", http.MethodPut, "mask=empty", 204, "", 0},
		{"get reads them back", http.MethodGet, "", 200, "mask=empty", 0},
		{"bad put is refused", http.MethodPut, "mask=wobble", 400, "", 0},
		{"put empty clears them", http.MethodPut, "", 204, "", 12 * 12},
		{"get reads none", http.MethodGet, "", 200, "", 12 * 12},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, body := call(t, st.method, r.base+"/sdtest/faults", "text/plain", st.body)
			if status != st.wantStatus {
				t.Fatalf("status: got %d %s, want %d", status, body, st.wantStatus)
			}
			switch status {
			case 200, 204:
				if body != st.wantBody {
					t.Errorf("body: got %q, want %q", body, st.wantBody)
				}
			case 400:
				if !strings.Contains(body, "wobble") {
					t.Errorf("body: got %s, want it to name the bad value", body)
				}
			}
			if got := rembgMask(t, r.base); got != st.wantProduct {
				t.Errorf("rembg mask: got %d product pixels, want %d", got, st.wantProduct)
			}
		})
	}
	if status, body := call(t, http.MethodGet, r.base+"/sdtest/other", "", ""); status != 404 || body != `{"detail":"Not Found"}` {
		t.Errorf("unknown route: got %d %s, want 404 Not Found", status, body)
	}
	r.stop(t)
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		args    []string
		mention string // the error names this; "" to skip
	}{
		{"unknown flavor", []string{"-flavor", "comfy"}, ""},
		{"bad auth", []string{"-auth", "nocolon"}, ""},
		{"unknown flag", []string{"-nope"}, ""},
		{"extra argument", []string{"serve"}, ""},
		{"bad log level", []string{"-log-level", "loud"}, ""},
		{"unknown fault mode", []string{"-faults", "mask=wobble"}, `-faults: parse faults "mask=wobble": mask fault "wobble"`},
		{"unknown fault key", []string{"-faults", "colour=red"}, `-faults: fault key "colour"`},
		{"bad mask shift", []string{"-faults", "mask=shift,mask_shift=-1"}, `-faults: mask_shift "-1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, c.args...), &out, &errb)
			if err == nil {
				t.Fatalf("run: got nil, want an error")
			}
			if c.mention != "" && !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error: got %q, want it to contain %q", err, c.mention)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", out.String())
			}
		})
	}
}

// TestMainExitCode runs main in a child process (this test binary again):
// a bad -faults value exits with status 2 and names the value on stderr.
func TestMainExitCode(t *testing.T) {
	if os.Getenv("SDSTUB_TEST_MAIN") == "1" {
		os.Args = []string{"sdstub", "-addr", "127.0.0.1:0", "-faults", "upscale=sharp"}
		main()
		return
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMainExitCode$")
	cmd.Env = append(os.Environ(), "SDSTUB_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: got %v, want status 2 (stderr %s)", err, stderr.String())
	}
	if want := `sdstub: -faults: parse faults "upscale=sharp": upscale fault "sharp" is not "blurry"`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), want)
	}
}

// TestRunRembgServer runs sdstub -rembg and checks that it answers as rembg's
// standalone server: a raw PNG for a multipart file, FastAPI's 422 without one, and
// no WebUI routes.
func TestRunRembgServer(t *testing.T) {
	t.Parallel()
	r := start(t, []string{"-rembg", "-step-latency", "1ms"})
	defer r.stop(t)
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 8; y < 24; y++ {
		for x := 8; x < 24; x++ {
			img.Set(x, y, color.NRGBA{R: 30, G: 40, B: 50, A: 255})
		}
	}
	var pic bytes.Buffer
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("om", "true")
	fw, _ := mw.CreateFormFile("file", "in.png")
	_, _ = fw.Write(pic.Bytes())
	_ = mw.Close()
	status, answer := call(t, http.MethodPost, r.base+"/api/remove", mw.FormDataContentType(), body.String())
	if status != http.StatusOK {
		t.Fatalf("POST /api/remove: got %d %s, want 200", status, answer)
	}
	mask, err := png.Decode(strings.NewReader(answer))
	if err != nil {
		t.Fatalf("answer is not a PNG: %v", err)
	}
	if g, ok := mask.(*image.Gray); !ok || g.GrayAt(16, 16).Y != 255 || g.GrayAt(1, 1).Y != 0 {
		t.Errorf("mask: got %T, want an L mask white on the product", mask)
	}
	status, answer = call(t, http.MethodPost, r.base+"/api/remove", "application/json", `{}`)
	if want := `{"detail":[{"type":"missing","loc":["body","file"],"msg":"Field required","input":null}]}`; status != 422 || answer != want {
		t.Errorf("POST /api/remove without a file: got %d %s, want 422 %s", status, answer, want)
	}
	if status, _ := call(t, http.MethodGet, r.base+"/sdapi/v1/progress", "", ""); status != 404 {
		t.Errorf("GET /sdapi/v1/progress: got %d, want 404", status)
	}
}
