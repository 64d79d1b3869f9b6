package manifest

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Result is one batch item's outcome, a line of the results export.
type Result struct {
	// Row is the item's manifest row number (Row.Number).
	Row int `json:"row"`
	// Source is the item's url or image_id as given in the manifest.
	Source string `json:"source"`
	// SKU is the item's SKU; empty when none was given.
	SKU string `json:"sku"`
	// State is the item's state, e.g. "succeeded" or "failed".
	State string `json:"state"`
	// RenditionURLs are the stored renditions' URLs; empty when none.
	RenditionURLs []string `json:"renditions"`
	// Error is why the item failed; empty when it did not.
	Error string `json:"error"`
	// Review is the item's review state: "" (not held), "pending", "approved" or
	// "rejected".
	Review string `json:"review"`
	// Checks is the item's check verdict: "" when no output was checked, "pass", or
	// "fail: name, name" naming the failing checks.
	Checks string `json:"checks"`
	// Meta is the item's metadata from the manifest; nil when none.
	Meta map[string]string `json:"meta,omitempty"`
}

// Writer streams results out. Write buffers (4 KiB) and Close flushes;
// neither closes the underlying io.Writer.
type Writer interface {
	// Write adds one result.
	Write(Result) error
	// Close flushes what is buffered; a second Close does nothing. Writes
	// after Close fail with ErrWriterClosed.
	Close() error
}

// ErrWriterClosed is returned by Write after Close.
var ErrWriterClosed = errors.New("manifest writer closed")

// resultColumns is the CSV header, before any meta columns.
var resultColumns = [...]string{"row", "source", "sku", "state", "renditions", "error", "review", "checks"}

// NewWriter returns a Writer of results in format f, CSV or JSONL (XLSX is
// ErrUnsupportedFormat). CSV starts with the header
// row,source,sku,state,renditions,error,review,checks, then one column for each of
// metaColumns (a result's Meta value under that name, empty when missing;
// other Meta keys are left out); renditions are joined by a space.
//
// CSV neutralises formula injection (OWASP "CSV Injection"): every text cell
// (source, sku, state, renditions, error, review, checks and each meta column)
// whose first character is =, +, -, @, tab or carriage return, or the
// full-width ＝ ＋ － ＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20), gets a single quote '
// prepended, so a spreadsheet shows "=HYPERLINK(...)" as text instead of running
// it. Only the first character counts: " =x" and "a=b" are written as given.
// The row column is a number the writer formats itself and is never changed, so
// numeric cells keep their sign. Quoting of commas, quotes and newlines is left
// to encoding/csv, so each record keeps its column count.
//
// JSONL writes one object a line with keys row, source, sku, state,
// renditions (an array, never null), error, review, checks, and meta (when not empty), and
// ignores metaColumns. JSONL is data, not a spreadsheet: its values are written as
// given, without the CSV neutralising.
func NewWriter(w io.Writer, f Format, metaColumns ...string) (Writer, error) {
	switch f {
	case CSV:
		seen := make(map[string]bool, len(resultColumns)+len(metaColumns))
		for _, c := range resultColumns {
			seen[c] = true
		}
		for _, c := range metaColumns {
			if seen[strings.ToLower(c)] {
				return nil, fmt.Errorf("meta column %q duplicates a results column", c)
			}
			seen[strings.ToLower(c)] = true
		}
		cw := &csvWriter{w: csv.NewWriter(w), meta: metaColumns}
		header := append(resultColumns[:len(resultColumns):len(resultColumns)], metaColumns...)
		if err := cw.w.Write(header); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
		return cw, nil
	case JSONL:
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // keep & in URLs readable
		return &jsonlWriter{bw: bw, enc: enc}, nil
	}
	return nil, fmt.Errorf("write results as %q: %w", f, ErrUnsupportedFormat)
}

type csvWriter struct {
	w      *csv.Writer
	meta   []string
	rec    []string
	closed bool
}

func (c *csvWriter) Write(r Result) error {
	if c.closed {
		return ErrWriterClosed
	}
	c.rec = append(c.rec[:0], strconv.Itoa(r.Row), // a number: never neutralised
		safeCell(r.Source), safeCell(r.SKU), safeCell(r.State),
		safeCell(strings.Join(r.RenditionURLs, " ")), safeCell(r.Error),
		safeCell(r.Review), safeCell(r.Checks))
	for _, m := range c.meta {
		c.rec = append(c.rec, safeCell(r.Meta[m]))
	}
	if err := c.w.Write(c.rec); err != nil {
		return fmt.Errorf("write result row %d: %w", r.Row, err)
	}
	return nil
}

func (c *csvWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("flush results: %w", err)
	}
	return nil
}

// safeCell returns text cell s with a single quote prepended when a spreadsheet
// would read it as a formula: when its first rune is =, +, -, @, tab, carriage
// return or one of their full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20.
// Other cells, the empty one included, come back unchanged.
func safeCell(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20':
		return "'" + s
	}
	return s
}

type jsonlWriter struct {
	bw     *bufio.Writer
	enc    *json.Encoder
	closed bool
}

func (j *jsonlWriter) Write(r Result) error {
	if j.closed {
		return ErrWriterClosed
	}
	if r.RenditionURLs == nil {
		r.RenditionURLs = []string{}
	}
	if err := j.enc.Encode(r); err != nil { // Encode ends each object with '\n'
		return fmt.Errorf("write result row %d: %w", r.Row, err)
	}
	return nil
}

func (j *jsonlWriter) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	if err := j.bw.Flush(); err != nil {
		return fmt.Errorf("flush results: %w", err)
	}
	return nil
}
