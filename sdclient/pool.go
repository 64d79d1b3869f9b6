package sdclient

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrInvalidConfig is returned by PoolConfig.Validate and NewPool.
var ErrInvalidConfig = errors.New("invalid sd pool config")

// interruptTimeout bounds the POST /internal/progress and POST /interrupt
// sent after a call is abandoned.
const interruptTimeout = 10 * time.Second

// taskPollEvery is how often a Pool asks a backend about an abandoned task
// that is still queued there.
const taskPollEvery = 200 * time.Millisecond

// unknownTaskGrace is how long an abandoned task the backend has not heard
// of is waited for (its request may still be on its way) before the
// backend is handed back.
const unknownTaskGrace = 5 * time.Second

// Lane is a priority class of Pool work.
type Lane int

// The lanes, in priority order.
const (
	// Interactive work (designers, synchronous renders) is always served
	// before any Batch work.
	Interactive Lane = iota
	// Batch work is served when no Interactive work waits.
	Batch
)

// String returns "interactive" or "batch", the queue_length label.
func (l Lane) String() string {
	switch l {
	case Interactive:
		return "interactive"
	case Batch:
		return "batch"
	}
	return fmt.Sprintf("lane(%d)", int(l))
}

// PoolConfig configures a Pool. Start from DefaultPoolConfig.
type PoolConfig struct {
	// Kind is the kind of every backend of the Pool: KindWebUI (the
	// default) or KindRembg. It decides the Client fn gets and the health
	// check; queueing, lanes, circuit, GPU-seconds and metrics are the
	// same for both.
	Kind Kind
	// HealthInterval is the time between health checks; default 10 s.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; default 5 s.
	HealthTimeout time.Duration
	// FailureThreshold is the number of consecutive backend failures
	// (ErrBackend, ErrUnavailable, ErrOutOfMemory, ErrTimeout) that opens a
	// backend's circuit; default 3.
	FailureThreshold int
	// OpenFor is how long an open circuit routes no calls to the backend;
	// after it one probe call is let through, which closes the circuit on
	// success or opens it again. Default 30 s.
	OpenFor time.Duration
	// CallTimeout bounds one Do call on a backend; when it passes, the
	// backend is interrupted and Do returns ErrTimeout. Default 10 minutes.
	CallTimeout time.Duration
	// HTTPClient is used for every backend; default nil builds one with a
	// 10 s connect timeout and no overall timeout.
	HTTPClient *http.Client
}

// DefaultPoolConfig returns the defaults: health checks every 10 s with a
// 5 s timeout, circuit open after 3 consecutive failures for 30 s, calls
// bounded at 10 minutes.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		HealthInterval:   10 * time.Second,
		HealthTimeout:    5 * time.Second,
		FailureThreshold: 3,
		OpenFor:          30 * time.Second,
		CallTimeout:      10 * time.Minute,
	}
}

// Validate reports every invalid field.
func (c PoolConfig) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%w: %s must be positive, got %s", ErrInvalidConfig, name, d))
		}
	}
	positive("HealthInterval", c.HealthInterval)
	positive("HealthTimeout", c.HealthTimeout)
	positive("OpenFor", c.OpenFor)
	positive("CallTimeout", c.CallTimeout)
	if c.Kind != KindWebUI && c.Kind != KindRembg {
		errs = append(errs, fmt.Errorf("%w: unknown backend %s", ErrInvalidConfig, c.Kind))
	}
	if c.FailureThreshold < 1 {
		errs = append(errs, fmt.Errorf("%w: FailureThreshold must be at least 1, got %d", ErrInvalidConfig, c.FailureThreshold))
	}
	return errors.Join(errs...)
}

// Usage describes one Do call.
type Usage struct {
	// Backend is the Name() of the backend that served the call; "" when
	// none did.
	Backend string
	// GPUSeconds is the wall time the backend spent on the call's GPU work
	// (generation, upscaling, rembg, SAM requests; overlapping requests
	// counted once), including work that was interrupted.
	GPUSeconds float64
	// Queued is the time spent waiting for a backend.
	Queued time.Duration
}

