package sdclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// poolMetrics are a Pool's collectors, registered on the Registerer given
// to NewPool.
type poolMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	gpu      *prometheus.CounterVec
	queue    *prometheus.GaugeVec
	up       *prometheus.GaugeVec
	circuit  *prometheus.GaugeVec
}

// newPoolMetrics builds a Pool's collectors. Every series has a kind label,
// "webui" or "rembg": the Pool's Kind.
func newPoolMetrics(reg prometheus.Registerer, kind Kind) (*poolMetrics, error) {
	m := &poolMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_sd_calls_total",
			Help: "Stable Diffusion WebUI and rembg server calls by backend, endpoint and outcome.",
		}, []string{"backend", "endpoint", "outcome", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pictor_sd_call_duration_seconds",
			Help:    "Duration of Stable Diffusion WebUI and rembg server calls by backend and endpoint.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"backend", "endpoint", "kind"}),
		gpu: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_sd_gpu_seconds_total",
			Help: "Wall-clock seconds backends spent on Pictor's GPU work (generation, upscaling, segmentation).",
		}, []string{"backend", "kind"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_queue_length",
			Help: "Calls waiting in Pictor for a free Stable Diffusion WebUI or rembg server, by lane.",
		}, []string{"lane", "kind"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_backend_up",
			Help: "1 when the backend passed its last health check, else 0.",
		}, []string{"backend", "kind"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_backend_circuit_open",
			Help: "1 while the backend's circuit breaker is open or half-open, else 0.",
		}, []string{"backend", "kind"}),
	}
	if reg != nil {
		if err := m.register(reg); err != nil {
			return nil, err
		}
	}
	// Curried, the collectors take the same label values for both kinds.
	k := prometheus.Labels{"kind": kind.String()}
	m.calls = m.calls.MustCurryWith(k)
	m.duration = m.duration.MustCurryWith(k).(*prometheus.HistogramVec)
	m.gpu = m.gpu.MustCurryWith(k)
	m.queue = m.queue.MustCurryWith(k)
	m.up = m.up.MustCurryWith(k)
	m.circuit = m.circuit.MustCurryWith(k)
	return m, nil
}

// register registers m's collectors on reg, or takes the identical ones
// already there (another Pool's).
func (m *poolMetrics) register(reg prometheus.Registerer) error {
	var err error
	m.calls, err = register(reg, m.calls)
	if err == nil {
		m.duration, err = register(reg, m.duration)
	}
	if err == nil {
		m.gpu, err = register(reg, m.gpu)
	}
	if err == nil {
		m.queue, err = register(reg, m.queue)
	}
	if err == nil {
		m.up, err = register(reg, m.up)
	}
	if err == nil {
		m.circuit, err = register(reg, m.circuit)
	}
	return err
}

// register registers c, or reuses an identical collector already
// registered (a second Pool on the same registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register sd metrics: %w", err)
}

// outcome is the outcome label of a call's error.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrOutOfMemory):
		return "oom"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrBadRequest):
		return "bad_request"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	default:
		return "error"
	}
}
