package db_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/internal/testenv"
)

// target is one database to run the shared tests against; open returns a
// new handle on the same database each time it is called.
type target struct {
	dialect db.Dialect
	open    func(t *testing.T) *db.DB
}

// targets returns a fresh, empty database per call for each dialect:
// SQLite in t.TempDir, PostgreSQL via testenv.FreshPostgres.
func targets() map[string]func(t *testing.T) target {
	return map[string]func(t *testing.T) target{
		"sqlite": func(t *testing.T) target {
			cfg := db.DefaultConfig()
			cfg.DataDir = t.TempDir()
			return target{db.SQLite, opener(cfg)}
		},
		"postgres": func(t *testing.T) target {
			cfg := db.DefaultConfig()
			cfg.URL = testenv.FreshPostgres(t)
			return target{db.Postgres, opener(cfg)}
		},
	}
}

func opener(cfg db.Config) func(t *testing.T) *db.DB {
	return func(t *testing.T) *db.DB {
		t.Helper()
		d, err := db.Open(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return d
	}
}

func count(t *testing.T, d *db.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.SQL.QueryRowContext(context.Background(), d.Rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// tableExists asks the catalog of either dialect.
func tableExists(t *testing.T, d *db.DB, name string) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d.Dialect == db.Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	return count(t, d, q, name) == 1
}

var baseMigrations = []db.Migration{
	{Version: 1, Name: "items", SQLite: `
		CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL UNIQUE);
		CREATE INDEX items_sku ON items (sku);`,
		Postgres: `
		CREATE TABLE items (id BIGSERIAL PRIMARY KEY, sku TEXT NOT NULL UNIQUE);
		CREATE INDEX items_sku ON items (sku);`},
	{Version: 2, Name: "tags", SQLite: `
		CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items (id), tag TEXT NOT NULL, PRIMARY KEY (item_id, tag));
		-- a comment with a ? in it; and a second statement
		INSERT INTO items (sku) VALUES ('seeded');`},
}

func TestMigrateAndUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, tg target)
	}{
		{"migrate twice is a no-op", func(t *testing.T, tg target) {
			d := tg.open(t)
			for i := range 2 {
				if err := d.Migrate(ctx, "catalog", baseMigrations); err != nil {
					t.Fatalf("Migrate #%d: %v", i+1, err)
				}
			}
			if got := count(t, d, `SELECT count(*) FROM schema_migrations WHERE owner = ?`, "catalog"); got != 2 {
				t.Errorf("schema_migrations rows: got %d, want 2", got)
			}
			// The seed insert of version 2 ran exactly once.
			if got := count(t, d, `SELECT count(*) FROM items WHERE sku = ?`, "seeded"); got != 1 {
				t.Errorf("seeded rows: got %d, want 1", got)
			}
			// A second handle (a restarted process) sees it applied too.
			if err := tg.open(t).Migrate(ctx, "catalog", baseMigrations); err != nil {
				t.Errorf("Migrate from a new handle: %v", err)
			}
			if got := count(t, d, `SELECT count(*) FROM items`); got != 1 {
				t.Errorf("items after re-migrate: got %d, want 1", got)
			}
		}},
		{"new migrations are applied in version order", func(t *testing.T, tg target) {
			d := tg.open(t)
			if err := d.Migrate(ctx, "catalog", baseMigrations[:1]); err != nil {
				t.Fatalf("Migrate v1: %v", err)
			}
			if tableExists(t, d, "tags") {
				t.Fatalf("tags exists after v1 only: got true, want false")
			}
			// Given out of order; version 2 needs version 1's table.
			more := []db.Migration{
				{Version: 3, Name: "tag index", SQLite: `CREATE INDEX tags_tag ON tags (tag)`},
				baseMigrations[1], baseMigrations[0],
			}
			if err := d.Migrate(ctx, "catalog", more); err != nil {
				t.Fatalf("Migrate v1..v3: %v", err)
			}
			rows, err := d.SQL.QueryContext(ctx, d.Rebind(`SELECT version, name FROM schema_migrations WHERE owner = ? ORDER BY version`), "catalog")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var v int
				var n string
				if err := rows.Scan(&v, &n); err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
			}
			if strings.Join(got, ",") != "items,tags,tag index" {
				t.Errorf("applied: got %v, want [items tags tag index]", got)
			}
		}},
		{"owners are separate", func(t *testing.T, tg target) {
			d := tg.open(t)
			if err := d.Migrate(ctx, "catalog", baseMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			jobs := []db.Migration{{Version: 1, Name: "batches", SQLite: `CREATE TABLE batches (id TEXT PRIMARY KEY)`}}
			if err := d.Migrate(ctx, "jobs", jobs); err != nil {
				t.Fatalf("Migrate jobs v1: %v", err)
			}
			if !tableExists(t, d, "batches") {
				t.Errorf("batches table: got missing, want created")
			}
		}},
		{"failing migration rolls back and reports its version", func(t *testing.T, tg target) {
			d := tg.open(t)
			broken := []db.Migration{
				baseMigrations[0],
				{Version: 2, Name: "half done", SQLite: `
					CREATE TABLE half (x INTEGER);
					INSERT INTO items (sku) VALUES ('from-broken');
					INSERT INTO no_such_table VALUES (1);`},
				{Version: 3, Name: "never", SQLite: `CREATE TABLE never (x INTEGER)`},
			}
			err := d.Migrate(ctx, "catalog", broken)
			var me *db.MigrationError
			if !errors.As(err, &me) {
				t.Fatalf("Migrate: got %v, want a *MigrationError", err)
			}
			if me.Version != 2 || me.Owner != "catalog" || me.Name != "half done" {
				t.Errorf("MigrationError: got owner %q version %d name %q, want catalog 2 %q", me.Owner, me.Version, me.Name, "half done")
			}
			if !strings.Contains(err.Error(), "version 2") {
				t.Errorf("error text: got %q, want it to name version 2", err)
			}
			if tableExists(t, d, "half") || tableExists(t, d, "never") {
				t.Errorf("tables of failed/later migrations: got present, want rolled back / not run")
			}
			if got := count(t, d, `SELECT count(*) FROM items`); got != 0 {
				t.Errorf("items rows after rollback: got %d, want 0", got)
			}
			if got := count(t, d, `SELECT count(*) FROM schema_migrations`); got != 1 {
				t.Errorf("schema_migrations rows: got %d, want 1", got)
			}
			// Fixed, it applies from where it stopped.
			broken[1].SQLite = `CREATE TABLE half (x INTEGER)`
			if err := d.Migrate(ctx, "catalog", broken); err != nil {
				t.Fatalf("Migrate fixed: %v", err)
			}
			if !tableExists(t, d, "half") || !tableExists(t, d, "never") {
				t.Errorf("after fix: got half=%v never=%v, want both", tableExists(t, d, "half"), tableExists(t, d, "never"))
			}
		}},
		{"renamed migration is refused", func(t *testing.T, tg target) {
			d := tg.open(t)
			if err := d.Migrate(ctx, "catalog", baseMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			renamed := []db.Migration{baseMigrations[0]}
			renamed[0].Name = "products"
			var me *db.MigrationError
			if err := d.Migrate(ctx, "catalog", renamed); !errors.As(err, &me) || me.Version != 1 {
				t.Errorf("Migrate renamed: got %v, want a *MigrationError for version 1", err)
			}
		}},
		{"rebind runs with arguments", func(t *testing.T, tg target) {
			d := tg.open(t)
			if err := d.Migrate(ctx, "catalog", baseMigrations); err != nil {
				t.Fatal(err)
			}
			q := d.Rebind(`SELECT count(*) FROM items WHERE sku = ? OR sku = '?' OR sku = ?`)
			var n int
			if err := d.SQL.QueryRowContext(ctx, q, "seeded", "other").Scan(&n); err != nil {
				t.Fatalf("query %s: %v", q, err)
			}
			if n != 1 {
				t.Errorf("count: got %d, want 1", n)
			}
		}},
		{"not found maps from no rows", func(t *testing.T, tg target) {
			d := tg.open(t)
			if err := d.Migrate(ctx, "catalog", baseMigrations[:1]); err != nil {
				t.Fatal(err)
			}
			var id int64
			err := d.SQL.QueryRowContext(ctx, `SELECT id FROM items WHERE sku = 'none'`).Scan(&id)
			if !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("Scan: got %v, want sql.ErrNoRows", err)
			}
		}},
		{"concurrent migrate applies once", func(t *testing.T, tg target) {
			const n = 4
			handles := make([]*db.DB, n)
			for i := range handles {
				handles[i] = tg.open(t)
			}
			slow := `CREATE TABLE once (x INTEGER); INSERT INTO once VALUES (1);`
			slowPG := `CREATE TABLE once (x INTEGER); SELECT pg_sleep(0.2); INSERT INTO once VALUES (1);`
			ms := []db.Migration{{Version: 1, Name: "once", SQLite: slow, Postgres: slowPG}}
			var wg sync.WaitGroup
			errs := make([]error, n)
			start := make(chan struct{})
			for i, h := range handles {
				wg.Go(func() {
					<-start
					errs[i] = h.Migrate(ctx, "catalog", ms)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Migrate #%d: %v", i, err)
				}
			}
			if got := count(t, handles[0], `SELECT count(*) FROM once`); got != 1 {
				t.Errorf("rows in once: got %d, want 1", got)
			}
		}},
	}
	for kind, newTarget := range targets() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tg := newTarget(t)
					tt.run(t, tg)
				})
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := db.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "nested", "data")
	d, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	if d.Dialect != db.SQLite || d.Pool != nil {
		t.Errorf("Open: got dialect %v pool %v, want sqlite and nil", d.Dialect, d.Pool)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, db.SQLiteFile)); err != nil {
		t.Errorf("database file: %v", err)
	}
	pragmas := []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
	}
	for _, p := range pragmas {
		var got string
		if err := d.SQL.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.pragma, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s: got %s, want %s", p.pragma, got, p.want)
		}
	}
	if got := d.SQL.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("MaxOpenConnections: got %d, want 1", got)
	}

	// The sqlite: URL form opens the given file.
	path := filepath.Join(dir, "other.db")
	d2, err := db.Open(ctx, db.Config{URL: "sqlite:" + path})
	if err != nil {
		t.Fatalf("Open sqlite URL: %v", err)
	}
	defer d2.Close()
	if _, err := d2.SQL.ExecContext(ctx, `CREATE TABLE x (y INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("sqlite URL file: %v", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := db.DefaultConfig()
	cfg.URL = testenv.FreshPostgres(t)
	cfg.MaxOpenConns = 3
	d, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	if d.Dialect != db.Postgres || d.Pool == nil {
		t.Fatalf("Open: got dialect %v pool %v, want postgres and a pool", d.Dialect, d.Pool)
	}
	if got := d.Pool.Config().MaxConns; got != 3 {
		t.Errorf("pool MaxConns: got %d, want 3", got)
	}
	// SQL and Pool reach the same database.
	if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE shared (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO shared VALUES (1)`); err != nil {
		t.Errorf("insert through Pool: %v", err)
	}

	// postgresql:// is accepted too; a closed port fails at Open.
	bad := db.DefaultConfig()
	bad.URL = "postgresql://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	if _, err := db.Open(ctx, bad); err == nil {
		t.Errorf("Open on a closed port: got nil error, want one")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     db.Config
		wantErr bool
	}{
		{"default", db.DefaultConfig(), false},
		{"postgres", db.Config{URL: "postgres://u@h/db", MaxOpenConns: 5}, false},
		{"postgresql", db.Config{URL: "postgresql://u@h/db", MaxOpenConns: 5}, false},
		{"sqlite url", db.Config{URL: "sqlite:/tmp/x.db"}, false},
		{"sqlite ignores max conns", db.Config{DataDir: "d"}, false},
		{"no data dir", db.Config{}, true},
		{"mysql", db.Config{URL: "mysql://u@h/db", MaxOpenConns: 5}, true},
		{"bare path", db.Config{URL: "/tmp/x.db"}, true},
		{"sqlite empty path", db.Config{URL: "sqlite:"}, true},
		{"sqlite path with ?", db.Config{URL: "sqlite:/tmp/x.db?mode=ro"}, true},
		{"postgres without conns", db.Config{URL: "postgres://u@h/db"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate: got %v, want error %v", err, tt.wantErr)
			}
		})
	}
	if got := db.DefaultConfig(); got.DataDir != "./data" || got.MaxOpenConns != 10 || got.URL != "" {
		t.Errorf("DefaultConfig: got %+v, want DataDir ./data, MaxOpenConns 10, URL empty", got)
	}
}

