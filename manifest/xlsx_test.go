package manifest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeXLSX builds a workbook with fill and saves it under t.TempDir().
func writeXLSX(t *testing.T, fill func(f *excelize.File) error) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := fill(f); err != nil {
		t.Fatalf("fill workbook: %v", err)
	}
	name := filepath.Join(t.TempDir(), "manifest.xlsx")
	if err := f.SaveAs(name); err != nil {
		t.Fatalf("save workbook: %v", err)
	}
	return name
}

// setRows writes rows into sheet from row 1; a nil row is left empty.
func setRows(f *excelize.File, sheet string, rows [][]any) error {
	for i, r := range rows {
		if r == nil {
			continue
		}
		if err := f.SetSheetRow(sheet, fmt.Sprintf("A%d", i+1), &r); err != nil {
			return err
		}
	}
	return nil
}

// openModes are the two ways a workbook reaches Read: as the *os.File it
// lives in, or as a plain io.Reader that Read must copy to a temporary file.
var openModes = []struct {
	name string
	open func(t *testing.T, path string) io.Reader
}{
	{"file", func(t *testing.T, path string) io.Reader {
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}},
	{"reader", func(t *testing.T, path string) io.Reader {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return bytes.NewReader(b)
	}},
}

func TestReadXLSX(t *testing.T) {
	t.Parallel()
	tiny := DefaultLimits()
	tiny.MaxXLSXBytes = 100
	narrow := DefaultLimits()
	narrow.MaxRowBytes = 40
	tests := []struct {
		name    string
		fill    func(f *excelize.File) error
		lim     *Limits
		rows    []Row
		bad     []RowError
		wantErr string
	}{
		{
			name: "good and bad rows on the first sheet",
			fill: func(f *excelize.File) error {
				if err := setRows(f, "Sheet1", [][]any{
					{"URL", " SKU ", "Colour"},
					{"https://a/1.jpg", "S1", "red"},
					nil,
					{"", "S4", "blue"},
					{"https://a/5.jpg", 12345},
					{"ftp://a/6.jpg"},
					{" https://a/7.jpg ", 1.5, "", "extra"},
					nil,
					{"https://a/9.jpg", "", "green"},
				}); err != nil {
					return err
				}
				if _, err := f.NewSheet("Other"); err != nil {
					return err
				}
				return setRows(f, "Other", [][]any{{"url"}, {"https://other/1.jpg"}})
			},
			rows: []Row{
				{Number: 2, URL: "https://a/1.jpg", SKU: "S1", Meta: map[string]string{"Colour": "red"}},
				{Number: 5, URL: "https://a/5.jpg", SKU: "12345", Meta: map[string]string{"Colour": ""}},
				{Number: 9, URL: "https://a/9.jpg", Meta: map[string]string{"Colour": "green"}},
			},
			bad: []RowError{
				{4, "no url or image_id"},
				{6, "url is not http(s)"},
				{7, "row has 4 cells, header has 3 columns"},
			},
		},
		{
			name: "header after empty rows and image ids",
			fill: func(f *excelize.File) error {
				return setRows(f, "Sheet1", [][]any{nil, nil, {"image_id", "sku"}, {"img-1", "S1"}, {nil, "S2"}})
			},
			rows: []Row{{Number: 4, ImageID: "img-1", SKU: "S1"}},
			bad:  []RowError{{5, "no url or image_id"}},
		},
		{
			name: "missing url column",
			fill: func(f *excelize.File) error {
				return setRows(f, "Sheet1", [][]any{{"sku", "name"}, {"S1", "x"}})
			},
			wantErr: "row 1: header has no url or image_id column",
		},
		{
			name:    "empty sheet",
			fill:    func(f *excelize.File) error { return nil },
			wantErr: "is empty",
		},
		{
			name: "row too large",
			fill: func(f *excelize.File) error {
				return setRows(f, "Sheet1", [][]any{{"url", "note"}, {"https://a/1", strings.Repeat("x", 40)}})
			},
			lim:     &narrow,
			wantErr: "row 2: row larger than 40 bytes",
		},
		{
			name: "workbook too large",
			fill: func(f *excelize.File) error {
				return setRows(f, "Sheet1", [][]any{{"url"}, {"https://a/1"}})
			},
			lim:     &tiny,
			wantErr: "larger than 100",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeXLSX(t, tt.fill)
			lim := DefaultLimits()
			if tt.lim != nil {
				lim = *tt.lim
			}
			for _, m := range openModes {
				t.Run(m.name, func(t *testing.T) {
					check(t, read(t, m.open(t, path), XLSX, lim), tt.rows, tt.bad, tt.wantErr)
				})
			}
		})
	}
}

