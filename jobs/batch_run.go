package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/manifest"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"

	"github.com/pictor/pictor/fault"
)

// BatchItemArgs processes one manifest row of a batch.
type BatchItemArgs struct {
	BatchID string `json:"batch_id"`
	Row     int    `json:"row"`
}

// Kind never changes: it is stored on every job row.
func (BatchItemArgs) Kind() string { return "batch_item" }

// InsertOpts puts items on the batch queue, behind interactive work.
func (BatchItemArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBatch, MaxAttempts: 4}
}

// enqueueChunk is how many items go to the queue per transaction.
const enqueueChunk = 1000

// enqueueSlice bounds one run of the hand-off job: it snoozes (briefly) to go on, so the
// maintenance queue is never held long and a rescue after a crash redoes nothing.
const enqueueSlice = 20 * time.Second

// enqueueAhead is how many of a batch's items may wait in the queue; the hand-off waits
// (enqueueWait) while more do. So batches started later are not stuck behind millions of
// queued jobs, and pausing or cancelling a huge batch leaves only this many to go round.
const (
	enqueueAhead = 10 * enqueueChunk
	enqueueWait  = time.Second
)

// ActionOptions steer start, retry and resume.
type ActionOptions struct {
	// Force starts (or retries) a batch whose trial is below min_accuracy, or that has
	// none while its recipe has AI steps, and resumes a batch paused by its max_cost with
	// the cap lifted; default false.
	Force bool
	// MaxCost, on resume, is the batch's new spend cap; it must be above what the batch
	// has spent. Nil (the default) keeps the cap.
	MaxCost *float64
}

// ErrTrialGate is wrapped by a *TrialGateError: start refused for want of a good trial.
var ErrTrialGate = fault.New(fault.Conflict, "trial-gate", "The trial does not allow a start", "the trial does not allow a start")

// TrialGateError is why start or retry refused: the trial's accuracy is below the
// batch's min_accuracy, or a recipe with AI steps has had no trial. It matches
// ErrTrialGate and ErrBatchState.
type TrialGateError struct {
	// MinAccuracy is the batch's threshold.
	MinAccuracy float64
	// Trial is the report; nil when no trial was run.
	Trial *Trial
}

func (e *TrialGateError) Error() string {
	if e.Trial == nil {
		return "a trial is required before starting a batch whose recipe has AI steps (run one, or start with force)"
	}
	return fmt.Sprintf("trial accuracy %.1f%% is below the batch's min_accuracy %.1f%% (look at the failing samples, or start with force)",
		e.Trial.Accuracy*100, e.MinAccuracy*100)
}

// Unwrap makes the error match ErrTrialGate and ErrBatchState.
func (e *TrialGateError) Unwrap() []error { return []error{ErrTrialGate, ErrBatchState} }

// trialGate checks that b may run without force: its trial (when its recipe has AI
// steps, one is required) reached min_accuracy.
func trialGate(b batchRow) error {
	var t *Trial
	if b.trial != "" {
		t = &Trial{}
		if err := json.Unmarshal([]byte(b.trial), t); err != nil {
			return fmt.Errorf("batch %s trial: %w", b.id, err)
		}
		if !t.Done {
			t = nil
		}
	}
	if t == nil {
		ai, err := recipeHasAI([]byte(b.recipe))
		if err != nil || !ai {
			return nil
		}
		return &TrialGateError{MinAccuracy: b.minAccuracy}
	}
	if t.Accuracy < b.minAccuracy {
		return &TrialGateError{MinAccuracy: b.minAccuracy, Trial: t}
	}
	return nil
}

// StartBatch marks the batch running and hands its pending items to the queue. The
// hand-off is a job (BatchEnqueueArgs) inserted in the same transaction as the state
// change: the call answers at once even for a million rows, and a crash mid-way resumes.
// Without o.Force it refuses (TrialGateError) a trial below min_accuracy, or no trial
// for a recipe with AI steps.
func (s *Service) StartBatch(ctx context.Context, id string, o ActionOptions) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	if b.state != BatchDraft && b.state != BatchReady {
		return Batch{}, fmt.Errorf("start a %s batch: %w", b.state, ErrBatchState)
	}
	if !o.Force {
		if err := trialGate(b); err != nil {
			return Batch{}, err
		}
	}
	if err := s.runPending(ctx, id, ""); err != nil {
		return Batch{}, err
	}
	return s.GetBatch(ctx, id)
}

