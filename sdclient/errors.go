package sdclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Sentinel errors. Every error a Client or Pool returns for a failed call
// matches at most one of ErrOutOfMemory, ErrBadRequest, ErrUnauthorized,
// ErrBackend, ErrUnavailable and ErrTimeout with errors.Is (ErrNotFound and
// ErrUnknownName also match ErrBadRequest), or is the caller's context error.
var (
	// ErrOutOfMemory means the backend ran out of GPU memory (A1111
	// OutOfMemoryError). The same call may succeed on another backend.
	ErrOutOfMemory = errors.New("sd backend out of memory")
	// ErrBadRequest means the backend refused the request itself: a 422
	// validation failure, a 404, an invalid image, an unknown upscaler or
	// model. Do not retry it unchanged.
	ErrBadRequest = errors.New("sd bad request")
	// ErrUnauthorized means the backend refused the --api-auth credentials
	// (401 or 403).
	ErrUnauthorized = errors.New("sd unauthorized")
	// ErrBackend is any other server-side failure (5xx, an unreadable
	// response).
	ErrBackend = errors.New("sd backend error")
	// ErrUnavailable means the backend could not be reached (connection
	// refused or reset, DNS failure), or that a Pool has no usable backend.
	ErrUnavailable = errors.New("sd backend unavailable")
	// ErrTimeout means a call took longer than its time limit. Its outcome
	// is unknown: the backend may still have done the work, so do not
	// re-send it blindly.
	ErrTimeout = errors.New("sd call timed out")
	// ErrNotFound means the route does not exist on the backend (404 "Not
	// Found"), typically because an extension such as rembg or
	// segment-anything is not installed. It also matches ErrBadRequest.
	ErrNotFound = errors.New("sd route not found")
	// ErrUnknownName means a sampler, checkpoint, upscaler or rembg model
	// name is not offered by the backend (see Client.CheckNames). It also
	// matches ErrBadRequest.
	ErrUnknownName = errors.New("sd unknown name")
	// ErrPoolClosed is returned by Pool.Do after Pool.Close.
	ErrPoolClosed = errors.New("sd pool closed")
)

// ValidationIssue is one entry of a 422 validation list, in either the
// pydantic v1 form (A1111) or the v2 form (Forge).
type ValidationIssue struct {
	// Loc is the location of the bad value, e.g. ["body", "steps"]; list
	// indexes are given as decimal strings.
	Loc []string
	// Msg is the human-readable message.
	Msg string
	// Type is the error type, e.g. "type_error.integer" (v1) or
	// "int_parsing" (v2).
	Type string
	// Input is the offending value (pydantic v2 only); default nil.
	Input json.RawMessage
}

// String formats the issue as "body.steps: value is not a valid integer".
func (v ValidationIssue) String() string {
	return strings.Join(v.Loc, ".") + ": " + v.Msg
}

// APIError is an error response from a backend. Its sentinel (see Is) is
// derived from the status and the error class.
type APIError struct {
	// Endpoint is the route that failed, e.g. "img2img" or "rembg".
	Endpoint string
	// Status is the HTTP status code.
	Status int
	// Kind is the server's exception class, e.g. "OutOfMemoryError" or
	// "HTTPException"; "" when the body did not name one.
	Kind string
	// Detail is the `detail` string of the body; "" if absent.
	Detail string
	// Message is A1111's `errors` or Forge's `message` text, or the start
	// of a body that was not JSON.
	Message string
	// Validation lists the issues of a 422 response; nil otherwise.
	Validation []ValidationIssue
}

