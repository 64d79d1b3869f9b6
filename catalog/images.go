package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/storage"
)

// GetImage returns an image with its quality report, computing the report on first
// request when the ingest skipped it (ingests with a recipe do).
func (s *Service) GetImage(ctx context.Context, id string) (Image, error) {
	img, err := s.getImage(ctx, id)
	if err != nil || img.Quality != nil {
		return img, err
	}
	data, err := s.readOriginal(ctx, img.SHA256)
	if err != nil {
		return Image{}, err
	}
	rep, err := s.analyze(ctx, data)
	if err != nil {
		return Image{}, err
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return Image{}, err
	}
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE images SET quality = ? WHERE id = ?`), string(b), id); err != nil {
		return Image{}, dbErr("save quality report", err)
	}
	img.Quality = &rep
	return img, nil
}

// ImageByID returns an image as recorded, without computing a missing quality report.
func (s *Service) ImageByID(ctx context.Context, id string) (Image, error) {
	return s.getImage(ctx, id)
}

// ListImages pages images in creation order, optionally by SKU; it returns the next
// cursor, "" at the end. Limit defaults to 50, at most 200.
func (s *Service) ListImages(ctx context.Context, q ListImagesQuery) ([]Image, string, error) {
	switch {
	case q.Limit == 0:
		q.Limit = 50
	case q.Limit < 0 || q.Limit > 200:
		return nil, "", fmt.Errorf("limit must be 1..200: %w", ErrInvalid)
	}
	var (
		where []string
		args  []any
	)
	if q.SKU != "" {
		where = append(where, "sku = ?")
		args = append(args, q.SKU)
	}
	if q.Cursor != "" {
		at, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_at > ? OR (created_at = ? AND id > ?))")
		args = append(args, at, at, id)
	}
	query := `SELECT ` + imageColumns + ` FROM images`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at, id LIMIT ?"
	args = append(args, q.Limit+1)
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(query), args...)
	if err != nil {
		return nil, "", dbErr("list images", err)
	}
	defer rows.Close()
	out := []Image{}
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			return nil, "", dbErr("scan image", err)
		}
		out = append(out, img)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("list images", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		next = encodeCursor(last.CreatedAt.UnixNano(), last.ID)
	}
	return out, next, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if at, id, ok := strings.Cut(string(b), ":"); ok {
			if n, err := strconv.ParseInt(at, 10, 64); err == nil {
				return n, id, nil
			}
		}
	}
	return 0, "", fmt.Errorf("bad cursor: %w", ErrInvalid)
}

// OpenOriginal streams an image's original bytes.
func (s *Service) OpenOriginal(ctx context.Context, id string) (io.ReadCloser, ObjectMeta, error) {
	img, err := s.getImage(ctx, id)
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	rc, info, err := s.store.Get(ctx, s.cfg.BucketOriginals, originalKey(img.SHA256))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ObjectMeta{}, fmt.Errorf("original of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, ObjectMeta{}, fmt.Errorf("read original of %s: %w", id, err)
	}
	f, _ := imaging.ParseFormat(img.Format)
	return rc, ObjectMeta{ContentType: f.ContentType(), Size: info.Size, ETag: `"` + img.SHA256 + `"`, Modified: img.CreatedAt}, nil
}