func TestReadXLSXNotAWorkbook(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"csv text", "url\nhttps://a/1\n"},
		{"empty", ""},
		{"truncated zip", "PK\x03\x04\x14\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, read(t, strings.NewReader(tt.in), XLSX, DefaultLimits()), nil, nil, "not an xlsx workbook")
		})
	}
}

// TestReadXLSXLarge streams a 20,000-row workbook and checks that a
// workbook given as a plain reader is copied to a temporary file, that one
// given as a file is read in place, and that no temporary file is left
// afterwards. It sets TMPDIR, so it does not run in parallel.
func TestReadXLSXLarge(t *testing.T) {
	const n = 20_000
	path := writeXLSX(t, func(f *excelize.File) error {
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			return err
		}
		if err := sw.SetRow("A1", []any{"url", "sku", "title"}); err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			row := []any{fmt.Sprintf("https://cdn.example.com/p/%06d.jpg", i), fmt.Sprintf("SKU-%06d", i), "a product title"}
			if i%1000 == 0 {
				row[0] = "not a url"
			}
			if err := sw.SetRow(fmt.Sprintf("A%d", i+1), row); err != nil {
				return err
			}
		}
		return sw.Flush()
	})
	for _, m := range openModes {
		t.Run(m.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var spilled []string
			var last Row
			good, bad, err := Read(t.Context(), m.open(t, path), XLSX, DefaultLimits(),
				func(r Row) error {
					if r.Number == 2 {
						entries, _ := os.ReadDir(tmp)
						for _, e := range entries {
							spilled = append(spilled, e.Name())
						}
					}
					last = r
					return nil
				}, nil)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if wantBad := n / 1000; good != n-wantBad || bad != wantBad {
				t.Errorf("counts: got %d good, %d bad; want %d, %d", good, bad, n-wantBad, wantBad)
			}
			want := Row{Number: n, URL: "https://cdn.example.com/p/019999.jpg", SKU: "SKU-019999", Meta: map[string]string{"title": "a product title"},
				Columns: []string{"title"}}
			if fmt.Sprint(last) != fmt.Sprint(want) {
				t.Errorf("last row: got %+v, want %+v", last, want)
			}
			joined := strings.Join(spilled, " ")
			if wantCopy := m.name == "reader"; strings.Contains(joined, "pictor-manifest-") != wantCopy {
				t.Errorf("temporary files while reading: got %q, want a pictor-manifest- copy %v", joined, wantCopy)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Errorf("temporary files left: got %d, want 0", len(entries))
			}
		})
	}
}

