package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pictor/pictor/pipeline"
)

// resolveRecipe loads a named recipe or parses an inline one, and holds its prompts to the
// prompt policy: every use of a recipe (ingest, render, delivery, batches, scenes) comes
// through here, so a named recipe stored before a term was blocked is refused at use.
func (s *Service) resolveRecipe(ctx context.Context, ref RecipeRef) (*pipeline.Recipe, error) {
	if len(ref.Inline) > 0 {
		r, err := pipeline.ParseRecipe(ref.Inline)
		if err != nil {
			return nil, err
		}
		if err := s.checkRecipe(r); err != nil {
			return nil, fmt.Errorf("recipe: %w", err)
		}
		return r, nil
	}
	sr, err := s.GetRecipe(ctx, ref.Name)
	if err != nil {
		return nil, err
	}
	r, err := pipeline.ParseRecipe(sr.Recipe)
	if err != nil {
		return nil, err
	}
	if err := s.checkRecipe(r); err != nil {
		return nil, fmt.Errorf("recipe %q: %w", ref.Name, err)
	}
	return r, nil
}

// PutRecipe stores a named recipe in canonical form; the bool reports whether it was created.
func (s *Service) PutRecipe(ctx context.Context, name string, body []byte) (StoredRecipe, bool, error) {
	if !pipeline.ValidRecipeName(name) {
		return StoredRecipe{}, false, fmt.Errorf("recipe name %q: use 1-64 of a-z 0-9 . _ - starting with a letter or digit: %w", name, ErrInvalid)
	}
	r, err := pipeline.ParseRecipe(body)
	if err != nil {
		return StoredRecipe{}, false, err
	}
	if err := s.checkRecipe(r); err != nil {
		return StoredRecipe{}, false, err
	}
	// One statement, so a concurrent DELETE cannot come between the write and the read
	// of what was written; the row is new when its created_at is this write's.
	now := s.now().UTC().UnixNano()
	sr, err := scanRecipe(s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO recipes (name, body, hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, hash = excluded.hash, updated_at = excluded.updated_at
		RETURNING name, body, hash, created_at, updated_at`),
		name, string(r.Canonical()), r.Hash(), now, now))
	if err != nil {
		return StoredRecipe{}, false, DBError("put recipe", err)
	}
	return sr, sr.CreatedAt.UnixNano() == now, nil
}

// GetRecipe returns a named recipe.
func (s *Service) GetRecipe(ctx context.Context, name string) (StoredRecipe, error) {
	row := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT name, body, hash, created_at, updated_at FROM recipes WHERE name = ?`), name)
	sr, err := scanRecipe(row)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredRecipe{}, fmt.Errorf("recipe %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return StoredRecipe{}, DBError("get recipe", err)
	}
	return sr, nil
}

// DeleteRecipe removes a named recipe; renditions made with it stay.
func (s *Service) DeleteRecipe(ctx context.Context, name string) error {
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM recipes WHERE name = ?`), name)
	if err != nil {
		return DBError("delete recipe", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("recipe %q: %w", name, ErrNotFound)
	}
	return nil
}

// ListRecipes lists named recipes by name.
func (s *Service) ListRecipes(ctx context.Context) ([]StoredRecipe, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT name, body, hash, created_at, updated_at FROM recipes ORDER BY name`)
	if err != nil {
		return nil, DBError("list recipes", err)
	}
	defer rows.Close()
	var out []StoredRecipe
	for rows.Next() {
		sr, err := scanRecipe(rows)
		if err != nil {
			return nil, DBError("scan recipe", err)
		}
		out = append(out, sr)
	}
	return out, DBError("list recipes", rows.Err())
}

func scanRecipe(r scanner) (StoredRecipe, error) {
	var (
		sr      StoredRecipe
		body    string
		cr, upd int64
	)
	if err := r.Scan(&sr.Name, &body, &sr.Hash, &cr, &upd); err != nil {
		return StoredRecipe{}, err
	}
	sr.Recipe = []byte(body)
	sr.CreatedAt, sr.UpdatedAt = time.Unix(0, cr).UTC(), time.Unix(0, upd).UTC()
	return sr, nil
}

// RecipeNeedsSD resolves a recipe and reports whether it needs a Stable Diffusion backend
// (so callers can run it as a job), with its canonical JSON. Without a configured
// backend such a recipe is refused here with ErrSDRequired.
func (s *Service) RecipeNeedsSD(ctx context.Context, ref RecipeRef) (bool, []byte, error) {
	r, err := s.resolveRecipe(ctx, ref)
	if err != nil {
		return false, nil, err
	}
	if r.NeedsSD() && !s.sd.Serves(r) {
		return true, nil, ErrSDRequired
	}
	return r.NeedsSD(), r.Canonical(), nil
}
