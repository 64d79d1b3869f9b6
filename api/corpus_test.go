package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/storage"
)

// Bounds of TestCorpus.
const (
	// corpusRequestTimeout bounds each request: past it the request counts as a hang.
	corpusRequestTimeout = 20 * time.Second
	// corpusFileBudget bounds one file's requests together (the 49-megapixel bomb
	// takes about 2 s a request on an idle 2-core machine).
	corpusFileBudget = time.Minute
	// corpusBudget bounds the whole run; files not sent by then fail the test.
	corpusBudget = 3 * time.Minute
	// corpusMaxRSS bounds the test process's peak resident memory during the run
	// (the corpus itself, the client and the service). The service's limits allow a
	// 50-megapixel source (catalog.DefaultConfig) of at most 32 MiB; the corpus's
	// largest are a 49-megapixel PNG bomb and a 24 MB JPEG. Measured: about 420 MiB.
	corpusMaxRSS = 768 << 20
	// corpusMaxHeap bounds the Go heap (sampled every 10 ms): sources, bodies and
	// encoded outputs; the pixels live in libvips. Measured: about 260 MiB, for the
	// 24 MB file (several copies of the source are alive during one request).
	corpusMaxHeap = 384 << 20
	// corpusMaxVips bounds libvips' own tracked allocations (its high-water mark).
	// Measured: about 110 MiB.
	corpusMaxVips = 384 << 20
)

// Recipes the corpus goes through: ingest by URL renders corpusRecipeURL, a multipart
// ingest corpusRecipeUpload, the render route corpusRecipeMatte and corpusRecipeCrop,
// and /img delivers corpusDeliveryRecipe.
const (
	corpusRecipeURL = `{"steps":[{"op":"auto_orient"},{"op":"resize","width":120,"height":120,"fit":"cover","gravity":"smart"}],
		"outputs":[{"name":"main","format":"webp"},{"name":"thumb","format":"jpeg","resize":{"width":40,"height":40}}]}`
	corpusRecipeUpload = `{"steps":[{"op":"resize","width":300,"height":300,"fit":"inside"},{"op":"rotate","angle":30},{"op":"sharpen"},
		{"op":"pad","top":4,"left":4,"color":"#00000080"},{"op":"blur","sigma":0.8}],"outputs":[{"name":"main","format":"png"}]}`
	corpusRecipeMatte = `{"steps":[{"op":"resize","width":256,"height":256,"fit":"inside"},{"op":"remove_background"},
		{"op":"background","color":"#ffffff"}],"outputs":[{"name":"main","format":"avif"}]}`
	corpusRecipeCrop = `{"steps":[{"op":"trim"},{"op":"crop","width":32,"height":32,"gravity":"center"},{"op":"flip","horizontal":true},
		{"op":"strip"}],"outputs":[{"name":"main","format":"auto"},{"name":"png","format":"png"},{"name":"webp","format":"webp","lossless":true}]}`
	corpusDeliveryRecipe = `{"steps":[{"op":"auto_orient"},{"op":"trim"}],
		"outputs":[{"name":"main","format":"jpeg","resize":{"width":200,"height":200,"fit":"contain"}}]}`
)

// corpusEnv is the real service (SQLite catalog, local store, SSRF-safe fetcher allowed
// to reach loopback) behind a real HTTP server, and a server for the corpus files.
type corpusEnv struct {
	api, files *httptest.Server
	client     *http.Client
	logs       *lockedBuffer
	byPath     map[string][]byte
}

func newCorpusEnv(t *testing.T, files []corpusFile) *corpusEnv {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(context.Background(), db.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "objects")})
	if err != nil {
		t.Fatal(err)
	}
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{
		DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(runtime.NumCPU(), 16),
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Links: Links{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SigningKeys = [][]byte{signKeyNew}
	cfg.RateLimit = RateLimit{} // the corpus is one client sending hundreds of requests
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	h, err := New(cfg, Deps{
		Catalog: svc, Reviews: svc, Registerer: reg, Gatherer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &corpusEnv{api: httptest.NewServer(h), logs: logs, byPath: map[string][]byte{}}
	for i, cf := range files {
		e.byPath["/f/"+strconv.Itoa(i)] = cf.data
	}
	e.files = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := e.byPath[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// The type is a lie for most files: the service must not trust it.
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(b)
	}))
	e.client = e.api.Client()
	t.Cleanup(func() {
		// A handler stuck in a decoder would keep Close waiting for ever; give up
		// after a while (the stuck request has failed the test already).
		for _, srv := range []*httptest.Server{e.api, e.files} {
			done := make(chan struct{})
			go func() { srv.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("closing %s: handlers still running after 30s", srv.URL)
			}
		}
	})
	return e
}

// corpusAnswer is what one request got.
type corpusAnswer struct {
	route  string
	status int
	slug   string // problem type slug of a 4xx or 5xx
	body   []byte
	err    error // transport error: a hang (deadline) or a dropped connection
}

func (a corpusAnswer) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s: %v", a.route, a.err)
	}
	if a.slug != "" {
		return fmt.Sprintf("%s: %d %s", a.route, a.status, a.slug)
	}
	return fmt.Sprintf("%s: %d", a.route, a.status)
}

