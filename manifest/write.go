package manifest

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
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
	// Outputs are the stored renditions, one per output of the recipe that was
	// stored; nil when none (JSONL writes an empty array).
	Outputs []Output `json:"outputs"`
	// Cost is what the item cost, in the batch's currency; nil when no prices
	// are set.
	Cost *float64 `json:"cost,omitempty"`
	// GPUSeconds is the GPU time the item used; 0 when none.
	GPUSeconds float64 `json:"gpu_seconds"`
	// CPUSeconds is the CPU time the item used; 0 when none.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CheckDetail is every check measured on the item's outputs; nil when none
	// was (JSONL then leaves the key out).
	CheckDetail []CheckCell `json:"check_detail,omitempty"`
}

// Output is one stored rendition of a result.
type Output struct {
	// Name is the recipe output's name, e.g. "main" or "thumb".
	Name string `json:"name"`
	// URL is where the rendition is served.
	URL string `json:"url"`
	// Format is the encoded format, e.g. "webp"; empty when unknown.
	Format string `json:"format"`
	// Width and Height are the rendition's size in pixels; 0 when unknown.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Bytes is the stored size; 0 when unknown.
	Bytes int64 `json:"bytes"`
}

// CheckCell is one check measured on a result's outputs.
type CheckCell struct {
	// Name is the check's name, e.g. "product_fill"; prefixed with the output
	// name when the caller wants it told apart, e.g. "main/product_fill".
	Name string `json:"name"`
	// Verdict is the check's verdict, e.g. "pass" or "fail".
	Verdict string `json:"verdict"`
	// Value is what was measured.
	Value float64 `json:"value"`
	// Threshold is the limit Value was held to.
	Threshold float64 `json:"threshold"`
}

// Writer streams results out. Write buffers (CSV and JSONL 4 KiB, XLSX the
// compressor's window) and Close flushes, and for XLSX finishes the workbook,
// which is not readable before; neither closes the underlying io.Writer.
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
var resultColumns = [...]string{"row", "source", "sku", "state", "renditions", "error", "review", "checks",
	"cost", "gpu_seconds", "cpu_seconds"}

// WriterOptions shape a results export. The zero value is a CSV or JSONL
// export without meta columns, or an XLSX one without output, meta and cost
// columns.
type WriterOptions struct {
	// MetaColumns are the manifest's own columns to write (CSV, XLSX), in
	// order: a result's Meta value under that name, empty when missing;
	// other Meta keys are left out. Default none.
	MetaColumns []string
	// Outputs are the recipe's output names, in recipe order (XLSX only):
	// each gets its url, width, height and bytes columns, and a result's
	// Outputs of other names are left out of the sheet. Default none.
	Outputs []string
	// Currency is the currency of Result.Cost, e.g. "EUR" (XLSX only): when
	// set, the sheet has a "cost (EUR)" column; when empty, which is how a
	// batch without prices is exported, it has no cost column at all.
	// Default empty.
	Currency string
	// Sheet is the XLSX sheet's name: at most 31 characters, none of
	// : \ / ? * [ ], not starting or ending with an apostrophe. Default
	// "results".
	Sheet string
}

// NewWriter returns a Writer of results in format f with metaColumns as
// the meta columns: NewResultsWriter(w, f, WriterOptions{MetaColumns:
// metaColumns}).
func NewWriter(w io.Writer, f Format, metaColumns ...string) (Writer, error) {
	return NewResultsWriter(w, f, WriterOptions{MetaColumns: metaColumns})
}

