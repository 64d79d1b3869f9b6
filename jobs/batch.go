package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/manifest"
	"github.com/pictor/pictor/pipeline"

	"github.com/pictor/pictor/fault"
)

// Batch states.
const (
	BatchDraft     = "draft"     // items read, nothing run
	BatchTrialling = "trialling" // a trial job is running its sample
	BatchReady     = "ready"     // trial done, estimate known
	BatchRunning   = "running"   // items queued or running
	BatchPaused    = "paused"    // items wait
	BatchCancelled = "cancelled" // items left are skipped
	BatchDone      = "done"      // every item finished
)

// Item states.
const (
	ItemPending   = "pending" // not queued yet
	ItemQueued    = "queued"
	ItemRunning   = "running"
	ItemSucceeded = "succeeded"
	ItemFailed    = "failed"
	ItemSkipped   = "skipped" // did not pass the filter, or the batch was cancelled
)

// ErrBatchState is returned for an action the batch's state does not allow.
var ErrBatchState = fault.New(fault.Conflict, "batch-state", "Not allowed in the batch's state", "not allowed in the batch's state")

// Costs are the unit prices of the cost estimate and of a batch's spend.
type Costs struct {
	// GPUSecond is the price of one GPU-second; default 0.
	GPUSecond float64
	// CPUSecond is the price of one CPU-second; default 0.
	CPUSecond float64
	// GBMonth is the price of storing one GB for a month; default 0.
	GBMonth float64
	// Currency names the prices' currency (an ISO 4217 code such as "EUR"); default "",
	// which reads as "USD" once any price is set.
	Currency string
}

// DefaultMinAccuracy is a batch's min_accuracy when its request names none.
const DefaultMinAccuracy = 0.95

// BatchRequest creates a batch: a manifest (a file received, or a URL) or a selection, a
// recipe and an optional filter.
type BatchRequest struct {
	Name   string
	Recipe catalog.RecipeRef
	Filter []byte // a pipeline `when` condition over the quality report; empty for none
	// Manifest is a manifest received whole (an upload spooled to a file), read from its
	// current position; nil to fetch ManifestURL. ManifestName and ManifestType are its
	// file name and Content-Type as sent: with its first bytes they decide its format
	// (manifest.Detect). Format, when set, names the format instead; default "", detected.
	Manifest     io.Reader
	ManifestName string
	ManifestType string
	Format       manifest.Format
	// ManifestURL is fetched through the SSRF-safe fetcher (within catalog.MaxManifestBytes)
	// and read when Manifest is nil; Schedule, a cron expression, re-reads it when due and
	// runs its new rows.
	Schedule    string
	ManifestURL string
	// SpoolFetched, when set, is given the size of the manifest fetched from ManifestURL
	// before it is read; its error refuses the batch. The API counts fetched manifests
	// against its spool's disk budget with it. Default nil: no check.
	SpoolFetched func(size int64) error
	// MinAccuracy is the trial accuracy (0..1) below which start refuses without force;
	// nil means DefaultMinAccuracy.
	MinAccuracy *float64
	// MaxCost caps the batch's spend in the configured currency: it pauses itself before
	// an item would pass it. Nil (the default) means no cap; it needs prices configured.
	MaxCost *float64
	// Review is the review policy of its renders: catalog.ReviewNone, ReviewFailed or
	// ReviewAll; default "" means failed for recipes with AI steps and none otherwise.
	Review string
	// Selection makes the items from the stored images it matches instead of a manifest
	// (Manifest nil): one item per image, with the image's metadata as its columns.
	Selection *catalog.Selection
	// FromScene makes the recipe from an approved scene (its prompt, seed and settings);
	// Recipe is then empty.
	FromScene string
	// PromptTemplate replaces the prompt of the recipe's replace_background for each row,
	// its {variables} filled from the row's columns (a column of the variable's name, or
	// the one PromptVars maps it to; {sku} is the SKU). A row missing one fails.
	PromptTemplate string
	PromptVars     map[string]string
	// Variants is how many backgrounds each item gets, 1..8 (default 1), the seed one
	// higher for each; it needs a recipe with replace_background by prompt.
	Variants int
	// StartAt starts the batch at that time; a recipe with AI steps is trialled first
	// (at once) and starts only if the trial passes, unless StartForce.
	StartAt    *time.Time
	StartForce bool
}

