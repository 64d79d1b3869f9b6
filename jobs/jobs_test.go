package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/pipeline"
)

func TestMain(m *testing.M) {
	imaging.Startup(imaging.StartupConfig{}, slog.New(slog.DiscardHandler))
	code := m.Run()
	imaging.Shutdown()
	os.Exit(code)
}

type bundle struct {
	cat  *catalog.Service
	jobs *jobs.Service
	db   *db.DB
}

// options vary what setup wires.
type options struct {
	dialect   string // "sqlite" (default) or "postgres"
	loopback  bool   // the fetcher may reach 127.0.0.0/8 (source servers in tests)
	blocklist []string
	sd        *pipeline.SD
	jobs      func(*jobs.Config)
}

func setup(t *testing.T, dialect string) bundle {
	return setupWith(t, options{dialect: dialect})
}

// setupWith wires a catalog and a running job service on a fresh database.
func setupWith(t *testing.T, o options) bundle {
	t.Helper()
	ctx := context.Background()
	cc := catalog.DefaultConfig()
	cc.PromptBlocklist = o.blocklist
	d, cat := jobs.OpenTestCatalog(t, o.dialect, o.loopback, cc, o.sd)
	jc := jobs.DefaultConfig()
	if o.jobs != nil {
		o.jobs(&jc)
	}
	js, err := jobs.New(jc, jobs.Deps{DB: d, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if err := js.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := js.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js.Stop(sctx)
	})
	return bundle{cat: cat, jobs: js, db: d}
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRenderJob(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setup(t, dialect)
			ctx := context.Background()
			res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: pngBytes(t)})
			if err != nil {
				t.Fatal(err)
			}
			job, err := b.jobs.EnqueueRender(ctx, res.Image.ID, []byte(`{"outputs":[{"name":"s","format":"webp","resize":{"width":100}}]}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if job.Queue != jobs.QueueInteractive || job.Kind != "render" {
				t.Errorf("job = %+v, want interactive render", job)
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			done, err := b.jobs.Wait(wctx, job.ID)
			if err != nil || done.State != "completed" {
				t.Fatalf("job = %+v (%v), want completed", done, err)
			}
			var out jobs.RenderOutput
			if err := json.Unmarshal(done.Output, &out); err != nil || len(out.Renditions) != 1 || out.Renditions[0].Width != 100 {
				t.Errorf("output = %s (%v)", done.Output, err)
			}
			// A permanent failure is cancelled, not retried.
			bad, err := b.jobs.EnqueueRender(ctx, "img_missing", []byte(`{"outputs":[{"name":"s"}]}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			failed, err := b.jobs.Wait(wctx, bad.ID)
			if err != nil || failed.State != "cancelled" || failed.Attempt != 1 || len(failed.Errors) == 0 {
				t.Errorf("missing image job = %+v (%v), want cancelled after 1 attempt", failed, err)
			}
			if _, err := b.jobs.Get(ctx, 987654); err == nil {
				t.Error("unknown job: want an error")
			}
		})
	}
}
