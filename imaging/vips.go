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
}

// DefaultStartupConfig returns the defaults: cache off, concurrency 1.
func DefaultStartupConfig() StartupConfig {
	return StartupConfig{ConcurrencyLevel: 1}
}

// Validate reports a negative field as ErrInvalidOption.
func (c StartupConfig) Validate() error {
	if c.CacheMaxMem < 0 || c.CacheMaxOps < 0 || c.CacheMaxFiles < 0 || c.ConcurrencyLevel < 0 {
		return invalid("startup config: negative value in %+v", c)
	}
	return nil
}

// lifecycle mirrors libvips' own process-global state: libvips starts once and
// cannot be restarted after shutdown.
var lifecycle struct {
	start, stop sync.Once
}

// Startup starts libvips once per process; later calls do nothing. It routes
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

// Shutdown stops libvips and frees its caches. Call it once, last; later calls do
// nothing.
func Shutdown() {
	lifecycle.stop.Do(vips.Shutdown)
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