// BackendStatus is a snapshot of one backend, for /v1/backends.
type BackendStatus struct {
	// URL is the backend URL, without credentials.
	URL string `json:"url"`
	// Name is host:port, the metrics label.
	Name string `json:"name"`
	// Kind is "webui" or "rembg" (a standalone rembg server).
	Kind Kind `json:"kind"`
	// Healthy is the result of the last health check (true before the
	// first one).
	Healthy bool `json:"healthy"`
	// CircuitOpen is true while the circuit is open or half-open.
	CircuitOpen bool `json:"circuit_open"`
	// InFlight is the number of Pictor calls running there, 0 or 1.
	InFlight int `json:"in_flight"`
	// Queued is the number of calls waiting in the pool for any backend.
	Queued int `json:"queued"`
	// GPUSeconds is the total GPU-seconds of the calls served.
	GPUSeconds float64 `json:"gpu_seconds"`
	// Calls is the number of Do calls served.
	Calls int `json:"calls"`
	// Models are the checkpoint titles (a rembg server: its models) of the
	// last health check.
	Models []string `json:"models"`
	// LastError is the last error seen from the backend; "" if none.
	LastError string `json:"last_error,omitempty"`
}

// member is one backend of a Pool. Fields after client are guarded by
// Pool.mu.
type member struct {
	backend Backend
	name    string
	client  *Client

	healthy    bool
	busy       bool
	failures   int
	open       bool
	openUntil  time.Time
	gpuSeconds float64
	calls      int
	models     []string
	lastError  string
}

// usable reports whether calls may be routed to m (now or once it is
// free): healthy, and its circuit closed or due for a probe.
func (m *member) usable(now time.Time) bool {
	return m.healthy && (!m.open || !now.Before(m.openUntil))
}

// waiter is a Do call waiting for a backend.
type waiter struct {
	lane Lane
	ch   chan grant // capacity 1: dispatch never blocks
	elem *list.Element
}

// grant hands a waiter a backend, or an error.
type grant struct {
	m   *member
	err error
}

// Pool runs calls on a set of backends of one Kind, one call in flight per
// backend, queueing the rest with Interactive work first. A service with
// WebUI backends and rembg servers runs one Pool of each; they share
// metrics (by backend and kind) on one Registerer.
type Pool struct {
	cfg      PoolConfig
	log      *slog.Logger
	met      *poolMetrics
	members  []*member
	stopOnce sync.Once
	wg       sync.WaitGroup

	// now is the clock of circuit decisions: time.Now, replaced in tests.
	now func() time.Time

	// done is closed by Close; it stops watchers of abandoned tasks.
	done chan struct{}

	mu           sync.Mutex
	queues       [2]*list.List
	closed       bool
	started      bool
	healthCancel context.CancelFunc
}

// NewPool returns a Pool over backends. logger may be nil (discard); reg
// may be nil (metrics are kept but not exported). Call Start to run health
// checks and Close when done.
func NewPool(backends []Backend, cfg PoolConfig, logger *slog.Logger, reg prometheus.Registerer) (*Pool, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("%w: no backends", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	met, err := newPoolMetrics(reg, cfg.Kind)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = newHTTPClient()
	}
	p := &Pool{cfg: cfg, log: logger, met: met, now: time.Now, done: make(chan struct{}), queues: [2]*list.List{list.New(), list.New()}}
	seen := make(map[string]bool)
	for _, b := range backends {
		c := newClient(b, hc, cfg.Kind)
		if c.err != nil {
			return nil, c.err
		}
		name := c.backend.Name()
		if seen[name] {
			return nil, fmt.Errorf("%w: backend %s listed twice", ErrInvalidConfig, name)
		}
		seen[name] = true
		c = c.withObserver(&callMetrics{met: met, backend: name})
		p.members = append(p.members, &member{backend: c.backend, name: name, client: c, healthy: true})
		met.up.WithLabelValues(name).Set(1)
		met.circuit.WithLabelValues(name).Set(0)
		met.gpu.WithLabelValues(name)
	}
	for _, l := range []Lane{Interactive, Batch} {
		met.queue.WithLabelValues(l.String()).Set(0)
	}
	return p, nil
}

