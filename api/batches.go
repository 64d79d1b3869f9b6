package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// Batches is what the API needs of batch processing.
type Batches interface {
	CreateBatch(ctx context.Context, req jobs.BatchRequest) (jobs.Batch, error)
	GetBatch(ctx context.Context, id string) (jobs.Batch, error)
	ListBatches(ctx context.Context) ([]jobs.Batch, error)
	TrialBatch(ctx context.Context, id string, sample int) (jobs.Batch, error)
	StartBatch(ctx context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error)
	ScheduleStart(ctx context.Context, id string, at time.Time, force bool) (jobs.Batch, error)
	PauseBatch(ctx context.Context, id string) (jobs.Batch, error)
	ResumeBatch(ctx context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error)
	CancelBatch(ctx context.Context, id string) (jobs.Batch, error)
	RetryBatch(ctx context.Context, id string, o jobs.ActionOptions) (jobs.Batch, error)
	WriteResults(ctx context.Context, id string, w io.Writer, f manifest.Format) error
}

var _ Batches = (*jobs.Service)(nil)

// maxManifestBytes bounds an uploaded manifest; it is spooled to disk, never held in memory.
const maxManifestBytes = catalog.MaxManifestBytes

// batchJSON is the JSON form of POST /v1/batches.
type batchJSON struct {
	Name        string          `json:"name"`
	Recipe      json.RawMessage `json:"recipe"`
	Filter      json.RawMessage `json:"filter"`
	ManifestURL string          `json:"manifest_url"`
	// Schedule is a cron expression: the manifest is re-read when due and new rows run.
	Schedule string `json:"schedule"`
	// MinAccuracy is the trial accuracy start asks for, 0..1; default 0.95.
	MinAccuracy *float64 `json:"min_accuracy"`
	// MaxCost caps the spend in the configured currency; default none.
	MaxCost *float64 `json:"max_cost"`
	// Review is none, failed or all; default failed for recipes with AI steps, else none.
	Review string `json:"review"`
	// Selection makes the items from stored images instead of a manifest.
	Selection *catalog.Selection `json:"selection"`
	// FromScene takes the recipe from an approved scene.
	FromScene string `json:"from_scene"`
	// PromptTemplate, PromptVars and Variants paint each row its own backgrounds.
	PromptTemplate string            `json:"prompt_template"`
	PromptVars     map[string]string `json:"prompt_vars"`
	Variants       int               `json:"variants"`
	// StartAt starts the batch later (RFC 3339); StartForce past the trial gate.
	StartAt    *time.Time `json:"start_at"`
	StartForce bool       `json:"start_force"`
}

// handleCreateBatch serves POST /v1/batches: multipart (manifest file, recipe, name,
// filter) or JSON with manifest_url. 201 with the batch, a draft until started.
func (s *server) handleCreateBatch() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.batches == nil {
			s.writeError(w, r, fmt.Errorf("batches: %w", catalog.ErrNotImplemented))
			return
		}
		var req jobs.BatchRequest
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var slot *spoolSlot
		if mt == "multipart/form-data" || mt == "application/json" {
			var err error
			if slot, err = s.spool.acquire(); err != nil {
				s.writeError(w, r, err)
				return
			}
			defer slot.release()
		}
		switch mt {
		case "multipart/form-data":
			f, err := s.readBatchForm(w, r, slot, &req)
			if f != nil {
				defer os.Remove(f.Name())
				defer f.Close()
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
		case "application/json":
			var in batchJSON
			if err := s.decodeJSON(w, r, &in); err != nil {
				s.writeError(w, r, err)
				return
			}
			ref, err := recipeRef(in.Recipe)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			req.Name, req.Recipe, req.Filter = in.Name, ref, in.Filter
			req.MinAccuracy, req.MaxCost, req.Review = in.MinAccuracy, in.MaxCost, in.Review
			req.FromScene, req.PromptTemplate, req.PromptVars, req.Variants = in.FromScene, in.PromptTemplate, in.PromptVars, in.Variants
			req.StartAt, req.StartForce = in.StartAt, in.StartForce
			if in.Selection != nil {
				if in.ManifestURL != "" || in.Schedule != "" {
					s.writeError(w, r, fmt.Errorf("%w: give selection or manifest_url, not both (a schedule re-reads a manifest_url)", catalog.ErrInvalid))
					return
				}
				req.Selection = in.Selection
				break
			}
			if in.ManifestURL == "" {
				s.writeError(w, r, fmt.Errorf("%w: manifest_url or selection is required (or upload the manifest as multipart field manifest)", catalog.ErrInvalid))
				return
			}
			// jobs fetches the manifest, within the spool's disk budget, and reads it.
			req.Schedule, req.ManifestURL, req.SpoolFetched = in.Schedule, in.ManifestURL, slot.grow
		default:
			s.writeError(w, r, fmt.Errorf("%w: send multipart/form-data with a manifest file, or JSON with manifest_url", catalog.ErrInvalid))
			return
		}
		b, err := s.batches.CreateBatch(r.Context(), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/batches/"+url.PathEscape(b.ID))
		s.writeJSON(w, r, http.StatusCreated, newBatchView(b))
	}
}

