package manifest

import (
	"archive/zip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// xlsxMaxRows and xlsxMaxColumns are the sheet size of the format itself:
// row 1,048,576 and column XFD.
const (
	xlsxMaxRows    = 1 << 20
	xlsxMaxColumns = 16384
)

// readXLSX reads the first sheet of a workbook: the zip directory is
// checked, then the parts are streamed one at a time (see Read).
func readXLSX(r io.Reader, s *sink) error {
	file, size, cleanup, err := xlsxFile(s.ctx, r, s.lim)
	if err != nil {
		return err
	}
	defer cleanup()
	z, err := openXLSXZip(file, size, s.lim)
	if err != nil {
		return err
	}
	wb, err := z.workbook(s.ctx)
	if err != nil {
		return err
	}
	var sst sharedStrings
	defer sst.close()
	if wb.sst != nil {
		p, err := z.open(s.ctx, wb.sst, s.lim.MaxXLSXPartBytes, "MaxXLSXPartBytes")
		if err != nil {
			return err
		}
		// The declared size bounds the text (archive/zip enforces it): one
		// allocation instead of a doubling series and its garbage.
		sst.mem = make([]byte, 0, min(sstMemBytes, int(wb.sst.UncompressedSize64)))
		err = readSharedStrings(p, s.lim, &sst)
		_ = p.Close()
		if err != nil {
			return err
		}
	}
	var kinds []uint8
	if wb.styles != nil {
		p, err := z.open(s.ctx, wb.styles, z.smallPart(), "MaxXLSXPartBytes")
		if err != nil {
			return err
		}
		kinds, err = readStyles(p)
		_ = p.Close()
		if err != nil {
			return err
		}
	}
	p, err := z.open(s.ctx, wb.sheet, s.lim.MaxXLSXPartBytes, "MaxXLSXPartBytes")
	if err != nil {
		return err
	}
	defer p.Close()
	sr := sheetReader{s: s, p: p, sst: &sst, kinds: kinds, date1904: wb.date1904}
	if err := sr.read(); err != nil {
		return err
	}
	if sr.h == nil {
		return fmt.Errorf("first sheet %q is empty: %w", wb.sheetName, ErrInvalidManifest)
	}
	return nil
}

// smallPart is the most a workbook, relationship or styles part may hold.
func (z *xlsxZip) smallPart() int64 {
	return min(xlsxSmallPartBytes, z.lim.MaxXLSXPartBytes)
}

// workbookParts are the parts readXLSX reads; sst and styles may be nil.
type workbookParts struct {
	sheet, sst, styles *zip.File
	sheetName          string
	date1904           bool
}

// Relationship types, matched by suffix so that both transitional
// (schemas.openxmlformats.org) and strict (purl.oclc.org) workbooks work.
const (
	relOfficeDocument = "/officeDocument"
	relWorksheet      = "/worksheet"
	relSharedStrings  = "/sharedStrings"
	relStyles         = "/styles"
)

// workbook finds the first sheet, the shared strings and the styles through
// the package and workbook relationships, as excelize does.
func (z *xlsxZip) workbook(ctx context.Context) (workbookParts, error) {
	var wb workbookParts
	wbPath := "xl/workbook.xml"
	if err := z.scan(ctx, "_rels/.rels", func(se xml.StartElement) bool {
		if se.Name.Local == "Relationship" && strings.HasSuffix(attr(se, "Type"), relOfficeDocument) && attr(se, "TargetMode") != "External" {
			wbPath = resolve("", attr(se, "Target"))
			return true
		}
		return false
	}); err != nil {
		return wb, err
	}
	if z.part(wbPath) == nil {
		return wb, fmt.Errorf("not an xlsx workbook: no part %s: %w", wbPath, ErrInvalidManifest)
	}
	sheetID, inSheets := "", false
	if err := z.scan(ctx, wbPath, func(se xml.StartElement) bool {
		switch se.Name.Local {
		case "workbookPr":
			v := attr(se, "date1904")
			wb.date1904 = v == "1" || v == "true"
		case "sheets":
			inSheets = true
		case "sheet":
			if !inSheets {
				return false
			}
			wb.sheetName = attr(se, "name")
			for _, a := range se.Attr {
				if a.Name.Local == "id" && a.Name.Space != "" {
					sheetID = a.Value
				}
			}
			return true
		}
		return false
	}); err != nil {
		return wb, err
	}
	if sheetID == "" {
		return wb, fmt.Errorf("workbook has no sheet: %w", ErrInvalidManifest)
	}
	sheetPath, sheetType, sstPath, stylesPath := "", "", "", ""
	if err := z.scan(ctx, relsOf(wbPath), func(se xml.StartElement) bool {
		if se.Name.Local != "Relationship" || attr(se, "TargetMode") == "External" {
			return false
		}
		typ, target := attr(se, "Type"), resolve(wbPath, attr(se, "Target"))
		switch {
		case attr(se, "Id") == sheetID && sheetPath == "":
			sheetPath, sheetType = target, typ
		case strings.HasSuffix(typ, relSharedStrings) && sstPath == "":
			sstPath = target
		case strings.HasSuffix(typ, relStyles) && stylesPath == "":
			stylesPath = target
		}
		return false
	}); err != nil {
		return wb, err
	}
	switch {
	case sheetPath == "":
		return wb, fmt.Errorf("first sheet %q has no part: %w", wb.sheetName, ErrInvalidManifest)
	case !strings.HasSuffix(sheetType, relWorksheet):
		return wb, fmt.Errorf("first sheet %q is not a worksheet: %w", wb.sheetName, ErrInvalidManifest)
	}
	if wb.sheet = z.part(sheetPath); wb.sheet == nil {
		return wb, fmt.Errorf("first sheet %q: no part %s: %w", wb.sheetName, sheetPath, ErrInvalidManifest)
	}
	if sstPath == "" {
		sstPath = "xl/sharedStrings.xml"
	}
	if stylesPath == "" {
		stylesPath = "xl/styles.xml"
	}
	wb.sst, wb.styles = z.part(sstPath), z.part(stylesPath)
	return wb, nil
}

// scan streams a small part, calling fn with each start element until fn
// returns true. A missing part is not an error.
func (z *xlsxZip) scan(ctx context.Context, name string, fn func(xml.StartElement) bool) error {
	f := z.part(name)
	if f == nil {
		return nil
	}
	p, err := z.open(ctx, f, z.smallPart(), "MaxXLSXPartBytes")
	if err != nil {
		return err
	}
	defer p.Close()
	for {
		tok, err := p.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && fn(se) {
			return nil
		}
	}
}

// sheetReader streams the rows of a worksheet into the sink.
type sheetReader struct {
	s        *sink
	p        *xmlPart
	sst      *sharedStrings
	kinds    []uint8
	date1904 bool

	h        *header
	cells    []string
	rowNum   int // number of the current row
	rows     int // <row> elements seen
	rowBytes int

	// the current cell
	inCell, inV, inIS bool
	col, lastCol      int
	ctype             string
	style             int
	v                 []byte
	text              textReader
}

func (sr *sheetReader) read() error {
	sr.text.max = sr.s.lim.MaxCellBytes
	inSheetData := false
	for {
		tok, err := sr.p.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case !inSheetData:
				inSheetData = t.Name.Local == "sheetData"
			case sr.inCell:
				switch {
				case sr.inIS:
					sr.text.token(t)
				case t.Name.Local == "v":
					sr.inV = true
				case t.Name.Local == "is":
					sr.inIS = true
					sr.text.reset()
				}
			case t.Name.Local == "row":
				if err := sr.startRow(t); err != nil {
					return err
				}
			case t.Name.Local == "c":
				if err := sr.startCell(t); err != nil {
					return err
				}
			}
		case xml.EndElement:
			switch {
			case !inSheetData:
			case sr.inCell:
				switch {
				case t.Name.Local == "c":
					if err := sr.endCell(); err != nil {
						return err
					}
				case sr.inIS && t.Name.Local == "is":
					sr.inIS = false
				case sr.inIS:
					sr.text.token(t)
				case t.Name.Local == "v":
					sr.inV = false
				}
			case t.Name.Local == "row":
				if err := sr.endRow(); err != nil {
					return err
				}
			case t.Name.Local == "sheetData":
				return nil // the rest of the sheet is not needed
			}
		case xml.CharData:
			switch {
			case sr.inIS:
				sr.text.token(t)
				if sr.text.tooLarge {
					return sr.cellTooLarge()
				}
			case sr.inV:
				if len(sr.v)+len(t) > sr.s.lim.MaxCellBytes {
					return sr.cellTooLarge()
				}
				sr.v = append(sr.v, t...)
			}
		}
	}
}

