package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/pictor/pictor/db"
)

// A process that works jobs records itself in job_workers under its River client id (the
// id River writes into each job's attempted_by) and beats there every cfg.Heartbeat, on
// the database's clock. Every working process, leader or not, then looks for running jobs
// whose last attempt belongs to a dead process and runs them again at once: a crash costs
// seconds, not River's RescueStuckJobsAfter. A process is dead when its heartbeat is older
// than cfg.DeadAfter; on SQLite, where every process is on the one host, it also holds a
// lock file beside the database for its life, and the lock tells at once whether it is
// alive, so a restarted service takes its dead predecessor's jobs back before its first
// fetch. A live process keeps beating however long its jobs run, so a long GPU job is
// never run twice; a rescue applies only to the attempt that was seen (its number and
// the client that took it), so two processes rescuing at once run a job again once.
// Jobs attempted by a client with no row (a process from before this table) are left to
// River's rescuer, which stays the fallback at cfg.RescueAfter.

// dbNow is the database's clock in Unix nanoseconds, as SQL: heartbeats are written and
// compared on one clock, whatever the hosts' clocks say.
func (s *Service) dbNow() string {
	if s.db.Dialect == db.Postgres {
		return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000 AS BIGINT)"
	}
	return "CAST(unixepoch('subsec') * 1000000000 AS INTEGER)"
}

// newClientID names this process for River and job_workers: host, pid and a random tail,
// in characters that are safe in a file name.
func newClientID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "host"
	}
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// register records this process as alive before River fetches anything; on SQLite it
// first takes its lock file.
func (s *Service) register(ctx context.Context) error {
	if s.db.Dialect == db.SQLite {
		var file string
		if err := s.db.SQL.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
			return dbError("database file", err)
		}
		if file != "" && lockFiles { // an in-memory database has no file: heartbeats alone
			dir := file + "-workers"
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("worker lock dir: %w", err)
			}
			f, err := os.OpenFile(filepath.Join(dir, s.clientID+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				return fmt.Errorf("worker lock: %w", err)
			}
			if err := tryLock(f); err != nil {
				f.Close()
				return fmt.Errorf("worker lock %s: %w", f.Name(), err)
			}
			s.lockDir, s.lockFile = dir, f
		}
	}
	return s.heartbeat(ctx)
}

func (s *Service) lockPath(clientID string) string {
	return filepath.Join(s.lockDir, clientID+".lock")
}

// heartbeat records, on the database's clock, that this process is alive. A process
// whose row has gone was taken as dead by another (it could not beat for DeadAfter): the
// jobs it runs may be running elsewhere too, which it logs as an error, and it records
// itself again.
func (s *Service) heartbeat(ctx context.Context) error {
	now := s.dbNow()
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE job_workers SET heartbeat_at = `+now+` WHERE client_id = ?`), s.clientID)
	if err != nil {
		return dbError("heartbeat", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	if s.registered {
		s.log.Error("this process was taken as dead: it could not record a heartbeat for longer than the dead-after delay, and the jobs it is running may be running in another process too",
			"client_id", s.clientID, "dead_after", s.cfg.DeadAfter)
	}
	host, _ := os.Hostname()
	_, err = s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO job_workers (client_id, host, pid, started_at, heartbeat_at)
		VALUES (?, ?, ?, `+now+`, `+now+`) ON CONFLICT (client_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`),
		s.clientID, host, os.Getpid())
	if err == nil {
		s.registered = true
	}
	return dbError("heartbeat", err)
}

