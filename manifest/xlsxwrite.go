package manifest

import (
	"archive/zip"
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrTooManyRows is returned by an XLSX Writer's Write past the last row a
// sheet holds (1,048,576, the header included). The rows written before stay
// good: Close still finishes a valid workbook of them.
var ErrTooManyRows = errors.New("too many results for an xlsx sheet")

// MaxXLSXResults is how many results one XLSX export holds (a sheet's rows less the
// header); ask larger exports as CSV or JSONL.
const MaxXLSXResults = xlsxMaxRows - 1

// xlsxMaxCellChars is the most characters (UTF-16 code units) Excel keeps in
// a cell; longer text is cut there.
const xlsxMaxCellChars = 32767

// Cell styles, indexes into styles.xml's cellXfs.
const (
	styleNone   = 0
	styleHeader = 1 // bold
	styleMoney  = 2 // #,##0.00
)

// xlsxColumn is one column of the results sheet.
type xlsxColumn struct {
	name  string
	width float64 // in characters
}

// xlsxWriter writes results as a workbook of one sheet: the sheet streams
// into the zip as rows come and the parts that depend on the row count
// (workbook.xml's filter range) are written by Close, so memory does not grow
// with the number of rows.
type xlsxWriter struct {
	zw      *zip.Writer
	bw      *bufio.Writer // over the sheet part
	meta    []string
	outputs []string
	cost    bool
	sheet   string
	cols    []xlsxColumn
	refs    []string // column letters, A, B, ...
	row     int      // the sheet row last written; the header is 1
	maxRows int      // data rows allowed; a sheet's less the header, smaller in tests
	buf     []byte   // one row's XML
	err     error    // sticky: the first write error
	closed  bool
}

// newXLSXWriter checks o, writes the fixed parts and the sheet's header.
func newXLSXWriter(w io.Writer, o WriterOptions) (*xlsxWriter, error) {
	sheet := o.Sheet
	if sheet == "" {
		sheet = "results"
	}
	if err := checkSheetName(sheet); err != nil {
		return nil, err
	}
	x := &xlsxWriter{meta: o.MetaColumns, outputs: o.Outputs, cost: o.Currency != "", sheet: sheet,
		maxRows: xlsxMaxRows - 1}
	add := func(name string, width float64) { x.cols = append(x.cols, xlsxColumn{name, width}) }
	add("row", 7)
	add("sku", 16)
	add("url", 48)
	add("image_id", 24)
	for _, m := range o.MetaColumns {
		add(m, min(max(float64(utf8.RuneCountInString(m))+2, 14), 40))
	}
	add("state", 11)
	add("error", 40)
	add("review", 10)
	add("checks", 28)
	for _, n := range o.Outputs {
		if strings.TrimSpace(n) == "" {
			return nil, fmt.Errorf("output name %q is blank", n)
		}
		add(n+" url", 48)
		add(n+" width", float64(min(utf8.RuneCountInString(n), 30))+8)
		add(n+" height", float64(min(utf8.RuneCountInString(n), 30))+9)
		add(n+" bytes", float64(min(utf8.RuneCountInString(n), 30))+8)
	}
	if x.cost {
		add("cost ("+o.Currency+")", float64(min(utf8.RuneCountInString(o.Currency), 20))+9)
	}
	add("gpu_seconds", 13)
	add("cpu_seconds", 13)
	add("check details", 48)
	if len(x.cols) > xlsxMaxColumns {
		return nil, fmt.Errorf("%d columns, more than the %d a sheet holds", len(x.cols), xlsxMaxColumns)
	}
	seen := make(map[string]bool, len(x.cols))
	for _, c := range x.cols {
		k := strings.ToLower(c.name)
		if seen[k] {
			return nil, fmt.Errorf("column %q duplicates another results column", c.name)
		}
		seen[k] = true
	}
	x.refs = make([]string, len(x.cols))
	for i := range x.refs {
		x.refs[i] = columnName(i + 1)
	}

	x.zw = zip.NewWriter(w)
	for _, p := range []struct{ name, body string }{
		{"[Content_Types].xml", xlsxContentTypes},
		{"_rels/.rels", xlsxRootRels},
		{"xl/_rels/workbook.xml.rels", xlsxWorkbookRels},
		{"xl/styles.xml", xlsxStyles},
	} {
		if err := x.part(p.name, p.body); err != nil {
			return nil, err
		}
	}
	pw, err := x.create("xl/worksheets/sheet1.xml")
	if err != nil {
		return nil, fmt.Errorf("write xlsx sheet: %w", err)
	}
	x.bw = bufio.NewWriterSize(pw, 32<<10)
	b := append(x.buf[:0], xml.Header...)
	b = append(b, `<worksheet xmlns="`+nsMain+`" xmlns:r="`+nsRel+`">`+
		`<sheetViews><sheetView tabSelected="1" workbookViewId="0">`+
		`<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>`+
		`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>`+
		`<sheetFormatPr defaultRowHeight="15"/><cols>`...)
	for i, c := range x.cols {
		b = fmt.Appendf(b, `<col min="%d" max="%d" width="%g" customWidth="1"/>`, i+1, i+1, c.width)
	}
	b = append(b, `</cols><sheetData><row r="1">`...)
	for i, c := range x.cols {
		b = x.text(b, i, c.name, styleHeader)
	}
	b = append(b, "</row>"...)
	x.row = 1
	x.buf = b
	if _, err := x.bw.Write(b); err != nil {
		return nil, fmt.Errorf("write xlsx header: %w", err)
	}
	return x, nil
}

// zipTime is every part's modification time: a fixed one, so that the same
// results make the same bytes (a zero time reads as month 0 in zip listings).
var zipTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// create starts a compressed part.
func (x *xlsxWriter) create(name string) (io.Writer, error) {
	return x.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime})
}

