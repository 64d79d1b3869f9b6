package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

func openTestSQLite(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.SQL.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return d
}

// cached returns the statements the one SQLite connection keeps.
func cached(t *testing.T, d *DB) []string {
	t.Helper()
	conn, err := d.SQL.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []string
	err = conn.Raw(func(dc any) error {
		cc, ok := dc.(*cachingConn)
		if !ok {
			return fmt.Errorf("connection is %T, not *cachingConn", dc)
		}
		cc.mu.Lock()
		defer cc.mu.Unlock()
		for el := cc.lru.Front(); el != nil; el = el.Next() {
			out = append(out, el.Value.(*cachedStmt).query)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStmtCacheReusesStatements(t *testing.T) {
	d := openTestSQLite(t)
	const ins = `INSERT INTO t (id, v) VALUES (?, ?)`
	const sel = `SELECT v FROM t WHERE id = ?`
	for i := range 50 {
		if _, err := d.SQL.Exec(ins, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := d.SQL.QueryRow(sel, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("row %d: %q, %v", i, v, err)
		}
	}
	got := cached(t, d)
	n := 0
	for _, q := range got {
		if q == ins || q == sel {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("cache holds %q; want each statement once", got)
	}
	// A script (here with a ';' in a comment too, as River's SQL has) runs whole, each
	// time, from the cache.
	const script = `-- first; then second
UPDATE t SET v = v || 'a' WHERE id = ?; UPDATE t SET v = v || 'b' WHERE id = 2`
	for range 2 {
		if _, err := d.SQL.Exec(script, 1); err != nil {
			t.Fatal(err)
		}
	}
	var a, b string
	if err := d.SQL.QueryRow(`SELECT (SELECT v FROM t WHERE id = 1), (SELECT v FROM t WHERE id = 2)`).Scan(&a, &b); err != nil || a != "v1aa" || b != "v2bb" {
		t.Fatalf("script ran to %q %q, %v", a, b, err)
	}
}

// The same query while its statement still has rows open (in one transaction) runs
// on a statement of its own and sees its own arguments.
func TestStmtCacheNestedSameQuery(t *testing.T) {
	d := openTestSQLite(t)
	for i := range 5 {
		if _, err := d.SQL.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`
	tx, err := d.SQL.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	outer, err := tx.Query(q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	for outer.Next() {
		var id int
		var v string
		if err := outer.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, id)
		inner, err := tx.Query(q, id)
		if err != nil {
			t.Fatal(err)
		}
		if !inner.Next() {
			t.Fatalf("inner query for %d found nothing", id)
		}
		var iid int
		var iv string
		if err := inner.Scan(&iid, &iv); err != nil || iid != id {
			t.Fatalf("inner query for %d read %d, %v", id, iid, err)
		}
		inner.Close()
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if fmt.Sprint(seen) != "[0 1 2 3 4]" {
		t.Fatalf("outer rows %v", seen)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Closed rows gave the statement back: it runs again, with new arguments.
	var n int
	rows, err := d.SQL.Query(q, 3)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != 2 {
		t.Fatalf("query from 3 read %d rows, want 2", n)
	}
	cols, err := func() ([]*sql.ColumnType, error) {
		rows, err := d.SQL.Query(q, 0)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return rows.ColumnTypes()
	}()
	if err != nil || len(cols) != 2 || cols[0].DatabaseTypeName() != "INTEGER" {
		t.Fatalf("column types %v, %v", cols, err)
	}
}

func TestStmtCacheEvictsLeastRecentlyUsed(t *testing.T) {
	d := openTestSQLite(t)
	first := `SELECT 0 FROM t WHERE id = ?`
	for i := range stmtCacheSize + 10 {
		var n int
		err := d.SQL.QueryRow(fmt.Sprintf(`SELECT %d FROM t WHERE id = ?`, i), 1).Scan(&n)
		if err != sql.ErrNoRows {
			t.Fatal(err)
		}
	}
	got := cached(t, d)
	if len(got) > stmtCacheSize {
		t.Fatalf("cache holds %d statements, limit %d", len(got), stmtCacheSize)
	}
	for _, q := range got {
		if q == first {
			t.Fatalf("least recently used statement still kept")
		}
	}
}

// SQLite plans a query with the value its LIMIT is bound to and prepares the statement
// again whenever that value changes, as River's fetch query does with each queue's free
// worker count. The cache keeps a statement per LIMIT value, so alternating values are
// each planned once.
func TestStmtCacheKeepsAPlanPerLimit(t *testing.T) {
	d := openTestSQLite(t)
	ctx := context.Background()
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The authorizer runs while a statement is compiled, first or again.
	var selects atomic.Int64
	err = conn.Raw(func(dc any) error {
		reg, ok := dc.(*cachingConn).innerConn.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("%T has no authorizer", dc.(*cachingConn).innerConn)
		}
		return reg.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, _, _, _, _ string) sqlite.AuthorizerReturnCode {
			if action == sqlite.AuthSelect {
				selects.Add(1)
			}
			return sqlite.AuthorizerOK
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, i, fmt.Sprint("v", i%4)); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE v = ?1 ORDER BY v, id LIMIT ?2)`
	run := func(limit int) {
		t.Helper()
		rows, err := conn.QueryContext(ctx, q, "v1", limit)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if n != min(limit, 10) {
			t.Fatalf("LIMIT %d gave %d rows", limit, n)
		}
	}
	run(3)
	perPlan := selects.Load()
	if perPlan == 0 {
		t.Fatal("the authorizer saw no compile")
	}
	for i := range 20 {
		run([]int{3, 7}[i%2])
	}
	if got := selects.Load(); got != 2*perPlan {
		t.Fatalf("compiles for two LIMIT values alternating 20 times: %d plans, want 2", got/perPlan)
	}
}

func TestLimitParam(t *testing.T) {
	for _, c := range []struct {
		q    string
		want int
	}{
		{`SELECT 1 FROM t LIMIT ?`, 1},
		{`SELECT 1 FROM t WHERE a = ? AND b = ? ORDER BY a limit ?`, 3},
		{"SELECT 1 FROM t WHERE a = ?1 ORDER BY a\n  LIMIT ?5\n", 5},
		{`SELECT 1 FROM t LIMIT $2`, 2},
		{`SELECT 1 FROM t WHERE a IN (SELECT a FROM u LIMIT ?2) AND b = ?1`, 2},
		{`SELECT 1 FROM t LIMIT 10`, 0},
		{`SELECT 1 FROM t LIMIT :n`, 0},
		{`SELECT limited FROM t WHERE a = ?`, 0},
		{`SELECT 1 FROM t`, 0},
		{`LIMIT`, 0},
	} {
		if got := limitParam(c.q); got != c.want {
			t.Errorf("limitParam(%q) = %d, want %d", c.q, got, c.want)
		}
	}
}

// A caller varying a query's LIMIT (a page size from requests) keeps at most
// maxLimitVariants statements of it, the most recently used, and pushes no other
// statement out.
func TestStmtCacheBoundsLimitVariants(t *testing.T) {
	d := openTestSQLite(t)
	const other = `SELECT count(*) FROM t WHERE v <> ?`
	var n int
	if err := d.SQL.QueryRow(other, "x").Scan(&n); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := d.SQL.Exec(`INSERT INTO t (id, v) VALUES (?, ?)`, i, "v"); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id FROM t ORDER BY id LIMIT ?`
	for limit := 1; limit <= 3*maxLimitVariants; limit++ {
		rows, err := d.SQL.Query(q, limit)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for rows.Next() {
			got++
		}
		if err := rows.Close(); err != nil || got != limit {
			t.Fatalf("LIMIT %d: %d rows, %v", limit, got, err)
		}
	}
	variants, others := 0, 0
	for _, s := range cached(t, d) {
		switch s {
		case q:
			variants++
		case other:
			others++
		}
	}
	if variants != maxLimitVariants || others != 1 {
		t.Fatalf("cache keeps %d statements of the LIMIT query (want %d) and %d of the other (want 1)", variants, maxLimitVariants, others)
	}
}