func (sr *sheetReader) at() string {
	return fmt.Sprintf("row %d", sr.rowNum)
}

func (sr *sheetReader) cellTooLarge() error {
	return limitErr("MaxCellBytes", sr.at(), "cell %d larger than %d bytes", sr.col, sr.s.lim.MaxCellBytes)
}

func (sr *sheetReader) startRow(se xml.StartElement) error {
	if err := sr.s.next(); err != nil {
		return err
	}
	sr.rows++
	n := sr.rowNum + 1
	if r := attr(se, "r"); r != "" {
		var err error
		if n, err = strconv.Atoi(r); err != nil || n < 1 {
			return fmt.Errorf("after row %d: bad row number %.20q: %w", sr.rowNum, r, ErrInvalidManifest)
		}
	}
	if n > xlsxMaxRows || sr.rows > xlsxMaxRows {
		return fmt.Errorf("row %d: more than %d rows, the most a sheet holds: %w", n, xlsxMaxRows, ErrInvalidManifest)
	}
	sr.rowNum, sr.cells, sr.rowBytes, sr.lastCol = n, sr.cells[:0], 0, 0
	return nil
}

func (sr *sheetReader) startCell(se xml.StartElement) error {
	sr.inCell, sr.inV, sr.inIS = true, false, false
	sr.ctype, sr.style, sr.v = attr(se, "t"), -1, sr.v[:0]
	sr.text.reset()
	if s := attr(se, "s"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			sr.style = n
		}
	}
	sr.col = sr.lastCol + 1
	if ref := attr(se, "r"); ref != "" {
		col := columnOf(ref)
		if col == 0 {
			return fmt.Errorf("%s: bad cell reference %.20q: %w", sr.at(), ref, ErrInvalidManifest)
		}
		sr.col = col
	}
	if sr.col > xlsxMaxColumns {
		return fmt.Errorf("%s: cell past column XFD: %w", sr.at(), ErrInvalidManifest)
	}
	return nil
}

