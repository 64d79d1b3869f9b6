// Package db opens Pictor's SQL database, either an embedded SQLite file
// (the default) or PostgreSQL, and runs the migrations each package owns.
//
// Callers write SQL with `?` placeholders and pass it through Rebind; the
// few statements that differ between the two dialects switch on DB.Dialect.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// ErrNotFound is a convenience for callers that map sql.ErrNoRows to a
// "not found" of their own.
var ErrNotFound = errors.New("db: not found")

// Dialect says which database a DB talks to.
type Dialect int

const (
	// SQLite is the embedded database (modernc.org/sqlite, driver "sqlite").
	SQLite Dialect = iota
	// Postgres is PostgreSQL (pgx, driver "pgx").
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// SQLiteFile is the file name of the embedded database inside Config.DataDir.
const SQLiteFile = "pictor.db"

// Config says which database to open.
type Config struct {
	// URL selects the database. "" (the default) opens the SQLite file
	// DataDir/pictor.db; "sqlite:PATH" opens the SQLite file PATH;
	// "postgres://…" or "postgresql://…" opens PostgreSQL.
	URL string
	// DataDir holds the SQLite file when URL is "". Default "./data".
	DataDir string
	// MaxOpenConns caps open PostgreSQL connections, shared by SQL and Pool.
	// SQLite always uses exactly one connection. Default 10.
	MaxOpenConns int
}

// DefaultConfig returns the defaults: SQLite in ./data, 10 PostgreSQL connections.
func DefaultConfig() Config {
	return Config{DataDir: "./data", MaxOpenConns: 10}
}

// Validate reports whether the configuration can be used.
func (c Config) Validate() error {
	var errs []error
	d, target, err := c.target()
	if err != nil {
		errs = append(errs, err)
	}
	if err == nil && d == SQLite && strings.ContainsAny(target, "?#") {
		errs = append(errs, fmt.Errorf("db: sqlite path %q must not contain '?' or '#'", target))
	}
	if err == nil && d == Postgres && c.MaxOpenConns < 1 {
		errs = append(errs, fmt.Errorf("db: max open conns %d must be at least 1", c.MaxOpenConns))
	}
	return errors.Join(errs...)
}

// target returns the dialect and the SQLite path or PostgreSQL URL.
func (c Config) target() (Dialect, string, error) {
	u := strings.TrimSpace(c.URL)
	switch {
	case u == "":
		if strings.TrimSpace(c.DataDir) == "" {
			return SQLite, "", errors.New("db: data dir is empty")
		}
		return SQLite, filepath.Join(c.DataDir, SQLiteFile), nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			return Postgres, "", fmt.Errorf("db: url: %w", err)
		}
		return Postgres, u, nil
	case strings.HasPrefix(u, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
		if p == "" {
			return SQLite, "", errors.New("db: sqlite url has no path")
		}
		return SQLite, p, nil
	}
	scheme, _, _ := strings.Cut(u, ":")
	return SQLite, "", fmt.Errorf("db: url scheme %q: want postgres://, postgresql:// or sqlite:", scheme)
}

// DB is an open database.
type DB struct {
	// SQL is the database/sql handle; use it for queries (through Rebind).
	SQL *sql.DB
	// Dialect says whether SQL is SQLite or PostgreSQL.
	Dialect Dialect
	// Pool is the pgx pool under SQL on PostgreSQL, for River's riverpgxv5
	// driver; nil on SQLite.
	Pool *pgxpool.Pool
}

// sqlitePragmas are set on every SQLite connection: WAL so that readers do
// not block the writer, a busy timeout instead of SQLITE_BUSY errors,
// foreign keys on, and BEGIN IMMEDIATE so a transaction takes the write lock
// when it starts rather than failing to upgrade later.
const sqlitePragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
	"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// Open validates cfg, opens the database and checks that it answers.
// SQLite's directory is created if needed.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, target, _ := cfg.target()
	if d == Postgres {
		return openPostgres(ctx, target, cfg.MaxOpenConns)
	}
	return openSQLite(ctx, target)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("db: create dir for %s: %w", path, err)
	}
	conn, err := sqlite.NewConnector(path + "?" + sqlitePragmas)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	sqldb := sql.OpenDB(sqliteConnector{conn})
	// One connection: SQLite has one writer anyway, and River on SQLite
	// is known to work this way (see docs/DESIGN.md).
	sqldb.SetMaxOpenConns(1)
	sqldb.SetMaxIdleConns(1)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	return &DB{SQL: sqldb, Dialect: SQLite}, nil
}

func openPostgres(ctx context.Context, rawURL string, maxConns int) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("db: postgres url: %w", err)
	}
	pcfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: open postgres %s: %w", redact(pcfg), err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	sqldb.SetMaxOpenConns(maxConns)
	return &DB{SQL: sqldb, Dialect: Postgres, Pool: pool}, nil
}

// redact names a PostgreSQL target without its password.
func redact(c *pgxpool.Config) string {
	cc := c.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
}

// Close closes SQL and, on PostgreSQL, the pool under it.
func (d *DB) Close() error {
	err := d.SQL.Close()
	if d.Pool != nil {
		d.Pool.Close()
	}
	return err
}

// Rebind rewrites `?` placeholders as `$1`, `$2`, … on PostgreSQL and
// returns q unchanged on SQLite. Question marks inside '…' strings, "…"
// identifiers, $tag$…$tag$ bodies and -- or /* */ comments are kept. Do not
// use PostgreSQL's jsonb `?` operators in queries passed to Rebind; use
// jsonb_exists() instead.
func (d *DB) Rebind(q string) string {
	if d.Dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			i++
		case c == '\'' || c == '"':
			// Copy to the closing quote; a doubled quote is an escaped one
			// and simply reopens the literal on the next iteration.
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				b.WriteString(q[i:])
				i = len(q)
				break
			}
			b.WriteString(q[i : i+end+2])
			i += end + 2
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				b.WriteString(q[i:])
				i = len(q)
				break
			}
			b.WriteString(q[i : i+end+4])
			i += end + 4
		case c == '$':
			tag := dollarTag(q[i:])
			if tag == "" {
				b.WriteByte(c)
				i++
				break
			}
			end := strings.Index(q[i+len(tag):], tag)
			if end < 0 {
				b.WriteString(q[i:])
				i = len(q)
				break
			}
			stop := i + len(tag) + end + len(tag)
			b.WriteString(q[i:stop])
			i = stop
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s ("$$" or "$name$"), or "" when s does not start one ($1 is not).
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1]
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (j > 1 && c >= '0' && c <= '9'):
		default:
			return ""
		}
	}
	return ""
}
