// Package fault is Pictor's error vocabulary: a small set of kinds of failure that the core
// packages classify their errors by, and that the API alone turns into HTTP answers.
//
// A core package (pipeline, catalog, jobs, api) makes its sentinel errors with New: each
// has a Kind, a stable Code (the API's problem type) and a Title, and callers wrap it with
// their own detail (fmt.Errorf("...: %w", catalog.ErrInvalid)), so errors.Is still finds it.
// The leaves (imaging, fetch, storage, sdclient, manifest, ...) import no project package and
// keep plain sentinels; the API gives those their kind where it lists them. Nothing below the
// API says which HTTP status a kind is.
//
// fault imports nothing of the project.
package fault

import (
	"errors"
	"sync"
)

// Kind is what sort of failure an error is, as a caller must react to it.
type Kind int

// The kinds. Internal is the zero value: a fault of ours, or one not classified.
const (
	// Internal is a failure the caller cannot fix: a bug, an unclassified error.
	Internal Kind = iota
	// Invalid is a request that cannot be acted on as given (a bad field, a bad recipe).
	Invalid
	// NotFound is a request for something that does not exist.
	NotFound
	// Conflict is a request the current state of things does not allow.
	Conflict
	// Unprocessable is well-formed input whose content cannot be processed: an image
	// that does not decode, a source address refused, a prompt blocked.
	Unprocessable
	// Unsupported is input of a type that is refused (a format).
	Unsupported
	// TooLarge is input over a size limit.
	TooLarge
	// Busy is work refused for want of capacity now: try again shortly.
	Busy
	// Unavailable is a service the request needs being down or missing.
	Unavailable
	// Timeout is a service the request needs taking too long.
	Timeout
	// BadGateway is a service the request needs answering with an error.
	BadGateway
	// NotImplemented is a feature this process does not have.
	NotImplemented
)

var kindNames = [...]string{"internal", "invalid", "not found", "conflict", "unprocessable", "unsupported",
	"too large", "busy", "unavailable", "timeout", "bad gateway", "not implemented"}

// String names the kind.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Error is a sentinel error of a kind. Compare with errors.Is; a package wraps it with
// its detail. Make one with New, at package level.
type Error struct {
	// Kind is what sort of failure it is.
	Kind Kind
	// Code names the error stably (lower-case words joined by "-"): the API's problem
	// type, so clients may rely on it.
	Code string
	// Title is a short summary, the same for every occurrence.
	Title string
	msg   string
}

// Error is the message the sentinel was made with.
func (e *Error) Error() string { return e.msg }

var (
	mu  sync.Mutex
	all []*Error
)

// New makes a sentinel error of kind k with its stable code, title and message, and
// records it for All. Call it at package level.
func New(k Kind, code, title, msg string) *Error {
	e := &Error{Kind: k, Code: code, Title: title, msg: msg}
	mu.Lock()
	all = append(all, e)
	mu.Unlock()
	return e
}

// All lists every Error made with New so far, in the order they were made.
func All() []*Error {
	mu.Lock()
	defer mu.Unlock()
	return append([]*Error(nil), all...)
}

// Of returns the first *Error in err's chain (errors.As order), or nil.
func Of(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
