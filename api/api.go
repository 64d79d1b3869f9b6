// Package api is Pictor's HTTP layer: the chi router (routes.go lists every route), the
// handlers, the middleware, the one error -> HTTP status table (problem.go) and the embedded
// OpenAPI document.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
)

// Catalog is the part of the application core the HTTP layer uses.
// *catalog.Service implements it.
type Catalog interface {
	Ingest(ctx context.Context, req catalog.IngestRequest) (*catalog.IngestResult, error)
	GetImage(ctx context.Context, id string) (catalog.Image, error)
	ListImages(ctx context.Context, q catalog.ListImagesQuery) ([]catalog.Image, string, error)
	OpenOriginal(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error)
	Render(ctx context.Context, imageID string, ref catalog.RecipeRef, accept string) ([]catalog.Rendition, error)
	OpenRendition(ctx context.Context, id string) (io.ReadCloser, catalog.ObjectMeta, error)
	PutRecipe(ctx context.Context, name string, body []byte) (catalog.StoredRecipe, bool, error)
	GetRecipe(ctx context.Context, name string) (catalog.StoredRecipe, error)
	DeleteRecipe(ctx context.Context, name string) error
	ListRecipes(ctx context.Context) ([]catalog.StoredRecipe, error)
	Analyze(ctx context.Context, url string, data []byte) (catalog.QualityReport, error)
	Ready(ctx context.Context) error
	LookupIdempotency(ctx context.Context, key string) (catalog.IdempotentResponse, bool, error)
	SaveIdempotency(ctx context.Context, key string, r catalog.IdempotentResponse) error
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
}

// DefaultConfig returns the defaults: 32 MiB uploads, 1 MiB JSON bodies, version "dev".
func DefaultConfig() Config {
	return Config{
		MaxSourceBytes: 32 << 20,
		MaxJSONBytes:   1 << 20,
		Version:        "dev",
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
	return errors.Join(errs...)
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
	}
	return s.routes(), nil
}

// server holds what the handlers share; it is built once by New and never mutated.
type server struct {
	cfg      Config
	catalog  Catalog
	log      *slog.Logger
	metrics  *metrics
	gatherer prometheus.Gatherer
}
