package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/storage"
)

// GetImage returns an image with its quality report and metadata, computing the report
// on first request when the ingest skipped it (ingests with a recipe do). An original
// that does not decode in full still answers, without a report and with QualityError
// saying why: its ingest decoded it shrunk, where libvips 8.14 lets damage in a JPEG's
// last rows pass, but the image and its renditions are stored.
func (s *Service) GetImage(ctx context.Context, id string) (Image, error) {
	img, err := s.AnalyzedImage(ctx, id, sdclient.Interactive)
	if !errors.Is(err, imaging.ErrCorrupt) {
		return img, err
	}
	img, lookErr := s.ImageByID(ctx, id)
	if lookErr != nil {
		return Image{}, lookErr
	}
	img.QualityError = err.Error()
	return img, nil
}

// AnalyzedImage is GetImage for work in lane: a missing report is made waiting there (a
// batch's behind interactive work, never answered ErrBusy).
func (s *Service) AnalyzedImage(ctx context.Context, id string, lane sdclient.Lane) (Image, error) {
	img, err := s.getImage(ctx, id)
	if err != nil {
		return img, err
	}
	if img.Quality == nil {
		data, err := s.readOriginal(ctx, img.SHA256)
		if err != nil {
			return Image{}, err
		}
		rep, err := s.analyze(ctx, lane, data)
		if err != nil {
			return Image{}, err
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return Image{}, err
		}
		qc := qualityColumns(&rep)
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`UPDATE images
			SET quality = ?, sharpness = ?, jpeg_quality = ?, plain_background = ?, has_alpha = ? WHERE id = ?`),
			string(b), qc[0], qc[1], qc[2], qc[3], id); err != nil {
			return Image{}, DBError("save quality report", err)
		}
		img.Quality = &rep
	}
	return s.withMeta(ctx, img)
}

// ImageByID returns an image as recorded, with its metadata, without computing a missing
// quality report.
func (s *Service) ImageByID(ctx context.Context, id string) (Image, error) {
	img, err := s.getImage(ctx, id)
	if err != nil {
		return img, err
	}
	return s.withMeta(ctx, img)
}

// ListImages pages the images a selection matches (q.Selection, and q.SKU when set) in
// ingest order, with their metadata; it returns the next cursor, "" at the end. Limit
// defaults to 50, at most 200. The cursor is (created_at, id), so paging a large
// selection costs the same on every page.
func (s *Service) ListImages(ctx context.Context, q ListImagesQuery) ([]Image, string, error) {
	switch {
	case q.Limit == 0:
		q.Limit = 50
	case q.Limit < 0 || q.Limit > 200:
		return nil, "", fmt.Errorf("limit must be 1..200: %w", ErrInvalid)
	}
	sel := q.Selection
	if q.SKU != "" {
		sel.SKUs = append(slices.Clone(sel.SKUs), q.SKU)
	}
	w, err := s.selectionWhere(ctx, sel)
	if err != nil {
		return nil, "", err
	}
	where, args := w.all()
	if q.Cursor != "" {
		at, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(i.created_at > ? OR (i.created_at = ? AND i.id > ?))")
		args = append(args, at, at, id)
	}
	out, err := s.queryImages(ctx, `SELECT `+imageColumnsOf("i")+` FROM images i`+whereClause(where)+
		` ORDER BY i.created_at, i.id LIMIT ?`, append(args, q.Limit+1))
	if err != nil {
		return nil, "", err
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
