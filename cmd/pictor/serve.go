package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/api/console"
	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/safety"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// app is the wired service: what serve and the other commands share.
type app struct {
	cfg     config
	log     *slog.Logger
	db      *db.DB
	store   catalog.ObjectStore
	catalog *catalog.Service
	gate    *imaging.Gate // every libvips pipeline of the process holds one of its slots
	jobs    *jobs.Service
	sd      *sdclient.Pool
	rembg   *sdclient.Pool
	reg     *prometheus.Registry
}

// wire opens the database and the store and builds the catalog; close releases them.
func wire(ctx context.Context, c config, log *slog.Logger, work bool) (_ *app, err error) {
	a := &app{cfg: c, log: log, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	dc := db.DefaultConfig()
	dc.URL, dc.DataDir = c.DatabaseURL, c.DataDir
	if a.db, err = db.Open(ctx, dc); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if c.S3Endpoint != "" {
		sc := storage.DefaultS3Config()
		sc.Endpoint, sc.AccessKey, sc.SecretKey, sc.Region, sc.UseSSL = c.S3Endpoint, c.S3AccessKey, c.S3SecretKey, c.S3Region, c.S3UseSSL
		a.store, err = storage.NewS3(sc)
	} else {
		a.store, err = storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(c.DataDir, "objects")})
	}
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	fc := fetch.DefaultConfig()
	fc.MaxBytes = c.MaxSourceBytes
	fc.Timeout = c.FetchTimeout
	if fc.AllowedNets, err = fetch.ParseNets(c.FetchAllowedNets); err != nil {
		return nil, fmt.Errorf("PICTOR_FETCH_ALLOWED_NETS: %w", err)
	}
	fetcher, err := fetch.New(fc)
	if err != nil {
		return nil, err
	}
	var sd *pipeline.SD
	if c.SDURLs != "" {
		backends, err := sdclient.ParseBackends(c.SDURLs)
		if err != nil {
			return nil, fmt.Errorf("PICTOR_SD_URLS: %w", err)
		}
		if a.sd, err = sdclient.NewPool(backends, sdclient.DefaultPoolConfig(), log, a.reg); err != nil {
			return nil, err
		}
		a.sd.Start(context.WithoutCancel(ctx))
		sd = &pipeline.SD{Pool: a.sd, Checkpoint: c.SDCheckpoint, Sampler: c.SDSampler, Scheduler: c.SDScheduler}
	}
	if c.RembgURLs != "" {
		backends, err := sdclient.ParseBackends(c.RembgURLs)
		if err != nil {
			return nil, fmt.Errorf("PICTOR_REMBG_URLS: %w", err)
		}
		pc := sdclient.DefaultPoolConfig()
		pc.Kind = sdclient.KindRembg
		if a.rembg, err = sdclient.NewPool(backends, pc, log, a.reg); err != nil {
			return nil, fmt.Errorf("PICTOR_REMBG_URLS: %w", err)
		}
		a.rembg.Start(context.WithoutCancel(ctx))
		if sd == nil {
			sd = &pipeline.SD{}
		}
		sd.Rembg = a.rembg
	}
	var classifier catalog.Safety
	if c.SafetyURL != "" {
		sc := safety.DefaultConfig()
		sc.URL = c.SafetyURL
		if classifier, err = safety.New(sc, nil); err != nil {
			return nil, fmt.Errorf("PICTOR_SAFETY_URL: %w", err)
		}
	}
	cc := catalog.DefaultConfig()
	cc.PromptBlocklist = splitList(c.PromptBlocklist)
	cc.BucketOriginals, cc.BucketRenditions = c.BucketOriginals, c.BucketRenditions
	cc.MaxSourceBytes, cc.MaxSourcePixels = c.MaxSourceBytes, c.MaxSourcePixels
	cc.RenderBudget = float64(c.RenderBudget)
	cc.PublicBaseURL, cc.PresignExpiry = c.PublicBaseURL, c.PresignExpiry
	a.gate = newGate(c)
	a.catalog, err = catalog.New(cc, catalog.Deps{
		DB: a.db, Store: a.store, Fetcher: fetcher, Gate: a.gate,
		Logger: log, Registerer: a.reg, SD: sd, Safety: classifier, Links: api.Links{},
	})
	if err != nil {
		return nil, err
	}
	if err := a.catalog.Init(ctx); err != nil {
		return nil, err
	}
	jc := jobs.DefaultConfig()
	jc.Work = work
	jc.CPUWorkers = cpuWorkers(c.Workers)
	jc.JobTimeout, jc.RescueAfter = c.JobTimeout, c.JobRescueAfter
	jc.Costs = jobs.Costs{GPUSecond: c.CostGPUSecond, CPUSecond: c.CostCPUSecond, GBMonth: c.CostGBMonth, Currency: c.CostCurrency}
	if a.sd != nil {
		jc.GPUBackends = len(a.sd.Status())
	}
	if a.jobs, err = jobs.New(jc, jobs.Deps{DB: a.db, Catalog: a.catalog, Logger: log, Registerer: a.reg}); err != nil {
		return nil, err
	}
	if err := a.jobs.Migrate(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// startWorkers runs the job workers until the returned stop is called.
func (a *app) startWorkers(ctx context.Context) (stop func(), err error) {
	if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, fmt.Errorf("start workers: %w", err)
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.jobs.Stop(sctx); err != nil {
			a.log.Warn("stop workers", "err", err)
		}
	}, nil
}

