package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/pictor/pictor/storage"

	"github.com/pictor/pictor/fault"
)

// Scene states.
const (
	SceneQueued    = "queued"
	SceneRunning   = "running"
	SceneSucceeded = "succeeded"
	SceneFailed    = "failed"
	SceneCancelled = "cancelled"
)

// ErrPromptBlocked is returned for a prompt that names a blocked term.
var ErrPromptBlocked = fault.New(fault.Unprocessable, "prompt-blocked", "Prompt not allowed", "prompt not allowed")

// SceneRequest asks for N new backgrounds around a product, by prompt or template.
type SceneRequest struct {
	ImageID        string            `json:"-"`
	Prompt         string            `json:"prompt"`
	NegativePrompt string            `json:"negative_prompt"`
	Template       string            `json:"template"`
	Variables      map[string]string `json:"variables"`
	Variants       int               `json:"variants"`
	Seed           *int64            `json:"seed"`
	Strength       float64           `json:"strength"`
	Steps          int               `json:"steps"`
	// Review is the variants' review policy: none, failed (the default) or all.
	Review string `json:"review"`
}

// Scene is a regeneration of an image's background in N variants, with its progress.
type Scene struct {
	ID              string  `json:"id"`
	ImageID         string  `json:"image_id"`
	Prompt          string  `json:"prompt"`
	NegativePrompt  string  `json:"negative_prompt,omitempty"`
	Template        string  `json:"template,omitempty"`
	Variants        int     `json:"variants"`
	Seed            int64   `json:"seed"`
	Strength        float64 `json:"strength"`
	Steps           int     `json:"steps"`
	State           string  `json:"state"`
	Progress        float64 `json:"progress"`
	ETASeconds      float64 `json:"eta_seconds"`
	PreviewURL      string  `json:"preview_url,omitempty"`
	Error           string  `json:"error,omitempty"`
	JobID           int64   `json:"job_id"`
	ApprovedVariant *int    `json:"approved_variant,omitempty"`
	GPUSeconds      float64 `json:"gpu_seconds"`
	// Review is the variants' review policy: none, failed or all.
	Review    string         `json:"review"`
	Results   []SceneVariant `json:"results"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	cancel    bool
}

// Finished reports whether the scene will not change any more (but for approval).
func (s Scene) Finished() bool {
	return s.State == SceneSucceeded || s.State == SceneFailed || s.State == SceneCancelled
}

// CancelRequested reports whether someone asked to stop the scene.
func (s Scene) CancelRequested() bool { return s.cancel }

// SceneVariant is one finished variant: its seed and the rendition it made.
type SceneVariant struct {
	Index     int       `json:"index"`
	Seed      int64     `json:"seed"`
	Rendition Rendition `json:"rendition"`
}

// VariantSeed is the seed of variant k: the scene's seed plus k, so a saved seed
// reproduces a variant.
func (s Scene) VariantSeed(k int) int64 { return (s.Seed + int64(k)) & 0xffffffff }

// VariantRecipe is the recipe that paints variant k: the product cut out, a new
// background from the prompt around it, as JPEG.
func (s Scene) VariantRecipe(k int) []byte {
	r := map[string]any{
		"steps": []any{
			map[string]any{"op": "auto_orient"},
			map[string]any{"op": "remove_background", "engine": "sd"},
			map[string]any{"op": "replace_background", "prompt": s.Prompt, "negative_prompt": s.NegativePrompt,
				"seed": s.VariantSeed(k), "strength": s.Strength, "steps": s.Steps},
		},
		"outputs": []any{map[string]any{"name": "scene", "format": "jpeg", "quality": 90}},
	}
	b, _ := json.Marshal(r)
	return b
}

// PromptTemplate is a stored prompt with {variables}.
type PromptTemplate struct {
	Name           string    `json:"name"`
	Prompt         string    `json:"prompt"`
	NegativePrompt string    `json:"negative_prompt,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

var templateVar = regexp.MustCompile(`\{([a-z_]+)\}`)

// fill replaces {name} with vars[name]; a variable left unset is an error.
func fill(tpl string, vars map[string]string) (string, error) {
	var missing []string
	out := templateVar.ReplaceAllStringFunc(tpl, func(m string) string {
		k := m[1 : len(m)-1]
		v, ok := vars[k]
		if !ok {
			missing = append(missing, k)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("template variables not given: %s: %w", strings.Join(missing, ", "), ErrInvalid)
	}
	return out, nil
}

// PrepareScene checks a scene request and settles it: template filled, blocklist
// checked, defaults set, a seed drawn when none was given. Nothing is stored.
func (s *Service) PrepareScene(ctx context.Context, req SceneRequest) (Scene, error) {
	if s.sd == nil || s.sd.Pool == nil { // scenes are painted on a WebUI
		return Scene{}, ErrSDRequired
	}
	img, err := s.getImage(ctx, req.ImageID)
	if err != nil {
		return Scene{}, err
	}
	sc := Scene{ImageID: img.ID, Prompt: req.Prompt, NegativePrompt: req.NegativePrompt, Template: req.Template,
		Variants: req.Variants, Strength: req.Strength, Steps: req.Steps, State: SceneQueued, Review: req.Review}
	if !ValidReview(sc.Review) {
		return Scene{}, fmt.Errorf("review %q: want none, failed or all: %w", sc.Review, ErrInvalid)
	}
	if sc.Review == "" {
		sc.Review = ReviewFailed
	}
	if req.Template != "" {
		t, err := s.GetTemplate(ctx, req.Template)
		if err != nil {
			return Scene{}, err
		}
		if sc.Prompt, err = fill(t.Prompt, req.Variables); err != nil {
			return Scene{}, err
		}
		if sc.NegativePrompt == "" {
			if sc.NegativePrompt, err = fill(t.NegativePrompt, req.Variables); err != nil {
				return Scene{}, err
			}
		}
	}
	switch {
	case strings.TrimSpace(sc.Prompt) == "":
		return Scene{}, fmt.Errorf("prompt or template is required: %w", ErrInvalid)
	case len(sc.Prompt) > 2000 || len(sc.NegativePrompt) > 2000:
		return Scene{}, fmt.Errorf("prompts are limited to 2000 characters: %w", ErrInvalid)
	case sc.Variants == 0:
		sc.Variants = 4
	case sc.Variants < 1 || sc.Variants > 8:
		return Scene{}, fmt.Errorf("variants must be 1..8: %w", ErrInvalid)
	}
	if sc.Strength == 0 {
		sc.Strength = 0.9
	}
	if sc.Strength < 0 || sc.Strength > 1 {
		return Scene{}, fmt.Errorf("strength must be 0..1: %w", ErrInvalid)
	}
	if sc.Steps == 0 {
		sc.Steps = 30
	}
	if sc.Steps < 1 || sc.Steps > 150 {
		return Scene{}, fmt.Errorf("steps must be 1..150: %w", ErrInvalid)
	}
	if err := s.checkPrompts(scenePrompts(sc, req)...); err != nil {
		return Scene{}, err
	}
	if req.Seed != nil {
		if *req.Seed < 0 || *req.Seed > 0xffffffff {
			return Scene{}, fmt.Errorf("seed must be 0..4294967295: %w", ErrInvalid)
		}
		sc.Seed = *req.Seed
	} else {
		sc.Seed = randomSeed()
	}
	var id [10]byte
	rand.Read(id[:])
	sc.ID = "scn_" + hex.EncodeToString(id[:])
	return sc, nil
}

// scenePrompts lists a settled scene's prompts for the policy, named by where they came
// from: the request's own fields, or the template they were filled from.
func scenePrompts(sc Scene, req SceneRequest) []promptField {
	prompt, negative := "prompt", "negative_prompt"
	if req.Template != "" {
		prompt = "template.prompt"
		if req.NegativePrompt == "" {
			negative = "template.negative_prompt"
		}
	}
	return []promptField{{prompt, sc.Prompt}, {negative, sc.NegativePrompt}}
}

// InsertSceneTx records a prepared scene in tx, with the job that will make it.
func (s *Service) InsertSceneTx(ctx context.Context, tx *sql.Tx, sc Scene, jobID int64) error {
	now := s.now().UTC().UnixNano()
	_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO scenes
		(id, image_id, prompt, negative_prompt, template, variants, seed, strength, steps, state, job_id, created_at, updated_at, review)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		sc.ID, sc.ImageID, sc.Prompt, sc.NegativePrompt, sc.Template, sc.Variants, sc.Seed, sc.Strength, sc.Steps, SceneQueued, jobID, now, now, sc.Review)
	return DBError("insert scene", err)
}

const sceneColumns = `id, image_id, prompt, negative_prompt, template, variants, seed, strength, steps, state, progress, eta,
	has_preview, error, job_id, cancel_requested, approved_variant, gpu_seconds, created_at, updated_at, review`

// GetScene returns a scene with its finished variants.
func (s *Service) GetScene(ctx context.Context, id string) (Scene, error) {
	var (
		sc               Scene
		preview, cancel  int
		approved         sql.NullInt64
		created, updated int64
	)
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+sceneColumns+` FROM scenes WHERE id = ?`), id).Scan(
		&sc.ID, &sc.ImageID, &sc.Prompt, &sc.NegativePrompt, &sc.Template, &sc.Variants, &sc.Seed, &sc.Strength, &sc.Steps,
		&sc.State, &sc.Progress, &sc.ETASeconds, &preview, &sc.Error, &sc.JobID, &cancel, &approved, &sc.GPUSeconds, &created, &updated, &sc.Review)
	if errors.Is(err, sql.ErrNoRows) {
		return Scene{}, fmt.Errorf("scene %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Scene{}, DBError("get scene", err)
	}
	sc.CreatedAt, sc.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	sc.cancel = cancel != 0
	if approved.Valid {
		k := int(approved.Int64)
		sc.ApprovedVariant = &k
	}
	if preview != 0 {
		sc.PreviewURL = s.links.ScenePreview(sc.ID, updated)
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT v.idx, v.seed, `+prefixed("r.", renditionColumns)+`
		FROM scene_variants v JOIN renditions r ON r.id = v.rendition_id WHERE v.scene_id = ? ORDER BY v.idx`), id)
	if err != nil {
		return Scene{}, DBError("scene variants", err)
	}
	defer rows.Close()
	sc.Results = []SceneVariant{}
	for rows.Next() {
		var v SceneVariant
		rd, err := scanRendition(leading{rows, []any{&v.Index, &v.Seed}})
		if err != nil {
			return Scene{}, DBError("scene variants", err)
		}
		if rd.URL, err = s.renditionURL(ctx, rd); err != nil {
			return Scene{}, err
		}
		v.Rendition = rd
		sc.Results = append(sc.Results, v)
	}
	return sc, DBError("scene variants", rows.Err())
}

// leading scans its own destinations first, then the caller's: a row with columns before
// the ones a scan function knows.
type leading struct {
	r     scanner
	first []any
}

func (l leading) Scan(dest ...any) error { return l.r.Scan(append(l.first, dest...)...) }

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// SceneRunning marks a scene as started.
func (s *Service) SceneRunning(ctx context.Context, id string) error {
	return s.updateScene(ctx, id, `state = ?`, SceneRunning)
}

// SceneProgress records progress (0..1), seconds left, and a live preview when given.
func (s *Service) SceneProgress(ctx context.Context, id string, progress, eta float64, preview []byte) error {
	if len(preview) > 0 {
		err := s.store.Put(ctx, s.cfg.BucketRenditions, previewKey(id), preview, storage.PutOptions{ContentType: sniffPreviewType(preview)})
		if err != nil {
			return fmt.Errorf("store preview: %w", err)
		}
		return s.updateScene(ctx, id, `progress = ?, eta = ?, has_preview = 1`, progress, eta)
	}
	return s.updateScene(ctx, id, `progress = ?, eta = ?`, progress, eta)
}

// AddSceneVariant records a finished variant and the GPU time it took.
func (s *Service) AddSceneVariant(ctx context.Context, id string, k int, seed int64, rd Rendition) error {
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO scene_variants (scene_id, idx, seed, rendition_id)
		VALUES (?, ?, ?, ?) ON CONFLICT (scene_id, idx) DO NOTHING`), id, k, seed, rd.ID)
	if err != nil {
		return DBError("add scene variant", err)
	}
	return s.updateScene(ctx, id, `gpu_seconds = gpu_seconds + ?`, rd.GPUSeconds)
}

