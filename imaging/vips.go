package imaging

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// StartupConfig tunes libvips' process-wide state. The zero value is the default:
// operation cache off and one libvips worker thread per pipeline (concurrency comes
// from running several pipelines behind a Gate instead).
type StartupConfig struct {
	// CacheMaxMem is the operation cache's memory cap in bytes; default 0 (off).
	CacheMaxMem int
	// CacheMaxOps is the number of operations the cache may hold; default 0 (off).
	CacheMaxOps int
	// CacheMaxFiles is the number of open files the cache may hold; default 0.
	CacheMaxFiles int
	// ConcurrencyLevel is the number of libvips worker threads per pipeline;
	// default 1 (0 means 1).
	ConcurrencyLevel int
	// Malloc tunes the C allocator libvips and its decoders allocate from; the zero
	// value is DefaultMallocConfig.
	Malloc MallocConfig
}

// DefaultStartupConfig returns the defaults: cache off, concurrency 1, malloc tuned
// as DefaultMallocConfig.
func DefaultStartupConfig() StartupConfig {
	return StartupConfig{ConcurrencyLevel: 1, Malloc: DefaultMallocConfig()}
}

// Validate reports a negative field (other than Malloc's) or a Malloc setting glibc
// would refuse as ErrInvalidOption.
func (c StartupConfig) Validate() error {
	if c.CacheMaxMem < 0 || c.CacheMaxOps < 0 || c.CacheMaxFiles < 0 || c.ConcurrencyLevel < 0 {
		return invalid("startup config: negative value in %+v", c)
	}
	return c.Malloc.Validate()
}

// MallocConfig tunes glibc's malloc, which libvips and libjpeg allocate from. A field
// of 0 takes its default; a field < 0 leaves glibc's own setting (glibc's default, or
// the MALLOC_* environment variable an operator set).
//
// Why: a decoder's large buffers (libjpeg's coefficient buffer for a progressive
// 3840x2160 JPEG is 25 MB, zeroed before use) are, by glibc's defaults, mapped afresh
// for every image and returned when freed, so every image faults them in again page
// by page; on a virtual machine a fault costs about 10 us, which came to 60 ms of a
// 450 ms progressive decode. Kept in an arena they are reused. imgproxy trims malloc
// periodically for the memory kept, as Pictor does when idle (Gate.OnIdle,
// ReleaseMemory).
type MallocConfig struct {
	// Arenas caps malloc's arenas (M_ARENA_MAX); default 1. glibc's own cap is 8 per
	// core, and each arena keeps what its threads freed, fragments between buffers
	// included; two arenas measured 520 MiB peak RSS at 32 clients on the
	// progressive benchmark where one measured 366 MiB at the same rate (one arena
	// still keeps fragments: up to 273 MiB held with half or more free, in other
	// runs). libvips' threads allocate large buffers rarely (each keeps its region
	// buffers), so they seldom wait for the arena's lock.
	Arenas int
	// MmapThreshold is the size from which an allocation is mapped on its own and
	// returned to the system when freed (M_MMAP_THRESHOLD); default 32 MiB, the most
	// glibc takes. Smaller buffers come from the arenas and are reused.
	MmapThreshold int
	// TrimThreshold is how much free memory an arena keeps at its top before it gives
	// memory back (M_TRIM_THRESHOLD); default 256 MiB.
	TrimThreshold int
}

// maxMmapThreshold is the largest M_MMAP_THRESHOLD glibc takes on 64-bit systems.
const maxMmapThreshold = 32 << 20

// DefaultMallocConfig returns the defaults: one arena, buffers under 32 MiB kept in them,
// 256 MiB kept free at an arena's top.
func DefaultMallocConfig() MallocConfig {
	return MallocConfig{Arenas: 1, MmapThreshold: maxMmapThreshold, TrimThreshold: 256 << 20}
}

// Validate reports a setting glibc would refuse as ErrInvalidOption: an MmapThreshold
// over 32 MiB, or a TrimThreshold over 2 GiB.
func (c MallocConfig) Validate() error {
	if c.Arenas > 1<<16 || c.MmapThreshold > maxMmapThreshold || c.TrimThreshold > 1<<31-1 {
		return invalid("malloc config: %+v over the limits (arenas 65536, mmap threshold %d, trim threshold %d)", c, maxMmapThreshold, 1<<31-1)
	}
	return nil
}

// withDefaults returns c with each 0 field set to its default and each field < 0 set
// to -1 (leave glibc's setting).
func (c MallocConfig) withDefaults() MallocConfig {
	d := DefaultMallocConfig()
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return -1
		}
		return v
	}
	return MallocConfig{Arenas: pick(c.Arenas, d.Arenas), MmapThreshold: pick(c.MmapThreshold, d.MmapThreshold), TrimThreshold: pick(c.TrimThreshold, d.TrimThreshold)}
}

// MallocStats is what the C allocator holds (glibc's mallinfo2).
type MallocStats struct {
	// Arenas is the bytes malloc's arenas hold from the system, in use or free.
	Arenas int64
	// Free is the part of Arenas not in use, kept for reuse until ReleaseMemory.
	Free int64
	// Mapped is the bytes of allocations mapped on their own (MmapThreshold and over).
	Mapped int64
}

// lifecycle mirrors libvips' own process-global state: libvips starts once and
// cannot be restarted after shutdown.
var lifecycle struct {
	start, stop sync.Once
}

