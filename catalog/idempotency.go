package catalog

import (
	"context"
	"database/sql"
	"errors"
)

// LookupIdempotency returns the stored first answer for an Idempotency-Key.
func (s *Service) LookupIdempotency(ctx context.Context, key string) (IdempotentResponse, bool, error) {
	var r IdempotentResponse
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT request_hash, status, body FROM idempotency_keys WHERE key = ?`), key).
		Scan(&r.RequestHash, &r.Status, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return IdempotentResponse{}, false, nil
	}
	if err != nil {
		return IdempotentResponse{}, false, DBError("lookup idempotency key", err)
	}
	return r, true, nil
}

// SaveIdempotency stores the first answer for an Idempotency-Key; a later save of the
// same key keeps the first.
func (s *Service) SaveIdempotency(ctx context.Context, key string, r IdempotentResponse) error {
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO idempotency_keys (key, request_hash, status, body, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`), key, r.RequestHash, r.Status, r.Body, s.now().UTC().UnixNano())
	return DBError("save idempotency key", err)
}
