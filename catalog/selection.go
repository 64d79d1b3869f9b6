package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
)

// Limits of a Selection.
const (
	// MaxSelectionIDs bounds Selection.IDs and Selection.SKUs (each).
	MaxSelectionIDs = 10000
	// MaxSelectionMetaValues bounds the values of Selection.Meta, all keys together.
	MaxSelectionMetaValues = 1000
	// MaxSelectionSample is the largest sample PreviewSelection returns.
	MaxSelectionSample = 50
	// DefaultSelectionSample is the sample size POST /v1/images/select uses when none is given.
	DefaultSelectionSample = 12
)

// Range is an inclusive numeric range; a nil bound is open. A range in a Selection needs
// at least one bound, and Min <= Max.
type Range struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Selection picks stored images by rules over the catalog; every condition given must
// hold (AND), the values of one list condition are alternatives (OR). The zero value
// selects every image.
type Selection struct {
	// IDs are image ids; at most MaxSelectionIDs.
	IDs []string `json:"ids,omitempty"`
	// SKUs are exact SKUs; at most MaxSelectionIDs.
	SKUs []string `json:"skus,omitempty"`
	// SKUPrefix selects the SKUs that start with it (byte-wise, case-sensitive).
	SKUPrefix string `json:"sku_prefix,omitempty"`
	// Meta maps a metadata key to the values it may have (exact, case-sensitive); in JSON
	// a value may be one string or a list. Keys are case-insensitive.
	Meta map[string][]string `json:"meta,omitempty"`
	// MetaRange maps a metadata key to a range its value must be in, as a number; values
	// that are not numbers do not match.
	MetaRange map[string]Range `json:"meta_range,omitempty"`
	// MetaMissing are keys the image must not have.
	MetaMissing []string `json:"meta_missing,omitempty"`

	// Width, Height, LongerSide, ShorterSide (pixels, as displayed) and Bytes are ranges
	// over what every image has.
	Width       *Range `json:"width,omitempty"`
	Height      *Range `json:"height,omitempty"`
	LongerSide  *Range `json:"longer_side,omitempty"`
	ShorterSide *Range `json:"shorter_side,omitempty"`
	Bytes       *Range `json:"bytes,omitempty"`
	// Sharpness, JPEGQuality, PlainBackground and HasAlpha are quality-report fields: an
	// image without a report (ingested with a recipe, never analysed) does not match them
	// (SelectionPreview.Unmeasured counts those), nor does JPEGQuality match an image
	// whose report has no JPEG quality.
	Sharpness       *Range `json:"sharpness,omitempty"`
	JPEGQuality     *Range `json:"jpeg_quality,omitempty"`
	PlainBackground *bool  `json:"plain_background,omitempty"`
	HasAlpha        *bool  `json:"has_alpha,omitempty"`
	// Formats are source formats (jpeg, png, webp, avif, gif, tiff, heif; jpg, tif and
	// heic are read as their names).
	Formats []string `json:"formats,omitempty"`
	// IngestedAfter and IngestedBefore bound the ingest time: after is inclusive, before
	// exclusive.
	IngestedAfter  *time.Time `json:"ingested_after,omitempty"`
	IngestedBefore *time.Time `json:"ingested_before,omitempty"`
	// HasRendition names a recipe: only images with a rendition of its current version
	// (its hash now) that was not rejected in review. LacksRendition: only images without one.
	HasRendition   string `json:"has_rendition,omitempty"`
	LacksRendition string `json:"lacks_rendition,omitempty"`
}

// SelectionPreview is what a selection matches: how many images, and a sample.
type SelectionPreview struct {
	// Count is how many images match.
	Count int64 `json:"count"`
	// Unmeasured is, when the selection uses a quality-report field, how many images
	// match the other conditions but have no quality report (so none of them matches);
	// 0 otherwise.
	Unmeasured int64 `json:"unmeasured"`
	// Sample are the newest matching images, with their metadata.
	Sample []Image `json:"sample"`
}

// metaValues is one Meta entry in JSON: a string or a list of strings.
type metaValues []string

func (m *metaValues) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*m = metaValues{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("a meta value must be a string or a list of strings")
	}
	*m = list
	return nil
}

