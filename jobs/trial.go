package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/db"
)

// Estimate is what the whole batch should cost, from its trial run. Without prices the
// cost fields are left out and Note says so.
type Estimate struct {
	Items       int     `json:"items"`
	PassRate    float64 `json:"pass_rate"`
	GPUSeconds  float64 `json:"gpu_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	Bytes       int64   `json:"bytes"`
	WallSeconds float64 `json:"wall_seconds"`
	// Priced is false when no price is configured; Cost and CostPerItem are then nil.
	Priced bool `json:"priced"`
	// Currency is the currency of Cost and CostPerItem.
	Currency string `json:"currency,omitempty"`
	// CostPerItem is the mean cost of a sample that ran.
	CostPerItem *float64 `json:"cost_per_item,omitempty"`
	// Cost is the whole batch's expected cost.
	Cost *float64 `json:"cost,omitempty"`
	// Note explains a missing cost.
	Note     string `json:"note,omitempty"`
	Workers  int    `json:"workers"`
	Backends int    `json:"backends"`
}

// Trial is a sample run, and its report: accuracy, failures per check, the failing samples.
type Trial struct {
	// Progress counts the samples run so far out of those chosen.
	Progress TrialProgress `json:"progress"`
	// Samples are the rows run so far, in the order run.
	Samples []TrialSample `json:"samples"`
	// Accuracy is the share of judged samples (those not skipped by the filter) whose
	// every output passed every check; a sample with no checks passes, one that errored
	// fails. 1 when no sample was judged. Set when the trial is done.
	Accuracy float64 `json:"accuracy"`
	// Judged is how many samples Accuracy is over.
	Judged int `json:"judged"`
	// Failures counts the failing samples per check name ("error" for samples that errored).
	Failures map[string]int `json:"failures"`
	// Failing are the failing samples, with before/after and their failing checks.
	Failing []TrialSample `json:"failing"`
	// Done is true once every sample ran and the report is filled.
	Done bool `json:"done"`
	// StartedAt and FinishedAt time the trial.
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// FromRow is set on the trial of a scheduled batch's new rows: the first new item's
	// row; the samples come from there on.
	FromRow int `json:"from_row,omitempty"`
	// PromptErrors counts the rows whose prompt template could not be filled (a column
	// missing or empty): they fail without running. PromptErrorSample shows up to 100.
	PromptErrors      int      `json:"prompt_errors,omitempty"`
	PromptErrorSample []BadRow `json:"prompt_error_sample,omitempty"`
}

// TrialProgress is how far a trial is.
type TrialProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// Sample verdicts.
const (
	VerdictPass    = "pass"    // every output passed every check (or had none)
	VerdictFail    = "fail"    // an output failed a check
	VerdictError   = "error"   // the sample could not be processed
	VerdictSkipped = "skipped" // the filter left it out: not judged
)

// TrialSample is one row of a trial run.
type TrialSample struct {
	Row    int    `json:"row"`
	Source string `json:"source"`
	// Passed is true when the row passed the batch's filter and was rendered.
	Passed     bool    `json:"passed"`
	BeforeURL  string  `json:"before_url,omitempty"`
	AfterURL   string  `json:"after_url,omitempty"`
	GPUSeconds float64 `json:"gpu_seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Bytes      int64   `json:"bytes"`
	Error      string  `json:"error,omitempty"`
	// Checks is the first output's check report; nil for outputs of no AI step.
	Checks *checks.Report `json:"checks,omitempty"`
	// Review is the first output's review state ("" when not held for review).
	Review string `json:"review,omitempty"`
	// FailedChecks are the failing check results of every output.
	FailedChecks []checks.Result `json:"failed_checks,omitempty"`
	// Verdict is VerdictPass, VerdictFail, VerdictError or VerdictSkipped.
	Verdict string `json:"verdict"`
}

