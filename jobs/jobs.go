// Package jobs runs Pictor's durable work on River: async renders and scenes on the
// interactive queue, batch items on the batch queue, upkeep on maintenance. The same
// workers run on SQLite (the embedded default) and PostgreSQL.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
)

// Queue names. Interactive work is always ahead of batch work.
const (
	QueueInteractive = "interactive"
	QueueBatch       = "batch"
	QueueMaintenance = "maintenance"
)

// ErrNotFound is returned for a job id that does not exist; it is a catalog.ErrNotFound.
var ErrNotFound = fmt.Errorf("job %w", catalog.ErrNotFound)

// Config sizes the queues. River fetches at most MaxWorkers jobs per poll, so the counts
// sit well above the core count; CPU is bounded by the imaging gate instead.
type Config struct {
	// InteractiveWorkers is the interactive queue's concurrency; default 16.
	InteractiveWorkers int
	// BatchWorkers is the batch queue's concurrency; default 32.
	BatchWorkers int
	// MaintenanceWorkers is the maintenance queue's concurrency; default 2.
	MaintenanceWorkers int
	// PollInterval is how often River looks for new jobs when it cannot be notified
	// (always on SQLite); default 100ms.
	PollInterval time.Duration
	// Work runs workers in this process; false makes an insert-only client; default true.
	Work bool
	// CPUWorkers and GPUBackends are what the cost estimate's wall time assumes; default
	// 1 and 0.
	CPUWorkers, GPUBackends int
	// Costs are the unit prices (and currency) of the cost estimate and of each batch's
	// spend; default all 0: costs are not shown, and the estimate says why.
	Costs Costs
	// JobTimeout bounds one attempt of a render or batch item (scenes have an hour);
	// default 2m.
	JobTimeout time.Duration
	// OutageRetry is how soon a batch item tries again while the store, database or
	// backends are unreachable (a snooze, not a spent attempt); default 5s.
	OutageRetry time.Duration
	// RescueAfter is how long a job may stay running before it is taken as orphaned by a
	// crashed process and run again; it must exceed JobTimeout. Scenes get 9/10 of it.
	// Default 5m. It is the fallback: a process that dies is found by its heartbeat
	// first (Heartbeat, DeadAfter).
	RescueAfter time.Duration
	// Heartbeat is how often a working process records that it is alive and looks for
	// running jobs of processes that died; default 5s.
	Heartbeat time.Duration
	// DeadAfter is how long a process may miss heartbeats before it is taken as dead and
	// the jobs it was running run again at once; it must be at least twice Heartbeat. On
	// SQLite a process's lock file tells sooner (at once) when it has exited. Default 15s.
	DeadAfter time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{InteractiveWorkers: 16, BatchWorkers: 32, MaintenanceWorkers: 2, PollInterval: 100 * time.Millisecond, Work: true, CPUWorkers: 1,
		JobTimeout: 2 * time.Minute, RescueAfter: 5 * time.Minute, OutageRetry: 5 * time.Second,
		Heartbeat: 5 * time.Second, DeadAfter: 15 * time.Second}
}

// Validate reports settings the queues cannot run with.
func (c Config) Validate() error {
	if c.Work && (c.InteractiveWorkers < 1 || c.BatchWorkers < 1 || c.MaintenanceWorkers < 1) {
		return errors.New("jobs: every queue needs at least one worker")
	}
	if c.PollInterval <= 0 {
		return errors.New("jobs: poll interval must be positive")
	}
	if c.JobTimeout <= 0 || c.RescueAfter <= c.JobTimeout {
		return errors.New("jobs: job timeout must be positive and the rescue delay longer than it")
	}
	if c.Work && (c.Heartbeat <= 0 || c.DeadAfter < 2*c.Heartbeat) {
		return errors.New("jobs: the heartbeat must be positive and the dead-after delay at least twice it")
	}
	return nil
}