// Do waits for a free, healthy backend (Interactive before Batch, then
// first come first served), runs fn with a Client for it, and returns the
// backend's Usage with fn's error. fn's context ends after CallTimeout.
//
// If ctx ends while fn's txt2img or img2img call is running, Do returns
// ctx.Err() (ErrTimeout when CallTimeout passed) and stops that generation
// without touching anyone else's work: /sdapi/v1/interrupt is global, so it
// is sent only when POST /internal/progress says the backend's current job
// is the call's own task (its force_task_id). If the task is still queued
// behind another client's job, Do returns at once and a watcher keeps the
// backend from other Pool calls until the task starts (then interrupts it)
// or ends, for at most CallTimeout. A backend without /internal/progress
// (--nowebui) cannot say whose job runs: nothing is interrupted there, and
// neither is an abandoned upscale (extras has no task id) or rembg call
// (a rembg server cannot be interrupted; it finishes the picture). Do never
// re-sends anything. When no backend is usable (unhealthy or circuit open)
// it fails at once with ErrUnavailable.
func (p *Pool) Do(ctx context.Context, lane Lane, fn func(ctx context.Context, c *Client) error) (Usage, error) {
	if lane != Interactive && lane != Batch {
		return Usage{}, fmt.Errorf("sd pool: unknown %s", lane)
	}
	if err := ctx.Err(); err != nil {
		return Usage{}, err
	}
	enqueued := time.Now()
	w := &waiter{lane: lane, ch: make(chan grant, 1)}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return Usage{}, ErrPoolClosed
	case !p.anyUsableLocked(p.now()):
		p.mu.Unlock()
		return Usage{}, fmt.Errorf("sd pool: %w: no healthy backend with a closed circuit", ErrUnavailable)
	}
	w.elem = p.queues[lane].PushBack(w)
	p.dispatchLocked()
	p.mu.Unlock()

	var g grant
	select {
	case g = <-w.ch:
	case <-ctx.Done():
		p.mu.Lock()
		if w.elem != nil {
			p.removeLocked(w)
			p.mu.Unlock()
			return Usage{Queued: time.Since(enqueued)}, ctx.Err()
		}
		p.mu.Unlock()
		// Granted while ctx ended: hand the backend back unused.
		if g = <-w.ch; g.m != nil {
			p.mu.Lock()
			g.m.busy = false
			p.dispatchLocked()
			p.mu.Unlock()
		}
		return Usage{Queued: time.Since(enqueued)}, ctx.Err()
	}
	u := Usage{Queued: time.Since(enqueued)}
	if g.err != nil {
		return u, g.err
	}
	u.Backend = g.m.name
	return p.run(ctx, g.m, fn, u)
}

// run calls fn on m, which the caller holds, and releases it.
func (p *Pool) run(ctx context.Context, m *member, fn func(context.Context, *Client) error, u Usage) (Usage, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	tr := &callTracker{next: m.client.obs}
	released := false
	defer func() {
		if !released { // fn panicked: do not lose the backend
			p.release(m, tr.gpuSeconds(), errors.New("sd pool: call panicked"))
		}
	}()
	err := fn(callCtx, m.client.withObserver(tr))
	var waiting []string
	if tasks := tr.abandoned(); callCtx.Err() != nil && len(tasks) > 0 {
		// The WebUI does not notice a closed connection: without this the
		// abandoned job would run on and delay the next caller.
		waiting = p.stopOwn(ctx, m, tasks)
	}
	u.GPUSeconds = tr.gpuSeconds()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case callCtx.Err() != nil:
			err = fmt.Errorf("sd %s: call exceeded %s: %w: %w", m.name, p.cfg.CallTimeout, ErrTimeout, err)
		}
	}
	released = true
	p.mu.Lock()
	watch := len(waiting) > 0 && !p.closed
	if watch {
		p.wg.Add(1) // before Close's Wait, which runs only after closed is set
	}
	p.mu.Unlock()
	if watch {
		go func() {
			defer p.wg.Done()
			p.watchQueued(context.WithoutCancel(ctx), m, waiting)
			p.release(m, u.GPUSeconds, err)
		}()
		return u, err
	}
	p.release(m, u.GPUSeconds, err)
	return u, err
}