// runPending marks the batch running and inserts the job that queues its pending items,
// in one transaction. With from set, items in that state become pending first, in the
// same transaction (a retry of failed items).
func (s *Service) runPending(ctx context.Context, id, from string) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return dbError("begin", err)
	}
	defer tx.Rollback()
	if from != "" {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = '', updated_at = ?
			WHERE batch_id = ? AND state = ?`), ItemPending, time.Now().UTC().UnixNano(), id, from); err != nil {
			return dbError("mark pending", err)
		}
	}
	if err := s.setBatchStateTx(ctx, tx, id, BatchRunning); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET paused_reason = '', start_at = 0 WHERE id = ?`), id); err != nil {
		return dbError("clear pause reason", err)
	}
	if _, err := s.client.InsertTx(ctx, tx, BatchEnqueueArgs{BatchID: id}, nil); err != nil {
		return fmt.Errorf("queue the hand-off of batch %s: %w", id, err)
	}
	return dbError("commit start", tx.Commit())
}

// BatchEnqueueArgs hands a running batch's pending items to the batch queue, a chunk per
// transaction.
type BatchEnqueueArgs struct {
	BatchID string `json:"batch_id"`
}

// Kind never changes: it is stored on every job row.
func (BatchEnqueueArgs) Kind() string { return "batch_enqueue" }

// InsertOpts runs the hand-off on the maintenance queue.
func (BatchEnqueueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 25}
}

type batchEnqueueWorker struct {
	river.WorkerDefaults[BatchEnqueueArgs]
	s *Service
}

func (w *batchEnqueueWorker) Work(ctx context.Context, job *river.Job[BatchEnqueueArgs]) error {
	s, id := w.s, job.Args.BatchID
	until := time.Now().Add(enqueueSlice)
	for {
		b, err := s.loadBatch(ctx, id)
		if errors.Is(err, catalog.ErrNotFound) {
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		if b.state != BatchRunning {
			return nil // paused (resume hands off again) or cancelled (pending items skipped)
		}
		var waiting int
		if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT count(*) FROM (SELECT 1 FROM batch_items
			WHERE batch_id = ? AND state = ? LIMIT ?) AS w`), id, ItemQueued, enqueueAhead).Scan(&waiting); err != nil {
			return dbError("count queued", err)
		}
		if waiting >= enqueueAhead {
			return river.JobSnooze(enqueueWait)
		}
		n, err := s.enqueueChunk(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			// Another hand-off may have taken the rows this one chose: done only when none
			// is left.
			var one int
			err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT 1 FROM batch_items WHERE batch_id = ? AND state = ? LIMIT 1`), id, ItemPending).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return s.maybeFinish(ctx, id)
			}
			if err != nil {
				return dbError("pending left", err)
			}
		}
		if time.Now().After(until) {
			return river.JobSnooze(time.Millisecond)
		}
	}
}

