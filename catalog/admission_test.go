package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/storage"
)

// noiseJPEG is a w x h JPEG of random pixels (seeded), so it is large for its size and
// every seed gives distinct bytes.
func noiseJPEG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// admissionService is a catalog on SQLite and the local store whose gate has one slot, a
// queue of 64 and the given memory budget, and whose sources may be maxSource bytes; its
// metrics are in the registry returned.
func admissionService(t *testing.T, budget, maxSource int64) (*catalog.Service, *imaging.Gate, *prometheus.Registry) {
	t.Helper()
	return admissionServiceSlots(t, 1, budget, maxSource)
}

// admissionServiceSlots is admissionService with a gate of slots slots, whose budget of
// working memory is the memory budget too.
func admissionServiceSlots(t *testing.T, slots int, budget, maxSource int64) (*catalog.Service, *imaging.Gate, *prometheus.Registry) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, db.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := storage.NewLocal(storage.LocalConfig{Dir: dir + "/objects"})
	if err != nil {
		t.Fatal(err)
	}
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	fc.MaxBytes = maxSource
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	gate := imaging.NewGate(slots, 64)
	gate.SetMemory(budget)
	gate.SetWork(budget)
	cfg := catalog.DefaultConfig()
	cfg.MaxSourceBytes = maxSource
	reg := prometheus.NewRegistry()
	svc, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: gate, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return svc, gate, reg
}

const fit64 = `{"steps":[{"op":"resize","width":64,"height":64,"fit":"inside"}],"outputs":[{"name":"main","format":"jpeg","quality":80}]}`

// Requests that wait for their turn hold no source: an ingest reserves what its source
// announces (or, unannounced, what it may be) once the answer's headers are in, before
// reading the body, and settles to what it is, so with every slot taken every request
// reaches its origin but only as many bodies are read as the memory budget holds; the
// rest wait unread, and all finish once the slot is free.
func TestIngestAdmitsByBytes(t *testing.T) {
	t.Parallel()
	const (
		n         = 12
		maxSource = 1 << 20
		budget    = 2 << 20
	)
	sources := make([][]byte, n)
	for i := range sources {
		sources[i] = noiseJPEG(t, 720, 540, uint64(i))
	}
	if s := len(sources[0]); s < 420<<10 || s > 480<<10 {
		t.Fatalf("noise source is %d bytes, want 420-480 KiB for this test's arithmetic", s)
	}
	for _, tc := range []struct {
		name     string
		announce bool
		read     int // bodies read while the slot is taken
	}{
		// Each reserves maxSource until read: two fill the budget; settled to ~0.45 MiB
		// each a third fits (0.9 + 1 <= 2 MiB), a fourth does not (1.35 + 1 > 2).
		{"lengths unannounced", false, 3},
		// Each reserves its length: four fit (1.8 MiB), a fifth does not.
		{"lengths announced", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var requested atomic.Int64
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var i int
				if _, err := fmt.Sscanf(r.URL.Path, "/%d.jpg", &i); err != nil || i < 0 || i >= n {
					http.NotFound(w, r)
					return
				}
				requested.Add(1)
				w.Header().Set("Content-Type", "image/jpeg")
				if tc.announce {
					w.Header().Set("Content-Length", fmt.Sprint(len(sources[i])))
				} else {
					w.(http.Flusher).Flush() // headers out with no length: chunked
				}
				w.Write(sources[i]) //nolint:errcheck // the fetcher reports a short body
			}))
			defer src.Close()
			svc, gate, _ := admissionService(t, budget, maxSource)
			ctx := context.Background()

			release, err := gate.Acquire(ctx) // the one slot: every render waits
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := svc.Ingest(ctx, catalog.IngestRequest{
						URL: fmt.Sprintf("%s/%d.jpg", src.URL, i), Recipe: catalog.RecipeRef{Inline: []byte(fit64)},
					})
					if err == nil && (len(res.Renditions) != 1 || res.Renditions[0].Width != 64) {
						err = fmt.Errorf("ingest %d: got renditions %+v, want one 64 px wide", i, res.Renditions)
					}
					errs <- err
				}()
			}
			waitfor.Cond(t, 20*time.Second, func() bool { return gate.Waiting()+gate.WaitingBytes() == n },
				"every ingest to wait, for a slot or for bytes")
			if got := requested.Load(); got != n {
				t.Errorf("requests that reached the origin: got %d, want all %d", got, n)
			}
			if got := gate.Waiting(); got != tc.read {
				t.Errorf("ingests with their source read, waiting for a slot: got %d, want %d", got, tc.read)
			}
			if _, reserved := gate.Memory(); reserved > budget || reserved < int64(tc.read*len(sources[0]))*9/10 {
				t.Errorf("bytes reserved: got %d, want the %d read sources' (at most %d)", reserved, tc.read, budget)
			}
			release()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if _, reserved := gate.Memory(); reserved != 0 {
				t.Errorf("bytes reserved after every ingest: got %d, want 0", reserved)
			}
		})
	}
}