// trialState is the trial as stored: the report so far, the rows chosen and the token
// of the job running it (a stale job finds another token and stops).
type trialState struct {
	Trial
	Rows  []int  `json:"rows"`
	Token string `json:"token"`
	// Resume is the state a started batch goes back to after a trial of its new rows
	// ("" for a first trial, which makes the batch ready).
	Resume string `json:"resume,omitempty"`
	// PromptsChecked is set once every row's prompt was filled (or failed).
	PromptsChecked bool `json:"prompts_checked,omitempty"`
}

// judge sets a sample's verdict from its error, filter outcome and failing checks.
func (ts *TrialSample) judge() {
	switch {
	case ts.Error != "":
		ts.Verdict = VerdictError
	case !ts.Passed:
		ts.Verdict = VerdictSkipped
	case len(ts.FailedChecks) > 0:
		ts.Verdict = VerdictFail
	default:
		ts.Verdict = VerdictPass
	}
}

// score fills the report from the samples: accuracy, failures per check (a sample counts
// once per check it failed, on any output) and the failing samples.
func (t *Trial) score() {
	t.Failures = map[string]int{}
	t.Failing = []TrialSample{}
	t.Judged = 0
	pass := 0
	for i := range t.Samples {
		s := &t.Samples[i]
		s.judge()
		switch s.Verdict {
		case VerdictSkipped:
			continue
		case VerdictPass:
			pass++
		case VerdictError:
			t.Failures[VerdictError]++
			t.Failing = append(t.Failing, *s)
		case VerdictFail:
			seen := map[string]bool{}
			for _, r := range s.FailedChecks {
				if !seen[r.Name] {
					seen[r.Name] = true
					t.Failures[r.Name]++
				}
			}
			t.Failing = append(t.Failing, *s)
		}
		t.Judged++
	}
	t.Accuracy = 1
	if t.Judged > 0 {
		t.Accuracy = math.Round(float64(pass)/float64(t.Judged)*1e4) / 1e4
	}
}

// failedChecks lists the failing results of every rendition's check report. A report that
// did not pass yet names no failing result counts as one failing "checks" result.
func failedChecks(rends []catalog.Rendition) []checks.Result {
	var out []checks.Result
	for _, r := range rends {
		if r.Checks == nil || r.Checks.Passed || len(r.Checks.Results) == 0 {
			continue
		}
		n := len(out)
		for _, res := range r.Checks.Results {
			if res.Verdict != checks.Pass {
				if len(rends) > 1 {
					res.Detail = joinDetail("output "+r.Name, res.Detail)
				}
				out = append(out, res)
			}
		}
		if len(out) == n {
			out = append(out, checks.Result{Name: "checks", Verdict: checks.Fail, Detail: "output " + r.Name + " did not pass"})
		}
	}
	return out
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// BatchTrialArgs runs a batch's trial: its chosen rows one at a time, the report and
// estimate stored on the batch row as it goes.
type BatchTrialArgs struct {
	BatchID string `json:"batch_id"`
	// Token names the trial: a job whose token is no longer the batch's stops.
	Token string `json:"token"`
}

// Kind never changes: it is stored on every job row.
func (BatchTrialArgs) Kind() string { return "batch_trial" }

// InsertOpts puts trials on the interactive queue: someone waits for the report, a trial
// is short (at most 200 rows), and on the maintenance queue (two workers) two trials of
// AI recipes would hold back every batch's hand-off and the schedule tick. Its renders
// still wait in the batch lane, so scenes keep the GPUs first.
func (BatchTrialArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueInteractive, MaxAttempts: 10}
}

// maxTrialSample bounds a trial's rows; defaultTrialSample is used when none is asked.
const (
	maxTrialSample     = 200
	defaultTrialSample = 20
)

