package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/testenv"
)

// binary and stubBinary are the pictor and sdstub binaries built once for the
// end-to-end tests.
var binary, stubBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pictor-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pictor")
	stubBinary = filepath.Join(dir, "sdstub")
	for bin, pkg := range map[string]string{binary: ".", stubBinary: "../sdstub"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `pictor serve` process.
type server struct {
	base string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{} // closed when the process has exited; waitErr is then set
	// waitErr is what cmd.Wait returned: nil for a clean exit.
	waitErr error
}

// startServer runs pictor serve on a free loopback port with env added to a clean
// embedded-default environment, and stops it when the test ends.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-addr", "127.0.0.1:0")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PICTOR_DATA_DIR=" + t.TempDir(), "PICTOR_LOG_LEVEL=warn"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: logs, done: make(chan struct{})}
	done := s.done
	go func() { s.waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "pictor listening on "); ok {
				lines <- u
			}
		}
	}()
	select {
	case u := <-lines:
		s.base = u
		return s
	case <-done:
		t.Fatalf("pictor exited at start:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("pictor did not start:\n%s", logs.String())
	}
	return nil
}

// call sends a request and decodes a JSON answer into out (when not nil).
func (s *server) call(t *testing.T, method, path, contentType string, body io.Reader, out any, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp
}

func body(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// photo makes a JPEG of w x h with some structure.
func photo(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0xff), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sources serves fixed bytes by path from 127.0.0.1, plus redirects.
func sources(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("redirect"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type ingestAnswer struct {
	Image struct {
		ID, SHA256, SKU, Format string
		Width, Height           int
		Bytes                   int64
	}
	Renditions []struct {
		ID, Name, Format, URL string
		Width, Height         int
		Bytes                 int64
		Cached                bool
	}
}

type problem struct {
	Type, Title, Detail string
	Status              int
	Errors              []struct{ Field, Message string }
}

const listingRecipe = `{"steps":[{"op":"auto_orient"},{"op":"resize","width":800,"height":800,"fit":"inside"}],
 "outputs":[{"name":"main","format":"jpeg","quality":80},{"name":"thumb","format":"webp","resize":{"width":200,"height":200,"fit":"cover"}}]}`

// environments are the shapes the listing path is run on end to end.
func environments(t *testing.T) map[string][]string {
	out := map[string][]string{"embedded": nil}
	if os.Getenv("PICTOR_TEST_DATABASE_URL") != "" || testenv.Required() {
		s3 := testenv.S3(t)
		out["postgres+minio"] = []string{
			"PICTOR_DATABASE_URL=" + testenv.FreshPostgres(t),
			"PICTOR_S3_ENDPOINT=" + s3.Endpoint, "PICTOR_S3_ACCESS_KEY=" + s3.AccessKey, "PICTOR_S3_SECRET_KEY=" + s3.SecretKey,
			"PICTOR_S3_BUCKET_ORIGINALS=" + testenv.Bucket(t, "orig"), "PICTOR_S3_BUCKET_RENDITIONS=" + testenv.Bucket(t, "rend"),
		}
	}
	return out
}

func TestListingPath(t *testing.T) {
	src := sources(t, map[string][]byte{"/photo.jpg": photo(t, 2000, 1250)})
	for name, env := range environments(t) {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, append(env, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8")...)
			// A named recipe, then an ingest by URL that uses it.
			if r := s.call(t, "PUT", "/v1/recipes/listing-main", "application/json", strings.NewReader(listingRecipe), nil); r.StatusCode != 201 {
				t.Fatalf("put recipe: %d %s", r.StatusCode, body(r))
			}
			req := `{"url":"` + src.URL + `/photo.jpg","sku":"A-1","recipe":"listing-main"}`
			var first ingestAnswer
			r := s.call(t, "POST", "/v1/images", "application/json", strings.NewReader(req), &first)
			if r.StatusCode != 201 {
				t.Fatalf("ingest: %d %s", r.StatusCode, body(r))
			}
			if first.Image.Width != 2000 || first.Image.SKU != "A-1" || first.Image.Format != "jpeg" || len(first.Renditions) != 2 {
				t.Fatalf("ingest answer = %+v", first)
			}
			main, thumb := first.Renditions[0], first.Renditions[1]
			if main.Width != 800 || main.Height != 500 || main.Format != "jpeg" || thumb.Width != 200 || thumb.Format != "webp" || main.Cached {
				t.Errorf("renditions = %+v", first.Renditions)
			}
			// The rendition content route serves the bytes with caching headers.
			r = s.call(t, "GET", main.URL, "", nil, nil)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/jpeg" || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") || r.Header.Get("ETag") == "" {
				t.Fatalf("content: %d %v", r.StatusCode, r.Header)
			}
			if got := len(body(r)); int64(got) != main.Bytes {
				t.Errorf("content is %d bytes, want %d", got, main.Bytes)
			}
			if r2 := s.call(t, "GET", main.URL, "", nil, nil, "If-None-Match", r.Header.Get("ETag")); r2.StatusCode != 304 {
				t.Errorf("If-None-Match: %d, want 304", r2.StatusCode)
			}
			// The same request again is answered from the cache: no decode.
			runsBefore := metric(t, s, "pictor_pipeline_runs_total")
			var second ingestAnswer
			if r := s.call(t, "POST", "/v1/images", "application/json", strings.NewReader(req), &second); r.StatusCode != 201 {
				t.Fatalf("repeat ingest: %d %s", r.StatusCode, body(r))
			}
			if !second.Renditions[0].Cached || !second.Renditions[1].Cached || second.Renditions[0].ID != main.ID {
				t.Errorf("repeat renditions = %+v, want cached", second.Renditions)
			}
			if got := metric(t, s, "pictor_pipeline_runs_total"); got != runsBefore {
				t.Errorf("pipeline runs went %v -> %v on a cached request", runsBefore, got)
			}
			// Metadata, original bytes, listing.
			var img struct {
				ID      string
				Quality *struct{ Sharpness float64 }
			}
			if r := s.call(t, "GET", "/v1/images/"+first.Image.ID, "", nil, &img); r.StatusCode != 200 || img.Quality == nil {
				t.Errorf("get image: %d %+v", r.StatusCode, img)
			}
			if r := s.call(t, "GET", "/v1/images/"+first.Image.ID+"/content", "", nil, nil); r.StatusCode != 200 || int64(len(body(r))) != first.Image.Bytes {
				t.Errorf("original content: %d", r.StatusCode)
			}
			var list struct{ Images []struct{ ID string } }
			if r := s.call(t, "GET", "/v1/images?sku=A-1", "", nil, &list); r.StatusCode != 200 || len(list.Images) != 1 {
				t.Errorf("list: %d %+v", r.StatusCode, list)
			}
			// A new render of the stored image.
			var rend struct{ Renditions []struct{ Width int } }
			rr := `{"recipe":{"steps":[{"op":"resize","width":100,"height":100,"fit":"cover"}],"outputs":[{"name":"sq","format":"png"}]}}`
			if r := s.call(t, "POST", "/v1/images/"+first.Image.ID+"/renditions", "application/json", strings.NewReader(rr), &rend); r.StatusCode != 201 || len(rend.Renditions) != 1 || rend.Renditions[0].Width != 100 {
				t.Errorf("render: %d %+v", r.StatusCode, rend)
			}
		})
	}
}

// metric reads the sum of a metric family from /metrics.
func metric(t *testing.T, s *server, name string) float64 {
	t.Helper()
	r := s.call(t, "GET", "/metrics", "", nil, nil)
	var total float64
	for _, line := range strings.Split(body(r), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			total += v
		}
	}
	return total
}