// readBatchForm streams the multipart body: small fields into req, the manifest part to
// a temporary file under slot (spoolManifest: so parts may come in any order and nothing
// large stays in memory), checked as it streams. The file goes to jobs with its name and
// content type, which with its first bytes decide its format there.
func (s *server) readBatchForm(w http.ResponseWriter, r *http.Request, slot *spoolSlot, req *jobs.BatchRequest) (*os.File, error) {
	if r.ContentLength > maxManifestBytes+s.cfg.MaxJSONBytes {
		return nil, &http.MaxBytesError{Limit: maxManifestBytes + s.cfg.MaxJSONBytes}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxManifestBytes+s.cfg.MaxJSONBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", catalog.ErrInvalid, err)
	}
	var file *os.File
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return file, fmt.Errorf("%w: %s", catalog.ErrInvalid, err)
		}
		switch p.FormName() {
		case "manifest":
			if file != nil {
				return file, fmt.Errorf("%w: manifest given twice", catalog.ErrInvalid)
			}
			req.ManifestName, req.ManifestType = p.FileName(), p.Header.Get("Content-Type")
			if file, err = s.spoolManifest(r.Context(), slot, p, req.ManifestName, req.ManifestType); err != nil {
				return file, err
			}
		case "recipe", "name", "filter", "min_accuracy", "max_cost", "review", "from_scene", "prompt_template", "prompt_vars",
			"variants", "start_at", "start_force":
			v, err := io.ReadAll(io.LimitReader(p, s.cfg.MaxJSONBytes+1))
			if err != nil {
				return file, err
			}
			if int64(len(v)) > s.cfg.MaxJSONBytes {
				return file, fmt.Errorf("%w: field %s too large", catalog.ErrInvalid, p.FormName())
			}
			switch p.FormName() {
			case "recipe":
				if req.Recipe, err = recipeFromText(string(v)); err != nil {
					return file, err
				}
			case "name":
				req.Name = strings.TrimSpace(string(v))
			case "filter":
				req.Filter = bytes.TrimSpace(v)
			case "review":
				req.Review = strings.TrimSpace(string(v))
			case "min_accuracy":
				if req.MinAccuracy, err = formNumber(p.FormName(), v); err != nil {
					return file, err
				}
			case "max_cost":
				if req.MaxCost, err = formNumber(p.FormName(), v); err != nil {
					return file, err
				}
			case "from_scene":
				req.FromScene = strings.TrimSpace(string(v))
			case "prompt_template":
				req.PromptTemplate = strings.TrimSpace(string(v))
			case "prompt_vars":
				if t := bytes.TrimSpace(v); len(t) > 0 {
					if err := json.Unmarshal(t, &req.PromptVars); err != nil {
						return file, fmt.Errorf("%w: field prompt_vars: want a JSON object of variable to column names", catalog.ErrInvalid)
					}
				}
			case "variants":
				n, err := formNumber(p.FormName(), v)
				if err != nil {
					return file, err
				}
				if n != nil {
					if *n != math.Trunc(*n) || *n < 1 || *n > 8 {
						return file, fmt.Errorf("%w: field variants: want a whole number 1..8", catalog.ErrInvalid)
					}
					req.Variants = int(*n)
				}
			case "start_at":
				if t := strings.TrimSpace(string(v)); t != "" {
					at, err := time.Parse(time.RFC3339, t)
					if err != nil {
						return file, fmt.Errorf("%w: field start_at %q: want an RFC 3339 time", catalog.ErrInvalid, t)
					}
					req.StartAt = &at
				}
			case "start_force":
				b, err := strconv.ParseBool(strings.TrimSpace(string(v)))
				if err != nil {
					return file, fmt.Errorf("%w: field start_force: want true or false", catalog.ErrInvalid)
				}
				req.StartForce = b
			}
		default:
			return file, fmt.Errorf("%w: unknown form field %q (want manifest, recipe, name, filter, min_accuracy, max_cost, review, from_scene, prompt_template, prompt_vars, variants, start_at, start_force)", catalog.ErrInvalid, p.FormName())
		}
	}
	if file == nil {
		return nil, fmt.Errorf("%w: the manifest file is required (form field manifest)", catalog.ErrInvalid)
	}
	req.Manifest = file
	return file, nil
}

