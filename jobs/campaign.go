package jobs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/manifest"
)

// Catalog campaigns: batches made from a selection of stored images or from an approved
// scene, with a prompt filled from each row and N variants per item.

// maxVariants bounds the backgrounds a batch paints per item.
const maxVariants = 8

// maxSelectionItems bounds a batch made from a selection: its items are written while the
// request waits.
const maxSelectionItems = 1_000_000

// promptVar is a template variable: {name}, lower-case letters and underscores.
var promptVar = regexp.MustCompile(`\{([a-z_]+)\}`)

// templateVars lists a template's variables in order of first use.
func templateVars(tpl string) []string {
	var out []string
	for _, m := range promptVar.FindAllStringSubmatch(tpl, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// promptPlan is how a batch paints each item: the template filled from the row's columns,
// and the variants' seeds.
type promptPlan struct {
	template string
	vars     map[string]string // variable -> column, when they are named differently
	variants int
	seed     int64 // the first variant's seed when the recipe's step has none
}

// plan reads a batch's prompt plan; ok is false for a batch that paints nothing per row.
func (b batchRow) plan() (promptPlan, bool, error) {
	p := promptPlan{template: b.promptTemplate, variants: max(1, b.variants), seed: b.seed}
	if b.promptVars != "" {
		if err := json.Unmarshal([]byte(b.promptVars), &p.vars); err != nil {
			return p, false, fmt.Errorf("batch %s prompt variables: %w", b.id, err)
		}
	}
	return p, p.template != "" || p.variants > 1, nil
}

// column is the row column a variable reads: its mapping, or the column of its own name
// (compared in lower case, spaces as underscores).
func (p promptPlan) column(v string) string {
	if c, ok := p.vars[v]; ok {
		return c
	}
	return v
}

// normColumn is a column name as a template variable would name it.
func normColumn(c string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(c)), " ", "_")
}

