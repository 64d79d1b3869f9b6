package api

import (
	"encoding/json"
	"time"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/jobs"
)

// The response types of the batch routes. They are what clients decode (the CLI among
// them), kept apart from jobs.Batch so the service's model can change without changing the
// wire. newBatchView makes one from a jobs.Batch; TestBatchViewMatchesJobsBatch keeps the
// JSON members of the two the same, field for field, so they cannot drift silently.

// Batch states, as BatchView.State names them.
const (
	BatchDraft     = jobs.BatchDraft     // items read, nothing run
	BatchTrialling = jobs.BatchTrialling // a trial job is running its sample
	BatchReady     = jobs.BatchReady     // trial done, estimate known
	BatchRunning   = jobs.BatchRunning   // items queued or running
	BatchPaused    = jobs.BatchPaused    // items wait
	BatchCancelled = jobs.BatchCancelled // items left are skipped
	BatchDone      = jobs.BatchDone      // every item finished
)

// Item states, the keys of BatchView.Counts.
const (
	ItemPending   = jobs.ItemPending // not queued yet
	ItemQueued    = jobs.ItemQueued
	ItemRunning   = jobs.ItemRunning
	ItemSucceeded = jobs.ItemSucceeded
	ItemFailed    = jobs.ItemFailed
	ItemSkipped   = jobs.ItemSkipped // did not pass the filter, or the batch was cancelled
)

// BatchView is a batch as the API answers it: GET /v1/batches/{id}, the items of GET
// /v1/batches, POST /v1/batches and the actions.
type BatchView struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	BadRows    int            `json:"bad_rows"`
	BadRowList []BadRowView   `json:"bad_row_sample,omitempty"`
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
	Estimate     *EstimateView   `json:"estimate,omitempty"`
	Trial        *TrialView      `json:"trial,omitempty"`
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
	Refresh *RefreshView `json:"refresh,omitempty"`
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

// BadRowView is a manifest row that could not become an item.
type BadRowView struct {
	Row     int    `json:"row"`
	Message string `json:"message"`
}

// RefreshView is the state of a scheduled batch's manifest re-reads.
type RefreshView struct {
	// LastSuccess is when the manifest was last re-read whole; nil before the first.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Failures counts the failed re-reads since the last success; 0 when all is well.
	Failures int `json:"failures"`
	// LastError says why the last re-read failed; empty once one succeeds.
	LastError string `json:"last_error,omitempty"`
	// LastFailure is when the last re-read failed; nil if none has.
	LastFailure *time.Time `json:"last_failure,omitempty"`
}

// EstimateView is what the whole batch should cost, from its trial run. Without prices
// the cost fields are left out and Note says so.
type EstimateView struct {
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

// TrialView is a sample run, and its report: accuracy, failures per check, the failing
// samples. It is also the member "trial" of the 409 a start below min_accuracy answers.
type TrialView struct {
	// Progress counts the samples run so far out of those chosen.
	Progress TrialProgressView `json:"progress"`
	// Samples are the rows run so far, in the order run.
	Samples []TrialSampleView `json:"samples"`
	// Accuracy is the share of judged samples whose every output passed every check.
	// Set when the trial is done.
	Accuracy float64 `json:"accuracy"`
	// Judged is how many samples Accuracy is over.
	Judged int `json:"judged"`
	// Failures counts the failing samples per check name ("error" for samples that errored).
	Failures map[string]int `json:"failures"`
	// Failing are the failing samples, with before/after and their failing checks.
	Failing []TrialSampleView `json:"failing"`
	// Done is true once every sample ran and the report is filled.
	Done bool `json:"done"`
	// StartedAt and FinishedAt time the trial.
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// FromRow is set on the trial of a scheduled batch's new rows: the first new item's row.
	FromRow int `json:"from_row,omitempty"`
	// PromptErrors counts the rows whose prompt template could not be filled;
	// PromptErrorSample shows up to 100.
	PromptErrors      int          `json:"prompt_errors,omitempty"`
	PromptErrorSample []BadRowView `json:"prompt_error_sample,omitempty"`
}

// TrialProgressView is how far a trial is.
type TrialProgressView struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// TrialSampleView is one row of a trial run.
type TrialSampleView struct {
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
	// Verdict is pass, fail, error or skipped (the filter left the row out).
	Verdict string `json:"verdict"`
}

// newBatchView is the view of b. Nil slices and maps stay nil and empty ones empty, so
// the JSON is exactly that of b.
func newBatchView(b jobs.Batch) BatchView {
	v := BatchView{
		ID:             b.ID,
		Name:           b.Name,
		State:          b.State,
		Total:          b.Total,
		BadRows:        b.BadRows,
		BadRowList:     mapSlice(b.BadRowList, func(r jobs.BadRow) BadRowView { return BadRowView(r) }),
		Counts:         b.Counts,
		Rate:           b.Rate,
		ETASeconds:     b.ETASeconds,
		GPUSeconds:     b.GPUSeconds,
		CPUSeconds:     b.CPUSeconds,
		Bytes:          b.Bytes,
		Spent:          b.Spent,
		Currency:       b.Currency,
		MinAccuracy:    b.MinAccuracy,
		MaxCost:        b.MaxCost,
		Review:         b.Review,
		PausedReason:   b.PausedReason,
		Trial:          newTrialView(b.Trial),
		Recipe:         b.Recipe,
		Filter:         b.Filter,
		Schedule:       b.Schedule,
		ManifestURL:    b.ManifestURL,
		NextRun:        b.NextRun,
		Error:          b.Error,
		CreatedAt:      b.CreatedAt,
		UpdatedAt:      b.UpdatedAt,
		StartedAt:      b.StartedAt,
		FinishedAt:     b.FinishedAt,
		DuplicateRows:  b.DuplicateRows,
		Columns:        b.Columns,
		ColumnsNotKept: b.ColumnsNotKept,
		Selection:      b.Selection,
		FromScene:      b.FromScene,
		PromptTemplate: b.PromptTemplate,
		PromptVars:     b.PromptVars,
		Variants:       b.Variants,
		StartAt:        b.StartAt,
		StartForce:     b.StartForce,
	}
	if b.Estimate != nil {
		e := EstimateView(*b.Estimate)
		v.Estimate = &e
	}
	if b.Refresh != nil {
		r := RefreshView(*b.Refresh)
		v.Refresh = &r
	}
	return v
}

// newBatchViews is the views of bs; nil stays nil.
func newBatchViews(bs []jobs.Batch) []BatchView {
	return mapSlice(bs, newBatchView)
}

// newTrialView is the view of t; nil for nil.
func newTrialView(t *jobs.Trial) *TrialView {
	if t == nil {
		return nil
	}
	sample := func(s jobs.TrialSample) TrialSampleView { return TrialSampleView(s) }
	return &TrialView{
		Progress:          TrialProgressView(t.Progress),
		Samples:           mapSlice(t.Samples, sample),
		Accuracy:          t.Accuracy,
		Judged:            t.Judged,
		Failures:          t.Failures,
		Failing:           mapSlice(t.Failing, sample),
		Done:              t.Done,
		StartedAt:         t.StartedAt,
		FinishedAt:        t.FinishedAt,
		FromRow:           t.FromRow,
		PromptErrors:      t.PromptErrors,
		PromptErrorSample: mapSlice(t.PromptErrorSample, func(r jobs.BadRow) BadRowView { return BadRowView(r) }),
	}
}

// mapSlice applies f to each element of in; nil stays nil, empty stays empty.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}
