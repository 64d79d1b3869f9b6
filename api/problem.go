package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fault"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// ProblemTypePrefix starts the type of every problem the API answers with; the slug after
// it (for example "not-found") is stable.
const ProblemTypePrefix = "urn:pictor:problem:"

// ProblemContentType is the media type of error bodies (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details body: every error the API answers with.
type Problem struct {
	// Type is ProblemTypePrefix followed by a stable slug.
	Type string `json:"type"`
	// Title is a short summary, the same for every problem of a type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence; generic for internal errors.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// RequestID is the X-Request-Id of the request, to find it in the logs.
	RequestID string `json:"request_id,omitempty"`
	// Errors lists the invalid fields of a recipe (type invalid-recipe).
	Errors []FieldError `json:"errors,omitempty"`
	// Extensions are further members of the body (RFC 9457 section 3.2), for example a
	// batch's trial report; one named like a member above is left out. Default nil.
	Extensions map[string]any `json:"-"`
}

// problemMembers are the names Extensions may not take.
var problemMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true,
	"instance": true, "request_id": true, "errors": true}

// MarshalJSON writes the members above, then the Extensions.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extensions) == 0 {
		return b, err
	}
	members := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, err
	}
	for k, v := range p.Extensions {
		if problemMembers[k] {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("problem member %s: %w", k, err)
		}
		members[k] = raw
	}
	return json.Marshal(members)
}

// FieldError is one invalid field of a request.
type FieldError struct {
	// Field locates the field, for example "steps[1].width".
	Field string `json:"field"`
	// Message says what is wrong with it.
	Message string `json:"message"`
}

// Errors the api itself produces before the catalog is reached.
var (
	// errMalformedJSON wraps a body that is not the JSON the route expects.
	errMalformedJSON = fault.New(fault.Invalid, "malformed-json", "Malformed JSON", "malformed json")
	// errClientGone is used when the client cancelled the request.
	errClientGone = errors.New("client closed request")
)

// statusClientClosedRequest is the non-standard status (from nginx) recorded when the client
// went away before the answer; nobody reads the body.
const statusClientClosedRequest = 499

