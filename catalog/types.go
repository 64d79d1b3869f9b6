package catalog

import (
	"time"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"

	"github.com/pictor/pictor/fault"
)

// Errors the catalog returns; api maps them to HTTP answers in its one table. Errors from the leaves
// (imaging, fetch, storage, pipeline) are wrapped unchanged so errors.Is still finds them.
var (
	// ErrNotFound is returned when an image, rendition or recipe does not exist.
	ErrNotFound = fault.New(fault.NotFound, "not-found", "Not found", "not found")
	// ErrInvalid is returned for a request the catalog cannot act on (bad id, no source).
	ErrInvalid = fault.New(fault.Invalid, "invalid-request", "Invalid request", "invalid request")
	// ErrSDRequired is returned when a recipe needs a Stable Diffusion backend and none is
	// configured. It is pipeline's: one error, whichever layer finds it missing.
	ErrSDRequired = pipeline.ErrSDRequired
	// ErrNotImplemented marks a feature this process was started without (the batch
	// routes of an API that has no job service) or a step the pipeline cannot run. It is
	// pipeline's: one error for both.
	ErrNotImplemented = pipeline.ErrNotImplemented
	// ErrIdempotencyMismatch is returned when an Idempotency-Key is reused with a different request.
	ErrIdempotencyMismatch = fault.New(fault.Unprocessable, "idempotency-mismatch", "Idempotency key reused", "idempotency key reused with a different request")
	// ErrUnavailable marks a database failure that may pass when retried later: the
	// database cannot be reached or cannot take the statement now (db.IsUnavailable: a
	// lost connection, SQLite busy or locked), or a transaction could not begin or commit.
	// The catalog and jobs wrap it around the driver's error.
	ErrUnavailable = fault.New(fault.Unavailable, "database-unavailable", "Database unavailable", "database unavailable")
)

