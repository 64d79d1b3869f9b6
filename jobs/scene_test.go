package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/internal/waitfor"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// sdBundle is a catalog and job service wired to an in-process stand-in WebUI.
type sdBundle struct {
	bundle
	sd   *sdtest.Server
	pool *sdclient.Pool
}

func setupSD(t *testing.T, blocklist ...string) sdBundle {
	t.Helper()
	srv := sdtest.New(sdtest.Options{StepLatency: 2 * time.Millisecond, PreviewEvery: 2})
	t.Cleanup(srv.Close)
	pool, err := sdclient.NewPool([]sdclient.Backend{{URL: srv.URL}}, sdclient.DefaultPoolConfig(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := setupWith(t, options{blocklist: blocklist, sd: &pipeline.SD{Pool: pool, ProgressEvery: 20 * time.Millisecond}})
	return sdBundle{bundle: b, sd: srv, pool: pool}
}

// productShot is a red box with a blue band on white, 320x240, as PNG.
func productShot(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(100, 60, 220, 200), image.NewUniform(color.RGBA{200, 40, 30, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(100, 120, 220, 140), image.NewUniform(color.RGBA{20, 40, 200, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func waitScene(t *testing.T, b sdBundle, id string) catalog.Scene {
	t.Helper()
	var sc catalog.Scene
	if !waitfor.Poll(30*time.Second, func() bool {
		var err error
		if sc, err = b.cat.GetScene(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return sc.Finished()
	}) {
		t.Fatalf("scene %s: state %s after 30s, want it finished", id, sc.State)
	}
	return sc
}

func TestSceneVariantsKeepProductPixels(t *testing.T) {
	t.Parallel()
	b := setupSD(t)
	ctx := context.Background()
	src := productShot(t)
	res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: src})
	if err != nil {
		t.Fatal(err)
	}
	seed := int64(42)
	sc, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a marble kitchen counter", Variants: 4, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	done := waitScene(t, b, sc.ID)
	if done.State != catalog.SceneSucceeded || len(done.Results) != 4 || done.Progress != 1 {
		t.Fatalf("scene = %+v, want 4 succeeded variants", done)
	}
	srcImg, _ := png.Decode(bytes.NewReader(src))
	for k, v := range done.Results {
		if v.Seed != seed+int64(k) || v.Rendition.Lineage["seed"] == "" || v.Rendition.Lineage["prompt"] != "a marble kitchen counter" {
			t.Errorf("variant %d seed %d lineage %v", k, v.Seed, v.Rendition.Lineage)
		}
		rc, _, err := b.cat.OpenRendition(ctx, v.Rendition.ID)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		// Inside the product (eroded by a few px) JPEG output stays within its own
		// quantisation error of the source; the background, repainted, moved a lot.
		inside := diff(srcImg, out, image.Rect(106, 66, 214, 194))
		outside := diff(srcImg, out, image.Rect(5, 5, 60, 60))
		if inside > 6 {
			t.Errorf("variant %d: product pixels moved by %.1f on average, want only JPEG noise", k, inside)
		}
		if outside < 10 {
			t.Errorf("variant %d: background moved by only %.1f, want a new background", k, outside)
		}
	}
	if done.Results[0].Rendition.ID == done.Results[1].Rendition.ID {
		t.Error("variants 0 and 1 are the same rendition")
	}
	// Approval makes a variant the image's scene rendition.
	if _, err := b.cat.ApproveScene(ctx, sc.ID, 2, ""); err != nil {
		t.Fatal(err)
	}
	img, err := b.cat.GetImage(ctx, res.Image.ID)
	if err != nil || img.SceneRenditionID != done.Results[2].Rendition.ID {
		t.Errorf("image scene rendition = %q (%v), want %s", img.SceneRenditionID, err, done.Results[2].Rendition.ID)
	}
	if _, err := b.cat.ApproveScene(ctx, sc.ID, 7, ""); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("approve missing variant: %v, want ErrInvalid", err)
	}
	if b.sd.MaxConcurrent() != 1 {
		t.Errorf("backend ran %d generations at once, want 1", b.sd.MaxConcurrent())
	}
}

// diff is the mean absolute channel difference of a and b over r.
func diff(a, b image.Image, r image.Rectangle) float64 {
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				if d < 0 {
					d = -d
				}
				sum += d
				n++
			}
		}
	}
	return sum / n
}

// A scene's review policy holds its variants, filed under the scene; approving one as the
// scene's variant is its review.
func TestSceneReview(t *testing.T) {
	t.Parallel()
	b := setupSD(t)
	ctx := context.Background()
	res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: productShot(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a shelf", Variants: 1, Review: "maybe"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("review %q: %v, want ErrInvalid", "maybe", err)
	}
	sc, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a walnut shelf", Variants: 2, Review: catalog.ReviewAll})
	if err != nil {
		t.Fatal(err)
	}
	done := waitScene(t, b, sc.ID)
	if done.State != catalog.SceneSucceeded || len(done.Results) != 2 || done.Review != catalog.ReviewAll {
		t.Fatalf("scene = %s, %d variants, review %q; want 2 variants under review all", done.State, len(done.Results), done.Review)
	}
	page, err := b.cat.ListReviews(ctx, catalog.ReviewQuery{SceneID: sc.ID})
	if err != nil || page.Total != 2 {
		t.Fatalf("pending reviews of the scene: %d (%v), want both variants", page.Total, err)
	}
	if _, err := b.cat.ApproveScene(ctx, sc.ID, 1, "dana"); err != nil {
		t.Fatal(err)
	}
	rv, err := b.cat.GetReview(ctx, done.Results[1].Rendition.ID)
	if err != nil || rv.State != catalog.ReviewApproved || rv.Reviewer != "dana" {
		t.Errorf("approved variant's review = %+v (%v), want approved by dana", rv, err)
	}
	if page, _ := b.cat.ListReviews(ctx, catalog.ReviewQuery{SceneID: sc.ID}); page.Total != 1 || page.Reviews[0].ID != done.Results[0].Rendition.ID {
		t.Errorf("pending after approval: %+v, want only the other variant", page)
	}
}

func TestSceneRefusals(t *testing.T) {
	t.Parallel()
	b := setupSD(t, "nsfw", "Logo of")
	ctx := context.Background()
	res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: productShot(t)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  catalog.SceneRequest
		want error
	}{
		{"blocked term", catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a NSFW beach"}, catalog.ErrPromptBlocked},
		{"blocked phrase", catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "the logo of a brand"}, catalog.ErrPromptBlocked},
		{"no prompt", catalog.SceneRequest{ImageID: res.Image.ID}, catalog.ErrInvalid},
		{"too many variants", catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "x", Variants: 9}, catalog.ErrInvalid},
		{"unknown template", catalog.SceneRequest{ImageID: res.Image.ID, Template: "nope"}, catalog.ErrNotFound},
		{"unknown image", catalog.SceneRequest{ImageID: "img_nope", Prompt: "x"}, catalog.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.jobs.CreateScene(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if calls := b.sd.Calls(); len(calls) != 0 {
		t.Errorf("refused scenes reached the backend %d times", len(calls))
	}
	// Templates fill their variables.
	if _, _, err := b.cat.PutTemplate(ctx, catalog.PromptTemplate{Name: "kitchen", Prompt: "{product} on a {scene}, {lighting} light"}); err != nil {
		t.Fatal(err)
	}
	sc, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Template: "kitchen", Variants: 1,
		Variables: map[string]string{"product": "a red box", "scene": "oak table", "lighting": "morning"}})
	if err != nil || sc.Prompt != "a red box on a oak table, morning light" {
		t.Fatalf("scene from template: %q %v", sc.Prompt, err)
	}
	if _, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Template: "kitchen", Variables: map[string]string{"product": "x"}}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("missing template variables: %v, want ErrInvalid", err)
	}
	waitScene(t, b, sc.ID)
}

