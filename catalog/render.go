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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// renderPlan is one recipe on one source: the outputs with their settled formats and keys,
// and what is already stored.
type renderPlan struct {
	sha     string
	recipe  *pipeline.Recipe
	hash    string
	formats map[string]imaging.Format
	outputs []Rendition // in recipe order; filled from the cache or the run
	cached  bool
	flight  string // key of renders that share one run (renderFlights)
	imageID string
	opts    RenderOptions
	// alongside, when set, is stored with the renditions, so that its durable write
	// shares their sync rounds (an ingest's new original); stored says it was.
	alongside func(context.Context) error
	stored    bool
}

// Render runs a recipe on a stored image and returns its renditions; renditions already
// stored are returned without decoding anything. It is RenderFor with only the accepted formats.
func (s *Service) Render(ctx context.Context, imageID string, ref RecipeRef, accept []imaging.Format) ([]Rendition, error) {
	return s.RenderFor(ctx, imageID, ref, RenderOptions{Accept: accept})
}

// RenderFor runs a recipe on a stored image as o asks: outputs of AI steps are checked, and
// held for review as o.Review says; renditions already stored are returned as they are.
func (s *Service) RenderFor(ctx context.Context, imageID string, ref RecipeRef, o RenderOptions) ([]Rendition, error) {
	accept := o.Accept
	if !ValidReview(o.Review) {
		return nil, fmt.Errorf("review %q: want none, failed or all: %w", o.Review, ErrInvalid)
	}
	if ref.IsZero() {
		return nil, fmt.Errorf("no recipe given: %w", ErrInvalid)
	}
	recipe, err := s.resolveRecipe(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := s.getImage(ctx, imageID)
	if err != nil {
		return nil, err
	}
	plan, err := s.planRender(ctx, img.SHA256, recipe, accept, false)
	if err != nil {
		return nil, err
	}
	plan.imageID, plan.opts = img.ID, o
	if !plan.cached {
		// Admitted by bytes before the original is read, as an ingest is.
		mem, err := s.reserve(ctx, o.Lane, img.Bytes)
		if err != nil {
			return nil, err
		}
		defer mem.Release()
		data, err := s.readOriginal(ctx, img.SHA256)
		if err != nil {
			return nil, err
		}
		if err := s.runPlan(ctx, plan, data); err != nil {
			return nil, err
		}
	}
	return s.finishPlan(ctx, plan)
}

// planRender settles each output's format and looks the renditions up in the cache.
func (s *Service) planRender(ctx context.Context, sha string, r *pipeline.Recipe, accept []imaging.Format, alpha bool) (*renderPlan, error) {
	if r.NeedsSD() && !s.sd.Serves(r) {
		return nil, ErrSDRequired
	}
	p := &renderPlan{sha: sha, recipe: r, hash: r.Hash(), formats: map[string]imaging.Format{}}
	alpha = alpha || producesAlpha(r)
	keys := make([]string, 0, len(r.Outputs))
	for _, o := range r.Outputs {
		f, err := pipeline.ResolveFormat(o, accept, alpha)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", o.Name, err)
		}
		p.formats[o.Name] = f
		keys = append(keys, o.Name+"."+f.Ext())
	}
	sort.Strings(keys)
	p.flight = sha + "/" + p.hash + "/" + strings.Join(keys, ",")
	done, err := s.cachedOutputs(ctx, p)
	if err != nil {
		return nil, err
	}
	p.outputs, p.cached = done, done != nil
	if p.cached {
		s.m.cacheHits.Inc()
	} else {
		s.m.cacheMisses.Inc()
	}
	return p, nil
}

// cachedOutputs returns the plan's renditions in recipe order when every one is stored,
// and nil otherwise.
func (s *Service) cachedOutputs(ctx context.Context, p *renderPlan) ([]Rendition, error) {
	stored, err := s.lookupRenditions(ctx, p.sha, p.hash)
	if err != nil {
		return nil, err
	}
	out := make([]Rendition, 0, len(p.recipe.Outputs))
	for _, o := range p.recipe.Outputs {
		rd, ok := stored[o.Name+"."+string(p.formats[o.Name])]
		if !ok {
			return nil, nil
		}
		out = append(out, rd)
	}
	return out, nil
}

