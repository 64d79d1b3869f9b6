package jobs

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/pictor/pictor/catalog"
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
	return w.s.RunSchedules(ctx, time.Now())
}

// periodicSchedules is the River periodic job that ticks every minute.
func periodicSchedules() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return ScheduleTickArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// RunSchedules re-reads the manifest of every scheduled batch that is due at now: rows
// not seen before become new items, queued at once when the batch has been started.
func (s *Service) RunSchedules(ctx context.Context, now time.Time) error {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT id, schedule, manifest_url FROM batches
		WHERE schedule <> '' AND state NOT IN ('cancelled') AND next_run <= ?`), now.UnixNano())
	if err != nil {
		return dbError("due schedules", err)
	}
	type due struct{ id, schedule, url string }
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.schedule, &d.url); err != nil {
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
		sch, err := parseSchedule(d.schedule)
		if err != nil {
			continue
		}
		if err := s.refresh(ctx, d.id, d.url); err != nil {
			s.log.Warn("scheduled batch refresh failed", "batch", d.id, "err", err)
		}
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET next_run = ? WHERE id = ?`), sch.Next(now).UnixNano(), d.id); err != nil {
			return dbError("next run", err)
		}
	}
	return nil
}

// refresh adds the manifest's new rows to a batch and queues them if it was started.
func (s *Service) refresh(ctx context.Context, id, manifestURL string) error {
	mf, err := s.cat.FetchManifest(ctx, manifestURL)
	if err != nil {
		return err
	}
	defer mf.Close()
	head, err := mf.Head()
	if err != nil {
		return err
	}
	name := ""
	if u, err := url.Parse(manifestURL); err == nil {
		name = path.Base(u.Path)
	}
	f, err := manifest.Detect(name, mf.ContentType, head)
	if err != nil {
		return err
	}
	var chunk []manifest.Row
	_, _, err = manifest.Read(ctx, mf.File, f, manifest.DefaultLimits(), func(r manifest.Row) error {
		chunk = append(chunk, r)
		if len(chunk) == 500 {
			err := s.insertItems(ctx, id, chunk)
			chunk = chunk[:0]
			return err
		}
		return nil
	}, nil)
	if err == nil && len(chunk) > 0 {
		err = s.insertItems(ctx, id, chunk)
	}
	if err != nil {
		return err
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET total = (SELECT count(*) FROM batch_items WHERE batch_id = ?), updated_at = ? WHERE id = ?`),
		id, time.Now().UTC().UnixNano(), id); err != nil {
		return dbError("recount", err)
	}
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return err
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
