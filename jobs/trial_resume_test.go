package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/manifest"
)

// A trial job that runs again after a crash (a River retry or rescue) keeps the samples
// its first attempt stored and runs only the rest: nothing is counted twice.
func TestTrialResumesWithoutDoubleCounting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		mu      sync.Mutex
		fetched = map[string]int{}
	)
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 5)
	}
	img.Set(0, 0, color.Black)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		// Distinct bytes per path: every row is its own image.
		im := image.NewRGBA(img.Rect)
		copy(im.Pix, img.Pix)
		im.Pix[1] = byte(len(r.URL.Path) * 7)
		im.Pix[2] = r.URL.Path[len(r.URL.Path)-5]
		var buf bytes.Buffer
		jpeg.Encode(&buf, im, nil)
		w.Write(buf.Bytes())
	}))
	t.Cleanup(src.Close)
	cc := catalog.DefaultConfig()
	d, cat := OpenTestCatalog(t, "sqlite", true, cc, nil)
	cfg := DefaultConfig()
	cfg.Work = false // no workers: the test runs the trial's attempts itself
	s, err := New(cfg, Deps{DB: d, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateBatch(ctx, BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(`{"outputs":[{"name":"main","format":"jpeg","resize":{"width":32}}]}`)},
		Manifest: strings.NewReader(URLManifest(src.URL, 5)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrialBatch(ctx, b.ID, 5); err != nil {
		t.Fatal(err)
	}
	row, err := s.loadBatch(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var st trialState
	if err := json.Unmarshal([]byte(row.trial), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Rows) != 5 || st.Token == "" {
		t.Fatalf("stored trial: %+v, want 5 chosen rows and a token", st)
	}
	args := BatchTrialArgs{BatchID: b.ID, Token: st.Token}

	// The first attempt stored two samples and died: its state is what the row holds.
	st.Samples = []TrialSample{{Row: st.Rows[0], Source: "first attempt", Passed: true}, {Row: st.Rows[1], Source: "first attempt", Passed: true}}
	st.Progress.Done = 2
	if ok, err := s.saveTrial(ctx, args, st, nil, ""); err != nil || !ok {
		t.Fatalf("save partial trial: %v %v", ok, err)
	}
	if err := s.runTrial(ctx, args, time.Now().Add(time.Hour), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBatch(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != BatchReady || got.Trial == nil || !got.Trial.Done || got.Trial.Progress != (TrialProgress{Done: 5, Total: 5}) {
		t.Fatalf("after the retry: %s %+v, want ready with 5/5", got.State, got.Trial)
	}
	seen := map[int]int{}
	for i, smp := range got.Trial.Samples {
		seen[smp.Row]++
		if i < 2 && smp.Source != "first attempt" {
			t.Errorf("sample %d: got %q, want the first attempt's sample kept", i, smp.Source)
		}
	}
	for _, r := range st.Rows {
		if seen[r] != 1 {
			t.Errorf("row %d: got %d samples, want 1", r, seen[r])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fetched) != 3 {
		t.Errorf("sources fetched: got %v, want only the 3 rows the first attempt had not run", fetched)
	}
	for p, n := range fetched {
		if n != 1 {
			t.Errorf("%s: fetched %d times, want 1", p, n)
		}
	}
	// A stale job (another trial's token) does nothing.
	if err := s.runTrial(ctx, BatchTrialArgs{BatchID: b.ID, Token: "stale"}, time.Now().Add(time.Hour), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