// producesAlpha tells whether a recipe may leave transparency for "auto" to keep.
func producesAlpha(r *pipeline.Recipe) bool {
	for _, st := range r.Steps {
		if st.Op == pipeline.OpRemoveBackground {
			return true
		}
	}
	return false
}

// runPlan decodes once, renders every output and stores them. Identical renders in
// flight at the same time share one run.
func (s *Service) runPlan(ctx context.Context, p *renderPlan, data []byte) error {
	v, err := s.renderFlights.do(ctx, p.flight, func(ctx context.Context) ([]Rendition, error) {
		return s.renderAndStore(ctx, p, data)
	})
	if err != nil {
		return err
	}
	p.outputs = slices.Clone(v)
	return nil
}

func (s *Service) renderAndStore(ctx context.Context, p *renderPlan, data []byte) ([]Rendition, error) {
	// A run that finished between our cache lookup and now already stored everything.
	if done, err := s.cachedOutputs(ctx, p); err != nil || done != nil {
		return done, err
	}
	sl := &slot{s: s, lane: p.opts.Lane, work: imaging.DecodeMemory(data)}
	if err := sl.take(ctx); err != nil {
		return nil, err
	}
	t := time.Now()
	env := s.pipelineEnv()
	var gpu float64
	if env.SD != nil {
		sd := *env.SD
		sd.Lane = p.opts.Lane
		sd.OnUsage = func(u sdclient.Usage) { gpu += u.GPUSeconds }
		sd.OnProgress = p.opts.OnProgress
		sd.Yield = sl.yield
		env.SD = &sd
	}
	out, err := pipeline.Run(ctx, env, data, p.recipe, pipeline.RunOptions{Formats: p.formats, NoChecks: s.cfg.NoChecks})
	s.m.stage.WithLabelValues("transform").Observe(time.Since(t).Seconds())
	sl.give()
	if err != nil {
		s.m.renders.WithLabelValues("error").Inc()
		return nil, err
	}
	s.m.renders.WithLabelValues("ok").Inc()
	canonical := string(p.recipe.Canonical())
	now := s.now().UTC()
	if err := s.classify(ctx, p, out); err != nil {
		return nil, err
	}
	policy := p.reviewPolicy()
	if err := s.storeRenditions(ctx, p, out); err != nil {
		return nil, err
	}
	rends := make([]Rendition, 0, len(out))
	for _, o := range out {
		key := renditionKey(p.sha, p.hash, o.Output, o.Format)
		rends = append(rends, Rendition{
			ID: renditionID(key), Name: o.Output, Width: o.Width, Height: o.Height, Format: string(o.Format),
			Bytes: int64(len(o.Data)), RecipeHash: p.hash, SourceSHA: p.sha, CreatedAt: now,
			Lineage: o.Lineage, GPUSeconds: gpu, Checks: o.Checks, Review: reviewState(policy, o),
		})
		if o.Checks != nil {
			for _, r := range o.Checks.Results {
				s.m.checks.WithLabelValues(r.Name, r.Verdict).Inc()
			}
		}
	}
	// Rows only after every object is stored: a failed store leaves no half-made record.
	for i, rd := range rends {
		lineage, err := marshalLineage(rd.Lineage)
		if err != nil {
			return nil, err
		}
		report, err := marshalReport(rd.Checks)
		if err != nil {
			return nil, err
		}
		_, err = s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO renditions
			(id, source_sha256, recipe_hash, output, format, object_key, width, height, bytes, recipe, lineage, gpu_seconds, created_at,
			 checks, failed_checks, review, image_id, batch_id, scene_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			rd.ID, rd.SourceSHA, rd.RecipeHash, rd.Name, rd.Format,
			rd.key(), rd.Width, rd.Height, rd.Bytes, canonical, lineage, rd.GPUSeconds, now.UnixNano(),
			report, failedList(rd.Checks), rd.Review, p.imageID, p.opts.BatchID, p.opts.SceneID)
		if err != nil {
			return nil, DBError("insert rendition", err)
		}
		if rd.Held() {
			s.m.held.Inc()
		}
		rends[i] = rd
	}
	return rends, nil
}