// part writes a whole small part.
func (x *xlsxWriter) part(name, body string) error {
	pw, err := x.create(name)
	if err == nil {
		_, err = io.WriteString(pw, body)
	}
	if err != nil {
		return fmt.Errorf("write xlsx %s: %w", name, err)
	}
	return nil
}

// Write adds r as the next row. Text is written as inline strings, which a
// spreadsheet never evaluates, so "=HYPERLINK(...)" stays text.
func (x *xlsxWriter) Write(r Result) error {
	switch {
	case x.closed:
		return ErrWriterClosed
	case x.err != nil:
		return x.err
	case x.row-1 >= x.maxRows:
		return fmt.Errorf("result row %d: more than %d results: %w", r.Row, x.maxRows, ErrTooManyRows)
	}
	n := x.row + 1
	b := strconv.AppendInt(append(x.buf[:0], `<row r="`...), int64(n), 10)
	b = append(b, `">`...)
	col := 0
	next := func() int { col++; return col - 1 }
	b = x.int(b, next(), int64(r.Row), true)
	b = x.text(b, next(), r.SKU, styleNone)
	url, imageID := r.Source, ""
	if !isHTTP(r.Source) {
		url, imageID = "", r.Source
	}
	b = x.text(b, next(), url, styleNone)
	b = x.text(b, next(), imageID, styleNone)
	for _, m := range x.meta {
		b = x.text(b, next(), r.Meta[m], styleNone)
	}
	b = x.text(b, next(), r.State, styleNone)
	b = x.text(b, next(), r.Error, styleNone)
	b = x.text(b, next(), r.Review, styleNone)
	b = x.text(b, next(), r.Checks, styleNone)
	for _, name := range x.outputs {
		var o Output
		for _, ro := range r.Outputs {
			if ro.Name == name {
				o = ro
				break
			}
		}
		b = x.text(b, next(), o.URL, styleNone)
		b = x.int(b, next(), int64(o.Width), false)
		b = x.int(b, next(), int64(o.Height), false)
		b = x.int(b, next(), o.Bytes, false)
	}
	if x.cost {
		i := next()
		if r.Cost != nil {
			b = x.float(b, i, *r.Cost, styleMoney)
		}
	}
	b = x.float(b, next(), r.GPUSeconds, styleNone)
	b = x.float(b, next(), r.CPUSeconds, styleNone)
	b = x.text(b, next(), checkDetails(r.CheckDetail), styleNone)
	b = append(b, "</row>"...)
	x.buf = b
	if _, err := x.bw.Write(b); err != nil {
		x.err = fmt.Errorf("write result row %d: %w", r.Row, err)
		return x.err
	}
	x.row = n
	return nil
}

