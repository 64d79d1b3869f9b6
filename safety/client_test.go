package safety_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/safety"
	"github.com/pictor/pictor/safety/safetytest"
)

// testDeadline bounds every wait in these tests.
const testDeadline = 10 * time.Second

var sentinels = []error{safety.ErrUnavailable, safety.ErrRejected, safety.ErrProtocol}

// checkErr fails unless err matches want and no other sentinel.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error = %v also matches %v, want only %v", err, s, want)
		}
	}
}

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

type bundle struct {
	srv    *safetytest.Server
	client *safety.Client
}

// setup starts a stand-in and a client for it.
func setup(t *testing.T, opts safetytest.Options, mutate func(*safety.Config)) bundle {
	t.Helper()
	srv := safetytest.New(opts)
	t.Cleanup(srv.Close)
	cfg := safety.DefaultConfig()
	cfg.URL = srv.URL()
	cfg.Timeout = testDeadline
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := safety.New(cfg, nil)
	if err != nil {
		t.Fatalf("New() = %v, want nil", err)
	}
	return bundle{srv: srv, client: c}
}

// classify runs Classify with a deadline of its own, so a hang fails the
// test instead of stalling it.
func classify(t *testing.T, ctx context.Context, c *safety.Client, img []byte, id string) (safety.Verdict, error) {
	t.Helper()
	type result struct {
		v   safety.Verdict
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := c.Classify(ctx, img, id)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(testDeadline):
		t.Fatalf("Classify did not return within %s", testDeadline)
		return safety.Verdict{}, nil
	}
}

func TestClassifyModes(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(8, 8, color.White))
	tests := []struct {
		mode        safetytest.Mode
		wantErr     error
		wantFlagged bool
		wantSexual  float64
		wantStatus  int
	}{
		{safetytest.ModeClean, nil, false, 0.02, 0},
		{safetytest.ModeFlagAll, nil, true, 0.97, 0},
		{safetytest.ModeError, safety.ErrUnavailable, false, 0, 500},
		{safetytest.ModeGarbage, safety.ErrProtocol, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, safetytest.Options{Model: "nsfw/3"}, nil)
			b.srv.SetMode(tt.mode)
			v, err := classify(t, t.Context(), b.client, img, "sku-1/"+tt.mode.String())
			checkErr(t, err, tt.wantErr)
			if got := b.srv.Calls(); got != 1 {
				t.Errorf("Calls = %d, want 1", got)
			}
			if got, want := b.srv.LastID(), "sku-1/"+tt.mode.String(); got != want {
				t.Errorf("LastID = %q, want %q", got, want)
			}
			if err != nil {
				if v.Flagged || v.Categories != nil || v.Model != "" {
					t.Errorf("verdict with error = %+v, want zero", v)
				}
				var se *safety.StatusError
				if got := errors.As(err, &se); got != (tt.wantStatus != 0) {
					t.Fatalf("errors.As(%v, *StatusError) = %v, want %v", err, got, tt.wantStatus != 0)
				}
				if se != nil && (se.StatusCode != tt.wantStatus || se.Message != "model crashed" || se.Op != "classify") {
					t.Errorf("StatusError = %+v, want classify %d \"model crashed\"", se, tt.wantStatus)
				}
				return
			}
			if v.Flagged != tt.wantFlagged {
				t.Errorf("Flagged = %v, want %v", v.Flagged, tt.wantFlagged)
			}
			if got := v.Categories["sexual"]; got != tt.wantSexual {
				t.Errorf("Categories[sexual] = %v, want %v", got, tt.wantSexual)
			}
			if v.Model != "nsfw/3" {
				t.Errorf("Model = %q, want %q", v.Model, "nsfw/3")
			}
		})
	}
}

func TestClassifyFormats(t *testing.T) {
	t.Parallel()
	webp, err := os.ReadFile("safetytest/testdata/gopher.webp")
	if err != nil {
		t.Fatalf("read webp: %v", err)
	}
	img := solid(32, 24, color.RGBA{40, 90, 200, 255})
	tests := []struct {
		name string
		data []byte
		id   string
	}{
		{"png", pngBytes(t, img), "a"},
		{"jpeg", jpegBytes(t, img), `quote " and \ and <tag> & é 雪`},
		{"webp", webp, strings.Repeat("x", safety.MaxIDBytes)},
		{"no id", pngBytes(t, img), ""},
	}
	b := setup(t, safetytest.Options{}, nil)
	b.srv.SetMode(safetytest.ModeFlagAll)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: LastID is checked after each call.
			v, err := classify(t, t.Context(), b.client, tt.data, tt.id)
			checkErr(t, err, nil)
			if !v.Flagged {
				t.Errorf("Flagged = false, want true")
			}
			if got := b.srv.LastID(); got != tt.id {
				t.Errorf("LastID = %q, want %q", got, tt.id)
			}
		})
	}
}