// enqueueChunk moves up to enqueueChunk pending items to queued and inserts their jobs, in
// one transaction, and returns how many it moved. The update picks and claims the rows in
// one statement, so two hand-offs at once (PostgreSQL) never queue an item twice.
func (s *Service) enqueueChunk(ctx context.Context, id string) (int, error) {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, dbError("begin", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = '', updated_at = ?
		WHERE batch_id = ? AND state = ? AND row_number IN (
			SELECT row_number FROM batch_items WHERE batch_id = ? AND state = ? ORDER BY row_number LIMIT ?)
		RETURNING row_number`), ItemQueued, time.Now().UTC().UnixNano(), id, ItemPending, id, ItemPending, enqueueChunk)
	if err != nil {
		return 0, dbError("claim pending", err)
	}
	var claimed []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, dbError("claim pending", err)
		}
		claimed = append(claimed, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, dbError("claim pending", err)
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	slices.Sort(claimed)
	params := make([]river.InsertManyParams, len(claimed))
	for i, n := range claimed {
		params[i] = river.InsertManyParams{Args: BatchItemArgs{BatchID: id, Row: n}}
	}
	if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
		return 0, fmt.Errorf("queue items: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, dbError("commit queued", err)
	}
	return len(claimed), nil
}

// PauseBatch makes the batch's items wait; running ones finish. The hand-off stops, and each
// queued item, when a worker takes it, goes back to pending and its job completes (it is
// parked), so a paused batch costs nothing after that.
func (s *Service) PauseBatch(ctx context.Context, id string) (Batch, error) {
	return s.transition(ctx, id, BatchPaused, BatchRunning)
}

// ResumeBatch lets a paused batch go on: a new hand-off queues its parked items. A batch
// that paused itself at its max_cost resumes only with a higher o.MaxCost, or with
// o.Force (which lifts the cap).
func (s *Service) ResumeBatch(ctx context.Context, id string, o ActionOptions) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	if b.state != BatchPaused {
		return Batch{}, fmt.Errorf("%s batch cannot become %s: %w", b.state, BatchRunning, ErrBatchState)
	}
	if o.MaxCost != nil {
		v := *o.MaxCost
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Batch{}, fmt.Errorf("max_cost %v: want a number of at least 0: %w", v, catalog.ErrInvalid)
		}
		if !s.cfg.Costs.Priced() {
			return Batch{}, fmt.Errorf("max_cost needs prices, and %s: %w", unpricedNote, catalog.ErrInvalid)
		}
		if spent := s.cfg.Costs.of(b.gpuSeconds, b.cpuSeconds, b.bytes); v <= spent {
			return Batch{}, fmt.Errorf("max_cost %.2f is not above the %.2f %s spent: %w", v, spent, s.cfg.Costs.currency(), catalog.ErrInvalid)
		}
	}
	// A batch its new rows' trial paused answers to the trial gate, not to its max_cost.
	trialPaused := strings.HasPrefix(b.pausedReason, trialPausePrefix)
	switch {
	case trialPaused && !o.Force:
		if err := trialGate(b); err != nil {
			return Batch{}, err
		}
	case trialPaused:
	case o.Force:
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET max_cost = NULL WHERE id = ?`), id); err != nil {
			return Batch{}, dbError("lift max_cost", err)
		}
	case o.MaxCost != nil:
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET max_cost = ? WHERE id = ?`), *o.MaxCost, id); err != nil {
			return Batch{}, dbError("raise max_cost", err)
		}
	case b.pausedReason != "":
		return Batch{}, fmt.Errorf("the batch paused itself (%s): resume with a higher max_cost, or with force: %w", b.pausedReason, ErrBatchState)
	}
	if err := s.runPending(ctx, id, ""); err != nil {
		return Batch{}, err
	}
	return s.GetBatch(ctx, id)
}

// parkItem puts a queued item of a paused batch back to pending and completes its job, in
// one transaction that holds the batch row: a resume committed first is seen (the item is
// then run, not parked), and one committed after finds the item pending for its hand-off.
// It tells whether the item was parked.
func (s *Service) parkItem(ctx context.Context, job *river.Job[BatchItemArgs]) (bool, error) {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return false, dbError("begin", err)
	}
	defer tx.Rollback()
	lock := ""
	if s.db.Dialect == db.Postgres {
		lock = " FOR UPDATE"
	}
	var state string
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT state FROM batches WHERE id = ?`+lock), job.Args.BatchID).Scan(&state); err != nil {
		return false, dbError("lock batch", err)
	}
	if state != BatchPaused {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, updated_at = ? WHERE batch_id = ? AND row_number = ?
		AND state IN ('queued', 'running')`), ItemPending, time.Now().UTC().UnixNano(), job.Args.BatchID, job.Args.Row); err != nil {
		return false, dbError("park item", err)
	}
	if err := s.completeTx(ctx, tx, job); err != nil {
		return false, fmt.Errorf("complete parked item job: %w", err)
	}
	return true, dbError("commit parked item", tx.Commit())
}

// CancelBatch stops a batch: items not yet done are skipped as they come up, and a
// trial in progress stops.
func (s *Service) CancelBatch(ctx context.Context, id string) (Batch, error) {
	b, err := s.transition(ctx, id, BatchCancelled, BatchDraft, BatchTrialling, BatchReady, BatchRunning, BatchPaused)
	if err != nil {
		return b, err
	}
	// Items never handed to the queue are skipped at once.
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = 'batch cancelled', updated_at = ?
		WHERE batch_id = ? AND state = ?`), ItemSkipped, time.Now().UTC().UnixNano(), id, ItemPending); err != nil {
		return Batch{}, dbError("skip pending", err)
	}
	return s.GetBatch(ctx, id)
}

