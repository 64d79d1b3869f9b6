package catalog_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/storage"
)

const twoOutputs = `{"steps":[{"op":"resize","width":800,"height":800,"fit":"inside"}],
 "outputs":[{"name":"main","format":"webp","quality":80},
            {"name":"thumb","format":"jpeg","resize":{"width":200,"height":200,"fit":"cover"}}]}`

// runs reads how many pipeline runs (decodes) the service has made.
func runs(t *testing.T, b bundle) float64 {
	t.Helper()
	return counterSum(t, b.reg, "pictor_pipeline_runs_total", nil)
}

// counterSum adds up the counter name over its series whose labels include want; 0 when
// none is exported yet.
func counterSum(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func TestIngestRendersAndCaches(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, be)
			ctx := context.Background()
			src := productJPEG(t, 1600, 1000)
			req := catalog.IngestRequest{Data: src, SKU: "A-1", Recipe: catalog.RecipeRef{Inline: []byte(twoOutputs)}}
			res, err := b.svc.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Image; got.Width != 1600 || got.Height != 1000 || got.Format != "jpeg" || got.SKU != "A-1" || len(got.SHA256) != 64 {
				t.Fatalf("image = %+v, want 1600x1000 jpeg A-1", got)
			}
			if len(res.Renditions) != 2 {
				t.Fatalf("got %d renditions, want 2", len(res.Renditions))
			}
			want := []struct {
				name, format string
				w, h         int
			}{{"main", "webp", 800, 500}, {"thumb", "jpeg", 200, 200}}
			for i, w := range want {
				r := res.Renditions[i]
				if r.Name != w.name || r.Format != w.format || r.Width != w.w || r.Height != w.h || r.Cached || r.URL == "" {
					t.Errorf("rendition %d = %+v, want %s %s %dx%d uncached with url", i, r, w.name, w.format, w.w, w.h)
				}
				rc, meta, err := b.svc.OpenRendition(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(rc)
				rc.Close()
				info, err := imaging.Probe(data)
				if err != nil || string(info.Format) != w.format || info.Width != w.w || info.Height != w.h {
					t.Errorf("stored %s = %+v (%v), want %s %dx%d", r.Name, info, err, w.format, w.w, w.h)
				}
				if meta.Size != int64(len(data)) || meta.ContentType == "" || meta.ETag == "" {
					t.Errorf("meta = %+v for %d bytes", meta, len(data))
				}
			}
			if got := runs(t, b); got != 1 {
				t.Fatalf("pipeline runs after first ingest = %v, want 1", got)
			}
			again, err := b.svc.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range again.Renditions {
				if !r.Cached || r.ID != res.Renditions[i].ID {
					t.Errorf("second ingest rendition %d = %+v, want cached %s", i, r, res.Renditions[i].ID)
				}
			}
			if again.Image.ID != res.Image.ID {
				t.Errorf("second ingest image id %s, want %s", again.Image.ID, res.Image.ID)
			}
			if got := runs(t, b); got != 1 {
				t.Errorf("pipeline runs after repeat = %v, want still 1 (no decode)", got)
			}
			img, err := b.svc.GetImage(ctx, res.Image.ID)
			if err != nil {
				t.Fatal(err)
			}
			if img.Quality == nil || img.Quality.Width != 1600 || !img.Quality.PlainBackground || img.Quality.JPEGQuality < 85 {
				t.Errorf("quality = %+v, want 1600 wide, plain background, jpeg quality ~90", img.Quality)
			}
			list, next, err := b.svc.ListImages(ctx, catalog.ListImagesQuery{SKU: "A-1"})
			if err != nil || len(list) != 1 || next != "" {
				t.Errorf("list by sku = %d images, next %q, err %v; want 1", len(list), next, err)
			}
		})
	}
}

func TestNamedRecipes(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	ctx := context.Background()
	sr, created, err := b.svc.PutRecipe(ctx, "thumb", []byte(twoOutputs))
	if err != nil || !created || sr.Hash == "" {
		t.Fatalf("put = %+v created %v err %v", sr, created, err)
	}
	if _, created, err = b.svc.PutRecipe(ctx, "thumb", []byte(twoOutputs)); err != nil || created {
		t.Fatalf("second put created %v err %v, want replaced", created, err)
	}
	if _, _, err := b.svc.PutRecipe(ctx, "Bad Name", []byte(twoOutputs)); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("bad name err = %v, want ErrInvalid", err)
	}
	if _, _, err := b.svc.PutRecipe(ctx, "x", []byte(`{"steps":[{"op":"nope"}],"outputs":[{"name":"a"}]}`)); !errors.Is(err, pipeline.ErrInvalidRecipe) {
		t.Errorf("bad recipe err = %v, want ErrInvalidRecipe", err)
	}
	res, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: smallPNG(t), Recipe: catalog.RecipeRef{Name: "thumb"}})
	if err != nil || len(res.Renditions) != 2 {
		t.Fatalf("ingest by name: %v, %+v", err, res)
	}
	if res.Renditions[0].RecipeHash != sr.Hash {
		t.Errorf("recipe hash %s, want %s", res.Renditions[0].RecipeHash, sr.Hash)
	}
	if _, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: smallPNG(t), Recipe: catalog.RecipeRef{Name: "missing"}}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown recipe err = %v, want ErrNotFound", err)
	}
	list, err := b.svc.ListRecipes(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "thumb" {
		t.Errorf("list = %+v, %v", list, err)
	}
	if err := b.svc.DeleteRecipe(ctx, "thumb"); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.DeleteRecipe(ctx, "thumb"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("second delete err = %v, want ErrNotFound", err)
	}
}

