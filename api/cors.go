package api

import (
	"net/http"
	"unicode/utf8"
)

// CORS answers for allowed origins.
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-Id"
	corsExposeHeaders = "ETag, Location, Retry-After, Idempotent-Replayed, X-Request-Id"
	corsMaxAge        = "600"
)

// ConsoleCSP is the Content-Security-Policy of every /console/ answer.
const ConsoleCSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// cors lets the browser origins of Config.CORSOrigins call the API. A preflight (OPTIONS
// with Origin and Access-Control-Request-Method) from an allowed origin is answered 204
// with the allowed methods and headers; from any other origin 403 forbidden-origin. Other
// requests pass through, with Access-Control-Allow-Origin when their origin is allowed
// (same-origin POSTs carry an Origin too, so an unknown origin is never refused here; the
// browser withholds the answer from the page).
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		allowed := s.origins[origin]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Origin")
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				s.writeProblem(w, r, newProblem(http.StatusForbidden, "forbidden-origin", "Origin not allowed",
					"cross-origin requests from "+origin+" are not allowed; the operator lists allowed origins in PICTOR_CORS_ORIGINS"))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Add("Vary", "Origin")
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// consoleHeaders sets the console's security headers: a same-origin CSP that no page may
// frame, no MIME sniffing, no Referer to other sites.
func consoleHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ConsoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// handleConsole serves GET /console/*: the files of Deps.Console, 404 when there is none.
func (s *server) handleConsole() http.HandlerFunc {
	if s.console == nil {
		return func(w http.ResponseWriter, r *http.Request) {
			s.writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found", "the console is not installed in this build"))
		}
	}
	fsrv := http.StripPrefix("/console", http.FileServerFS(s.console))
	return func(w http.ResponseWriter, r *http.Request) {
		// fs paths are UTF-8: the file server answers any other name 500.
		if !utf8.ValidString(r.URL.Path) {
			s.writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found", "no console file has that name"))
			return
		}
		fsrv.ServeHTTP(w, r)
	}
}
