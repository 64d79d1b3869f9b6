package safetytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDeadline bounds every wait in these tests.
const testDeadline = 10 * time.Second

func solid(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return b.Bytes()
}

func jpegBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatalf("encode jpeg: %v", err)
	}
	return b.Bytes()
}

func gifBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatalf("encode gif: %v", err)
	}
	return b.Bytes()
}

func webpBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/gopher.webp")
	if err != nil {
		t.Fatalf("read webp: %v", err)
	}
	return b
}

func imageBody(img []byte, id string) string {
	b, _ := json.Marshal(map[string]string{"image": base64.StdEncoding.EncodeToString(img), "id": id})
	return string(b)
}

type answer struct {
	status int
	ctype  string
	body   map[string]any
	raw    string
}

// send makes one request and decodes the JSON answer.
func send(t *testing.T, method, url, ctype, body string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	a := answer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: string(raw)}
	if method != http.MethodHead {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
		}
	}
	return a
}

func TestStrictness(t *testing.T) {
	t.Parallel()
	small := pngBytes(t, solid(8, 8, color.White))
	b64 := base64.StdEncoding.EncodeToString(small)
	truncated := small[:len(small)-20]
	big := pngBytes(t, noise(64, 64)) // well over the 1000-byte limit below
	tests := []struct {
		name   string
		method string
		path   string
		ctype  string
		body   string
		want   int
	}{
		{"valid png", "POST", "/v1/classify", "application/json", imageBody(small, "a"), 200},
		{"charset utf-8", "POST", "/v1/classify", "application/json; charset=UTF-8", imageBody(small, ""), 200},
		{"without id", "POST", "/v1/classify", "application/json", `{"image":"` + b64 + `"}`, 200},
		{"GET classify", "GET", "/v1/classify", "", "", 405},
		{"PUT classify", "PUT", "/v1/classify", "application/json", imageBody(small, ""), 405},
		{"POST health", "POST", "/v1/health", "application/json", "{}", 405},
		{"no content type", "POST", "/v1/classify", "", imageBody(small, ""), 415},
		{"text/plain", "POST", "/v1/classify", "text/plain", imageBody(small, ""), 415},
		{"form", "POST", "/v1/classify", "application/x-www-form-urlencoded", imageBody(small, ""), 415},
		{"latin-1 charset", "POST", "/v1/classify", "application/json; charset=latin-1", imageBody(small, ""), 415},
		{"malformed JSON", "POST", "/v1/classify", "application/json", `{"image":`, 400},
		{"empty body", "POST", "/v1/classify", "application/json", ``, 400},
		{"array", "POST", "/v1/classify", "application/json", `["` + b64 + `"]`, 400},
		{"null body", "POST", "/v1/classify", "application/json", `null`, 400},
		{"trailing data", "POST", "/v1/classify", "application/json", `{"image":"` + b64 + `"} {}`, 400},
		{"misspelt image", "POST", "/v1/classify", "application/json", `{"imgae":"` + b64 + `"}`, 400},
		{"capitalised field", "POST", "/v1/classify", "application/json", `{"Image":"` + b64 + `"}`, 400},
		{"extra field", "POST", "/v1/classify", "application/json", `{"image":"` + b64 + `","threshold":0.5}`, 400},
		{"image not a string", "POST", "/v1/classify", "application/json", `{"image":42}`, 400},
		{"id not a string", "POST", "/v1/classify", "application/json", `{"image":"` + b64 + `","id":7}`, 400},
		{"id too long", "POST", "/v1/classify", "application/json", imageBody(small, strings.Repeat("x", 201)), 400},
		{"bad base64", "POST", "/v1/classify", "application/json", `{"image":"!!!not base64!!!"}`, 400},
		{"unpadded base64", "POST", "/v1/classify", "application/json", `{"image":"` + strings.TrimRight(base64.StdEncoding.EncodeToString(small[:len(small)-1]), "=") + `"}`, 400},
		{"data URI", "POST", "/v1/classify", "application/json", `{"image":"data:image/png;base64,` + b64 + `"}`, 400},
		{"not an image", "POST", "/v1/classify", "application/json", imageBody([]byte("hello, world"), ""), 400},
		{"gif", "POST", "/v1/classify", "application/json", imageBody(gifBytes(t, solid(8, 8, color.White)), ""), 400},
		{"truncated png", "POST", "/v1/classify", "application/json", imageBody(truncated, ""), 400},
		{"png magic only", "POST", "/v1/classify", "application/json", imageBody([]byte("\x89PNG\r\n\x1a\nrest"), ""), 400},
		{"missing image", "POST", "/v1/classify", "application/json", `{"id":"x"}`, 422},
		{"empty image", "POST", "/v1/classify", "application/json", `{"image":""}`, 422},
		{"null image", "POST", "/v1/classify", "application/json", `{"image":null}`, 422},
		{"empty object", "POST", "/v1/classify", "application/json", `{}`, 422},
		{"junk at the limit", "POST", "/v1/classify", "application/json", imageBody(bytes.Repeat([]byte("a"), 1000), ""), 400},
		{"junk over the limit", "POST", "/v1/classify", "application/json", imageBody(bytes.Repeat([]byte("a"), 1001), ""), 413},
		{"image over limit", "POST", "/v1/classify", "application/json", imageBody(big, ""), 413},
		{"body over limit", "POST", "/v1/classify", "application/json", `{"image":"` + b64 + `","id":"` + strings.Repeat(" ", 8000) + `"}`, 413},
		{"unknown route", "POST", "/v1/classify/", "application/json", imageBody(small, ""), 404},
		{"old route", "POST", "/classify", "application/json", imageBody(small, ""), 404},
		{"health", "GET", "/v1/health", "", "", 200},
	}
	s := New(Options{MaxImageBytes: 1000})
	t.Cleanup(s.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := send(t, tt.method, s.URL()+tt.path, tt.ctype, tt.body)
			if a.status != tt.want {
				t.Fatalf("status = %d (%s), want %d", a.status, a.raw, tt.want)
			}
			if a.ctype != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", a.ctype)
			}
			if tt.want >= 400 {
				if msg, _ := a.body["error"].(string); msg == "" || len(a.body) != 1 {
					t.Errorf("error body = %s, want exactly {\"error\": \"...\"}", a.raw)
				}
			}
		})
	}
	t.Run("sizes", func(t *testing.T) {
		// The limits above must be what they claim: the small image fits,
		// the big one is over.
		if len(small) > 1000 || len(big) <= 1000 {
			t.Fatalf("small = %d bytes, big = %d bytes, want <= 1000 and > 1000", len(small), len(big))
		}
	})
}