// fill makes the prompt of one row. A variable whose column is missing or empty is an
// error naming both, so the row fails clearly instead of painting "a  on a table".
func (p promptPlan) fill(meta map[string]string, sku string) (string, error) {
	if p.template == "" {
		return "", nil
	}
	norm := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		norm[normColumn(k)] = v
	}
	if _, ok := norm["sku"]; !ok {
		norm["sku"] = sku
	}
	var missing []string
	out := promptVar.ReplaceAllStringFunc(p.template, func(m string) string {
		v := m[1 : len(m)-1]
		col := p.column(v)
		val := strings.TrimSpace(norm[normColumn(col)])
		if val == "" {
			if col == v {
				missing = append(missing, fmt.Sprintf("{%s}", v))
			} else {
				missing = append(missing, fmt.Sprintf("{%s} (column %q)", v, col))
			}
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("prompt variable %s is missing or empty in this row: %w", strings.Join(missing, ", "), catalog.ErrInvalid)
	}
	return out, nil
}

// variantRecipe is the recipe of variant k of an item: every generative step (a
// replace_background by prompt) gets the filled prompt, when there is a template, and the
// seed of variant k, so each variant is its own rendition and a retry paints the same.
func (p promptPlan) variantRecipe(canonical []byte, prompt string, k int) ([]byte, error) {
	var r map[string]any
	if err := json.Unmarshal(canonical, &r); err != nil {
		return nil, fmt.Errorf("batch recipe: %w", err)
	}
	steps, _ := r["steps"].([]any)
	found := false
	for _, st := range steps {
		m, ok := st.(map[string]any)
		if !ok || m["op"] != "replace_background" {
			continue
		}
		if pr, _ := m["prompt"].(string); pr == "" {
			continue
		}
		found = true
		if prompt != "" {
			m["prompt"] = prompt
		}
		base := p.seed
		if sv, ok := m["seed"].(float64); ok && sv >= 0 {
			base = int64(sv)
		}
		m["seed"] = (base + int64(k)) & 0xffffffff
	}
	if !found {
		return nil, fmt.Errorf("a prompt template or variants need a recipe with replace_background by prompt: %w", catalog.ErrInvalid)
	}
	return json.Marshal(r)
}

// checkPlan validates a batch's prompt plan against its recipe and, when the manifest's
// columns are known, its template's variables against them.
func checkPlan(p promptPlan, canonical []byte, columns []string, fromManifest bool) error {
	if p.variants < 1 || p.variants > maxVariants {
		return fmt.Errorf("variants must be 1..%d: %w", maxVariants, catalog.ErrInvalid)
	}
	if len(p.template) > 2000 {
		return fmt.Errorf("prompt_template is limited to 2000 characters: %w", catalog.ErrInvalid)
	}
	if !utf8.ValidString(p.template) {
		return fmt.Errorf("prompt_template is not UTF-8: %w", catalog.ErrInvalid)
	}
	if len(p.vars) > 64 {
		return fmt.Errorf("prompt_vars: at most 64: %w", catalog.ErrInvalid)
	}
	vars := templateVars(p.template)
	for v, c := range p.vars {
		if !slices.Contains(vars, v) {
			return fmt.Errorf("prompt_vars names {%s}, which the template does not use: %w", v, catalog.ErrInvalid)
		}
		if strings.TrimSpace(c) == "" || len(c) > 256 {
			return fmt.Errorf("prompt_vars: {%s} needs a column name of 1..256 bytes: %w", v, catalog.ErrInvalid)
		}
	}
	if p.template != "" && len(vars) == 0 && p.variants == 1 {
		return fmt.Errorf("prompt_template has no {variables}: put the prompt in the recipe: %w", catalog.ErrInvalid)
	}
	if _, err := p.variantRecipe(canonical, "", 0); err != nil {
		return err
	}
	if fromManifest && columns != nil {
		have := map[string]bool{"sku": true}
		for _, c := range columns {
			have[normColumn(c)] = true
		}
		for _, v := range vars {
			if col := p.column(v); !have[normColumn(col)] {
				return fmt.Errorf("prompt variable {%s} reads column %q, which the manifest does not have (columns: %s): %w",
					v, col, strings.Join(columns, ", "), catalog.ErrInvalid)
			}
		}
	}
	return nil
}

// contentKey names an item by what it is, its source and SKU, so a scheduled re-read
// knows rows it has seen wherever they sit in the file. URLs and image ids have no spaces.
func contentKey(r manifest.Row) string {
	if r.URL != "" {
		return "u:" + r.URL + " " + r.SKU
	}
	return "i:" + r.ImageID + " " + r.SKU
}

// selectionRows pages through the images a selection matches, oldest first, and hands
// them on as manifest rows (image id, SKU and the image's metadata) numbered from 1.
func (s *Service) selectionRows(ctx context.Context, sel catalog.Selection, fn func(manifest.Row) error) (int, error) {
	n, err := s.cat.CountSelection(ctx, sel)
	if err != nil {
		return 0, err
	}
	if n > maxSelectionItems {
		return 0, fmt.Errorf("the selection matches %d images, more than the %d a batch may hold: narrow it: %w", n, maxSelectionItems, catalog.ErrInvalid)
	}
	cursor, num := "", 0
	for {
		imgs, next, err := s.cat.ListImages(ctx, catalog.ListImagesQuery{Selection: sel, Cursor: cursor, Limit: 200})
		if err != nil {
			return num, err
		}
		for _, img := range imgs {
			num++
			r := manifest.Row{Number: num, ImageID: img.ID, SKU: img.SKU}
			if len(img.Meta) > 0 {
				r.Meta = img.Meta
			}
			if err := fn(r); err != nil {
				return num, err
			}
		}
		if next == "" || len(imgs) == 0 {
			return num, nil
		}
		cursor = next
	}
}

// randomSeed draws a generation seed, 0..4294967295.
func randomSeed() int64 {
	var b [4]byte
	rand.Read(b[:])
	return int64(binary.BigEndian.Uint32(b[:]))
}

// metaOfRow is what of a row's columns becomes the image's metadata: the non-empty cells
// of columns whose names can be metadata keys (columnsNotKept says which cannot), at most
// catalog.MaxMetaKeys of them, in sorted order.
func metaOfRow(meta map[string]string) map[string]*string {
	keys := make([]string, 0, len(meta))
	for k, v := range meta {
		if _, err := catalog.NormalizeMetaKey(k); err == nil && strings.TrimSpace(v) != "" && len(v) <= catalog.MaxMetaValueBytes {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > catalog.MaxMetaKeys {
		keys = keys[:catalog.MaxMetaKeys]
	}
	set := make(map[string]*string, len(keys))
	for _, k := range keys {
		v := meta[k]
		set[k] = &v
	}
	return set
}

// columnsNotKept lists the manifest columns that cannot become image metadata, each with
// why: kept with the item and in the results, but not queryable.
func columnsNotKept(columns []string) []string {
	var out []string
	for _, c := range columns {
		if _, err := catalog.NormalizeMetaKey(c); err != nil {
			out = append(out, fmt.Sprintf("%s: %s", c, strings.TrimSuffix(err.Error(), ": "+catalog.ErrInvalid.Error())))
		}
	}
	return out
}

// ScheduleStart sets a draft or ready batch to start at a time (a delayed start): the
// schedule tick starts it then, past the trial gate only with force. A recipe with AI
// steps not yet trialled is trialled at once, so the report is there before the start. A
// trial already below min_accuracy refuses now (TrialGateError) unless forced.
func (s *Service) ScheduleStart(ctx context.Context, id string, at time.Time, force bool) (Batch, error) {
	b, err := s.loadBatch(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	if b.state != BatchDraft && b.state != BatchReady && b.state != BatchTrialling {
		return Batch{}, fmt.Errorf("schedule the start of a %s batch: %w", b.state, ErrBatchState)
	}
	if at.Before(time.Now().Add(-time.Minute)) || at.After(time.Now().AddDate(1, 0, 0)) {
		return Batch{}, fmt.Errorf("at %s: want a time within the next year: %w", at.Format(time.RFC3339), catalog.ErrInvalid)
	}
	if !force && b.trial != "" && b.state != BatchTrialling {
		if err := trialGate(b); err != nil {
			return Batch{}, err
		}
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET start_at = ?, start_force = ?, error = '', updated_at = ? WHERE id = ?`),
		at.UnixNano(), boolInt(force), time.Now().UTC().UnixNano(), id); err != nil {
		return Batch{}, dbError("schedule start", err)
	}
	if err := s.RunDelayedStarts(ctx, time.Now()); err != nil {
		return Batch{}, err
	}
	return s.GetBatch(ctx, id)
}

// RunDelayedStarts moves the batches with a delayed start on: one whose recipe has AI
// steps and that has had no trial is trialled at once; at its time a batch starts, or,
// when the trial gate refuses, keeps its state with the reason as its error and no
// start time. A batch still trialling at its time starts on the tick after the trial.
func (s *Service) RunDelayedStarts(ctx context.Context, now time.Time) error {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT id FROM batches WHERE start_at > 0 AND state IN (?, ?)`), BatchDraft, BatchReady)
	if err != nil {
		return dbError("delayed starts", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return dbError("delayed starts", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError("delayed starts", err)
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.delayedStart(ctx, id, now))
	}
	return errors.Join(errs...)
}

func (s *Service) delayedStart(ctx context.Context, id string, now time.Time) error {
	b, err := s.loadBatch(ctx, id)
	if err != nil || b.startAt == 0 {
		return err
	}
	ai, err := recipeHasAI([]byte(b.recipe))
	if err != nil {
		return err
	}
	if ai && !b.startForce && b.trial == "" && b.state == BatchDraft {
		_, err := s.TrialBatch(ctx, id, 0)
		if errors.Is(err, ErrBatchState) {
			return nil // moved on meanwhile
		}
		return err
	}
	if b.startAt > now.UnixNano() {
		return nil
	}
	_, err = s.StartBatch(ctx, id, ActionOptions{Force: b.startForce})
	if err == nil || !errors.Is(err, ErrBatchState) {
		return err
	}
	// Refused (the trial gate): said on the batch, and not tried again.
	_, uerr := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET start_at = 0, error = ?, updated_at = ? WHERE id = ? AND start_at = ?`),
		"the delayed start was refused: "+err.Error(), time.Now().UTC().UnixNano(), id, b.startAt)
	return dbError("record refused start", uerr)
}

// boolInt stores a flag in an INTEGER column (0 or 1) on both dialects.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
