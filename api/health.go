package api

import (
	"context"
	"net/http"
	"time"
)

// readiness tells /readyz whether the catalog's database and store answer.
type readiness interface {
	Ready(ctx context.Context) error
}

// readyTimeout bounds GET /readyz so a hung dependency reads as not ready.
const readyTimeout = 5 * time.Second

// health is the body of GET /healthz and a ready GET /readyz.
type health struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// handleHealthz serves GET /healthz: the process is up.
func (s *server) handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s.writeJSON(w, r, http.StatusOK, health{Status: "ok", Version: s.cfg.Version})
	}
}

// handleReadyz serves GET /readyz: 200 when the catalog is ready (database, object store,
// imaging queue), else a 503 not-ready problem with the reason.
func (s *server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.catalog.Ready(ctx); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "error", err.Error())
			s.writeProblem(w, r, newProblem(http.StatusServiceUnavailable, "not-ready", "Service not ready", err.Error()))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		s.writeJSON(w, r, http.StatusOK, health{Status: "ready"})
	}
}