// Close ends the sheet, writes the workbook and the zip directory.
func (x *xlsxWriter) Close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	if x.err != nil {
		return x.err
	}
	last := x.refs[len(x.refs)-1]
	filter := fmt.Sprintf("A1:%s%d", last, x.row)
	_, err := x.bw.WriteString(`</sheetData><autoFilter ref="` + filter + `"/>` +
		`<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`)
	if err == nil {
		err = x.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write xlsx sheet: %w", err)
	}
	var wb strings.Builder
	wb.WriteString(xml.Header + `<workbook xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">` +
		`<bookViews><workbookView activeTab="0"/></bookViews><sheets><sheet name="`)
	_ = xml.EscapeText(&wb, []byte(x.sheet)) // a strings.Builder does not fail
	wb.WriteString(`" sheetId="1" r:id="rId1"/></sheets><definedNames>` +
		`<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">`)
	_ = xml.EscapeText(&wb, []byte("'"+strings.ReplaceAll(x.sheet, "'", "''")+"'!$A$1:$"+last+"$"+strconv.Itoa(x.row)))
	wb.WriteString(`</definedName></definedNames></workbook>`)
	if err := x.part("xl/workbook.xml", wb.String()); err != nil {
		return err
	}
	if err := x.zw.Close(); err != nil {
		return fmt.Errorf("write xlsx directory: %w", err)
	}
	return nil
}

// text appends cell i as an inline string, or nothing when s is empty after
// cleaning (see cellText).
func (x *xlsxWriter) text(b []byte, i int, s string, style int) []byte {
	s = cellText(s)
	if s == "" {
		return b
	}
	b = x.cellStart(b, i, style)
	b = append(b, ` t="inlineStr"><is><t`...)
	if c := s[0]; c == ' ' || c == '\t' || c == '\n' || c == '\r' || strings.ContainsAny(s[len(s)-1:], " \t\n\r") {
		b = append(b, ` xml:space="preserve"`...)
	}
	b = append(b, '>')
	b = appendEscaped(b, s)
	return append(b, `</t></is></c>`...)
}

// int appends cell i as a number; a zero is left out unless zero is true.
func (x *xlsxWriter) int(b []byte, i int, v int64, zero bool) []byte {
	if v == 0 && !zero {
		return b
	}
	b = x.cellStart(b, i, styleNone)
	b = append(b, ` t="n"><v>`...)
	b = strconv.AppendInt(b, v, 10)
	return append(b, `</v></c>`...)
}

// float appends cell i as a number, or nothing when v is not finite (a
// sheet has no NaN or infinity).
func (x *xlsxWriter) float(b []byte, i int, v float64, style int) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b
	}
	b = x.cellStart(b, i, style)
	b = append(b, ` t="n"><v>`...)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, `</v></c>`...)
}

func (x *xlsxWriter) cellStart(b []byte, i, style int) []byte {
	b = append(b, `<c r="`...)
	b = append(b, x.refs[i]...)
	b = strconv.AppendInt(b, int64(x.row+1), 10)
	b = append(b, '"')
	if style != styleNone {
		b = append(b, ` s="`...)
		b = strconv.AppendInt(b, int64(style), 10)
		b = append(b, '"')
	}
	return b
}

// cellText returns s as a cell can hold it: invalid UTF-8 becomes U+FFFD,
// characters XML 1.0 forbids (control characters other than tab, newline and
// carriage return; U+FFFE, U+FFFF) are dropped, and the text is cut at
// 32,767 UTF-16 code units, Excel's most, without splitting a character.
func cellText(s string) string {
	clean := len(s) <= xlsxMaxCellChars // UTF-16 units <= bytes
	for i := 0; clean && i < len(s); i++ {
		c := s[i]
		clean = c >= 0x20 && c < 0x7F || c == '\t' || c == '\n' || c == '\r'
	}
	if clean {
		return s
	}
	var sb strings.Builder
	units := 0
	for _, r := range s { // ranging turns invalid UTF-8 into U+FFFD
		if !xmlChar(r) {
			continue
		}
		n := utf16.RuneLen(r)
		if units+n > xlsxMaxCellChars {
			break
		}
		units += n
		sb.WriteRune(r)
	}
	return sb.String()
}