// taskState is what the backend says of one abandoned task.
type taskState int

const (
	taskUnknown  taskState = iota // not heard of (yet), or it cannot say
	taskQueued                    // waiting behind other work
	taskActive                    // the current job
	taskFinished                  // completed
	taskNoRoute                   // the backend has no /internal/progress
)

// taskStateOf asks m about one task.
func (p *Pool) taskStateOf(ctx context.Context, m *member, task string) taskState {
	ictx, cancel := context.WithTimeout(ctx, interruptTimeout)
	defer cancel()
	st, err := m.client.TaskStatus(ictx, task)
	switch {
	case errors.Is(err, ErrNotFound):
		return taskNoRoute
	case err != nil:
		p.log.Warn("sd task status failed", "backend", m.name, "task", task, "err", err)
		return taskUnknown
	case st.Active:
		return taskActive
	case st.Queued:
		return taskQueued
	case st.Completed:
		return taskFinished
	}
	return taskUnknown
}

// stopOwn interrupts m if its current job is one of tasks, which this Pool
// abandoned. It returns the tasks that may still start later (queued on the
// backend, or not heard of yet), which the caller must watch.
func (p *Pool) stopOwn(ctx context.Context, m *member, tasks []string) []string {
	ctx = context.WithoutCancel(ctx)
	var later []string
	for _, task := range tasks {
		switch p.taskStateOf(ctx, m, task) {
		case taskActive:
			p.interrupt(ctx, m, task)
		case taskQueued, taskUnknown:
			later = append(later, task)
		case taskNoRoute:
			p.log.Warn("sd call abandoned; the backend cannot say whose job it runs (no /internal/progress), so it is not interrupted", "backend", m.name, "task", task)
			return nil
		}
	}
	return later
}

// watchQueued polls m about tasks abandoned while queued there, and
// interrupts each when it becomes the current job. It returns when none is
// waiting any more (a task not heard of within unknownTaskGrace is taken
// as never arrived), after CallTimeout, or when the Pool closes.
func (p *Pool) watchQueued(ctx context.Context, m *member, tasks []string) {
	start := time.Now()
	t := time.NewTicker(taskPollEvery)
	defer t.Stop()
	for len(tasks) > 0 && time.Since(start) < p.cfg.CallTimeout {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		var still []string
		for _, task := range tasks {
			switch p.taskStateOf(ctx, m, task) {
			case taskActive:
				p.interrupt(ctx, m, task)
			case taskQueued:
				still = append(still, task)
			case taskUnknown:
				if time.Since(start) < unknownTaskGrace {
					still = append(still, task)
				}
			}
		}
		tasks = still
	}
	if len(tasks) > 0 {
		p.log.Warn("sd abandoned task still queued; handing the backend back", "backend", m.name, "tasks", tasks)
	}
}

// interrupt stops the job running on m, which is task, one of ours.
func (p *Pool) interrupt(ctx context.Context, m *member, task string) {
	ictx, cancel := context.WithTimeout(ctx, interruptTimeout)
	defer cancel()
	if err := m.client.Interrupt(ictx); err != nil {
		p.log.Warn("sd interrupt failed", "backend", m.name, "task", task, "err", err)
		return
	}
	p.log.Info("sd call abandoned, its job interrupted", "backend", m.name, "task", task)
}

// release returns m to the pool after a call that ended with err, and
// updates its circuit.
func (p *Pool) release(m *member, gpu float64, err error) {
	p.met.gpu.WithLabelValues(m.name).Add(gpu)
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	m.busy = false
	m.calls++
	m.gpuSeconds += gpu
	switch {
	case err != nil && isBackendFailure(err):
		m.lastError = err.Error()
		m.failures++
		if m.open || m.failures >= p.cfg.FailureThreshold {
			if !m.open {
				p.log.Warn("sd circuit opened", "backend", m.name, "failures", m.failures, "err", err)
			} else {
				p.log.Warn("sd circuit probe failed", "backend", m.name, "err", err)
			}
			m.open = true
			m.openUntil = now.Add(p.cfg.OpenFor)
			p.met.circuit.WithLabelValues(m.name).Set(1)
			p.failWaitersIfNoneUsableLocked(now)
		}
	case err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The caller gave up: says nothing about the backend.
	default:
		// Success, or an answer about the request itself: the backend works.
		if err != nil {
			m.lastError = err.Error()
		}
		m.failures = 0
		if m.open {
			m.open = false
			p.met.circuit.WithLabelValues(m.name).Set(0)
			p.log.Info("sd circuit closed", "backend", m.name)
		}
	}
	p.dispatchLocked()
}