// unregister removes this process's row and lock once River has stopped with no job
// left running.
func (s *Service) unregister(ctx context.Context) {
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM job_workers WHERE client_id = ?`), s.clientID); err != nil {
		s.log.Warn("remove worker heartbeat", "err", err)
	}
	s.registered = false
	if s.lockFile != nil {
		os.Remove(s.lockFile.Name())
		s.lockFile.Close()
		s.lockFile = nil
	}
}

// liveness beats and looks for dead processes' jobs every cfg.Heartbeat until ctx ends.
func (s *Service) liveness(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hctx, cancel := context.WithTimeout(ctx, s.cfg.DeadAfter)
		if err := s.heartbeat(hctx); err != nil && ctx.Err() == nil {
			s.log.Warn("worker heartbeat failed", "client_id", s.clientID, "err", err)
		}
		cancel()
		rctx, cancel := context.WithTimeout(ctx, s.cfg.DeadAfter)
		if _, err := s.rescueOrphans(rctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rescue the jobs of dead workers", "err", err)
		}
		cancel()
	}
}

// deadWorker is a process found dead: why, and the heartbeat its row had when found.
type deadWorker struct {
	why       string
	heartbeat int64
}

// deadWorkers returns the other processes that are dead, by client id.
func (s *Service) deadWorkers(ctx context.Context) (map[string]deadWorker, error) {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT client_id, heartbeat_at, `+s.dbNow()+` FROM job_workers WHERE client_id <> ?`), s.clientID)
	if err != nil {
		return nil, dbError("list workers", err)
	}
	defer rows.Close()
	dead := map[string]deadWorker{}
	for rows.Next() {
		var (
			id      string
			hb, now int64
		)
		if err := rows.Scan(&id, &hb, &now); err != nil {
			return nil, dbError("list workers", err)
		}
		silent := time.Duration(now - hb)
		w := deadWorker{why: fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second)), heartbeat: hb}
		isDead := silent > s.cfg.DeadAfter
		if held, known := s.lockHeld(id); known {
			isDead = !held
			w.why = "its process has exited"
		}
		if isDead {
			dead[id] = w
		}
	}
	return dead, dbError("list workers", rows.Err())
}

// lockHeld tells whether the SQLite-mode process id still holds its lock file; known is
// false when there is no lock to ask (PostgreSQL, or no file), and heartbeats decide.
func (s *Service) lockHeld(id string) (held, known bool) {
	if s.lockDir == "" || strings.ContainsAny(id, `/\`) || id == "" || id[0] == '.' {
		return false, false
	}
	f, err := os.OpenFile(s.lockPath(id), os.O_RDWR, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("read a worker lock", "client_id", id, "err", err)
		}
		return false, false
	}
	defer f.Close() // releases the lock if this took it
	switch err := tryLock(f); {
	case err == nil:
		return false, true
	case errors.Is(err, errLockHeld):
		return true, true
	default:
		s.log.Warn("try a worker lock", "client_id", id, "err", err)
		return false, false
	}
}

// rescueBatch is how many running jobs one listing reads.
const rescueBatch = 500

// rescueOrphans makes the running jobs of dead processes run again at once, and returns
// how many it rescued; then it forgets the dead processes.
func (s *Service) rescueOrphans(ctx context.Context) (int, error) {
	dead, err := s.deadWorkers(ctx)
	if err != nil || len(dead) == 0 {
		return 0, err
	}
	n := 0
	params := river.NewJobListParams().States(rivertype.JobStateRunning).First(rescueBatch)
	for {
		res, err := s.client.JobList(ctx, params)
		if err != nil {
			return n, fmt.Errorf("list running jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if len(j.AttemptedBy) == 0 || j.AttemptedAt == nil {
				continue
			}
			by := j.AttemptedBy[len(j.AttemptedBy)-1]
			w, ok := dead[by]
			if !ok {
				continue
			}
			ok, err := s.rescue(ctx, j, by, w.why)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if len(res.Jobs) < rescueBatch {
			break
		}
		params = params.After(res.LastCursor)
	}
	// Every job the dead held is rescued: forget them, unless one beat again meanwhile.
	for id, w := range dead {
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM job_workers WHERE client_id = ? AND heartbeat_at = ?`), id, w.heartbeat); err != nil {
			return n, dbError("forget dead worker", err)
		}
		if held, known := s.lockHeld(id); known && !held {
			os.Remove(s.lockPath(id))
		}
	}
	return n, nil
}