// UnmarshalJSON reads a selection strictly: unknown members are an error, and a Meta
// value may be one string or a list of strings.
func (sel *Selection) UnmarshalJSON(b []byte) error {
	type plain Selection
	var in struct {
		plain
		Meta map[string]metaValues `json:"meta,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("selection: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	*sel = Selection(in.plain)
	sel.Meta = nil
	if in.Meta != nil {
		sel.Meta = make(map[string][]string, len(in.Meta))
		for k, v := range in.Meta {
			sel.Meta[k] = []string(v)
		}
	}
	return nil
}

// IsZero reports whether the selection has no condition (it selects every image).
func (sel Selection) IsZero() bool {
	return len(sel.IDs) == 0 && len(sel.SKUs) == 0 && sel.SKUPrefix == "" && len(sel.Meta) == 0 &&
		len(sel.MetaRange) == 0 && len(sel.MetaMissing) == 0 && sel.Width == nil && sel.Height == nil &&
		sel.LongerSide == nil && sel.ShorterSide == nil && sel.Bytes == nil && sel.Sharpness == nil &&
		sel.JPEGQuality == nil && sel.PlainBackground == nil && sel.HasAlpha == nil && len(sel.Formats) == 0 &&
		sel.IngestedAfter == nil && sel.IngestedBefore == nil && sel.HasRendition == "" && sel.LacksRendition == ""
}

// usesQuality reports whether a quality-report field is among the conditions.
func (sel Selection) usesQuality() bool {
	return sel.Sharpness != nil || sel.JPEGQuality != nil || sel.PlainBackground != nil || sel.HasAlpha != nil
}

// invalidField is an ErrInvalid naming the selection field.
func invalidField(field, format string, args ...any) error {
	return fmt.Errorf("selection %s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
}

// check reports a range without a bound, with a bound that is not finite, or upside down.
func (r *Range) check(field string) error {
	if r == nil {
		return nil
	}
	if r.Min == nil && r.Max == nil {
		return invalidField(field, "give min, max or both")
	}
	for _, v := range []*float64{r.Min, r.Max} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return invalidField(field, "bounds must be finite numbers")
		}
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		return invalidField(field, "min %v is above max %v", *r.Min, *r.Max)
	}
	return nil
}

// earliest and latest bound the ingest times a selection may name (Unix nanoseconds).
var (
	earliest = time.Unix(0, 0).UTC()
	latest   = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate reports the first condition that cannot be used, as ErrInvalid naming its field.
// Recipe names of HasRendition and LacksRendition are checked for form here and for
// existence when the selection runs.
func (sel Selection) Validate() error {
	if err := checkList("ids", sel.IDs, MaxSelectionIDs, 200); err != nil {
		return err
	}
	if err := checkList("skus", sel.SKUs, MaxSelectionIDs, maxSKU); err != nil {
		return err
	}
	if len(sel.SKUPrefix) > maxSKU {
		return invalidField("sku_prefix", "longer than %d bytes", maxSKU)
	}
	if !utf8.ValidString(sel.SKUPrefix) {
		return invalidField("sku_prefix", "not valid UTF-8")
	}
	values := 0
	for k, vs := range sel.Meta {
		nk, err := NormalizeMetaKey(k)
		if err != nil {
			return invalidField("meta", "%v", err)
		}
		if len(vs) == 0 {
			return invalidField("meta."+nk, "give at least one value")
		}
		for _, v := range vs {
			if err := checkMetaValue(nk, v); err != nil {
				return invalidField("meta."+nk, "%v", err)
			}
		}
		values += len(vs)
	}
	if values > MaxSelectionMetaValues {
		return invalidField("meta", "%d values, at most %d", values, MaxSelectionMetaValues)
	}
	if len(sel.Meta) > MaxMetaKeys || len(sel.MetaRange) > MaxMetaKeys || len(sel.MetaMissing) > MaxMetaKeys {
		return invalidField("meta", "at most %d keys in each of meta, meta_range and meta_missing", MaxMetaKeys)
	}
	for k, r := range sel.MetaRange {
		nk, err := NormalizeMetaKey(k)
		if err != nil {
			return invalidField("meta_range", "%v", err)
		}
		if err := r.check("meta_range." + nk); err != nil {
			return err
		}
	}
	for _, k := range sel.MetaMissing {
		if _, err := NormalizeMetaKey(k); err != nil {
			return invalidField("meta_missing", "%v", err)
		}
	}
	for _, f := range []struct {
		name string
		r    *Range
	}{{"width", sel.Width}, {"height", sel.Height}, {"longer_side", sel.LongerSide}, {"shorter_side", sel.ShorterSide},
		{"bytes", sel.Bytes}, {"sharpness", sel.Sharpness}, {"jpeg_quality", sel.JPEGQuality}} {
		if err := f.r.check(f.name); err != nil {
			return err
		}
	}
	if len(sel.Formats) > 16 {
		return invalidField("formats", "%d given, at most 16", len(sel.Formats))
	}
	for _, f := range sel.Formats {
		if _, err := imaging.ParseFormat(f); err != nil {
			return invalidField("formats", "unknown format %q (want jpeg, png, webp, avif, gif, tiff or heif)", f)
		}
	}
	for _, t := range []struct {
		name string
		t    *time.Time
	}{{"ingested_after", sel.IngestedAfter}, {"ingested_before", sel.IngestedBefore}} {
		if t.t != nil && (t.t.Before(earliest) || !t.t.Before(latest)) {
			return invalidField(t.name, "%s is outside 1970 to 2261", t.t.Format(time.RFC3339))
		}
	}
	if sel.IngestedAfter != nil && sel.IngestedBefore != nil && !sel.IngestedAfter.Before(*sel.IngestedBefore) {
		return invalidField("ingested_after", "must be before ingested_before")
	}
	for _, r := range []struct{ name, recipe string }{{"has_rendition", sel.HasRendition}, {"lacks_rendition", sel.LacksRendition}} {
		if r.recipe != "" && !pipeline.ValidRecipeName(r.recipe) {
			return invalidField(r.name, "%q is not a recipe name", r.recipe)
		}
	}
	return nil
}

func checkList(field string, vs []string, maxN, maxLen int) error {
	if len(vs) > maxN {
		return invalidField(field, "%d given, at most %d", len(vs), maxN)
	}
	for _, v := range vs {
		if v == "" {
			return invalidField(field, "an empty value")
		}
		if len(v) > maxLen {
			return invalidField(field, "%q is longer than %d bytes", v[:min(len(v), 40)]+"…", maxLen)
		}
		if !utf8.ValidString(v) {
			return invalidField(field, "a value is not valid UTF-8")
		}
	}
	return nil
}

// where is a selection as SQL conditions over images i, with their arguments: base are
// the conditions every image can be tested on, quality those on quality-report columns.
type where struct {
	base, quality []string
	args, qargs   []any
}

func (w *where) add(cond string, args ...any) {
	w.base = append(w.base, cond)
	w.args = append(w.args, args...)
}

func (w *where) addQuality(cond string, args ...any) {
	w.quality = append(w.quality, cond)
	w.qargs = append(w.qargs, args...)
}

// all returns every condition and its arguments, base first.
func (w *where) all() ([]string, []any) {
	conds := append(append([]string{}, w.base...), w.quality...)
	args := append(append([]any{}, w.args...), w.qargs...)
	return conds, args
}

// rangeConds adds expr >= min and expr <= max; integer columns get whole bounds (the
// least integer >= min, the greatest <= max), which select the same rows.
func rangeConds(add func(string, ...any), expr string, r *Range, integer bool) {
	if r == nil {
		return
	}
	const limit = 1 << 62
	if r.Min != nil {
		if integer {
			add(expr+" >= ?", int64(math.Max(math.Ceil(*r.Min), -limit)))
		} else {
			add(expr+" >= ?", *r.Min)
		}
	}
	if r.Max != nil {
		if integer {
			add(expr+" <= ?", int64(math.Min(math.Floor(*r.Max), limit)))
		} else {
			add(expr+" <= ?", *r.Max)
		}
	}
}

// prefixEnd returns the least string above every string that starts with p in byte
// order (the last rune that can be incremented, incremented, past the surrogates), and
// false when there is none.
func prefixEnd(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] < utf8.MaxRune {
			r := rs[i] + 1
			if r >= 0xD800 && r <= 0xDFFF {
				r = 0xE000
			}
			return string(append(rs[:i], r)), true
		}
	}
	return "", false
}

// selectionWhere validates sel and turns it into conditions; recipes named by
// HasRendition and LacksRendition are resolved to their current hash.
func (s *Service) selectionWhere(ctx context.Context, sel Selection) (*where, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	w := &where{}
	if len(sel.IDs) > 0 {
		w.add("i.id IN ("+placeholders(len(sel.IDs))+")", strArgs(sel.IDs)...)
	}
	if len(sel.SKUs) > 0 {
		w.add("i.sku IN ("+placeholders(len(sel.SKUs))+")", strArgs(sel.SKUs)...)
	}
	if sel.SKUPrefix != "" {
		// A range in byte order, which an index on sku serves; PostgreSQL's collation is
		// set to "C" for it (images_sku_bytes).
		sku := "i.sku"
		if s.db.Dialect == db.Postgres {
			sku = `i.sku COLLATE "C"`
		}
		w.add(sku+" >= ?", sel.SKUPrefix)
		if end, ok := prefixEnd(sel.SKUPrefix); ok {
			w.add(sku+" < ?", end)
		}
	}
	for _, k := range sortedKeys(sel.Meta) {
		vs := sel.Meta[k]
		nk, _ := NormalizeMetaKey(k)
		w.add("EXISTS (SELECT 1 FROM image_meta m WHERE m.image_id = i.id AND m.key = ? AND m.value IN ("+placeholders(len(vs))+"))",
			append([]any{nk}, strArgs(vs)...)...)
	}
	for _, k := range sortedKeys(sel.MetaRange) {
		r := sel.MetaRange[k]
		nk, _ := NormalizeMetaKey(k)
		cond := "EXISTS (SELECT 1 FROM image_meta m WHERE m.image_id = i.id AND m.key = ?"
		args := []any{nk}
		rangeConds(func(c string, a ...any) { cond += " AND " + c; args = append(args, a...) }, "m.num", &r, false)
		w.add(cond+")", args...)
	}
	for _, k := range sel.MetaMissing {
		nk, _ := NormalizeMetaKey(k)
		w.add("NOT EXISTS (SELECT 1 FROM image_meta m WHERE m.image_id = i.id AND m.key = ?)", nk)
	}
	rangeConds(w.add, "i.width", sel.Width, true)
	rangeConds(w.add, "i.height", sel.Height, true)
	rangeConds(w.add, "(CASE WHEN i.width >= i.height THEN i.width ELSE i.height END)", sel.LongerSide, true)
	rangeConds(w.add, "(CASE WHEN i.width <= i.height THEN i.width ELSE i.height END)", sel.ShorterSide, true)
	rangeConds(w.add, "i.bytes", sel.Bytes, true)
	rangeConds(w.addQuality, "i.sharpness", sel.Sharpness, false)
	rangeConds(w.addQuality, "i.jpeg_quality", sel.JPEGQuality, true)
	if sel.PlainBackground != nil {
		w.addQuality("i.plain_background = ?", boolInt(*sel.PlainBackground))
	}
	if sel.HasAlpha != nil {
		w.addQuality("i.has_alpha = ?", boolInt(*sel.HasAlpha))
	}
	if len(sel.Formats) > 0 {
		fs := make([]any, 0, len(sel.Formats))
		for _, f := range sel.Formats {
			pf, _ := imaging.ParseFormat(f)
			fs = append(fs, string(pf))
		}
		w.add("i.format IN ("+placeholders(len(fs))+")", fs...)
	}
	if sel.IngestedAfter != nil {
		w.add("i.created_at >= ?", sel.IngestedAfter.UnixNano())
	}
	if sel.IngestedBefore != nil {
		w.add("i.created_at < ?", sel.IngestedBefore.UnixNano())
	}
	for _, r := range []struct {
		field, name, not string
	}{{"has_rendition", sel.HasRendition, ""}, {"lacks_rendition", sel.LacksRendition, "NOT "}} {
		if r.name == "" {
			continue
		}
		sr, err := s.GetRecipe(ctx, r.name)
		if errors.Is(err, ErrNotFound) {
			return nil, invalidField(r.field, "no recipe is named %q", r.name)
		}
		if err != nil {
			return nil, err
		}
		w.add(r.not+"EXISTS (SELECT 1 FROM renditions r WHERE r.source_sha256 = i.sha256 AND r.recipe_hash = ? AND r.review <> ?)",
			sr.Hash, ReviewRejected)
	}
	return w, nil
}

func strArgs(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// sortedKeys returns m's keys in order, so the same selection makes the same SQL.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// CountSelection returns how many images the selection matches. ErrInvalid for a
// selection Validate refuses or a recipe that does not exist.
func (s *Service) CountSelection(ctx context.Context, sel Selection) (int64, error) {
	w, err := s.selectionWhere(ctx, sel)
	if err != nil {
		return 0, err
	}
	conds, args := w.all()
	return s.count(ctx, conds, args)
}

func (s *Service) count(ctx context.Context, conds []string, args []any) (int64, error) {
	var n int64
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT count(*) FROM images i`+whereClause(conds)), args...).Scan(&n)
	return n, DBError("count selection", err)
}

