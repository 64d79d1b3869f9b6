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

func newPoolMetrics(reg prometheus.Registerer) (*poolMetrics, error) {
	m := &poolMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_sd_calls_total",
			Help: "Stable Diffusion WebUI calls by backend, endpoint and outcome.",
		}, []string{"backend", "endpoint", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pictor_sd_call_duration_seconds",
			Help:    "Duration of Stable Diffusion WebUI calls by backend and endpoint.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"backend", "endpoint"}),
		gpu: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_sd_gpu_seconds_total",
			Help: "Wall-clock seconds backends spent on Pictor's GPU work (generation, upscaling, segmentation).",
		}, []string{"backend"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_queue_length",
			Help: "Calls waiting in Pictor for a free Stable Diffusion backend, by lane.",
		}, []string{"lane"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_backend_up",
			Help: "1 when the backend passed its last health check, else 0.",
		}, []string{"backend"}),
		circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pictor_sd_backend_circuit_open",
			Help: "1 while the backend's circuit breaker is open or half-open, else 0.",
		}, []string{"backend"}),
	}
	if reg == nil {
		return m, nil
	}
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
	if err != nil {
		return nil, err
	}
	return m, nil
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
