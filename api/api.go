// Package api is Pictor's HTTP layer: the chi router (routes.go lists every route), the
// handlers, the middleware, the one error -> HTTP status table (problem.go) and the embedded
// OpenAPI document.
package api

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/catalog"
)

// Catalog is the part of the application core the HTTP layer uses: what each group of
// handlers needs, each declared beside its handlers. *catalog.Service implements it.
type Catalog interface {
	imageStore
	imageSelector
	renderer
	recipeStore
	analyzer
	readiness
	idempotencyStore
	deliverer
	sceneStore
	templateStore
	sessionStore
}

var _ Catalog = (*catalog.Service)(nil)

// ErrInvalidConfig is returned by Config.Validate and New for an unusable configuration.
var ErrInvalidConfig = errors.New("invalid api config")

// Config tunes the HTTP layer. The zero value is not valid: start from DefaultConfig.
type Config struct {
	// MaxSourceBytes bounds upload bodies (multipart and raw image bytes); a larger body
	// is answered with 413 body-too-large. Default 32 MiB.
	MaxSourceBytes int64
	// MaxJSONBytes bounds JSON request bodies and multipart text fields. Default 1 MiB.
	MaxJSONBytes int64
	// Version is the software version reported by GET /healthz. Default "dev".
	Version string
	// EventPoll is how often a scene's event stream reads its state. Default 250ms.
	EventPoll time.Duration

	// Keys are the API keys accepted as "Authorization: Bearer KEY" on /v1 routes (hashes and
	// scopes, from auth.ParseKeys). Default none: every route is open, and New logs a warning.
	Keys []auth.Key
	// SigningKeys verify the signatures of GET /img/... delivery URLs, each at least
	// auth.MinSigningKeyLen bytes; all verify, the first is the one to sign with (rotation).
	// Default none: delivery is off and /img answers 404.
	SigningKeys [][]byte
	// SessionSecret keys the console's session cookies, at least auth.MinSigningKeyLen
	// bytes; replicas that share it accept each other's sessions. Default none: the
	// SigningKeys key sessions when set, and otherwise a random secret made by New (sessions
	// then end with the process and do not reach other replicas). Never derived from
	// the API key hashes alone, which configuration files carry.
	SessionSecret []byte
	// DeliveryWidths are the widths a delivery URL may ask for with ?w=, each 1 to
	// MaxDeliveryWidth. Default 320, 640, 960, 1280, 1920. Empty: ?w= is refused.
	DeliveryWidths []int
	// CORSOrigins are the browser origins ("https://shop.example.com": scheme, host, optional
	// port) allowed to call the API cross-origin, changes included. Default none: preflights
	// are refused, and so is every request other than GET, HEAD and OPTIONS that a browser
	// sends from another site (crossOrigin in middleware.go).
	CORSOrigins []string
	// TrustedProxies are the addresses of the reverse proxies in front of the service whose
	// X-Forwarded-Proto header is believed: a request from one of them saying https gets a
	// Secure session cookie. Default none: the header is ignored, and the cookie is Secure
	// only when the connection to this process is TLS.
	TrustedProxies []netip.Prefix
	// RateLimit bounds ingest, render and analyze requests per API key (per client IP when
	// no keys are configured). Default 20 a second, burst 40.
	RateLimit RateLimit
	// BatchRateLimit bounds batch creation (POST /v1/batches, whose manifests are spooled
	// to disk and read whole) per API key, per client IP when open. Default one every 5 s,
	// burst 10.
	BatchRateLimit RateLimit
}

// MaxDeliveryWidth is the largest width Config.DeliveryWidths may hold.
const MaxDeliveryWidth = 8192

// RateLimit is a token bucket per caller: Burst requests at once, refilled at PerSecond.
type RateLimit struct {
	// PerSecond is the sustained rate. Default 20. Zero turns rate limiting off.
	PerSecond float64
	// Burst is the bucket size, at least 1 when PerSecond is set. Default 40.
	Burst int
}