func isBackendFailure(err error) bool {
	return errors.Is(err, ErrBackend) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, ErrOutOfMemory) || errors.Is(err, ErrTimeout)
}

// dispatchLocked hands free usable backends to waiters, Interactive first.
func (p *Pool) dispatchLocked() {
	now := p.now()
	for {
		q := p.queues[Interactive]
		if q.Len() == 0 {
			q = p.queues[Batch]
		}
		if q.Len() == 0 {
			break
		}
		m := p.freeLocked(now)
		if m == nil {
			break
		}
		w := q.Front().Value.(*waiter)
		p.removeLocked(w)
		m.busy = true
		w.ch <- grant{m: m}
	}
	p.setQueueGaugesLocked()
}

// freeLocked returns the least used free usable backend, or nil.
func (p *Pool) freeLocked(now time.Time) *member {
	var best *member
	for _, m := range p.members {
		if m.busy || !m.usable(now) {
			continue
		}
		if best == nil || m.calls < best.calls {
			best = m
		}
	}
	return best
}

func (p *Pool) anyUsableLocked(now time.Time) bool {
	for _, m := range p.members {
		if m.usable(now) {
			return true
		}
	}
	return false
}

// failWaitersIfNoneUsableLocked fails every queued call when no backend
// can take work any more, rather than letting them wait for a circuit or
// a health check.
func (p *Pool) failWaitersIfNoneUsableLocked(now time.Time) {
	if p.anyUsableLocked(now) {
		return
	}
	p.failWaitersLocked(fmt.Errorf("sd pool: %w: no healthy backend with a closed circuit", ErrUnavailable))
}

func (p *Pool) failWaitersLocked(err error) {
	for _, q := range p.queues {
		for q.Len() > 0 {
			w := q.Front().Value.(*waiter)
			p.removeLocked(w)
			w.ch <- grant{err: err}
		}
	}
	p.setQueueGaugesLocked()
}

func (p *Pool) removeLocked(w *waiter) {
	p.queues[w.lane].Remove(w.elem)
	w.elem = nil
	p.setQueueGaugesLocked()
}

func (p *Pool) setQueueGaugesLocked() {
	for _, l := range []Lane{Interactive, Batch} {
		p.met.queue.WithLabelValues(l.String()).Set(float64(p.queues[l].Len()))
	}
}

// QueueLen returns the number of calls of lane waiting for a backend.
func (p *Pool) QueueLen(lane Lane) int {
	if lane != Interactive && lane != Batch {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queues[lane].Len()
}

// Status returns a snapshot of every backend, in configuration order.
func (p *Pool) Status() []BackendStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	queued := p.queues[Interactive].Len() + p.queues[Batch].Len()
	out := make([]BackendStatus, 0, len(p.members))
	for _, m := range p.members {
		s := BackendStatus{
			URL:         m.backend.URL,
			Name:        m.name,
			Kind:        p.cfg.Kind,
			Healthy:     m.healthy,
			CircuitOpen: m.open,
			Queued:      queued,
			GPUSeconds:  m.gpuSeconds,
			Calls:       m.calls,
			Models:      append([]string(nil), m.models...),
			LastError:   m.lastError,
		}
		if m.busy {
			s.InFlight = 1
		}
		out = append(out, s)
	}
	return out
}

// Start runs health checks until ctx ends or Close is called: one round
// at once, then one every HealthInterval. A check is two unlocked GETs,
// /sdapi/v1/progress?skip_current_image=true and /sdapi/v1/sd-models (a
// rembg server: GET /openapi.json, which must offer POST /api/remove); it
// marks the backend healthy or unhealthy. A failing check does not mark
// unhealthy a backend that is running one of our calls (the call itself
// tells). Calling Start again does nothing.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	ctx, p.healthCancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go p.healthLoop(ctx)
}

