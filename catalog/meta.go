package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of an image's metadata (image_meta).
const (
	// MaxMetaKeys is how many keys one image may carry.
	MaxMetaKeys = 64
	// MaxMetaKeyBytes bounds a key.
	MaxMetaKeyBytes = 64
	// MaxMetaValueBytes bounds a value.
	MaxMetaValueBytes = 1024
)

// metaKeyPattern is what a key looks like once trimmed.
var metaKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_ .-]*$`)

// NormalizeMetaKey returns the stored form of a metadata key: trimmed and lower-cased
// (keys are case-insensitive), or ErrInvalid when it is empty, longer than
// MaxMetaKeyBytes or outside ^[A-Za-z0-9_][A-Za-z0-9_ .-]*$.
func NormalizeMetaKey(key string) (string, error) {
	k := strings.ToLower(strings.TrimSpace(key))
	switch {
	case k == "":
		return "", fmt.Errorf("meta key %q is empty: %w", key, ErrInvalid)
	case len(k) > MaxMetaKeyBytes:
		return "", fmt.Errorf("meta key %q is longer than %d bytes: %w", key, MaxMetaKeyBytes, ErrInvalid)
	case !metaKeyPattern.MatchString(k):
		return "", fmt.Errorf("meta key %q: use letters, digits, '_', and after the first character also ' ', '.' and '-': %w", key, ErrInvalid)
	}
	return k, nil
}

// checkMetaValue reports a value that cannot be stored.
func checkMetaValue(key, v string) error {
	if len(v) > MaxMetaValueBytes {
		return fmt.Errorf("meta %q: value is %d bytes, limit %d: %w", key, len(v), MaxMetaValueBytes, ErrInvalid)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("meta %q: value is not valid UTF-8: %w", key, ErrInvalid)
	}
	return nil
}

// metaNum is the value as a number for range selections: a finite decimal float
// (surrounding spaces ignored), else nil (NULL).
func metaNum(v string) any {
	s := strings.TrimSpace(v)
	if s == "" || strings.ContainsAny(s, "xX_pP") {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return f
}

// normalizeMetaSet checks a metadata change and returns it with stored keys; a nil value
// deletes the key. Two keys that are the same once normalized are an error.
func normalizeMetaSet(set map[string]*string) (map[string]*string, error) {
	out := make(map[string]*string, len(set))
	for k, v := range set {
		nk, err := NormalizeMetaKey(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out[nk]; dup {
			return nil, fmt.Errorf("meta key %q is given twice (keys are case-insensitive): %w", nk, ErrInvalid)
		}
		if v != nil {
			if err := checkMetaValue(nk, *v); err != nil {
				return nil, err
			}
		}
		out[nk] = v
	}
	if n := countSets(out); n > MaxMetaKeys {
		return nil, fmt.Errorf("meta: %d keys given, an image may have at most %d: %w", n, MaxMetaKeys, ErrInvalid)
	}
	return out, nil
}

func countSets(set map[string]*string) int {
	n := 0
	for _, v := range set {
		if v != nil {
			n++
		}
	}
	return n
}

// metaSetOf turns plain values (an ingest's or a manifest row's) into a change that sets them all.
func metaSetOf(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	set := make(map[string]*string, len(m))
	for k, v := range m {
		set[k] = &v
	}
	return set
}

// SetImageMeta merges set into the image's metadata: a key with a value is set (its
// number, for range selections, is the value parsed as a finite float), a key with nil is
// deleted. Keys are case-insensitive, stored trimmed and lower-cased. It returns the image
// with its metadata. ErrInvalid when a key or value breaks the limits (MaxMetaKeys after
// the merge, MaxMetaKeyBytes, MaxMetaValueBytes, UTF-8), ErrNotFound for an unknown image.
// Setting the same values again changes nothing.
func (s *Service) SetImageMeta(ctx context.Context, id string, set map[string]*string) (Image, error) {
	norm, err := normalizeMetaSet(set)
	if err != nil {
		return Image{}, err
	}
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return Image{}, fmt.Errorf("set image meta: begin: %w: %w", ErrUnavailable, err)
	}
	defer tx.Rollback()
	if err := s.setImageMetaTx(ctx, tx, id, norm); err != nil {
		return Image{}, err
	}
	if err := tx.Commit(); err != nil {
		return Image{}, fmt.Errorf("set image meta: commit: %w: %w", ErrUnavailable, err)
	}
	return s.ImageByID(ctx, id)
}

// SetImageMetaTx is SetImageMeta inside the caller's transaction (a job that records a
// manifest row's columns with its item); it returns nothing else, so it reads only
// through tx. Idempotent like SetImageMeta.
func (s *Service) SetImageMetaTx(ctx context.Context, tx *sql.Tx, id string, set map[string]*string) error {
	norm, err := normalizeMetaSet(set)
	if err != nil {
		return err
	}
	return s.setImageMetaTx(ctx, tx, id, norm)
}

// setImageMetaTx applies a normalized change; an unknown image is ErrNotFound.
func (s *Service) setImageMetaTx(ctx context.Context, tx *sql.Tx, id string, set map[string]*string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT 1 FROM images WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("image %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return DBError("set image meta", err)
	}
	if len(set) == 0 {
		return nil
	}
	upsert := s.db.Rebind(`INSERT INTO image_meta (image_id, key, value, num) VALUES (?, ?, ?, ?)
		ON CONFLICT (image_id, key) DO UPDATE SET value = excluded.value, num = excluded.num`)
	del := s.db.Rebind(`DELETE FROM image_meta WHERE image_id = ? AND key = ?`)
	for k, v := range set {
		if v == nil {
			_, err = tx.ExecContext(ctx, del, id, k)
		} else {
			_, err = tx.ExecContext(ctx, upsert, id, k, *v, metaNum(*v))
		}
		if err != nil {
			return DBError("set image meta", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT count(*) FROM image_meta WHERE image_id = ?`), id).Scan(&n); err != nil {
		return DBError("count image meta", err)
	}
	if n > MaxMetaKeys {
		return fmt.Errorf("meta: image %s would have %d keys, at most %d: %w", id, n, MaxMetaKeys, ErrInvalid)
	}
	return nil
}