func (sr *sheetReader) endCell() error {
	sr.inCell = false
	sr.lastCol = sr.col
	val, err := sr.value()
	if err != nil {
		return err
	}
	if val == "" {
		return nil
	}
	if len(val) > sr.s.lim.MaxCellBytes {
		return sr.cellTooLarge()
	}
	sr.rowBytes += len(val)
	if sr.rowBytes > sr.s.lim.MaxRowBytes {
		return limitErr("MaxRowBytes", sr.at(), "row larger than %d bytes", sr.s.lim.MaxRowBytes)
	}
	for len(sr.cells) < sr.col {
		sr.cells = append(sr.cells, "")
	}
	sr.cells[sr.col-1] = val
	return nil
}

// value is the current cell's text (see Read).
func (sr *sheetReader) value() (string, error) {
	switch sr.ctype {
	case "s":
		v := strings.TrimSpace(string(sr.v))
		if v == "" {
			return "", nil
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			return "", fmt.Errorf("%s: cell %d: bad shared string index %.20q: %w", sr.at(), sr.col, v, ErrInvalidManifest)
		}
		s, ok, err := sr.sst.get(i)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%s: cell %d: no shared string %d: %w", sr.at(), sr.col, i, ErrInvalidManifest)
		}
		return s, nil
	case "inlineStr":
		return string(unescapeBSTR(sr.text.buf)), nil
	case "b":
		switch string(sr.v) {
		case "1":
			return "TRUE", nil
		case "0":
			return "FALSE", nil
		}
		return string(sr.v), nil
	case "str", "e", "d":
		return string(sr.v), nil
	}
	if len(sr.v) == 0 {
		return "", nil
	}
	kind := fmtNumber
	if sr.style >= 0 && sr.style < len(sr.kinds) {
		kind = sr.kinds[sr.style]
	}
	return formatNumber(string(sr.v), kind, sr.date1904), nil
}

func (sr *sheetReader) endRow() error {
	cells := sr.cells
	if sr.h == nil {
		if allEmpty(cells) {
			return nil // leading empty rows before the header
		}
		h, err := newHeader(cells, "row", sr.rowNum, sr.s.lim)
		if err != nil {
			return err
		}
		sr.h = h
		return nil
	}
	return deliver(sr.s, sr.h, sr.rowNum, cells)
}

// columnOf returns the 1-based column of a cell reference such as "AB12",
// or 0 when ref is not one.
func columnOf(ref string) int {
	col, i := 0, 0
	for ; i < len(ref) && i < 3; i++ {
		c := ref[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			break
		}
		col = col*26 + int(c-'a'+1)
	}
	if i == 0 || col > xlsxMaxColumns {
		return 0
	}
	if i == len(ref) {
		return col
	}
	if _, err := strconv.Atoi(ref[i:]); err != nil {
		return 0
	}
	return col
}

// formatNumber shows a numeric cell: under a date or time format as ISO
// text, otherwise as Excel's General format does (at most 15 significant
// digits), as excelize does.
func formatNumber(v string, kind uint8, date1904 bool) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.Contains(v, "_") {
		return v
	}
	if kind != fmtNumber {
		if t, ok := excelTime(f, date1904); ok {
			switch kind {
			case fmtDate:
				return t.Format(time.DateOnly)
			case fmtTime:
				return t.Format(time.TimeOnly)
			default:
				return t.Format(time.DateTime)
			}
		}
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if prec := len(s) - strings.Count(s, "."); prec > 15 && !integerWithinPrecision(v) {
		return strconv.FormatFloat(f, 'G', 15, 64)
	}
	return s
}

// integerWithinPrecision reports an integer with at most 15 significant
// digits followed by zeros.
func integerWithinPrecision(s string) bool {
	if strings.ContainsAny(s, ".Ee") {
		return false
	}
	s = strings.TrimLeft(s, "+-0")
	return len(strings.TrimRight(s, "0")) <= 15
}

// excelTime converts a date serial to a time: days since 1899-12-30 (or
// 1904-01-01 in a 1904 workbook), with Excel's fictitious 1900-02-29 as
// serial 60, which has no time and is shown as a number.
func excelTime(v float64, date1904 bool) (time.Time, bool) {
	if v < 0 || v >= 2958466 { // 10000-01-01
		return time.Time{}, false
	}
	days := math.Floor(v)
	secs := math.Round((v - days) * 86400)
	var base time.Time
	switch {
	case date1904:
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	case days < 60:
		base = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)
	case days == 60:
		return time.Time{}, false
	default:
		base = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	}
	return base.AddDate(0, 0, int(days)).Add(time.Duration(secs) * time.Second), true
}