// Batch is a batch as the API shows it.
type Batch struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	BadRows    int            `json:"bad_rows"`
	BadRowList []BadRow       `json:"bad_row_sample,omitempty"`
	Counts     map[string]int `json:"counts"`
	Rate       float64        `json:"rate_per_second"`
	ETASeconds float64        `json:"eta_seconds"`
	GPUSeconds float64        `json:"gpu_seconds"`
	CPUSeconds float64        `json:"cpu_seconds"`
	Bytes      int64          `json:"bytes"`
	// Spent is what the finished items cost in Currency; nil when no prices are configured.
	Spent *float64 `json:"spent,omitempty"`
	// Currency is the currency of Spent, MaxCost and the estimate's costs.
	Currency string `json:"currency,omitempty"`
	// MinAccuracy is the trial accuracy start asks for (default 0.95).
	MinAccuracy float64 `json:"min_accuracy"`
	// MaxCost is the spend cap in Currency; nil for none.
	MaxCost *float64 `json:"max_cost,omitempty"`
	// Review is the review policy of the batch's renders: none, failed or all.
	Review string `json:"review"`
	// PausedReason says why the batch paused itself (its max_cost); empty for a pause
	// asked for.
	PausedReason string          `json:"paused_reason,omitempty"`
	Estimate     *Estimate       `json:"estimate,omitempty"`
	Trial        *Trial          `json:"trial,omitempty"`
	Recipe       json.RawMessage `json:"recipe"`
	Filter       json.RawMessage `json:"filter,omitempty"`
	Schedule     string          `json:"schedule,omitempty"`
	ManifestURL  string          `json:"manifest_url,omitempty"`
	NextRun      *time.Time      `json:"next_run,omitempty"`
	Error        string          `json:"error,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	StartedAt    *time.Time      `json:"started_at,omitempty"`
	FinishedAt   *time.Time      `json:"finished_at,omitempty"`
	// Refresh is how the scheduled re-reads of ManifestURL went; nil without a schedule.
	Refresh *Refresh `json:"refresh,omitempty"`
	// DuplicateRows counts manifest rows left out because an earlier row had the same
	// source and SKU.
	DuplicateRows int `json:"duplicate_rows"`
	// Columns are the manifest's other columns, in its order: each item keeps them, the
	// results show them, and they become the image's metadata (but ColumnsNotKept).
	Columns        []string `json:"columns,omitempty"`
	ColumnsNotKept []string `json:"columns_not_kept,omitempty"`
	// Selection is the query over stored images the items came from; nil for a manifest.
	Selection json.RawMessage `json:"selection,omitempty"`
	// FromScene is the approved scene whose prompt, seed and settings the recipe has.
	FromScene string `json:"from_scene,omitempty"`
	// PromptTemplate and PromptVars fill each row's prompt; Variants is the backgrounds per item.
	PromptTemplate string            `json:"prompt_template,omitempty"`
	PromptVars     map[string]string `json:"prompt_vars,omitempty"`
	Variants       int               `json:"variants"`
	// StartAt is a delayed start not yet made; StartForce makes it past the trial gate.
	StartAt    *time.Time `json:"start_at,omitempty"`
	StartForce bool       `json:"start_force,omitempty"`
}

// Refresh is the state of a scheduled batch's manifest re-reads. Only started batches
// (running, paused, done) are re-read; after a failure the next try waits longer
// (NextRun), 1 minute doubling up to an hour, and never sooner than the schedule.
type Refresh struct {
	// LastSuccess is when the manifest was last re-read whole; nil before the first.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Failures counts the failed re-reads since the last success; 0 when all is well.
	Failures int `json:"failures"`
	// LastError says why the last re-read failed; empty once one succeeds.
	LastError string `json:"last_error,omitempty"`
	// LastFailure is when the last re-read failed; nil if none has.
	LastFailure *time.Time `json:"last_failure,omitempty"`
}

// BadRow is a manifest row that could not become an item.
type BadRow struct {
	Row     int    `json:"row"`
	Message string `json:"message"`
}

const maxBadRowSample = 100

// CreateBatch reads the manifest as a stream (the file given, or fetched from its URL; its
// format detected) or pages through the selection, inserting items in chunks (intake.go),
// and records the batch as a draft. Bad rows are counted and a sample of
// them kept, with row numbers; a row whose source and SKU an earlier row had is counted as
// a duplicate and not made an item.
func (s *Service) CreateBatch(ctx context.Context, req BatchRequest) (Batch, error) {
	if strings.TrimSpace(req.Name) == "" {
		req.Name = "batch " + time.Now().UTC().Format(time.DateTime)
	}
	if len(req.Name) > 200 {
		return Batch{}, fmt.Errorf("name longer than 200 bytes: %w", catalog.ErrInvalid)
	}
	switch {
	case req.Selection != nil && (req.Manifest != nil || req.ManifestURL != ""):
		return Batch{}, fmt.Errorf("give a manifest or a selection, not both: %w", catalog.ErrInvalid)
	case req.Selection == nil && req.Manifest == nil && req.ManifestURL == "":
		return Batch{}, fmt.Errorf("a manifest or a selection is required: %w", catalog.ErrInvalid)
	case req.Selection != nil && req.Schedule != "":
		return Batch{}, fmt.Errorf("a schedule re-reads a manifest_url; a batch made from a selection has none: %w", catalog.ErrInvalid)
	}
	var selection string
	if req.Selection != nil {
		if err := req.Selection.Validate(); err != nil {
			return Batch{}, err
		}
		b, _ := json.Marshal(req.Selection)
		selection = string(b)
	}
	if req.FromScene != "" {
		if !req.Recipe.IsZero() {
			return Batch{}, fmt.Errorf("give a recipe or from_scene, not both: %w", catalog.ErrInvalid)
		}
		sc, err := s.cat.GetScene(ctx, req.FromScene)
		if err != nil {
			return Batch{}, err
		}
		if sc.ApprovedVariant == nil {
			return Batch{}, fmt.Errorf("scene %s has no approved variant: approve one first: %w", sc.ID, catalog.ErrInvalid)
		}
		req.Recipe = catalog.RecipeRef{Inline: sc.VariantRecipe(*sc.ApprovedVariant)}
		if req.Review == "" {
			req.Review = sc.Review
		}
	}
	if req.Recipe.IsZero() {
		return Batch{}, fmt.Errorf("a recipe is required: %w", catalog.ErrInvalid)
	}
	_, canonical, err := s.cat.RecipeNeedsSD(ctx, req.Recipe)
	if err != nil {
		return Batch{}, err
	}
	ai, err := recipeHasAI(canonical)
	if err != nil {
		return Batch{}, err
	}
	minAcc := DefaultMinAccuracy
	if req.MinAccuracy != nil {
		minAcc = *req.MinAccuracy
		if math.IsNaN(minAcc) || minAcc < 0 || minAcc > 1 {
			return Batch{}, fmt.Errorf("min_accuracy %v: want 0 to 1: %w", minAcc, catalog.ErrInvalid)
		}
	}
	var maxCost sql.NullFloat64
	if req.MaxCost != nil {
		if v := *req.MaxCost; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Batch{}, fmt.Errorf("max_cost %v: want a number of at least 0: %w", v, catalog.ErrInvalid)
		}
		if !s.cfg.Costs.Priced() {
			return Batch{}, fmt.Errorf("max_cost needs prices, and %s: %w", unpricedNote, catalog.ErrInvalid)
		}
		maxCost = sql.NullFloat64{Float64: *req.MaxCost, Valid: true}
	}
	review, err := reviewPolicy(req.Review, ai)
	if err != nil {
		return Batch{}, err
	}
	var filter string
	if len(req.Filter) > 0 && string(req.Filter) != "null" {
		w, err := pipeline.ParseWhen(req.Filter)
		if err != nil {
			return Batch{}, err
		}
		b, _ := json.Marshal(w)
		filter = string(b)
	}
	plan := promptPlan{template: req.PromptTemplate, vars: req.PromptVars, variants: req.Variants, seed: randomSeed()}
	if plan.variants == 0 {
		plan.variants = 1
	}
	painted := plan.template != "" || plan.variants != 1 || len(plan.vars) > 0
	if painted {
		if err := checkPlan(plan, canonical, nil, false); err != nil {
			return Batch{}, err
		}
	}
	var promptVars string
	if len(plan.vars) > 0 {
		b, _ := json.Marshal(plan.vars)
		promptVars = string(b)
	}
	var nextRun int64
	if req.Schedule != "" {
		if req.ManifestURL == "" {
			return Batch{}, fmt.Errorf("a schedule needs a manifest_url to re-read: %w", catalog.ErrInvalid)
		}
		sch, err := parseSchedule(req.Schedule)
		if err != nil {
			return Batch{}, err
		}
		nextRun = sch.Next(time.Now()).UnixNano()
	}
	var startAt int64
	if req.StartAt != nil {
		if req.StartAt.Before(time.Now().Add(-time.Minute)) || req.StartAt.After(time.Now().AddDate(1, 0, 0)) {
			return Batch{}, fmt.Errorf("start_at %s: want a time within the next year: %w", req.StartAt.Format(time.RFC3339), catalog.ErrInvalid)
		}
		startAt = req.StartAt.UnixNano()
	}
	// The manifest is fetched (by URL) and its format detected once the request is known
	// good, before the batch exists.
	var m *openedManifest
	if req.Selection == nil {
		if m, err = s.openManifest(ctx, manifestSource{file: req.Manifest, name: req.ManifestName, contentType: req.ManifestType,
			format: req.Format, url: req.ManifestURL, spool: req.SpoolFetched}); err != nil {
			return Batch{}, err
		}
		defer m.close()
	}
	var idb [10]byte
	rand.Read(idb[:])
	id := "bat_" + hex.EncodeToString(idb[:])
	now := time.Now().UTC().UnixNano()
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO batches (id, name, recipe, filter, state, schedule, manifest_url, next_run,
		min_accuracy, max_cost, review, selection, source_scene, prompt_template, prompt_vars, variants, seed, start_at, start_force,
		created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), id, req.Name, string(canonical), filter, BatchDraft,
		req.Schedule, req.ManifestURL, nextRun, minAcc, maxCost, review, selection, req.FromScene, plan.template, promptVars,
		plan.variants, plan.seed, startAt, boolInt(req.StartForce), now, now); err != nil {
		return Batch{}, dbError("insert batch", err)
	}
	w := &itemWriter{s: s, batch: id}
	if m != nil {
		err = w.readManifest(ctx, m)
	} else if _, err = s.selectionRows(ctx, *req.Selection, w.row(ctx)); err == nil {
		err = w.flush(ctx)
	}
	if err == nil && plan.template != "" && req.Selection == nil {
		err = checkPlan(plan, canonical, w.cols.list(), w.cols.ordered)
	}
	if err != nil {
		return Batch{}, errors.Join(err, s.deleteBatch(id))
	}
	sample, _ := json.Marshal(w.bad)
	colJSON := ""
	if l := w.cols.list(); len(l) > 0 {
		b, _ := json.Marshal(l)
		colJSON = string(b)
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET total = ?, bad_rows = ?, bad_row_sample = ?, duplicate_rows = ?,
		columns = ?, updated_at = ? WHERE id = ?`),
		w.added, w.nbad, string(sample), w.dupes, colJSON, time.Now().UTC().UnixNano(), id); err != nil {
		return Batch{}, dbError("update batch", err)
	}
	if w.added == 0 && req.Schedule == "" {
		s.setBatchState(ctx, id, BatchDone)
	} else if startAt > 0 {
		// A delayed start of an AI recipe trials at once.
		if err := s.delayedStart(ctx, id, time.Now()); err != nil {
			return Batch{}, err
		}
	}
	return s.GetBatch(ctx, id)
}

