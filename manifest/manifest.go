// Package manifest reads batch manifests (CSV, JSONL or the first sheet of an
// XLSX workbook) as a stream of rows, and writes batch results as CSV or JSONL.
//
// A manifest names one source image a row, by `url` or by `image_id`, with an
// optional `sku`; every other column is kept as item metadata. Reading never
// holds more than one row (plus small buffers) in memory, so a manifest of
// millions of rows streams straight into bulk inserts. Bad rows are reported
// with the row number a person sees in the file and do not stop the read;
// problems with the manifest as a whole (no usable header, not UTF-8, a row
// too large, too many bad rows) end it with an error wrapping
// ErrInvalidManifest; a manifest over one of its Limits ends it with a
// *LimitError naming the limit. Any manifest, whatever its parts claim, is
// read in bounded memory and time (see Limits and Read).
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"path"
	"strings"
)

// Format is a manifest or results file format. The zero value is not a
// format; use CSV, JSONL or XLSX.
type Format string

// The formats this package understands. XLSX is read only.
const (
	// CSV is comma-separated values (RFC 4180); semicolon, tab and pipe
	// separated files are recognised from their header line.
	CSV Format = "csv"
	// JSONL is one JSON object a line (also known as NDJSON).
	JSONL Format = "jsonl"
	// XLSX is an Office Open XML workbook; its first sheet is read.
	XLSX Format = "xlsx"
)

// Errors returned by this package. Test for them with errors.Is.
var (
	// ErrInvalidManifest means the manifest as a whole cannot be read: no
	// header with a url or image_id column, not UTF-8 text, any of its
	// Limits exceeded (see ErrLimitExceeded), an unterminated quote, or a
	// damaged workbook. The wrapping message names the line or row where
	// possible.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrUnsupportedFormat means the file is in a format this package does
	// not read or write: a legacy .xls workbook, a compressed file, or XLSX
	// asked of NewWriter.
	ErrUnsupportedFormat = errors.New("unsupported manifest format")
	// ErrInvalidLimits means a Limits value failed Validate.
	ErrInvalidLimits = errors.New("invalid manifest limits")
	// ErrLimitExceeded means the manifest went over one of its Limits. Every
	// such error is a *LimitError and also matches ErrInvalidManifest.
	ErrLimitExceeded = errors.New("manifest limit exceeded")
)

// LimitError is a manifest refused because it went over one of its Limits.
// It matches both ErrLimitExceeded and ErrInvalidManifest.
type LimitError struct {
	// At is where the read stopped: "line 7", "row 3" or a workbook part
	// such as "xl/sharedStrings.xml".
	At string
	// What says what went over, e.g. "row larger than 65536 bytes".
	What string
	// Limit names the Limits field, e.g. "MaxRowBytes".
	Limit string
}

// Error returns "at: what (limit Name)".
func (e *LimitError) Error() string {
	if e.At == "" {
		return fmt.Sprintf("%s (limit %s)", e.What, e.Limit)
	}
	return fmt.Sprintf("%s: %s (limit %s)", e.At, e.What, e.Limit)
}

// Unwrap makes a LimitError match ErrLimitExceeded and ErrInvalidManifest.
func (e *LimitError) Unwrap() []error {
	return []error{ErrLimitExceeded, ErrInvalidManifest}
}

func limitErr(limit, at, format string, args ...any) error {
	return &LimitError{At: at, What: fmt.Sprintf(format, args...), Limit: limit}
}

// ParseFormat returns the Format named by s ("csv", "jsonl", "ndjson" or
// "xlsx", case-insensitive), for query parameters such as ?format=csv.
// It returns ErrUnsupportedFormat for anything else.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	case "xlsx":
		return XLSX, nil
	}
	return "", fmt.Errorf("format %q: %w", s, ErrUnsupportedFormat)
}

var (
	zipMagic  = []byte("PK\x03\x04")
	oleMagic  = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	gzipMagic = []byte{0x1F, 0x8B}
	utf8BOM   = []byte{0xEF, 0xBB, 0xBF}
)