// TestReadXLSXValues checks how cells are shown: numbers as Excel's General
// format shows them, dates and times in ISO form, booleans, formulas by
// their cached result, shared and inline strings with Excel's _xHHHH_
// escapes decoded.
func TestReadXLSXValues(t *testing.T) {
	t.Parallel()
	path := writeXLSX(t, func(f *excelize.File) error {
		date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
		if err != nil {
			return err
		}
		clock, err := f.NewStyle(&excelize.Style{NumFmt: 21})
		if err != nil {
			return err
		}
		stamp, err := f.NewStyle(&excelize.Style{NumFmt: 22})
		if err != nil {
			return err
		}
		custom := "dd/mm/yyyy hh:mm"
		customStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &custom})
		if err != nil {
			return err
		}
		percent, err := f.NewStyle(&excelize.Style{NumFmt: 10})
		if err != nil {
			return err
		}
		cols := []string{"url", "date", "clock", "stamp", "custom", "float", "big", "flag", "formula", "percent", "escaped"}
		if err := setRows(f, "Sheet1", [][]any{toAny(cols)}); err != nil {
			return err
		}
		set := func(cell string, v any) error { return f.SetCellValue("Sheet1", cell, v) }
		for _, c := range []struct {
			cell string
			v    any
		}{
			{"A2", "https://a/1.jpg"}, {"B2", 45123}, {"C2", 0.75}, {"D2", 45123.5}, {"E2", 45123.25},
			{"F2", 0.1 + 0.2}, {"G2", 1234567890123456789}, {"H2", true}, {"J2", 0.5}, {"K2", "a_x0008_b"},
		} {
			if err := set(c.cell, c.v); err != nil {
				return err
			}
		}
		if err := f.SetCellFormula("Sheet1", "I2", `"calc"&"ulated"`); err != nil {
			return err
		}
		for cell, style := range map[string]int{"B2": date, "C2": clock, "D2": stamp, "E2": customStyle, "J2": percent} {
			if err := f.SetCellStyle("Sheet1", cell, cell, style); err != nil {
				return err
			}
		}
		return nil
	})
	res := read(t, openModes[0].open(t, path), XLSX, DefaultLimits())
	want := []Row{{Number: 2, URL: "https://a/1.jpg", Meta: map[string]string{
		"date": "2023-07-16", "clock": "18:00:00", "stamp": "2023-07-16 12:00:00", "custom": "2023-07-16 06:00:00",
		"float": "0.3", "big": "1.23456789012346E+18", "flag": "TRUE", "formula": "", "percent": "0.5", "escaped": "a\bb",
	}}}
	check(t, res, want, nil, "")
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestReadXLSXSharedStringsSpill reads a workbook whose shared strings hold
// more text than is kept in memory: the rest goes to a temporary file, read
// back by index, and removed afterwards. It sets TMPDIR, so it does not run
// in parallel.
func TestReadXLSXSharedStringsSpill(t *testing.T) {
	const n = 200_000 // 200,000 strings of about 100 bytes: past sstMemBytes
	pad := strings.Repeat("p", 80)
	name := writeZip(t, workbookZip(
		func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString(`<worksheet ` + tNS + `><sheetData><row r="1"><c t="inlineStr"><is><t>url</t></is></c><c t="inlineStr"><is><t>title</t></is></c></row>`)
			for i := range n {
				// URLs from the end of the table, titles from its start.
				fmt.Fprintf(bw, `<row r="%d"><c t="s"><v>%d</v></c><c t="s"><v>%d</v></c></row>`, i+2, n-1-i, i)
			}
			bw.WriteString(`</sheetData></worksheet>`)
			return bw.Flush()
		},
		func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString(`<sst ` + tNS + `>`)
			for i := range n {
				fmt.Fprintf(bw, `<si><t>https://a/%d.jpg?%s</t></si>`, i, pad)
			}
			bw.WriteString(`</sst>`)
			return bw.Flush()
		}, nil))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var spilled []string
	rows := 0
	_, _, err := Read(t.Context(), openFile(t, name), XLSX, DefaultLimits(), func(r Row) error {
		if rows == 0 {
			entries, _ := os.ReadDir(tmp)
			for _, e := range entries {
				spilled = append(spilled, e.Name())
			}
		}
		i := r.Number - 2
		wantURL, wantTitle := fmt.Sprintf("https://a/%d.jpg?%s", n-1-i, pad), fmt.Sprintf("https://a/%d.jpg?%s", i, pad)
		if r.URL != wantURL || r.Meta["title"] != wantTitle {
			return fmt.Errorf("row %d: got %q, %q; want %q, %q", r.Number, r.URL, r.Meta["title"], wantURL, wantTitle)
		}
		rows++
		return nil
	}, nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if rows != n {
		t.Errorf("rows: got %d, want %d", rows, n)
	}
	if joined := strings.Join(spilled, " "); !strings.Contains(joined, "pictor-manifest-sst-") {
		t.Errorf("temporary files while reading: got %q, want a pictor-manifest-sst- file", joined)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary files left: got %d, want 0", len(entries))
	}
}

func TestFormatKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want uint8
	}{
		{"General", fmtNumber},
		{"0.00%", fmtNumber},
		{"#,##0.00 [$€-407];[Red]-#,##0.00", fmtNumber},
		{`0 "days"`, fmtNumber},
		{"0.00E+00", fmtNumber},
		{"@", fmtNumber},
		{"yyyy-mm-dd", fmtDate},
		{"mmm yy", fmtDate},
		{`d\-m`, fmtDate},
		{"h:mm AM/PM", fmtTime},
		{"[h]:mm:ss", fmtTime},
		{"mm:ss", fmtTime},
		{"dd/mm/yyyy hh:mm", fmtDateTime},
		{"[$-409]m/d/yy h:mm AM/PM;@", fmtDateTime},
	}
	for _, tt := range tests {
		if got := formatKind(tt.code); got != tt.want {
			t.Errorf("formatKind(%q): got %d, want %d", tt.code, got, tt.want)
		}
	}
}