// storeRenditions stores a run's outputs at once, and the plan's alongside object with
// them, so their durable writes share the store's sync rounds instead of waiting for one
// each; the first failure is returned.
func (s *Service) storeRenditions(ctx context.Context, p *renderPlan, out []pipeline.Rendered) error {
	errs := make([]error, len(out)+1)
	var wg sync.WaitGroup
	if p.alongside != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[len(out)] = p.alongside(ctx)
		}()
	}
	for i, o := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := renditionKey(p.sha, p.hash, o.Output, o.Format)
			t := time.Now()
			err := s.store.Put(ctx, s.cfg.BucketRenditions, key, o.Data, storage.PutOptions{
				ContentType: o.Format.ContentType(),
				Meta: map[string]string{
					"width": strconv.Itoa(o.Width), "height": strconv.Itoa(o.Height),
					"format": string(o.Format), "recipe": p.hash, "source": p.sha, "output": o.Output,
				},
			})
			s.m.stage.WithLabelValues("store").Observe(time.Since(t).Seconds())
			if err != nil {
				errs[i] = fmt.Errorf("store rendition %s: %w", key, err)
				return
			}
			s.m.bytesStored.WithLabelValues(s.cfg.BucketRenditions).Add(float64(len(o.Data)))
		}()
	}
	wg.Wait()
	p.stored = p.alongside != nil && errs[len(out)] == nil
	return errors.Join(errs...)
}

// finishPlan gives each rendition its URL.
func (s *Service) finishPlan(ctx context.Context, p *renderPlan) ([]Rendition, error) {
	out := make([]Rendition, len(p.outputs))
	for i, rd := range p.outputs {
		rd.Cached = p.cached
		u, err := s.renditionURL(ctx, rd)
		if err != nil {
			return nil, err
		}
		rd.URL = u
		out[i] = rd
	}
	return out, nil
}

// renditionURL is presigned, under the public base URL, or the service's own content route.
// A rendition held for review always gets the content route, which checks the caller.
func (s *Service) renditionURL(ctx context.Context, rd Rendition) (string, error) {
	key := rd.key()
	if rd.Held() {
		return s.links.RenditionContent(rd.ID), nil
	}
	if s.cfg.PublicBaseURL != "" {
		return strings.TrimRight(s.cfg.PublicBaseURL, "/") + "/" + s.cfg.BucketRenditions + "/" + key, nil
	}
	if ps, ok := s.store.(Presigner); ok && s.cfg.PresignExpiry > 0 {
		u, err := ps.PresignGet(ctx, s.cfg.BucketRenditions, key, s.cfg.PresignExpiry)
		if err != nil {
			return "", fmt.Errorf("presign %s: %w", key, err)
		}
		return u, nil
	}
	return s.links.RenditionContent(rd.ID), nil
}

func (s *Service) pipelineEnv() pipeline.Env {
	return pipeline.Env{MaxPixels: s.cfg.MaxSourcePixels, LoadImage: s.loadImageBytes, SD: s.sd, MaxCost: s.cfg.RenderBudget}
}

// loadImageBytes reads another stored original, by image id or sha256 (composite overlays).
func (s *Service) loadImageBytes(ctx context.Context, id string) ([]byte, error) {
	sha := id
	if strings.HasPrefix(id, "img_") {
		img, err := s.getImage(ctx, id)
		if err != nil {
			return nil, err
		}
		sha = img.SHA256
	}
	if len(sha) != 64 {
		return nil, fmt.Errorf("image %q: %w", id, ErrNotFound)
	}
	return s.readOriginal(ctx, sha)
}

func (s *Service) readOriginal(ctx context.Context, sha string) ([]byte, error) {
	rc, _, err := s.store.Get(ctx, s.cfg.BucketOriginals, originalKey(sha))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("original %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read original %s: %w", sha, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, s.cfg.MaxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read original %s: %w", sha, err)
	}
	return data, nil
}