// FinishScene records a scene's end state, with the error that ended it if any.
func (s *Service) FinishScene(ctx context.Context, id, state, msg string) error {
	if state == SceneSucceeded {
		return s.updateScene(ctx, id, `state = ?, error = ?, progress = 1, eta = 0`, state, msg)
	}
	return s.updateScene(ctx, id, `state = ?, error = ?`, state, msg)
}

// RequestSceneCancel asks the worker to stop the scene; a queued or running scene
// ends cancelled, a finished one is left as it is.
func (s *Service) RequestSceneCancel(ctx context.Context, id string) (Scene, error) {
	sc, err := s.GetScene(ctx, id)
	if err != nil || sc.Finished() {
		return sc, err
	}
	if err := s.updateScene(ctx, id, `cancel_requested = 1`); err != nil {
		return Scene{}, err
	}
	return s.GetScene(ctx, id)
}

// ApproveScene makes variant k the image's scene rendition.
// reviewer names who approved (the API key's name); "" records "scene approval".
func (s *Service) ApproveScene(ctx context.Context, id string, k int, reviewer string) (Scene, error) {
	if reviewer == "" {
		reviewer = "scene approval"
	}
	sc, err := s.GetScene(ctx, id)
	if err != nil {
		return Scene{}, err
	}
	var chosen *SceneVariant
	for i := range sc.Results {
		if sc.Results[i].Index == k {
			chosen = &sc.Results[i]
		}
	}
	if chosen == nil {
		return Scene{}, fmt.Errorf("scene %s has no finished variant %d: %w", id, k, ErrInvalid)
	}
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return Scene{}, DBError("approve scene", err)
	}
	defer tx.Rollback()
	now := s.now().UTC().UnixNano()
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE scenes SET approved_variant = ?, updated_at = ? WHERE id = ?`), k, now, id); err != nil {
		return Scene{}, DBError("approve scene", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE images SET scene_rendition_id = ? WHERE id = ?`), chosen.Rendition.ID, sc.ImageID); err != nil {
		return Scene{}, DBError("approve scene", err)
	}
	// The designer looked at the variant and chose it: that is its review.
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE renditions SET review = ?, reviewer = ?, review_reason = ?, reviewed_at = ?
		WHERE id = ? AND review <> ''`), ReviewApproved, reviewer, "chosen as the scene's variant", now, chosen.Rendition.ID); err != nil {
		return Scene{}, DBError("approve scene", err)
	}
	if err := tx.Commit(); err != nil {
		return Scene{}, DBError("approve scene", err)
	}
	return s.GetScene(ctx, id)
}

func (s *Service) updateScene(ctx context.Context, id, set string, args ...any) error {
	args = append(args, s.now().UTC().UnixNano(), id)
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE scenes SET `+set+`, updated_at = ? WHERE id = ?`), args...)
	return DBError("update scene", err)
}

