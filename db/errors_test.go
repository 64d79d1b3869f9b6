package db_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite" // driver "sqlite" for the second, timeout-less handle

	"github.com/pictor/pictor/db"
)

func TestIsUnavailableConstructed(t *testing.T) {
	t.Parallel()
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"no rows", sql.ErrNoRows, false},
		{"context canceled", fmt.Errorf("query: %w", context.Canceled), false},
		{"context deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{"bad conn", fmt.Errorf("exec: %w", driver.ErrBadConn), true},
		{"conn done", sql.ErrConnDone, true},
		{"net op error", fmt.Errorf("connect: %w", opErr), true},
		{"net dns error", &net.DNSError{Err: "no such host", Name: "db.internal"}, true},
		{"eof", fmt.Errorf("read: %w", io.EOF), true},
		{"unexpected eof", io.ErrUnexpectedEOF, true},
		{"conn refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"conn reset", syscall.ECONNRESET, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"pg connection failure 08006", &pgconn.PgError{Code: "08006"}, true},
		{"pg connection exception 08000", fmt.Errorf("q: %w", &pgconn.PgError{Code: "08000"}), true},
		{"pg admin shutdown 57P01", &pgconn.PgError{Code: "57P01"}, true},
		{"pg crash shutdown 57P02", &pgconn.PgError{Code: "57P02"}, true},
		{"pg cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true},
		{"pg too many connections 53300", &pgconn.PgError{Code: "53300"}, true},
		{"pg query canceled 57014", &pgconn.PgError{Code: "57014"}, false},
		{"pg unique violation 23505", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), false},
		{"pg syntax error 42601", &pgconn.PgError{Code: "42601"}, false},
		{"pg undefined table 42P01", &pgconn.PgError{Code: "42P01"}, false},
		{"pg disk full 53100", &pgconn.PgError{Code: "53100"}, false},
		{"joined with bad conn", errors.Join(errors.New("x"), driver.ErrBadConn), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := db.IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestIsUnavailableSQLite classifies errors the SQLite driver really returns;
// *sqlite.Error cannot be built outside its package.
func TestIsUnavailableSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := db.DefaultConfig()
	cfg.DataDir = t.TempDir()
	d := opener(cfg)(t)
	if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE u (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := d.SQL.ExecContext(ctx, `INSERT INTO u (k) VALUES ('a')`); err != nil {
		t.Fatalf("insert: %v", err)
	}

	// A second handle with no busy timeout, so a held write lock fails at once.
	raw, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, db.SQLiteFile))
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	t.Cleanup(func() { raw.Close() })

	tests := []struct {
		name string
		run  func(t *testing.T) error
		want bool
	}{
		{"unique violation", func(t *testing.T) error {
			_, err := d.SQL.ExecContext(ctx, `INSERT INTO u (k) VALUES ('a')`)
			return err
		}, false},
		{"syntax error", func(t *testing.T) error {
			_, err := d.SQL.ExecContext(ctx, `SELEC 1`)
			return err
		}, false},
		{"no such table", func(t *testing.T) error {
			_, err := d.SQL.ExecContext(ctx, `SELECT * FROM missing`)
			return err
		}, false},
		{"busy", func(t *testing.T) error {
			tx, err := d.SQL.BeginTx(ctx, nil) // _txlock=immediate: takes the write lock
			if err != nil {
				t.Fatalf("begin: %v", err)
			}
			defer tx.Rollback()
			_, err = raw.ExecContext(ctx, `INSERT INTO u (k) VALUES ('b')`)
			return err
		}, true},
		{"closed database", func(t *testing.T) error {
			closed := opener(db.Config{URL: "sqlite:" + filepath.Join(t.TempDir(), "c.db")})(t)
			if err := closed.SQL.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			_, err := closed.SQL.ExecContext(ctx, `SELECT 1`)
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if err == nil {
				t.Fatalf("got no error, want one")
			}
			if got := db.IsUnavailable(err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}
