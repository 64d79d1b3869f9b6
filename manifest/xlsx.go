package manifest

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/xuri/excelize/v2"
)

const (
	// xlsxSpillBytes is the size over which excelize unzips a worksheet or
	// the shared-string table to a temporary file instead of memory.
	xlsxSpillBytes = 1 << 20
	// xlsxMaxInMemory bounds the workbook parts excelize keeps in memory.
	xlsxMaxInMemory = 64 << 20
	// xlsxUnzipFactor bounds the uncompressed workbook: MaxXLSXBytes times this.
	xlsxUnzipFactor = 16
)

func readXLSX(r io.Reader, s *sink) error {
	name, cleanup, err := xlsxFile(r, s.lim)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := checkZip(name); err != nil {
		return err
	}
	wb, err := excelize.OpenFile(name, excelize.Options{
		UnzipXMLSizeLimit: xlsxSpillBytes,
		UnzipSizeLimit:    max(s.lim.MaxXLSXBytes*xlsxUnzipFactor, xlsxSpillBytes),
	})
	if err != nil {
		return fmt.Errorf("open workbook: %v: %w", err, ErrInvalidManifest)
	}
	defer wb.Close() // removes excelize's temporary files
	sheets := wb.GetSheetList()
	if len(sheets) == 0 {
		return fmt.Errorf("workbook has no sheet: %w", ErrInvalidManifest)
	}
	rows, err := wb.Rows(sheets[0])
	if err != nil {
		return fmt.Errorf("sheet %q: %v: %w", sheets[0], err, ErrInvalidManifest)
	}
	defer rows.Close()
	var h *header
	number := 0 // Rows.Next visits every row number, filling gaps with empty rows
	for {
		if err := s.next(); err != nil {
			return err
		}
		if !rows.Next() {
			break
		}
		number++
		cells, err := rows.Columns()
		if err != nil {
			return fmt.Errorf("row %d: %v: %w", number, err, ErrInvalidManifest)
		}
		size := 0
		for _, c := range cells {
			size += len(c)
		}
		if size > s.lim.MaxRowBytes {
			return fmt.Errorf("row %d: row larger than %d bytes: %w", number, s.lim.MaxRowBytes, ErrInvalidManifest)
		}
		if h == nil {
			if allEmpty(cells) {
				continue // leading empty rows before the header
			}
			if h, err = newHeader(cells, "row", number, s.lim); err != nil {
				return err
			}
			continue
		}
		if err := deliver(s, h, number, cells); err != nil {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		return fmt.Errorf("after row %d: %v: %w", number, err, ErrInvalidManifest)
	}
	if h == nil {
		return fmt.Errorf("first sheet %q is empty: %w", sheets[0], ErrInvalidManifest)
	}
	return nil
}

// xlsxFile returns the path of a file holding the workbook: r's own file
// when r is a regular *os.File, otherwise a temporary copy of r.
func xlsxFile(r io.Reader, lim Limits) (string, func(), error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if named, err := os.Stat(f.Name()); err == nil && os.SameFile(fi, named) {
				if fi.Size() > lim.MaxXLSXBytes {
					return "", nil, fmt.Errorf("workbook of %d bytes is larger than %d: %w", fi.Size(), lim.MaxXLSXBytes, ErrInvalidManifest)
				}
				return f.Name(), func() {}, nil
			}
		}
	}
	tmp, err := os.CreateTemp("", "pictor-manifest-*.xlsx")
	if err != nil {
		return "", nil, fmt.Errorf("spill workbook: %w", err)
	}
	cleanup := func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, io.LimitReader(r, lim.MaxXLSXBytes+1))
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spill workbook: %w", err)
	}
	if n > lim.MaxXLSXBytes {
		cleanup()
		return "", nil, fmt.Errorf("workbook is larger than %d bytes: %w", lim.MaxXLSXBytes, ErrInvalidManifest)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spill workbook: %w", err)
	}
	return tmp.Name(), cleanup, nil
}

// checkZip makes sure the workbook is a zip and that the parts excelize
// would load into memory (all but large worksheets and shared strings) stay
// within xlsxMaxInMemory. archive/zip refuses entries that inflate past
// their declared size, so the declared sizes can be trusted.
func checkZip(name string) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return fmt.Errorf("not an xlsx workbook: %v: %w", err, ErrInvalidManifest)
	}
	defer zr.Close()
	var inMemory uint64
	for _, f := range zr.File {
		size := f.UncompressedSize64
		lower := strings.ToLower(strings.ReplaceAll(f.Name, "\\", "/"))
		spilled := size > xlsxSpillBytes &&
			(strings.HasPrefix(lower, "xl/worksheets/sheet") || lower == "xl/sharedstrings.xml")
		if !spilled {
			inMemory += size
		}
	}
	if inMemory > xlsxMaxInMemory {
		return fmt.Errorf("workbook parts of %d bytes exceed %d: %w", inMemory, xlsxMaxInMemory, ErrInvalidManifest)
	}
	return nil
}
