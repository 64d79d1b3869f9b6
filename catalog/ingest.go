package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// maxSKU bounds the SKU a client may attach to an image.
const maxSKU = 128

// Ingest fetches the URL (or takes the bytes), checks the header, stores the original by
// content hash and records it; with a recipe it renders every output too. The original
// is stored before its row is written, so a store failure leaves no record behind.
func (s *Service) Ingest(ctx context.Context, req IngestRequest) (res *IngestResult, err error) {
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		s.m.ingests.WithLabelValues(outcome).Inc()
	}()
	if req.URL == "" || len(req.Data) > 0 {
		return s.ingest(ctx, req)
	}
	// Identical ingests of one URL in flight at once share one fetch, hash, store and
	// render; each caller gets its own copy of the answer.
	key, err := ingestKey(req)
	if err != nil {
		return nil, err
	}
	v, err := s.ingestFlights.do(ctx, key, func(ctx context.Context) (*IngestResult, error) {
		return s.ingest(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	res = &IngestResult{Image: v.Image, Renditions: slices.Clone(v.Renditions)}
	res.Image.Meta = maps.Clone(v.Image.Meta)
	return res, nil
}

// ingestKey names what an ingest by URL asks for: two requests with the same key get the
// same answer.
func ingestKey(req IngestRequest) (string, error) {
	b, err := json.Marshal(struct {
		URL, SKU, Recipe, Review string
		Inline                   []byte
		Accept                   []imaging.Format
		Lane                     sdclient.Lane
		Meta                     map[string]string
	}{req.URL, req.SKU, req.Recipe.Name, req.Review, req.Recipe.Inline, req.Accept, req.Lane, req.Meta})
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (s *Service) ingest(ctx context.Context, req IngestRequest) (res *IngestResult, err error) {
	if len(req.SKU) > maxSKU {
		return nil, fmt.Errorf("sku longer than %d bytes: %w", maxSKU, ErrInvalid)
	}
	meta, err := normalizeMetaSet(metaSetOf(req.Meta))
	if err != nil {
		return nil, err
	}
	var recipe *pipeline.Recipe
	if !req.Recipe.IsZero() {
		if recipe, err = s.resolveRecipe(ctx, req.Recipe); err != nil {
			return nil, err
		}
	}
	data := req.Data
	switch {
	case req.URL != "" && len(data) > 0:
		return nil, fmt.Errorf("give a url or the bytes, not both: %w", ErrInvalid)
	case req.URL != "":
		r, mem, err := s.fetchSource(ctx, req.Lane, req.URL)
		if err != nil {
			return nil, err
		}
		defer mem.Release()
		data = r.Body
	case len(data) == 0:
		return nil, fmt.Errorf("no image: give a url or upload the bytes: %w", ErrInvalid)
	case !req.Admitted:
		// Uploaded bytes are in memory already; counting them keeps later sources waiting.
		mem, err := s.reserve(ctx, req.Lane, int64(len(data)))
		if err != nil {
			return nil, err
		}
		defer mem.Release()
	}
	if int64(len(data)) > s.cfg.MaxSourceBytes {
		return nil, fmt.Errorf("source is %d bytes, limit %d: %w", len(data), s.cfg.MaxSourceBytes, fetch.ErrTooLarge)
	}
	info, err := s.probe(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	img := Image{
		ID: imageID(sha, req.SKU), SHA256: sha, SKU: req.SKU, Format: string(info.Format), Bytes: int64(len(data)),
	}
	img.Width, img.Height = orientedSize(info)

	existing, err := s.getImage(ctx, img.ID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	// Decode once before anything is stored: with a recipe the render does it (and the
	// rendition cache may make it unnecessary); without one the quality analysis does.
	var plan *renderPlan
	if recipe != nil {
		if plan, err = s.planRender(ctx, sha, recipe, req.Accept, info.HasAlpha); err != nil {
			return nil, err
		}
		plan.imageID, plan.opts = img.ID, RenderOptions{Accept: req.Accept, Review: req.Review, Lane: req.Lane}
		if !known {
			// Stored once the render has succeeded, with its renditions.
			orig := img
			plan.alongside = func(ctx context.Context) error { return s.putOriginal(ctx, orig, data) }
		}
		if !plan.cached {
			if err := s.runPlan(ctx, plan, data); err != nil {
				return nil, err
			}
		}
	} else if !known {
		rep, err := s.analyze(ctx, req.Lane, data)
		if err != nil {
			return nil, err
		}
		img.Quality = &rep
	}
	if known {
		img = existing
	} else {
		// Unless the render stored it (not when its renditions were stored already, or
		// when this ingest joined another's render).
		if plan == nil || !plan.stored {
			if err := s.putOriginal(ctx, img, data); err != nil {
				return nil, err
			}
		}
		if img, err = s.insertImage(ctx, img, req.URL); err != nil {
			return nil, err
		}
	}
	if img, err = s.mergeMeta(ctx, img, meta); err != nil {
		return nil, err
	}
	res = &IngestResult{Image: img}
	if plan != nil {
		if res.Renditions, err = s.finishPlan(ctx, plan); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// probe reads the header and applies the pixel limit before any decode.
func (s *Service) probe(data []byte) (imaging.Info, error) {
	info, err := imaging.Probe(data)
	if err != nil {
		return imaging.Info{}, err
	}
	if int64(info.Width)*int64(info.Height) > s.cfg.MaxSourcePixels {
		return imaging.Info{}, fmt.Errorf("%dx%d is over the %d pixel limit: %w", info.Width, info.Height, s.cfg.MaxSourcePixels, imaging.ErrTooManyPixels)
	}
	return info, nil
}

func orientedSize(info imaging.Info) (int, int) {
	if info.Orientation >= 5 && info.Orientation <= 8 {
		return info.Height, info.Width
	}
	return info.Width, info.Height
}

// Analyze makes a quality report for a URL or bytes without storing anything.
func (s *Service) Analyze(ctx context.Context, url string, data []byte) (QualityReport, error) {
	if url != "" {
		if len(data) > 0 {
			return QualityReport{}, fmt.Errorf("give a url or the bytes, not both: %w", ErrInvalid)
		}
		r, mem, err := s.fetchSource(ctx, sdclient.Interactive, url)
		if err != nil {
			return QualityReport{}, err
		}
		defer mem.Release()
		data = r.Body
	}
	if len(data) == 0 {
		return QualityReport{}, fmt.Errorf("no image: give a url or upload the bytes: %w", ErrInvalid)
	}
	if _, err := s.probe(data); err != nil {
		return QualityReport{}, err
	}
	return s.analyze(ctx, sdclient.Interactive, data)
}

// fetchSource fetches a source admitted by bytes: once the answer's headers announce its
// length (or, when they do not, the largest source accepted), it waits for that much of
// the memory budget before reading a byte of the body, so a request waiting for its turn
// holds no source, and small sources from slow origins are fetched many at once. The
// caller releases the reservation, settled to the body's size, when done with the bytes.
func (s *Service) fetchSource(ctx context.Context, lane sdclient.Lane, url string) (*fetch.Result, *imaging.Reservation, error) {
	// A full queue refuses now, before the origin is asked for anything.
	if lane != sdclient.Batch && s.gate.Saturated() {
		return nil, nil, fmt.Errorf("imaging queue is full: %w", imaging.ErrBusy)
	}
	var (
		mem    *imaging.Reservation
		waited time.Duration
	)
	t := time.Now()
	r, err := s.fetcher.FetchAdmitted(ctx, url, func(ctx context.Context, size int64) error {
		if size < 0 || size > s.cfg.MaxSourceBytes {
			size = s.cfg.MaxSourceBytes
		}
		w := time.Now()
		var err error
		mem, err = s.reserve(ctx, lane, size)
		waited = time.Since(w)
		return err
	})
	s.m.stage.WithLabelValues("fetch").Observe((time.Since(t) - waited).Seconds())
	if err != nil {
		mem.Release()
		return nil, nil, err
	}
	mem.Settle(int64(len(r.Body)))
	return r, mem, nil
}

// Admit holds n bytes of the memory budget for sources (at most MaxSourceBytes counted),
// for a caller about to read an upload: it waits while the bytes in flight would pass the
// budget, and fails at once with imaging.ErrBusy when too many wait already. Settle it to
// the body's size once read, pass IngestRequest.Admitted, and Release it when done.
func (s *Service) Admit(ctx context.Context, n int64) (*imaging.Reservation, error) {
	return s.reserve(ctx, sdclient.Interactive, min(n, s.cfg.MaxSourceBytes))
}

// analyze runs the quality analysis behind the imaging gate, waiting in lane.
func (s *Service) analyze(ctx context.Context, lane sdclient.Lane, data []byte) (QualityReport, error) {
	release, err := s.acquire(ctx, lane, imaging.DecodeMemory(data))
	if err != nil {
		return QualityReport{}, err
	}
	defer release()
	t := time.Now()
	r, err := pipeline.Analyze(ctx, data, s.cfg.MaxSourcePixels)
	s.m.stage.WithLabelValues("analyze").Observe(time.Since(t).Seconds())
	if err != nil {
		return QualityReport{}, err
	}
	return QualityReport(r), nil
}

// reserve holds up to n bytes of the gate's memory budget for a source about to be read
// (at most the whole budget, so a guess of the largest source never waits for more than
// an empty budget), waiting behind earlier callers; batch work never gets ErrBusy. The
// caller settles it to the bytes read and releases it when done with them.
func (s *Service) reserve(ctx context.Context, lane sdclient.Lane, n int64) (*imaging.Reservation, error) {
	if budget, _ := s.gate.Memory(); budget > 0 {
		n = min(n, budget)
	}
	if lane == sdclient.Batch {
		return s.gate.ReserveLow(ctx, n)
	}
	return s.gate.Reserve(ctx, n)
}

// acquire waits for a libvips slot, and for work bytes of the gate's working memory (what
// the source's decoder holds, imaging.DecodeMemory), and records how long that took.
// Batch work (lane sdclient.Batch) waits behind interactive work and never gets ErrBusy.
func (s *Service) acquire(ctx context.Context, lane sdclient.Lane, work int64) (func(), error) {
	t := time.Now()
	acquire := s.gate.AcquireFor
	if lane == sdclient.Batch {
		acquire = s.gate.AcquireLowFor
	}
	release, err := acquire(ctx, work)
	s.m.gateWait.Observe(time.Since(t).Seconds())
	return release, err
}

func (s *Service) putOriginal(ctx context.Context, img Image, data []byte) error {
	f, _ := imaging.ParseFormat(img.Format)
	t := time.Now()
	err := s.store.Put(ctx, s.cfg.BucketOriginals, originalKey(img.SHA256), data, storage.PutOptions{
		ContentType: f.ContentType(),
		Meta: map[string]string{
			"width": strconv.Itoa(img.Width), "height": strconv.Itoa(img.Height), "format": img.Format,
		},
		SHA256: img.SHA256,
	})
	s.m.stage.WithLabelValues("store").Observe(time.Since(t).Seconds())
	if err != nil {
		return fmt.Errorf("store original %s: %w", img.SHA256, err)
	}
	s.m.bytesStored.WithLabelValues(s.cfg.BucketOriginals).Add(float64(len(data)))
	return nil
}

// insertImage records an image; a concurrent ingest of the same (sha256, sku) wins
// harmlessly and its row is returned.
func (s *Service) insertImage(ctx context.Context, img Image, sourceURL string) (Image, error) {
	var quality any
	if img.Quality != nil {
		b, err := json.Marshal(img.Quality)
		if err != nil {
			return Image{}, err
		}
		quality = string(b)
	}
	now := s.now().UTC()
	qc := qualityColumns(img.Quality)
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO images
		(id, sha256, sku, width, height, format, bytes, source_url, quality, created_at,
		 sharpness, jpeg_quality, plain_background, has_alpha)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		img.ID, img.SHA256, img.SKU, img.Width, img.Height, img.Format, img.Bytes, sourceURL, quality, now.UnixNano(),
		qc[0], qc[1], qc[2], qc[3])
	if err != nil {
		return Image{}, DBError("insert image", err)
	}
	return s.getImage(ctx, img.ID)
}

// mergeMeta applies an ingest's normalized metadata to the image and returns the image
// with all its metadata.
func (s *Service) mergeMeta(ctx context.Context, img Image, set map[string]*string) (Image, error) {
	if len(set) > 0 {
		tx, err := s.db.SQL.BeginTx(ctx, nil)
		if err != nil {
			return Image{}, fmt.Errorf("ingest meta: begin: %w: %w", ErrUnavailable, err)
		}
		defer tx.Rollback()
		if err := s.setImageMetaTx(ctx, tx, img.ID, set); err != nil {
			return Image{}, err
		}
		if err := tx.Commit(); err != nil {
			return Image{}, fmt.Errorf("ingest meta: commit: %w: %w", ErrUnavailable, err)
		}
	}
	return s.withMeta(ctx, img)
}

func (s *Service) getImage(ctx context.Context, id string) (Image, error) {
	row := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+imageColumns+` FROM images WHERE id = ?`), id)
	img, err := scanImage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Image{}, fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Image{}, DBError("get image", err)
	}
	return img, nil
}

const imageColumns = `id, sha256, sku, width, height, format, bytes, quality, scene_rendition_id, created_at`

type scanner interface{ Scan(...any) error }

func scanImage(r scanner) (Image, error) {
	var (
		img     Image
		quality sql.NullString
		scene   sql.NullString
		created int64
	)
	if err := r.Scan(&img.ID, &img.SHA256, &img.SKU, &img.Width, &img.Height, &img.Format, &img.Bytes, &quality, &scene, &created); err != nil {
		return Image{}, err
	}
	img.SceneRenditionID = scene.String
	img.CreatedAt = time.Unix(0, created).UTC()
	if quality.Valid && quality.String != "" {
		var q QualityReport
		if err := json.Unmarshal([]byte(quality.String), &q); err == nil {
			img.Quality = &q
		}
	}
	return img, nil
}

// imageID is deterministic, so the same (content, sku) always names the same image.
func imageID(sha, sku string) string {
	h := sha256.Sum256([]byte(sha + "\x00" + sku))
	return "img_" + hex.EncodeToString(h[:12])
}

func originalKey(sha string) string { return "sha256/" + sha[:2] + "/" + sha }

// MaxManifestBytes bounds a batch manifest, uploaded or fetched by URL: it is spooled to a
// temporary file, never held in memory (a million-row CSV is about 100 MB).
const MaxManifestBytes = 2 << 30

// manifestFetchTimeout bounds fetching a manifest by URL.
const manifestFetchTimeout = 10 * time.Minute

// ManifestFile is a fetched manifest in a temporary file, read from its start; Close removes
// the file.
type ManifestFile struct {
	*os.File
	// ContentType is the response's Content-Type as sent.
	ContentType string
}

// Close closes and removes the temporary file.
func (m *ManifestFile) Close() error {
	err := m.File.Close()
	if rerr := os.Remove(m.File.Name()); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = rerr
	}
	return err
}

// FetchManifest downloads a batch manifest through the SSRF-safe fetcher into a temporary
// file, within MaxManifestBytes and manifestFetchTimeout. The caller closes it. jobs calls
// it for a batch made from a manifest URL and for each scheduled re-read; detecting the
// format and reading the rows are jobs' too.
func (s *Service) FetchManifest(ctx context.Context, url string) (*ManifestFile, error) {
	f, err := os.CreateTemp("", "pictor-manifest-*")
	if err != nil {
		return nil, fmt.Errorf("spool manifest: %w", err)
	}
	m := &ManifestFile{File: f}
	ct, _, err := s.fetcher.Download(ctx, url, f, MaxManifestBytes, manifestFetchTimeout)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	m.ContentType = ct
	return m, nil
}
