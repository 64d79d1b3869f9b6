package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/pictor/pictor/catalog"
)

// idempotencyStore keeps the answers of requests sent with an Idempotency-Key.
type idempotencyStore interface {
	LookupIdempotency(ctx context.Context, key string) (catalog.IdempotentResponse, bool, error)
	SaveIdempotency(ctx context.Context, key string, r catalog.IdempotentResponse) error
}

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

// openIdempotencyScope is the one idempotency scope of an open service (no API keys): all
// its callers are one principal.
const openIdempotencyScope = "open"

// idempotencyScope names the principal whose Idempotency-Keys a request shares: the API key
// it authenticated with, by the key's hash (stable across restarts, replicas and reordering
// of PICTOR_API_KEYS, unlike its index), or openIdempotencyScope on an open service. A
// console session shares the scope of the key it was made from. ok is false when the
// caller is unknown, which authorize never lets through to an idempotent route.
func (s *server) idempotencyScope(r *http.Request) (string, bool) {
	c, ok := callerFrom(r.Context())
	switch {
	case !ok:
		return "", false
	case c.key < 0:
		return openIdempotencyScope, true
	case c.key >= len(s.cfg.Keys):
		return "", false
	}
	h := s.cfg.Keys[c.key].Hash
	return "key:" + hex.EncodeToString(h[:]), true
}

// storedIdempotencyKey is the catalog key for a client's Idempotency-Key within scope: the
// hex SHA-256 of scope, a NUL and the client key. The NUL cannot occur in either part, so no
// two (scope, key) pairs collide, the stored key is always 64 characters, and the API key's
// hash is not written to the database as is.
func storedIdempotencyKey(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// idempotent honours Idempotency-Key on the route it wraps: a repeated request from the same
// caller (idempotencyScope) with the same key and the same method, path, content type and
// body gets the first answer again, marked Idempotent-Replayed: true; the same key on a
// different request is 422 idempotency-mismatch. Keys are scoped per caller: another API
// key's use of the same Idempotency-Key neither replays nor blocks. Answers with status 500
// and above are not kept, so a retry runs again.
func (s *server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clientKey := r.Header.Get(IdempotencyKeyHeader)
		if clientKey == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !validIdempotencyKey(clientKey) {
			s.writeError(w, r, fmt.Errorf("%w: %s must be 1 to %d printable ASCII characters",
				catalog.ErrInvalid, IdempotencyKeyHeader, maxIdempotencyKey))
			return
		}
		scope, ok := s.idempotencyScope(r)
		if !ok {
			// No known caller, so no scope to keep an answer in: never share one.
			next.ServeHTTP(w, r)
			return
		}
		key := storedIdempotencyKey(scope, clientKey)
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
					catalog.ErrIdempotencyMismatch, IdempotencyKeyHeader, clientKey))
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