// poolSet is every configured backend pool (WebUIs, then rembg servers), reported
// together by GET /v1/backends.
type poolSet []*sdclient.Pool

// Status lists every pool's backends, each with its kind.
func (ps poolSet) Status() []sdclient.BackendStatus {
	var out []sdclient.BackendStatus
	for _, p := range ps {
		out = append(out, p.Status()...)
	}
	return out
}

// QueueLen adds up the calls of lane waiting in every pool.
func (ps poolSet) QueueLen(lane sdclient.Lane) int {
	n := 0
	for _, p := range ps {
		n += p.QueueLen(lane)
	}
	return n
}

// pools returns the configured pools.
func (a *app) pools() poolSet {
	var ps poolSet
	for _, p := range []*sdclient.Pool{a.sd, a.rembg} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

func (a *app) close() {
	if a.sd != nil {
		a.sd.Close()
	}
	if a.rembg != nil {
		a.rembg.Close()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Warn("close database", "err", err)
		}
	}
}

// boot loads a command's settings and wires the service with its job workers running
// when work says so; done stops the workers, closes the stores and shuts libvips down.
// check, when not nil, vets and completes the settings first: an error from it stops the
// command before anything is opened.
func boot(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, work func(config) bool, check func(*config) error) (_ *app, done func(), err error) {
	c, _, err := loadConfig(name, args, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(&c); err != nil {
			return nil, nil, err
		}
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, nil, err
	}
	imaging.Startup(imaging.StartupConfig{Malloc: mallocConfig(getenv)}, log)
	untuneGC := tuneGC(getenv)
	a, err := wire(ctx, c, log, work(c))
	if err != nil {
		untuneGC()
		imaging.Shutdown()
		return nil, nil, err
	}
	stop, err := a.startWorkers(ctx)
	if err != nil {
		a.close()
		untuneGC()
		imaging.Shutdown()
		return nil, nil, err
	}
	return a, func() { stop(); a.stopImaging(); a.close(); untuneGC() }, nil
}

// stopImaging closes the libvips gate, so that no new pipeline starts, and shuts libvips
// down once none runs. A pipeline can outlive the requests and jobs that started it (a
// shared render goes on while any caller waits, and stops only between steps), and a
// libvips call made after the shutdown crashes the process; when pipelines still run
// after the shutdown timeout, libvips is left up for the process's exit instead.
func (a *app) stopImaging() {
	stopImaging(a.gate, a.cfg.ShutdownTimeout, a.log, imaging.ShutdownWithin)
}

