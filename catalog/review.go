package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pictor/pictor/checks"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/safety"
)

// Safety classifies generated images; safety.Client is the HTTP one.
type Safety interface {
	Classify(ctx context.Context, image []byte, id string) (safety.Verdict, error)
}

var _ Safety = (*safety.Client)(nil)

// Review limits.
const (
	// MaxReviewIDs is the most renditions one decision may name.
	MaxReviewIDs = 1000
	// MaxReviewFilter is the most renditions one decision over a filter may decide.
	MaxReviewFilter = 10000
	// MaxReviewReason is the longest reason, in bytes.
	MaxReviewReason = 2000
)

// ValidReview reports whether p is a review policy a request may name ("" = the default).
func ValidReview(p string) bool {
	return p == "" || p == ReviewNone || p == ReviewFailed || p == ReviewAll
}

// reviewPolicy is the plan's policy, its default filled in.
func (p *renderPlan) reviewPolicy() string {
	if p.opts.Review != "" {
		return p.opts.Review
	}
	if p.recipe.HasAIStep() {
		return ReviewFailed
	}
	return ReviewNone
}

// reviewState is the review state a new rendition starts in under policy. An output that the
// safety check flagged or could not classify is held whatever the policy.
func reviewState(policy string, o pipeline.Rendered) string {
	if o.Output == pipeline.MaskOutput && o.Checks == nil {
		return ""
	}
	if o.Checks != nil {
		for _, r := range o.Checks.Results {
			if r.Name == checks.Safety && r.Verdict != checks.Pass {
				return ReviewPending
			}
		}
	}
	switch policy {
	case ReviewAll:
		return ReviewPending
	case ReviewFailed:
		if o.Checks != nil && !o.Checks.Passed {
			return ReviewPending
		}
	}
	return ""
}

// classify sends every generated output to the safety classifier, when one is configured,
// and adds its verdict to the output's checks: flagged, or not classified, fails.
func (s *Service) classify(ctx context.Context, p *renderPlan, out []pipeline.Rendered) error {
	if s.safety == nil || !p.recipe.Generative() {
		return nil
	}
	for i := range out {
		o := &out[i]
		if o.Output == pipeline.MaskOutput && o.Checks == nil {
			continue
		}
		t := time.Now()
		v, err := s.safety.Classify(ctx, o.Data, renditionID(renditionKey(p.sha, p.hash, o.Output, o.Format)))
		s.m.stage.WithLabelValues("safety").Observe(time.Since(t).Seconds())
		res := checks.Result{Name: checks.Safety, Op: checks.AtMost, Threshold: 0}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			res.Value, res.Detail = 1, "could not be classified: "+truncate(err.Error(), 300)
			s.log.Warn("safety classifier failed", "output", o.Output, "err", err)
		case v.Flagged:
			res.Value, res.Detail = 1, "flagged by "+v.Model+flaggedCategories(v.Categories)
		default:
			res.Detail = "clean by " + v.Model
		}
		rep := &checks.Report{}
		rep.Add(res)
		o.Checks = o.Checks.Merge(rep)
	}
	return nil
}