// A render whose decoder holds the whole image (WebP here) waits for the gate's working
// memory as well as for a slot: with a slot free but too little working memory left it
// waits, while a streaming source (baseline JPEG) goes at once, and it runs once the
// memory is given back.
func TestIngestAdmitsByDecodeMemory(t *testing.T) {
	t.Parallel()
	const budget = 2 << 20
	svc, gate, _ := admissionServiceSlots(t, 2, budget, 8<<20)
	ctx := context.Background()
	im, err := imaging.Load(noiseJPEG(t, 720, 540, 41), imaging.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	webp, err := im.Encode(imaging.EncodeOptions{Format: imaging.WebP, Quality: 80})
	im.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := imaging.DecodeMemory(webp); got != 720*540*4 {
		t.Fatalf("WebP decode memory: got %d, want %d", got, 720*540*4)
	}

	// Another pipeline holds 1 MiB of the 2 MiB: one slot is free, 1 MiB of memory.
	hold, err := gate.AcquireFor(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Ingest(ctx, catalog.IngestRequest{Data: noiseJPEG(t, 720, 540, 42), Recipe: catalog.RecipeRef{Inline: []byte(fit64)}})
	if err != nil || len(res.Renditions) != 1 {
		t.Fatalf("baseline JPEG beside the held pipeline: %v, %+v", err, res)
	}
	done := make(chan error, 1)
	go func() {
		res, err := svc.Ingest(ctx, catalog.IngestRequest{Data: webp, Recipe: catalog.RecipeRef{Inline: []byte(fit64)}})
		if err == nil && len(res.Renditions) != 1 {
			err = fmt.Errorf("got renditions %+v, want one", res.Renditions)
		}
		done <- err
	}()
	waitfor.Cond(t, 20*time.Second, func() bool { return gate.Waiting() == 1 }, "the WebP render to wait")
	if got := gate.InFlight(); got != 1 {
		t.Errorf("in flight while the WebP render waits: got %d, want 1 (a slot free)", got)
	}
	hold()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the WebP render did not run once the working memory was given back")
	}
	if _, held := gate.Work(); held != 0 {
		t.Errorf("working memory held after every render: %d", held)
	}
}

// A failed ingest or render gives its bytes back, and a render reserves the original's
// size before reading it.
func TestAdmissionReleasesOnEveryPath(t *testing.T) {
	t.Parallel()
	img := noiseJPEG(t, 256, 192, 99)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.jpg":
			w.Write(img) //nolint:errcheck // the fetcher reports a short body
		case "/broken.jpg":
			w.Write(img[:len(img)/3]) //nolint:errcheck
		default:
			http.NotFound(w, r)
		}
	}))
	defer src.Close()
	svc, gate, _ := admissionService(t, 4<<20, 1<<20)
	ctx := context.Background()
	reserved := func() int64 { _, r := gate.Memory(); return r }

	for _, tc := range []struct {
		name string
		req  catalog.IngestRequest
	}{
		{"not found", catalog.IngestRequest{URL: src.URL + "/missing.jpg"}},
		{"truncated", catalog.IngestRequest{URL: src.URL + "/broken.jpg", Recipe: catalog.RecipeRef{Inline: []byte(fit64)}}},
		{"upload not an image", catalog.IngestRequest{Data: []byte(strings.Repeat("x", 1000))}},
	} {
		if _, err := svc.Ingest(ctx, tc.req); err == nil {
			t.Errorf("%s: got no error, want one", tc.name)
		}
		if got := reserved(); got != 0 {
			t.Errorf("%s: bytes reserved after the failed ingest: got %d, want 0", tc.name, got)
		}
	}
	res, err := svc.Ingest(ctx, catalog.IngestRequest{URL: src.URL + "/ok.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Analyze(ctx, src.URL+"/ok.jpg", nil); err != nil {
		t.Fatal(err)
	}

	// A render of the stored original waits for its bytes like an ingest.
	hold, err := gate.Reserve(ctx, 4<<20) // the whole budget
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := svc.Render(ctx, res.Image.ID, catalog.RecipeRef{Inline: []byte(fit64)}, nil)
		done <- err
	}()
	waitfor.Cond(t, 10*time.Second, func() bool { return gate.WaitingBytes() == 1 }, "the render to wait for bytes")
	hold.Settle(4<<20 - int64(len(img)) + 1) // one byte short of room for the original
	select {
	case err := <-done:
		t.Fatalf("render finished without room for its original: %v", err)
	default:
	}
	if gate.WaitingBytes() != 1 {
		t.Fatalf("render: got %d waiting for bytes, want 1", gate.WaitingBytes())
	}
	hold.Settle(4<<20 - int64(len(img)))
	if err := <-done; err != nil {
		t.Errorf("render once its original fits: %v", err)
	}
	hold.Release()
	if got := reserved(); got != 0 {
		t.Errorf("bytes reserved at the end: got %d, want 0", got)
	}
	// With the queue full of callers waiting for bytes, an ingest is refused at once.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hold, err = gate.Reserve(ctx, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release()
	for range gate.Queue() {
		go gate.Reserve(cctx, 1) //nolint:errcheck // cancelled at the end
	}
	waitfor.Cond(t, 10*time.Second, func() bool { return gate.WaitingBytes() == gate.Queue() }, "the queue to fill")
	if _, err := svc.Ingest(ctx, catalog.IngestRequest{URL: src.URL + "/ok.jpg"}); !errors.Is(err, imaging.ErrBusy) {
		t.Errorf("ingest with the queue full of byte waiters: got %v, want ErrBusy", err)
	}
}