// errorRow is one row of the error -> answer table.
type errorRow struct {
	match  func(error) bool
	status int
	slug   string
	title  string
	target error // the sentinel the row answers for; nil for the rows that match a type
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func as[T error]() func(error) bool {
	return func(err error) bool {
		var t T
		return errors.As(err, &t)
	}
}

// kindStatus is the one place a kind of failure (package fault) becomes an HTTP status.
var kindStatus = map[fault.Kind]int{
	fault.Internal:       http.StatusInternalServerError,
	fault.Invalid:        http.StatusBadRequest,
	fault.NotFound:       http.StatusNotFound,
	fault.Conflict:       http.StatusConflict,
	fault.Unprocessable:  http.StatusUnprocessableEntity,
	fault.Unsupported:    http.StatusUnsupportedMediaType,
	fault.TooLarge:       http.StatusRequestEntityTooLarge,
	fault.Busy:           http.StatusTooManyRequests,
	fault.Unavailable:    http.StatusServiceUnavailable,
	fault.Timeout:        http.StatusGatewayTimeout,
	fault.BadGateway:     http.StatusBadGateway,
	fault.NotImplemented: http.StatusNotImplemented,
}

// faultRow answers e as its kind says, under its code and title.
func faultRow(e *fault.Error) errorRow {
	return errorRow{is(e), kindStatus[e.Kind], e.Code, e.Title, e}
}

// leafRow classifies a leaf package's sentinel: leaves import no project package, so they
// make plain errors, and the API gives them their kind, code and title here.
func leafRow(target error, k fault.Kind, code, title string) errorRow {
	return errorRow{is(target), kindStatus[k], code, title, target}
}

// errorOrder lists every package's sentinel errors, most specific first: when a failure
// carries more than one (a trial gate that is also a batch-state refusal, an SD timeout
// around an unreachable backend), the first listed decides the answer. The core packages'
// sentinels are fault.Errors and carry their own kind, code and title; the leaves' are
// classified where they are listed. A test keeps every fault.Error in this list.
var errorOrder = []errorRow{
	faultRow(errMalformedJSON), faultRow(pipeline.ErrInvalidRecipe),
	leafRow(imaging.ErrTooManyPixels, fault.Unprocessable, "too-many-pixels", "Image has too many pixels"),
	faultRow(pipeline.ErrOverBudget),
	leafRow(imaging.ErrCorrupt, fault.Unprocessable, "undecodable-image", "Image cannot be decoded"),
	leafRow(imaging.ErrUnsupportedFormat, fault.Unsupported, "unsupported-format", "Unsupported image format"),
	leafRow(imaging.ErrInvalidOption, fault.Invalid, "invalid-option", "Invalid imaging option"),
	leafRow(imaging.ErrBusy, fault.Busy, "busy", "Image processing is busy"),
	leafRow(imaging.ErrClosed, fault.Unavailable, "shutting-down", "This instance is shutting down"),
	faultRow(errSpoolBusy),
	leafRow(fetch.ErrBadURL, fault.Invalid, "bad-url", "Bad source URL"),
	leafRow(fetch.ErrBlocked, fault.Unprocessable, "source-address-blocked", "Source address blocked"),
	leafRow(fetch.ErrTooLarge, fault.TooLarge, "source-too-large", "Source too large"),
	leafRow(fetch.ErrTooManyRedirects, fault.Unprocessable, "too-many-redirects", "Too many redirects"),
	leafRow(fetch.ErrUpstream, fault.Unprocessable, "source-fetch-failed", "Source fetch failed"),
	leafRow(fetch.ErrTimeout, fault.Timeout, "source-timeout", "Source fetch timed out"),
	leafRow(storage.ErrUnavailable, fault.Unavailable, "storage-unavailable", "Object storage unavailable"),
	faultRow(catalog.ErrNotFound), faultRow(jobs.ErrTrialGate), faultRow(jobs.ErrBatchState),
	leafRow(manifest.ErrInvalidManifest, fault.Invalid, "invalid-manifest", "Invalid manifest"),
	faultRow(catalog.ErrPromptBlocked),
	leafRow(imaging.ErrNoPlainBackground, fault.Unprocessable, "no-plain-background", "Background is not plain enough to cut out"),
	leafRow(sdclient.ErrUnknownName, fault.Unprocessable, "sd-unknown-name", "Name unknown to the Stable Diffusion backend"),
	leafRow(sdclient.ErrOutOfMemory, fault.Unavailable, "sd-out-of-memory", "Stable Diffusion backend out of memory"),
	leafRow(sdclient.ErrUnavailable, fault.Unavailable, "sd-backend-unavailable", "Stable Diffusion backend unavailable"),
	leafRow(sdclient.ErrTimeout, fault.Timeout, "sd-timeout", "Stable Diffusion backend timed out"),
	leafRow(sdclient.ErrBadRequest, fault.BadGateway, "sd-rejected", "Stable Diffusion backend rejected the call"),
	leafRow(sdclient.ErrBackend, fault.BadGateway, "sd-backend-error", "Stable Diffusion backend failed"),
	faultRow(catalog.ErrIdempotencyMismatch), faultRow(catalog.ErrInvalid), faultRow(catalog.ErrUnavailable),
	faultRow(catalog.ErrSDRequired), faultRow(catalog.ErrNotImplemented),
}

// errorTable is THE mapping from errors to HTTP answers; the first matching row wins: a
// request body over its limit, then the sentinels in errorOrder, then the context's.
var errorTable = func() []errorRow {
	rows := []errorRow{{match: as[*http.MaxBytesError](), status: http.StatusRequestEntityTooLarge, slug: "body-too-large", title: "Request body too large"}}
	rows = append(rows, errorOrder...)
	return append(rows,
		errorRow{match: is(context.DeadlineExceeded), status: http.StatusGatewayTimeout, slug: "timeout", title: "Request timed out"},
		errorRow{match: is(context.Canceled), status: statusClientClosedRequest, slug: "client-closed-request", title: "Client closed request"},
		errorRow{match: is(errClientGone), status: statusClientClosedRequest, slug: "client-closed-request", title: "Client closed request"},
	)
}()

// internalRow answers every error the table does not know.
var internalRow = errorRow{status: http.StatusInternalServerError, slug: "internal", title: "Internal server error"}

// problemFor maps err through errorTable. The detail is the error text of a 4xx,
// except where that could leak internals (blocked addresses, upstream failures);
// a 5xx gets a fixed detail per status (serverDetail).
func problemFor(err error) Problem {
	row := internalRow
	for _, r := range errorTable {
		if r.match(err) {
			row = r
			break
		}
	}
	if row.slug == internalRow.slug {
		if e := fault.Of(err); e != nil { // a sentinel faultOrder does not list yet
			row = faultRow(e)
		}
	}
	p := Problem{
		Type:   ProblemTypePrefix + row.slug,
		Title:  row.title,
		Status: row.status,
		Detail: err.Error(),
	}
	if p.Status >= 500 {
		// Never the error text: driver messages, hosts and endpoints stay in the log.
		p.Detail = serverDetail(row.slug, p.Status)
	}
	switch row.slug {
	case "source-address-blocked":
		p.Detail = "the source URL points to a private or otherwise non-public address"
	case "source-fetch-failed":
		var se *fetch.StatusError
		if errors.As(err, &se) {
			p.Detail = fmt.Sprintf("the source answered with HTTP status %d", se.StatusCode)
		} else {
			p.Detail = "the source could not be reached"
		}
	case "invalid-recipe":
		p.Errors = recipeFieldErrors(err)
	}
	return p
}

// serverDetail is the fixed detail of a 5xx problem: it says what kind of failure
// it was and where to look, never what the error said (that is logged with the
// request id).
func serverDetail(slug string, status int) string {
	const logged = "; it is logged under the request_id, quote it when reporting it"
	switch {
	case slug == "sd-backend-required":
		return "no Stable Diffusion backend is configured (PICTOR_SD_URLS)"
	case status == http.StatusServiceUnavailable:
		return "a service this request needs is unavailable, try again later" + logged
	case status == http.StatusGatewayTimeout:
		return "the request or a service it needs timed out" + logged
	case status == http.StatusBadGateway:
		return "a service this request needs answered with an error" + logged
	case status == http.StatusNotImplemented:
		return "this feature is not implemented"
	}
	return "the service hit an internal error" + logged
}

// recipeFieldErrors lists the fields of a *pipeline.ValidationError in err, or nil.
func recipeFieldErrors(err error) []FieldError {
	var ve *pipeline.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	out := make([]FieldError, 0, len(ve.Errors))
	for _, f := range ve.Errors {
		out = append(out, FieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

// newProblem builds a problem the table does not produce (routing, readiness).
func newProblem(status int, slug, title, detail string) Problem {
	return Problem{Type: ProblemTypePrefix + slug, Title: title, Status: status, Detail: detail}
}

// writeError answers r with the problem err maps to. Server-side failures are logged
// with the error; client cancellations are not answered at all beyond the status.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	switch {
	case p.Status == statusClientClosedRequest:
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "client closed request",
			slog.String("request_id", requestIDFrom(r.Context())), slog.String("error", err.Error()))
	case p.Status >= 500:
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", p.Status), slog.String("type", p.Type), slog.String("error", err.Error()))
	}
	switch p.Type {
	case ProblemTypePrefix + "busy", ProblemTypePrefix + "shutting-down":
		w.Header().Set("Retry-After", "1")
	case ProblemTypePrefix + "manifest-uploads-busy":
		w.Header().Set("Retry-After", spoolRetryAfter)
	}
	s.writeProblem(w, r, p)
}

// writeProblem writes p as application/problem+json.
func (s *server) writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	p.Instance = r.URL.Path
	p.RequestID = requestIDFrom(r.Context())
	body, err := json.Marshal(p)
	if err != nil { // only an extension member that cannot be JSON
		body = []byte(`{"type":"` + ProblemTypePrefix + `internal","title":"Internal server error","status":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	h.Del("ETag")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// notFound answers requests for unknown routes.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, newProblem(http.StatusNotFound, "not-found", "Not found",
		fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)))
}