func flaggedCategories(c map[string]float64) string {
	var parts []string
	for k, v := range c {
		if v >= 0.5 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func marshalReport(r *checks.Report) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// failedList is the failing check names as ",a,b,", so one LIKE finds a check.
func failedList(r *checks.Report) string {
	f := r.Failed()
	if len(f) == 0 {
		return ""
	}
	return "," + strings.Join(f, ",") + ","
}

// Review is a rendition as the review queue shows it.
type Review struct {
	ID        string         `json:"id"`
	ImageID   string         `json:"image_id"`
	SKU       string         `json:"sku,omitempty"`
	BatchID   string         `json:"batch_id,omitempty"`
	SceneID   string         `json:"scene_id,omitempty"`
	Output    string         `json:"output"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Format    string         `json:"format"`
	State     string         `json:"state"`
	Checks    *checks.Report `json:"checks,omitempty"`
	Failed    []string       `json:"failed"`
	BeforeURL string         `json:"before_url,omitempty"`
	AfterURL  string         `json:"after_url"`
	Reviewer  string         `json:"reviewer,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	DecidedAt *time.Time     `json:"decided_at,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// ReviewQuery filters the review queue. State is pending (default), approved, rejected or
// all; Limit defaults to 50, at most 200.
type ReviewQuery struct {
	State   string
	BatchID string
	SceneID string
	Check   string
	Cursor  string
	Limit   int
}

// validCheckName accepts what a check name may be: lower-case letters and underscores.
func validCheckName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// ReviewPage is one page of the review queue.
type ReviewPage struct {
	Reviews    []Review `json:"reviews"`
	NextCursor string   `json:"next_cursor,omitempty"`
	Total      int      `json:"total"`
}

// ReviewDecision approves or rejects renditions: the ones named by IDs, or every one
// matching Filter (exactly one of the two).
type ReviewDecision struct {
	IDs      []string
	Filter   *ReviewQuery
	Approve  bool
	Reason   string
	Reviewer string
}

// where builds the filter's WHERE clause and arguments.
// p prefixes the column names ("" or "r.").
func (q ReviewQuery) where(p string) (string, []any, error) {
	var conds []string
	var args []any
	switch q.State {
	case "", ReviewPending:
		conds = append(conds, p+"review = ?")
		args = append(args, ReviewPending)
	case ReviewApproved, ReviewRejected:
		conds = append(conds, p+"review = ?")
		args = append(args, q.State)
	case "all":
		conds = append(conds, p+"review <> ''")
	default:
		return "", nil, fmt.Errorf("state %q: want pending, approved, rejected or all: %w", q.State, ErrInvalid)
	}
	if q.BatchID != "" {
		conds = append(conds, p+"batch_id = ?")
		args = append(args, q.BatchID)
	}
	if q.SceneID != "" {
		conds = append(conds, p+"scene_id = ?")
		args = append(args, q.SceneID)
	}
	if q.Check != "" {
		if !validCheckName(q.Check) {
			return "", nil, fmt.Errorf("check %q: not a check name: %w", q.Check, ErrInvalid)
		}
		conds = append(conds, p+`failed_checks LIKE ? ESCAPE '\'`)
		args = append(args, "%,"+strings.ReplaceAll(q.Check, "_", `\_`)+",%")
	}
	return strings.Join(conds, " AND "), args, nil
}

const reviewColumns = `r.id, r.image_id, COALESCE(i.sku, ''), r.batch_id, r.scene_id, r.output, r.width, r.height, r.format, r.review,
	r.checks, r.reviewer, r.review_reason, r.reviewed_at, r.created_at`

// ListReviews returns a page of the review queue, oldest first.
func (s *Service) ListReviews(ctx context.Context, q ReviewQuery) (ReviewPage, error) {
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > 200 {
		return ReviewPage{}, fmt.Errorf("limit %d: want 1..200: %w", q.Limit, ErrInvalid)
	}
	where, args, err := q.where("r.")
	if err != nil {
		return ReviewPage{}, err
	}
	page := ReviewPage{Reviews: []Review{}}
	if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM renditions r WHERE `+where), args...).Scan(&page.Total); err != nil {
		return ReviewPage{}, DBError("count reviews", err)
	}
	cw, cargs := where, append([]any(nil), args...)
	if q.Cursor != "" {
		at, id, ok := parseReviewCursor(q.Cursor)
		if !ok {
			return ReviewPage{}, fmt.Errorf("cursor %q: %w", q.Cursor, ErrInvalid)
		}
		cw += " AND (r.created_at > ? OR (r.created_at = ? AND r.id > ?))"
		cargs = append(cargs, at, at, id)
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT `+reviewColumns+`
		FROM renditions r LEFT JOIN images i ON i.id = r.image_id
		WHERE `+cw+` ORDER BY r.created_at, r.id LIMIT ?`), append(cargs, q.Limit+1)...)
	if err != nil {
		return ReviewPage{}, DBError("list reviews", err)
	}
	defer rows.Close()
	var last Review
	var lastAt int64
	for rows.Next() {
		rv, at, err := s.scanReview(rows)
		if err != nil {
			return ReviewPage{}, DBError("scan review", err)
		}
		if len(page.Reviews) == q.Limit {
			page.NextCursor = strconv.FormatInt(lastAt, 10) + "." + last.ID
			break
		}
		page.Reviews = append(page.Reviews, rv)
		last, lastAt = rv, at
	}
	return page, DBError("list reviews", rows.Err())
}

func parseReviewCursor(c string) (int64, string, bool) {
	at, id, ok := strings.Cut(c, ".")
	if !ok || !strings.HasPrefix(id, "rnd_") {
		return 0, "", false
	}
	n, err := strconv.ParseInt(at, 10, 64)
	return n, id, err == nil
}

func (s *Service) scanReview(r scanner) (Review, int64, error) {
	var (
		rv      Review
		check   sql.NullString
		decided int64
		created int64
	)
	err := r.Scan(&rv.ID, &rv.ImageID, &rv.SKU, &rv.BatchID, &rv.SceneID, &rv.Output, &rv.Width, &rv.Height, &rv.Format, &rv.State,
		&check, &rv.Reviewer, &rv.Reason, &decided, &created)
	if err != nil {
		return Review{}, 0, err
	}
	rv.CreatedAt = time.Unix(0, created).UTC()
	if decided != 0 {
		t := time.Unix(0, decided).UTC()
		rv.DecidedAt = &t
	}
	if check.Valid && check.String != "" {
		rv.Checks = &checks.Report{}
		if err := json.Unmarshal([]byte(check.String), rv.Checks); err != nil {
			return Review{}, 0, err
		}
	}
	rv.Failed = rv.Checks.Failed()
	if rv.Failed == nil {
		rv.Failed = []string{}
	}
	if rv.ImageID != "" {
		rv.BeforeURL = s.links.ImageContent(rv.ImageID)
	}
	rv.AfterURL = s.links.RenditionContent(rv.ID)
	return rv, created, nil
}

// DecideReviews approves or rejects renditions and records who and why; it returns how
// many were decided and, for a decision by IDs, the renditions as they now are.
func (s *Service) DecideReviews(ctx context.Context, d ReviewDecision) (int, []Review, error) {
	if (len(d.IDs) == 0) == (d.Filter == nil) {
		return 0, nil, fmt.Errorf("give either ids or a filter: %w", ErrInvalid)
	}
	if len(d.IDs) > MaxReviewIDs {
		return 0, nil, fmt.Errorf("%d ids: at most %d at once: %w", len(d.IDs), MaxReviewIDs, ErrInvalid)
	}
	d.Reason = strings.TrimSpace(d.Reason)
	if !d.Approve && d.Reason == "" {
		return 0, nil, fmt.Errorf("a rejection needs a reason: %w", ErrInvalid)
	}
	if len(d.Reason) > MaxReviewReason {
		return 0, nil, fmt.Errorf("reason is %d bytes, at most %d: %w", len(d.Reason), MaxReviewReason, ErrInvalid)
	}
	state := ReviewRejected
	if d.Approve {
		state = ReviewApproved
	}
	now := s.now().UTC().UnixNano()
	if d.Filter != nil {
		where, args, err := d.Filter.where("")
		if err != nil {
			return 0, nil, err
		}
		res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE renditions SET review = ?, reviewer = ?, review_reason = ?, reviewed_at = ?
			WHERE id IN (SELECT id FROM renditions WHERE `+where+` ORDER BY created_at, id LIMIT ?)`),
			append(append([]any{state, d.Reviewer, d.Reason, now}, args...), MaxReviewFilter)...)
		if err != nil {
			return 0, nil, DBError("decide reviews", err)
		}
		n, err := res.RowsAffected()
		return int(n), []Review{}, DBError("decide reviews", err)
	}
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, DBError("decide reviews", err)
	}
	defer tx.Rollback()
	for _, id := range d.IDs {
		res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE renditions SET review = ?, reviewer = ?, review_reason = ?, reviewed_at = ?
			WHERE id = ? AND review <> ''`), state, d.Reviewer, d.Reason, now, id)
		if err != nil {
			return 0, nil, DBError("decide review", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, nil, DBError("decide review", err)
		} else if n == 0 {
			return 0, nil, fmt.Errorf("rendition %s awaiting review: %w", id, ErrNotFound)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, DBError("decide reviews", err)
	}
	out := make([]Review, 0, len(d.IDs))
	for _, id := range d.IDs {
		rv, err := s.GetReview(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, rv)
	}
	return len(d.IDs), out, nil
}

// GetReview returns one rendition as the review queue shows it.
func (s *Service) GetReview(ctx context.Context, id string) (Review, error) {
	row := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT `+reviewColumns+`
		FROM renditions r LEFT JOIN images i ON i.id = r.image_id WHERE r.id = ?`), id)
	rv, _, err := s.scanReview(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Review{}, fmt.Errorf("rendition %s: %w", id, ErrNotFound)
	}
	return rv, DBError("get review", err)
}

// Retry is how a rejected rendition is made again: the image, the recipe to run (the
// rendition's own with a new seed, or another one), and what it belonged to.
type Retry struct {
	ImageID string
	// Recipe is the canonical recipe to render.
	Recipe []byte
	// NeedsSD tells whether the render needs a backend (and so runs as a job).
	NeedsSD          bool
	BatchID, SceneID string
}

// PrepareRetry settles how to make rendition id again: with recipe when given, else with
// the rendition's own recipe and seed (or a random one when seed is nil) on every step
// that paints from a prompt. Only a rejected rendition is retried; a recipe with nothing
// seeded and no new recipe is ErrInvalid.
func (s *Service) PrepareRetry(ctx context.Context, id string, seed *int64, recipe RecipeRef) (Retry, error) {
	var (
		rt        Retry
		state     string
		canonical string
	)
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT image_id, batch_id, scene_id, review, recipe FROM renditions WHERE id = ?`), id).
		Scan(&rt.ImageID, &rt.BatchID, &rt.SceneID, &state, &canonical)
	if errors.Is(err, sql.ErrNoRows) {
		return Retry{}, fmt.Errorf("rendition %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Retry{}, DBError("get rendition", err)
	}
	if state != ReviewRejected {
		return Retry{}, fmt.Errorf("rendition %s is %q, not rejected: only a rejected rendition is retried: %w", id, state, ErrInvalid)
	}
	if rt.ImageID == "" {
		return Retry{}, fmt.Errorf("rendition %s has no image recorded: %w", id, ErrInvalid)
	}
	var r *pipeline.Recipe
	if !recipe.IsZero() {
		if r, err = s.resolveRecipe(ctx, recipe); err != nil {
			return Retry{}, err
		}
	} else {
		if r, err = s.resolveRecipe(ctx, RecipeRef{Inline: []byte(canonical)}); err != nil {
			return Retry{}, err
		}
		seeded := false
		for _, st := range r.Steps {
			if p, ok := st.Params.(*pipeline.ReplaceBackgroundParams); ok && p.Prompt != "" {
				v := randomSeed()
				if seed != nil {
					v = *seed
				}
				if v < 0 || v > 4294967295 {
					return Retry{}, fmt.Errorf("seed %d: want 0..4294967295: %w", v, ErrInvalid)
				}
				p.Seed = &v
				seeded = true
			}
		}
		if !seeded {
			return Retry{}, fmt.Errorf("rendition %s's recipe has no seeded step: give another recipe: %w", id, ErrInvalid)
		}
	}
	rt.Recipe = r.Canonical()
	rt.NeedsSD = r.NeedsSD()
	if rt.NeedsSD && !s.sd.Serves(r) {
		return Retry{}, ErrSDRequired
	}
	return rt, nil
}

// randomSeed draws a generation seed, 0..2^32-1.
func randomSeed() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return int64(binary.BigEndian.Uint32(b[:]))
}