// TrialBatch chooses a random sample of rows and starts the job that runs them (state
// trialling); the job stores the report and estimate and makes the batch ready. sample
// is 1..200, default (0) 20.
func (s *Service) TrialBatch(ctx context.Context, id string, sample int) (Batch, error) {
	if sample == 0 {
		sample = defaultTrialSample
	}
	if sample < 1 || sample > maxTrialSample {
		return Batch{}, fmt.Errorf("sample must be 1..%d: %w", maxTrialSample, catalog.ErrInvalid)
	}
	return s.startTrial(ctx, id, sample, 0, "")
}

// startTrial samples rows numbered fromRow or more and queues the trial job, in one
// transaction. With resume set it is the trial of a started batch's new rows, and the
// batch must be in that state (it returns to it, or pauses, when the trial ends).
func (s *Service) startTrial(ctx context.Context, id string, sample, fromRow int, resume string) (Batch, error) {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return Batch{}, dbError("begin", err)
	}
	defer tx.Rollback()
	lock := ""
	if s.db.Dialect == db.Postgres {
		lock = " FOR UPDATE"
	}
	var state string
	err = tx.QueryRowContext(ctx, s.db.Rebind(`SELECT state FROM batches WHERE id = ?`+lock), id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return Batch{}, fmt.Errorf("batch %s: %w", id, catalog.ErrNotFound)
	}
	if err != nil {
		return Batch{}, dbError("lock batch", err)
	}
	if resume == "" && state != BatchDraft && state != BatchReady || resume != "" && state != resume {
		return Batch{}, fmt.Errorf("trial of a %s batch: %w", state, ErrBatchState)
	}
	rows, err := tx.QueryContext(ctx, s.db.Rebind(`SELECT row_number FROM batch_items WHERE batch_id = ? AND row_number >= ?
		ORDER BY random() LIMIT ?`), id, fromRow, sample)
	if err != nil {
		return Batch{}, dbError("sample items", err)
	}
	var chosen []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return Batch{}, dbError("sample items", err)
		}
		chosen = append(chosen, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Batch{}, dbError("sample items", err)
	}
	slices.Sort(chosen)
	var tok [8]byte
	rand.Read(tok[:])
	st := trialState{Trial: Trial{Progress: TrialProgress{Total: len(chosen)}, Samples: []TrialSample{}, StartedAt: time.Now().UTC(), FromRow: fromRow},
		Rows: chosen, Token: hex.EncodeToString(tok[:]), Resume: resume}
	tj, _ := json.Marshal(st)
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET state = ?, trial = ?, estimate = '', error = '', updated_at = ? WHERE id = ?`),
		BatchTrialling, string(tj), time.Now().UTC().UnixNano(), id); err != nil {
		return Batch{}, dbError("start trial", err)
	}
	if _, err := s.client.InsertTx(ctx, tx, BatchTrialArgs{BatchID: id, Token: st.Token}, nil); err != nil {
		return Batch{}, fmt.Errorf("queue the trial of batch %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Batch{}, dbError("commit trial", err)
	}
	return s.GetBatch(ctx, id)
}

// errTrialStopped ends a trial whose batch was cancelled or given a new trial.
var errTrialStopped = errors.New("trial stopped")

type batchTrialWorker struct {
	river.WorkerDefaults[BatchTrialArgs]
	s *Service
	// cancelPoll is how often a running trial looks whether its batch was cancelled.
	cancelPoll time.Duration
}

// Timeout bounds one attempt; the worker snoozes to go on before it ends (runTrial), so
// an attempt never runs into the rescue of orphaned jobs.
func (w *batchTrialWorker) Timeout(*river.Job[BatchTrialArgs]) time.Duration {
	return w.s.cfg.RescueAfter * 9 / 10
}

func (w *batchTrialWorker) Work(ctx context.Context, job *river.Job[BatchTrialArgs]) error {
	err := w.s.runTrial(ctx, job.Args, time.Now().Add(w.Timeout(job)), w.cancelPoll)
	if errors.Is(err, catalog.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil && job.Attempt >= job.MaxAttempts && ctx.Err() == nil {
		// The last attempt: the batch leaves trialling, as a draft that says why.
		w.s.failTrial(context.WithoutCancel(ctx), job.Args, err)
	}
	return err
}

// failTrial puts a batch whose trial job gave up back to draft, with the error.
func (s *Service) failTrial(ctx context.Context, a BatchTrialArgs, cause error) {
	// A started batch whose new rows were being trialled pauses instead, saying why.
	to, reason := BatchDraft, ""
	if b, err := s.loadBatch(ctx, a.BatchID); err == nil {
		var st trialState
		if json.Unmarshal([]byte(b.trial), &st) == nil && st.Resume != "" {
			to, reason = BatchPaused, trialPausePrefix+" new rows failed: "+cause.Error()
		}
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET state = ?, error = ?, paused_reason = ?, updated_at = ? WHERE id = ? AND state = ?`),
		to, "trial failed: "+cause.Error(), reason, time.Now().UTC().UnixNano(), a.BatchID, BatchTrialling); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "record trial failure", slog.String("batch_id", a.BatchID),
			slog.String("cause", cause.Error()), slog.String("error", err.Error()))
	}
}

