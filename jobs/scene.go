package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
)

// SceneArgs makes every variant of one scene.
type SceneArgs struct {
	SceneID string `json:"scene_id"`
}

// Kind never changes: it is stored on every job row.
func (SceneArgs) Kind() string { return "scene" }

// InsertOpts puts scenes on the interactive queue.
func (SceneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueInteractive, MaxAttempts: 3}
}

// CreateScene checks a scene request and, in one transaction, records the scene and
// the job that makes it.
func (s *Service) CreateScene(ctx context.Context, req catalog.SceneRequest) (catalog.Scene, error) {
	sc, err := s.cat.PrepareScene(ctx, req)
	if err != nil {
		return catalog.Scene{}, err
	}
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return catalog.Scene{}, fmt.Errorf("begin: %w: %w", catalog.ErrUnavailable, err)
	}
	defer tx.Rollback()
	res, err := s.client.InsertTx(ctx, tx, SceneArgs{SceneID: sc.ID}, nil)
	if err != nil {
		return catalog.Scene{}, fmt.Errorf("insert scene job: %w", err)
	}
	if err := s.cat.InsertSceneTx(ctx, tx, sc, res.Job.ID); err != nil {
		return catalog.Scene{}, err
	}
	if err := tx.Commit(); err != nil {
		return catalog.Scene{}, fmt.Errorf("commit scene: %w: %w", catalog.ErrUnavailable, err)
	}
	return s.cat.GetScene(ctx, sc.ID)
}

type sceneWorker struct {
	river.WorkerDefaults[SceneArgs]
	cat *catalog.Service
	// CancelPoll is how often a running scene checks for a cancel request.
	cancelPoll time.Duration
	// timeout leaves room for eight generations on a busy backend, yet ends before the
	// job would be rescued as orphaned.
	timeout time.Duration
}

// Timeout bounds one attempt of a scene.
func (w *sceneWorker) Timeout(*river.Job[SceneArgs]) time.Duration { return w.timeout }

func (w *sceneWorker) Work(ctx context.Context, job *river.Job[SceneArgs]) error {
	id := job.Args.SceneID
	sc, err := w.cat.GetScene(ctx, id)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return river.JobCancel(err)
		}
		return err
	}
	if sc.Finished() {
		return nil
	}
	if sc.CancelRequested() {
		return w.cat.FinishScene(ctx, id, catalog.SceneCancelled, "cancelled before it started")
	}
	if err := w.cat.SceneRunning(ctx, id); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.watchCancel(runCtx, id, cancel)

	done := map[int]bool{}
	for _, v := range sc.Results {
		done[v.Index] = true
	}
	n := float64(sc.Variants)
	for k := range sc.Variants {
		if done[k] {
			continue
		}
		report := w.progress(ctx, id, float64(k), n)
		rends, err := w.cat.RenderFor(runCtx, sc.ImageID, catalog.RecipeRef{Inline: sc.VariantRecipe(k)},
			catalog.RenderOptions{Review: sc.Review, SceneID: id, OnProgress: report})
		if err != nil {
			if errors.Is(context.Cause(runCtx), errCancelRequested) {
				return w.cat.FinishScene(ctx, id, catalog.SceneCancelled, "cancelled")
			}
			if permanent(err) || job.Attempt >= job.MaxAttempts {
				if ferr := w.cat.FinishScene(ctx, id, catalog.SceneFailed, err.Error()); ferr != nil {
					return ferr
				}
				return river.JobCancel(err)
			}
			return err
		}
		if err := w.cat.AddSceneVariant(ctx, id, k, sc.VariantSeed(k), rends[0]); err != nil {
			return err
		}
		if err := w.cat.SceneProgress(ctx, id, float64(k+1)/n, 0, nil); err != nil {
			return err
		}
	}
	return w.cat.FinishScene(ctx, id, catalog.SceneSucceeded, "")
}

var errCancelRequested = errors.New("scene cancel requested")

// watchCancel ends the run when someone asks to cancel the scene. It reads the
// database, so a cancel reaches the worker on any replica and on SQLite.
func (w *sceneWorker) watchCancel(ctx context.Context, id string, cancel context.CancelCauseFunc) {
	t := time.NewTicker(w.cancelPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sc, err := w.cat.GetScene(ctx, id)
		if err == nil && sc.CancelRequested() {
			cancel(errCancelRequested)
			return
		}
	}
}

// progress returns the callback that records variant k's progress as the scene's.
// Writes are throttled: previews are large and the database is shared.
func (w *sceneWorker) progress(ctx context.Context, id string, k, n float64) func(float64, float64, []byte) {
	var (
		mu   sync.Mutex
		last time.Time
	)
	return func(frac, eta float64, preview []byte) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		// Progress is the scene's: variant k of n, this far along.
		if err := w.cat.SceneProgress(ctx, id, (k+frac)/n, eta, preview); err != nil {
			return
		}
	}
}

// CancelScene asks the scene's worker to stop; it interrupts the backend through the
// pool when the scene's generation is running.
func (s *Service) CancelScene(ctx context.Context, id string) (catalog.Scene, error) {
	return s.cat.RequestSceneCancel(ctx, id)
}