// Startup starts libvips once per process; later calls do nothing. It tunes the C
// allocator (StartupConfig.Malloc) and routes
// libvips and govips log messages into logger (nil: slog.Default()): errors and
// criticals at Error, warnings at Warn, messages at Info and libvips' info chatter
// at Debug. An invalid cfg is logged and replaced by DefaultStartupConfig. Call it
// from main (tests: TestMain) before any other function of this package, and
// Shutdown last. libvips cannot be started again after Shutdown.
func Startup(cfg StartupConfig, logger *slog.Logger) {
	lifecycle.start.Do(func() {
		if logger == nil {
			logger = slog.Default()
		}
		if err := cfg.Validate(); err != nil {
			logger.Warn("imaging: invalid startup config, using defaults", "err", err)
			cfg = DefaultStartupConfig()
		}
		if cfg.ConcurrencyLevel == 0 {
			cfg.ConcurrencyLevel = 1
		}
		// Before libvips starts its threads: malloc fixes its arena cap when its
		// threads first allocate.
		if m := cfg.Malloc.withDefaults(); !tuneMalloc(m) {
			logger.Debug("imaging: malloc not tuned (not glibc, or a setting refused)", "config", m)
		}
		verbosity := vips.LogLevelMessage
		if logger.Enabled(context.Background(), slog.LevelDebug) {
			verbosity = vips.LogLevelDebug
		}
		vips.LoggingSettings(logHandler(logger), verbosity)
		vips.Startup(&vips.Config{
			ConcurrencyLevel: cfg.ConcurrencyLevel,
			MaxCacheFiles:    cfg.CacheMaxFiles,
			MaxCacheMem:      cfg.CacheMaxMem,
			MaxCacheSize:     cfg.CacheMaxOps,
		})
	})
}

// warnBurst is how many libvips warnings are logged per second at most. A damaged
// source makes libvips warn once per strip it fails to read ("error in tile 0 x 8",
// "... x 16", ...), so a stranger sending broken files could otherwise fill the log;
// the rest of a second's warnings are counted and reported in one line with the next
// warning logged.
const warnBurst = 20

// logHandler adapts govips' logging callback to slog. govips' own errors (domain
// "govips": a failed ICC transform, with a Go stack) are errors it also returns to
// us, which the caller handles (ToSRGB falls back) or reports with the request: they
// are logged at debug, without the stack, so a damaged upload does not log an error.
// libvips warnings are limited to warnBurst a second.
func logHandler(logger *slog.Logger) vips.LoggingHandlerFunction {
	return logHandlerClock(logger, time.Now)
}

// logHandlerClock is logHandler with the clock the warning limit counts seconds of.
func logHandlerClock(logger *slog.Logger, now func() time.Time) vips.LoggingHandlerFunction {
	lim := &warnLimiter{now: now}
	return func(domain string, level vips.LogLevel, msg string) {
		var l slog.Level
		switch {
		case domain == "govips" && (level == vips.LogLevelError || level == vips.LogLevelCritical):
			l = slog.LevelDebug
			msg, _, _ = strings.Cut(msg, "\n\nStack:")
			msg = strings.TrimSpace(msg)
		case level == vips.LogLevelError || level == vips.LogLevelCritical:
			l = slog.LevelError
		case level == vips.LogLevelWarning:
			l = slog.LevelWarn
			ok, dropped := lim.allow()
			if dropped > 0 {
				logger.Warn("libvips warnings not logged (more than the limit a second)", "component", "libvips", "count", dropped, "limit", warnBurst)
			}
			if !ok {
				return
			}
		case level == vips.LogLevelMessage:
			l = slog.LevelInfo
		default: // info and debug: libvips chatter
			l = slog.LevelDebug
		}
		logger.Log(context.Background(), l, msg, "component", "libvips", "domain", domain)
	}
}

// warnLimiter lets warnBurst warnings through per second of now.
type warnLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	second  int64 // the Unix second being counted
	n       int   // warnings in it
	dropped int   // warnings not logged in it
}

// allow reports whether a warning may be logged now, and how many were not logged in
// the seconds before this one since that was last reported.
func (l *warnLimiter) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := l.now().Unix(); sec != l.second {
		dropped = l.dropped
		l.second, l.n, l.dropped = sec, 0, 0
	}
	if l.n >= warnBurst {
		l.dropped++
		return false, dropped
	}
	l.n++
	return true, dropped
}

// ShutdownWait is how long Shutdown waits for pipelines still holding a Gate's slot.
const ShutdownWait = time.Minute

// Shutdown stops libvips and frees its caches, waiting up to ShutdownWait for running
// pipelines (see ShutdownWithin). Call it once, last; later calls do nothing.
func Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownWait)
	defer cancel()
	ShutdownWithin(ctx)
}

// ShutdownWithin stops libvips and frees its caches once no Gate of the process has a
// slot taken, and reports whether it did. A libvips call made after the shutdown crashes
// the process, and a pipeline can outlive the request, job or test that started it (a
// shared render whose callers have gone runs on until its next step); when slots are
// still taken as ctx ends, libvips is left up for the process's exit and it reports
// false. Only its first call (or Shutdown's) does anything.
func ShutdownWithin(ctx context.Context) (stopped bool) {
	lifecycle.stop.Do(func() {
		if stopped = slotsTaken.wait(ctx); stopped {
			vips.Shutdown()
		}
	})
	return stopped
}

// MemStats is libvips' own allocation accounting (pixel buffers and other tracked
// allocations), for leak tests and metrics.
type MemStats struct {
	// Mem is the number of bytes libvips has allocated now.
	Mem int64
	// MemHigh is the high-water mark of Mem since startup.
	MemHigh int64
	// Allocs is the number of live tracked allocations.
	Allocs int64
	// Files is the number of files libvips holds open.
	Files int64
}

// ReadMemStats returns libvips' current memory statistics.
func ReadMemStats() MemStats {
	var s vips.MemoryStats
	vips.ReadVipsMemStats(&s)
	return MemStats{Mem: s.Mem, MemHigh: s.MemHigh, Allocs: s.Allocs, Files: s.Files}
}