// runTrial runs the trial's rows not yet run, one at a time, storing the report after
// each (so a retry after a crash resumes where it stopped and counts nothing twice),
// then scores it, estimates the batch and makes it ready. It stops quietly when the
// batch is cancelled, and snoozes to go on when deadline is nearer than one item's time.
func (s *Service) runTrial(ctx context.Context, a BatchTrialArgs, deadline time.Time, cancelPoll time.Duration) error {
	b, err := s.loadBatch(ctx, a.BatchID)
	if err != nil {
		return err
	}
	var st trialState
	if b.state != BatchTrialling || json.Unmarshal([]byte(b.trial), &st) != nil || st.Token != a.Token {
		return nil // cancelled, or a newer trial owns the batch
	}
	if !st.PromptsChecked {
		if b.promptTemplate != "" {
			n, sample, err := s.checkPrompts(ctx, b, st.FromRow)
			if err != nil {
				return err
			}
			st.PromptErrors, st.PromptErrorSample = n, sample
		}
		st.PromptsChecked = true
		if ok, err := s.saveTrial(ctx, a, st, nil, ""); err != nil || !ok {
			return err
		}
	}
	wctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.watchTrial(wctx, stop, a, cancelPoll)
	for ran := 0; len(st.Samples) < len(st.Rows); ran++ {
		// Each attempt runs at least one sample, so a short deadline still progresses.
		if ran > 0 && time.Until(deadline) < s.cfg.JobTimeout {
			return river.JobSnooze(time.Millisecond)
		}
		row := st.Rows[len(st.Samples)]
		ts, err := s.trialSample(wctx, b, row)
		if errors.Is(context.Cause(wctx), errTrialStopped) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if unavailable(err) {
				return river.JobSnooze(s.cfg.OutageRetry) // not the sample's fault: run it again later
			}
			return err
		}
		st.Samples = append(st.Samples, ts)
		st.Progress.Done = len(st.Samples)
		ok, err := s.saveTrial(ctx, a, st, nil, "")
		if err != nil || !ok {
			return err
		}
	}
	st.score()
	st.Done = true
	now := time.Now().UTC()
	st.FinishedAt = &now
	est := s.estimate(b, st.Trial)
	if st.Resume == "" {
		_, err = s.saveTrial(ctx, a, st, &est, BatchReady)
		return err
	}
	// The trial of a started batch's new rows: back to where it was and on with them, or
	// paused, saying why, below min_accuracy.
	if st.Accuracy < b.minAccuracy {
		reason := fmt.Sprintf(trialPausePrefix+" rows added from row %d scored %.1f%%, below min_accuracy %.1f%%: look at its failing samples, then resume with force or cancel",
			st.FromRow, st.Accuracy*100, b.minAccuracy*100)
		_, err = s.saveTrial(ctx, a, st, &est, BatchPaused, reason)
		return err
	}
	ok, err := s.saveTrial(ctx, a, st, &est, st.Resume)
	if err != nil || !ok || st.Resume == BatchPaused {
		return err
	}
	return s.runPending(ctx, a.BatchID, "")
}