// rescue sets one running job of a dead process back to available, where it keeps its
// place in the queue; as River's rescuer does, a job out of attempts is discarded (a job
// that kills its process does not go round for ever) and one whose cancel was asked for
// is cancelled. A batch item so discarded is recorded failed in the same transaction.
// The update applies only to the attempt that was seen, so two processes rescuing at
// once run it again once. It tells whether it changed the job.
func (s *Service) rescue(ctx context.Context, j *rivertype.JobRow, by, why string) (bool, error) {
	now := time.Now().UTC()
	state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
	var md struct {
		CancelAttemptedAt time.Time `json:"cancel_attempted_at"`
	}
	if len(j.Metadata) > 0 {
		if err := json.Unmarshal(j.Metadata, &md); err != nil {
			return false, fmt.Errorf("job %d metadata: %w", j.ID, err)
		}
	}
	switch {
	case !md.CancelAttemptedAt.IsZero():
		state, finalized = rivertype.JobStateCancelled, &now
	case j.Attempt >= j.MaxAttempts:
		state, finalized = rivertype.JobStateDiscarded, &now
	}
	msg := fmt.Sprintf("the process running it (%s) died: %s", by, why)
	e, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: j.Attempt, Error: msg})
	if err != nil {
		return false, err
	}
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return false, dbError("begin", err)
	}
	defer tx.Rollback()
	// The attempt seen is still the job's: the same number, taken by the same client (a
	// rescue by another process and a new fetch would change both), and the row stays
	// held until commit: PostgreSQL locks it, SQLite's write transaction (BEGIN
	// IMMEDIATE) holds the whole file.
	q := `SELECT attempt, coalesce(json_extract(attempted_by, '$[#-1]'), '') FROM river_job WHERE id = ? AND state = 'running'`
	if s.db.Dialect == db.Postgres {
		q = `SELECT attempt, coalesce(attempted_by[cardinality(attempted_by)], '') FROM river_job WHERE id = ? AND state = 'running' FOR UPDATE`
	}
	var (
		attempt int
		lastBy  string
	)
	err = tx.QueryRowContext(ctx, s.db.Rebind(q), j.ID).Scan(&attempt, &lastBy)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, dbError("lock job", err)
	}
	if attempt != j.Attempt || lastBy != by {
		return false, nil
	}
	if _, err := s.driver.UnwrapExecutor(tx).JobRescueMany(ctx, &riverdriver.JobRescueManyParams{
		ID: []int64{j.ID}, Error: [][]byte{e}, FinalizedAt: []*time.Time{finalized}, ScheduledAt: []time.Time{j.ScheduledAt},
		State: []string{string(state)}, StuckHorizon: j.AttemptedAt.Add(time.Hour),
	}); err != nil {
		return false, fmt.Errorf("rescue job %d: %w", j.ID, err)
	}
	if state == rivertype.JobStateDiscarded && j.Kind == (BatchItemArgs{}).Kind() {
		var a BatchItemArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			return false, fmt.Errorf("job %d args: %w", j.ID, err)
		}
		if err := s.failAbandonedItem(ctx, tx, a, fmt.Sprintf("%s (attempt %d of %d)", msg, j.Attempt, j.MaxAttempts)); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, dbError("commit rescue", err)
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "job of a dead worker rescued", slog.Int64("job_id", j.ID), slog.String("kind", j.Kind),
		slog.String("client_id", by), slog.String("why", why), slog.String("now", string(state)), slog.Int("attempt", j.Attempt))
	if state == rivertype.JobStateDiscarded && j.Kind == (BatchItemArgs{}).Kind() {
		var a BatchItemArgs
		if json.Unmarshal(j.EncodedArgs, &a) == nil {
			if err := s.maybeFinish(ctx, a.BatchID); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// failAbandonedItem records a batch item whose job ran out of attempts in dead processes
// as failed, with its spend reservation given back, inside tx.
func (s *Service) failAbandonedItem(ctx context.Context, tx *sql.Tx, a BatchItemArgs, msg string) error {
	var held float64
	err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT cost_reserved FROM batch_items WHERE batch_id = ? AND row_number = ?
		AND state IN ('queued', 'running')`), a.BatchID, a.Row).Scan(&held)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return dbError("abandoned item", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, error = ?, cost_reserved = 0, updated_at = ?
		WHERE batch_id = ? AND row_number = ?`), ItemFailed, msg, time.Now().UTC().UnixNano(), a.BatchID, a.Row); err != nil {
		return dbError("fail abandoned item", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET items_spent = items_spent + 1, cost_reserved = cost_reserved - ? WHERE id = ?`),
		held, a.BatchID); err != nil {
		return dbError("abandoned item spend", err)
	}
	return nil
}
