package safety

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error Classify and Health return matches exactly one
// of ErrUnavailable, ErrRejected and ErrProtocol with errors.Is; New and
// Config.Validate return errors matching ErrInvalidConfig.
var (
	// ErrUnavailable means the classifier gave no verdict this time: the
	// connection failed, the call outlived Config.Timeout or the caller's
	// context (the error then also matches that context's error), the
	// response broke off, or the server answered 5xx, 429 or 408. The same
	// image may be classified later.
	ErrUnavailable = errors.New("safety classifier unavailable")
	// ErrRejected means the classifier refused the image (400, 413 or 422),
	// or the client refused to send it because the contract forbids it: an
	// empty image, one larger than Config.MaxImageBytes, an id longer than
	// MaxIDBytes or not valid UTF-8. Sending it again unchanged will not help.
	ErrRejected = errors.New("safety classifier rejected the image")
	// ErrProtocol means the server does not follow docs/safety-api.md: a 200
	// whose body is not a JSON object, lacks a boolean "flagged", has a score
	// outside 0..1 or exceeds MaxResponseBytes; or a status the contract does
	// not use (1xx, 2xx other than 200, 3xx, 401, 403, 404, 405, 415, ...),
	// which usually means a wrong URL or a proxy in the way.
	ErrProtocol = errors.New("safety classifier protocol error")
	// ErrInvalidConfig is returned (wrapped) by Config.Validate and New.
	ErrInvalidConfig = errors.New("invalid safety config")
)

// StatusError is a non-200 answer from the classifier. It matches the
// sentinel its status maps to (see Is).
type StatusError struct {
	// Op is the call that failed: "classify" or "health".
	Op string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the "error" string of a JSON error body, or else the start
	// of the body; at most MaxErrorTextBytes bytes, "" for an empty body.
	Message string
}

// Error formats the error in one line, e.g.
// "safety classify: status 500: model crashed".
func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("safety ")
	b.WriteString(e.Op)
	b.WriteString(": status ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is the sentinel of the status: ErrUnavailable
// for 5xx, 429 and 408; ErrRejected for 400, 413 and 422 answered to
// classify; ErrProtocol for anything else.
func (e *StatusError) Is(target error) bool {
	return target == e.class()
}

func (e *StatusError) class() error {
	switch s := e.StatusCode; {
	case s >= 500 && s <= 599, s == http.StatusTooManyRequests, s == http.StatusRequestTimeout:
		return ErrUnavailable
	case e.Op == opClassify && (s == http.StatusBadRequest || s == http.StatusRequestEntityTooLarge || s == http.StatusUnprocessableEntity):
		return ErrRejected
	default:
		return ErrProtocol
	}
}

// MaxErrorTextBytes bounds the server text copied into an error (200 bytes).
const MaxErrorTextBytes = 200

// errorText returns the message of an error body: its JSON "error" string
// when it has one, else the body itself, made one line and clipped.
func errorText(body []byte) string {
	var eb struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return clip(eb.Error)
	}
	return clip(string(body))
}

// clip makes s printable on one line and cuts it to at most
// MaxErrorTextBytes bytes on a rune boundary.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= MaxErrorTextBytes {
		return s
	}
	cut := MaxErrorTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