func TestClassifyFlagWhen(t *testing.T) {
	t.Parallel()
	marker := color.RGBA{255, 0, 255, 255}
	b := setup(t, safetytest.Options{FlagWhen: func(img image.Image) bool {
		return color.RGBAModel.Convert(img.At(img.Bounds().Min.X, img.Bounds().Min.Y)) == marker
	}}, nil)
	marked := solid(8, 8, color.White)
	marked.Set(0, 0, marker)
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
			v, err := classify(t, t.Context(), b.client, pngBytes(t, tt.img), tt.name)
			checkErr(t, err, nil)
			if v.Flagged != tt.want {
				t.Errorf("Flagged = %v, want %v", v.Flagged, tt.want)
			}
		})
	}
}

func TestClassifyHang(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(4, 4, color.White))
	tests := []struct {
		name       string
		ctxTimeout time.Duration // 0: no deadline on the caller's context
		cfgTimeout time.Duration
		wantCtxErr error
		wantText   string
	}{
		{"caller deadline", 200 * time.Millisecond, testDeadline, context.DeadlineExceeded, "deadline"},
		{"config timeout", 0, 200 * time.Millisecond, nil, "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, safetytest.Options{}, func(c *safety.Config) { c.Timeout = tt.cfgTimeout })
			b.srv.SetMode(safetytest.ModeHang)
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			_, err := classify(t, ctx, b.client, img, "")
			elapsed := time.Since(start)
			checkErr(t, err, safety.ErrUnavailable)
			if tt.wantCtxErr != nil && !errors.Is(err, tt.wantCtxErr) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantCtxErr)
			}
			if tt.wantCtxErr == nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				t.Errorf("error = %v, caller's context ended, want only the client timeout", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error = %q, want it to mention %q", err, tt.wantText)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Classify took %s, want it to return promptly after 200ms", elapsed)
			}
			if got := b.srv.Calls(); got != 1 {
				t.Errorf("Calls = %d, want 1", got)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, safetytest.Options{}, nil)
		b.srv.SetMode(safetytest.ModeHang)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := classify(t, ctx, b.client, img, "")
		checkErr(t, err, safety.ErrUnavailable)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want it to wrap context.Canceled", err)
		}
	})
}

func TestClassifyRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(40, 40, color.White))
	tests := []struct {
		name string
		img  []byte
		id   string
		max  int64
	}{
		{"over max image bytes", img, "", int64(len(img)) - 1},
		{"empty image", nil, "", 0},
		{"id too long", img, strings.Repeat("é", safety.MaxIDBytes/2+1), 0},
		{"id not utf-8", img, "sku\xff", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, safetytest.Options{}, func(c *safety.Config) { c.MaxImageBytes = tt.max })
			v, err := classify(t, t.Context(), b.client, tt.img, tt.id)
			checkErr(t, err, safety.ErrRejected)
			if v.Flagged || v.Categories != nil {
				t.Errorf("verdict = %+v, want zero", v)
			}
			if got := b.srv.Calls(); got != 0 {
				t.Errorf("Calls = %d, want 0 (nothing sent)", got)
			}
		})
	}
	t.Run("at max image bytes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, safetytest.Options{}, func(c *safety.Config) { c.MaxImageBytes = int64(len(img)) })
		_, err := classify(t, t.Context(), b.client, img, "")
		checkErr(t, err, nil)
	})
}

func TestClassifyRejectedByServer(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(40, 40, color.White))
	tests := []struct {
		name       string
		opts       safetytest.Options
		data       []byte
		wantStatus int
	}{
		{"not an image", safetytest.Options{}, []byte("GIF89a not really"), 400},
		{"truncated png", safetytest.Options{}, img[:len(img)/2], 400},
		{"over server limit", safetytest.Options{MaxImageBytes: int64(len(img)) - 1}, img, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.opts, nil)
			_, err := classify(t, t.Context(), b.client, tt.data, "")
			checkErr(t, err, safety.ErrRejected)
			var se *safety.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.wantStatus || se.Message == "" {
				t.Errorf("error = %#v, want a StatusError %d with the server's message", err, tt.wantStatus)
			}
		})
	}
}

func TestClassifyConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := safety.New(safety.Config{URL: url, Timeout: testDeadline}, nil)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	_, err = classify(t, t.Context(), c, pngBytes(t, solid(4, 4, color.White)), "")
	checkErr(t, err, safety.ErrUnavailable)
	if err := c.Health(t.Context()); !errors.Is(err, safety.ErrUnavailable) {
		t.Errorf("Health() = %v, want ErrUnavailable", err)
	}
}