func TestUploadForms(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	jpg := photo(t, 640, 400)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "p.jpg")
	fw.Write(jpg)
	mw.WriteField("sku", "M-1")
	mw.WriteField("recipe", `{"outputs":[{"name":"o","format":"png","resize":{"width":64,"height":64,"fit":"contain"}}]}`)
	mw.Close()
	var a ingestAnswer
	if r := s.call(t, "POST", "/v1/images", mw.FormDataContentType(), &buf, &a); r.StatusCode != 201 || a.Image.SKU != "M-1" || len(a.Renditions) != 1 || a.Renditions[0].Width != 64 {
		t.Fatalf("multipart: %d %+v", r.StatusCode, a)
	}
	var raw ingestAnswer
	if r := s.call(t, "POST", "/v1/images?sku=R-1", "image/jpeg", bytes.NewReader(jpg), &raw); r.StatusCode != 201 || raw.Image.SKU != "R-1" || raw.Image.SHA256 != a.Image.SHA256 {
		t.Fatalf("raw: %d %+v", r.StatusCode, raw)
	}
	// Idempotency-Key returns the first answer.
	k := []string{"Idempotency-Key", "abc-123"}
	r1 := s.call(t, "POST", "/v1/images?sku=I-1", "image/jpeg", bytes.NewReader(jpg), nil, k...)
	r2 := s.call(t, "POST", "/v1/images?sku=I-1", "image/jpeg", bytes.NewReader(jpg), nil, k...)
	if r1.StatusCode != 201 || r2.StatusCode != 201 || body(r1) != body(r2) {
		t.Errorf("idempotent replay: %d / %d", r1.StatusCode, r2.StatusCode)
	}
}