// Error formats the error in one lower-case line.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("sd ")
	b.WriteString(e.Endpoint)
	b.WriteString(": status ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Kind != "" {
		b.WriteString(" ")
		b.WriteString(e.Kind)
	}
	for _, s := range []string{e.Detail, e.Message} {
		if s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	for i, v := range e.Validation {
		if i == 3 {
			fmt.Fprintf(&b, " (and %d more)", len(e.Validation)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Is reports whether the error belongs to target's class: one of
// ErrOutOfMemory, ErrBadRequest, ErrUnauthorized, ErrBackend or ErrNotFound
// (which is also ErrBadRequest).
func (e *APIError) Is(target error) bool {
	c := e.class()
	return target == c || (c == ErrNotFound && target == ErrBadRequest)
}

// class maps the response to its sentinel.
func (e *APIError) class() error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return ErrUnauthorized
	case e.Status == http.StatusNotFound && (e.Detail == "Not Found" || (e.Detail == "" && e.Kind == "")):
		return ErrNotFound
	case e.isOOM():
		return ErrOutOfMemory
	case e.Status >= 400 && e.Status < 500:
		return ErrBadRequest
	case e.isBadInput():
		return ErrBadRequest
	default:
		return ErrBackend
	}
}

func (e *APIError) isOOM() bool {
	if strings.HasSuffix(e.Kind, "OutOfMemoryError") {
		return true
	}
	text := strings.ToLower(e.Detail + " " + e.Message)
	return strings.Contains(text, "out of memory")
}

func (e *APIError) isBadInput() bool {
	switch e.Kind {
	case "UnidentifiedImageError", "PIL.UnidentifiedImageError":
		return true
	}
	// 500 responses that the WebUI gives for a request it cannot serve, not
	// for a fault of its own (sd-webui-api.md §1).
	markers := []string{
		"invalid encoded image",
		"could not find upscaler",
		"images do not match",
		"init image not found",
		"cannot identify image file",
		"not found", // RuntimeError: model 'x' not found
	}
	text := strings.ToLower(e.Detail + " " + e.Message)
	for _, m := range markers {
		if strings.Contains(text, m) {
			return true
		}
	}
	return false
}

// errorBody covers every error body shape: A1111 {error, detail, body,
// errors}, Forge {error, detail, body, message} and FastAPI {detail} where
// detail is a string, a validation list or an object.
type errorBody struct {
	Error   string          `json:"error"`
	Detail  json.RawMessage `json:"detail"`
	Errors  json.RawMessage `json:"errors"`
	Message json.RawMessage `json:"message"`
}

type rawIssue struct {
	Loc   []json.RawMessage `json:"loc"`
	Msg   string            `json:"msg"`
	Type  string            `json:"type"`
	Input json.RawMessage   `json:"input"`
}

// maxErrorText bounds the text copied into an APIError.
const maxErrorText = 2000

// parseAPIError builds an APIError from a non-2xx response body.
func parseAPIError(endpoint string, status int, body []byte) *APIError {
	e := &APIError{Endpoint: endpoint, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		e.Message = clip(strings.TrimSpace(string(body)))
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
		return e
	}
	e.Kind = eb.Error
	e.Message = clip(firstText(eb.Errors, eb.Message))
	d := bytes.TrimSpace(eb.Detail)
	switch {
	case len(d) == 0 || bytes.Equal(d, []byte("null")):
	case d[0] == '"':
		var s string
		_ = json.Unmarshal(d, &s)
		e.Detail = clip(s)
	case d[0] == '[':
		var issues []rawIssue
		if json.Unmarshal(d, &issues) == nil {
			for _, ri := range issues {
				v := ValidationIssue{Msg: ri.Msg, Type: ri.Type, Input: ri.Input}
				for _, l := range ri.Loc {
					v.Loc = append(v.Loc, jsonText(l))
				}
				e.Validation = append(e.Validation, v)
			}
		} else {
			e.Detail = clip(string(d))
		}
	default:
		e.Detail = clip(string(d))
	}
	if e.Kind == "" && e.Detail == "" && e.Message == "" && e.Validation == nil {
		e.Message = http.StatusText(status)
	}
	return e
}

// firstText returns the first non-empty value as text: strings unquoted,
// anything else as JSON.
func firstText(vals ...json.RawMessage) string {
	for _, v := range vals {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || bytes.Equal(v, []byte("null")) {
			continue
		}
		if s := jsonText(v); s != "" {
			return s
		}
	}
	return ""
}

func jsonText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

func clip(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	return s[:maxErrorText] + "…"
}