// Detect decides the format of a manifest from its file name (extension),
// its declared content type and its first bytes (head, which may be empty).
// The bytes win where they are certain: a zip (PK\x03\x04) is XLSX even when
// named .csv, and a legacy .xls (OLE) or gzip file is ErrUnsupportedFormat.
// Otherwise the extension decides, then the content type, then sniffing:
// a head whose first non-space byte is '{' is JSONL, anything else CSV.
// A name or content type claiming XLSX over a head that is not a zip is
// ErrUnsupportedFormat.
func Detect(name, contentType string, head []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(head, zipMagic):
		return XLSX, nil
	case bytes.HasPrefix(head, oleMagic):
		return "", fmt.Errorf("legacy .xls or encrypted workbook: %w", ErrUnsupportedFormat)
	case bytes.HasPrefix(head, gzipMagic):
		return "", fmt.Errorf("compressed file: %w", ErrUnsupportedFormat)
	}
	claimed, err := byName(name)
	if err != nil {
		return "", err
	}
	if claimed == "" {
		claimed = byContentType(contentType)
	}
	switch {
	case claimed == XLSX && len(head) > 0:
		return "", fmt.Errorf("%s is not a zip archive: %w", XLSX, ErrUnsupportedFormat)
	case claimed != "":
		return claimed, nil
	}
	h := bytes.TrimPrefix(head, utf8BOM)
	h = bytes.TrimLeft(h, " \t\r\n")
	if len(h) > 0 && h[0] == '{' {
		return JSONL, nil
	}
	return CSV, nil
}

func byName(name string) (Format, error) {
	switch strings.ToLower(path.Ext(strings.TrimSpace(name))) {
	case ".csv", ".tsv", ".txt":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	case ".xlsx", ".xlsm":
		return XLSX, nil
	case ".xls", ".xlsb", ".ods", ".numbers", ".gz", ".zst", ".bz2":
		return "", fmt.Errorf("file %q: %w", name, ErrUnsupportedFormat)
	}
	return "", nil
}

func byContentType(contentType string) Format {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case "text/csv", "application/csv", "text/comma-separated-values", "text/tab-separated-values":
		return CSV
	case "application/jsonl", "application/x-jsonlines", "application/jsonlines",
		"application/x-ndjson", "application/ndjson", "application/json-lines":
		return JSONL
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return XLSX
	}
	// application/vnd.ms-excel is what browsers on Windows send for .csv
	// files, and application/json, text/plain and octet-stream say nothing:
	// all of these are left to sniffing.
	return ""
}

// Row is one good manifest row.
type Row struct {
	// Number is the row's number as a person sees it in the file, 1-based:
	// for CSV the line on which the record starts (the header is line 1, so
	// the first data row is usually 2), for XLSX the sheet row number, for
	// JSONL the line number. Blank lines and rows are skipped, not numbered
	// anew.
	Number int
	// URL is the source image URL, trimmed; empty when ImageID is set.
	URL string
	// ImageID is an already stored image's ID, trimmed; empty when URL is set.
	ImageID string
	// SKU is the optional product SKU, trimmed; empty when absent.
	SKU string
	// Meta holds every other named column, keyed by the header name as
	// written (trimmed), values as written. It is nil when there are no
	// other columns. The row callback owns the map.
	Meta map[string]string
	// Columns names the meta columns in the file's order (CSV and XLSX; nil for
	// JSONL, whose objects have no order). Every row of a file shares the one
	// slice: read it, never change it.
	Columns []string
}

// RowError is one bad manifest row: reported, skipped, not fatal.
type RowError struct {
	// Number is the row number, counted as Row.Number is.
	Number int
	// Message says what is wrong, e.g. "no url or image_id".
	Message string
}

// Error returns "row N: message", so a RowError can travel as an error.
func (e RowError) Error() string {
	return fmt.Sprintf("row %d: %s", e.Number, e.Message)
}

