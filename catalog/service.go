package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/promptpolicy"
	"github.com/pictor/pictor/storage"
)

// ObjectStore is the object storage the catalog needs; storage.Local and storage.S3 provide it.
type ObjectStore interface {
	EnsureBucket(ctx context.Context, bucket string) error
	Put(ctx context.Context, bucket, key string, data []byte, opts storage.PutOptions) error
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, storage.ObjectInfo, error)
	Stat(ctx context.Context, bucket, key string) (storage.ObjectInfo, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket, prefix string) iter.Seq2[storage.ObjectInfo, error]
	Ping(ctx context.Context) error
}

// Presigner is implemented by stores that can hand out time-limited GET URLs (S3).
type Presigner interface {
	PresignGet(ctx context.Context, bucket, key string, expiry time.Duration) (string, error)
}

var (
	_ ObjectStore = (*storage.Local)(nil)
	_ ObjectStore = (*storage.S3)(nil)
	_ Presigner   = (*storage.S3)(nil)
)

// Fetcher gets source images by URL; fetch.Fetcher is the SSRF-safe one.
type Fetcher interface {
	// FetchAdmitted fetches a source, calling admit with the announced length once the
	// headers are in and before the body is read.
	FetchAdmitted(ctx context.Context, rawURL string, admit func(ctx context.Context, size int64) error) (*fetch.Result, error)
	// Download streams a large body (a batch manifest) to w within its own limits.
	Download(ctx context.Context, rawURL string, w io.Writer, maxBytes int64, timeout time.Duration) (contentType string, n int64, err error)
}

// Config holds the catalog's settings.
type Config struct {
	// BucketOriginals holds originals; default "originals".
	BucketOriginals string
	// BucketRenditions holds renditions; default "renditions".
	BucketRenditions string
	// MaxSourceBytes bounds an uploaded or fetched source; default 32 MiB.
	MaxSourceBytes int64
	// MaxSourcePixels bounds width*height of a source, checked from its header; default 50 MP.
	MaxSourcePixels int64
	// RenderBudget bounds what one render may cost in estimated pixel operations
	// (pipeline.EstimateCost), checked before decoding; default 0 (pipeline.DefaultMaxCost),
	// negative for no limit.
	RenderBudget float64
	// PublicBaseURL, when set, makes rendition URLs PublicBaseURL/<bucket>/<key> (a CDN in
	// front of the bucket); default "" (the service's own content route).
	PublicBaseURL string
	// PresignExpiry, when above zero and the store can presign, makes rendition URLs presigned
	// for that long; default 0 (off).
	PresignExpiry time.Duration
	// NoChecks turns the output checks of AI recipes off (benchmarks that price them);
	// default false.
	NoChecks bool
	// PromptBlocklist are terms no prompt may contain (scene prompts, negative prompts,
	// template and recipe prompts), matched ignoring case, width and whitespace; they
	// are refused before any GPU time is spent. Default none.
	PromptBlocklist []string
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		BucketOriginals:  "originals",
		BucketRenditions: "renditions",
		MaxSourceBytes:   32 << 20,
		MaxSourcePixels:  50_000_000,
	}
}

// Validate reports settings the catalog cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.BucketOriginals == "" || c.BucketRenditions == "" {
		errs = append(errs, errors.New("catalog: bucket names must be set"))
	}
	if c.BucketOriginals == c.BucketRenditions {
		errs = append(errs, errors.New("catalog: originals and renditions need different buckets"))
	}
	if c.MaxSourceBytes <= 0 {
		errs = append(errs, errors.New("catalog: MaxSourceBytes must be positive"))
	}
	if c.MaxSourcePixels <= 0 {
		errs = append(errs, errors.New("catalog: MaxSourcePixels must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are the parts the catalog is wired to.
type Deps struct {
	DB         *db.DB
	Store      ObjectStore
	Fetcher    Fetcher
	Gate       *imaging.Gate
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// SD reaches Stable Diffusion WebUI backends and standalone rembg servers; nil when
	// none is configured. Recipes that need a backend SD does not have (SD.Serves) fail
	// with ErrSDRequired.
	SD *pipeline.SD
	// Safety classifies generated images; nil when no classifier is configured (the
	// safety check is then not run).
	Safety Safety
	// Links build the URLs of the service's own routes (the API's); nil leaves them empty.
	Links Links
}

// Service is the application core: ingest, render with the rendition cache, named recipes.
type Service struct {
	cfg     Config
	db      *db.DB
	store   ObjectStore
	fetcher Fetcher
	gate    *imaging.Gate
	sd      *pipeline.SD
	safety  Safety
	policy  *promptpolicy.Policy
	log     *slog.Logger
	m       *metrics
	// Identical work in flight at once runs once: renders by source and recipe, ingests
	// by URL and everything else the request says.
	renderFlights flights[[]Rendition]
	ingestFlights flights[*IngestResult]
	now           func() time.Time
	links         Links
}

// New checks the config and wires the service; call Init before serving.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Store == nil || d.Fetcher == nil || d.Gate == nil {
		return nil, errors.New("catalog: DB, Store, Fetcher and Gate are required")
	}
	policy, err := promptpolicy.New(cfg.PromptBlocklist)
	if err != nil {
		return nil, fmt.Errorf("catalog: PromptBlocklist: %w", err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(d.Registerer, d.Gate)
	if err != nil {
		return nil, err
	}
	if d.Links == nil {
		d.Links = noLinks{}
	}
	s := &Service{cfg: cfg, db: d.DB, store: d.Store, fetcher: d.Fetcher, gate: d.Gate, sd: d.SD, safety: d.Safety, policy: policy,
		log: d.Logger, m: m, now: time.Now, links: d.Links}
	s.renderFlights.joined = m.coalesced.WithLabelValues("render").Inc
	s.ingestFlights.joined = m.coalesced.WithLabelValues("ingest").Inc
	return s, nil
}

// Init runs the catalog's migrations and creates the buckets when missing.
func (s *Service) Init(ctx context.Context) error {
	if err := s.db.Migrate(ctx, "catalog", migrations); err != nil {
		return fmt.Errorf("catalog migrations: %w", err)
	}
	for _, b := range []string{s.cfg.BucketOriginals, s.cfg.BucketRenditions} {
		if err := s.store.EnsureBucket(ctx, b); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", b, err)
		}
	}
	return nil
}

// Ready reports whether the database and the object store answer and the imaging queue has room.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w: %w", ErrUnavailable, err)
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	if s.gate.Saturated() {
		return fmt.Errorf("imaging queue is full: %w", imaging.ErrBusy)
	}
	return nil
}

// DBError wraps a database failure with op, for the catalog and jobs alike. Only connection-class failures
// (db.IsUnavailable) are marked ErrUnavailable (the database is down, worth waiting
// for); any other error (a constraint violation, a syntax error) stays a plain error,
// a fault of ours. Context errors are left as they are.
func DBError(op string, err error) error {
	if err == nil {
		return nil
	}
	if db.IsUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
