package manifest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// fuzzLimits keeps every fuzz input small: a case cannot make Read hold or
// unzip more than a few MiB.
func fuzzLimits() Limits {
	return Limits{
		MaxRows: 1000, MaxRowBytes: 4 << 10, MaxCellBytes: 2 << 10, MaxColumns: 16, MaxBadRows: 50,
		MaxXLSXBytes: 1 << 20, MaxXLSXParts: 64, MaxXLSXPartBytes: 4 << 20, MaxXLSXRatio: 100, MaxSharedStrings: 10_000,
	}
}

// fuzzRead reads data as format f through a size-capped reader and checks
// the invariants every reader keeps, whatever the input: no panic, every row
// numbered from 1, in file order when ordered is set, each good row with
// exactly one of url and image_id, counts matching the callbacks and the
// limits, and any error an ErrInvalidManifest.
func fuzzRead(t *testing.T, data []byte, f Format, ordered bool) {
	lim := fuzzLimits()
	r := io.LimitReader(bytes.NewReader(data), lim.MaxXLSXBytes+1)
	var rows, bads int
	last := 0
	seen := func(n int) {
		t.Helper()
		if n <= 0 {
			t.Fatalf("row number: got %d, want > 0", n)
		}
		if ordered && n <= last {
			t.Fatalf("row number: got %d after %d, want increasing", n, last)
		}
		last = n
	}
	good, bad, err := Read(context.Background(), r, f, lim,
		func(row Row) error {
			rows++
			seen(row.Number)
			if (row.URL == "") == (row.ImageID == "") {
				t.Fatalf("row %d: url %q, image_id %q, want exactly one", row.Number, row.URL, row.ImageID)
			}
			if row.URL != "" && !strings.HasPrefix(strings.ToLower(row.URL), "http") {
				t.Fatalf("row %d: url %q, want http(s)", row.Number, row.URL)
			}
			return nil
		},
		func(e RowError) error {
			bads++
			seen(e.Number)
			if e.Message == "" {
				t.Fatalf("bad row %d: empty message", e.Number)
			}
			return nil
		})
	if good != rows || bad != bads {
		t.Fatalf("counts: got good %d bad %d, want %d and %d (callbacks)", good, bad, rows, bads)
	}
	if good+bad > lim.MaxRows {
		t.Fatalf("rows: got %d, want at most %d", good+bad, lim.MaxRows)
	}
	if bad > lim.MaxBadRows+1 {
		t.Fatalf("bad rows: got %d, want at most %d", bad, lim.MaxBadRows+1)
	}
	if err != nil && !errors.Is(err, ErrInvalidManifest) {
		t.Fatalf("error %v does not match ErrInvalidManifest", err)
	}
}

// FuzzReadCSV checks the CSV reader's invariants (see fuzzRead).
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"",
		"url\nhttps://example.com/a.jpg\n",
		"url,sku,color\nhttps://example.com/a.jpg,A-1,red\n\nhttps://example.com/b.jpg,A-2\n",
		"image_id;sku\nimg_0123;A-1\n;A-2\n",
		"url\tsku\nftp://x/a.jpg\tA\n",
		"url|image_id\nhttps://x/a.jpg|img_1\n",
		"url,sku\n\"https://x/a.jpg\",\"A\"\"1\"\n\"broken,A\n",
		"\xef\xbb\xbfURL , SKU\r\nhttps://x/a.jpg,1\r\n",
		"sku\nA-1\n",
		"url,url\nhttps://x/a.jpg,https://x/b.jpg\n",
		"url\nhttps://x/a.jpg,extra\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, CSV, true) })
}

