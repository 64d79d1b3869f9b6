package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/manifest"
)

// cronParser reads standard five-field cron expressions ("0 3 * * *"), and @daily etc.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule checks a cron expression.
func parseSchedule(expr string) (cron.Schedule, error) {
	sch, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %s: %w", expr, err, catalog.ErrInvalid)
	}
	return sch, nil
}

// ScheduleTickArgs is the periodic job that re-reads scheduled batches' manifests.
type ScheduleTickArgs struct{}

// Kind never changes: it is stored on every job row.
func (ScheduleTickArgs) Kind() string { return "batch_schedule_tick" }

// InsertOpts puts the tick on the maintenance queue, once at a time.
func (ScheduleTickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleTickArgs]
	s *Service
}

func (w *scheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleTickArgs]) error {
	now := time.Now()
	return errors.Join(w.s.RunSchedules(ctx, now), w.s.RunDelayedStarts(ctx, now))
}

// periodicSchedules is the River periodic job that ticks every minute.
func periodicSchedules() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return ScheduleTickArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// Refreshing a scheduled batch backs off after failures: the n-th failure in a row waits
// refreshBackoff·2^(n-1), at most refreshBackoffMax, and never less than the schedule.
const (
	refreshBackoff    = time.Minute
	refreshBackoffMax = time.Hour
)

// refreshDelay is the wait after the n-th failed refresh in a row.
func refreshDelay(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := refreshBackoff
	for i := 1; i < n && d < refreshBackoffMax; i++ {
		d *= 2
	}
	return min(d, refreshBackoffMax)
}

// errRefreshStore marks a refresh that failed on Pictor's side (recording the new rows)
// rather than the manifest's; its detail goes to the log, not onto the batch.
var errRefreshStore = errors.New("the new rows could not be recorded (see the service log)")

// maxRefreshError bounds the failure message kept on the batch.
const maxRefreshError = 500

// refreshMessage is what a failed refresh shows on the batch: the manifest's own faults
// (its URL refused or failing, the file too large, malformed or over a limit) as they are,
// since they name only what the batch's owner gave; anything else (the spool file, the
// database) as a pointer to the service log, which has the detail.
func refreshMessage(err error) string {
	if errors.Is(err, errRefreshStore) {
		return errRefreshStore.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the manifest took too long to re-read"
	}
	shown := false
	for _, e := range []error{fetch.ErrBadURL, fetch.ErrBlocked, fetch.ErrTooLarge, fetch.ErrTooManyRedirects, fetch.ErrTimeout,
		fetch.ErrUpstream, manifest.ErrInvalidManifest, manifest.ErrUnsupportedFormat, manifest.ErrLimitExceeded, catalog.ErrInvalid} {
		shown = shown || errors.Is(err, e)
	}
	if !shown {
		return "the manifest could not be re-read (see the service log)"
	}
	msg := err.Error()
	if len(msg) > maxRefreshError {
		msg = strings.ToValidUTF8(msg[:maxRefreshError], "") + "…"
	}
	return msg
}

// RunSchedules re-reads the manifest of every scheduled batch that is due at now and has
// been started (running, paused or done; drafts, trials and ready batches are never
// re-read): rows not seen before become new items, queued at once unless the batch is
// paused. A failed re-read is kept on the batch (Batch.Refresh) and the next waits
// longer, 1 minute doubling up to an hour, but never less than the schedule.
func (s *Service) RunSchedules(ctx context.Context, now time.Time) error {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT id, schedule, manifest_url, refresh_failures FROM batches
		WHERE schedule <> '' AND state IN ('running', 'paused', 'done') AND next_run <= ?`), now.UnixNano())
	if err != nil {
		return dbError("due schedules", err)
	}
	type due struct {
		id, schedule, url string
		failures          int
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.schedule, &d.url, &d.failures); err != nil {
			rows.Close()
			return dbError("due schedules", err)
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError("due schedules", err)
	}
	for _, d := range list {
		next := now.Add(refreshDelay(d.failures + 1))
		sch, err := parseSchedule(d.schedule)
		if err == nil {
			err = s.refresh(ctx, d.id, d.url)
			if n := sch.Next(now); err == nil || n.After(next) {
				next = n
			}
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err() // stopping: not the manifest's failure
		}
		if err != nil {
			// A re-read that used up the tick's time is the manifest's failure too: it is
			// recorded (outside ctx) so that it backs off, and the rest wait for the next tick.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			s.log.Warn("scheduled batch refresh failed", "batch", d.id, "failures", d.failures+1, "next_run", next, "err", err)
			_, uerr := s.db.SQL.ExecContext(rctx, s.db.Rebind(`UPDATE batches SET next_run = ?, refresh_failures = refresh_failures + 1,
				refresh_error = ?, refresh_failed_at = ? WHERE id = ?`), next.UnixNano(), refreshMessage(err), now.UTC().UnixNano(), d.id)
			cancel()
			if uerr != nil {
				return dbError("record refresh failure", uerr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET next_run = ?, refreshed_at = ?, refresh_failures = 0,
			refresh_error = '' WHERE id = ?`), next.UnixNano(), now.UTC().UnixNano(), d.id); err != nil {
			return dbError("next run", err)
		}
	}
	return nil
}