// RetryBatch queues the failed items again and runs the batch; o.Force as for StartBatch.
func (s *Service) RetryBatch(ctx context.Context, id string, o ActionOptions) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	if b.state == BatchCancelled || b.state == BatchDraft || b.state == BatchReady || b.state == BatchTrialling {
		return Batch{}, fmt.Errorf("retry a %s batch: %w", b.state, ErrBatchState)
	}
	if !o.Force {
		if err := trialGate(b); err != nil {
			return Batch{}, err
		}
	}
	if err := s.runPending(ctx, id, ItemFailed); err != nil {
		return Batch{}, err
	}
	return s.GetBatch(ctx, id)
}

func (s *Service) transition(ctx context.Context, id, to string, from ...string) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	ok := false
	for _, f := range from {
		ok = ok || b.state == f
	}
	if !ok {
		return Batch{}, fmt.Errorf("%s batch cannot become %s: %w", b.state, to, ErrBatchState)
	}
	if err := s.setBatchState(ctx, id, to); err != nil {
		return Batch{}, err
	}
	return s.GetBatch(ctx, id)
}

// maybeFinish marks a running batch done when no item is left to run.
func (s *Service) maybeFinish(ctx context.Context, id string) error {
	// An existence check, not a count: this runs after every item, so a count would
	// make a batch cost O(n²).
	var one int
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT 1 FROM batch_items WHERE batch_id = ? AND state IN ('pending', 'queued', 'running') LIMIT 1`), id).Scan(&one)
	if err == nil {
		return nil // items left to run
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dbError("items left", err)
	}
	now := time.Now().UTC().UnixNano()
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET state = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = ?`),
		BatchDone, now, now, id, BatchRunning); err != nil {
		return dbError("finish batch", err)
	}
	return nil
}

// itemOutcome is what processing one row made.
type itemOutcome struct {
	state      string
	image      catalog.Image
	renditions []catalog.Rendition
	variants   []int // the variant of each rendition (0 when the batch paints one)
	gpu, cpu   float64
	bytes      int64
	held       float64 // the cost reserved for the item under a max_cost
}

