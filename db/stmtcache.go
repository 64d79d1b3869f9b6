package db

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// stmtCacheSize bounds the prepared statements kept per SQLite connection. Pictor and
// River together run a few dozen distinct statements; the rest are one-offs.
const stmtCacheSize = 256

// sqliteConnector opens SQLite connections that keep their prepared statements.
// modernc's driver parses every statement given to Exec or Query afresh, and the
// single SQLite connection is what every worker waits for: parsing was a sixth of the
// server's CPU in a batch, all of it while holding that connection.
type sqliteConnector struct {
	driver.Connector
}

func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// innerConn is what the wrapped driver connection must offer (modernc's does).
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn runs Exec and Query through prepared statements it keeps, least
// recently used first out. A statement still reading rows is busy: the same query
// meanwhile (a nested query) runs unprepared.
type cachingConn struct {
	innerConn
	mu    sync.Mutex
	stmts map[string]*list.Element // of *cachedStmt
	lru   list.List                // front: most recently used
}

// maxLimitVariants bounds the statements one query keeps for distinct LIMIT values: a
// caller varying the LIMIT (a page size from a request) replaces that query's least
// recently used variant instead of pushing every other statement out of the cache.
const maxLimitVariants = 8

type cachedStmt struct {
	key   string // the cache's key: the query, and its LIMIT's value (stmtKey)
	query string
	st    driver.Stmt
	busy  bool
}

func newCachingConn(c driver.Conn) (*cachingConn, error) {
	ic, ok := c.(innerConn)
	if !ok {
		c.Close()
		return nil, errors.New("db: sqlite connection lacks the context interfaces")
	}
	return &cachingConn{innerConn: ic, stmts: map[string]*list.Element{}}, nil
}

// take returns the query's cached statement for args (see stmtKey), marked busy,
// preparing it if needed; nil when it is busy. A script (statements with a tail) is kept
// too: the driver prepares its statements on each run, as it would unkept.
func (c *cachingConn) take(ctx context.Context, query string, args []driver.NamedValue) (*cachedStmt, error) {
	key := stmtKey(query, args)
	c.mu.Lock()
	if el, ok := c.stmts[key]; ok {
		cs := el.Value.(*cachedStmt)
		if cs.busy {
			c.mu.Unlock()
			return nil, nil
		}
		cs.busy = true
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return cs, nil
	}
	c.mu.Unlock()
	st, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{key: key, query: query, st: st, busy: true}
	c.mu.Lock()
	var evict []driver.Stmt
	if key != query {
		// A new LIMIT variant: past maxLimitVariants, the query's least recently used
		// one (idle) makes room. Counted here, when a variant is made, which is rare.
		var oldest *list.Element
		n := 0
		for el := c.lru.Front(); el != nil; el = el.Next() {
			if old := el.Value.(*cachedStmt); old.query == query && old.key != query {
				n++
				if !old.busy {
					oldest = el
				}
			}
		}
		if n >= maxLimitVariants && oldest != nil {
			evict = append(evict, c.remove(oldest))
		}
	}
	c.stmts[key] = c.lru.PushFront(cs)
	for el := c.lru.Back(); el != nil && c.lru.Len() > stmtCacheSize; {
		prev := el.Prev()
		if old := el.Value.(*cachedStmt); !old.busy {
			evict = append(evict, c.remove(el))
		}
		el = prev
	}
	c.mu.Unlock()
	for _, st := range evict {
		st.Close()
	}
	return cs, nil
}

// remove takes a kept statement out of the cache (c.mu held) and returns it, to be
// closed once c.mu is released.
func (c *cachingConn) remove(el *list.Element) driver.Stmt {
	old := el.Value.(*cachedStmt)
	c.lru.Remove(el)
	delete(c.stmts, old.key)
	return old.st
}

// stmtKey is the key a query's statement is kept under for args: the query, and when
// its LIMIT is a parameter bound to an integer, that integer. SQLite plans a query with
// the LIMIT it is bound to, and prepares the statement again on the next run whenever
// that value changes. River's fetch query is one: each queue's producer binds its free
// worker count, so with the queues polling in turn on the one connection every poll
// re-prepared it (half an idle server's CPU). Kept per LIMIT value, each plan is made
// once. Any key gives the same results: they select among statements of the same SQL.
func stmtKey(query string, args []driver.NamedValue) string {
	n := limitParam(query)
	if n == 0 {
		return query
	}
	for _, a := range args {
		if a.Ordinal == n && a.Name == "" {
			if v, ok := a.Value.(int64); ok {
				return query + "\x00limit=" + strconv.FormatInt(v, 10)
			}
			return query
		}
	}
	return query
}

// limitParam returns the ordinal of the parameter the query's last LIMIT is bound to
// ("LIMIT ?", "LIMIT ?3" or "LIMIT $3"), or 0 when that LIMIT is not a positional
// parameter. A bare "?" is numbered by counting the ones before it, which holds when the
// query does not mix bare and numbered parameters; a wrong count only keys the statement
// by another argument.
func limitParam(query string) int {
	i := lastLimit(query)
	if i < 0 {
		return 0
	}
	rest := strings.TrimLeft(query[i+len("limit"):], " \t\r\n")
	if rest == "" || (rest[0] != '?' && rest[0] != '$') {
		return 0
	}
	digits := rest[1:]
	end := 0
	for end < len(digits) && end < 6 && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	if end > 0 {
		n, err := strconv.Atoi(digits[:end])
		if err != nil {
			return 0
		}
		return n
	}
	if rest[0] != '?' {
		return 0
	}
	return strings.Count(query[:i], "?") + 1
}

// lastLimit returns the index of the query's last LIMIT keyword, any case, or -1.
func lastLimit(query string) int {
	for i := len(query) - len("limit"); i >= 0; i-- {
		if query[i]|0x20 != 'l' || !strings.EqualFold(query[i:i+len("limit")], "limit") {
			continue
		}
		before := i == 0 || !isWordByte(query[i-1])
		after := i+len("limit") == len(query) || !isWordByte(query[i+len("limit")])
		if before && after {
			return i
		}
	}
	return -1
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func (c *cachingConn) give(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.take(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	defer c.give(cs)
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.take(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.give(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.give(cs) }}, nil
}

// Close finalizes the kept statements and closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	var errs []error
	for el := c.lru.Front(); el != nil; el = el.Next() {
		errs = append(errs, el.Value.(*cachedStmt).st.Close())
	}
	c.lru.Init()
	clear(c.stmts)
	c.mu.Unlock()
	errs = append(errs, c.innerConn.Close())
	return errors.Join(errs...)
}

// cachedRows gives its statement back when closed. The column-type methods serve
// sql.Rows.ColumnTypes from the driver's rows when they offer them.
type cachedRows struct {
	driver.Rows
	release func()
	once    sync.Once
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(r.release)
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return x.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