// Identical renders in flight at once share one decode.
func TestRenderCoalesced(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	ctx := context.Background()
	res, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 1200, 900)})
	if err != nil {
		t.Fatal(err)
	}
	ref := catalog.RecipeRef{Inline: []byte(twoOutputs)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := b.svc.Render(ctx, res.Image.ID, ref, nil)
			if err == nil && len(r) != 2 {
				err = errors.New("want 2 renditions")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := runs(t, b); got != 1 {
		t.Errorf("pipeline runs = %v, want 1 for 8 identical renders", got)
	}
}

func TestBadInputs(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	jpg := productJPEG(t, 400, 300)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"huge png header", hugePNG(), imaging.ErrTooManyPixels},
		{"truncated jpeg", jpg[:len(jpg)/2], imaging.ErrCorrupt},
		{"not an image", []byte("hello, this is not an image at all"), imaging.ErrCorrupt},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>`), imaging.ErrUnsupportedFormat},
		{"pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), imaging.ErrUnsupportedFormat},
		{"empty", nil, catalog.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, recipe := range []catalog.RecipeRef{{}, {Inline: []byte(twoOutputs)}} {
				_, err := b.svc.Ingest(context.Background(), catalog.IngestRequest{Data: tc.data, Recipe: recipe})
				if !errors.Is(err, tc.want) {
					t.Errorf("recipe %v: got %v, want %v", !recipe.IsZero(), err, tc.want)
				}
			}
		})
	}
	list, _, err := b.svc.ListImages(context.Background(), catalog.ListImagesQuery{})
	if err != nil || len(list) != 0 {
		t.Errorf("images after bad inputs = %d (%v), want 0", len(list), err)
	}
	// Nor objects: an original is stored only once its render has succeeded.
	for _, bucket := range []string{b.cfg.BucketOriginals, b.cfg.BucketRenditions} {
		for oi, err := range b.store.List(context.Background(), bucket, "") {
			t.Errorf("after bad inputs, %s holds %s (%v)", bucket, oi.Key, err)
		}
	}
}

// Bad inputs run in a loop leave libvips memory where it began.
func TestBadInputsDoNotLeak(t *testing.T) {
	b := setup(t, backends()[0])
	ctx := context.Background()
	jpg := productJPEG(t, 640, 480)
	inputs := [][]byte{hugePNG(), jpg[:len(jpg)/2], []byte("garbage bytes"), jpg}
	ref := catalog.RecipeRef{Inline: []byte(twoOutputs)}
	// Warm up so lazily created libvips state does not count as a leak.
	for _, in := range inputs {
		b.svc.Ingest(ctx, catalog.IngestRequest{Data: in, Recipe: ref})
	}
	before := imaging.ReadMemStats()
	for i := range 30 {
		for _, in := range inputs {
			// A new recipe each round so the good input is decoded every time.
			r := catalog.RecipeRef{Inline: []byte(`{"steps":[{"op":"blur","sigma":` + itoa(i+1) + `}],"outputs":[{"name":"o","format":"png"}]}`)}
			b.svc.Ingest(ctx, catalog.IngestRequest{Data: in, Recipe: r})
		}
	}
	after := imaging.ReadMemStats()
	if after.Allocs > before.Allocs+2 || after.Mem > before.Mem+1<<20 || after.Files > before.Files {
		t.Errorf("libvips after = %+v, before = %+v: memory not returned", after, before)
	}
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

// An unreachable object store answers ErrUnavailable and leaves no image record.
func TestStoreDownLeavesNoRecord(t *testing.T) {
	t.Parallel()
	env, stop, _ := testenv.StartMinIO(t)
	st, err := storage.NewS3(s3Config(env))
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), db.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := setupWith(t, d, st)
	stop()
	_, err = b.svc.Ingest(context.Background(), catalog.IngestRequest{Data: productJPEG(t, 300, 200), SKU: "down", Recipe: catalog.RecipeRef{Inline: []byte(twoOutputs)}})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("got %v, want storage.ErrUnavailable", err)
	}
	list, _, err := b.svc.ListImages(context.Background(), catalog.ListImagesQuery{})
	if err != nil || len(list) != 0 {
		t.Errorf("images = %d (%v), want none", len(list), err)
	}
	var n int
	if err := d.SQL.QueryRow(`SELECT count(*) FROM renditions`).Scan(&n); err != nil || n != 0 {
		t.Errorf("renditions rows = %d (%v), want 0", n, err)
	}
	if err := b.svc.Ready(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("ready = %v, want storage.ErrUnavailable", err)
	}
}
