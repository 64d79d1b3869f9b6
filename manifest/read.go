package manifest

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Read streams the manifest in r, in format f, calling rowFn with each good
// row and badFn with each bad row, in file order, and returns how many rows
// it passed to each. It holds one row at a time, in memory and time bounded
// by lim whatever the file holds or claims: CSV and JSONL need about
// lim.MaxRowBytes plus a 64 KiB buffer. XLSX is a zip and cannot be read
// front to back: when r is a regular *os.File it is read in place,
// otherwise r is first copied to a temporary file (at most
// lim.MaxXLSXBytes). Its zip directory is checked before anything is
// inflated (entries, declared sizes, compression ratios); then the workbook
// and its relationships, the number formats of the styles part, the shared
// strings (their text beyond 16 MiB in a temporary file) and the first sheet
// are each streamed once with encoding/xml, every token bounded by
// lim.MaxCellBytes and every count by a limit. Temporary files are removed
// before Read returns.
//
// Blank lines, and rows whose cells are all empty, are skipped silently; an
// empty manifest is ErrInvalidManifest. Header names (JSONL keys) are
// matched case-insensitively after trimming; the header must name a url or
// image_id column (either or both) and each row must fill exactly one of
// them; a url must be http(s). Unnamed columns are ignored.
//
// CSV: the separator is sniffed from the header line (comma, semicolon, tab
// or pipe); rows may be shorter than the header (missing cells are empty)
// but a row with non-empty cells past the header is bad; a broken quote
// confined to one line makes a bad row, one that runs on over later lines
// (an unterminated quote) fails the read, naming the line it starts on.
// JSONL: each line an object of scalar values; numbers and booleans are kept
// as written, null is empty, objects and arrays make the row bad; of keys
// repeated exactly, the last wins (as in encoding/json).
// XLSX: the first sheet; the header is its first non-empty row. Text cells
// are read as written; numbers as Excel's General format shows them (at
// most 15 significant digits), or, under a date or time format, as
// 2006-01-02, 15:04:05 or 2006-01-02 15:04:05; booleans as TRUE or FALSE;
// formulas as their cached result. Other number formats (percent, currency,
// thousands separators) are not applied.
//
// Read stops at the first error from rowFn or badFn and returns it wrapped,
// at ctx cancellation (checked between rows, and every few thousand XML
// tokens) with ctx.Err(), at a limit with a *LimitError, and at any other
// manifest-level problem with an error wrapping ErrInvalidManifest. A nil
// badFn ignores bad rows (they still count towards lim.MaxBadRows).
func Read(ctx context.Context, r io.Reader, f Format, lim Limits, rowFn func(Row) error, badFn func(RowError) error) (good, bad int, err error) {
	if err := lim.Validate(); err != nil {
		return 0, 0, err
	}
	if rowFn == nil {
		return 0, 0, fmt.Errorf("read manifest: nil row callback")
	}
	s := &sink{ctx: ctx, lim: lim, rowFn: rowFn, badFn: badFn}
	switch f {
	case CSV:
		err = readCSV(r, s)
	case JSONL:
		err = readJSONL(r, s)
	case XLSX:
		err = readXLSX(r, s)
	default:
		err = fmt.Errorf("read format %q: %w", f, ErrUnsupportedFormat)
	}
	return s.good, s.bad, err
}

// sink counts rows and applies the row limits on the way to the callbacks.
type sink struct {
	ctx       context.Context
	lim       Limits
	rowFn     func(Row) error
	badFn     func(RowError) error
	good, bad int
}

// next is called once per physical row before any other work on it.
func (s *sink) next() error {
	return s.ctx.Err()
}

func (s *sink) checkRows(number int) error {
	if s.good+s.bad >= s.lim.MaxRows {
		return limitErr("MaxRows", fmt.Sprintf("row %d", number), "more than %d rows", s.lim.MaxRows)
	}
	return nil
}

func (s *sink) emit(row Row) error {
	if err := s.checkRows(row.Number); err != nil {
		return err
	}
	if err := s.rowFn(row); err != nil {
		return fmt.Errorf("row %d: %w", row.Number, err)
	}
	s.good++
	return nil
}

func (s *sink) reject(number int, msg string) error {
	if err := s.checkRows(number); err != nil {
		return err
	}
	if s.bad >= s.lim.MaxBadRows {
		return limitErr("MaxBadRows", fmt.Sprintf("row %d", number), "%s: more than %d bad rows", msg, s.lim.MaxBadRows)
	}
	if s.badFn != nil {
		if err := s.badFn(RowError{Number: number, Message: msg}); err != nil {
			return fmt.Errorf("row %d: %w", number, err)
		}
	}
	s.bad++
	return nil
}

// Column names with a meaning; every other column is metadata.
const (
	colURL     = "url"
	colImageID = "image_id"
	colSKU     = "sku"
)