// fillMeta sets Meta on each image from image_meta, in one query.
func (s *Service) fillMeta(ctx context.Context, images []Image) error {
	if len(images) == 0 {
		return nil
	}
	at := make(map[string][]int, len(images))
	args := make([]any, 0, len(images))
	for i, img := range images {
		if _, seen := at[img.ID]; !seen {
			args = append(args, img.ID)
		}
		at[img.ID] = append(at[img.ID], i)
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT image_id, key, value FROM image_meta WHERE image_id IN (`+
		placeholders(len(args))+`)`), args...)
	if err != nil {
		return DBError("read image meta", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return DBError("read image meta", err)
		}
		for _, i := range at[id] {
			if images[i].Meta == nil {
				images[i].Meta = map[string]string{}
			}
			images[i].Meta[k] = v
		}
	}
	return DBError("read image meta", rows.Err())
}

// withMeta returns img with its metadata.
func (s *Service) withMeta(ctx context.Context, img Image) (Image, error) {
	one := []Image{img}
	if err := s.fillMeta(ctx, one); err != nil {
		return Image{}, err
	}
	return one[0], nil
}

// placeholders returns n comma-separated '?'.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// qualityColumns are the values of the images columns that mirror a quality report for
// selections (sharpness, jpeg_quality, plain_background, has_alpha); all NULL without a
// report, jpeg_quality NULL when the report has none.
func qualityColumns(q *QualityReport) [4]any {
	if q == nil {
		return [4]any{}
	}
	var jq any
	if q.JPEGQuality > 0 {
		jq = q.JPEGQuality
	}
	return [4]any{q.Sharpness, jq, boolInt(q.PlainBackground), boolInt(q.HasAlpha)}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