// DefaultConfig returns the defaults: 32 MiB uploads, 1 MiB JSON bodies, version "dev",
// no API keys (open), no signing keys (delivery off), delivery widths 320, 640, 960, 1280 and
// 1920, no CORS origins, and a rate limit of 20 a second with a burst of 40.
func DefaultConfig() Config {
	return Config{
		MaxSourceBytes: 32 << 20,
		MaxJSONBytes:   1 << 20,
		Version:        "dev",
		EventPoll:      250 * time.Millisecond,
		DeliveryWidths: []int{320, 640, 960, 1280, 1920},
		RateLimit:      RateLimit{PerSecond: 20, Burst: 40},
		BatchRateLimit: RateLimit{PerSecond: 0.2, Burst: 10},
	}
}

// Validate reports every problem with c, joined, each wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	if c.MaxSourceBytes <= 0 {
		errs = append(errs, fmt.Errorf("%w: max source bytes must be positive, got %d", ErrInvalidConfig, c.MaxSourceBytes))
	}
	if c.MaxJSONBytes <= 0 {
		errs = append(errs, fmt.Errorf("%w: max json bytes must be positive, got %d", ErrInvalidConfig, c.MaxJSONBytes))
	}
	seen := map[[32]byte]bool{}
	for i, k := range c.Keys {
		if k.Scopes == 0 || k.Scopes&^(auth.ScopeRead|auth.ScopeWrite|auth.ScopeAdmin) != 0 {
			errs = append(errs, fmt.Errorf("%w: api key %d has no valid scope", ErrInvalidConfig, i+1))
		}
		if seen[k.Hash] {
			errs = append(errs, fmt.Errorf("%w: api key %d is configured twice", ErrInvalidConfig, i+1))
		}
		seen[k.Hash] = true
	}
	for i, k := range c.SigningKeys {
		if len(k) < auth.MinSigningKeyLen {
			errs = append(errs, fmt.Errorf("%w: signing key %d is %d bytes, want at least %d", ErrInvalidConfig, i+1, len(k), auth.MinSigningKeyLen))
		}
	}
	if len(c.SessionSecret) > 0 && len(c.SessionSecret) < auth.MinSigningKeyLen {
		errs = append(errs, fmt.Errorf("%w: session secret is %d bytes, want at least %d", ErrInvalidConfig, len(c.SessionSecret), auth.MinSigningKeyLen))
	}
	for _, w := range c.DeliveryWidths {
		if w < 1 || w > MaxDeliveryWidth {
			errs = append(errs, fmt.Errorf("%w: delivery width %d is outside 1 to %d", ErrInvalidConfig, w, MaxDeliveryWidth))
		}
	}
	for _, o := range c.CORSOrigins {
		if !validOrigin(o) {
			errs = append(errs, fmt.Errorf("%w: cors origin %q: want scheme://host[:port], e.g. https://shop.example.com", ErrInvalidConfig, o))
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("%w: trusted proxy %v: want an address or CIDR such as 10.0.0.0/8", ErrInvalidConfig, p))
		}
	}
	for _, rl := range []struct {
		name string
		RateLimit
	}{{"rate limit", c.RateLimit}, {"batch rate limit", c.BatchRateLimit}} {
		if r := rl.PerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			errs = append(errs, fmt.Errorf("%w: %s must be zero (off) or a positive rate, got %v", ErrInvalidConfig, rl.name, r))
		} else if r > 0 && rl.Burst < 1 {
			errs = append(errs, fmt.Errorf("%w: %s burst must be at least 1, got %d", ErrInvalidConfig, rl.name, rl.Burst))
		}
	}
	return errors.Join(errs...)
}

// validOrigin reports whether o is a serialized origin: http or https, a host, an optional
// port, nothing else, in lower case (browsers send origins lower-cased).
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	return o == strings.ToLower(o) && o == u.Scheme+"://"+u.Host
}

