package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// When every libvips slot is taken and the wait queue is full, work is refused at once
// with imaging.ErrBusy (the API's 429) and readiness reports it; it recovers after.
func TestBusyGateRefusesAndReadinessReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, db.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := storage.NewLocal(storage.LocalConfig{Dir: dir + "/objects"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fetch.New(fetch.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	gate := imaging.NewGate(1, 1)
	svc, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ready(ctx); err != nil {
		t.Fatalf("ready while idle: %v", err)
	}
	release, err := gate.Acquire(ctx) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() { // fills the one queue place
		r, err := gate.Acquire(waitCtx)
		if err == nil {
			r()
		}
		waited <- err
	}()
	waitfor.Cond(t, 10*time.Second, func() bool { return gate.Waiting() == 1 }, "the waiter to fill the gate's one queue place")
	_, err = svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100)})
	if !errors.Is(err, imaging.ErrBusy) {
		t.Errorf("ingest with full queue: got %v, want ErrBusy", err)
	}
	// A URL is refused before it is fetched (this fetcher would refuse the loopback
	// address: ErrBlocked would mean it tried).
	_, err = svc.Ingest(ctx, catalog.IngestRequest{URL: "http://127.0.0.1:9/a.jpg"})
	if !errors.Is(err, imaging.ErrBusy) {
		t.Errorf("URL ingest with full queue: got %v, want ErrBusy before any fetch", err)
	}
	if err := svc.Ready(ctx); !errors.Is(err, imaging.ErrBusy) {
		t.Errorf("ready with full queue: got %v, want ErrBusy", err)
	}
	cancel()
	<-waited
	release()
	if _, err := svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100)}); err != nil {
		t.Errorf("ingest after release: %v", err)
	}
	if err := svc.Ready(ctx); err != nil {
		t.Errorf("ready after release: %v", err)
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	if _, err := b.svc.Ingest(context.Background(), catalog.IngestRequest{Data: smallPNG(t), Recipe: catalog.RecipeRef{Inline: []byte(twoOutputs)}}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(b.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"pictor_stage_duration_seconds", "pictor_rendition_cache_misses_total", "pictor_pipeline_runs_total", "pictor_storage_written_bytes_total", "pictor_imaging_in_flight", "pictor_imaging_reserved_bytes", "pictor_imaging_memory_budget_bytes", "pictor_imaging_work_bytes", "pictor_imaging_malloc_bytes", "pictor_imaging_malloc_free_bytes"} {
		if n, err := testutil.GatherAndCount(b.reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series (%v), want some", name, n, err)
		}
	}
	// A render has run in this process: the C allocator holds memory (glibc: mallinfo2).
	if got := gaugeValue(t, b.reg, "pictor_imaging_malloc_bytes"); got <= 0 {
		t.Errorf("pictor_imaging_malloc_bytes: got %v after a render, want > 0", got)
	}
	var _ prometheus.Gatherer = b.reg
}

// gaugeValue returns the value of the named single gauge in reg.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s: no single gauge", name)
	return 0
}

// Batch work goes to the gate's background lane: with every slot taken and the
// interactive queue full, an API ingest is refused with ErrBusy while a batch-lane
// ingest waits and then succeeds. (Order between the lanes: imaging's TestGateLowPriority.)
func TestBatchLaneWaitsBehindInteractive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, db.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, _ := storage.NewLocal(storage.LocalConfig{Dir: dir + "/objects"})
	f, _ := fetch.New(fetch.DefaultConfig())
	gate := imaging.NewGate(1, 1)
	svc, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	release, _ := gate.Acquire(ctx)
	waitCtx, cancelWait := context.WithCancel(ctx)
	waiting := make(chan struct{})
	go func() { // fills the interactive queue
		defer close(waiting)
		if r, err := gate.Acquire(waitCtx); err == nil {
			r()
		}
	}()
	waitfor.Cond(t, 10*time.Second, func() bool { return gate.Waiting() == 1 }, "the waiter to fill the gate's one queue place")
	if _, err := svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 100, 80), SKU: "api"}); !errors.Is(err, imaging.ErrBusy) {
		t.Fatalf("interactive ingest with a full queue: %v, want ErrBusy", err)
	}
	batchDone := make(chan error, 1)
	go func() {
		_, err := svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 120, 80), SKU: "batch", Lane: sdclient.Batch})
		batchDone <- err
	}()
	select {
	case err := <-batchDone:
		t.Fatalf("batch ingest finished while every slot was taken: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancelWait()
	<-waiting
	release()
	if err := <-batchDone; err != nil {
		t.Errorf("batch ingest after release: %v", err)
	}
}