// refresh adds the manifest's new rows to a batch and queues them if it was started. New
// rows are numbered after the batch's last item: a row is known by its content (source and
// SKU), not by where it sits in the file, and only rows not seen before become items.
func (s *Service) refresh(ctx context.Context, id, manifestURL string) error {
	m, err := s.openManifest(ctx, manifestSource{url: manifestURL})
	if err != nil {
		return err
	}
	defer m.close()
	var last int
	if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT coalesce(max(row_number), 0) FROM batch_items WHERE batch_id = ?`), id).Scan(&last); err != nil {
		return fmt.Errorf("%w: %w", errRefreshStore, dbError("last row", err))
	}
	w := &itemWriter{s: s, batch: id, renumber: true, last: last}
	if err := w.readManifest(ctx, m); err != nil {
		if w.failed != nil {
			return fmt.Errorf("%w: %w", errRefreshStore, err)
		}
		return err
	}
	if err := s.addColumns(ctx, id, w.cols.list()); err != nil {
		return fmt.Errorf("%w: %w", errRefreshStore, err)
	}
	if err := s.queueRefreshed(ctx, id, w.added, last+1); err != nil {
		return fmt.Errorf("%w: %w", errRefreshStore, err)
	}
	return nil
}

// queueRefreshed recounts a refreshed batch and queues its new rows if it runs. When the
// recipe has AI steps the new rows (numbered from first) are trialled first, like the
// batch's first rows were: the trial queues them when it passes and pauses the batch,
// saying why, when it does not.
func (s *Service) queueRefreshed(ctx context.Context, id string, added, first int) error {
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET total = (SELECT count(*) FROM batch_items WHERE batch_id = ?), updated_at = ? WHERE id = ?`),
		id, time.Now().UTC().UnixNano(), id); err != nil {
		return dbError("recount", err)
	}
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return err
	}
	if added > 0 && b.minAccuracy > 0 {
		ai, err := recipeHasAI([]byte(b.recipe))
		if err != nil {
			return err
		}
		if ai && (b.state == BatchRunning || b.state == BatchDone || b.state == BatchPaused) {
			_, err := s.startTrial(ctx, id, defaultTrialSample, first, b.state)
			return err
		}
	}
	if b.state == BatchRunning || b.state == BatchDone {
		var pending int
		if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT count(*) FROM batch_items WHERE batch_id = ? AND state = ?`), id, ItemPending).Scan(&pending); err != nil {
			return dbError("count pending", err)
		}
		if pending == 0 {
			return nil
		}
		return s.runPending(ctx, id, "")
	}
	return nil
}

// addColumns adds to a batch's columns those a re-read manifest has that it did not know
// (a re-export with a new column), so the results show them too.
func (s *Service) addColumns(ctx context.Context, id string, cols []string) error {
	if len(cols) == 0 {
		return nil
	}
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return err
	}
	var known []string
	if b.columns != "" {
		if err := json.Unmarshal([]byte(b.columns), &known); err != nil {
			return fmt.Errorf("batch %s columns: %w", id, err)
		}
	}
	merged := known
	for _, c := range cols {
		if !slices.Contains(merged, c) && len(merged) < maxColumns {
			merged = append(merged, c)
		}
	}
	if len(merged) == len(known) {
		return nil
	}
	j, _ := json.Marshal(merged)
	_, err = s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET columns = ? WHERE id = ?`), string(j), id)
	return dbError("add columns", err)
}