// deleteBatch removes a batch that failed to be created, with its items.
func (s *Service) deleteBatch(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM batch_items WHERE batch_id = ?`), id); err != nil {
		return dbError("delete batch items", err)
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM batches WHERE id = ?`), id); err != nil {
		return dbError("delete batch", err)
	}
	return nil
}

// dbError is catalog.DBError: a database failure wrapped with op, marked
// catalog.ErrUnavailable when the database is down.
func dbError(op string, err error) error { return catalog.DBError(op, err) }

func (s *Service) setBatchState(ctx context.Context, id, state string) error {
	return s.setBatchStateTx(ctx, s.db.SQL, id, state)
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// setBatchStateTx sets the batch's state (and its start or finish time) through ex.
func (s *Service) setBatchStateTx(ctx context.Context, ex execer, id, state string) error {
	now := time.Now().UTC().UnixNano()
	extra := ""
	switch state {
	case BatchRunning:
		extra = ", started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END, finished_at = 0"
	case BatchDone, BatchCancelled:
		extra = ", finished_at = ?"
	}
	args := []any{state, now}
	if extra != "" {
		args = append(args, now)
	}
	args = append(args, id)
	_, err := ex.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET state = ?, updated_at = ?`+extra+` WHERE id = ?`), args...)
	return dbError("set batch state", err)
}

// batchRow is what the worker needs of a batch.
type batchRow struct {
	id, name, state, recipe, filter string
	schedule, manifestURL           string
	nextRun                         int64
	total, badRows                  int
	badSample, estimate, trial      string
	errText                         string
	created, updated, started, done int64
	gpuSeconds, cpuSeconds          float64 // spent by the batch's finished items
	bytes                           int64
	minAccuracy                     float64
	maxCost                         sql.NullFloat64
	review, pausedReason            string
	costReserved                    float64 // max_cost: cost set aside for items in flight
	itemsSpent                      int     // items whose spend is in the totals
	refreshedAt, refreshFailedAt    int64   // schedule: last good and last failed re-read
	refreshFailures                 int     // schedule: failed re-reads since the last good one
	refreshError                    string  // schedule: why the last re-read failed
	columns                         string  // JSON list: the manifest's meta columns, in file order
	selection                       string  // JSON catalog.Selection the items came from; "" for a manifest
	sourceScene                     string  // the approved scene the recipe was made from
	promptTemplate, promptVars      string  // per-row prompt: the template and its JSON variable -> column map
	variants                        int     // backgrounds per item (generative recipes), 1 by default
	seed                            int64   // the first variant's seed when the recipe gave none
	startAt                         int64   // a delayed start, Unix ns; 0 for none
	startForce                      bool    // the delayed start goes past the trial gate
	duplicateRows                   int     // manifest rows whose content an earlier row had
}

// batchColumns are the columns loadBatch reads, in scan order.
const batchColumns = `id, name, state, recipe, filter, total, bad_rows, bad_row_sample,
		estimate, trial, error, created_at, updated_at, started_at, finished_at, schedule, manifest_url, next_run,
		gpu_seconds, cpu_seconds, bytes, min_accuracy, max_cost, review, paused_reason, cost_reserved, items_spent,
		refreshed_at, refresh_failures, refresh_error, refresh_failed_at,
		columns, selection, source_scene, prompt_template, prompt_vars, variants, seed, start_at, start_force, duplicate_rows`

// scanBatch reads a row of batchColumns.
func scanBatch(row interface{ Scan(...any) error }) (batchRow, error) {
	var b batchRow
	err := row.Scan(
		&b.id, &b.name, &b.state, &b.recipe, &b.filter, &b.total, &b.badRows, &b.badSample, &b.estimate, &b.trial, &b.errText,
		&b.created, &b.updated, &b.started, &b.done, &b.schedule, &b.manifestURL, &b.nextRun,
		&b.gpuSeconds, &b.cpuSeconds, &b.bytes, &b.minAccuracy, &b.maxCost, &b.review, &b.pausedReason, &b.costReserved, &b.itemsSpent,
		&b.refreshedAt, &b.refreshFailures, &b.refreshError, &b.refreshFailedAt,
		&b.columns, &b.selection, &b.sourceScene, &b.promptTemplate, &b.promptVars, &b.variants, &b.seed, &b.startAt, &b.startForce, &b.duplicateRows)
	return b, err
}

func (s *Service) loadBatch(ctx context.Context, id string) (batchRow, error) {
	b, err := scanBatch(s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+batchColumns+` FROM batches WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("batch %s: %w", id, catalog.ErrNotFound)
	}
	return b, dbError("get batch", err)
}

