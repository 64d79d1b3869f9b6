package imaging

import (
	"context"
	"log/slog"
	"strings"
	"sync"

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

// logHandler adapts govips' logging callback to slog. govips' own errors (domain
// "govips": a failed ICC transform, with a Go stack) are errors it also returns to
// us, which the caller handles (ToSRGB falls back) or reports with the request: they
// are logged at debug, without the stack, so a damaged upload does not log an error.
func logHandler(logger *slog.Logger) vips.LoggingHandlerFunction {
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
		case level == vips.LogLevelMessage:
			l = slog.LevelInfo
		default: // info and debug: libvips chatter
			l = slog.LevelDebug
		}
		logger.Log(context.Background(), l, msg, "component", "libvips", "domain", domain)
	}
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
