package manifest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeResultsXLSX writes results with o into a workbook and returns it.
func writeResultsXLSX(t *testing.T, o WriterOptions, results []Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewResultsWriter(&buf, XLSX, o)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	for _, r := range results {
		if err := w.Write(r); err != nil {
			t.Fatalf("write row %d: %v", r.Row, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return buf.Bytes()
}

func openExcelize(t *testing.T, b []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("excelize open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var (
	long40k   = strings.Repeat("x", 40_000)
	nonASCII  = "Größe 日本語 😀 ½ naïve"
	xmlSpecs  = `<b>&amp; "q" 'a'</b> ]]> &#0;`
	bstrText  = "_x0041_ and _x005F_x0042_ and _x12_"
	emojiEdge = strings.Repeat("a", xlsxMaxCellChars-1) + "😀" // the emoji would need two UTF-16 units past the limit
)

// hostileResults are results with text a spreadsheet or an XML parser could
// choke on, and the numbers each kind of column holds.
var hostileResults = []Result{
	{Row: 2, Source: "https://a/1.jpg?w=1&h=2", SKU: "=HYPERLINK(\"http://evil\",\"x\")", State: "succeeded",
		Review: "approved", Checks: "fail: product_fill",
		Meta: map[string]string{"title": nonASCII, "colour": "+1+2", "ignored": "x"},
		Outputs: []Output{
			{Name: "thumb", URL: "https://cdn/x/thumb.jpeg", Format: "jpeg", Width: 200, Height: 150, Bytes: 9_020},
			{Name: "main", URL: "https://cdn/x/main.webp?a=1&b=2", Format: "webp", Width: 2000, Height: 1500, Bytes: 183_211},
			{Name: "unlisted", URL: "https://cdn/x/other.png"},
		},
		Cost: ptr(1234.5678), GPUSeconds: 12.5, CPUSeconds: 0.75,
		CheckDetail: []CheckCell{
			{Name: "main/product_fill", Verdict: "fail", Value: 0.41, Threshold: 0.6},
			{Name: "main/sharpness", Verdict: "pass", Value: 123.456789, Threshold: 50},
		}},
	{Row: 3, Source: "img-7", State: "failed",
		Error:  "ctl\x00a\x01b\x08c\x0bd\x0ce\x1ff\x7fg\tTAB\nLF\rCR\uFFFEh\uFFFFi bad\xffbyte",
		Checks: "@SUM(A1)", Meta: map[string]string{"title": long40k, "colour": xmlSpecs},
		Cost: ptr(-0.005), GPUSeconds: 0, CPUSeconds: 1e-7},
	{Row: 10, Source: "HTTPS://A/3.JPG", SKU: "  padded  ", State: "skipped", Error: emojiEdge,
		Meta:    map[string]string{"title": bstrText, "colour": "-2"},
		Outputs: []Output{{Name: "main", URL: "\uFF1Dx"}},
		Cost:    ptr(math.NaN()), GPUSeconds: math.Inf(1), CPUSeconds: 3},
}

var hostileOptions = WriterOptions{MetaColumns: []string{"title", "colour"}, Outputs: []string{"main", "thumb"}, Currency: "EUR"}

var hostileHeader = []string{"row", "sku", "url", "image_id", "title", "colour", "state", "error", "review", "checks",
	"main url", "main width", "main height", "main bytes", "thumb url", "thumb width", "thumb height", "thumb bytes",
	"cost (EUR)", "gpu_seconds", "cpu_seconds", "check details"}

// hostileWant is hostileResults as the sheet must show them (raw values).
var hostileWant = [][]string{
	hostileHeader,
	{"2", "=HYPERLINK(\"http://evil\",\"x\")", "https://a/1.jpg?w=1&h=2", "", nonASCII, "+1+2", "succeeded", "", "approved", "fail: product_fill",
		"https://cdn/x/main.webp?a=1&b=2", "2000", "1500", "183211", "https://cdn/x/thumb.jpeg", "200", "150", "9020",
		"1234.5678", "12.5", "0.75", "main/product_fill 0.41/0.6 fail; main/sharpness 123.457/50 pass"},
	{"3", "", "", "img-7", long40k[:xlsxMaxCellChars], xmlSpecs, "failed", "ctlabcdef\x7fg\tTAB\nLF\rCRhi bad\uFFFDbyte", "", "@SUM(A1)",
		"", "", "", "", "", "", "", "",
		"-0.005", "0", "1e-07", ""},
	{"10", "  padded  ", "HTTPS://A/3.JPG", "", bstrText, "-2", "skipped", emojiEdge[:xlsxMaxCellChars-1], "", "",
		"\uFF1Dx", "", "", "", "", "", "", "",
		"", "", "3", ""},
}

// Which columns hold numbers: row, the outputs' sizes, cost and seconds.
var hostileNumeric = map[string]bool{"row": true, "main width": true, "main height": true, "main bytes": true,
	"thumb width": true, "thumb height": true, "thumb bytes": true, "cost (EUR)": true, "gpu_seconds": true, "cpu_seconds": true}

func padRows(rows [][]string, width int) [][]string {
	for i := range rows {
		for len(rows[i]) < width {
			rows[i] = append(rows[i], "")
		}
	}
	return rows
}

func TestXLSXWriterExcelize(t *testing.T) {
	t.Parallel()
	b := writeResultsXLSX(t, hostileOptions, hostileResults)
	f := openExcelize(t, b)
	if got, want := f.GetSheetList(), []string{"results"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sheets: got %q, want %q", got, want)
	}
	rows, err := f.GetRows("results", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatalf("get rows: %v", err)
	}
	rows = padRows(rows, len(hostileHeader))
	if len(rows) != len(hostileWant) {
		t.Fatalf("rows: got %d, want %d", len(rows), len(hostileWant))
	}
	for i := range hostileWant {
		for j, want := range hostileWant[i] {
			if got := rows[i][j]; got != want {
				t.Errorf("row %d column %q: got %.80q (%d bytes), want %.80q (%d bytes)", i+1, hostileHeader[j], got, len(got), want, len(want))
			}
		}
		if len(rows[i]) != len(hostileWant[i]) {
			t.Errorf("row %d: got %d cells, want %d", i+1, len(rows[i]), len(hostileWant[i]))
		}
	}

	t.Run("cell types", func(t *testing.T) {
		for i := 1; i < len(hostileWant); i++ {
			for j, name := range hostileHeader {
				if hostileWant[i][j] == "" {
					continue
				}
				ref, _ := excelize.CoordinatesToCellName(j+1, i+1)
				typ, err := f.GetCellType("results", ref)
				if err != nil {
					t.Fatalf("cell type %s: %v", ref, err)
				}
				want := excelize.CellTypeInlineString
				if hostileNumeric[name] {
					want = excelize.CellTypeNumber
				}
				if typ != want {
					t.Errorf("%s (%s): got type %v, want %v", ref, name, typ, want)
				}
				formula, err := f.GetCellFormula("results", ref)
				if err != nil || formula != "" {
					t.Errorf("%s formula: got %q, %v; want none", ref, formula, err)
				}
			}
		}
	})

	t.Run("styles", func(t *testing.T) {
		for j := range hostileHeader {
			ref, _ := excelize.CoordinatesToCellName(j+1, 1)
			idx, err := f.GetCellStyle("results", ref)
			if err != nil {
				t.Fatalf("style %s: %v", ref, err)
			}
			st, err := f.GetStyle(idx)
			if err != nil {
				t.Fatalf("get style %d: %v", idx, err)
			}
			if st.Font == nil || !st.Font.Bold {
				t.Errorf("header %s font: got %+v, want bold", ref, st.Font)
			}
		}
		idx, err := f.GetCellStyle("results", "S2")
		if err != nil {
			t.Fatalf("cost style: %v", err)
		}
		st, err := f.GetStyle(idx)
		if err != nil {
			t.Fatalf("get style %d: %v", idx, err)
		}
		if st.NumFmt != 4 {
			t.Errorf("cost number format: got %d, want 4 (#,##0.00)", st.NumFmt)
		}
		if st.Font != nil && st.Font.Bold {
			t.Errorf("cost font: got bold, want plain")
		}
		for ref, want := range map[string]string{"S2": "1,234.57", "S3": "-0.01", "T2": "12.5"} {
			got, err := f.GetCellValue("results", ref)
			if err != nil || got != want {
				t.Errorf("%s shown: got %q, %v; want %q", ref, got, err, want)
			}
		}
	})

	t.Run("view", func(t *testing.T) {
		p, err := f.GetPanes("results")
		if err != nil {
			t.Fatalf("panes: %v", err)
		}
		if !p.Freeze || p.YSplit != 1 || p.XSplit != 0 || p.TopLeftCell != "A2" {
			t.Errorf("panes: got %+v, want the header row frozen", p)
		}
		for col, want := range map[string]float64{"A": 7, "C": 48, "E": 14, "K": 48, "L": 12, "S": 12, "V": 48} {
			got, err := f.GetColWidth("results", col)
			if err != nil || got != want {
				t.Errorf("column %s width: got %v, %v; want %v", col, got, err, want)
			}
		}
		var filter *excelize.DefinedName
		for _, dn := range f.GetDefinedName() {
			if dn.Name == "_xlnm._FilterDatabase" {
				filter = &dn
			}
		}
		if want := "'results'!$A$1:$V$4"; filter == nil || filter.RefersTo != want {
			t.Errorf("filter: got %+v, want refers to %s", filter, want)
		}
	})
}

func TestXLSXWriterReadBack(t *testing.T) {
	t.Parallel()
	b := writeResultsXLSX(t, hostileOptions, hostileResults)
	lim := DefaultLimits()
	lim.MaxCellBytes, lim.MaxRowBytes = 256<<10, 1<<20
	var got []Row
	good, bad, err := Read(t.Context(), bytes.NewReader(b), XLSX, lim, func(r Row) error {
		got = append(got, r)
		return nil
	}, func(e RowError) error { return fmt.Errorf("bad row: %v", e) })
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if good != len(hostileResults) || bad != 0 {
		t.Fatalf("counts: got %d good, %d bad; want %d, 0", good, bad, len(hostileResults))
	}
	for i, want := range hostileWant[1:] {
		// Read shows numbers as Excel's General format does.
		want := append([]string(nil), want...)
		for j, name := range hostileHeader {
			if name == "cpu_seconds" && want[j] == "1e-07" {
				want[j] = "0.0000001"
			}
		}
		wantRow := Row{Number: i + 2, URL: want[2], ImageID: want[3], SKU: strings.TrimSpace(want[1]), Meta: map[string]string{}}
		for j, name := range hostileHeader {
			if j == 0 || j > 3 { // sku, url and image_id are the manifest's own
				wantRow.Meta[name] = want[j]
			}
		}
		g := got[i]
		if g.Number != wantRow.Number || g.URL != wantRow.URL || g.ImageID != wantRow.ImageID || g.SKU != wantRow.SKU ||
			!reflect.DeepEqual(g.Meta, wantRow.Meta) {
			for k, v := range wantRow.Meta {
				if g, ok := got[i].Meta[k]; !ok || g != v {
					t.Errorf("row %d meta %q: got %.80q (present %v), want %.80q", wantRow.Number, k, g, ok, v)
				}
			}
			t.Errorf("row %d: got number %d, %d meta, url %q, image %q, sku %q; want %d meta, %q, %q, %q", wantRow.Number, got[i].Number,
				len(got[i].Meta), got[i].URL, got[i].ImageID, got[i].SKU, len(wantRow.Meta), wantRow.URL, wantRow.ImageID, wantRow.SKU)
		}
	}
}

// TestXLSXWriterParts checks the package holds what a spreadsheet needs,
// every part is well-formed XML and declared, and the sheet is ordered as
// the schema wants.
func TestXLSXWriterParts(t *testing.T) {
	t.Parallel()
	b := writeResultsXLSX(t, WriterOptions{Sheet: "Résultats d'été"}, hostileResults[:1])
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	parts := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatalf("open %s: %v", zf.Name, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", zf.Name, err)
		}
		d := xml.NewDecoder(bytes.NewReader(body))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("%s: not well-formed XML: %v", zf.Name, err)
				break
			}
		}
		parts[zf.Name] = string(body)
	}
	want := []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
		"xl/styles.xml", "xl/worksheets/sheet1.xml"}
	if len(parts) != len(want) {
		t.Errorf("parts: got %d, want %d", len(parts), len(want))
	}
	for _, name := range want {
		body, ok := parts[name]
		if !ok {
			t.Errorf("part %s: missing", name)
			continue
		}
		if !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`) {
			t.Errorf("part %s: got %.40q, want an XML declaration", name, body)
		}
		if ct := parts["[Content_Types].xml"]; strings.HasPrefix(name, "xl/") && !strings.HasSuffix(name, ".rels") &&
			!strings.Contains(ct, `PartName="/`+name+`"`) {
			t.Errorf("content types: %s not declared", name)
		}
	}
	sheet := parts["xl/worksheets/sheet1.xml"]
	order := []string{"<sheetViews>", "<sheetFormatPr", "<cols>", "<sheetData>", "</sheetData>", "<autoFilter", "<pageMargins"}
	last := -1
	for _, tag := range order {
		i := strings.Index(sheet, tag)
		if i <= last {
			t.Errorf("sheet: %s at %d, want after %d (schema order %v)", tag, i, last, order)
		}
		last = i
	}
	f := openExcelize(t, b)
	if got, want := f.GetSheetList(), []string{"Résultats d'été"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sheets: got %q, want %q", got, want)
	}
	for _, dn := range f.GetDefinedName() {
		if want := `'Résultats d''été'!$A$1:$K$2`; dn.Name == "_xlnm._FilterDatabase" && dn.RefersTo != want {
			t.Errorf("filter: got %q, want %q", dn.RefersTo, want)
		}
	}
	rows, err := f.GetRows("Résultats d'été")
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows: got %d, %v; want 2", len(rows), err)
	}
	// No currency: no cost column; no outputs: no output columns.
	wantHeader := []string{"row", "sku", "url", "image_id", "state", "error", "review", "checks",
		"gpu_seconds", "cpu_seconds", "check details"}
	if !reflect.DeepEqual(rows[0], wantHeader) {
		t.Errorf("header: got %q, want %q", rows[0], wantHeader)
	}
}

func TestXLSXWriterOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    WriterOptions
	}{
		{"meta column is a fixed column", WriterOptions{MetaColumns: []string{"Checks"}}},
		{"meta column is url", WriterOptions{MetaColumns: []string{"url"}}},
		{"meta column twice", WriterOptions{MetaColumns: []string{"title", "TITLE"}}},
		{"output twice", WriterOptions{Outputs: []string{"main", "Main"}}},
		{"output column is a meta column", WriterOptions{MetaColumns: []string{"main URL"}, Outputs: []string{"main"}}},
		{"blank output", WriterOptions{Outputs: []string{" "}}},
		{"meta column is the cost column", WriterOptions{MetaColumns: []string{"cost (eur)"}, Currency: "EUR"}},
		{"sheet name too long", WriterOptions{Sheet: strings.Repeat("s", 32)}},
		{"sheet name of emoji too long", WriterOptions{Sheet: strings.Repeat("😀", 16)}},
		{"sheet name with slash", WriterOptions{Sheet: "a/b"}},
		{"sheet name with bracket", WriterOptions{Sheet: "a[1]"}},
		{"sheet name with leading apostrophe", WriterOptions{Sheet: "'a"}},
		{"sheet name with control character", WriterOptions{Sheet: "a\nb"}},
		{"sheet name blank", WriterOptions{Sheet: "  "}},
		{"sheet name reserved", WriterOptions{Sheet: "History"}},
		{"sheet name not UTF-8", WriterOptions{Sheet: "a\xffb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := NewResultsWriter(&buf, XLSX, tt.o)
			if err == nil || w != nil {
				t.Fatalf("got %v, %v; want nil writer and an error", w, err)
			}
			if buf.Len() != 0 {
				t.Errorf("output: got %d bytes, want none", buf.Len())
			}
		})
	}
	t.Run("31 characters are fine", func(t *testing.T) {
		t.Parallel()
		b := writeResultsXLSX(t, WriterOptions{Sheet: strings.Repeat("é", 31)}, nil)
		if got := openExcelize(t, b).GetSheetList(); len(got) != 1 || got[0] != strings.Repeat("é", 31) {
			t.Errorf("sheets: got %q", got)
		}
	})
}

func TestXLSXWriterRowLimit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewResultsWriter(&buf, XLSX, WriterOptions{})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	x := w.(*xlsxWriter)
	if want := 1_048_575; x.maxRows != want {
		t.Fatalf("default row limit: got %d, want %d (a sheet's rows less the header)", x.maxRows, want)
	}
	x.maxRows = 3
	for i := range 3 {
		if err := w.Write(Result{Row: i + 2, Source: "img"}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for range 2 {
		if err := w.Write(Result{Row: 5, Source: "img"}); !errors.Is(err, ErrTooManyRows) {
			t.Fatalf("write past the limit: got %v, want ErrTooManyRows", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	rows, err := openExcelize(t, buf.Bytes()).GetRows("results")
	if err != nil || len(rows) != 4 {
		t.Errorf("rows: got %d, %v; want the header and 3", len(rows), err)
	}
}

// failWriter fails every write after n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestXLSXWriterWriteError(t *testing.T) {
	t.Parallel()
	w, err := NewResultsWriter(&failWriter{n: 256 << 10}, XLSX, WriterOptions{})
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 1024)
	var werr error
	for i := 0; i < 10_000 && werr == nil; i++ {
		for j := range noise {
			noise[j] = "0123456789abcdef"[rng.IntN(16)]
		}
		werr = w.Write(Result{Row: i + 2, Source: "img", Error: string(noise)})
	}
	if werr == nil || !strings.Contains(werr.Error(), "disk full") {
		t.Fatalf("write: got %v, want the writer's error", werr)
	}
	if err := w.Write(Result{Row: 1}); err == nil {
		t.Errorf("write after a failure: got nil, want an error")
	}
	if err := w.Close(); err == nil {
		t.Errorf("close after a failure: got nil, want an error")
	}

	t.Run("small parts", func(t *testing.T) {
		t.Parallel()
		// The zip buffers small parts: the error shows by Close at the latest.
		w, err := NewResultsWriter(&failWriter{n: 10}, XLSX, WriterOptions{})
		if err == nil {
			err = w.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("got %v, want the writer's error", err)
		}
	})
}

// TestXLSXWriterMemory writes 200,000 results to a file and checks that the
// live heap stays flat and each row allocates little, then reads the file
// back to see every row is there. It does not run in parallel, so that no
// other test's garbage is counted.
func TestXLSXWriterMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200,000 rows")
	}
	const (
		n          = 200_000
		maxLive    = 8 << 20 // the compressor's window and buffers, not the rows
		maxPerRow  = 2 << 10 // bytes allocated per row, garbage included
		sampleEach = 20_000
	)
	name := filepath.Join(t.TempDir(), "results.xlsx")
	file, err := os.Create(name)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer file.Close()

	opts := WriterOptions{MetaColumns: []string{"title", "brand"}, Outputs: []string{"main", "thumb"}, Currency: "USD"}
	r := Result{State: "succeeded", Review: "approved", Checks: "pass",
		Meta:       map[string]string{"title": "Product title with some words", "brand": "Acme"},
		Outputs:    []Output{{Name: "main", Width: 2000, Height: 2000, Bytes: 400_000}, {Name: "thumb", Width: 200, Height: 200, Bytes: 9000}},
		Cost:       ptr(0.042),
		GPUSeconds: 3.25, CPUSeconds: 0.5,
		CheckDetail: []CheckCell{{Name: "main/product_fill", Verdict: "pass", Value: 0.8, Threshold: 0.6}}}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, alloc0 := int64(ms.HeapAlloc), ms.TotalAlloc
	var peak int64
	w, err := NewResultsWriter(file, XLSX, opts)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	for i := range n {
		r.Row = i + 2
		r.Source = "https://cdn.example.com/p/" + strconv.Itoa(i) + ".jpg"
		r.SKU = "SKU-" + strconv.Itoa(i)
		r.Outputs[0].URL = "https://img.example.com/r/" + strconv.Itoa(i) + "/main.webp"
		r.Outputs[1].URL = "https://img.example.com/r/" + strconv.Itoa(i) + "/thumb.jpeg"
		if err := w.Write(r); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if (i+1)%sampleEach == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, int64(ms.HeapAlloc))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	runtime.ReadMemStats(&ms)
	perRow := (ms.TotalAlloc - alloc0) / n
	t.Logf("live heap: base %d KB, peak %d KB; %d bytes allocated a row", base>>10, peak>>10, perRow)
	if extra := peak - base; extra > maxLive {
		t.Errorf("live heap grew: got %d KB, want at most %d KB", extra>>10, maxLive>>10)
	}
	if perRow > maxPerRow {
		t.Errorf("allocated a row: got %d bytes, want at most %d", perRow, maxPerRow)
	}

	if _, err := file.Seek(0, io.SeekStart); err != nil {
		t.Fatalf("seek: %v", err)
	}
	seen := 0
	good, bad, err := Read(t.Context(), file, XLSX, DefaultLimits(), func(row Row) error {
		if want := "SKU-" + strconv.Itoa(seen); row.Number != seen+2 || row.SKU != want || row.Meta["main bytes"] != "400000" {
			return fmt.Errorf("row %d: got number %d, sku %q, main bytes %q; want %d, %q, 400000",
				seen, row.Number, row.SKU, row.Meta["main bytes"], seen+2, want)
		}
		seen++
		return nil
	}, nil)
	if err != nil || good != n || bad != 0 {
		t.Errorf("read back: got %d good, %d bad, %v; want %d, 0, nil", good, bad, err, n)
	}
}