// Identical ingests of one URL in flight at once make one fetch and one render, and every
// caller gets the whole answer; the caller that started the work hanging up fails nobody
// else, and when every caller has gone the work stops.
func TestIngestCoalesced(t *testing.T) {
	t.Parallel()
	const n = 6
	body := noiseJPEG(t, 400, 300, 1)
	var hits atomic.Int64
	release := make(chan struct{})
	abandoned := make(chan struct{}, 1)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hold := release
		if r.URL.Path == "/b.jpg" {
			hold = nil // answered never: only a hang-up ends it
		}
		select {
		case <-hold:
		case <-r.Context().Done():
			abandoned <- struct{}{}
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(body) //nolint:errcheck // the fetcher reports a short body
	}))
	defer src.Close()
	var once sync.Once
	respond := func() { once.Do(func() { close(release) }) }
	defer respond() // before src.Close, which waits for the handlers
	svc, _, reg := admissionService(t, 64<<20, 1<<20)
	ctx := context.Background()
	joined := func() float64 {
		return counterSum(t, reg, "pictor_coalesced_total", map[string]string{"what": "ingest"})
	}
	req := catalog.IngestRequest{URL: src.URL + "/a.jpg", Recipe: catalog.RecipeRef{Inline: []byte(fit64)}}

	// The first caller starts the work and is waiting for the source when the rest join.
	leaderCtx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	leader := make(chan error, 1)
	go func() {
		_, err := svc.Ingest(leaderCtx, req)
		leader <- err
	}()
	waitfor.Cond(t, 10*time.Second, func() bool { return hits.Load() == 1 }, "the first ingest reaches the source")
	type answer struct {
		res *catalog.IngestResult
		err error
	}
	answers := make(chan answer, n-1)
	for range n - 1 {
		go func() {
			res, err := svc.Ingest(ctx, req)
			answers <- answer{res, err}
		}()
	}
	waitfor.Cond(t, 10*time.Second, func() bool { return joined() == n-1 || hits.Load() > 1 }, "the others join it")
	if h := hits.Load(); h != 1 {
		t.Fatalf("source fetched %d times by %d identical ingests in flight, want once", h, n)
	}
	hangUp()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller that hung up: err = %v, want context.Canceled", err)
	}
	respond()
	var id string
	for range n - 1 {
		a := <-answers
		if a.err != nil {
			t.Fatalf("joined ingest: %v", a.err)
		}
		if len(a.res.Renditions) != 1 || a.res.Renditions[0].Width != 64 {
			t.Fatalf("joined ingest: renditions %+v, want one 64 px wide", a.res.Renditions)
		}
		if id != "" && a.res.Image.ID != id {
			t.Errorf("joined ingests answered images %s and %s", id, a.res.Image.ID)
		}
		id = a.res.Image.ID
	}
	if h, r := hits.Load(), counterSum(t, reg, "pictor_pipeline_runs_total", nil); h != 1 || r != 1 {
		t.Errorf("fetches = %d, pipeline runs = %v; want 1 and 1", h, r)
	}

	// Once it is done, the same request starts afresh (the renditions come from the store).
	res, err := svc.Ingest(ctx, req)
	if err != nil || len(res.Renditions) != 1 || !res.Renditions[0].Cached {
		t.Fatalf("ingest after the flight: %+v, %v; want the stored rendition", res, err)
	}
	if h := hits.Load(); h != 2 {
		t.Errorf("fetches after a later ingest = %d, want 2", h)
	}

	// Every caller hanging up stops the fetch they shared.
	other := catalog.IngestRequest{URL: src.URL + "/b.jpg"}
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := svc.Ingest(cctx, other)
			gone <- err
		}()
	}
	waitfor.Cond(t, 10*time.Second, func() bool { return hits.Load() == 3 && joined() == n }, "both callers wait on one fetch")
	cancel()
	for range 2 {
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Errorf("caller that hung up: err = %v, want context.Canceled", err)
		}
	}
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the shared fetch went on after every caller had gone")
	}
}