// OpenScenePreview streams a scene's latest live preview.
func (s *Service) OpenScenePreview(ctx context.Context, id string) (io.ReadCloser, ObjectMeta, error) {
	rc, info, err := s.store.Get(ctx, s.cfg.BucketRenditions, previewKey(id))
	// An id that cannot be a key (empty, "..", a control character, too long) names no
	// preview either: the caller typed it.
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidKey) {
		return nil, ObjectMeta{}, fmt.Errorf("preview of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	return rc, ObjectMeta{ContentType: info.ContentType, Size: info.Size, ETag: `"` + info.ETag + `"`, Modified: info.Modified}, nil
}

func previewKey(id string) string { return "previews/" + id }

func sniffPreviewType(b []byte) string {
	if len(b) > 3 && b[0] == 0xff && b[1] == 0xd8 {
		return "image/jpeg"
	}
	return "image/png"
}

// PutTemplate stores a prompt template; the bool reports whether it was created.
func (s *Service) PutTemplate(ctx context.Context, t PromptTemplate) (PromptTemplate, bool, error) {
	if !validName(t.Name) {
		return PromptTemplate{}, false, fmt.Errorf("template name %q: %w", t.Name, ErrInvalid)
	}
	if strings.TrimSpace(t.Prompt) == "" || len(t.Prompt) > 2000 || len(t.NegativePrompt) > 2000 {
		return PromptTemplate{}, false, fmt.Errorf("a template needs a prompt of at most 2000 characters: %w", ErrInvalid)
	}
	if err := s.checkPrompts(promptField{"prompt", t.Prompt}, promptField{"negative_prompt", t.NegativePrompt}); err != nil {
		return PromptTemplate{}, false, err
	}
	// One statement, as in PutRecipe: the row is new when its created_at is this write's.
	now := s.now().UTC().UnixNano()
	var got PromptTemplate
	var cr, up int64
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO prompt_templates (name, prompt, negative_prompt, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET prompt = excluded.prompt,
		negative_prompt = excluded.negative_prompt, updated_at = excluded.updated_at
		RETURNING name, prompt, negative_prompt, created_at, updated_at`), t.Name, t.Prompt, t.NegativePrompt, now, now).
		Scan(&got.Name, &got.Prompt, &got.NegativePrompt, &cr, &up)
	if err != nil {
		return PromptTemplate{}, false, DBError("put template", err)
	}
	got.CreatedAt, got.UpdatedAt = time.Unix(0, cr).UTC(), time.Unix(0, up).UTC()
	return got, cr == now, nil
}

// GetTemplate returns a prompt template.
func (s *Service) GetTemplate(ctx context.Context, name string) (PromptTemplate, error) {
	var t PromptTemplate
	var cr, up int64
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT name, prompt, negative_prompt, created_at, updated_at FROM prompt_templates WHERE name = ?`), name).
		Scan(&t.Name, &t.Prompt, &t.NegativePrompt, &cr, &up)
	if errors.Is(err, sql.ErrNoRows) {
		return PromptTemplate{}, fmt.Errorf("template %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return PromptTemplate{}, DBError("get template", err)
	}
	t.CreatedAt, t.UpdatedAt = time.Unix(0, cr).UTC(), time.Unix(0, up).UTC()
	return t, nil
}

// ListTemplates lists prompt templates by name.
func (s *Service) ListTemplates(ctx context.Context) ([]PromptTemplate, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT name, prompt, negative_prompt, created_at, updated_at FROM prompt_templates ORDER BY name`)
	if err != nil {
		return nil, DBError("list templates", err)
	}
	defer rows.Close()
	out := []PromptTemplate{}
	for rows.Next() {
		var t PromptTemplate
		var cr, up int64
		if err := rows.Scan(&t.Name, &t.Prompt, &t.NegativePrompt, &cr, &up); err != nil {
			return nil, DBError("list templates", err)
		}
		t.CreatedAt, t.UpdatedAt = time.Unix(0, cr).UTC(), time.Unix(0, up).UTC()
		out = append(out, t)
	}
	return out, DBError("list templates", rows.Err())
}

// DeleteTemplate removes a prompt template.
func (s *Service) DeleteTemplate(ctx context.Context, name string) error {
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM prompt_templates WHERE name = ?`), name)
	if err != nil {
		return DBError("delete template", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("template %q: %w", name, ErrNotFound)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func validName(s string) bool { return nameRE.MatchString(s) }
