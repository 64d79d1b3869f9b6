package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
)

// Deliver serves a named recipe's first output for an image, as a storefront URL asks for
// it: in the format ext ("auto" picks from the accepted formats) and, when width > 0, fitted
// to that width. The first request renders and stores; later ones stream the stored rendition.
func (s *Service) Deliver(ctx context.Context, imageID, recipeName, ext string, accept []imaging.Format, width int) (io.ReadCloser, ObjectMeta, error) {
	sr, err := s.GetRecipe(ctx, recipeName)
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	derived, err := deliveryRecipe(sr.Recipe, ext, width)
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	rends, err := s.Render(ctx, imageID, RecipeRef{Inline: derived}, accept)
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	return s.OpenRendition(ctx, rends[0].ID)
}

// deliveryRecipe keeps a recipe's steps and its first output, with the output's format
// set to ext and, for width > 0, its resize replaced by a fit inside that width, without
// enlargement. It goes back through ParseRecipe so defaults and limits apply as to any
// recipe.
func deliveryRecipe(canonical []byte, ext string, width int) ([]byte, error) {
	switch ext {
	case "jpeg", "jpg", "png", "webp", "avif", "auto":
	default:
		return nil, fmt.Errorf("extension %q: want jpeg, jpg, png, webp, avif or auto: %w", ext, ErrInvalid)
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal(canonical, &r); err != nil {
		return nil, err
	}
	var outs []map[string]json.RawMessage
	if err := json.Unmarshal(r["outputs"], &outs); err != nil || len(outs) == 0 {
		return nil, fmt.Errorf("recipe has no outputs: %w", ErrInvalid)
	}
	out := outs[0]
	out["format"], _ = json.Marshal(ext)
	if ext != "webp" && ext != "png" && ext != "avif" {
		delete(out, "lossless")
	}
	if width > 0 {
		// A width names a srcset candidate: never wider than what the recipe makes
		// (an enlarged copy has no more detail, only more bytes; a sliver's would be
		// over the size limits).
		out["resize"], _ = json.Marshal(map[string]any{"width": width, "fit": "inside", "without_enlargement": true})
	}
	r["outputs"], _ = json.Marshal([]map[string]json.RawMessage{out})
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.ParseRecipe(b); err != nil {
		return nil, err
	}
	return b, nil
}

// PurgeRenditions removes every rendition made from an image's original (objects and
// records), for takedowns and changed originals. It returns how many it removed.
func (s *Service) PurgeRenditions(ctx context.Context, imageID string) (int, error) {
	img, err := s.getImage(ctx, imageID)
	if err != nil {
		return 0, err
	}
	rows, err := s.db.SQL.QueryContext(ctx, s.db.Rebind(`SELECT `+renditionColumns+` FROM renditions WHERE source_sha256 = ?`), img.SHA256)
	if err != nil {
		return 0, DBError("list renditions", err)
	}
	var all []Rendition
	for rows.Next() {
		rd, err := scanRendition(rows)
		if err != nil {
			rows.Close()
			return 0, DBError("scan rendition", err)
		}
		all = append(all, rd)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, DBError("list renditions", err)
	}
	n := 0
	for _, rd := range all {
		// The object goes first: a failure leaves the record, so a retry finds it again.
		if err := s.store.Delete(ctx, s.cfg.BucketRenditions, rd.key()); err != nil {
			return n, fmt.Errorf("delete rendition %s: %w", rd.ID, err)
		}
		if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM renditions WHERE id = ?`), rd.ID); err != nil {
			return n, DBError("delete rendition", err)
		}
		n++
	}
	return n, nil
}