// header maps the columns of a tabular manifest (CSV, XLSX).
type header struct {
	names             []string // meta key per column; "" for ignored and known columns
	url, imageID, sku int      // column index, -1 when absent
	width             int      // number of columns, trailing unnamed ones dropped
	metaCount         int      // number of meta columns
	cols              []string // the meta columns' names in order (Row.Columns)
	lim               Limits
}

// newHeader builds the column map from the first record. Messages name the
// header's place as unit ("line" or "row") and number.
func newHeader(fields []string, unit string, line int, lim Limits) (*header, error) {
	if err := checkText(fields); err != "" {
		return nil, fmt.Errorf("%s %d: header %s: %w", unit, line, err, ErrInvalidManifest)
	}
	width := len(fields)
	for width > 0 && strings.TrimSpace(fields[width-1]) == "" {
		width--
	}
	if width > lim.MaxColumns {
		return nil, limitErr("MaxColumns", fmt.Sprintf("%s %d", unit, line), "header has %d columns, more than %d", width, lim.MaxColumns)
	}
	if err := checkCells(fields, unit, line, lim); err != nil {
		return nil, err
	}
	h := &header{names: make([]string, width), url: -1, imageID: -1, sku: -1, width: width, lim: lim}
	seen := make(map[string]bool, width)
	for i, raw := range fields[:width] {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue // an unnamed column is ignored
		}
		key := strings.ToLower(name)
		if seen[key] {
			return nil, fmt.Errorf("%s %d: duplicate column %q: %w", unit, line, name, ErrInvalidManifest)
		}
		seen[key] = true
		switch key {
		case colURL:
			h.url = i
		case colImageID:
			h.imageID = i
		case colSKU:
			h.sku = i
		default:
			h.names[i] = name
			h.cols = append(h.cols, name)
			h.metaCount++
		}
	}
	if h.url < 0 && h.imageID < 0 {
		msg := "header has no url or image_id column"
		if width > 0 && looksLikeURL(fields[0]) {
			msg = "first row must be a header naming a url or image_id column"
		}
		return nil, fmt.Errorf("%s %d: %s: %w", unit, line, msg, ErrInvalidManifest)
	}
	return h, nil
}

func looksLikeURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// row turns one record into a Row, or a bad-row message, or skip when every
// cell is empty. A manifest-level problem (not UTF-8) comes back as fatal.
func (h *header) row(number int, fields []string) (row Row, bad string, skip bool, fatal error) {
	if allEmpty(fields) {
		return Row{}, "", true, nil
	}
	if msg := checkText(fields); msg != "" {
		return Row{}, "", false, fmt.Errorf("row %d: %s: %w", number, msg, ErrInvalidManifest)
	}
	if err := checkCells(fields, "row", number, h.lim); err != nil {
		return Row{}, "", false, err
	}
	if len(fields) > h.width {
		if !allEmpty(fields[h.width:]) {
			return Row{}, fmt.Sprintf("row has %d cells, header has %d columns", lastNonEmpty(fields), h.width), false, nil
		}
		fields = fields[:h.width]
	}
	cell := func(i int) string {
		if i < 0 || i >= len(fields) {
			return ""
		}
		return fields[i]
	}
	row = Row{
		Number:  number,
		URL:     strings.TrimSpace(cell(h.url)),
		ImageID: strings.TrimSpace(cell(h.imageID)),
		SKU:     strings.TrimSpace(cell(h.sku)),
	}
	if msg := checkSource(row.URL, row.ImageID); msg != "" {
		return Row{}, msg, false, nil
	}
	if h.metaCount > 0 {
		row.Meta = make(map[string]string, h.metaCount)
		row.Columns = h.cols
		for i, name := range h.names {
			if name != "" {
				row.Meta[name] = cell(i)
			}
		}
	}
	return row, "", false, nil
}

// checkSource applies the url / image_id rules and returns a bad-row
// message, or "" when the pair is good.
func checkSource(rawURL, imageID string) string {
	switch {
	case rawURL == "" && imageID == "":
		return "no url or image_id"
	case rawURL != "" && imageID != "":
		return "both url and image_id"
	case rawURL != "":
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "url is not http(s)"
		}
	}
	return ""
}

// checkCells fails when a field is larger than lim.MaxCellBytes.
func checkCells(fields []string, unit string, number int, lim Limits) error {
	for i, f := range fields {
		if len(f) > lim.MaxCellBytes {
			return limitErr("MaxCellBytes", fmt.Sprintf("%s %d", unit, number), "cell %d larger than %d bytes", i+1, lim.MaxCellBytes)
		}
	}
	return nil
}

// checkText returns a message when a field is not UTF-8 text.
func checkText(fields []string) string {
	for _, f := range fields {
		if !utf8.ValidString(f) {
			return "is not UTF-8"
		}
		if strings.IndexByte(f, 0) >= 0 {
			return "contains a NUL byte (UTF-16?)"
		}
	}
	return ""
}

func allEmpty(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func lastNonEmpty(fields []string) int {
	n := len(fields)
	for n > 0 && strings.TrimSpace(fields[n-1]) == "" {
		n--
	}
	return n
}