// formNumber reads a number form field; an empty one is nil (the default).
func formNumber(name string, v []byte) (*float64, error) {
	t := strings.TrimSpace(string(v))
	if t == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: field %s %q: want a number", catalog.ErrInvalid, name, t)
	}
	return &f, nil
}

// handleListBatches serves GET /v1/batches.
func (s *server) handleListBatches() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.batches == nil {
			s.writeJSON(w, r, http.StatusOK, map[string]any{"batches": []BatchView{}})
			return
		}
		bs, err := s.batches.ListBatches(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, map[string]any{"batches": newBatchViews(bs)})
	}
}

// handleGetBatch serves GET /v1/batches/{id}: counts by state, rate, ETA, spend, estimate.
func (s *server) handleGetBatch() http.HandlerFunc {
	return s.batchAction(func(ctx context.Context, id string, _ *http.Request) (jobs.Batch, error) {
		return s.batches.GetBatch(ctx, id)
	}, http.StatusOK)
}

// actionJSON is the optional body of POST /v1/batches/{id}/{action}.
type actionJSON struct {
	// Sample is the trial's row count, 1..200; default 20.
	Sample int `json:"sample"`
	// Force starts or retries below the trial's min_accuracy (or with no trial), and
	// resumes a batch its max_cost paused with the cap lifted.
	Force bool `json:"force"`
	// MaxCost, on resume, raises the spend cap.
	MaxCost *float64 `json:"max_cost"`
	// At, on start, is a delayed start (RFC 3339): the batch starts then.
	At *time.Time `json:"at"`
}