// FuzzReadJSONL checks the JSONL reader's invariants (see fuzzRead).
func FuzzReadJSONL(f *testing.F) {
	for _, s := range []string{
		"",
		"{\"url\": \"https://example.com/a.jpg\", \"sku\": \"A-1\"}\n",
		"{\"image_id\": \"img_1\", \"n\": 1.50, \"b\": true, \"z\": null}\n\n{\"url\": \"https://x/b.jpg\"}",
		"{\"url\": \"https://x/a.jpg\", \"url\": \"https://x/b.jpg\"}\n",
		"{\"url\": [1]}\n{\"url\": {}}\n",
		"[1,2]\n",
		"{\"url\": \"https://x/a.jpg\"\n",
		"{\"sku\": \"A\"}\n",
		"{\"url\": \"\\u00e9\\ud800\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, JSONL, true) })
}

// FuzzReadXLSX checks the XLSX reader's invariants (see fuzzRead); rows of a
// sheet need not be stored in order, so only their numbers are checked.
func FuzzReadXLSX(f *testing.F) {
	for _, rows := range [][][]any{
		{{"url", "sku"}, {"https://example.com/a.jpg", "A-1"}, nil, {"https://example.com/b.jpg", 7}},
		{{"image_id"}, {"img_1"}, {""}, {"img_2", "extra"}},
		{{"sku"}, {"A-1"}},
		{},
	} {
		wb := excelize.NewFile()
		for i, r := range rows {
			if r == nil {
				continue
			}
			cell, err := excelize.CoordinatesToCellName(1, i+1)
			if err != nil {
				f.Fatal(err)
			}
			if err := wb.SetSheetRow("Sheet1", cell, &r); err != nil {
				f.Fatal(err)
			}
		}
		buf, err := wb.WriteToBuffer()
		if err != nil {
			f.Fatal(err)
		}
		if err := wb.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("PK\x03\x04 not really a zip"))
	f.Add([]byte("url\nhttps://x/a.jpg\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, XLSX, false) })
}

// FuzzReadXLSXParts checks the XLSX reader's invariants (see fuzzRead) on
// workbooks whose sheet, shared strings and styles are the fuzzed bytes,
// stored uncompressed, so that the fuzzer works on the XML rather than on
// deflate streams.
func FuzzReadXLSXParts(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>sku</t></is></c></row>`+
		`<row r="3"><c t="s"><v>1</v></c><c r="B3" s="1"><v>45123.5</v></c><c t="b"><v>1</v></c></row><row><c><v>0.30000000000000004</v></c></row></sheetData></worksheet>`),
		[]byte(`<sst><si><t>url</t></si><si><r><t>https://x/</t></r><r><t>a.jpg</t></r><rPh><t>x</t></rPh></si><si/></sst>`),
		[]byte(`<styleSheet><numFmts><numFmt numFmtId="164" formatCode="dd/mm/yyyy hh:mm"/></numFmts><cellXfs><xf/><xf numFmtId="164"/></cellXfs></styleSheet>`))
	f.Add([]byte(`<worksheet><sheetData><row><c t="inlineStr"><is><t>image_id</t></is></c></row><row><c t="inlineStr"><is><t>img_x005F_1</t></is></c></row></sheetData></worksheet>`),
		[]byte(``), []byte(`<styleSheet/>`))
	f.Fuzz(func(t *testing.T, sheet, sst, styles []byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, p := range workbookZip(rawPart(sheet), rawPart(sst), rawPart(styles)) {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.write(w); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		fuzzRead(t, buf.Bytes(), XLSX, false)
	})
}

func rawPart(b []byte) func(w io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// FuzzDetect checks format sniffing: Detect returns a format Read accepts or
// an error matching ErrUnsupportedFormat, and a zip head is always XLSX.
func FuzzDetect(f *testing.F) {
	f.Add("m.csv", "text/csv", []byte("url\nhttps://x/a.jpg\n"))
	f.Add("m.jsonl", "", []byte("{\"url\": \"https://x/a.jpg\"}"))
	f.Add("m.xlsx", "", []byte("PK\x03\x04"))
	f.Add("m.xlsx", "", []byte("url\n"))
	f.Add("m.xls", "application/vnd.ms-excel", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
	f.Add("", "application/octet-stream", []byte("\x1f\x8b\x08"))
	f.Add("M.TXT", "text/plain; charset=utf-8", []byte("  {"))
	f.Fuzz(func(t *testing.T, name, contentType string, head []byte) {
		got, err := Detect(name, contentType, head)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrInvalidManifest) {
				t.Fatalf("Detect(%q, %q) error %v matches no sentinel", name, contentType, err)
			}
			return
		}
		switch got {
		case CSV, JSONL, XLSX:
		default:
			t.Fatalf("Detect(%q, %q) = %q, want csv, jsonl or xlsx", name, contentType, got)
		}
		if bytes.HasPrefix(head, []byte("PK\x03\x04")) && got != XLSX {
			t.Fatalf("Detect(%q, %q) of a zip head = %q, want %q", name, contentType, got, XLSX)
		}
	})
}
