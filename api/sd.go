package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/sdclient"
)

// sceneStore is what the scene routes need of the catalog (the jobs run them).
type sceneStore interface {
	GetScene(ctx context.Context, id string) (catalog.Scene, error)
	ApproveScene(ctx context.Context, id string, k int, reviewer string) (catalog.Scene, error)
	OpenScenePreview(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error)
}

// templateStore is what the prompt-template routes need.
type templateStore interface {
	PutTemplate(ctx context.Context, t catalog.PromptTemplate) (catalog.PromptTemplate, bool, error)
	GetTemplate(ctx context.Context, name string) (catalog.PromptTemplate, error)
	ListTemplates(ctx context.Context) ([]catalog.PromptTemplate, error)
	DeleteTemplate(ctx context.Context, name string) error
}

// Jobs is what the API needs of the job queue: async renders, scenes, job state.
type Jobs interface {
	EnqueueRender(ctx context.Context, imageID string, recipe []byte, accept []imaging.Format) (jobs.Job, error)
	Get(ctx context.Context, id int64) (jobs.Job, error)
	Wait(ctx context.Context, id int64) (jobs.Job, error)
	CreateScene(ctx context.Context, req catalog.SceneRequest) (catalog.Scene, error)
	CancelScene(ctx context.Context, id string) (catalog.Scene, error)
}

var _ Jobs = (*jobs.Service)(nil)

// Backends reports the WebUI backends; nil when none is configured.
type Backends interface {
	Status() []sdclient.BackendStatus
	QueueLen(lane sdclient.Lane) int
}

var _ Backends = (*sdclient.Pool)(nil)

// maxWait bounds how long a request may wait for its job ("wait": "30s").
const maxWait = 2 * time.Minute

// parseWait reads a wait duration; "" is no wait.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxWait {
		return 0, fmt.Errorf("%w: wait must be a duration between 0s and %s, like \"30s\"", catalog.ErrInvalid, maxWait)
	}
	return d, nil
}

// jobAnswer is the body of a 202: the job to poll.
type jobAnswer struct {
	Image *catalog.Image `json:"image,omitempty"`
	Job   jobs.Job       `json:"job"`
}

// renderAsync queues a render job for a recipe that needs the GPU and waits up to wait:
// 201 with the renditions when it finished in time, else 202 with the job.
func (s *server) renderAsync(w http.ResponseWriter, r *http.Request, img *catalog.Image, imageID string, canonical []byte, wait time.Duration) {
	if s.jobs == nil {
		s.writeError(w, r, catalog.ErrSDRequired)
		return
	}
	job, err := s.jobs.EnqueueRender(r.Context(), imageID, canonical, acceptedFormats(r.URL.Query().Get("accept")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		job, err = s.jobs.Wait(ctx, job.ID)
		cancel()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if job.State == "completed" {
			var out jobs.RenderOutput
			if err := json.Unmarshal(job.Output, &out); err != nil {
				s.writeError(w, r, err)
				return
			}
			if img != nil {
				s.writeJSON(w, r, http.StatusCreated, catalog.IngestResult{Image: *img, Renditions: out.Renditions})
				return
			}
			s.writeJSON(w, r, http.StatusCreated, renditionList{Renditions: out.Renditions})
			return
		}
	}
	w.Header().Set("Location", "/v1/jobs/"+strconv.FormatInt(job.ID, 10))
	s.writeJSON(w, r, http.StatusAccepted, jobAnswer{Image: img, Job: job})
}

// handleGetJob serves GET /v1/jobs/{id}.
func (s *server) handleGetJob() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
		if err != nil || id <= 0 {
			s.writeError(w, r, fmt.Errorf("%w: job id must be a positive integer", catalog.ErrInvalid))
			return
		}
		if s.jobs == nil {
			s.writeError(w, r, fmt.Errorf("job %d: %w", id, catalog.ErrNotFound))
			return
		}
		job, err := s.jobs.Get(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, job)
	}
}

// backendsAnswer is the body of GET /v1/backends.
type backendsAnswer struct {
	Configured bool                     `json:"configured"`
	Backends   []sdclient.BackendStatus `json:"backends"`
	Queue      map[string]int           `json:"queue"`
}

// handleBackends serves GET /v1/backends: each WebUI backend's health, queue, in-flight
// work, GPU-seconds and models.
func (s *server) handleBackends() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := backendsAnswer{Backends: []sdclient.BackendStatus{}, Queue: map[string]int{"interactive": 0, "batch": 0}}
		if s.backends != nil {
			out.Configured = true
			out.Backends = s.backends.Status()
			out.Queue["interactive"] = s.backends.QueueLen(sdclient.Interactive)
			out.Queue["batch"] = s.backends.QueueLen(sdclient.Batch)
		}
		s.writeJSON(w, r, http.StatusOK, out)
	}
}