// stopImaging closes g and calls shutdown with timeout to wait for the running
// pipelines.
func stopImaging(g *imaging.Gate, timeout time.Duration, log *slog.Logger, shutdown func(context.Context) bool) {
	g.Close()
	if n := g.InFlight(); n > 0 {
		log.Info("waiting for libvips pipelines to finish", "running", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !shutdown(ctx) {
		log.Warn("libvips left running for the exit: pipelines still running after the shutdown timeout", "running", g.InFlight(), "timeout", timeout)
		return
	}
	log.Info("libvips stopped", "running", g.InFlight())
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// The access settings and the listen address are decided before anything is opened:
	// an open service on a non-loopback address is refused (listenAddr).
	ac := api.DefaultConfig()
	var open bool
	a, done, err := boot(ctx, "serve", args, getenv, stderr, func(c config) bool { return c.ServeWorkers }, func(c *config) error {
		ac.MaxSourceBytes = c.MaxSourceBytes
		ac.Version = version
		if err := c.Access.apply(&ac); err != nil {
			return err
		}
		var err error
		c.Addr, open, err = listenAddr(c.Addr, len(ac.Keys) > 0, c.AllowOpen)
		return err
	})
	if err != nil {
		return err
	}
	defer done()
	c, log := a.cfg, a.log
	deps := api.Deps{Catalog: a.catalog, Jobs: a.jobs, Batches: a.jobs, Reviews: a.catalog, Console: console.FS, Logger: log, Registerer: a.reg, Gatherer: a.reg}
	if pools := a.pools(); len(pools) > 0 {
		deps.Backends = pools
	}
	h, err := api.New(ac, deps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	store := "local directory " + filepath.Join(c.DataDir, "objects")
	if c.S3Endpoint != "" {
		store = "S3 at " + c.S3Endpoint
	}
	log.Info("pictor serving", "addr", ln.Addr().String(), "version", version, "database", a.db.Dialect.String(), "store", store, "workers", c.Workers)
	switch {
	case open:
		log.Warn("no API keys and PICTOR_ALLOW_OPEN=true: the API is open to every host that can reach this address", "addr", ln.Addr().String())
	case len(ac.Keys) == 0:
		log.Warn("no API keys: listening on loopback only, open to this machine alone; configure PICTOR_API_KEYS (pictor keys new) to serve other hosts, or set PICTOR_ALLOW_OPEN=true to open it deliberately", "addr", ln.Addr().String())
	}
	fmt.Fprintf(stdout, "pictor listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, done, err := boot(ctx, "migrate", args, getenv, stderr, func(config) bool { return false }, nil)
	if err != nil {
		return err
	}
	done()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// worker runs only the job workers, for scaled-out deployments sharing PostgreSQL. It
// serves /healthz, /readyz and /metrics on PICTOR_ADDR for probes and scraping.
func worker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	a, done, err := boot(ctx, "worker", args, getenv, stderr, func(config) bool { return true }, func(c *config) error {
		// The worker serves no API, only probes and metrics: its default address follows
		// serve's (loopback without keys), and it never refuses one.
		if c.Addr == "" {
			keys, _ := auth.ParseKeys(c.Access.APIKeys)
			c.Addr, _, _ = listenAddr("", len(keys) > 0, false)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer done()
	c, log := a.cfg, a.log
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := a.catalog.Ready(rctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("pictor worker running", "database", a.db.Dialect.String(), "addr", ln.Addr().String())
	fmt.Fprintf(stdout, "pictor worker listening on http://%s\n", ln.Addr())
	fmt.Fprintln(stdout, "pictor worker running")
	select {
	case err := <-errc: // the probe listener failed: the worker cannot be watched
		return fmt.Errorf("serve probes: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cpuWorkers is how many items at once the cost estimate's wall time assumes for
// workers libvips slots: their cores' worth, at imaging.SlotsPerCore slots a core.
func cpuWorkers(workers int) int {
	return max(1, workers/imaging.SlotsPerCore)
}

// newGate is the libvips gate of c: Workers slots, QueueSize waiters, a memory budget of
// MemoryBudget bytes for sources and one of DecodeBudget bytes for the decoders' working
// memory (0: the gate's defaults, 16 and 32 MiB a slot; negative: none). When its slots
// have been idle for releaseIdle, the C allocator's free memory is given back.
func newGate(c config) *imaging.Gate {
	g := imaging.NewGate(c.Workers, c.QueueSize)
	if c.MemoryBudget != 0 {
		g.SetMemory(c.MemoryBudget)
	}
	if c.DecodeBudget != 0 {
		g.SetWork(c.DecodeBudget)
	}
	g.OnIdle(releaseIdle, func() { imaging.ReleaseMemory() })
	return g
}

// releaseIdle is how long libvips must have had nothing to do before the memory malloc
// keeps for reuse is given back: long enough that a steady stream of requests keeps
// its buffers, short enough that a finished burst does not hold its peak for long.
const releaseIdle = 10 * time.Second

// mallocConfig is the C allocator's tuning: imaging's defaults, except where the
// environment sets glibc's own variable for a setting, which then stays glibc's.
func mallocConfig(getenv func(string) string) imaging.MallocConfig {
	var m imaging.MallocConfig
	for _, v := range []struct {
		env   string
		field *int
	}{
		{"MALLOC_ARENA_MAX", &m.Arenas},
		{"MALLOC_MMAP_THRESHOLD_", &m.MmapThreshold},
		{"MALLOC_TRIM_THRESHOLD_", &m.TrimThreshold},
	} {
		if getenv(v.env) != "" {
			*v.field = -1
		}
	}
	return m
}
