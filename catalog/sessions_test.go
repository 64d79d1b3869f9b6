package catalog_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/storage"
)

// TestRevokedSessions: a session signed out through one replica is signed out on another
// that shares the database (two connections to it, as two processes have), revoking is
// idempotent, and records past their expiry are pruned.
func TestRevokedSessions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// open opens the same database twice.
		open func(t *testing.T) (*db.DB, *db.DB)
	}{
		{"sqlite", func(t *testing.T) (*db.DB, *db.DB) {
			dir := t.TempDir()
			return openDB(t, db.Config{DataDir: dir}), openDB(t, db.Config{DataDir: dir})
		}},
		{"postgres", func(t *testing.T) (*db.DB, *db.DB) {
			dc := db.DefaultConfig()
			dc.URL = testenv.FreshPostgres(t)
			return openDB(t, dc), openDB(t, dc)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d1, d2 := tc.open(t)
			st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(t.TempDir(), "objects")})
			if err != nil {
				t.Fatal(err)
			}
			one, two := setupWith(t, d1, st).svc, setupWith(t, d2, st).svc
			revoked := func(svc *catalog.Service, id string) bool {
				t.Helper()
				ok, err := svc.SessionRevoked(ctx, id)
				if err != nil {
					t.Fatalf("SessionRevoked(%s): %v", id, err)
				}
				return ok
			}
			later := time.Now().Add(time.Hour)
			if revoked(one, "sess-a") || revoked(two, "sess-a") {
				t.Fatal("a session never signed out: got revoked, want not")
			}
			if err := one.RevokeSession(ctx, "sess-a", later); err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
			if !revoked(two, "sess-a") || !revoked(one, "sess-a") {
				t.Error("signed out on one replica: got not revoked, want revoked on both")
			}
			if revoked(two, "sess-b") {
				t.Error("another session: got revoked, want not")
			}
			// Again, from the other replica: no error, still revoked.
			if err := two.RevokeSession(ctx, "sess-a", later.Add(time.Hour)); err != nil {
				t.Errorf("RevokeSession again: got %v, want nil", err)
			}
			if !revoked(one, "sess-a") {
				t.Error("revoked twice: got not revoked, want revoked")
			}
			// A record whose token has expired anyway is removed by the next revocation.
			if err := one.RevokeSession(ctx, "sess-old", time.Now().Add(-time.Minute)); err != nil {
				t.Fatalf("RevokeSession of an expired session: %v", err)
			}
			if err := two.RevokeSession(ctx, "sess-c", later); err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
			if revoked(one, "sess-old") {
				t.Error("a record past its expiry: got kept, want pruned")
			}
			if !revoked(one, "sess-a") || !revoked(one, "sess-c") {
				t.Error("records not yet expired: got pruned, want kept")
			}
			if err := one.RevokeSession(ctx, "", later); err == nil {
				t.Error("RevokeSession with an empty id: got nil, want an error")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := one.SessionRevoked(cctx, "sess-a"); err == nil {
				t.Error("SessionRevoked with a cancelled context: got nil, want an error")
			}
		})
	}
}

func openDB(t *testing.T, c db.Config) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
