package sdtest

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Flavors a Server can imitate.
const (
	// FlavorA1111 is AUTOMATIC1111's stable-diffusion-webui (FastAPI with
	// pydantic v1, api_middleware error bodies with "errors"). It is the
	// default.
	FlavorA1111 = "a1111"
	// FlavorForge is stable-diffusion-webui-forge (pydantic v2 422 bodies,
	// error bodies with "message", plain {"detail"} for HTTP exceptions).
	FlavorForge = "forge"
)

// ErrInvalidOptions is wrapped by the errors Options.Validate returns.
var ErrInvalidOptions = errors.New("invalid sdtest options")

// Stand-in limits, so that tests cannot exhaust the process.
const (
	// MaxBodyBytes is the largest request body accepted (64 MiB); a larger
	// one gets 413.
	MaxBodyBytes = 64 << 20
	// MaxSide is the largest width or height of any image read or produced
	// (4096 pixels).
	MaxSide = 4096
	// MaxImages is the most pictures one generation may produce:
	// batch_size × n_iter (8).
	MaxImages = 8
	// MaxPixels is the most pixels one generation may produce over all its
	// pictures (32 Mpx).
	MaxPixels = 32 << 20
)

// Options configures a Server. The zero value is usable; New fills a zero
// StepLatency, an empty Flavor and nil Checkpoints with their defaults, but a
// zero PreviewEvery means previews off. Start from DefaultOptions to get
// previews.
type Options struct {
	// StepLatency is how long one sampler step takes (default 5ms). Upscales
	// take one step per 192-pixel tile, rembg and SAM a few steps.
	StepLatency time.Duration
	// Flavor is FlavorA1111 (default) or FlavorForge: it decides the shape
	// of error and 422 bodies.
	Flavor string
	// Auth, when set, is "user:pass" (or a comma-separated list of them),
	// as --api-auth: /sdapi/v1/* then needs HTTP Basic credentials and
	// answers 401 with WWW-Authenticate: Basic without them. The extension
	// routes stay open. Default "" (no auth).
	Auth string
	// PreviewEvery is how many sampler steps pass between live previews in
	// /progress current_image (DefaultOptions: 1). 0 turns previews off, as
	// under --medvram, and current_image is always null.
	PreviewEvery int
	// Checkpoints are the sd-models titles, "name.safetensors [hash10]"; a
	// title without the bracketed hash gets one derived from the name. The
	// first is loaded at start. Default: DefaultCheckpoints.
	Checkpoints []string
	// Logger receives one record per request (default: discard).
	Logger *slog.Logger
	// Faults are the wrong pictures the server starts returning on
	// purpose (default: none); SetFaults and PUT FaultsPath change them.
	Faults Faults
	// IgnoreUnknownFields makes request bodies ignore keys their model does
	// not declare, as the real WebUI and its extensions do (pydantic's
	// default): a misspelt field is then silently dropped. Default false:
	// the stand-in is strict, and answers 422 ("extra fields not permitted",
	// pydantic's Extra.forbid form) for an undeclared body key, nested model
	// key or override_settings option, so that a misspelt field fails a
	// test.
	IgnoreUnknownFields bool
	// RembgServer makes the stand-in rembg's standalone server (`rembg s
	// --no-ui`, rembg RembgVersion) instead of a WebUI: POST /api/remove
	// with a multipart file answering a raw PNG, GET /api/remove?url=...,
	// GET /openapi.json listing the models in its pattern, and FastAPI's
	// {"detail"} and pydantic v2 422 bodies. Flavor, Auth (the server has
	// none), PreviewEvery, Checkpoints and NoWebUI do not apply; unknown
	// form fields are a 422 unless IgnoreUnknownFields is set. Default
	// false.
	RembgServer bool
	// NoWebUI runs the stand-in as --api --nowebui: the UI-only routes
	// (/internal/progress, /internal/ping) answer 404. Default false: it
	// runs as --api with the UI, where POST /internal/progress reports
	// whether a task id (force_task_id) is queued, running or done.
	NoWebUI bool
}

// DefaultCheckpoints are the checkpoint titles a Server lists by default: an
// SDXL base model and an SD 1.5 inpainting model.
func DefaultCheckpoints() []string {
	return []string{
		"sd_xl_base_1.0.safetensors [31e35c80fc]",
		"realisticVisionV60B1_v51VAE-inpainting.safetensors [b7aa5c4ecd]",
	}
}

