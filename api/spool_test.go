package api

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/waitfor"
)

// streamingUpload posts a multipart manifest to srv whose body is head and then filler
// lines, written in 64 KiB chunks, until total bytes have been sent or the transfer
// stops; it returns the answer and how many bytes had been written when it came.
func streamingUpload(t *testing.T, srv *httptest.Server, name, head, filler string, total int64) (*http.Response, int64) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var written atomic.Int64
	go func() {
		part, err := mw.CreateFormFile("manifest", name)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		chunk := []byte(strings.Repeat(filler, 64<<10/len(filler)))
		n, err := part.Write([]byte(head))
		written.Add(int64(n))
		for err == nil && written.Load() < total {
			n, err = part.Write(chunk)
			written.Add(int64(n))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() { pr.CloseWithError(errors.New("test over")) })
	req, err := http.NewRequest("POST", srv.URL+"/v1/batches", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	type answer struct {
		resp *http.Response
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		got <- answer{resp, err}
	}()
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatal(a.err)
		}
		at := written.Load()
		t.Cleanup(func() { a.resp.Body.Close() })
		return a.resp, at
	case <-time.After(30 * time.Second):
		t.Fatal("no answer in 30 s")
		return nil, 0
	}
}

func TestManifestUploadStopsAtABadHead(t *testing.T) {
	t.Parallel()
	h, _ := setupBatches(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	const total = 256 << 20
	cases := []struct {
		name, file, head, filler, detail string
	}{
		{"no url column", "m.csv", "sku,title\n", "A-1,a shirt\n", "url"},
		{"every first row bad", "m.csv", "url,sku\n", ",A-1\n", "the first 100 rows are all bad"},
		{"not JSON lines", "m.jsonl", "not json\n", "not json at all\n", "all bad"},
		{"not a manifest", "m.bin", "\x00\x01\x02\x03 binary", "\x00\x01\x02\x03", "manifest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, at := streamingUpload(t, srv, tc.file, tc.head, tc.filler, total)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnsupportedMediaType ||
				resp.Header.Get("Content-Type") != ProblemContentType || !strings.Contains(string(body), tc.detail) {
				t.Fatalf("got %d %s, want a 4xx problem mentioning %q", resp.StatusCode, body, tc.detail)
			}
			if at > 16<<20 {
				t.Errorf("answered after %d MiB of %d: the bad head should stop the upload", at>>20, total>>20)
			}
			t.Logf("answered after %d KiB", at>>10)
		})
	}
	// A good manifest still goes through whole.
	resp, at := streamingUpload(t, srv, "m.csv", "url,sku\n", "http://img.example/a.jpg,A-1\n", 1<<20)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated || at < 1<<20 {
		t.Fatalf("good manifest: got %d %s after %d bytes", resp.StatusCode, body, at)
	}
}

func TestManifestUploadsAreBounded(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.BatchRateLimit = RateLimit{} // this test posts until it sees what it waits for
	h, _, reg := setupBatchesMetrics(t, cfg)
	srv := httptest.NewServer(h)
	defer srv.Close()
	// maxSpools uploads that stay open hold every slot...
	var holds []*io.PipeWriter
	for range maxSpools {
		pr, pw := io.Pipe()
		holds = append(holds, pw)
		mw := multipart.NewWriter(pw)
		req, err := http.NewRequest("POST", srv.URL+"/v1/batches", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		go func() {
			if resp, err := srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		go func() {
			part, _ := mw.CreateFormFile("manifest", "m.csv")
			fmt.Fprint(part, "url,sku\nhttp://img.example/a.jpg,A-1\n")
		}()
	}
	defer func() {
		for _, pw := range holds {
			pw.CloseWithError(errors.New("test over"))
		}
	}()
	// ...once the spool holds them all (its gauge says so; a post sent before would take a
	// slot and turn a held upload away)...
	receiving := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "pictor_manifest_uploads_receiving" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	waitfor.Cond(t, 20*time.Second, func() bool { return receiving() == maxSpools }, "the held uploads to be received")
	// ...so another is refused with 503 and Retry-After.
	post := func() *http.Response {
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		part, _ := mw.CreateFormFile("manifest", "m.csv")
		fmt.Fprint(part, "url,sku\nhttp://img.example/a.jpg,A-1\n")
		mw.Close()
		resp, err := srv.Client().Post(srv.URL+"/v1/batches", mw.FormDataContentType(), strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with %d uploads open: got %d, want 503 manifest-uploads-busy", maxSpools, resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != ProblemContentType {
		t.Fatalf("503 without Retry-After or problem body: %v", resp.Header)
	}
	// Ending one frees its slot.
	holds[0].CloseWithError(errors.New("client gave up"))
	waitfor.Cond(t, 20*time.Second, func() bool { return receiving() == maxSpools-1 }, "the ended upload's slot to be freed")
	if resp := post(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after one upload ended: got %d, want 201", resp.StatusCode)
	}
}

func TestSpoolBytes(t *testing.T) {
	t.Parallel()
	sp := &spool{maxN: 2, maxBytes: 100}
	a, err := sp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.acquire(); !errors.Is(err, errSpoolBusy) {
		t.Fatalf("third upload: got %v, want errSpoolBusy", err)
	}
	if err := a.grow(60); err != nil {
		t.Fatal(err)
	}
	if err := b.grow(41); !errors.Is(err, errSpoolBusy) {
		t.Fatalf("over the bytes: got %v, want errSpoolBusy", err)
	}
	a.release()
	if err := b.grow(41); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := sp.acquire(); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestBatchCreationIsRateLimited(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.BatchRateLimit = RateLimit{PerSecond: 0.001, Burst: 2}
	h, _ := setupBatchesWith(t, cfg)
	post := func() *httptest.ResponseRecorder {
		var b strings.Builder
		mw := multipart.NewWriter(&b)
		part, _ := mw.CreateFormFile("manifest", "m.csv")
		fmt.Fprint(part, "url,sku\nhttp://img.example/a.jpg,A-1\n")
		mw.Close()
		return serve(h, "POST", "/v1/batches", mw.FormDataContentType(), b.String())
	}
	for i := range 2 {
		if rec := post(); rec.Code != http.StatusCreated {
			t.Fatalf("batch %d: got %d %s, want 201", i+1, rec.Code, rec.Body)
		}
	}
	rec := post()
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "batch creation") {
		t.Fatalf("third batch: got %d %v %s, want 429 rate-limited with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	// Ingest has its own limit: batches used up do not stop it.
	if rec := serve(h, "POST", "/v1/analyze", "image/png", "x"); rec.Code == http.StatusTooManyRequests {
		t.Fatalf("analyze after the batch limit: got 429")
	}
}
