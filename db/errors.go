package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// errDBClosedText is the text of database/sql's unexported error for a use
// of a closed *sql.DB.
const errDBClosedText = "sql: database is closed"

// IsUnavailable reports whether err is a connection-class failure: the
// database cannot be reached or cannot take the statement right now, so a
// retry later may succeed. It is true for driver.ErrBadConn, sql.ErrConnDone
// and a closed *sql.DB, network errors (net.Error, *net.OpError), io.EOF and
// io.ErrUnexpectedEOF, ECONNREFUSED/ECONNRESET/EPIPE, PostgreSQL SQLSTATE
// class 08, 57P01-57P03 and 53300, and SQLite SQLITE_BUSY/SQLITE_LOCKED
// (with their extended codes). It is false for nil, for context
// cancellation and deadlines (callers keep those as they are), and for every
// other error, such as constraint violations and syntax errors.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // context.DeadlineExceeded is a net.Error too: test it first
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgUnavailable(pgErr.Code)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff { // primary result code of an extended one
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return isDBClosed(err)
}

// pgUnavailable reports whether a PostgreSQL SQLSTATE is connection-class.
func pgUnavailable(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection exception
		return true
	case code == "57P01", code == "57P02", code == "57P03": // admin shutdown, crash shutdown, cannot connect now
		return true
	case code == "53300": // too many connections
		return true
	}
	return false
}

// isDBClosed reports whether err, or an error it wraps, is database/sql's
// unexported "database is closed" error, which has no sentinel to match.
func isDBClosed(err error) bool {
	for _, e := range unwrapAll(err) {
		if e.Error() == errDBClosedText {
			return true
		}
	}
	return false
}

// unwrapAll lists err and every error in its tree.
func unwrapAll(err error) []error {
	out := []error{err}
	for i := 0; i < len(out); i++ {
		switch u := out[i].(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				out = append(out, next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				if next != nil {
					out = append(out, next)
				}
			}
		}
	}
	return out
}