// handleBatchAction serves POST /v1/batches/{id}/{action}. trial answers 202 with the
// batch trialling (the trial runs as a job; poll GET for trial.progress and the report).
// start and retry answer 409 with the trial report (member "trial") when its accuracy is
// below the batch's min_accuracy, unless the body says {"force": true}.
func (s *server) handleBatchAction(action string) http.HandlerFunc {
	status := http.StatusOK
	if action == "trial" {
		status = http.StatusAccepted
	}
	return s.batchAction(func(ctx context.Context, id string, r *http.Request) (jobs.Batch, error) {
		var in actionJSON
		if r.ContentLength != 0 {
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
			if err != nil {
				return jobs.Batch{}, fmt.Errorf("%w: %s", errMalformedJSON, err)
			}
			if len(bytes.TrimSpace(b)) > 0 {
				if err := unmarshalStrict(b, &in); err != nil {
					return jobs.Batch{}, err
				}
			}
		}
		if in.Sample != 0 && action != "trial" {
			return jobs.Batch{}, fmt.Errorf("%w: sample is for trial only", catalog.ErrInvalid)
		}
		if in.MaxCost != nil && action != "resume" {
			return jobs.Batch{}, fmt.Errorf("%w: max_cost is set at create, or raised on resume", catalog.ErrInvalid)
		}
		if in.Force && action != "start" && action != "retry" && action != "resume" {
			return jobs.Batch{}, fmt.Errorf("%w: force is for start, retry and resume", catalog.ErrInvalid)
		}
		if in.At != nil && action != "start" {
			return jobs.Batch{}, fmt.Errorf("%w: at is for start only", catalog.ErrInvalid)
		}
		o := jobs.ActionOptions{Force: in.Force, MaxCost: in.MaxCost}
		switch action {
		case "start":
			if in.At != nil {
				return s.batches.ScheduleStart(ctx, id, *in.At, in.Force)
			}
		}
		switch action {
		case "trial":
			return s.batches.TrialBatch(ctx, id, in.Sample)
		case "start":
			return s.batches.StartBatch(ctx, id, o)
		case "pause":
			return s.batches.PauseBatch(ctx, id)
		case "resume":
			return s.batches.ResumeBatch(ctx, id, o)
		case "cancel":
			return s.batches.CancelBatch(ctx, id)
		case "retry":
			return s.batches.RetryBatch(ctx, id, o)
		}
		return jobs.Batch{}, fmt.Errorf("%w: unknown action %q", catalog.ErrInvalid, action)
	}, status)
}

func (s *server) batchAction(fn func(context.Context, string, *http.Request) (jobs.Batch, error), status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if s.batches == nil {
			s.writeError(w, r, fmt.Errorf("batch %s: %w", id, catalog.ErrNotFound))
			return
		}
		b, err := fn(r.Context(), id, r)
		var gate *jobs.TrialGateError
		if errors.As(err, &gate) {
			// 409 as the table says, with the trial report beside the detail.
			p := problemFor(err)
			p.Extensions = map[string]any{"min_accuracy": gate.MinAccuracy}
			if gate.Trial != nil {
				p.Extensions["trial"] = newTrialView(gate.Trial)
			}
			s.writeProblem(w, r, p)
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, status, newBatchView(b))
	}
}

// handleBatchResults serves GET /v1/batches/{id}/results?format=csv|jsonl|xlsx, streamed.
func (s *server) handleBatchResults() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if s.batches == nil {
			s.writeError(w, r, fmt.Errorf("batch %s: %w", id, catalog.ErrNotFound))
			return
		}
		f := manifest.Format(r.URL.Query().Get("format"))
		switch f {
		case "":
			f = manifest.CSV
		case manifest.CSV, manifest.JSONL, manifest.XLSX:
		default:
			s.writeError(w, r, fmt.Errorf("%w: format must be csv, jsonl or xlsx", catalog.ErrInvalid))
			return
		}
		b, err := s.batches.GetBatch(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if f == manifest.XLSX && b.Total > manifest.MaxXLSXResults {
			s.writeError(w, r, fmt.Errorf("%w: the batch has %d items and an xlsx sheet holds %d: ask for csv or jsonl", catalog.ErrInvalid, b.Total, manifest.MaxXLSXResults))
			return
		}
		ct := "text/csv; charset=utf-8"
		switch f {
		case manifest.JSONL:
			ct = "application/x-ndjson"
		case manifest.XLSX:
			ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-results.%s"`, id, f))
		if err := s.batches.WriteResults(r.Context(), id, w, f); err != nil {
			s.log.Warn("batch results stream ended early", "batch", id, "err", err)
		}
	}
}
