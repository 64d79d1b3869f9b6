package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Migration is one step of a package's schema.
type Migration struct {
	// Version orders the migrations of one owner; positive and unique.
	Version int
	// Name describes the step; it is recorded, and must not change once applied.
	Name string
	// SQLite is the SQL run on SQLite; several statements are allowed.
	SQLite string
	// Postgres is the SQL run on PostgreSQL; "" means the same as SQLite.
	Postgres string
}

// MigrationError reports the migration that failed; its transaction was
// rolled back and the migrations after it were not tried.
type MigrationError struct {
	// Owner is the package whose migration failed.
	Owner string
	// Version is the failed migration's version.
	Version int
	// Name is the failed migration's name.
	Name string
	// Err is the cause.
	Err error
}

// Error names the owner, version and name of the failed migration, and the cause.
func (e *MigrationError) Error() string {
	return fmt.Sprintf("migrate %s version %d (%s): %v", e.Owner, e.Version, e.Name, e.Err)
}

// Unwrap returns the cause, so errors.Is and errors.As see the driver's error.
func (e *MigrationError) Unwrap() error { return e.Err }

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations across processes on PostgreSQL (any int64; this is "pictormg").
const migrationLockKey int64 = 0x706963746f726d67

// createSchemaMigrations creates the bookkeeping table, per dialect.
const (
	createSchemaMigrationsSQLite = `CREATE TABLE IF NOT EXISTS schema_migrations (
	owner      TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	PRIMARY KEY (owner, version)
)`
	createSchemaMigrationsPostgres = `CREATE TABLE IF NOT EXISTS schema_migrations (
	owner      TEXT        NOT NULL,
	version    INTEGER     NOT NULL,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (owner, version)
)`
)

// Migrate applies the migrations of owner that are not yet recorded in
// schema_migrations(owner, version, name, applied_at), in version order, each
// in its own transaction together with its record. Running it again is a
// no-op. On PostgreSQL every step holds a transaction-scoped advisory lock,
// so concurrent callers (replicas starting together) apply each step once; on
// SQLite the immediate transaction does the same. A step that fails is rolled
// back and reported as a *MigrationError. A recorded version whose name
// differs from ms is an error: migrations are never edited once shipped.
func (d *DB) Migrate(ctx context.Context, owner string, ms []Migration) error {
	if err := validateMigrations(owner, ms); err != nil {
		return err
	}
	sorted := slices.Clone(ms)
	slices.SortFunc(sorted, func(a, b Migration) int { return a.Version - b.Version })

	if err := d.inTx(ctx, func(tx *sql.Tx) error {
		q := createSchemaMigrationsSQLite
		if d.Dialect == Postgres {
			q = createSchemaMigrationsPostgres
		}
		_, err := tx.ExecContext(ctx, q)
		return err
	}); err != nil {
		return fmt.Errorf("migrate %s: create schema_migrations: %w", owner, err)
	}
	for _, m := range sorted {
		err := d.inTx(ctx, func(tx *sql.Tx) error {
			var name string
			err := tx.QueryRowContext(ctx,
				d.Rebind(`SELECT name FROM schema_migrations WHERE owner = ? AND version = ?`),
				owner, m.Version).Scan(&name)
			switch {
			case err == nil:
				if name != m.Name {
					return fmt.Errorf("recorded as %q, now named %q: migrations must not change once applied", name, m.Name)
				}
				return nil // applied already
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			q := m.SQLite
			if d.Dialect == Postgres && m.Postgres != "" {
				q = m.Postgres
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx,
				d.Rebind(`INSERT INTO schema_migrations (owner, version, name) VALUES (?, ?, ?)`),
				owner, m.Version, m.Name)
			return err
		})
		if err != nil {
			return &MigrationError{Owner: owner, Version: m.Version, Name: m.Name, Err: err}
		}
	}
	return nil
}

// inTx runs fn in a transaction, which on PostgreSQL first takes the
// migration advisory lock; it commits when fn returns nil.
func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if d.Dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("advisory lock: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// validateMigrations checks owner and ms before anything runs.
func validateMigrations(owner string, ms []Migration) error {
	if strings.TrimSpace(owner) == "" {
		return errors.New("migrate: owner is empty")
	}
	seen := make(map[int]bool, len(ms))
	for _, m := range ms {
		switch {
		case m.Version < 1:
			return fmt.Errorf("migrate %s: version %d must be positive", owner, m.Version)
		case seen[m.Version]:
			return fmt.Errorf("migrate %s: version %d appears twice", owner, m.Version)
		case strings.TrimSpace(m.Name) == "":
			return fmt.Errorf("migrate %s: version %d has no name", owner, m.Version)
		case strings.TrimSpace(m.SQLite) == "":
			return fmt.Errorf("migrate %s: version %d has no SQL", owner, m.Version)
		}
		seen[m.Version] = true
	}
	return nil
}