// handleCreateScene serves POST /v1/images/{id}/scenes: 202 with the scene to follow.
func (s *server) handleCreateScene() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req catalog.SceneRequest
		if err := s.decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		req.ImageID = chi.URLParam(r, "id")
		if s.jobs == nil {
			s.writeError(w, r, catalog.ErrSDRequired)
			return
		}
		sc, err := s.jobs.CreateScene(r.Context(), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/scenes/"+url.PathEscape(sc.ID))
		s.writeJSON(w, r, http.StatusAccepted, sc)
	}
}

// handleGetScene serves GET /v1/scenes/{id}.
func (s *server) handleGetScene() http.HandlerFunc { return serveGet(s, "id", s.catalog.GetScene) }

// handleScenePreview serves GET /v1/scenes/{id}/preview: the latest live preview.
func (s *server) handleScenePreview() http.HandlerFunc {
	return s.serveOpened(s.catalog.OpenScenePreview, "no-store")
}

// handleApproveScene serves POST /v1/scenes/{id}/approve {"variant": k}.
func (s *server) handleApproveScene() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Variant *int `json:"variant"`
		}
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		if in.Variant == nil {
			s.writeError(w, r, fmt.Errorf("%w: variant is required", catalog.ErrInvalid))
			return
		}
		sc, err := s.catalog.ApproveScene(r.Context(), chi.URLParam(r, "id"), *in.Variant, reviewerName(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, sc)
	}
}

// handleCancelScene serves POST /v1/scenes/{id}/cancel: the running generation is
// interrupted on its backend.
func (s *server) handleCancelScene() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if s.jobs == nil {
			s.writeError(w, r, fmt.Errorf("scene %s: %w", id, catalog.ErrNotFound))
			return
		}
		sc, err := s.jobs.CancelScene(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusAccepted, sc)
	}
}

// sceneEvent is one server-sent event of a scene's stream.
type sceneEvent struct {
	State      string  `json:"state"`
	Progress   float64 `json:"progress"`
	ETASeconds float64 `json:"eta_seconds"`
	PreviewURL string  `json:"preview_url,omitempty"`
	Variants   int     `json:"variants_done"`
	Error      string  `json:"error,omitempty"`
}

// handleSceneEvents serves GET /v1/scenes/{id}/events: server-sent events. "progress"
// carries the fraction, ETA and preview URL whenever they change; "variant" each finished
// variant; "done" the final scene, after which the stream ends. State comes from the
// database, so any replica can serve the stream.
func (s *server) handleSceneEvents() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		sc, err := s.catalog.GetScene(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		send := func(event string, v any) bool {
			b, _ := json.Marshal(v)
			rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		var last sceneEvent
		sent := 0
		tick := time.NewTicker(s.cfg.EventPoll)
		defer tick.Stop()
		keepalive := time.Now()
		for {
			ev := sceneEvent{State: sc.State, Progress: sc.Progress, ETASeconds: sc.ETASeconds, PreviewURL: sc.PreviewURL, Variants: len(sc.Results), Error: sc.Error}
			if ev != last || sent == 0 {
				if !send("progress", ev) {
					return
				}
				last = ev
			}
			for ; sent < len(sc.Results); sent++ {
				if !send("variant", sc.Results[sent]) {
					return
				}
			}
			if sc.Finished() {
				send("done", sc)
				return
			}
			if time.Since(keepalive) > 15*time.Second {
				rc.SetWriteDeadline(time.Now().Add(time.Minute))
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
					return
				}
				keepalive = time.Now()
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
			if sc, err = s.catalog.GetScene(r.Context(), id); err != nil {
				if !errors.Is(err, context.Canceled) {
					send("error", problemFor(err))
				}
				return
			}
		}
	}
}

// handleListTemplates serves GET /v1/templates.
func (s *server) handleListTemplates() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ts, err := s.catalog.ListTemplates(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, map[string]any{"templates": ts})
	}
}

// handleGetTemplate serves GET /v1/templates/{name}.
func (s *server) handleGetTemplate() http.HandlerFunc {
	return serveGet(s, "name", s.catalog.GetTemplate)
}

// handlePutTemplate serves PUT /v1/templates/{name} {"prompt", "negative_prompt"}: 201
// when created, 200 when replaced.
func (s *server) handlePutTemplate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in catalog.PromptTemplate
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		in.Name = chi.URLParam(r, "name")
		t, created, err := s.catalog.PutTemplate(r.Context(), in)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		s.writeJSON(w, r, status, t)
	}
}

// handleDeleteTemplate serves DELETE /v1/templates/{name}.
func (s *server) handleDeleteTemplate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.catalog.DeleteTemplate(r.Context(), chi.URLParam(r, "name")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