// rateWindow is the time over which the batch's rate is measured.
const rateWindow = time.Minute

// GetBatch returns a batch with its counts by state, rate, ETA and spend so far.
func (s *Service) GetBatch(ctx context.Context, id string) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	out := Batch{
		ID: b.id, Name: b.name, State: b.state, Total: b.total, BadRows: b.badRows, Error: b.errText,
		Recipe: json.RawMessage(b.recipe), CreatedAt: time.Unix(0, b.created).UTC(), UpdatedAt: time.Unix(0, b.updated).UTC(),
		Counts: map[string]int{ItemQueued: 0, ItemRunning: 0, ItemSucceeded: 0, ItemFailed: 0, ItemSkipped: 0},
	}
	if b.filter != "" {
		out.Filter = json.RawMessage(b.filter)
	}
	out.Schedule, out.ManifestURL = b.schedule, b.manifestURL
	if b.nextRun > 0 {
		t := time.Unix(0, b.nextRun).UTC()
		out.NextRun = &t
	}
	if b.schedule != "" {
		out.Refresh = &Refresh{Failures: b.refreshFailures, LastError: b.refreshError}
		if b.refreshedAt > 0 {
			t := time.Unix(0, b.refreshedAt).UTC()
			out.Refresh.LastSuccess = &t
		}
		if b.refreshFailedAt > 0 {
			t := time.Unix(0, b.refreshFailedAt).UTC()
			out.Refresh.LastFailure = &t
		}
	}
	if b.started > 0 {
		t := time.Unix(0, b.started).UTC()
		out.StartedAt = &t
	}
	if b.done > 0 {
		t := time.Unix(0, b.done).UTC()
		out.FinishedAt = &t
	}
	if b.badSample != "" {
		if err := json.Unmarshal([]byte(b.badSample), &out.BadRowList); err != nil {
			return Batch{}, fmt.Errorf("batch %s bad rows: %w", b.id, err)
		}
	}
	if b.estimate != "" {
		out.Estimate = &Estimate{}
		if err := json.Unmarshal([]byte(b.estimate), out.Estimate); err != nil {
			return Batch{}, fmt.Errorf("batch %s estimate: %w", b.id, err)
		}
	}
	if b.trial != "" {
		out.Trial = &Trial{}
		if err := json.Unmarshal([]byte(b.trial), out.Trial); err != nil {
			return Batch{}, fmt.Errorf("batch %s trial: %w", b.id, err)
		}
	}
	out.DuplicateRows, out.FromScene, out.PromptTemplate, out.Variants = b.duplicateRows, b.sourceScene, b.promptTemplate, max(1, b.variants)
	if b.columns != "" {
		if err := json.Unmarshal([]byte(b.columns), &out.Columns); err != nil {
			return Batch{}, fmt.Errorf("batch %s columns: %w", b.id, err)
		}
		out.ColumnsNotKept = columnsNotKept(out.Columns)
	}
	if b.selection != "" {
		out.Selection = json.RawMessage(b.selection)
	}
	if b.promptVars != "" {
		if err := json.Unmarshal([]byte(b.promptVars), &out.PromptVars); err != nil {
			return Batch{}, fmt.Errorf("batch %s prompt variables: %w", b.id, err)
		}
	}
	if b.startAt > 0 {
		t := time.Unix(0, b.startAt).UTC()
		out.StartAt, out.StartForce = &t, b.startForce
	}
	out.GPUSeconds, out.CPUSeconds, out.Bytes = b.gpuSeconds, b.cpuSeconds, b.bytes
	out.MinAccuracy, out.Review, out.PausedReason = b.minAccuracy, b.review, b.pausedReason
	if b.maxCost.Valid {
		v := b.maxCost.Float64
		out.MaxCost = &v
	}
	if c := s.cfg.Costs; c.Priced() {
		spent := roundCents(c.of(b.gpuSeconds, b.cpuSeconds, b.bytes))
		out.Spent, out.Currency = &spent, c.currency()
	}
	// Counted from the (batch_id, state) index alone: a poll of a million-row batch
	// reads no item rows.
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT state, count(*) FROM batch_items WHERE batch_id = ? GROUP BY state`), id)
	if err != nil {
		return Batch{}, dbError("count items", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return Batch{}, dbError("count items", err)
		}
		if state == ItemPending {
			state = ItemQueued // not yet handed to the queue, but waiting all the same
		}
		out.Counts[state] += n
	}
	if err := rows.Err(); err != nil {
		return Batch{}, dbError("count items", err)
	}
	if b.state == BatchRunning {
		var recent int
		since := time.Now().Add(-rateWindow).UnixNano()
		if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT count(*) FROM batch_items WHERE batch_id = ? AND updated_at >= ?
			AND state IN ('succeeded', 'failed', 'skipped')`), id, since).Scan(&recent); err != nil {
			return Batch{}, dbError("rate", err)
		}
		window := rateWindow.Seconds()
		if b.started > 0 {
			window = math.Min(window, math.Max(1, time.Since(time.Unix(0, b.started)).Seconds()))
		}
		out.Rate = float64(recent) / window
		if left := out.Counts[ItemQueued] + out.Counts[ItemRunning]; out.Rate > 0 {
			out.ETASeconds = math.Round(float64(left) / out.Rate)
		}
	}
	return out, nil
}

// ListBatches lists batches, newest first (at most 200).
func (s *Service) ListBatches(ctx context.Context) ([]Batch, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id FROM batches ORDER BY created_at DESC LIMIT 200`)
	if err != nil {
		return nil, dbError("list batches", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, dbError("list batches", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError("list batches", err)
	}
	out := []Batch{}
	for _, id := range ids {
		b, err := s.GetBatch(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