// trialPausePrefix starts the paused_reason of a batch its new rows' trial paused.
const trialPausePrefix = "the trial of the"

// checkPrompts fills the prompt of every pending row numbered from fromRow, and fails the
// rows it cannot fill (a column missing or empty) with the reason, before anything runs.
// It returns how many failed and a sample of them.
func (s *Service) checkPrompts(ctx context.Context, b batchRow, fromRow int) (int, []BadRow, error) {
	plan, _, err := b.plan()
	if err != nil {
		return 0, nil, err
	}
	var (
		failed int
		sample []BadRow
		last   = fromRow - 1
	)
	for {
		rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT row_number, sku, meta FROM batch_items
			WHERE batch_id = ? AND row_number > ? AND state = ? ORDER BY row_number LIMIT 1000`), b.id, last, ItemPending)
		if err != nil {
			return 0, nil, dbError("check prompts", err)
		}
		var bad []BadRow
		n := 0
		for rows.Next() {
			var (
				row       int
				sku, meta string
			)
			if err := rows.Scan(&row, &sku, &meta); err != nil {
				rows.Close()
				return 0, nil, dbError("check prompts", err)
			}
			n++
			last = row
			var m map[string]string
			if meta != "" {
				if err := json.Unmarshal([]byte(meta), &m); err != nil {
					rows.Close()
					return 0, nil, fmt.Errorf("row %d meta: %w", row, err)
				}
			}
			if _, err := plan.fill(m, sku); err != nil {
				bad = append(bad, BadRow{Row: row, Message: err.Error()})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, nil, dbError("check prompts", err)
		}
		for _, r := range bad {
			if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = ?, updated_at = ?
				WHERE batch_id = ? AND row_number = ? AND state = ?`), ItemFailed, r.Message, time.Now().UTC().UnixNano(), b.id, r.Row, ItemPending); err != nil {
				return 0, nil, dbError("fail row", err)
			}
			failed++
			if len(sample) < maxBadRowSample {
				sample = append(sample, r)
			}
		}
		if n < 1000 {
			return failed, sample, nil
		}
	}
}

