package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

func readJSONL(r io.Reader, s *sink) error {
	br, bounded, _, err := openText(r, s.lim)
	if err != nil {
		return err
	}
	bounded.max = math.MaxInt64 // the scanner bounds each line
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, min(4096, s.lim.MaxRowBytes)), s.lim.MaxRowBytes+2)
	line, nonBlank := 0, 0
	for {
		if err := s.next(); err != nil {
			return err
		}
		if !sc.Scan() {
			break
		}
		line++
		text := sc.Bytes()
		if len(text) > s.lim.MaxRowBytes {
			return limitErr("MaxRowBytes", fmt.Sprintf("line %d", line), "row larger than %d bytes", s.lim.MaxRowBytes)
		}
		if !utf8.Valid(text) {
			return fmt.Errorf("line %d: is not UTF-8: %w", line, ErrInvalidManifest)
		}
		if bytes.IndexByte(text, 0) >= 0 {
			return fmt.Errorf("line %d: contains a NUL byte (UTF-16?): %w", line, ErrInvalidManifest)
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		nonBlank++
		row, bad, err := parseJSONLine(line, text, s.lim)
		if err != nil {
			return err
		}
		if bad != "" {
			err = s.reject(line, bad)
		} else {
			err = s.emit(row)
		}
		if err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return limitErr("MaxRowBytes", fmt.Sprintf("line %d", line+1), "row larger than %d bytes", s.lim.MaxRowBytes)
		}
		return fmt.Errorf("read jsonl after line %d: %w", line, err)
	}
	if nonBlank == 0 {
		return fmt.Errorf("manifest is empty: %w", ErrInvalidManifest)
	}
	return nil
}

const notObject = "line is not a JSON object"

// parseJSONLine decodes one line. Fields are examined in name order, so
// the problem reported for a line with several is always the same one.
func parseJSONLine(number int, text []byte, lim Limits) (Row, string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil || obj == nil {
		return Row{}, notObject, nil
	}
	if len(obj) > lim.MaxColumns {
		return Row{}, fmt.Sprintf("object has more than %d fields", lim.MaxColumns), nil
	}
	row := Row{Number: number}
	seen := make(map[string]bool, len(obj))
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		key := strings.ToLower(strings.TrimSpace(name))
		if seen[key] {
			return Row{}, fmt.Sprintf("duplicate field %q", strings.TrimSpace(name)), nil
		}
		seen[key] = true
		val, ok := jsonText(obj[name])
		if !ok {
			return Row{}, fmt.Sprintf("field %q is not a string or number", name), nil
		}
		if len(val) > lim.MaxCellBytes {
			return Row{}, "", limitErr("MaxCellBytes", fmt.Sprintf("line %d", number), "field %.40q larger than %d bytes", name, lim.MaxCellBytes)
		}
		if strings.IndexByte(val, 0) >= 0 {
			return Row{}, fmt.Sprintf("field %q contains a NUL character", name), nil
		}
		switch key {
		case colURL:
			row.URL = strings.TrimSpace(val)
		case colImageID:
			row.ImageID = strings.TrimSpace(val)
		case colSKU:
			row.SKU = strings.TrimSpace(val)
		case "":
			// a field with a blank name is ignored
		default:
			if row.Meta == nil {
				row.Meta = make(map[string]string, len(obj))
			}
			row.Meta[strings.TrimSpace(name)] = val
		}
	}
	if msg := checkSource(row.URL, row.ImageID); msg != "" {
		return Row{}, msg, nil
	}
	return row, "", nil
}

// jsonText renders a scalar JSON value as text: strings as themselves,
// numbers and booleans as written, null as empty. Objects and arrays fail.
func jsonText(raw json.RawMessage) (string, bool) {
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true // no escapes: already valid
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case 'n':
		return "", true
	case '{', '[':
		return "", false
	}
	return string(raw), true
}