// fake serves one canned answer and records the request.
type fake struct {
	status int
	header map[string]string
	body   string
	got    chan *http.Request
	gotRaw chan []byte
}

func startFake(t *testing.T, f *fake) string {
	t.Helper()
	f.got = make(chan *http.Request, 1)
	f.gotRaw = make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		select {
		case f.got <- r:
			f.gotRaw <- raw
		default:
		}
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClassifyResponses(t *testing.T) {
	t.Parallel()
	img := pngBytes(t, solid(4, 4, color.White))
	html := "<html>\n<body>" + strings.Repeat("bad gateway ", 500) + "</body></html>"
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantVerdict safety.Verdict
		wantMessage string // StatusError.Message, when not ""
	}{
		{"clean", 200, nil, `{"flagged":false,"categories":{"sexual":0.1},"model":"m"}`, nil, safety.Verdict{Categories: map[string]float64{"sexual": 0.1}, Model: "m"}, ""},
		{"flagged only", 200, nil, `{"flagged":true}`, nil, safety.Verdict{Flagged: true}, ""},
		{"extra fields ignored", 200, nil, `{"flagged":true,"latency_ms":12,"categories":{},"model":"m"}`, nil, safety.Verdict{Flagged: true, Categories: map[string]float64{}, Model: "m"}, ""},
		{"null categories and model", 200, nil, `{"flagged":false,"categories":null,"model":null}`, nil, safety.Verdict{}, ""},
		{"scores at bounds", 200, nil, `{"flagged":true,"categories":{"a":0,"b":1}}`, nil, safety.Verdict{Flagged: true, Categories: map[string]float64{"a": 0, "b": 1}}, ""},
		{"missing flagged", 200, nil, `{"categories":{"sexual":0.1},"model":"m"}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"garbage ok", 200, nil, `{"ok":true}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"capitalised flagged", 200, nil, `{"Flagged":false}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"null flagged", 200, nil, `{"flagged":null}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"string flagged", 200, nil, `{"flagged":"false"}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"number flagged", 200, nil, `{"flagged":0}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"score over 1", 200, nil, `{"flagged":false,"categories":{"sexual":97}}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"negative score", 200, nil, `{"flagged":false,"categories":{"sexual":-0.1}}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"string score", 200, nil, `{"flagged":false,"categories":{"sexual":"low"}}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"categories list", 200, nil, `{"flagged":false,"categories":["sexual"]}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"model number", 200, nil, `{"flagged":false,"model":3}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"not JSON", 200, nil, `flagged=false`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"empty", 200, nil, ``, safety.ErrProtocol, safety.Verdict{}, ""},
		{"null", 200, nil, `null`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"array", 200, nil, `[{"flagged":false}]`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"trailing data", 200, nil, `{"flagged":false} {"flagged":true}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"over 1 MiB", 200, nil, `{"flagged":false,"pad":"` + strings.Repeat("x", safety.MaxResponseBytes) + `"}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"204", 204, nil, ``, safety.ErrProtocol, safety.Verdict{}, ""},
		{"202", 202, nil, `{"flagged":false}`, safety.ErrProtocol, safety.Verdict{}, ""},
		{"redirect", 307, map[string]string{"Location": "/elsewhere"}, ``, safety.ErrProtocol, safety.Verdict{}, ""},
		{"401 proxy", 401, nil, `{"error":"login required"}`, safety.ErrProtocol, safety.Verdict{}, "login required"},
		{"404 wrong url", 404, nil, `{"detail":"Not Found"}`, safety.ErrProtocol, safety.Verdict{}, `{"detail":"Not Found"}`},
		{"405", 405, nil, ``, safety.ErrProtocol, safety.Verdict{}, ""},
		{"415", 415, nil, `{"error":"want json"}`, safety.ErrProtocol, safety.Verdict{}, "want json"},
		{"400", 400, nil, `{"error":"bad base64"}`, safety.ErrRejected, safety.Verdict{}, "bad base64"},
		{"413", 413, nil, `{"error":"too large"}`, safety.ErrRejected, safety.Verdict{}, "too large"},
		{"422", 422, nil, `{"error":"image is required"}`, safety.ErrRejected, safety.Verdict{}, "image is required"},
		{"408", 408, nil, ``, safety.ErrUnavailable, safety.Verdict{}, ""},
		{"429", 429, map[string]string{"Retry-After": "3"}, `{"error":"busy"}`, safety.ErrUnavailable, safety.Verdict{}, "busy"},
		{"500 with flagged false", 500, nil, `{"flagged":false}`, safety.ErrUnavailable, safety.Verdict{}, `{"flagged":false}`},
		{"502 html", 502, nil, html, safety.ErrUnavailable, safety.Verdict{}, ""},
		{"503", 503, nil, `{"error":"loading model"}`, safety.ErrUnavailable, safety.Verdict{}, "loading model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := startFake(t, &fake{status: tt.status, header: tt.header, body: tt.body})
			c, err := safety.New(safety.Config{URL: url, Timeout: testDeadline}, nil)
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			v, err := classify(t, t.Context(), c, img, "")
			checkErr(t, err, tt.wantErr)
			if v.Flagged != tt.wantVerdict.Flagged || v.Model != tt.wantVerdict.Model ||
				!maps.Equal(v.Categories, tt.wantVerdict.Categories) || (v.Categories == nil) != (tt.wantVerdict.Categories == nil) {
				t.Errorf("verdict = %+v, want %+v", v, tt.wantVerdict)
			}
			if err == nil {
				return
			}
			if len(err.Error()) > 600 || strings.Contains(err.Error(), "\n") {
				t.Errorf("error is %d bytes with newlines %v, want one short line: %q", len(err.Error()), strings.Contains(err.Error(), "\n"), err)
			}
			var se *safety.StatusError
			if errors.As(err, &se) {
				if se.StatusCode != tt.status {
					t.Errorf("StatusCode = %d, want %d", se.StatusCode, tt.status)
				}
				if len(se.Message) > safety.MaxErrorTextBytes {
					t.Errorf("Message is %d bytes, want at most %d", len(se.Message), safety.MaxErrorTextBytes)
				}
				if tt.wantMessage != "" && se.Message != tt.wantMessage {
					t.Errorf("Message = %q, want %q", se.Message, tt.wantMessage)
				}
			} else if tt.status != 200 {
				t.Errorf("error = %v, want a *StatusError for status %d", err, tt.status)
			}
		})
	}
}

// TestClassifyRequest checks the request on the wire, below a base path.
func TestClassifyRequest(t *testing.T) {
	t.Parallel()
	f := &fake{status: 200, body: `{"flagged":false}`}
	url := startFake(t, f)
	c, err := safety.New(safety.Config{URL: url + "/gpu-1/", Timeout: testDeadline}, nil)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	img := pngBytes(t, solid(4, 4, color.Black))
	if _, err := classify(t, t.Context(), c, img, "sku <1>"); err != nil {
		t.Fatalf("Classify() = %v", err)
	}
	r, raw := <-f.got, <-f.gotRaw
	if r.Method != "POST" || r.URL.Path != "/gpu-1/v1/classify" {
		t.Errorf("request = %s %s, want POST /gpu-1/v1/classify", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if r.ContentLength != int64(len(raw)) {
		t.Errorf("Content-Length = %d, body %d bytes, want equal", r.ContentLength, len(raw))
	}
	var body map[string]string
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", raw, err)
	}
	if len(body) != 2 || body["id"] != "sku <1>" || body["image"] != base64.StdEncoding.EncodeToString(img) {
		t.Errorf("body = %s, want image as standard base64 and id %q", raw, "sku <1>")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    safetytest.Mode
		wantErr error
	}{
		{safetytest.ModeClean, nil},
		{safetytest.ModeFlagAll, nil},
		{safetytest.ModeError, safety.ErrUnavailable},
		{safetytest.ModeGarbage, safety.ErrProtocol},
		{safetytest.ModeHang, safety.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			b := setup(t, safetytest.Options{}, func(c *safety.Config) { c.Timeout = 200 * time.Millisecond })
			b.srv.SetMode(tt.mode)
			done := make(chan error, 1)
			go func() { done <- b.client.Health(t.Context()) }()
			select {
			case err := <-done:
				checkErr(t, err, tt.wantErr)
			case <-time.After(testDeadline):
				t.Fatal("Health did not return")
			}
			if got := b.srv.Calls(); got != 0 {
				t.Errorf("Calls = %d, want 0 (health is not a classify request)", got)
			}
		})
	}
	t.Run("wrong body", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{`{"status":"loading"}`, `{"status":true}`, `ok`, ``} {
			url := startFake(t, &fake{status: 200, body: body})
			c, err := safety.New(safety.Config{URL: url}, nil)
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			checkErr(t, c.Health(t.Context()), safety.ErrProtocol)
		}
	})
	t.Run("404 is protocol", func(t *testing.T) {
		t.Parallel()
		url := startFake(t, &fake{status: 404, body: `{"detail":"Not Found"}`})
		c, err := safety.New(safety.Config{URL: url}, nil)
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		err = c.Health(t.Context())
		checkErr(t, err, safety.ErrProtocol)
		var se *safety.StatusError
		if !errors.As(err, &se) || se.Op != "health" {
			t.Errorf("error = %#v, want a health StatusError", err)
		}
	})
}
