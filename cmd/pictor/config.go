package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pictor/pictor/imaging"
)

// config is every setting of the service; each has a flag and a PICTOR_ variable.
type config struct {
	// Addr is PICTOR_ADDR. Default "": :8080 when API keys are configured, else
	// 127.0.0.1:8080 (listenAddr).
	Addr string
	// AllowOpen is PICTOR_ALLOW_OPEN: serve may listen on a non-loopback address with no
	// API keys. Default false: it refuses to.
	AllowOpen        bool
	DataDir          string
	DatabaseURL      string
	S3Endpoint       string
	S3AccessKey      string
	S3SecretKey      string
	S3UseSSL         bool
	S3Region         string
	BucketOriginals  string
	BucketRenditions string
	PublicBaseURL    string
	PresignExpiry    time.Duration
	FetchAllowedNets string
	FetchTimeout     time.Duration
	MaxSourceBytes   int64
	MaxSourcePixels  int64
	RenderBudget     int64
	Workers          int
	ServeWorkers     bool
	QueueSize        int
	MemoryBudget     int64
	DecodeBudget     int64
	SDURLs           string
	SDCheckpoint     string
	SDSampler        string
	SDScheduler      string
	RembgURLs        string
	PromptBlocklist  string
	SafetyURL        string
	JobTimeout       time.Duration
	JobRescueAfter   time.Duration
	CostGPUSecond    float64
	CostCPUSecond    float64
	CostGBMonth      float64
	CostCurrency     string
	Access           accessSettings
	LogFormat        string
	LogLevel         string
	ShutdownTimeout  time.Duration
}

// setting binds one flag to its environment variable.
type setting struct {
	env, flag, help string
	def             string
	set             func(string) error
}

