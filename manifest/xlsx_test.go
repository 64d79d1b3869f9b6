package manifest

import (
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

// TestReadXLSXLarge streams a 20,000-row workbook and checks that the
// workbook and its sheet are read from temporary files, which are gone
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
			want := Row{Number: n, URL: "https://cdn.example.com/p/019999.jpg", SKU: "SKU-019999", Meta: map[string]string{"title": "a product title"}}
			if fmt.Sprint(last) != fmt.Sprint(want) {
				t.Errorf("last row: got %+v, want %+v", last, want)
			}
			joined := strings.Join(spilled, " ")
			if !strings.Contains(joined, "excelize-") {
				t.Errorf("temporary files while reading: got %q, want an excelize- sheet file", joined)
			}
			if wantCopy := m.name == "reader"; strings.Contains(joined, "pictor-manifest-") != wantCopy {
				t.Errorf("temporary files while reading: got %q, want a pictor-manifest- copy %v", joined, wantCopy)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Errorf("temporary files left: got %d, want 0", len(entries))
			}
		})
	}
}