// Deps are the collaborators New wires in.
type Deps struct {
	// Catalog is the application core. Required.
	Catalog Catalog
	// Logger receives access logs, recovered panics and internal errors.
	// Default (nil): logs are discarded.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics; never the global registry. Required.
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics. Required.
	Gatherer prometheus.Gatherer
	// Jobs runs async renders and scenes. Default (nil): recipes that need the GPU and
	// scenes answer 503.
	Jobs Jobs
	// Backends reports the WebUI backends for GET /v1/backends. Default (nil): none configured.
	Backends Backends
	// Batches runs batches. Default (nil): batch routes answer 501 or 404.
	Batches Batches
	// Reviews is the review queue. Default (nil): the review routes answer 501.
	Reviews Reviews
	// Console holds the designers' console files, served under /console/ with the console's
	// security headers. Default (nil): /console/ answers 404.
	Console fs.FS
}

// New validates cfg and deps, registers the HTTP metrics on deps.Registerer and returns
// the router with every route of routes.go.
func New(cfg Config, deps Deps) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if deps.Catalog == nil {
		errs = append(errs, fmt.Errorf("%w: catalog is required", ErrInvalidConfig))
	}
	if deps.Registerer == nil {
		errs = append(errs, fmt.Errorf("%w: prometheus registerer is required", ErrInvalidConfig))
	}
	if deps.Gatherer == nil {
		errs = append(errs, fmt.Errorf("%w: prometheus gatherer is required", ErrInvalidConfig))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &server{
		cfg:      cfg,
		catalog:  deps.Catalog,
		log:      logger,
		metrics:  m,
		gatherer: deps.Gatherer,
		console:  deps.Console,
		jobs:     deps.Jobs,
		backends: deps.Backends,
		batches:  deps.Batches,
		reviews:  deps.Reviews,
		keyNames: keyNames(cfg.Keys),
		origins:  map[string]bool{},
		xorigin:  http.NewCrossOriginProtection(),
	}
	s.spool.gauge = m.manifestUploads
	for _, o := range cfg.CORSOrigins {
		s.origins[o] = true
		if err := s.xorigin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("%w: cors origin %q: %w", ErrInvalidConfig, o, err)
		}
	}
	if cfg.BatchRateLimit.PerSecond > 0 {
		s.batchLimiter = newLimiter(cfg.BatchRateLimit)
	}
	if cfg.RateLimit.PerSecond > 0 {
		s.limiter = newLimiter(cfg.RateLimit)
	}
	material := cfg.SigningKeys
	switch {
	case len(cfg.SessionSecret) > 0:
		material = [][]byte{cfg.SessionSecret}
	case len(material) == 0:
		random := make([]byte, 32)
		if _, err := rand.Read(random); err != nil {
			return nil, fmt.Errorf("session secret: %w", err)
		}
		material = [][]byte{random}
		if len(cfg.Keys) > 0 {
			logger.Info("console sessions are keyed by a random secret of this process: they end when it stops and other replicas do not accept them; set PICTOR_SESSION_SECRET")
		}
	}
	s.sessionKey = auth.SessionSecret(cfg.Keys, material)
	if len(cfg.Keys) == 0 {
		logger.Warn("no API keys configured: every route is open to anyone who can reach the service; set PICTOR_API_KEYS (see pictor keys new)")
	}
	if len(cfg.SigningKeys) == 0 {
		logger.Info("signed delivery URLs are off (no URL signing key): /img answers 404")
	}
	return s.routes(), nil
}

// keyNames labels each key for logs: its name, or "key-N" by position (1-based).
func keyNames(keys []auth.Key) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
		if names[i] == "" {
			names[i] = fmt.Sprintf("key-%d", i+1)
		}
	}
	return names
}

// server holds what the handlers share; it is built once by New and never mutated (the
// rate limiter guards its own state).
type server struct {
	cfg      Config
	catalog  Catalog
	log      *slog.Logger
	metrics  *metrics
	gatherer prometheus.Gatherer
	console  fs.FS
	jobs     Jobs
	backends Backends
	batches  Batches
	reviews  Reviews
	keyNames []string
	origins  map[string]bool
	// xorigin refuses cross-site changes from browsers; CORSOrigins are its trusted origins.
	xorigin *http.CrossOriginProtection
	limiter *limiter // nil when rate limiting is off
	// batchLimiter bounds batch creation; nil when off.
	batchLimiter *limiter
	// spool bounds the manifest uploads being received (spool.go).
	spool spool
	// sessionKey is the HMAC key of session tokens (see sessionSecret).
	sessionKey []byte
}