// DefaultOptions returns Options with every default filled in: 5ms steps,
// the a1111 flavor, no auth, a preview every step and DefaultCheckpoints.
func DefaultOptions() Options {
	return Options{
		StepLatency:  5 * time.Millisecond,
		Flavor:       FlavorA1111,
		PreviewEvery: 1,
		Checkpoints:  DefaultCheckpoints(),
	}
}

// Validate reports whether the options can run a Server. Zero values that
// New replaces with defaults are valid.
func (o Options) Validate() error {
	var errs []error
	if o.StepLatency < 0 {
		errs = append(errs, fmt.Errorf("step latency %v is negative: %w", o.StepLatency, ErrInvalidOptions))
	}
	if o.Flavor != "" && o.Flavor != FlavorA1111 && o.Flavor != FlavorForge {
		errs = append(errs, fmt.Errorf("flavor %q is not %q or %q: %w", o.Flavor, FlavorA1111, FlavorForge, ErrInvalidOptions))
	}
	if o.PreviewEvery < 0 {
		errs = append(errs, fmt.Errorf("preview every %d steps is negative: %w", o.PreviewEvery, ErrInvalidOptions))
	}
	if o.Auth != "" {
		if _, err := parseAuth(o.Auth); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Checkpoints != nil && len(o.Checkpoints) == 0 {
		errs = append(errs, fmt.Errorf("checkpoints list is empty: %w", ErrInvalidOptions))
	}
	for _, c := range o.Checkpoints {
		if strings.TrimSpace(c) == "" {
			errs = append(errs, fmt.Errorf("checkpoint title is empty: %w", ErrInvalidOptions))
		}
	}
	if o.RembgServer && o.Auth != "" {
		errs = append(errs, fmt.Errorf("auth is set, but rembg's server has no authentication: %w", ErrInvalidOptions))
	}
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.StepLatency == 0 {
		o.StepLatency = d.StepLatency
	}
	if o.Flavor == "" {
		o.Flavor = d.Flavor
	}
	if o.Checkpoints == nil {
		o.Checkpoints = d.Checkpoints
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// parseAuth reads an --api-auth value: "u1:p1,u2:p2". As in the WebUI, a
// colon inside a password is an error.
func parseAuth(s string) (map[string]string, error) {
	creds := map[string]string{}
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		parts := strings.Split(c, ":")
		if len(parts) != 2 || parts[0] == "" {
			return nil, fmt.Errorf("auth credential %q is not user:pass: %w", c, ErrInvalidOptions)
		}
		creds[parts[0]] = parts[1]
	}
	return creds, nil
}

// Failure is a kind of failure FailNext injects into generation calls.
type Failure int

const (
	// FailOOM makes the call fail with 500 and a CUDA OutOfMemoryError
	// body after one step; /memory counts it in cuda.events.oom and keeps
	// the VRAM it "allocated", as the WebUI does.
	FailOOM Failure = iota + 1
	// Fail500 makes the call fail with 500 and a RuntimeError body after
	// one step.
	Fail500
	// FailHang makes the call stall at step 0 while holding the queue
	// lock, until /interrupt (then it answers 200 with the step-0 partial
	// pictures) or Close. As in the WebUI, a client going away does not
	// end it.
	FailHang
)

// String returns the failure's name.
func (f Failure) String() string {
	switch f {
	case FailOOM:
		return "oom"
	case Fail500:
		return "500"
	case FailHang:
		return "hang"
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// StatusClientGone is the Call.Status of a call whose client went away
// before it was answered (the nginx convention).
const StatusClientGone = 499

// Call is one POST the server received, in arrival order. Calls to the
// locked endpoints (txt2img, img2img, both extras, refresh-checkpoints) fill
// Queued when they join the queue lock, Start when they get it and End when
// they release it; they stay zero before that. Other calls, and locked calls
// refused before the lock (401, 422, bad images), have Queued == Start ==
// arrival and End when answered.
type Call struct {
	// Endpoint is the request path, such as "/sdapi/v1/img2img".
	Endpoint string
	// Queued is when the call joined the queue lock.
	Queued time.Time
	// Start is when the call's work began (it got the lock).
	Start time.Time
	// End is when the call's work ended (it released the lock).
	End time.Time
	// Interrupted reports that /interrupt stopped the call's job early.
	Interrupted bool
	// Task is the task id of a txt2img or img2img call: its force_task_id,
	// or the id the server made up ("task(txt2img-XXXXXXX)"); "" for other
	// calls and for calls refused before they were queued.
	Task string
	// Status is the HTTP status answered (StatusClientGone when the client
	// left first); 0 while the call runs.
	Status int
}

// Server is a running stand-in WebUI. URL is its base address, such as
// "http://127.0.0.1:41234", with no trailing slash.
type Server struct {
	// URL is the base URL of the server; empty for NewUnstarted.
	URL string

	opts    Options
	creds   map[string]string
	models  []checkpoint
	log     *slog.Logger
	ts      *httptest.Server
	routes  map[string][]route
	lock    fifoLock
	closed  chan struct{}
	closeMu sync.Once

	mu        sync.Mutex
	st        progressState
	wake      chan struct{}
	calls     []*Call
	failures  []Failure
	active    int
	maxActive int
	options   map[string]any
	model     int
	ooms      int
	leaked    int64
	faults    Faults
	tasks     taskState
}

// New starts a Server on 127.0.0.1 with opts. It panics when opts are
// invalid (see Options.Validate), as httptest.NewServer panics when it
// cannot listen. Close it when done.
func New(opts Options) *Server {
	s, err := NewUnstarted(opts)
	if err != nil {
		panic(fmt.Sprintf("sdtest: %v", err))
	}
	s.ts = httptest.NewServer(s.Handler())
	s.URL = s.ts.URL
	return s
}

// NewUnstarted returns a Server that listens nowhere: serve Handler
// yourself (cmd/sdstub does). URL stays empty. Close still stops its jobs.
func NewUnstarted(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	opts = opts.withDefaults()
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		closed: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		models: makeCheckpoints(opts.Checkpoints),
		faults: opts.Faults,
	}
	if opts.Auth != "" {
		s.creds, _ = parseAuth(opts.Auth)
	}
	s.options = defaultWebUIOptions(s)
	s.st = progressState{jobTimestamp: "0"}
	s.routes = s.routeTable()
	if opts.RembgServer {
		s.routes = s.rembgRouteTable()
	}
	return s, nil
}

// Close interrupts the running job, makes queued jobs give up, and shuts the
// listener down (for a Server from New). It is safe to call more than once.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.closed)
		s.poke()
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// Handler returns the server's http.Handler, to mount in another server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// FailNext makes the next n generation calls (txt2img, img2img and both
// extras endpoints, counted when they get the queue lock) fail with kind.
// Calls add up: FailNext(FailOOM, 1) then FailNext(FailHang, 1) fails the
// next call with an OOM and the one after with a hang.
func (s *Server) FailNext(kind Failure, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, kind)
	}
}

// Calls returns a copy of the log of POST calls, in arrival order, including
// calls still running. Polls of POST /internal/progress are not logged: like
// GET /progress they read state and change nothing.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// MaxConcurrent returns the most generation jobs that ever ran at once. The
// queue lock keeps it at 1; it is counted independently of the lock.
func (s *Server) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive
}