// watchTrial cancels the trial's context with errTrialStopped once its batch is no longer
// trialling under this trial's token (cancelled), so a render in flight is interrupted.
func (s *Service) watchTrial(ctx context.Context, stop context.CancelCauseFunc, a BatchTrialArgs, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var state, trial string
		err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT state, trial FROM batches WHERE id = ?`), a.BatchID).Scan(&state, &trial)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (state != BatchTrialling || !tokenIs(trial, a.Token))) {
			stop(errTrialStopped)
			return
		}
	}
}

func tokenIs(trial, token string) bool {
	var st struct {
		Token string `json:"token"`
	}
	return json.Unmarshal([]byte(trial), &st) == nil && st.Token == token
}

// saveTrial stores the trial (and, when est is set, the estimate and the state to) on the
// batch row if the batch is still trialling under this trial; it reports whether it was.
func (s *Service) saveTrial(ctx context.Context, a BatchTrialArgs, st trialState, est *Estimate, to string, pausedReason ...string) (bool, error) {
	tj, _ := json.Marshal(st)
	q, args := `UPDATE batches SET trial = ?, updated_at = ?`, []any{string(tj), time.Now().UTC().UnixNano()}
	if est != nil {
		ej, _ := json.Marshal(est)
		q += `, estimate = ?, state = ?`
		args = append(args, string(ej), to)
	}
	if len(pausedReason) > 0 {
		q += `, paused_reason = ?`
		args = append(args, pausedReason[0])
	}
	// The token (random hex) is matched in the stored JSON: another trial's never matches.
	q += ` WHERE id = ? AND state = ? AND trial LIKE ?`
	args = append(args, a.BatchID, BatchTrialling, `%"token":"`+a.Token+`"%`)
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return false, dbError("save trial", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbError("save trial", err)
}

// trialSample runs one chosen row. A row that fails is a sample with an error; only
// errors of the database or of the job's context are returned.
func (s *Service) trialSample(ctx context.Context, b batchRow, row int) (TrialSample, error) {
	it, err := s.loadItem(ctx, b.id, row)
	if err != nil {
		return TrialSample{}, err
	}
	ts := TrialSample{Row: it.row, Source: it.url}
	if ts.Source == "" {
		ts.Source = it.imageID
	}
	ictx, cancel := context.WithTimeout(ctx, s.cfg.JobTimeout)
	out, err := s.process(ictx, b, it)
	cancel()
	if out.image.ID != "" {
		ts.BeforeURL = s.cat.ImageContentURL(out.image.ID)
	}
	if err != nil {
		if ctx.Err() != nil || unavailable(err) {
			return ts, err
		}
		ts.Error = err.Error()
		ts.judge()
		return ts, nil
	}
	if out.state == ItemSucceeded {
		ts.Passed = true
		if len(out.renditions) > 0 {
			ts.AfterURL = out.renditions[0].URL
			ts.Checks = out.renditions[0].Checks
			ts.Review = out.renditions[0].Review
		}
		// A repeated trial renders from the cache: count what the first made.
		for _, r := range out.renditions {
			ts.Bytes += r.Bytes
		}
		ts.GPUSeconds, ts.CPUSeconds = out.gpu, out.cpu
		ts.FailedChecks = failedChecks(out.renditions)
	}
	ts.judge()
	return ts, nil
}

// estimate projects the trial's spend onto the whole batch, priced when prices are set.
func (s *Service) estimate(b batchRow, t Trial) Estimate {
	est := Estimate{Workers: s.cfg.CPUWorkers, Backends: s.cfg.GPUBackends}
	var (
		passed, processed int
		gpu, cpu          float64
		bytes             int64
	)
	for _, ts := range t.Samples {
		if ts.Error != "" {
			continue
		}
		processed++
		if ts.Passed {
			passed++
			gpu += ts.GPUSeconds
			cpu += ts.CPUSeconds
			bytes += ts.Bytes
		}
	}
	if processed > 0 {
		est.PassRate = float64(passed) / float64(processed)
	}
	est.Items = int(math.Round(est.PassRate * float64(b.total)))
	c := s.cfg.Costs
	est.Priced = c.Priced()
	if !est.Priced {
		est.Note = unpricedNote
	} else {
		est.Currency = c.currency()
	}
	if passed == 0 {
		if est.Priced {
			zero := 0.0
			est.Cost = &zero // nothing passes the filter: nothing to pay, and that is known
		}
		return est
	}
	n := float64(est.Items)
	est.GPUSeconds = gpu / float64(passed) * n
	est.CPUSeconds = cpu / float64(passed) * n
	est.Bytes = int64(float64(bytes) / float64(passed) * n)
	wallCPU := est.CPUSeconds / float64(max(1, est.Workers))
	wallGPU := 0.0
	if est.GPUSeconds > 0 {
		wallGPU = est.GPUSeconds / float64(max(1, est.Backends))
	}
	est.WallSeconds = math.Round(math.Max(wallCPU, wallGPU))
	if est.Priced {
		per := roundCents(c.of(gpu, cpu, bytes) / float64(passed))
		total := math.Round(c.of(est.GPUSeconds, est.CPUSeconds, est.Bytes)*100) / 100
		est.CostPerItem, est.Cost = &per, &total
	}
	return est
}
