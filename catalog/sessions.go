package catalog

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// RevokeSession records that the console session id is signed out until expires, the end
// of its token's life; revoking it again keeps the first record. Records past their expiry
// are removed on the way, so the table holds at most the sessions signed out in the last
// session lifetime. The record is in the shared database: every replica sees it.
func (s *Service) RevokeSession(ctx context.Context, id string, expires time.Time) error {
	if id == "" {
		return errors.New("revoke session: empty id")
	}
	now := s.now().UTC().Unix()
	if _, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`DELETE FROM revoked_sessions WHERE expires_at < ?`), now); err != nil {
		return DBError("prune revoked sessions", err)
	}
	_, err := s.db.SQL.ExecContext(ctx, s.db.Rebind(`INSERT INTO revoked_sessions (id, expires_at)
		VALUES (?, ?) ON CONFLICT (id) DO NOTHING`), id, expires.UTC().Unix())
	return DBError("revoke session", err)
}

// SessionRevoked reports whether the console session id was signed out (RevokeSession).
func (s *Service) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(`SELECT 1 FROM revoked_sessions WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, DBError("look up revoked session", err)
	}
	return true, nil
}
