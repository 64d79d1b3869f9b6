package manifest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// bufSize is the read buffer for CSV and JSONL, and how far the CSV
// delimiter sniffing looks for the header line.
const bufSize = 64 << 10

// errRowTooLarge is returned by boundedReader to stop encoding/csv from
// buffering a record without end.
var errRowTooLarge = errors.New("row too large")

// boundedReader counts the bytes read from r and refuses to read more once
// the record that began at start has grown past max.
type boundedReader struct {
	r     io.Reader
	n     int64 // bytes read from r
	start int64 // offset in r where the current record starts
	max   int64 // largest allowed n-start
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n-b.start > b.max {
		return 0, errRowTooLarge
	}
	k, err := b.r.Read(p)
	b.n += int64(k)
	return k, err
}

// openText wraps r in a buffered reader, rejects UTF-16 and skips a UTF-8
// byte order mark, returning the mark's length.
func openText(r io.Reader, lim Limits) (*bufio.Reader, *boundedReader, int64, error) {
	bounded := &boundedReader{r: r, max: int64(lim.MaxRowBytes) + 2*bufSize}
	br := bufio.NewReaderSize(bounded, bufSize)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, 0, fmt.Errorf("read manifest: %w", err)
	}
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return nil, nil, 0, fmt.Errorf("manifest is UTF-16, save it as UTF-8: %w", ErrInvalidManifest)
	}
	if bytes.HasPrefix(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		return br, bounded, int64(len(utf8BOM)), nil
	}
	return br, bounded, 0, nil
}

func readCSV(r io.Reader, s *sink) error {
	br, bounded, bom, err := openText(r, s.lim)
	if err != nil {
		return err
	}
	cr := csv.NewReader(br)
	cr.Comma = sniffDelimiter(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var h *header
	nextLine := 1 // first line after the last record, for messages
	for {
		if err := s.next(); err != nil {
			return err
		}
		start := bom + cr.InputOffset()
		bounded.start = start
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errRowTooLarge) {
			return limitErr("MaxRowBytes", fmt.Sprintf("line %d", nextLine), "row larger than %d bytes", s.lim.MaxRowBytes)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if h == nil || pe.StartLine != pe.Line {
				// An unterminated quote swallows the lines after it: what
				// they held cannot be known, so the manifest is rejected.
				return fmt.Errorf("line %d: %v: %w", pe.StartLine, pe.Err, ErrInvalidManifest)
			}
			nextLine = pe.Line + 1
			if err := s.reject(pe.StartLine, fmt.Sprintf("column %d: %v", pe.Column, pe.Err)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read csv after line %d: %w", nextLine-1, err)
		}
		line, _ := cr.FieldPos(0)
		nextLine = line + 1
		for _, f := range rec {
			nextLine += strings.Count(f, "\n")
		}
		if bom+cr.InputOffset()-start > int64(s.lim.MaxRowBytes) {
			return limitErr("MaxRowBytes", fmt.Sprintf("line %d", line), "row larger than %d bytes", s.lim.MaxRowBytes)
		}
		if h == nil {
			if h, err = newHeader(rec, "line", line, s.lim); err != nil {
				return err
			}
			continue
		}
		if err := deliver(s, h, line, rec); err != nil {
			return err
		}
	}
	if h == nil {
		return fmt.Errorf("manifest is empty: %w", ErrInvalidManifest)
	}
	return nil
}

// deliver sends one tabular record to the sink.
func deliver(s *sink, h *header, number int, rec []string) error {
	row, bad, skip, fatal := h.row(number, rec)
	switch {
	case fatal != nil:
		return fatal
	case skip:
		return nil
	case bad != "":
		return s.reject(number, bad)
	}
	return s.emit(row)
}

// sniffDelimiter picks the separator of the header line: the first of
// comma, semicolon, tab and pipe that yields a url or image_id column.
// It defaults to comma.
func sniffDelimiter(br *bufio.Reader) rune {
	head, _ := br.Peek(bufSize)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	for _, d := range []rune{',', ';', '\t', '|'} {
		cr := csv.NewReader(bytes.NewReader(head))
		cr.Comma = d
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		fields, err := cr.Read()
		if err != nil {
			continue
		}
		for _, f := range fields {
			switch strings.ToLower(strings.TrimSpace(f)) {
			case colURL, colImageID:
				return d
			}
		}
	}
	return ','
}