// Deps are what the workers need.
type Deps struct {
	DB         *db.DB
	Catalog    *catalog.Service
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service owns the River client.
type Service struct {
	cfg    Config
	db     *db.DB
	cat    *catalog.Service
	log    *slog.Logger
	driver riverdriver.Driver[*sql.Tx]
	client *river.Client[*sql.Tx]

	// clientID names this process in job_workers and in jobs' attempted_by (Work only).
	clientID string
	// lockDir and lockFile: on SQLite, this process's lock file while it works.
	lockDir  string
	lockFile *os.File
	// registered is set once this process's job_workers row is written.
	registered bool
	// stopLiveness ends the heartbeat loop; liveDone closes when it has.
	stopLiveness context.CancelFunc
	liveDone     chan struct{}
}

// New builds the River client for the database's dialect and registers the workers.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Catalog == nil {
		return nil, errors.New("jobs: DB and Catalog are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, db: d.DB, cat: d.Catalog, log: d.Logger}
	switch d.DB.Dialect {
	case db.Postgres:
		s.driver = riverdatabasesql.NewWithPgxListener(d.DB.SQL, d.DB.Pool)
	default:
		s.driver = riversqlite.New(d.DB.SQL)
	}
	rc := &river.Config{
		Logger:               d.Logger.With("component", "river"),
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        cfg.PollInterval / 4,
		MaxAttempts:          5,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
	}
	if d.DB.Dialect == db.SQLite {
		rc.PollOnly = true
	}
	if cfg.Work {
		s.clientID = newClientID()
		rc.ID = s.clientID
		workers := river.NewWorkers()
		river.AddWorker(workers, &renderWorker{cat: d.Catalog})
		river.AddWorker(workers, &sceneWorker{cat: d.Catalog, cancelPoll: 200 * time.Millisecond, timeout: cfg.RescueAfter * 9 / 10})
		river.AddWorker(workers, &batchItemWorker{s: s})
		river.AddWorker(workers, &batchEnqueueWorker{s: s})
		river.AddWorker(workers, &batchTrialWorker{s: s, cancelPoll: 200 * time.Millisecond})
		river.AddWorker(workers, &scheduleWorker{s: s})
		rc.PeriodicJobs = []*river.PeriodicJob{periodicSchedules()}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{
			QueueInteractive: {MaxWorkers: cfg.InteractiveWorkers},
			QueueBatch:       {MaxWorkers: cfg.BatchWorkers},
			QueueMaintenance: {MaxWorkers: cfg.MaintenanceWorkers},
		}
	}
	client, err := river.NewClient(s.driver, rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	s.client = client
	return s, nil
}

// Migrate brings River's own tables and the batch tables up to date.
func (s *Service) Migrate(ctx context.Context) error {
	if err := s.db.Migrate(ctx, "jobs", migrations); err != nil {
		return fmt.Errorf("jobs migrations: %w", err)
	}
	m, err := rivermigrate.New(s.driver, nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// Start runs the workers until Stop. Before the first fetch it records this process as
// alive and runs again the jobs that dead processes were running (see liveness.go).
func (s *Service) Start(ctx context.Context) error {
	if !s.cfg.Work {
		return nil
	}
	if err := s.register(ctx); err != nil {
		s.unregister(context.WithoutCancel(ctx))
		return fmt.Errorf("register worker: %w", err)
	}
	if n, err := s.rescueOrphans(ctx); err != nil {
		s.log.Warn("rescue the jobs of dead workers", "err", err)
	} else if n > 0 {
		s.log.Info("jobs of dead workers run again", "jobs", n)
	}
	if err := s.client.Start(ctx); err != nil {
		s.unregister(context.WithoutCancel(ctx))
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	s.stopLiveness, s.liveDone = cancel, make(chan struct{})
	go s.liveness(lctx, s.liveDone)
	return nil
}

// Stop lets running jobs finish (up to ctx) and stops fetching. When none is left running
// the process's heartbeat row goes. Otherwise (ctx ended first) it keeps beating for the
// jobs still running, so no other process runs them again while this one lives; once it
// has exited, others take them over (DeadAfter).
func (s *Service) Stop(ctx context.Context) error {
	if !s.cfg.Work {
		return nil
	}
	if err := s.client.Stop(ctx); err != nil {
		return err
	}
	if s.stopLiveness == nil {
		return nil
	}
	s.stopLiveness()
	<-s.liveDone // its round ends at once: the cancel reaches its queries
	s.stopLiveness = nil
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.unregister(uctx)
	return nil
}

// Job is a job's state as the API shows it.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Errors      []string        `json:"errors,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
}

// Finished reports whether the job will not run again.
func (j Job) Finished() bool {
	switch rivertype.JobState(j.State) {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	}
	return false
}

// Get returns a job by id.
func (s *Service) Get(ctx context.Context, id int64) (Job, error) {
	row, err := s.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("get job %d: %w", id, err)
	}
	return view(row), nil
}

// Wait polls a job until it finishes or ctx ends, and returns its last state.
func (s *Service) Wait(ctx context.Context, id int64) (Job, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		j, err := s.Get(ctx, id)
		if err != nil || j.Finished() {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, nil
		case <-tick.C:
		}
	}
}

func view(r *rivertype.JobRow) Job {
	j := Job{
		ID: r.ID, Kind: r.Kind, Queue: r.Queue, State: string(r.State), Attempt: r.Attempt,
		MaxAttempts: r.MaxAttempts, CreatedAt: r.CreatedAt, FinishedAt: r.FinalizedAt,
	}
	for _, e := range r.Errors {
		j.Errors = append(j.Errors, e.Error)
	}
	if len(r.Metadata) > 0 {
		var md map[string]json.RawMessage
		if json.Unmarshal(r.Metadata, &md) == nil {
			j.Output = md[rivertype.MetadataKeyOutput]
		}
	}
	return j
}

// completeTx marks a job completed inside tx, with the driver type of the dialect.
func (s *Service) completeTx(ctx context.Context, tx *sql.Tx, job *river.Job[BatchItemArgs]) error {
	var err error
	switch s.driver.(type) {
	case *riversqlite.Driver:
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	case *riverdatabasesql.Driver:
		_, err = river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
	default:
		err = fmt.Errorf("jobs: no transactional completion for driver %T", s.driver)
	}
	return err
}
