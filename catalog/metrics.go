package catalog

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/imaging"
)

// metrics are the catalog's collectors, registered on the Registerer it is given.
type metrics struct {
	stage       *prometheus.HistogramVec
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	renders     *prometheus.CounterVec
	bytesStored *prometheus.CounterVec
	ingests     *prometheus.CounterVec
	gateWait    prometheus.Histogram
	checks      *prometheus.CounterVec
	held        prometheus.Counter
	coalesced   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, gate *imaging.Gate) (*metrics, error) {
	m := &metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pictor_stage_duration_seconds",
			Help:    "Time spent in each stage of ingest and render: fetch, analyze, transform (decode, steps, encode), store.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"stage"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pictor_rendition_cache_hits_total",
			Help: "Renders answered from stored renditions without decoding.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pictor_rendition_cache_misses_total",
			Help: "Renders that had to run the pipeline.",
		}),
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_pipeline_runs_total",
			Help: "Pipeline runs (one decode each) by outcome.",
		}, []string{"outcome"}),
		bytesStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_storage_written_bytes_total",
			Help: "Bytes written to the object store by bucket.",
		}, []string{"bucket"}),
		ingests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pictor_ingests_total",
			Help: "Ingest requests by outcome.",
		}, []string{"outcome"}),
		gateWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pictor_imaging_queue_wait_seconds",
			Help:    "Time spent waiting for a libvips slot.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pictor_output_checks_total",
		Help: "Output checks run on renditions of recipes with AI steps, by check and verdict.",
	}, []string{"check", "verdict"})
	m.held = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pictor_renditions_held_total",
		Help: "Renditions stored awaiting review (not delivered until approved).",
	})
	m.coalesced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pictor_coalesced_total",
		Help: "Requests that joined identical work already in flight instead of doing it again, by what: ingest (a URL ingest) or render.",
	}, []string{"what"})
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_in_flight",
		Help: "libvips operations running now.",
	}, func() float64 { return float64(gate.InFlight()) })
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_queue_waiting",
		Help: "Callers waiting for a libvips slot.",
	}, func() float64 { return float64(gate.Waiting()) })
	reserved := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_reserved_bytes",
		Help: "Bytes of sources admitted against the memory budget now (PICTOR_MEMORY_BUDGET).",
	}, func() float64 { _, r := gate.Memory(); return float64(r) })
	budget := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_memory_budget_bytes",
		Help: "The memory budget sources are admitted against; 0 when admission by bytes is off.",
	}, func() float64 { b, _ := gate.Memory(); return float64(max(b, 0)) })
	work := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_work_bytes",
		Help: "Bytes of working memory the running pipelines' decoders hold whole-image (progressive JPEG coefficients, WebP, GIF, HEIF, AVIF, interlaced PNG), admitted against PICTOR_DECODE_BUDGET.",
	}, func() float64 { _, w := gate.Work(); return float64(w) })
	mallocHeld := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_malloc_bytes",
		Help: "Bytes the C allocator libvips uses holds from the system (arenas and buffers mapped on their own); 0 where it cannot tell.",
	}, func() float64 { s, _ := imaging.ReadMallocStats(); return float64(s.Arenas + s.Mapped) })
	mallocFree := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pictor_imaging_malloc_free_bytes",
		Help: "Bytes of that freed and kept for reuse by the next images, until libvips has been idle a while.",
	}, func() float64 { s, _ := imaging.ReadMallocStats(); return float64(s.Free) })
	for _, c := range []prometheus.Collector{m.stage, m.cacheHits, m.cacheMisses, m.renders, m.bytesStored, m.ingests, m.gateWait, m.checks, m.held, m.coalesced, inflight, waiting, reserved, budget, work, mallocHeld, mallocFree} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