// xmlChar reports whether r may appear in an XML 1.0 document.
func xmlChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20:
		return false
	case r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// appendEscaped appends s escaped for XML text. A literal "_xHHHH_" has its
// underscore written as "_x005F_", as Excel does, so readers that decode
// those escapes (Excel, excelize, Read) give the text back as written.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\r':
			b = append(b, "&#xD;"...) // a raw CR would be read as a newline
		case '_':
			if bstrEscape(s[i:]) {
				b = append(b, "_x005F_"...)
			} else {
				b = append(b, c)
			}
		default:
			b = append(b, c)
		}
	}
	return b
}

// bstrEscape reports whether s starts with _xHHHH_.
func bstrEscape(s string) bool {
	if len(s) < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, c := range []byte(s[2:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkDetails formats checks as "name value/threshold verdict; ...".
func checkDetails(cs []CheckCell) string {
	if len(cs) == 0 {
		return ""
	}
	var b []byte
	for i, c := range cs {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, c.Name...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, c.Value, 'g', 6, 64)
		b = append(b, '/')
		b = strconv.AppendFloat(b, c.Threshold, 'g', 6, 64)
		b = append(b, ' ')
		b = append(b, c.Verdict...)
	}
	return string(b)
}

// isHTTP reports whether a result's source is a URL rather than an image ID.
func isHTTP(s string) bool {
	return len(s) >= 7 && strings.EqualFold(s[:7], "http://") || len(s) >= 8 && strings.EqualFold(s[:8], "https://")
}

// columnName returns the letters of 1-based column n: A, ..., Z, AA, ...
func columnName(n int) string {
	var b []byte
	for n > 0 {
		n--
		b = append([]byte{byte('A' + n%26)}, b...)
		n /= 26
	}
	return string(b)
}

// checkSheetName applies Excel's rules for a sheet name.
func checkSheetName(s string) error {
	units := 0
	for _, r := range s {
		units += utf16.RuneLen(r)
		if !xmlChar(r) || r < 0x20 || r == utf8.RuneError {
			return fmt.Errorf("sheet name %q has a control or invalid character", s)
		}
	}
	switch {
	case units > 31:
		return fmt.Errorf("sheet name %q is longer than 31 characters", s)
	case strings.ContainsAny(s, `:\/?*[]`):
		return fmt.Errorf(`sheet name %q has one of : \ / ? * [ ]`, s)
	case strings.HasPrefix(s, "'") || strings.HasSuffix(s, "'"):
		return fmt.Errorf("sheet name %q starts or ends with an apostrophe", s)
	case strings.EqualFold(s, "history"):
		return fmt.Errorf("sheet name %q is reserved", s)
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("sheet name %q is blank", s)
	}
	return nil
}

// The namespaces of the parts.
const (
	nsMain = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsRel  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsPkg  = "http://schemas.openxmlformats.org/package/2006/relationships"
)

const xlsxContentTypes = xml.Header + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
	`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
	`<Default Extension="xml" ContentType="application/xml"/>` +
	`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
	`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
	`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
	`</Types>`

const xlsxRootRels = xml.Header + `<Relationships xmlns="` + nsPkg + `">` +
	`<Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/>` +
	`</Relationships>`

const xlsxWorkbookRels = xml.Header + `<Relationships xmlns="` + nsPkg + `">` +
	`<Relationship Id="rId1" Type="` + nsRel + `/worksheet" Target="worksheets/sheet1.xml"/>` +
	`<Relationship Id="rId2" Type="` + nsRel + `/styles" Target="styles.xml"/>` +
	`</Relationships>`

// xlsxStyles has the cell formats styleNone, styleHeader (bold) and
// styleMoney (built-in format 4, #,##0.00).
const xlsxStyles = xml.Header + `<styleSheet xmlns="` + nsMain + `">` +
	`<fonts count="2">` +
	`<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>` +
	`<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>` +
	`</fonts>` +
	`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
	`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
	`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
	`<cellXfs count="3">` +
	`<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
	`<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>` +
	`<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
	`</cellXfs>` +
	`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>` +
	`</styleSheet>`
