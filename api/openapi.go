package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3.1 description of every route; TestOpenAPICoversEveryRoute
// keeps it complete.
//
//go:embed openapi.json
var openAPIDoc []byte

// handleOpenAPI serves GET /openapi.json.
func (s *server) handleOpenAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPIDoc)
	}
}
