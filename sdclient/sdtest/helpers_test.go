package sdtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// setup starts a server for one test and closes it at the end.
func setup(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// fastOptions are DefaultOptions with 1ms steps.
func fastOptions() Options {
	o := DefaultOptions()
	o.StepLatency = time.Millisecond
	return o
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, method, url string, body any, hdr map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
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
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func post(t *testing.T, s *Server, path string, body any) response {
	t.Helper()
	return do(t, http.MethodPost, s.URL+path, body, nil)
}

func get(t *testing.T, s *Server, path string) response {
	t.Helper()
	return do(t, http.MethodGet, s.URL+path, nil, nil)
}

// solid returns a w×h picture of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// product returns a w×h picture: a near-white background with a textured
// dark "product" in the rectangle r.
func product(w, h int, r image.Rectangle) *image.NRGBA {
	img := solid(w, h, color.NRGBA{250, 250, 248, 255})
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2] = uint8(40+x%50), uint8(60+y%40), 90
		}
	}
	return img
}

// rectMask returns a w×h L mask, white inside r.
func rectMask(w, h int, r image.Rectangle) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			m.Pix[y*w+x] = 255
		}
	}
	return m
}

func pngB64(t *testing.T, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// decodeB64 decodes a base64 PNG the server answered.
func decodeB64(t *testing.T, s any) image.Image {
	t.Helper()
	str, ok := s.(string)
	if !ok {
		t.Fatalf("image is %T, want string", s)
	}
	if strings.HasPrefix(str, "data:") {
		t.Fatalf("image has a data: prefix")
	}
	raw, err := base64.StdEncoding.DecodeString(str)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("png: %v", err)
	}
	return img
}

func rgbAt(img image.Image, x, y int) [3]int {
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	return [3]int{int(c.R), int(c.G), int(c.B)}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// images returns the decoded "images" of a generation response.
func images(t *testing.T, m map[string]any) []image.Image {
	t.Helper()
	list, ok := m["images"].([]any)
	if !ok {
		t.Fatalf("images is %T, want list", m["images"])
	}
	out := make([]image.Image, len(list))
	for i, x := range list {
		out[i] = decodeB64(t, x)
	}
	return out
}

// info decodes the JSON string in "info".
func info(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	str, ok := m["info"].(string)
	if !ok {
		t.Fatalf("info is %T, want a JSON string", m["info"])
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(str), &out); err != nil {
		t.Fatalf("info %q: %v", str, err)
	}
	return out
}

// waitFor polls cond until it holds, failing after a generous deadline.
// It orders events; it never asserts on durations.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// progress reads /progress.
func progress(t *testing.T, s *Server, skip bool) map[string]any {
	t.Helper()
	path := "/sdapi/v1/progress?skip_current_image=false"
	if skip {
		path = "/sdapi/v1/progress?skip_current_image=true"
	}
	r := get(t, s, path)
	if r.status != http.StatusOK {
		t.Fatalf("progress: got %d %s, want 200", r.status, r.body)
	}
	return r.json(t)
}

func stateOf(m map[string]any) map[string]any {
	st, _ := m["state"].(map[string]any)
	return st
}

// rgbBytes flattens a picture's RGB channels.
func rgbBytes(img image.Image) []byte {
	b := img.Bounds()
	out := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgbAt(img, x, y)
			out = append(out, byte(c[0]), byte(c[1]), byte(c[2]))
		}
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