// Image is an ingested original: one row per (content hash, sku).
type Image struct {
	ID        string         `json:"id"`
	SHA256    string         `json:"sha256"`
	SKU       string         `json:"sku,omitempty"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Format    string         `json:"format"`
	Bytes     int64          `json:"bytes"`
	CreatedAt time.Time      `json:"created_at"`
	Quality   *QualityReport `json:"quality,omitempty"`
	// QualityError says why Quality is missing when the original does not decode in full
	// (GetImage); empty otherwise.
	QualityError string `json:"quality_error,omitempty"`
	// SceneRenditionID is the approved scene variant, when a designer approved one.
	SceneRenditionID string `json:"scene_rendition_id,omitempty"`
	// Meta is the image's metadata (keys lower-case), from manifests, ingests and PATCH
	// /v1/images/{id}/meta; nil when it has none.
	Meta map[string]string `json:"meta,omitempty"`
}

// Rendition is one stored output of a recipe run on an original.
type Rendition struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Format     string    `json:"format"`
	Bytes      int64     `json:"bytes"`
	URL        string    `json:"url"`
	Cached     bool      `json:"cached"`
	RecipeHash string    `json:"recipe_hash"`
	SourceSHA  string    `json:"source_sha256"`
	CreatedAt  time.Time `json:"created_at"`
	// Lineage records how generative steps made it (prompt, seed, model, sampler, steps).
	Lineage map[string]string `json:"lineage,omitempty"`
	// GPUSeconds is the backend time the render took, for cost.
	GPUSeconds float64 `json:"gpu_seconds,omitempty"`
	// Checks is the check report of an output made by AI steps; nil for classic recipes.
	Checks *checks.Report `json:"checks,omitempty"`
	// Review is the rendition's review state: "" (published, no review asked),
	// ReviewPending, ReviewApproved or ReviewRejected. Only "" and approved are delivered
	// to read-scope callers.
	Review string `json:"review,omitempty"`
}

// Held reports whether the rendition is kept from delivery: awaiting review or rejected.
func (rd Rendition) Held() bool { return rd.Review == ReviewPending || rd.Review == ReviewRejected }

// Review states of a rendition.
const (
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// Review policies: which outputs are held for a person to look at before delivery.
const (
	ReviewNone   = "none"   // nothing is held
	ReviewFailed = "failed" // outputs failing a check (or unclassified by the safety check) are held
	ReviewAll    = "all"    // every output of an AI recipe is held
)

// RenderOptions say how a render is asked for: the formats an "auto" output may take, the
// review policy, and what it belongs to (for the review queue's filters).
type RenderOptions struct {
	// Accept lists the formats beyond JPEG and PNG the client takes (the API reads them from
	// its Accept header); default nil (auto picks JPEG or PNG).
	Accept []imaging.Format
	// Review is ReviewNone, ReviewFailed or ReviewAll; default "" means ReviewFailed for
	// recipes with AI steps and ReviewNone otherwise.
	Review string
	// BatchID and SceneID tie the renditions to a batch or scene in the review queue.
	BatchID, SceneID string
	// Lane is where the render waits for libvips slots and GPUs: sdclient.Batch queues
	// behind interactive work and is never answered ErrBusy; default interactive.
	Lane sdclient.Lane
	// OnProgress, when set, hears the backend's progress of the generations the render
	// starts (fraction 0..1, seconds left, live preview or nil).
	OnProgress func(fraction, eta float64, preview []byte)
}

// QualityReport describes a source image for triage: size, sharpness, JPEG quality, background.
type QualityReport struct {
	Width           int     `json:"width"`
	Height          int     `json:"height"`
	Format          string  `json:"format"`
	Bytes           int64   `json:"bytes"`
	HasAlpha        bool    `json:"has_alpha"`
	Sharpness       float64 `json:"sharpness"`
	JPEGQuality     int     `json:"jpeg_quality,omitempty"`
	PlainBackground bool    `json:"plain_background"`
	BackgroundColor string  `json:"background_color,omitempty"`
}

// IngestRequest is what POST /v1/images carries: a URL or the bytes, an optional SKU and
// an optional recipe (already resolved by ResolveRecipe).
type IngestRequest struct {
	URL    string
	Data   []byte
	SKU    string
	Recipe RecipeRef
	// Accept is as in RenderOptions.
	Accept []imaging.Format
	// Review is the review policy for the recipe's outputs; default "" (see RenderOptions).
	Review string
	// Lane is as in RenderOptions: a batch's ingests wait behind interactive ones.
	Lane sdclient.Lane
	// Admitted says the caller already holds Data's bytes in the memory budget (Admit);
	// default false: the ingest reserves them itself.
	Admitted bool
	// Meta is merged into the image's metadata (SetImageMeta's rules), also when the
	// image is known already; default none.
	Meta map[string]string
}

// RecipeRef is a recipe given by name or inline; the zero value means no recipe.
type RecipeRef struct {
	Name   string
	Inline []byte
}

// IsZero reports whether no recipe was given.
func (r RecipeRef) IsZero() bool { return r.Name == "" && len(r.Inline) == 0 }

// IngestResult is the answer to an ingest: the image, and the renditions when a recipe was given.
type IngestResult struct {
	Image      Image       `json:"image"`
	Renditions []Rendition `json:"renditions,omitempty"`
}

// ListImagesQuery filters and pages GET /v1/images. Limit defaults to 50, at most 200.
type ListImagesQuery struct {
	// Selection picks the images; the zero value lists them all.
	Selection Selection
	// SKU, when set, is added to Selection.SKUs (kept for older callers).
	SKU string
	// Cursor is the next cursor of the previous page; "" starts at the first image.
	Cursor string
	// Limit is the page size, 1 to 200; 0 means 50.
	Limit int
}

// StoredRecipe is a named recipe as kept in the database, in canonical form.
type StoredRecipe struct {
	Name      string    `json:"name"`
	Hash      string    `json:"hash"`
	Recipe    []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ObjectMeta describes stored bytes served by the content routes.
type ObjectMeta struct {
	ContentType string
	Size        int64
	ETag        string
	Modified    time.Time
	// Held is true for a rendition awaiting review or rejected: only callers allowed to
	// review may read it.
	Held bool
}

// IdempotentResponse is a stored first answer for an Idempotency-Key.
type IdempotentResponse struct {
	RequestHash string
	Status      int
	Body        []byte
}