func TestMigrateValidates(t *testing.T) {
	t.Parallel()
	cfg := db.DefaultConfig()
	cfg.DataDir = t.TempDir()
	d := opener(cfg)(t)
	tests := []struct {
		name  string
		owner string
		ms    []db.Migration
	}{
		{"empty owner", "", baseMigrations},
		{"zero version", "o", []db.Migration{{Version: 0, Name: "x", SQLite: "SELECT 1"}}},
		{"duplicate version", "o", []db.Migration{{Version: 1, Name: "a", SQLite: "SELECT 1"}, {Version: 1, Name: "b", SQLite: "SELECT 1"}}},
		{"no name", "o", []db.Migration{{Version: 1, SQLite: "SELECT 1"}}},
		{"no sql", "o", []db.Migration{{Version: 1, Name: "a", Postgres: "SELECT 1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.Migrate(context.Background(), tt.owner, tt.ms); err == nil {
				t.Errorf("Migrate: got nil error, want one")
			}
		})
	}
	if tableExists(t, d, "items") {
		t.Errorf("items: got created by a refused Migrate, want nothing run")
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	pg := &db.DB{Dialect: db.Postgres}
	lite := &db.DB{Dialect: db.SQLite}
	tests := []struct {
		name, in, want string
	}{
		{"none", `SELECT 1`, `SELECT 1`},
		{"simple", `SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{"adjacent", `VALUES (?,?,?)`, `VALUES ($1,$2,$3)`},
		{"single quotes", `SELECT '?' , ?`, `SELECT '?' , $1`},
		{"escaped quote", `SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{"double quotes", `SELECT "we?ird" FROM t WHERE x = ?`, `SELECT "we?ird" FROM t WHERE x = $1`},
		{"line comment", "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"line comment at end", "SELECT ? -- why?", "SELECT $1 -- why?"},
		{"block comment", `SELECT /* ? */ ?`, `SELECT /* ? */ $1`},
		{"dollar quoted", `SELECT $$a?b$$, ?, $tag$?$tag$, ?`, `SELECT $$a?b$$, $1, $tag$?$tag$, $2`},
		{"dollar in identifier", `SELECT a$b, ?`, `SELECT a$b, $1`},
		{"unterminated quote", `SELECT ?, 'open ?`, `SELECT $1, 'open ?`},
		{"ten and more", `(?,?,?,?,?,?,?,?,?,?,?)`, `($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pg.Rebind(tt.in); got != tt.want {
				t.Errorf("postgres Rebind(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if got := lite.Rebind(tt.in); got != tt.in {
				t.Errorf("sqlite Rebind(%q): got %q, want it unchanged", tt.in, got)
			}
		})
	}
}

func TestDialectString(t *testing.T) {
	t.Parallel()
	if db.SQLite.String() != "sqlite" || db.Postgres.String() != "postgres" {
		t.Errorf("String: got %s %s, want sqlite postgres", db.SQLite, db.Postgres)
	}
	if !errors.Is(db.ErrNotFound, db.ErrNotFound) || db.ErrNotFound.Error() != "db: not found" {
		t.Errorf("ErrNotFound: got %q, want %q", db.ErrNotFound, "db: not found")
	}
}