func (p *Pool) healthLoop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		p.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAll checks every backend concurrently.
func (p *Pool) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range p.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.check(ctx, m)
		}()
	}
	wg.Wait()
}

// check runs one health check of m.
func (p *Pool) check(ctx context.Context, m *member) {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.HealthTimeout)
	defer cancel()
	var models []string
	var err error
	switch p.cfg.Kind {
	case KindRembg:
		var info *RembgServerInfo
		if info, err = m.client.RembgServerInfo(cctx); err == nil {
			models = info.Models
		}
	default:
		if _, err = m.client.Progress(cctx, true); err == nil {
			var list []SDModel
			list, err = m.client.SDModels(cctx)
			for _, sm := range list {
				models = append(models, sm.Title)
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		m.lastError = err.Error()
		if m.busy {
			return
		}
		if m.healthy {
			p.log.Warn("sd backend unhealthy", "backend", m.name, "err", err)
		}
		m.healthy = false
		p.met.up.WithLabelValues(m.name).Set(0)
		p.failWaitersIfNoneUsableLocked(now)
		return
	}
	if !m.healthy {
		p.log.Info("sd backend healthy", "backend", m.name)
	}
	m.healthy = true
	m.models = append(m.models[:0], models...)
	p.met.up.WithLabelValues(m.name).Set(1)
	p.dispatchLocked()
}

// Close stops the health checks and fails every queued call with
// ErrPoolClosed; calls already running finish. Later Do calls fail with
// ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.failWaitersLocked(ErrPoolClosed)
	cancel := p.healthCancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
}

// callMetrics records every call of a member's Client.
type callMetrics struct {
	met     *poolMetrics
	backend string
}

func (c *callMetrics) callStarted(endpoint, string) {}

func (c *callMetrics) callEnded(ep endpoint, _ string, d time.Duration, err error) {
	name := ep.name()
	c.met.calls.WithLabelValues(c.backend, name, outcome(err)).Inc()
	c.met.duration.WithLabelValues(c.backend, name).Observe(d.Seconds())
}

// callTracker follows the calls of one Do: GPU time (the union of the
// intervals in which a work call was running) and which of its generations
// (by task id) may still be running or queued on the backend.
type callTracker struct {
	next observer

	mu         sync.Mutex
	working    int
	since      time.Time
	gpu        time.Duration
	inFlight   map[string]int // task id -> generation calls in flight
	unfinished []string       // tasks whose call ended before the backend did
}

func (t *callTracker) callStarted(ep endpoint, task string) {
	if t.next != nil {
		t.next.callStarted(ep, task)
	}
	rt := ep.route()
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt.work {
		if t.working == 0 {
			t.since = time.Now()
		}
		t.working++
	}
	if rt.interruptible && task != "" {
		if t.inFlight == nil {
			t.inFlight = map[string]int{}
		}
		t.inFlight[task]++
	}
}

func (t *callTracker) callEnded(ep endpoint, task string, d time.Duration, err error) {
	if t.next != nil {
		t.next.callEnded(ep, task, d, err)
	}
	rt := ep.route()
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt.work {
		t.working--
		if t.working == 0 {
			t.gpu += time.Since(t.since)
		}
	}
	if rt.interruptible && task != "" {
		if t.inFlight[task]--; t.inFlight[task] <= 0 {
			delete(t.inFlight, task)
		}
		if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout)) {
			// We stopped waiting; the backend may still be working on it.
			t.unfinished = append(t.unfinished, task)
		}
	}
}

// abandoned returns the tasks of this call that may still be running or
// queued on the backend.
func (t *callTracker) abandoned() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.unfinished...)
	for task := range t.inFlight {
		if !slices.Contains(out, task) {
			out = append(out, task)
		}
	}
	return out
}

func (t *callTracker) gpuSeconds() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.gpu
	if t.working > 0 {
		g += time.Since(t.since)
	}
	return g.Seconds()
}