func TestBadInputsOverHTTP(t *testing.T) {
	t.Parallel()
	jpg := photo(t, 400, 300)
	big := bytes.Repeat([]byte{0xff}, 3<<20)
	src := sources(t, map[string][]byte{"/big.bin": big, "/ok.jpg": jpg})
	s := startServer(t, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.1/32", "PICTOR_MAX_SOURCE_BYTES=2000000")
	port := src.URL[strings.LastIndexByte(src.URL, ':')+1:]
	cases := []struct {
		name, ctype, body string
		status            int
		ptype             string
	}{
		{"loopback not allowed", "application/json", `{"url":"http://127.0.0.2:` + port + `/ok.jpg"}`, 422, "source-address-blocked"},
		{"ipv6 loopback", "application/json", `{"url":"http://[::1]:` + port + `/ok.jpg"}`, 422, "source-address-blocked"},
		{"mapped loopback", "application/json", `{"url":"http://[::ffff:127.0.0.2]:` + port + `/ok.jpg"}`, 422, "source-address-blocked"},
		{"hex ip", "application/json", `{"url":"http://0x7f000002:` + port + `/ok.jpg"}`, 0, ""},
		{"redirect into loopback", "application/json", `{"url":"` + src.URL + `/?redirect=http://127.0.0.2:` + port + `/ok.jpg"}`, 422, "source-address-blocked"},
		{"source too large", "application/json", `{"url":"` + src.URL + `/big.bin"}`, 413, "source-too-large"},
		{"upload too large", "application/octet-stream", string(big), 413, ""},
		{"huge png", "image/png", string(hugePNG()), 422, "too-many-pixels"},
		{"truncated jpeg", "image/jpeg", string(jpg[:len(jpg)/2]), 422, "undecodable-image"},
		{"not an image", "application/octet-stream", "just some text", 422, "undecodable-image"},
		{"svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"/>`, 415, "unsupported-format"},
		{"pdf", "application/pdf", "%PDF-1.7\n1 0 obj<<>>endobj\n", 415, "unsupported-format"},
		{"unknown recipe field", "application/json", `{"url":"` + src.URL + `/ok.jpg","recipe":{"steps":[{"op":"resize","widht":5}],"outputs":[{"name":"a"}]}}`, 400, "invalid-recipe"},
		{"unknown op", "application/json", `{"url":"` + src.URL + `/ok.jpg","recipe":{"steps":[{"op":"explode"}],"outputs":[{"name":"a"}]}}`, 400, "invalid-recipe"},
		{"malformed json", "application/json", `{"url":`, 400, ""},
		{"no source", "application/json", `{"sku":"x"}`, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p problem
			r := s.call(t, "POST", "/v1/images", tc.ctype, strings.NewReader(tc.body), &p)
			if tc.status == 0 { // refused one way or another, never fetched
				if r.StatusCode < 400 || r.StatusCode >= 500 {
					t.Errorf("status %d, want a 4xx: %+v", r.StatusCode, p)
				}
				return
			}
			if r.StatusCode != tc.status || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("status %d %s, want %d problem+json: %+v", r.StatusCode, r.Header.Get("Content-Type"), tc.status, p)
			}
			if tc.ptype != "" && p.Type != "urn:pictor:problem:"+tc.ptype {
				t.Errorf("type %q, want %s", p.Type, tc.ptype)
			}
		})
	}
	t.Run("field named", func(t *testing.T) {
		var p problem
		s.call(t, "POST", "/v1/images", "application/json", strings.NewReader(cases[12].body), &p)
		named := false
		for _, e := range p.Errors {
			named = named || e.Field == "steps[0].widht"
		}
		if !named {
			t.Errorf("errors = %+v, want steps[0].widht named", p.Errors)
		}
	})
	// The process survived all of it.
	if r := s.call(t, "GET", "/healthz", "", nil, nil); r.StatusCode != 200 {
		t.Fatalf("healthz after bad inputs: %d", r.StatusCode)
	}
}

// hugePNG is a PNG header claiming 20000x20000 with a few bytes of data.
func hugePNG() []byte {
	data, err := os.ReadFile(filepath.Join("..", "..", "imaging", "testdata", "huge.png"))
	if err != nil {
		panic(err)
	}
	return data
}

func TestStoreDownAnswers503(t *testing.T) {
	t.Parallel()
	env, stop, _ := testenv.StartMinIO(t)
	s := startServer(t, "PICTOR_S3_ENDPOINT="+env.Endpoint, "PICTOR_S3_ACCESS_KEY="+env.AccessKey, "PICTOR_S3_SECRET_KEY="+env.SecretKey)
	stop()
	var p problem
	r := s.call(t, "POST", "/v1/images?sku=down", "image/jpeg", bytes.NewReader(photo(t, 300, 200)), &p)
	if r.StatusCode != 503 || p.Type != "urn:pictor:problem:storage-unavailable" {
		t.Fatalf("store down: %d %+v, want 503 storage-unavailable", r.StatusCode, p)
	}
	var list struct{ Images []any }
	if r := s.call(t, "GET", "/v1/images?sku=down", "", nil, &list); r.StatusCode != 200 || len(list.Images) != 0 {
		t.Errorf("images after failed ingest: %d %d, want none", r.StatusCode, len(list.Images))
	}
	if r := s.call(t, "GET", "/readyz", "", nil, nil); r.StatusCode != 503 {
		t.Errorf("readyz with store down: %d, want 503", r.StatusCode)
	}
}