// lookupRenditions returns stored renditions of (source, recipe) keyed "output.format".
func (s *Service) lookupRenditions(ctx context.Context, sha, hash string) (map[string]Rendition, error) {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT `+renditionColumns+`
		FROM renditions WHERE source_sha256 = ? AND recipe_hash = ?`), sha, hash)
	if err != nil {
		return nil, DBError("lookup renditions", err)
	}
	defer rows.Close()
	out := map[string]Rendition{}
	for rows.Next() {
		rd, err := scanRendition(rows)
		if err != nil {
			return nil, DBError("scan rendition", err)
		}
		out[rd.Name+"."+rd.Format] = rd
	}
	return out, DBError("lookup renditions", rows.Err())
}

const renditionColumns = `id, source_sha256, recipe_hash, output, format, width, height, bytes, lineage, gpu_seconds, created_at, checks, review`

func scanRendition(r scanner) (Rendition, error) {
	var (
		rd             Rendition
		lineage, check sql.NullString
		created        int64
	)
	err := r.Scan(&rd.ID, &rd.SourceSHA, &rd.RecipeHash, &rd.Name, &rd.Format, &rd.Width, &rd.Height, &rd.Bytes, &lineage, &rd.GPUSeconds, &created,
		&check, &rd.Review)
	rd.CreatedAt = time.Unix(0, created).UTC()
	if err == nil && lineage.Valid && lineage.String != "" {
		err = json.Unmarshal([]byte(lineage.String), &rd.Lineage)
	}
	if err == nil && check.Valid && check.String != "" {
		rd.Checks = &checks.Report{}
		err = json.Unmarshal([]byte(check.String), rd.Checks)
	}
	return rd, err
}

func marshalLineage(l map[string]string) (any, error) {
	if len(l) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// slot is one run's hold on the imaging gate, given back while a backend call runs so
// GPU waits never hold CPU slots.
type slot struct {
	s       *Service
	lane    sdclient.Lane
	work    int64 // the source decoder's working memory, held with the slot
	release func()
}

func (sl *slot) take(ctx context.Context) error {
	r, err := sl.s.acquire(ctx, sl.lane, sl.work)
	if err != nil {
		return err
	}
	sl.release = r
	return nil
}

func (sl *slot) give() {
	if sl.release != nil {
		sl.release()
		sl.release = nil
	}
}

func (sl *slot) yield(ctx context.Context, call func() error) error {
	sl.give()
	err := call()
	// Coming back from the GPU, wait for a CPU slot even when the queue is full: the
	// GPU work is done and must not be thrown away.
	for {
		terr := sl.take(ctx)
		if terr == nil || !errors.Is(terr, imaging.ErrBusy) {
			return errors.Join(err, terr)
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// OpenRendition streams a rendition's bytes.
func (s *Service) OpenRendition(ctx context.Context, id string) (io.ReadCloser, ObjectMeta, error) {
	row := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+renditionColumns+` FROM renditions WHERE id = ?`), id)
	rd, err := scanRendition(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ObjectMeta{}, fmt.Errorf("rendition %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectMeta{}, DBError("get rendition", err)
	}
	key := rd.key()
	rc, info, err := s.store.Get(ctx, s.cfg.BucketRenditions, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ObjectMeta{}, fmt.Errorf("rendition %s object: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectMeta{}, fmt.Errorf("read rendition %s: %w", id, err)
	}
	return rc, ObjectMeta{
		ContentType: imaging.Format(rd.Format).ContentType(), Size: info.Size, ETag: `"` + rd.ID + `"`, Modified: rd.CreatedAt,
		Held: rd.Held(),
	}, nil
}

// key is where the rendition's bytes are stored.
func (rd Rendition) key() string {
	return renditionKey(rd.SourceSHA, rd.RecipeHash, rd.Name, imaging.Format(rd.Format))
}

// renditionKey is `<source-sha256>/<recipe-hash>/<output>.<ext>`.
func renditionKey(sha, hash, output string, f imaging.Format) string {
	return sha + "/" + hash + "/" + output + "." + f.Ext()
}

// renditionID is derived from the key, so the same render always has the same id.
func renditionID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "rnd_" + hex.EncodeToString(h[:12])
}

// ListRenditions returns the renditions made from an image's original, newest first.
func (s *Service) ListRenditions(ctx context.Context, imageID string) ([]Rendition, error) {
	img, err := s.getImage(ctx, imageID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT `+renditionColumns+`
		FROM renditions WHERE source_sha256 = ? ORDER BY created_at DESC, id LIMIT 500`), img.SHA256)
	if err != nil {
		return nil, DBError("list renditions", err)
	}
	defer rows.Close()
	out := []Rendition{}
	for rows.Next() {
		rd, err := scanRendition(rows)
		if err != nil {
			return nil, DBError("scan rendition", err)
		}
		if rd.URL, err = s.renditionURL(ctx, rd); err != nil {
			return nil, err
		}
		out = append(out, rd)
	}
	return out, DBError("list renditions", rows.Err())
}
