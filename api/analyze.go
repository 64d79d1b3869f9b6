package api

import (
	"context"
	"net/http"

	"github.com/pictor/pictor/catalog"
)

// analyzer makes a quality report without storing anything (POST /v1/analyze).
type analyzer interface {
	Analyze(ctx context.Context, url string, data []byte) (catalog.QualityReport, error)
}

// handleAnalyze serves POST /v1/analyze: a quality report for JSON {"url"}, a multipart
// upload (field file) or raw image bytes, without storing anything.
func (s *server) handleAnalyze() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		src, err := s.readSource(w, r, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer src.release()
		rep, err := s.catalog.Analyze(r.Context(), src.URL, src.Data)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, rep)
	}
}
