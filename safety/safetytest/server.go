package safetytest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for the accepted formats
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"unicode/utf8"

	_ "golang.org/x/image/webp"
)

// Mode decides how a Server answers well-formed requests. Malformed ones are
// refused the same way in every mode.
type Mode int

const (
	// ModeClean answers every image with flagged false and small scores
	// (unless Options.FlagWhen flags it). It is the default.
	ModeClean Mode = iota
	// ModeFlagAll answers every image with flagged true and "sexual": 0.97.
	ModeFlagAll
	// ModeError answers 500 {"error": "model crashed"}; health answers 503.
	ModeError
	// ModeHang holds every request, health included, until the client's
	// context ends or the Server is closed (then it answers 503).
	ModeHang
	// ModeGarbage answers 200 {"ok": true}, which has no "flagged" (health
	// too, which has no "status").
	ModeGarbage
)

// String returns the mode's name, e.g. "clean".
func (m Mode) String() string {
	switch m {
	case ModeClean:
		return "clean"
	case ModeFlagAll:
		return "flag-all"
	case ModeError:
		return "error"
	case ModeHang:
		return "hang"
	case ModeGarbage:
		return "garbage"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Limits of the contract, as the stand-in enforces them.
const (
	// DefaultMaxImageBytes is the default Options.MaxImageBytes (32 MiB).
	DefaultMaxImageBytes = 32 << 20
	// MaxIDBytes is the longest id accepted (200 bytes); a longer one gets
	// 400.
	MaxIDBytes = 200
	// MaxPixels is the most pixels an image may have (64 Mpx); a larger one
	// gets 413 before it is decoded.
	MaxPixels = 64 << 20
	// DefaultModel is the default Options.Model.
	DefaultModel = "safetytest/1"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// FlagWhen, when set, is called with every decoded image in ModeClean;
	// when it returns true the verdict is flagged as in ModeFlagAll. It
	// must be safe for concurrent use. Default nil (nothing flagged).
	FlagWhen func(img image.Image) bool
	// MaxImageBytes is the largest image accepted, once base64-decoded; a
	// larger one gets 413, and so does a body longer than 1.5 times it plus
	// 4 KiB (48 MiB by default, as the contract asks). Values <= 0 mean the
	// default, 32 MiB.
	MaxImageBytes int64
	// Model is the "model" reported in verdicts and health. Default
	// "safetytest/1".
	Model string
}

// Server is a running stand-in. Create it with New and Close it when done.
type Server struct {
	opts      Options
	bodyLimit int64
	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once
	// hangs and unhangs receive a value (without blocking) each time a
	// handler starts and stops hanging, so that tests of this package can
	// wait for it.
	hangs, unhangs chan struct{}

	mu     sync.Mutex
	mode   Mode
	calls  int
	lastID string
}

// New starts a Server on a loopback port.
func New(opts Options) *Server {
	if opts.MaxImageBytes <= 0 {
		opts.MaxImageBytes = DefaultMaxImageBytes
	}
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	s := &Server{
		opts:      opts,
		bodyLimit: opts.MaxImageBytes/2*3 + 4096, // room for base64 (4/3) and the id
		done:      make(chan struct{}),
		hangs:     make(chan struct{}, 64),
		unhangs:   make(chan struct{}, 64),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/classify", s.classify)
	mux.HandleFunc("/v1/health", s.health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route "+r.URL.Path)
	})
	s.ts = httptest.NewServer(mux)
	return s
}

// URL returns the base URL, e.g. "http://127.0.0.1:41234", to put in the
// client's config.
func (s *Server) URL() string { return s.ts.URL }

// Close releases hanging requests, then stops the server and waits for its
// handlers to return. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// SetMode changes how later requests are answered (requests already past
// their mode check keep theirs).
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

// Calls returns how many requests reached /v1/classify, well-formed or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// LastID returns the id of the last classify request whose JSON was valid
// ("" if it had none, or before the first).
func (s *Server) LastID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

func (s *Server) currentMode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode
}

// scores returns the category scores the stand-in reports.
func scores(flagged bool) map[string]float64 {
	sexual := 0.02
	if flagged {
		sexual = 0.97
	}
	return map[string]float64{"sexual": sexual, "violence": 0.01, "minors": 0, "hate": 0, "self_harm": 0}
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed, use POST")
		return
	}
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	img, status, err := s.readImage(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	switch s.currentMode() {
	case ModeFlagAll:
		s.writeVerdict(w, true)
	case ModeError:
		writeError(w, http.StatusInternalServerError, "model crashed")
	case ModeHang:
		s.hang(w, r)
	case ModeGarbage:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	default:
		s.writeVerdict(w, s.opts.FlagWhen != nil && s.opts.FlagWhen(img))
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed, use GET")
		return
	}
	switch s.currentMode() {
	case ModeError:
		writeError(w, http.StatusServiceUnavailable, "model crashed")
	case ModeHang:
		s.hang(w, r)
	case ModeGarbage:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": s.opts.Model})
	}
}

// hang waits for the client to give up or the server to close.
func (s *Server) hang(w http.ResponseWriter, r *http.Request) {
	select {
	case s.hangs <- struct{}{}:
	default:
	}
	defer func() {
		select {
		case s.unhangs <- struct{}{}:
		default:
		}
	}()
	select {
	case <-r.Context().Done():
	case <-s.done:
		writeError(w, http.StatusServiceUnavailable, "shutting down")
	}
}

func (s *Server) writeVerdict(w http.ResponseWriter, flagged bool) {
	writeJSON(w, http.StatusOK, map[string]any{"flagged": flagged, "categories": scores(flagged), "model": s.opts.Model})
}

// readImage reads and checks the body; on failure it returns the status to
// answer with.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request) (image.Image, int, error) {
	if r.ContentLength > s.bodyLimit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes is over the %d byte limit", r.ContentLength, s.bodyLimit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyLimit))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body is over the %d byte limit", s.bodyLimit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("malformed JSON: %w", err)
	}
	if fields == nil {
		return nil, http.StatusBadRequest, errors.New("malformed JSON: body is not an object")
	}
	for k := range fields {
		if k != "image" && k != "id" {
			return nil, http.StatusBadRequest, fmt.Errorf("unknown field %q (fields are \"image\" and \"id\")", k)
		}
	}
	var id string
	if raw, ok := fields["id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, http.StatusBadRequest, errors.New(`"id" is not a string`)
		}
		if len(id) > MaxIDBytes {
			return nil, http.StatusBadRequest, fmt.Errorf(`"id" of %d bytes is over %d`, len(id), MaxIDBytes)
		}
		if !utf8.ValidString(id) {
			return nil, http.StatusBadRequest, errors.New(`"id" is not valid UTF-8`)
		}
	}
	var b64 *string
	if raw, ok := fields["image"]; ok {
		if err := json.Unmarshal(raw, &b64); err != nil {
			return nil, http.StatusBadRequest, errors.New(`"image" is not a string`)
		}
	}
	s.mu.Lock()
	s.lastID = id
	s.mu.Unlock()
	if b64 == nil || *b64 == "" {
		return nil, http.StatusUnprocessableEntity, errors.New(`"image" is required`)
	}
	if int64(base64.StdEncoding.DecodedLen(len(*b64))) > s.opts.MaxImageBytes+2 {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("image is over the %d byte limit", s.opts.MaxImageBytes)
	}
	data, err := base64.StdEncoding.Strict().DecodeString(*b64)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf(`"image" is not standard base64: %w`, err)
	}
	if int64(len(data)) > s.opts.MaxImageBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("image of %d bytes is over the %d byte limit", len(data), s.opts.MaxImageBytes)
	}
	return decode(data)
}

// decode accepts PNG, JPEG and WebP only, by magic number, and decodes the
// whole image, as a model would.
func decode(data []byte) (image.Image, int, error) {
	want := sniff(data)
	if want == "" {
		return nil, http.StatusBadRequest, errors.New("image is not PNG, JPEG or WebP")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("undecodable %s image: %w", want, err)
	}
	if format != want {
		return nil, http.StatusBadRequest, fmt.Errorf("image is %s by its magic number but decodes as %s", want, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("image of %dx%d pixels is over the %d pixel limit", cfg.Width, cfg.Height, MaxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("undecodable %s image: %w", want, err)
	}
	return img, 0, nil
}

// sniff names the format by magic number: "png", "jpeg", "webp" or "".
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// checkJSONType accepts application/json with an optional utf-8 charset.
func checkJSONType(ct string) error {
	if ct == "" {
		return errors.New("content type is missing, want application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("content type %q is not application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("charset %q is not utf-8", cs)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