// NewResultsWriter returns a Writer of results in format f: CSV, JSONL or
// XLSX. A column name that repeats another, ignoring case, is an error (CSV,
// XLSX), as is a bad XLSX sheet name.
//
// CSV starts with the header
// row,source,sku,state,renditions,error,review,checks,cost,gpu_seconds,cpu_seconds,
// then one column for each of o.MetaColumns; renditions are joined by a
// space; cost is empty when a result has none; numbers are written with as
// many digits as they need and no exponent. o.Outputs, o.Currency and
// o.Sheet are not used: the cost header is "cost" whatever the currency, so
// that the columns stay the same for programs reading them.
//
// CSV neutralises formula injection (OWASP "CSV Injection"): every text cell
// (source, sku, state, renditions, error, review, checks and each meta column)
// whose first character is =, +, -, @, tab or carriage return, or the
// full-width ＝ ＋ － ＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20), gets a single quote '
// prepended, so a spreadsheet shows "=HYPERLINK(...)" as text instead of running
// it. Only the first character counts: " =x" and "a=b" are written as given.
// The number columns (row, cost, gpu_seconds, cpu_seconds) are formatted by the
// writer itself and never changed, so numeric cells keep their sign. Quoting of
// commas, quotes and newlines is left to encoding/csv, so each record keeps its
// column count.
//
// JSONL writes one object a line with keys row, source, sku, state,
// renditions (an array, never null), error, review, checks, meta (when not
// empty), outputs (an array, never null), cost (when set), gpu_seconds,
// cpu_seconds and check_detail (when not empty), and ignores o. JSONL is
// data, not a spreadsheet: its values are written as given, without the CSV
// neutralising.
//
// XLSX writes a workbook of one sheet, o.Sheet, streamed as results come in
// about a megabyte of memory whatever their number; it is complete only after
// Close. Its columns are row, sku, url and image_id (the result's source in
// the one that fits: url when it starts with http:// or https://), each of
// o.MetaColumns, state, error, review, checks, then for each of o.Outputs N
// "N url", "N width", "N height" and "N bytes" (from the result's Output
// named N; empty when it has none), "cost (CUR)" when o.Currency is set,
// gpu_seconds, cpu_seconds and "check details" ("name value/threshold
// verdict; ..."). With url, image_id and sku as a manifest names them, the
// export reads back as a manifest (see Read), so a merchandiser can filter it
// and upload the rows again. Text is written as inline strings, which a
// spreadsheet never evaluates, so no neutralising is needed and "=x" stays as
// written; characters XML 1.0 forbids are dropped, invalid UTF-8 becomes
// U+FFFD, and text is cut at 32,767 UTF-16 code units, a cell's most. Row,
// sizes, cost and seconds are numbers (a size of 0 and a nil, NaN or infinite
// number are left empty), cost shown with two decimals. The header row is
// bold, frozen and carries a filter. A sheet holds 1,048,575 results below
// its header: Write fails past that with ErrTooManyRows, and Close still
// finishes the workbook of the rows before.
func NewResultsWriter(w io.Writer, f Format, o WriterOptions) (Writer, error) {
	switch f {
	case CSV:
		if err := uniqueColumns(resultColumns[:], o.MetaColumns); err != nil {
			return nil, err
		}
		cw := &csvWriter{w: csv.NewWriter(w), meta: o.MetaColumns}
		header := append(resultColumns[:len(resultColumns):len(resultColumns)], o.MetaColumns...)
		if err := cw.w.Write(header); err != nil {
			return nil, fmt.Errorf("write csv header: %w", err)
		}
		return cw, nil
	case JSONL:
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // keep & in URLs readable
		return &jsonlWriter{bw: bw, enc: enc}, nil
	case XLSX:
		x, err := newXLSXWriter(w, o)
		if err != nil {
			return nil, err
		}
		return x, nil
	}
	return nil, fmt.Errorf("write results as %q: %w", f, ErrUnsupportedFormat)
}

// uniqueColumns fails when a meta column repeats a fixed column or another
// meta column, ignoring case.
func uniqueColumns(fixed, meta []string) error {
	seen := make(map[string]bool, len(fixed)+len(meta))
	for _, c := range fixed {
		seen[strings.ToLower(c)] = true
	}
	for _, c := range meta {
		if seen[strings.ToLower(c)] {
			return fmt.Errorf("meta column %q duplicates a results column", c)
		}
		seen[strings.ToLower(c)] = true
	}
	return nil
}

// formatNumberCell formats v for a CSV number column: as many digits as it
// needs, no exponent; empty when v is not finite.
func formatNumberCell(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
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
		safeCell(r.Review), safeCell(r.Checks), "", // numbers below: never neutralised
		formatNumberCell(r.GPUSeconds), formatNumberCell(r.CPUSeconds))
	if r.Cost != nil {
		c.rec[8] = formatNumberCell(*r.Cost)
	}
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
	if r.Outputs == nil {
		r.Outputs = []Output{}
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