// Limits bounds what Read accepts, so that any manifest, whatever it holds
// or claims, is read in bounded memory and time. Going over a limit ends the
// read with a *LimitError naming the field. Build it with DefaultLimits and
// adjust.
type Limits struct {
	// MaxRows is the most data rows (good and bad) a manifest may have;
	// one more fails the read. Default 10,000,000. An XLSX sheet holds at
	// most 1,048,576 rows whatever this says.
	MaxRows int
	// MaxRowBytes is the largest row, in bytes of the file (CSV, JSONL) or
	// of its cell text (XLSX); a larger row fails the read. Default 64 KiB.
	MaxRowBytes int
	// MaxCellBytes is the largest single value: a CSV field, a JSONL value,
	// an XLSX cell or shared string (and, for XLSX, about four times this is
	// the longest XML token, tag or text, in any part read). A larger one
	// fails the read. Default 32 KiB.
	MaxCellBytes int
	// MaxColumns is the most named columns a header (or JSONL object) may
	// have. Default 64.
	MaxColumns int
	// MaxBadRows is how many bad rows are reported before the read fails;
	// 0 makes the first bad row fatal. Default 10,000.
	MaxBadRows int
	// MaxXLSXBytes is the largest XLSX file accepted, compressed. Default
	// 256 MiB.
	MaxXLSXBytes int64
	// MaxXLSXParts is the most entries (parts) an XLSX zip may hold; its
	// directory is checked before it is read. Default 1,000.
	MaxXLSXParts int
	// MaxXLSXPartBytes is the largest uncompressed size, as declared in the
	// zip directory (and enforced while inflating), of the sheet and the
	// shared-string table; the workbook, relationship and styles parts may
	// have at most 16 MiB. Parts Read does not need are never inflated.
	// Default 512 MiB.
	MaxXLSXPartBytes int64
	// MaxXLSXRatio is the highest compression ratio (uncompressed size over
	// compressed size) of a part Read inflates, once the part is over
	// 1 MiB: a zip bomb ends the read before any of it is inflated.
	// Default 100.
	MaxXLSXRatio int
	// MaxSharedStrings is the most entries in an XLSX shared-string table.
	// Each costs 4 bytes of memory, its text up to 16 MiB in memory and the
	// rest in a temporary file. Default 4,000,000.
	MaxSharedStrings int
}

// DefaultLimits returns the defaults documented on Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxRows:          10_000_000,
		MaxRowBytes:      64 << 10,
		MaxCellBytes:     32 << 10,
		MaxColumns:       64,
		MaxBadRows:       10_000,
		MaxXLSXBytes:     256 << 20,
		MaxXLSXParts:     1_000,
		MaxXLSXPartBytes: 512 << 20,
		MaxXLSXRatio:     100,
		MaxSharedStrings: 4_000_000,
	}
}

// Validate reports limits that cannot work: every field must be positive,
// except MaxBadRows, which may be 0; MaxXLSXPartBytes must be below 4 GiB.
func (l Limits) Validate() error {
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s %d must be positive: %w", name, v, ErrInvalidLimits))
		}
	}
	positive("max rows", int64(l.MaxRows))
	positive("max row bytes", int64(l.MaxRowBytes))
	positive("max cell bytes", int64(l.MaxCellBytes))
	positive("max columns", int64(l.MaxColumns))
	if l.MaxBadRows < 0 {
		errs = append(errs, fmt.Errorf("max bad rows %d must not be negative: %w", l.MaxBadRows, ErrInvalidLimits))
	}
	positive("max xlsx bytes", l.MaxXLSXBytes)
	positive("max xlsx parts", int64(l.MaxXLSXParts))
	positive("max xlsx part bytes", l.MaxXLSXPartBytes)
	if l.MaxXLSXPartBytes >= 4<<30 {
		errs = append(errs, fmt.Errorf("max xlsx part bytes %d must be below 4 GiB: %w", l.MaxXLSXPartBytes, ErrInvalidLimits))
	}
	positive("max xlsx ratio", int64(l.MaxXLSXRatio))
	positive("max shared strings", int64(l.MaxSharedStrings))
	return errors.Join(errs...)
}