// verdict is the item's check summary for the results: "" when no output was checked,
// "pass", or "fail: name, name".
func (o itemOutcome) verdict() string {
	checked := false
	for _, r := range o.renditions {
		checked = checked || (r.Checks != nil && len(r.Checks.Results) > 0)
	}
	if !checked {
		return ""
	}
	failed := failedChecks(o.renditions)
	if len(failed) == 0 {
		return checks.Pass
	}
	var names []string
	for _, r := range failed {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return checks.Fail + ": " + strings.Join(names, ", ")
}

// review is the item's review state: the first held output's, else the first output's.
func (o itemOutcome) review() string {
	for _, r := range o.renditions {
		if r.Review == catalog.ReviewPending || r.Review == catalog.ReviewRejected {
			return r.Review
		}
	}
	if len(o.renditions) > 0 {
		return o.renditions[0].Review
	}
	return ""
}

type item struct {
	row               int
	url, imageID, sku string
	meta              map[string]string // the row's other columns; nil for none
}

// loadItem reads one batch item.
func (s *Service) loadItem(ctx context.Context, batchID string, row int) (item, error) {
	var (
		it   item
		meta string
	)
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT row_number, url, image_id, sku, meta FROM batch_items WHERE batch_id = ? AND row_number = ?`),
		batchID, row).Scan(&it.row, &it.url, &it.imageID, &it.sku, &meta)
	if err != nil {
		return it, dbError("get item", err)
	}
	if meta != "" {
		if err := json.Unmarshal([]byte(meta), &it.meta); err != nil {
			return it, fmt.Errorf("batch %s row %d meta: %w", batchID, row, err)
		}
	}
	return it, nil
}

// process runs the batch's recipe on one row: ingest (or look up) the source, check the
// filter against its quality report, render. GPU work waits in the batch lane.
func (s *Service) process(ctx context.Context, b batchRow, it item) (itemOutcome, error) {
	start := time.Now()
	var out itemOutcome
	var filter *pipeline.When
	if b.filter != "" {
		w, err := pipeline.ParseWhen([]byte(b.filter))
		if err != nil {
			return out, err
		}
		filter = w
	}
	recipe := catalog.RecipeRef{Inline: []byte(b.recipe)}
	opts := catalog.RenderOptions{Review: b.review, BatchID: b.id, Lane: sdclient.Batch}
	// A recipe with AI steps renders through RenderFor, which checks and holds outputs for
	// review; one without renders in the ingest itself (one decode), where neither applies.
	ai, err := recipeHasAI([]byte(b.recipe))
	if err != nil {
		return out, err
	}
	switch {
	case it.imageID != "":
		// The quality report (a full decode) is only needed to check a filter.
		get := s.cat.ImageByID
		if filter != nil {
			get = func(ctx context.Context, id string) (catalog.Image, error) {
				return s.cat.AnalyzedImage(ctx, id, sdclient.Batch)
			}
		}
		img, err := get(ctx, it.imageID)
		if err != nil {
			return out, err
		}
		out.image = img
	case filter == nil && !ai:
		// No filter: one decode renders straight from the fetched bytes.
		res, err := s.cat.Ingest(ctx, catalog.IngestRequest{URL: it.url, SKU: it.sku, Recipe: recipe, Lane: sdclient.Batch})
		if err != nil {
			return out, err
		}
		out.image, out.renditions = res.Image, res.Renditions
	default:
		res, err := s.cat.Ingest(ctx, catalog.IngestRequest{URL: it.url, SKU: it.sku, Lane: sdclient.Batch})
		if err != nil {
			return out, err
		}
		if out.image, err = s.cat.AnalyzedImage(ctx, res.Image.ID, sdclient.Batch); err != nil {
			return out, err
		}
	}
	if filter != nil {
		q := out.image.Quality
		if q == nil || !filter.Match(pipeline.Facts{Width: q.Width, Height: q.Height, Format: q.Format, HasAlpha: q.HasAlpha,
			Sharpness: q.Sharpness, JPEGQuality: q.JPEGQuality, PlainBackground: q.PlainBackground, Analyzed: true}) {
			out.state = ItemSkipped
			out.cpu = time.Since(start).Seconds()
			return out, nil
		}
	}
	// The manifest's columns become the image's metadata (a batch made from a selection
	// took its columns from there).
	if set := metaOfRow(it.meta); len(set) > 0 && b.selection == "" {
		if _, err := s.cat.SetImageMeta(ctx, out.image.ID, set); err != nil {
			return out, fmt.Errorf("keep the row's columns as the image's metadata: %w", err)
		}
	}
	if out.renditions == nil {
		plan, painted, err := b.plan()
		if err != nil {
			return out, err
		}
		if !painted {
			rends, err := s.cat.RenderFor(ctx, out.image.ID, recipe, opts)
			if err != nil {
				return out, err
			}
			out.renditions, out.variants = rends, make([]int, len(rends))
		} else {
			prompt, err := plan.fill(it.meta, it.sku)
			if err != nil {
				return out, err
			}
			for k := range plan.variants {
				vr, err := plan.variantRecipe([]byte(b.recipe), prompt, k)
				if err != nil {
					return out, err
				}
				rends, err := s.cat.RenderFor(ctx, out.image.ID, catalog.RecipeRef{Inline: vr}, opts)
				if err != nil {
					return out, err
				}
				out.renditions = append(out.renditions, rends...)
				for range rends {
					out.variants = append(out.variants, k)
				}
			}
		}
	}
	out.state = ItemSucceeded
	for i, r := range out.renditions {
		// Outputs of one run share its GPU time: count it once per variant.
		if i == 0 || (out.variants != nil && out.variants[i] != out.variants[i-1]) {
			out.gpu += r.GPUSeconds
		}
		if !r.Cached {
			out.bytes += r.Bytes
		}
	}
	out.cpu = math.Max(0, time.Since(start).Seconds()-out.gpu)
	return out, nil
}

type batchItemWorker struct {
	river.WorkerDefaults[BatchItemArgs]
	s *Service
}

func (w *batchItemWorker) Work(ctx context.Context, job *river.Job[BatchItemArgs]) error {
	s := w.s
	a := job.Args
	b, err := s.loadBatch(ctx, a.BatchID)
	if errors.Is(err, catalog.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	switch b.state {
	case BatchPaused:
		parked, err := s.parkItem(ctx, job)
		if err != nil || parked {
			return err
		}
		// Resumed meanwhile: run it.
	case BatchCancelled:
		return s.finishItem(ctx, job, ItemSkipped, itemOutcome{}, "batch cancelled")
	}
	var held float64
	if b.maxCost.Valid {
		ok, h, err := s.reserve(ctx, job)
		if err != nil || !ok {
			return err
		}
		held = h
	}
	it, err := s.loadItem(ctx, a.BatchID, a.Row)
	if err != nil {
		return err
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, attempts = ?, updated_at = ? WHERE batch_id = ? AND row_number = ?
		AND state IN ('queued', 'running')`), ItemRunning, job.Attempt, time.Now().UTC().UnixNano(), a.BatchID, a.Row); err != nil {
		return dbError("mark item running", err)
	}
	out, err := s.process(ctx, b, it)
	out.held = held
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if unavailable(err) {
			// The store, database or backends are down: wait without spending attempts,
			// however long the outage lasts.
			if _, uerr := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = ?, updated_at = ? WHERE batch_id = ? AND row_number = ?`),
				ItemQueued, err.Error(), time.Now().UTC().UnixNano(), a.BatchID, a.Row); uerr != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "record item outage", slog.String("batch_id", a.BatchID),
					slog.Int("row", a.Row), slog.String("error", uerr.Error()))
			}
			return river.JobSnooze(s.cfg.OutageRetry)
		}
		if !permanent(err) && job.Attempt < job.MaxAttempts {
			// Retried with River's backoff; the item waits queued with its last error.
			if _, uerr := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = ?, updated_at = ? WHERE batch_id = ? AND row_number = ?`),
				ItemQueued, err.Error(), time.Now().UTC().UnixNano(), a.BatchID, a.Row); uerr != nil {
				return errors.Join(err, dbError("record item error", uerr))
			}
			return err
		}
		return s.finishItem(ctx, job, ItemFailed, out, err.Error())
	}
	return s.finishItem(ctx, job, out.state, out, "")
}