func TestSceneCancelInterruptsBackend(t *testing.T) {
	t.Parallel()
	b := setupSD(t)
	ctx := context.Background()
	res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: productShot(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.sd.FailNext(sdtest.FailHang, 1)
	sc, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a beach", Variants: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the hanging generation is running, then cancel.
	waitfor.Cond(t, 20*time.Second, func() bool { return hanging(b.sd) }, "the hanging generation to start")
	if _, err := b.jobs.CancelScene(ctx, sc.ID); err != nil {
		t.Fatal(err)
	}
	done := waitScene(t, b, sc.ID)
	if done.State != catalog.SceneCancelled {
		t.Fatalf("state = %s, want cancelled", done.State)
	}
	// The pool sends /interrupt for our abandoned generation: the WebUI would not
	// notice the closed connection and would run on. When the cancel lands
	// while the call holds the queue lock but has not yet started its task
	// (decoding its init images), the backend says the task is queued and
	// the pool's watcher interrupts it once it starts, after the scene ended.
	waitfor.Cond(t, 20*time.Second, func() bool {
		for _, c := range b.sd.Calls() {
			if c.Endpoint == "/sdapi/v1/interrupt" || (c.Endpoint == "/sdapi/v1/img2img" && c.Interrupted) {
				return true
			}
		}
		return false
	}, "the backend to be interrupted")
}

func hanging(s *sdtest.Server) bool {
	for _, c := range s.Calls() {
		if c.Endpoint == "/sdapi/v1/img2img" && !c.Start.IsZero() && c.End.IsZero() {
			return true
		}
	}
	return false
}

// An interactive scene submitted behind 20 queued batch-lane calls starts next.
func TestSceneJumpsBatchQueue(t *testing.T) {
	t.Parallel()
	b := setupSD(t)
	ctx := context.Background()
	src := productShot(t)
	res, err := b.cat.Ingest(ctx, catalog.IngestRequest{Data: src})
	if err != nil {
		t.Fatal(err)
	}
	upscale := func(ctx context.Context, c *sdclient.Client) error {
		_, err := c.ExtraSingleImage(ctx, sdclient.ExtrasRequest{Image: src, UpscalingResize: 4})
		return err
	}
	// A batch call holds the one backend...
	b.sd.FailNext(sdtest.FailHang, 1)
	holdCtx, release := context.WithCancel(ctx)
	held := make(chan struct{})
	hold := func(ctx context.Context, c *sdclient.Client) error {
		_, err := c.Img2Img(ctx, sdclient.Img2ImgRequest{InitImages: [][]byte{src}, GenerationParams: sdclient.GenerationParams{Prompt: "hold", Steps: 5}})
		return err
	}
	go func() { defer close(held); b.pool.Do(holdCtx, sdclient.Batch, hold) }()
	waitfor.Cond(t, 30*time.Second, func() bool { return b.pool.Status()[0].InFlight > 0 }, "the held call to take the backend")
	// ...20 more wait in the batch lane...
	batchDone := make(chan struct{}, 20)
	for range 20 {
		go func() { b.pool.Do(ctx, sdclient.Batch, upscale); batchDone <- struct{}{} }()
	}
	waitfor.Cond(t, 30*time.Second, func() bool { return b.pool.QueueLen(sdclient.Batch) == 20 }, "20 calls queued in the batch lane")
	// ...then a designer's scene arrives.
	sc, err := b.jobs.CreateScene(ctx, catalog.SceneRequest{ImageID: res.Image.ID, Prompt: "a stone plinth", Variants: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 30*time.Second, func() bool { return b.pool.QueueLen(sdclient.Interactive) > 0 }, "the scene's call queued in the interactive lane")
	release()
	<-held
	if done := waitScene(t, b, sc.ID); done.State != catalog.SceneSucceeded {
		t.Fatalf("scene = %+v", done)
	}
	for range 20 {
		<-batchDone
	}
	// After the held call, the scene's first call starts before any queued batch call.
	var order []string
	for _, c := range b.sd.Calls() {
		if c.Endpoint != "/sdapi/v1/interrupt" {
			order = append(order, c.Endpoint)
		}
	}
	if len(order) < 3 || order[0] != "/sdapi/v1/img2img" || order[1] != "/rembg" {
		t.Fatalf("call order = %v: the scene waited behind the batch lane", order)
	}
	// Its generation comes after a little CPU work of its own, while which the free
	// backend takes batch calls; it still runs before the batch queue drains.
	gen := -1
	for i, e := range order[1:] {
		if e == "/sdapi/v1/img2img" {
			gen = i + 1
		}
	}
	if gen < 0 || gen >= len(order)-1 {
		t.Errorf("call order = %v: the scene's generation ran at %d, want within the first few", order, gen)
	}
}
