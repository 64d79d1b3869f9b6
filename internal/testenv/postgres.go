package testenv

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres returns the URL of the shared PostgreSQL test database
// (PICTOR_TEST_DATABASE_URL). It skips the test when the variable is empty, or
// fails it when PICTOR_TEST_REQUIRE_SERVICES=1. Tests that create tables
// should use FreshPostgres instead.
func Postgres(t testing.TB) string {
	t.Helper()
	return lookup(t, "PostgreSQL", EnvDatabaseURL)
}

// FreshPostgres creates a new, uniquely named, empty database on the server
// of Postgres(t) for this test, drops it when the test ends, and returns its
// URL. Skips or fails as Postgres does.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	base := Postgres(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	name := "t_" + sanitize(t.Name(), '_', 40) + "_" + randomHex(t, 6)
	ident := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to test postgres: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		// FORCE ends connections a test left open (PostgreSQL 13 and later).
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
