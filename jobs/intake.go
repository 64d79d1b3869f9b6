package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pictor/pictor/manifest"
)

// Batch manifest intake, the one path from a manifest to a batch's items: a source (a file
// the API received, with its name and content type, or a URL fetched through catalog's
// SSRF-safe fetcher) -> its format (manifest.Detect) -> its rows, streamed -> items,
// inserted itemChunk at a time. CreateBatch and the scheduled re-read (refresh) both take
// it; a selection's rows go through the same chunked insert.

// itemChunk is how many rows one insert transaction writes.
const itemChunk = 500

// detectBytes is how much of a manifest's start its format is detected from.
const detectBytes = 4096

// manifestSource is where a batch's manifest comes from: a file received whole (file,
// read from its current position; name and contentType as sent) or, with file nil, url.
type manifestSource struct {
	file        io.Reader
	name        string
	contentType string
	format      manifest.Format // known by the caller; "" detects it
	url         string
	// spool, when set, is given the size of a manifest fetched from url before it is
	// read; its error refuses it.
	spool func(size int64) error
}

// openedManifest is a manifest ready to be read from its start, in its format.
type openedManifest struct {
	r      io.Reader
	format manifest.Format
	close  func() error
}

// openManifest makes src ready to read: it fetches a URL into a temporary file (within
// catalog.MaxManifestBytes; close removes it) and detects the format from the name, the
// content type and the first bytes, unless src names it.
func (s *Service) openManifest(ctx context.Context, src manifestSource) (*openedManifest, error) {
	m := &openedManifest{r: src.file, format: src.format, close: func() error { return nil }}
	name, contentType := src.name, src.contentType
	if m.r == nil {
		if src.url == "" {
			return nil, errors.New("open manifest: neither a file nor a URL")
		}
		mf, err := s.cat.FetchManifest(ctx, src.url)
		if err != nil {
			return nil, err
		}
		m.r, m.close, contentType = mf.File, mf.Close, mf.ContentType
		if u, err := url.Parse(src.url); err == nil {
			name = path.Base(u.Path)
		}
		if src.spool != nil {
			if st, err := mf.File.Stat(); err == nil {
				if err := src.spool(st.Size()); err != nil {
					mf.Close()
					return nil, err
				}
			}
		}
	}
	if m.format != "" {
		return m, nil
	}
	head, r, err := peek(m.r, detectBytes)
	if err == nil {
		m.r = r
		m.format, err = manifest.Detect(name, contentType, head)
	}
	if err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// peek returns up to n bytes from r's start and a reader that reads r from that start
// again: a file is seeked back, so it stays a file (XLSX is read in place); another reader
// is prefixed with what was read.
func peek(r io.Reader, n int) ([]byte, io.Reader, error) {
	head := make([]byte, n)
	rs, seeker := r.(io.ReadSeeker)
	var start int64
	if seeker {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			seeker = false
		}
	}
	k, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("read manifest: %w", err)
	}
	head = head[:k]
	if seeker {
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			return nil, nil, fmt.Errorf("read manifest: %w", err)
		}
		return head, r, nil
	}
	return head, io.MultiReader(bytes.NewReader(head), r), nil
}

// itemWriter makes a batch's rows its items, itemChunk rows per transaction. A row whose
// content (source and SKU) the batch already has is counted a duplicate and left out.
type itemWriter struct {
	s     *Service
	batch string
	// renumber numbers the rows after the batch's last item (from last+1), as a re-read
	// does: a row is known by its content, not by where it sits in the file. Otherwise a
	// row keeps its number in the file.
	renumber bool
	last     int

	chunk  []manifest.Row
	added  int       // rows that became items
	dupes  int       // rows left out as duplicates
	cols   columnSet // the meta columns, in the file's order
	nbad   int       // bad rows
	bad    []BadRow  // the first maxBadRowSample of them
	failed error     // what failed writing a chunk, if anything did
}

// row is the row callback of manifest.Read and selectionRows.
func (w *itemWriter) row(ctx context.Context) func(manifest.Row) error {
	return func(r manifest.Row) error {
		if w.renumber {
			w.last++
			r.Number = w.last
		}
		w.cols.add(r)
		w.chunk = append(w.chunk, r)
		if len(w.chunk) == itemChunk {
			return w.flush(ctx)
		}
		return nil
	}
}

// badRow is the bad-row callback of manifest.Read: it keeps a sample.
func (w *itemWriter) badRow(e manifest.RowError) error {
	if len(w.bad) < maxBadRowSample {
		w.bad = append(w.bad, BadRow{Row: e.Number, Message: e.Message})
	}
	return nil
}

// flush writes the rows gathered so far.
func (w *itemWriter) flush(ctx context.Context) error {
	if len(w.chunk) == 0 {
		return nil
	}
	n, err := w.s.insertItems(ctx, w.batch, w.chunk)
	if err != nil {
		w.failed = err
		return err
	}
	w.dupes += len(w.chunk) - n
	w.added += n
	w.chunk = w.chunk[:0]
	return nil
}

// readManifest streams m's rows into w's batch and writes the last chunk.
func (w *itemWriter) readManifest(ctx context.Context, m *openedManifest) error {
	var err error
	_, w.nbad, err = manifest.Read(ctx, m.r, m.format, manifest.DefaultLimits(), w.row(ctx), w.badRow)
	if err != nil {
		return err
	}
	return w.flush(ctx)
}

// maxColumns bounds the columns a batch remembers for its exports.
const maxColumns = 256

// columnSet gathers a manifest's meta columns: the header's order when the format has one
// (CSV, XLSX), else the keys in the order rows first show them (sorted within a row).
type columnSet struct {
	names   []string
	seen    map[string]bool
	ordered bool // the header's own list was seen: every column is known
}

func (c *columnSet) add(r manifest.Row) {
	if c.ordered {
		return
	}
	if r.Columns != nil {
		c.names, c.ordered = slices.Clone(r.Columns), true
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	keys := make([]string, 0, len(r.Meta))
	for k := range r.Meta {
		if !c.seen[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if len(c.names) < maxColumns {
			c.seen[k] = true
			c.names = append(c.names, k)
		}
	}
}

func (c *columnSet) list() []string { return c.names }

// insertItems writes one chunk of rows in a transaction and returns how many became items:
// a row whose content (source and SKU) the batch already has is left out.
func (s *Service) insertItems(ctx context.Context, id string, rows []manifest.Row) (int, error) {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, dbError("begin", err)
	}
	defer tx.Rollback()
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString(`INSERT INTO batch_items (batch_id, row_number, url, image_id, sku, meta, content_key, state, updated_at) VALUES `)
	now := time.Now().UTC().UnixNano()
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		meta := ""
		if len(r.Meta) > 0 {
			b, _ := json.Marshal(r.Meta)
			meta = string(b)
		}
		args = append(args, id, r.Number, r.URL, r.ImageID, r.SKU, meta, contentKey(r), ItemPending, now)
	}
	q.WriteString(" ON CONFLICT DO NOTHING RETURNING row_number")
	res, err := tx.QueryContext(ctx, s.db.Rebind(q.String()), args...)
	if err != nil {
		return 0, dbError("insert items", err)
	}
	n := 0
	for res.Next() {
		n++
	}
	res.Close()
	if err := res.Err(); err != nil {
		return 0, dbError("insert items", err)
	}
	return n, dbError("commit items", tx.Commit())
}