func (s *Server) flavorForge() bool { return s.opts.Flavor == FlavorForge }

// strict reports whether undeclared request keys are refused.
func (s *Server) strict() bool { return !s.opts.IgnoreUnknownFields }

// poke wakes a job waiting on a step.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Server) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// route is one method on one path.
type route struct {
	method string
	auth   bool
	locked bool // takes the queue lock
	quiet  bool // a POST that is not logged in Calls
	h      func(w http.ResponseWriter, r *http.Request, c *Call)
}

func (s *Server) routeTable() map[string][]route {
	api := func(method string, h func(http.ResponseWriter, *http.Request, *Call)) route {
		return route{method: method, auth: true, h: h}
	}
	locked := func(h func(http.ResponseWriter, *http.Request, *Call)) route {
		return route{method: http.MethodPost, auth: true, locked: true, h: h}
	}
	ext := func(method string, h func(http.ResponseWriter, *http.Request, *Call)) route {
		return route{method: method, h: h}
	}
	routes := map[string][]route{
		"/sdapi/v1/txt2img":             {locked(s.handleTxt2Img)},
		"/sdapi/v1/img2img":             {locked(s.handleImg2Img)},
		"/sdapi/v1/extra-single-image":  {locked(s.handleExtraSingle)},
		"/sdapi/v1/extra-batch-images":  {locked(s.handleExtraBatch)},
		"/sdapi/v1/progress":            {api(http.MethodGet, s.handleProgress)},
		"/sdapi/v1/interrupt":           {api(http.MethodPost, s.handleInterrupt)},
		"/sdapi/v1/skip":                {api(http.MethodPost, s.handleSkip)},
		"/sdapi/v1/options":             {api(http.MethodGet, s.handleGetOptions), api(http.MethodPost, s.handleSetOptions)},
		"/sdapi/v1/sd-models":           {api(http.MethodGet, s.handleSDModels)},
		"/sdapi/v1/samplers":            {api(http.MethodGet, s.handleSamplers)},
		"/sdapi/v1/schedulers":          {api(http.MethodGet, s.handleSchedulers)},
		"/sdapi/v1/upscalers":           {api(http.MethodGet, s.handleUpscalers)},
		"/sdapi/v1/memory":              {api(http.MethodGet, s.handleMemory)},
		"/sdapi/v1/unload-checkpoint":   {api(http.MethodPost, s.handleNull)},
		"/sdapi/v1/reload-checkpoint":   {api(http.MethodPost, s.handleNull)},
		"/sdapi/v1/refresh-checkpoints": {locked(s.handleRefreshCheckpoints)},
		"/rembg":                        {ext(http.MethodPost, s.handleRembg)},
		"/sam/heartbeat":                {ext(http.MethodGet, s.handleSAMHeartbeat)},
		"/sam/sam-model":                {ext(http.MethodGet, s.handleSAMModels)},
		"/sam/sam-predict":              {ext(http.MethodPost, s.handleSAMPredict)},
		// The stand-in's own control route, not part of the WebUI.
		FaultsPath: {ext(http.MethodGet, s.handleGetFaults), ext(http.MethodPut, s.handlePutFaults)},
	}
	if s.flavorForge() {
		// Forge lists VAEs and text encoders together; it has no /sd-vae.
		routes["/sdapi/v1/sd-modules"] = []route{api(http.MethodGet, s.handleSDModules)}
	} else {
		routes["/sdapi/v1/sd-vae"] = []route{api(http.MethodGet, s.handleSDVAE)}
	}
	if !s.opts.NoWebUI {
		// The UI's own routes: not behind --api-auth.
		routes["/internal/progress"] = []route{{method: http.MethodPost, quiet: true, h: s.handleInternalProgress}}
		routes["/internal/ping"] = []route{ext(http.MethodGet, s.handlePing)}
	}
	return routes
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	began := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		s.log.Info("sdtest request", "method", r.Method, "path", r.URL.Path,
			"status", w.status, "duration", time.Since(began))
	}()
	routes, ok := s.routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, detailBody{Detail: "Not Found"})
		return
	}
	i := slices.IndexFunc(routes, func(rt route) bool { return rt.method == r.Method })
	if i < 0 {
		methods := make([]string, len(routes))
		for j, rt := range routes {
			methods[j] = rt.method
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, detailBody{Detail: "Method Not Allowed"})
		return
	}
	rt := routes[i]
	var c *Call
	if r.Method == http.MethodPost && !rt.quiet {
		c = &Call{Endpoint: r.URL.Path}
		if !rt.locked {
			c.Queued, c.Start = began, began
		}
		s.mu.Lock()
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		defer func() {
			status := w.status
			if status == 0 || r.Context().Err() != nil {
				// Unanswered, or answered to nobody.
				status = StatusClientGone
			}
			s.mu.Lock()
			c.Status = status
			if c.Queued.IsZero() {
				// Answered before it reached the queue lock.
				c.Queued, c.Start = began, began
			}
			if c.End.IsZero() {
				c.End = time.Now()
			}
			s.mu.Unlock()
		}()
	} else {
		c = &Call{Endpoint: r.URL.Path}
	}
	if rt.auth && s.creds != nil {
		if detail, ok := s.authorize(r); !ok {
			s.httpException(w, http.StatusUnauthorized, detail, map[string]string{"WWW-Authenticate": "Basic"})
			return
		}
	}
	rt.h(w, r, c)
}

// authorize checks HTTP Basic credentials the way FastAPI's HTTPBasic and
// the WebUI's auth dependency do, returning the 401 detail when they fail.
func (s *Server) authorize(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, param, found := strings.Cut(h, " ")
	if h == "" || !found || !strings.EqualFold(scheme, "basic") {
		return "Not authenticated", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(param))
	if err != nil {
		return "Invalid authentication credentials", false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "Invalid authentication credentials", false
	}
	want, known := s.creds[user]
	if !known {
		want = "\x00never"
	}
	if subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1 && known {
		return "", true
	}
	return "Incorrect username or password", false
}

// readBody reads a request body under MaxBodyBytes, answering 413 itself.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.httpException(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("sdtest: request body larger than %d bytes", MaxBodyBytes), nil)
			return nil, false
		}
		// The client went away mid-body; nobody reads the answer.
		return nil, false
	}
	return body, true
}

func (s *Server) handleNull(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, nil)
}