// itemRendition is a rendition as an item's row keeps it, for the results.
type itemRendition struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	URL     string `json:"url"`
	Format  string `json:"format,omitempty"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Variant int    `json:"variant,omitempty"`
	// Checks are the rendition's measured checks, for the results' detail.
	Checks []itemCheck `json:"checks,omitempty"`
}

// itemCheck is one check result as an item keeps it.
type itemCheck struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Verdict   string  `json:"verdict"`
}

// finishItem records the item's result and completes its job in one transaction: a
// crash leaves either both or neither, so no item is lost or done twice.
func (s *Service) finishItem(ctx context.Context, job *river.Job[BatchItemArgs], state string, out itemOutcome, msg string) error {
	rends := make([]itemRendition, 0, len(out.renditions))
	for i, r := range out.renditions {
		ir := itemRendition{ID: r.ID, Name: r.Name, URL: r.URL, Format: r.Format, Width: r.Width, Height: r.Height, Bytes: r.Bytes}
		if i < len(out.variants) {
			ir.Variant = out.variants[i]
		}
		if r.Checks != nil {
			for _, c := range r.Checks.Results {
				ir.Checks = append(ir.Checks, itemCheck{Name: c.Name, Value: c.Value, Threshold: c.Threshold, Verdict: c.Verdict})
			}
		}
		rends = append(rends, ir)
	}
	rj, _ := json.Marshal(rends)
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return dbError("begin", err)
	}
	defer tx.Rollback()
	// The item's cost reservation (max_cost) is cleared here: its real spend replaces it
	// on the batch row below, in the same transaction.
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, result_image = ?, renditions = ?, error = ?,
		gpu_seconds = ?, cpu_seconds = ?, bytes = ?, review = ?, checks = ?, cost_reserved = 0, updated_at = ? WHERE batch_id = ? AND row_number = ?`),
		state, out.image.ID, string(rj), msg, out.gpu, out.cpu, out.bytes, out.review(), out.verdict(), time.Now().UTC().UnixNano(),
		job.Args.BatchID, job.Args.Row); err != nil {
		return dbError("record item", err)
	}
	if err := s.completeTx(ctx, tx, job); err != nil {
		return fmt.Errorf("complete item job: %w", err)
	}
	// Last, so that concurrent items wait for the batch row's lock as briefly as can be.
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET gpu_seconds = gpu_seconds + ?, cpu_seconds = cpu_seconds + ?,
		bytes = bytes + ?, items_spent = items_spent + 1, cost_reserved = cost_reserved - ? WHERE id = ?`),
		out.gpu, out.cpu, out.bytes, out.held, job.Args.BatchID); err != nil {
		return dbError("add item spend", err)
	}
	if err := tx.Commit(); err != nil {
		return dbError("commit item", err)
	}
	return s.maybeFinish(ctx, job.Args.BatchID)
}

// WriteResults streams a batch's items, in row order, as CSV, JSONL or XLSX: the input
// columns, each output's URL and size, the checks, the review state and the item's cost.
func (s *Service) WriteResults(ctx context.Context, id string, w io.Writer, f manifest.Format) error {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return err
	}
	o := manifest.WriterOptions{Sheet: "results"}
	if b.columns != "" {
		if err := json.Unmarshal([]byte(b.columns), &o.MetaColumns); err != nil {
			return fmt.Errorf("batch %s columns: %w", id, err)
		}
	}
	plan, _, err := b.plan()
	if err != nil {
		return err
	}
	if o.Outputs, err = outputNames([]byte(b.recipe), plan.variants); err != nil {
		return err
	}
	c := s.cfg.Costs
	if c.Priced() {
		o.Currency = c.currency()
	}
	mw, err := manifest.NewResultsWriter(w, f, o)
	if err != nil {
		return err
	}
	last := 0
	for {
		rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT row_number, url, image_id, sku, meta, state, renditions, error, review, checks,
			gpu_seconds, cpu_seconds, bytes
			FROM batch_items WHERE batch_id = ? AND row_number > ? ORDER BY row_number LIMIT 1000`), id, last)
		if err != nil {
			return dbError("results", err)
		}
		n := 0
		for rows.Next() {
			var (
				r                    manifest.Result
				url, img, meta, rend string
				bytes                int64
			)
			if err := rows.Scan(&r.Row, &url, &img, &r.SKU, &meta, &r.State, &rend, &r.Error, &r.Review, &r.Checks,
				&r.GPUSeconds, &r.CPUSeconds, &bytes); err != nil {
				rows.Close()
				return dbError("results", err)
			}
			r.Source = url
			if r.Source == "" {
				r.Source = img
			}
			if r.State == ItemPending {
				r.State = ItemQueued
			}
			if meta != "" {
				if err := json.Unmarshal([]byte(meta), &r.Meta); err != nil {
					rows.Close()
					return fmt.Errorf("results row %d meta: %w", r.Row, err)
				}
			}
			var rs []itemRendition
			if rend != "" {
				if err := json.Unmarshal([]byte(rend), &rs); err != nil {
					rows.Close()
					return fmt.Errorf("results row %d renditions: %w", r.Row, err)
				}
			}
			for _, x := range rs {
				name := variantName(x.Name, x.Variant, plan.variants)
				r.RenditionURLs = append(r.RenditionURLs, x.URL)
				r.Outputs = append(r.Outputs, manifest.Output{Name: name, URL: x.URL, Format: x.Format, Width: x.Width, Height: x.Height, Bytes: x.Bytes})
				for _, ck := range x.Checks {
					cn := ck.Name
					if len(o.Outputs) > 1 {
						cn = name + "/" + cn
					}
					r.CheckDetail = append(r.CheckDetail, manifest.CheckCell{Name: cn, Verdict: ck.Verdict, Value: ck.Value, Threshold: ck.Threshold})
				}
			}
			if c.Priced() && r.State != ItemQueued && r.State != ItemRunning {
				v := roundCents(c.of(r.GPUSeconds, r.CPUSeconds, bytes))
				r.Cost = &v
			}
			if err := mw.Write(r); err != nil {
				rows.Close()
				return err
			}
			last = r.Row
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("results", err) // a truncated export is never a success
		}
		if n < 1000 {
			break
		}
	}
	return mw.Close()
}

// outputNames are the recipe's outputs in order, each once per variant when the batch
// paints several ("scene v1", "scene v2").
func outputNames(canonical []byte, variants int) ([]string, error) {
	var r struct {
		Outputs []struct {
			Name string `json:"name"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(canonical, &r); err != nil {
		return nil, fmt.Errorf("batch recipe outputs: %w", err)
	}
	var out []string
	for k := range max(1, variants) {
		for _, o := range r.Outputs {
			out = append(out, variantName(o.Name, k, variants))
		}
	}
	return out, nil
}

// variantName names variant k's output when a batch paints several.
func variantName(name string, k, variants int) string {
	if variants <= 1 {
		return name
	}
	return fmt.Sprintf("%s v%d", name, k+1)
}

// unavailable tells errors that mean a dependency is down rather than that the item is bad.
func unavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, catalog.ErrUnavailable) || errors.Is(err, sdclient.ErrUnavailable)
}