func (c *config) settings() []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	dur := func(p *time.Duration) func(string) error {
		return func(v string) (err error) { *p, err = time.ParseDuration(v); return err }
	}
	i64 := func(p *int64) func(string) error {
		return func(v string) (err error) { *p, err = strconv.ParseInt(v, 10, 64); return err }
	}
	num := func(p *int) func(string) error {
		return func(v string) (err error) { *p, err = strconv.Atoi(v); return err }
	}
	float := func(p *float64) func(string) error {
		return func(v string) (err error) { *p, err = strconv.ParseFloat(v, 64); return err }
	}
	currency := func(p *string) func(string) error {
		return func(v string) error {
			v = strings.ToUpper(strings.TrimSpace(v))
			if v != "" && (len(v) != 3 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
				return fmt.Errorf("currency %q: want a three-letter code such as USD or EUR", v)
			}
			*p = v
			return nil
		}
	}
	boolean := func(p *bool) func(string) error {
		return func(v string) (err error) { *p, err = strconv.ParseBool(v); return err }
	}
	return []setting{
		{"PICTOR_ADDR", "addr", "listen address (empty = :8080 with API keys, 127.0.0.1:8080 without)", "", str(&c.Addr)},
		{"PICTOR_ALLOW_OPEN", "allow-open", "let serve listen on a non-loopback address with no API keys (an open service)", "false", boolean(&c.AllowOpen)},
		{"PICTOR_DATA_DIR", "data-dir", "directory for the SQLite file and the local object store", "./data", str(&c.DataDir)},
		{"PICTOR_DATABASE_URL", "database-url", "postgres://... for PostgreSQL; empty for SQLite in the data dir", "", str(&c.DatabaseURL)},
		{"PICTOR_S3_ENDPOINT", "s3-endpoint", "host:port of S3/MinIO; empty for the local-directory store", "", str(&c.S3Endpoint)},
		{"PICTOR_S3_ACCESS_KEY", "s3-access-key", "S3 access key", "", str(&c.S3AccessKey)},
		{"PICTOR_S3_SECRET_KEY", "s3-secret-key", "S3 secret key", "", str(&c.S3SecretKey)},
		{"PICTOR_S3_USE_SSL", "s3-use-ssl", "use HTTPS to reach S3", "false", boolean(&c.S3UseSSL)},
		{"PICTOR_S3_REGION", "s3-region", "S3 region", "us-east-1", str(&c.S3Region)},
		{"PICTOR_S3_BUCKET_ORIGINALS", "s3-bucket-originals", "bucket for originals", "originals", str(&c.BucketOriginals)},
		{"PICTOR_S3_BUCKET_RENDITIONS", "s3-bucket-renditions", "bucket for renditions", "renditions", str(&c.BucketRenditions)},
		{"PICTOR_PUBLIC_BASE_URL", "public-base-url", "CDN base URL in front of the buckets; rendition URLs become BASE/bucket/key", "", str(&c.PublicBaseURL)},
		{"PICTOR_PRESIGN_EXPIRY", "presign-expiry", "with S3, hand out presigned rendition URLs valid this long (0 = off)", "0s", dur(&c.PresignExpiry)},
		{"PICTOR_FETCH_ALLOWED_NETS", "fetch-allowed-nets", "CIDRs exempt from the private-address block, comma separated", "", str(&c.FetchAllowedNets)},
		{"PICTOR_FETCH_TIMEOUT", "fetch-timeout", "time limit for fetching one source image", "20s", dur(&c.FetchTimeout)},
		{"PICTOR_MAX_SOURCE_BYTES", "max-source-bytes", "largest source image accepted, in bytes", strconv.Itoa(32 << 20), i64(&c.MaxSourceBytes)},
		{"PICTOR_MAX_SOURCE_PIXELS", "max-source-pixels", "largest source image accepted, in pixels (from its header)", "50000000", i64(&c.MaxSourcePixels)},
		{"PICTOR_RENDER_BUDGET", "render-budget", "estimated pixel operations one render may cost, checked before decoding (-1 = no limit)", "5000000000", i64(&c.RenderBudget)},
		{"PICTOR_WORKERS", "workers", "libvips pipelines at once (0 = two per core: one pipeline leaves its core idle while its threads hand work over)", "0", num(&c.Workers)},
		{"PICTOR_SERVE_WORKERS", "serve-workers", "serve also runs the job workers (false when pictor worker replicas do)", "true", boolean(&c.ServeWorkers)},
		{"PICTOR_QUEUE_SIZE", "queue-size", "requests that may wait for a libvips slot before 429", "64", num(&c.QueueSize)},
		{"PICTOR_MEMORY_BUDGET", "memory-budget", "bytes of sources held at once, admitted once their length is known and before they are read (0 = 16 MiB per libvips pipeline slot, -1 = off)", "0", i64(&c.MemoryBudget)},
		{"PICTOR_DECODE_BUDGET", "decode-budget", "bytes of working memory that decoders holding the whole image (progressive JPEG, WebP, GIF, HEIF, AVIF, interlaced PNG) may hold at once (0 = 32 MiB per libvips pipeline slot, -1 = off)", "0", i64(&c.DecodeBudget)},
		{"PICTOR_SD_URLS", "sd-urls", "Stable Diffusion WebUI backends, comma separated (http://user:pass@host:7860); empty = no GPU", "", str(&c.SDURLs)},
		{"PICTOR_SD_CHECKPOINT", "sd-checkpoint", "inpainting checkpoint title for background replacement (empty = the loaded one)", "", str(&c.SDCheckpoint)},
		{"PICTOR_SD_SAMPLER", "sd-sampler", "sampler for background replacement", "DPM++ 2M", str(&c.SDSampler)},
		{"PICTOR_SD_SCHEDULER", "sd-scheduler", "scheduler for background replacement, exactly as the backend lists it (empty = the backend's Automatic)", "", str(&c.SDScheduler)},
		{"PICTOR_REMBG_URLS", "rembg-urls", "standalone rembg servers (rembg s), comma separated (http://host:7000); remove_background engine sd runs there; empty = none", "", str(&c.RembgURLs)},
		{"PICTOR_PROMPT_BLOCKLIST", "prompt-blocklist", "terms no prompt may contain (scenes, templates, recipes, negative prompts; ignoring case, width and whitespace), comma separated", "", str(&c.PromptBlocklist)},
		{"PICTOR_SAFETY_URL", "safety-url", "image safety classifier (docs/safety-api.md) every generated image is sent to; flagged or unclassified outputs are held for review; empty = no safety check", "", str(&c.SafetyURL)},
		{"PICTOR_API_KEYS", "api-keys", "API keys, sha256hex:scope+scope[@name] comma separated (pictor keys new); empty = open", "", str(&c.Access.APIKeys)},
		{"PICTOR_URL_SIGNING_KEY", "url-signing-key", "keys of 32+ bytes for /img URLs, comma separated, first signs; empty = /img off", "", str(&c.Access.URLSigningKey)},
		{"PICTOR_SESSION_SECRET", "session-secret", "key of 32+ bytes for console session cookies, the same on every replica; empty = the URL signing key, else a random one per process", "", str(&c.Access.SessionSecret)},
		{"PICTOR_DELIVERY_WIDTHS", "delivery-widths", "widths /img ?w= may ask for, comma separated, or none", "320,640,960,1280,1920", str(&c.Access.DeliveryWidths)},
		{"PICTOR_CORS_ORIGINS", "cors-origins", "browser origins allowed to call the API, comma separated", "", str(&c.Access.CORSOrigins)},
		{"PICTOR_TRUSTED_PROXIES", "trusted-proxies", "addresses or CIDRs of reverse proxies whose X-Forwarded-Proto is believed (https makes the session cookie Secure), comma separated", "", str(&c.Access.TrustedProxies)},
		{"PICTOR_RATE_LIMIT", "rate-limit", "ingest/render/analyze requests a second per API key (per IP when open); 0 = off", "20", str(&c.Access.RateLimit)},
		{"PICTOR_RATE_BURST", "rate-burst", "burst of the rate limit", "40", str(&c.Access.RateBurst)},
		{"PICTOR_BATCH_RATE_LIMIT", "batch-rate-limit", "batches created a second per API key (per IP when open), burst 10; 0 = off", "0.2", str(&c.Access.BatchRateLimit)},
		{"PICTOR_JOB_TIMEOUT", "job-timeout", "time limit of one render or batch item attempt", "2m", dur(&c.JobTimeout)},
		{"PICTOR_JOB_RESCUE_AFTER", "job-rescue-after", "fallback rescue: a job still running this long is run again by River's rescuer (longer than the job timeout); a process that dies is found sooner, by its heartbeat", "5m", dur(&c.JobRescueAfter)},
		{"PICTOR_COST_GPU_SECOND", "cost-gpu-second", "price of one GPU-second, for batch estimates", "0", float(&c.CostGPUSecond)},
		{"PICTOR_COST_CPU_SECOND", "cost-cpu-second", "price of one CPU-second, for batch estimates", "0", float(&c.CostCPUSecond)},
		{"PICTOR_COST_GB_MONTH", "cost-gb-month", "price of storing one GB for a month, for batch estimates", "0", float(&c.CostGBMonth)},
		{"PICTOR_COST_CURRENCY", "cost-currency", "currency of the prices, e.g. EUR (empty = USD once a price is set)", "", currency(&c.CostCurrency)},
		{"PICTOR_LOG_FORMAT", "log-format", "text or json", "text", str(&c.LogFormat)},
		{"PICTOR_LOG_LEVEL", "log-level", "debug, info, warn or error", "info", str(&c.LogLevel)},
		{"PICTOR_SHUTDOWN_TIMEOUT", "shutdown-timeout", "time to finish requests on SIGTERM", "20s", dur(&c.ShutdownTimeout)},
	}
}

// envValue adapts a setting to flag.Value.
type envValue struct {
	s   setting
	cur string
}

func (v *envValue) String() string { return v.cur }
func (v *envValue) Set(s string) error {
	if err := v.s.set(s); err != nil {
		return fmt.Errorf("%s: %w", v.s.flag, err)
	}
	v.cur = s
	return nil
}

// loadConfig reads defaults, then the environment, then flags; it returns the remaining args.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, []string, error) {
	var c config
	fs := flag.NewFlagSet("pictor "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var errs []error
	for _, s := range c.settings() {
		val := s.def
		if e := getenv(s.env); e != "" {
			val = e
		}
		if err := s.set(val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, val, err))
		}
		// The flag's shown value is the default, never the environment's: help must
		// not print secrets (keys, passwords) that the environment holds.
		fs.Var(&envValue{s: s, cur: s.def}, s.flag, fmt.Sprintf("%s (env %s)", s.help, s.env))
	}
	if err := errors.Join(errs...); err != nil {
		return c, nil, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, nil, errUsage
		}
		return c, nil, err
	}
	if c.Workers <= 0 {
		c.Workers = imaging.SlotsPerCore * runtime.NumCPU()
	}
	return c, fs.Args(), nil
}

func newLogger(c config, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.LogFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}