// do sends one request with the corpus deadline and reads the whole answer.
func (e *corpusEnv) do(route, method, target, ct string, body []byte, hdr map[string]string) corpusAnswer {
	ctx, cancel := context.WithTimeout(context.Background(), corpusRequestTimeout)
	defer cancel()
	a := corpusAnswer{route: route}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.api.URL+target, rd)
	if err != nil {
		a.err = err
		return a
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	a.status = resp.StatusCode
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		a.err = fmt.Errorf("read body: %w", err)
		return a
	}
	if resp.StatusCode >= 400 {
		var p Problem
		if got := resp.Header.Get("Content-Type"); got != ProblemContentType {
			a.err = fmt.Errorf("status %d with Content-Type %q, want %s", resp.StatusCode, got, ProblemContentType)
		} else if err := json.Unmarshal(a.body, &p); err != nil {
			a.err = fmt.Errorf("status %d, problem body %q: %w", resp.StatusCode, a.body, err)
		} else if p.Status != resp.StatusCode {
			a.err = fmt.Errorf("status %d, problem status %d", resp.StatusCode, p.Status)
		}
		a.slug = strings.TrimPrefix(p.Type, ProblemTypePrefix)
	}
	return a
}

// corpusUpload is a multipart body with the image and an inline recipe.
func corpusUpload(data []byte, sku, recipe string) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="file"; filename="upload.svg"`},
		"Content-Type":        {"image/svg+xml"},
	})
	_, _ = fw.Write(data)
	_ = mw.WriteField("sku", sku)
	_ = mw.WriteField("recipe", recipe)
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// memPeak samples the Go heap and the process RSS until stop is called; it keeps
// the peaks of the whole run and of the current file.
type memPeak struct {
	mu               sync.Mutex
	heap, rss        uint64
	fileHeap, fileRS uint64
	stop, done       chan struct{}
	// sample reads the heap and RSS now and updates the peaks.
	sample func()
}

func startMemPeak() *memPeak {
	m := &memPeak{stop: make(chan struct{}), done: make(chan struct{})}
	m.sample = func() {
		samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		rtmetrics.Read(samples)
		rss, _ := procStatus("VmRSS")
		m.mu.Lock()
		m.heap = max(m.heap, samples[0].Value.Uint64())
		m.rss = max(m.rss, rss)
		m.fileHeap = max(m.fileHeap, samples[0].Value.Uint64())
		m.fileRS = max(m.fileRS, rss)
		m.mu.Unlock()
	}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			m.sample()
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// file returns the peaks since the last call and starts new ones.
func (m *memPeak) file() (heap, rss uint64) {
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	heap, rss = m.fileHeap, m.fileRS
	m.fileHeap, m.fileRS = 0, 0
	return heap, rss
}

// end stops sampling and returns the peaks.
func (m *memPeak) end() (heap, rss uint64) {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.heap, m.rss
}

// procStatus reads a "kB" field of /proc/self/status in bytes.
func procStatus(field string) (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n << 10, err
	}
	return 0, fmt.Errorf("%s not in /proc/self/status", field)
}

// TestCorpus sends a generated corpus of valid, broken, lying, hostile and unsupported
// image files through every route that reads image bytes (upload, fetch by URL,
// analyze, ingest with a recipe, render, signed delivery), over HTTP to the real
// service. Every answer is a 2xx or a 4xx problem, never a 5xx, a dropped connection
// or a hang; valid images are taken everywhere and refused ones refused everywhere;
// the run stays within memory bounds.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus test: about a minute")
	}
	start := time.Now()
	files := buildCorpus(t)
	t.Logf("corpus: %d files built in %s", len(files), time.Since(start).Round(time.Millisecond))
	e := newCorpusEnv(t, files)
	if a := e.do("put recipe", http.MethodPut, "/v1/recipes/corpus-delivery", "application/json", []byte(corpusDeliveryRecipe), nil); a.status != http.StatusCreated && a.status != http.StatusOK {
		t.Fatalf("put recipe: %s %s", a, a.body)
	}

	// Peak RSS from here on: clearing the soft-dirty bits with 5 resets VmHWM.
	hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	runtime.GC()
	mem := startMemPeak()
	deadline := start.Add(corpusBudget)
	counts := map[string]int{}
	// One file at a time (subtests are not parallel): the memory peaks then belong to
	// one file's requests, which run with the service's own concurrency inside.
	for i, cf := range files {
		if time.Now().After(deadline) {
			t.Errorf("budget of %s spent after %d of %d files", corpusBudget, i, len(files))
			break
		}
		t.Run(cf.name, func(t *testing.T) {
			mem.file()
			t0 := time.Now()
			answers := e.run(t, i, cf)
			took := time.Since(t0)
			fileHeap, fileRSS := mem.file()
			var line []string
			for _, a := range answers {
				line = append(line, a.String())
				counts[strconv.Itoa(a.status/100)+"xx"]++
			}
			t.Logf("%d bytes, %s, peak heap %d MiB, RSS %d MiB: %s", len(cf.data), took.Round(time.Millisecond),
				fileHeap>>20, fileRSS>>20, strings.Join(line, ", "))
			if took > corpusFileBudget {
				t.Errorf("%s for %d requests, want at most %s", took, len(answers), corpusFileBudget)
			}
		})
	}
	heap, rss := mem.end()
	if hwm, err := procStatus("VmHWM"); err == nil && hwmReset {
		rss = max(rss, hwm)
	}
	vm := imaging.ReadMemStats()
	t.Logf("corpus: %d files in %s; answers %v; peak RSS %d MiB, Go heap %d MiB, libvips %d MiB",
		len(files), time.Since(start).Round(time.Millisecond), counts, rss>>20, heap>>20, vm.MemHigh>>20)
	if rss > corpusMaxRSS {
		t.Errorf("peak RSS: got %d MiB, want at most %d MiB", rss>>20, corpusMaxRSS>>20)
	}
	if heap > corpusMaxHeap {
		t.Errorf("peak Go heap: got %d MiB, want at most %d MiB", heap>>20, corpusMaxHeap>>20)
	}
	if vm.MemHigh > corpusMaxVips {
		t.Errorf("libvips high-water mark: got %d MiB, want at most %d MiB", vm.MemHigh>>20, corpusMaxVips>>20)
	}
	if logs := e.logs.String(); strings.Contains(logs, "panic") {
		t.Errorf("service logged a panic:\n%s", logs)
	}
}

// run sends one file through every route and checks each answer; it returns them all.
func (e *corpusEnv) run(t *testing.T, i int, cf corpusFile) []corpusAnswer {
	t.Helper()
	fileURL := e.files.URL + "/f/" + strconv.Itoa(i)
	urlBody := func(extra string) []byte {
		b, _ := json.Marshal(fileURL)
		return []byte(`{"url":` + string(b) + extra + `}`)
	}
	upload, uploadCT := corpusUpload(cf.data, "mp", corpusRecipeUpload)
	var all []corpusAnswer
	check := func(a corpusAnswer, reads bool) corpusAnswer {
		t.Helper()
		all = append(all, a)
		e.checkAnswer(t, cf, a, reads)
		return a
	}
	// Routes that read the file.
	// The declared types and names lie for most files (a raw body says PNG, the
	// multipart part says SVG, the file server says JPEG): only the bytes count.
	check(e.do("analyze", http.MethodPost, "/v1/analyze", "application/octet-stream", cf.data, nil), true)
	check(e.do("analyze url", http.MethodPost, "/v1/analyze", "application/json", urlBody(""), nil), true)
	ingest := check(e.do("ingest", http.MethodPost, "/v1/images?sku=raw", "image/png", cf.data, nil), true)
	byURL := check(e.do("ingest url", http.MethodPost, "/v1/images", "application/json",
		urlBody(`,"sku":"url","recipe":`+corpusRecipeURL), nil), true)
	up := check(e.do("ingest upload", http.MethodPost, "/v1/images", uploadCT, upload, nil), true)
	for _, a := range []corpusAnswer{byURL, up} {
		e.checkRenditions(t, cf, a)
	}
	if ingest.status != http.StatusCreated {
		return all
	}
	var res catalog.IngestResult
	if err := json.Unmarshal(ingest.body, &res); err != nil || res.Image.ID == "" {
		t.Errorf("%s: ingest answer %s: %v", cf.name, ingest.body, err)
		return all
	}
	id := res.Image.ID
	// Routes that work on the stored original.
	for _, r := range []struct{ name, recipe, accept string }{
		{"render matte", corpusRecipeMatte, ""},
		{"render crop", corpusRecipeCrop, "image/avif"},
	} {
		a := check(e.do(r.name, http.MethodPost, "/v1/images/"+id+"/renditions?accept="+r.accept, "application/json",
			[]byte(`{"recipe":`+r.recipe+`}`), nil), true)
		e.checkRenditions(t, cf, a)
	}
	img := check(e.do("img", http.MethodGet, imgURL(signKeyNew, "corpus-delivery", id, "auto", 320), "", nil,
		map[string]string{"Accept": "image/webp,image/*"}), true)
	if img.status == http.StatusOK {
		e.checkImage(t, cf, "img", img.body)
	}
	orig := check(e.do("original", http.MethodGet, "/v1/images/"+id+"/content", "", nil, nil), false)
	if orig.status != http.StatusOK || !bytes.Equal(orig.body, cf.data) {
		t.Errorf("%s: original: got %d with %d bytes, want 200 with the %d bytes sent", cf.name, orig.status, len(orig.body), len(cf.data))
	}
	return all
}

// checkAnswer holds one answer to the corpus rules; reads says whether the route
// decodes the file (and so must refuse a refused one).
func (e *corpusEnv) checkAnswer(t *testing.T, cf corpusFile, a corpusAnswer, reads bool) {
	t.Helper()
	switch {
	case a.err != nil:
		t.Errorf("%s: %s (a hang, a crash or a malformed answer)", cf.name, a)
		return
	case a.status >= 500:
		t.Errorf("%s: %s: got a server error, want 2xx or 4xx (logs: %s)", cf.name, a, lastLines(e.logs.String(), 3))
		return
	case a.status < 200 || a.status >= 500 || a.status/100 == 3:
		t.Errorf("%s: %s: want 2xx or 4xx", cf.name, a)
		return
	}
	if !reads {
		return
	}
	switch cf.want {
	case wantOK:
		// A plain-background cut-out may find no plain background; that is an answer
		// about the picture, not the file.
		if a.status/100 != 2 && !(a.route == "render matte" && a.slug == "no-plain-background") {
			t.Errorf("%s: %s: want 2xx for a valid image (%s)", cf.name, a, a.body)
		}
	case wantRefused:
		if a.status/100 != 4 {
			t.Errorf("%s: %s: want a 4xx refusal", cf.name, a)
		} else if len(cf.slugs) > 0 && !slices.Contains(cf.slugs, a.slug) {
			t.Errorf("%s: %s: want one of %v (%s)", cf.name, a, cf.slugs, a.body)
		}
	}
}

// checkRenditions fetches every rendition a 2xx render or ingest answered with and
// checks it is an image.
func (e *corpusEnv) checkRenditions(t *testing.T, cf corpusFile, a corpusAnswer) {
	t.Helper()
	if a.status/100 != 2 {
		return
	}
	var out struct {
		Renditions []catalog.Rendition `json:"renditions"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Errorf("%s: %s answer %s: %v", cf.name, a.route, a.body, err)
		return
	}
	if len(out.Renditions) == 0 {
		t.Errorf("%s: %s: 2xx without renditions: %s", cf.name, a.route, a.body)
	}
	for _, rd := range out.Renditions {
		c := e.do(a.route+" content", http.MethodGet, "/v1/renditions/"+rd.ID+"/content", "", nil, nil)
		if c.err != nil || c.status != http.StatusOK {
			t.Errorf("%s: %s rendition %s: %s", cf.name, a.route, rd.Name, c)
			continue
		}
		e.checkImage(t, cf, a.route+" "+rd.Name, c.body)
	}
}

// checkImage checks that bytes the service made are an image it would take back.
func (e *corpusEnv) checkImage(t *testing.T, cf corpusFile, what string, b []byte) {
	t.Helper()
	info, err := imaging.Probe(b)
	if err != nil {
		t.Errorf("%s: %s: the service made %d bytes that are not an image: %v", cf.name, what, len(b), err)
		return
	}
	if info.Width < 1 || info.Height < 1 {
		t.Errorf("%s: %s: made a %dx%d image", cf.name, what, info.Width, info.Height)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