// The fetch stage's histogram times the fetch, not the wait for the memory budget: an
// ingest held at admission for a second records a fetch of a loopback source, far
// shorter than that second.
func TestFetchStageExcludesAdmissionWait(t *testing.T) {
	t.Parallel()
	const (
		budget = 1 << 20
		hold   = time.Second
	)
	source := noiseJPEG(t, 320, 240, 51)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", fmt.Sprint(len(source)))
		w.Write(source) //nolint:errcheck // the fetcher reports a short body
	}))
	defer src.Close()
	svc, gate, reg := admissionService(t, budget, budget)
	ctx := context.Background()
	all, err := gate.Reserve(ctx, budget) // the whole budget: the ingest waits at admission
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := svc.Ingest(ctx, catalog.IngestRequest{URL: src.URL + "/a.jpg", Recipe: catalog.RecipeRef{Inline: []byte(fit64)}})
		done <- err
	}()
	waitfor.Cond(t, 20*time.Second, func() bool { return gate.WaitingBytes() == 1 }, "the ingest to wait for bytes")
	<-time.After(hold) // how long it is kept waiting: what the stage must not count
	all.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the ingest did not finish once admitted")
	}
	if took := time.Since(start); took < hold {
		t.Fatalf("ingest took %v, under the %v it was held", took, hold)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "pictor_stage_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" && l.GetValue() == "fetch" {
					count += m.GetHistogram().GetSampleCount()
					sum += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	if count != 1 || sum >= hold.Seconds()/2 {
		t.Fatalf("fetch stage: %d observations summing %.3f s, want one well under the %v held at admission", count, sum, hold)
	}
}
