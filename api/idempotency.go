package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/pictor/pictor/catalog"
)

// Headers of the idempotency protocol (draft-ietf-httpapi-idempotency-key-header).
const (
	// IdempotencyKeyHeader names the client's key: at most 255 printable ASCII characters.
	IdempotencyKeyHeader = "Idempotency-Key"
	// IdempotentReplayedHeader is "true" on an answer replayed from the first request.
	IdempotentReplayedHeader = "Idempotent-Replayed"
	maxIdempotencyKey        = 255
)

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestHash identifies a request for the idempotency check: sha256 of the method, the
// path with its query (the raw upload form carries sku and recipe there), the Content-Type
// and the body, each length-prefixed so no two requests share an encoding.
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{
		[]byte(r.Method), []byte(r.URL.RequestURI()), []byte(r.Header.Get("Content-Type")), body,
	} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent honours Idempotency-Key on the route it wraps: a repeated request with the same
// key and the same method, path, content type and body gets the first answer again, marked
// Idempotent-Replayed: true; the same key on a different request is 422 idempotency-mismatch.
// Answers with status 500 and above are not kept, so a retry runs again.
func (s *server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyKeyHeader)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !validIdempotencyKey(key) {
			s.writeError(w, r, fmt.Errorf("%w: %s must be 1 to %d printable ASCII characters",
				catalog.ErrInvalid, IdempotencyKeyHeader, maxIdempotencyKey))
			return
		}
		body, err := readBody(w, r, s.cfg.MaxSourceBytes)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		hash := requestHash(r, body)
		prev, ok, err := s.catalog.LookupIdempotency(r.Context(), key)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("lookup idempotency key: %w", err))
			return
		}
		if ok {
			if prev.RequestHash != hash {
				s.writeError(w, r, fmt.Errorf("%w: %s %q was first used for another request",
					catalog.ErrIdempotencyMismatch, IdempotencyKeyHeader, key))
				return
			}
			s.replay(w, prev)
			return
		}

		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 || status == statusClientClosedRequest {
			return
		}
		if err := s.catalog.SaveIdempotency(r.Context(), key, catalog.IdempotentResponse{
			RequestHash: hash, Status: status, Body: rec.body.Bytes(),
		}); err != nil {
			// The answer is already sent; a retry will simply run again.
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "save idempotency key",
				slog.String("request_id", requestIDFrom(r.Context())), slog.String("error", err.Error()))
		}
	})
}

// replay writes a stored first answer. Every POST and PUT route answers JSON, so the content
// type follows from the status: problem+json for errors, JSON otherwise.
func (s *server) replay(w http.ResponseWriter, prev catalog.IdempotentResponse) {
	h := w.Header()
	h.Set(IdempotentReplayedHeader, "true")
	if len(prev.Body) > 0 {
		if prev.Status >= 400 {
			h.Set("Content-Type", ProblemContentType)
		} else {
			h.Set("Content-Type", "application/json")
		}
	}
	w.WriteHeader(prev.Status)
	_, _ = w.Write(prev.Body)
}

// recordingWriter passes an answer through and keeps a copy of its status and body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