// PreviewSelection counts what the selection matches and returns a sample of up to
// sample images (0 to MaxSelectionSample; 0 counts only): the newest that match, newest
// first, with their metadata. When the selection uses a quality-report field it also
// counts the images that match the rest but have no report (Unmeasured).
func (s *Service) PreviewSelection(ctx context.Context, sel Selection, sample int) (SelectionPreview, error) {
	if sample < 0 || sample > MaxSelectionSample {
		return SelectionPreview{}, invalidField("sample", "%d: want 0 to %d", sample, MaxSelectionSample)
	}
	w, err := s.selectionWhere(ctx, sel)
	if err != nil {
		return SelectionPreview{}, err
	}
	conds, args := w.all()
	var p SelectionPreview
	if p.Count, err = s.count(ctx, conds, args); err != nil {
		return SelectionPreview{}, err
	}
	if len(w.quality) > 0 {
		if p.Unmeasured, err = s.count(ctx, append(append([]string{}, w.base...), "i.quality IS NULL"), w.args); err != nil {
			return SelectionPreview{}, err
		}
	}
	p.Sample = []Image{}
	if sample > 0 && p.Count > 0 {
		// Walking the created_at index backwards finds the newest matches of a selection
		// spread over the catalog at once (5 ms for 20,000 in a million), but those of a
		// small selection of old images only after most of the table (200 ms for 10,000
		// old SKUs). Up to sparseSelection matches, created_at + 0 keeps the planner off
		// that index: it finds the matches by their own conditions and keeps the newest
		// (10 ms for the same SKUs; about 8 ms per 1,000 matches).
		order := "i.created_at"
		if p.Count <= sparseSelection {
			order = "i.created_at + 0"
		}
		if p.Sample, err = s.queryImages(ctx, `SELECT `+imageColumnsOf("i")+` FROM images i`+whereClause(conds)+
			` ORDER BY `+order+` DESC, i.id DESC LIMIT ?`, append(args, sample)); err != nil {
			return SelectionPreview{}, err
		}
	}
	return p, nil
}

// sparseSelection is the count up to which PreviewSelection samples a selection by its
// conditions rather than by walking the ingest-time index.
const sparseSelection = 10000

// queryImages runs a query for imageColumns and returns the images with their metadata.
func (s *Service) queryImages(ctx context.Context, q string, args []any) ([]Image, error) {
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, DBError("select images", err)
	}
	defer rows.Close()
	out := []Image{}
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			return nil, DBError("scan image", err)
		}
		out = append(out, img)
	}
	if err := rows.Err(); err != nil {
		return nil, DBError("select images", err)
	}
	rows.Close()
	if err := s.fillMeta(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// imageColumnsOf is imageColumns qualified by a table alias.
func imageColumnsOf(alias string) string {
	cols := strings.Split(imageColumns, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}