// noise is an image that PNG cannot compress much.
func noise(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
	}
	return img
}

func TestFormats(t *testing.T) {
	t.Parallel()
	img := solid(16, 12, color.RGBA{10, 200, 30, 255})
	tests := []struct {
		name string
		data []byte
	}{
		{"png", pngBytes(t, img)},
		{"jpeg", jpegBytes(t, img)},
		{"webp", webpBytes(t)},
	}
	s := New(Options{})
	t.Cleanup(s.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sniff(tt.data); got != tt.name {
				t.Fatalf("sniff = %q, want %q", got, tt.name)
			}
			a := send(t, "POST", s.URL()+"/v1/classify", "application/json", imageBody(tt.data, tt.name))
			if a.status != 200 {
				t.Fatalf("status = %d (%s), want 200", a.status, a.raw)
			}
		})
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(8, 8, color.White))
	tests := []struct {
		mode       Mode
		wantStatus int
		wantBody   string
		wantHealth int
	}{
		{ModeClean, 200, `{"categories":{"hate":0,"minors":0,"self_harm":0,"sexual":0.02,"violence":0.01},"flagged":false,"model":"m/2"}`, 200},
		{ModeFlagAll, 200, `{"categories":{"hate":0,"minors":0,"self_harm":0,"sexual":0.97,"violence":0.01},"flagged":true,"model":"m/2"}`, 200},
		{ModeError, 500, `{"error":"model crashed"}`, 503},
		{ModeGarbage, 200, `{"ok":true}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			s := New(Options{Model: "m/2"})
			t.Cleanup(s.Close)
			s.SetMode(tt.mode)
			a := send(t, "POST", s.URL()+"/v1/classify", "application/json", imageBody(img, "id-"+tt.mode.String()))
			if a.status != tt.wantStatus || strings.TrimSpace(a.raw) != tt.wantBody {
				t.Errorf("classify = %d %s, want %d %s", a.status, strings.TrimSpace(a.raw), tt.wantStatus, tt.wantBody)
			}
			if got, want := s.LastID(), "id-"+tt.mode.String(); got != want {
				t.Errorf("LastID = %q, want %q", got, want)
			}
			if got := s.Calls(); got != 1 {
				t.Errorf("Calls = %d, want 1", got)
			}
			h := send(t, "GET", s.URL()+"/v1/health", "", "")
			if h.status != tt.wantHealth {
				t.Errorf("health = %d %s, want %d", h.status, h.raw, tt.wantHealth)
			}
		})
	}
}

func TestFlagWhen(t *testing.T) {
	t.Parallel()
	red := color.RGBA{255, 0, 0, 255}
	s := New(Options{FlagWhen: func(img image.Image) bool {
		r, g, b, _ := img.At(0, 0).RGBA()
		return r == 0xffff && g == 0 && b == 0
	}})
	t.Cleanup(s.Close)
	marked := solid(8, 8, color.White)
	marked.Set(0, 0, red)
	tests := []struct {
		name string
		img  image.Image
		want bool
	}{
		{"marked", marked, true},
		{"plain", solid(8, 8, color.White), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := send(t, "POST", s.URL()+"/v1/classify", "application/json", imageBody(pngBytes(t, tt.img), ""))
			if got, ok := a.body["flagged"].(bool); !ok || got != tt.want {
				t.Errorf("flagged = %v (%s), want %v", a.body["flagged"], a.raw, tt.want)
			}
		})
	}
}

// TestHangReleasedByClose checks that Close ends a hanging request with 503
// instead of blocking.
func TestHangReleasedByClose(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.SetMode(ModeHang)
	img := pngBytes(t, solid(4, 4, color.White))
	got := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/v1/classify", strings.NewReader(imageBody(img, "")))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- err.Error()
			return
		}
		resp.Body.Close()
		got <- fmt.Sprint(resp.StatusCode)
	}()
	select {
	case <-s.hangs:
	case <-time.After(testDeadline):
		t.Fatal("request never started to hang")
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(testDeadline):
		t.Fatal("Close blocked on a hanging request")
	}
	select {
	case g := <-got:
		if g != "503" {
			t.Errorf("hanging request got %s, want 503", g)
		}
	case <-time.After(testDeadline):
		t.Fatal("client never returned")
	}
}

// TestHangReleasedByClient checks that a hanging handler returns when its
// client gives up, so that Close does not wait for it.
func TestHangReleasedByClient(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	s.SetMode(ModeHang)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/v1/health", nil)
		_, err := http.DefaultClient.Do(req)
		errc <- err
	}()
	select {
	case <-s.hangs:
	case <-time.After(testDeadline):
		t.Fatal("request never started to hang")
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("cancelled request succeeded, want an error")
		}
	case <-time.After(testDeadline):
		t.Fatal("client never returned")
	}
	select {
	case <-s.unhangs:
	case <-time.After(testDeadline):
		t.Fatal("handler still hangs after its client gave up")
	}
	s.Close()
}

// TestConcurrentModes runs requests while the mode changes; run with -race.
func TestConcurrentModes(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	t.Cleanup(s.Close)
	img := pngBytes(t, solid(4, 4, color.White))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				s.SetMode([]Mode{ModeClean, ModeFlagAll, ModeError, ModeGarbage}[(i+j)%4])
				a := send(t, "POST", s.URL()+"/v1/classify", "application/json", imageBody(img, fmt.Sprint(i)))
				if a.status != 200 && a.status != 500 {
					t.Errorf("status = %d, want 200 or 500", a.status)
				}
				_ = s.LastID()
			}
		})
	}
	wg.Wait()
	if got := s.Calls(); got != 40 {
		t.Errorf("Calls = %d, want 40", got)
	}
}

func TestModeString(t *testing.T) {
	t.Parallel()
	for m, want := range map[Mode]string{ModeClean: "clean", ModeFlagAll: "flag-all", ModeError: "error", ModeHang: "hang", ModeGarbage: "garbage", Mode(9): "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}
