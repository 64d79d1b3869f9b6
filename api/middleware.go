package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in both directions: a well-formed id sent by the
// client (up to 128 characters of letters, digits, '.', '_', '-') is kept, otherwise one is made.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// requestIDFrom returns the request id stored by the requestID middleware, or "".
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// requestID gives every request an id, in its context and in the X-Request-Id response header.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// metrics are the HTTP layer's Prometheus collectors.
type metrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// manifestUploads is the spool's count of manifest uploads being received.
	manifestUploads prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pictor_http_request_duration_seconds",
			Help:    "Duration of HTTP requests by chi route pattern (\"unmatched\" when no route matched), method and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pictor_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		manifestUploads: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pictor_manifest_uploads_receiving",
			Help: "Manifest uploads being received and spooled; over the spool's limit more are answered 503.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.inFlight, m.manifestUploads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	return m, nil
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// routeLabel is chi's route pattern after serving, "unmatched" when no route matched.
func routeLabel(r *http.Request, status int) string {
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		// A 404 from a matched route (unknown image) keeps its pattern; only routing
		// failures leave the pattern empty or partial.
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			if p := rctx.RoutePattern(); p != "" && !strings.HasSuffix(p, "/*") {
				return p
			}
		}
		return "unmatched"
	}
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
		return rctx.RoutePattern()
	}
	return "unmatched"
}

// statusOf is the status a wrapped writer sent; 200 when the handler wrote nothing.
func statusOf(ww middleware.WrapResponseWriter) int {
	if st := ww.Status(); st != 0 {
		return st
	}
	return http.StatusOK
}

// instrument records pictor_http_request_duration_seconds and pictor_http_requests_in_flight.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			s.metrics.inFlight.Dec()
			st := statusOf(ww)
			s.metrics.duration.WithLabelValues(routeLabel(r, st), methodLabel(r.Method), strconv.Itoa(st)).
				Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
	})
}

// logInfoKey holds a request's *logInfo in its context.
type logInfoKey struct{}

// logInfo is what inner handlers tell the access log: the API key's name (never the key).
type logInfo struct {
	key string
}

func logInfoFrom(ctx context.Context) *logInfo {
	info, _ := ctx.Value(logInfoKey{}).(*logInfo)
	return info
}

// accessLog writes one slog record per request: Info, Warn for 5xx, Debug for probes and
// scrapes. It names the API key that authenticated the request, never the key itself.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		info := &logInfo{}
		r = r.WithContext(context.WithValue(r.Context(), logInfoKey{}, info))
		defer func() {
			st := statusOf(ww)
			route := routeLabel(r, st)
			level := slog.LevelInfo
			switch {
			case st >= 500:
				level = slog.LevelWarn
			case route == "/healthz" || route == "/readyz" || route == "/metrics":
				level = slog.LevelDebug // probes and scrapes would drown the log
			}
			s.log.LogAttrs(r.Context(), level, "http request",
				slog.String("request_id", requestIDFrom(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", st),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote_addr", r.RemoteAddr),
				slog.String("key", info.key),
			)
		}()
		next.ServeHTTP(ww, r)
	})
}

// recoverer turns a panic into a 500 problem and an error log with the stack. When the
// answer has already started it aborts the connection instead, so the client sees the failure.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
				panic(rec)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", requestIDFrom(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(rec)),
				slog.String("stack", string(debug.Stack())),
			)
			if ww.Status() != 0 {
				panic(http.ErrAbortHandler)
			}
			s.writeProblem(ww, r, newProblem(http.StatusInternalServerError, "internal", "Internal server error",
				"the server failed to handle the request; quote the request_id when reporting it"))
		}()
		next.ServeHTTP(ww, r)
	})
}

// methodNotAllowed answers 405 with an Allow header listing the methods the path has
// (404 when it has none, as for an unknown method on an unknown path). HEAD is allowed
// wherever GET is (middleware.GetHead serves it).
func (s *server) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
				if m == http.MethodGet {
					allowed = append(allowed, http.MethodHead)
				}
			}
		}
		if len(allowed) == 0 {
			s.notFound(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
			fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))))
	}
}

// crossOrigin refuses what a web page on another site makes a browser send: a request other
// than GET, HEAD and OPTIONS whose Sec-Fetch-Site says it came from another origin, or (from
// browsers too old to send Sec-Fetch-Site) whose Origin names another host, is answered 403
// cross-origin-request, whatever its content type, unless it comes from an origin of
// Config.CORSOrigins. That closes the simple requests (text/plain, form-encoded, multipart
// bodies, which need no preflight) that a page could otherwise post to an open service.
// Requests that carry neither header, as API clients that are not browsers (curl, pipeline
// jobs, pictor batch) send them, pass, and so do the console's own same-origin requests.
// The check is http.CrossOriginProtection's; it runs whether or not API keys are configured.
func (s *server) crossOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.xorigin.Check(r); err != nil {
			s.writeProblem(w, r, newProblem(http.StatusForbidden, "cross-origin-request", "Cross-origin request refused",
				r.Method+" "+r.URL.Path+" was sent by a browser from another site: changes are taken only from this service's own pages "+
					"and from the origins in PICTOR_CORS_ORIGINS; API clients that are not browsers send no Origin or Sec-Fetch-Site header"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
