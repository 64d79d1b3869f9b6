package manifest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A zpart is one zip entry of a generated workbook.
type zpart struct {
	name  string
	write func(w io.Writer) error
}

func textPart(s string) func(w io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// repeatPart writes head, n copies of item, then tail.
func repeatPart(head, item string, n int, tail string) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(head)
		for range n {
			bw.WriteString(item)
		}
		bw.WriteString(tail)
		return bw.Flush()
	}
}

const (
	tNS    = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	tRelNS = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
	tRels  = `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
)

// workbookZip is a one-sheet workbook built by hand; sst and styles may be
// nil. extra parts are appended.
func workbookZip(sheet, sst, styles func(w io.Writer) error, extra ...zpart) []zpart {
	wbRels := tRels + `<Relationship Id="rId1" Type="` + tRelNS + `/worksheet" Target="worksheets/sheet1.xml"/>`
	parts := []zpart{
		{"[Content_Types].xml", textPart(`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`)},
		{"_rels/.rels", textPart(tRels + `<Relationship Id="rId1" Type="` + tRelNS + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
		{"xl/workbook.xml", textPart(`<workbook ` + tNS + ` xmlns:r="` + tRelNS + `"><sheets><sheet name="Items" sheetId="1" r:id="rId1"/></sheets></workbook>`)},
		{"xl/worksheets/sheet1.xml", sheet},
	}
	if sst != nil {
		wbRels += `<Relationship Id="rId2" Type="` + tRelNS + `/sharedStrings" Target="sharedStrings.xml"/>`
		parts = append(parts, zpart{"xl/sharedStrings.xml", sst})
	}
	if styles != nil {
		wbRels += `<Relationship Id="rId3" Type="` + tRelNS + `/styles" Target="styles.xml"/>`
		parts = append(parts, zpart{"xl/styles.xml", styles})
	}
	parts = append(parts, zpart{"xl/_rels/workbook.xml.rels", textPart(wbRels + `</Relationships>`)})
	return append(parts, extra...)
}

// sheetXML is a sheet of the given rows' XML.
func sheetXML(rows string) func(w io.Writer) error {
	return textPart(`<worksheet ` + tNS + `><sheetData>` + rows + `</sheetData></worksheet>`)
}

// inlineRow is a row of inline-string cells.
func inlineRow(r int, cells ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<row r="%d">`, r)
	for _, c := range cells {
		fmt.Fprintf(&b, `<c t="inlineStr"><is><t>%s</t></is></c>`, c)
	}
	b.WriteString(`</row>`)
	return b.String()
}

// writeZip writes parts as a deflated zip to a file under t.TempDir().
func writeZip(t *testing.T, parts []zpart) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "hostile.xlsx")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, p := range parts {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.write(w); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// measured is one read with its cost.
type measured struct {
	result
	elapsed  time.Duration
	peakHeap int64 // HeapInuse above the heap before the read
}

// measureRead reads r and samples the heap every millisecond. Tests using
// it do not run in parallel, so that no other test's garbage is counted.
func measureRead(t *testing.T, ctx context.Context, r io.Reader, f Format, lim Limits) measured {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapInuse)
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if h := int64(ms.HeapInuse); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var m measured
	start := time.Now()
	m.good, m.nb, m.err = Read(ctx, r, f, lim,
		func(row Row) error { m.rows = append(m.rows, row); return nil },
		func(e RowError) error { m.bad = append(m.bad, e); return nil })
	m.elapsed = time.Since(start)
	close(done)
	wg.Wait()
	m.peakHeap = max(peak.Load()-base, 0)
	return m
}

// Bounds every hostile read must keep: the target for memory, and
// a time far below what the same files cost before (10 to 60 seconds).
const (
	hostileMaxHeap = 128 << 20
	hostileMaxTime = 10 * time.Second
)

func openFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// checkRefused wants a LimitError naming limit (or, for limit "", an
// ErrInvalidManifest containing want), in bounded time and memory.
func checkRefused(t *testing.T, m measured, limit, want string) {
	t.Helper()
	t.Logf("%v, peak heap %.1f MiB: %v", m.elapsed.Round(time.Millisecond), float64(m.peakHeap)/(1<<20), m.err)
	if m.err == nil {
		t.Fatalf("err: got nil after %d rows, want a refusal", m.good+m.nb)
	}
	if !errors.Is(m.err, ErrInvalidManifest) {
		t.Errorf("err: got %v, want it to match ErrInvalidManifest", m.err)
	}
	if limit != "" {
		var le *LimitError
		if !errors.As(m.err, &le) || le.Limit != limit || !errors.Is(m.err, ErrLimitExceeded) {
			t.Errorf("err: got %v, want a *LimitError naming %s", m.err, limit)
		} else if !strings.Contains(m.err.Error(), "limit "+limit) {
			t.Errorf("err: got %q, want the text to name %s", m.err, limit)
		}
	}
	if !strings.Contains(m.err.Error(), want) {
		t.Errorf("err: got %q, want it to contain %q", m.err, want)
	}
	if m.elapsed > hostileMaxTime {
		t.Errorf("time: got %v, want at most %v", m.elapsed, hostileMaxTime)
	}
	if m.peakHeap > hostileMaxHeap {
		t.Errorf("peak heap above idle: got %d MiB, want at most %d MiB", m.peakHeap>>20, hostileMaxHeap>>20)
	}
}

// TestReadHostileXLSX reads workbooks made to exhaust memory or time, as
// in issue 12: each is refused with an error naming the limit, within
// hostileMaxTime and hostileMaxHeap.
func TestReadHostileXLSX(t *testing.T) {
	header := inlineRow(1, "url", "note")
	oneRow := sheetXML(header + inlineRow(2, "https://a/1.jpg", "x"))
	relaxed := func(f func(*Limits)) Limits {
		lim := DefaultLimits()
		lim.MaxXLSXRatio = 1 << 30 // let the part be inflated, to reach the next limit
		f(&lim)
		return lim
	}
	tests := []struct {
		name  string
		parts []zpart
		lim   Limits
		limit string // the LimitError's Limit, or "" for a plain ErrInvalidManifest
		want  string
	}{
		{
			// The 51 KB workbook: 10 million empty shared strings.
			name:  "ten million empty shared strings",
			parts: workbookZip(oneRow, repeatPart(`<sst `+tNS+`>`, `<si/>`, 10_000_000, `</sst>`), nil),
			lim:   DefaultLimits(),
			limit: "MaxXLSXRatio", want: "xl/sharedStrings.xml: part compressed",
		},
		{
			name:  "empty shared strings past the count",
			parts: workbookZip(oneRow, repeatPart(`<sst `+tNS+`>`, `<si/>`, 2_000_000, `</sst>`), nil),
			lim:   relaxed(func(l *Limits) { l.MaxSharedStrings = 100_000 }),
			limit: "MaxSharedStrings", want: "more than 100000 shared strings",
		},
		{
			name:  "styles part over 16 MiB",
			parts: workbookZip(oneRow, nil, repeatPart(`<styleSheet `+tNS+`><cellXfs>`, `<xf/>`, 17<<20/5, `</cellXfs></styleSheet>`)),
			lim:   relaxed(func(*Limits) {}),
			limit: "MaxXLSXPartBytes", want: "xl/styles.xml: part of",
		},
		{
			name:  "styles part of a million cell formats",
			parts: workbookZip(oneRow, nil, repeatPart(`<styleSheet `+tNS+`><cellXfs>`, `<xf/>`, 1_000_000, `</cellXfs></styleSheet>`)),
			lim:   relaxed(func(*Limits) {}),
			want:  "more than 65536 cell formats",
		},
		{
			name:  "zip bomb sheet",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header, strings.Repeat(" ", 1<<10), 256<<10, `</sheetData></worksheet>`), nil, nil),
			lim:   DefaultLimits(),
			limit: "MaxXLSXRatio", want: "xl/worksheets/sheet1.xml: part compressed",
		},
		{
			name:  "sheet larger than the part limit",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header, strings.Repeat(" ", 1<<10), 8<<10, `</sheetData></worksheet>`), nil, nil),
			lim:   relaxed(func(l *Limits) { l.MaxXLSXPartBytes = 4 << 20 }),
			limit: "MaxXLSXPartBytes", want: "more than 4194304",
		},
		{
			name:  "whitespace token of 8 MiB",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header, strings.Repeat(" ", 1<<10), 8<<10, `</sheetData></worksheet>`), nil, nil),
			lim:   relaxed(func(*Limits) {}),
			limit: "MaxCellBytes", want: "an XML token",
		},
		{
			name:  "a million empty rows and then some",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header, `<row/>`, xlsxMaxRows+10, `</sheetData></worksheet>`), nil, nil),
			lim:   relaxed(func(*Limits) {}),
			want:  "more than 1048576 rows",
		},
		{
			name:  "row number past the sheet",
			parts: workbookZip(sheetXML(header+`<row r="99999999"/>`), nil, nil),
			lim:   DefaultLimits(),
			want:  "row 99999999: more than 1048576 rows",
		},
		{
			name:  "rows past MaxRows",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header, `<row><c t="inlineStr"><is><t>https://a/1.jpg</t></is></c></row>`, 5000, `</sheetData></worksheet>`), nil, nil),
			lim:   func() Limits { l := DefaultLimits(); l.MaxRows = 1000; return l }(),
			limit: "MaxRows", want: "more than 1000 rows",
		},
		{
			name:  "giant inline cell",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header+`<row r="2"><c t="inlineStr"><is><t>https://a/1.jpg</t></is></c><c t="inlineStr"><is><t>`, strings.Repeat("a", 1<<10), 256<<10, `</t></is></c></row></sheetData></worksheet>`), nil, nil),
			lim:   relaxed(func(*Limits) {}),
			limit: "MaxCellBytes", want: "an XML token",
		},
		{
			name:  "cell over MaxCellBytes in rich-text runs",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+header+`<row r="2"><c t="inlineStr"><is>`, `<r><t>`+strings.Repeat("a", 1000)+`</t></r>`, 40, `</is></c></row></sheetData></worksheet>`), nil, nil),
			lim:   DefaultLimits(),
			limit: "MaxCellBytes", want: "row 2: cell 1 larger than 32768 bytes",
		},
		{
			name:  "giant shared string",
			parts: workbookZip(oneRow, repeatPart(`<sst `+tNS+`><si><t>`, strings.Repeat("a", 1<<10), 64<<10, `</t></si></sst>`), nil),
			lim:   relaxed(func(*Limits) {}),
			limit: "MaxCellBytes", want: "xl/sharedStrings.xml: an XML token",
		},
		{
			name:  "row over MaxRowBytes",
			parts: workbookZip(sheetXML(header+inlineRow(2, "https://a/1.jpg", strings.Repeat("b", 30<<10), strings.Repeat("c", 30<<10), strings.Repeat("d", 30<<10))), nil, nil),
			lim:   DefaultLimits(),
			limit: "MaxRowBytes", want: "row 2: row larger than 65536 bytes",
		},
		{
			name:  "elements nested without end",
			parts: workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`, `<a>`, 1_000_000, ``), nil, nil),
			lim:   relaxed(func(*Limits) {}),
			want:  "nested deeper than 64",
		},
		{
			name:  "two thousand parts",
			parts: workbookZip(oneRow, nil, nil, manyParts(2000)...),
			lim:   DefaultLimits(),
			limit: "MaxXLSXParts", want: "lists 2005 parts, more than 1000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := writeZip(t, tt.parts)
			m := measureRead(t, t.Context(), openFile(t, name), XLSX, tt.lim)
			checkRefused(t, m, tt.limit, tt.want)
		})
	}
}

func manyParts(n int) []zpart {
	parts := make([]zpart, n)
	for i := range parts {
		parts[i] = zpart{fmt.Sprintf("xl/media/p%d.bin", i), textPart("")}
	}
	return parts
}

// TestReadXLSXLyingZip covers parts and directories that claim less than
// they hold: a directory end listing one entry over thousands, and a part
// that inflates past its declared size.
func TestReadXLSXLyingZip(t *testing.T) {
	t.Run("directory end claims one entry", func(t *testing.T) {
		name := writeZip(t, workbookZip(sheetXML(inlineRow(1, "url")), nil, nil, manyParts(20_000)...))
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		end := bytes.LastIndex(b, []byte("PK\x05\x06"))
		binary.LittleEndian.PutUint16(b[end+8:], 1)
		binary.LittleEndian.PutUint16(b[end+10:], 1)
		m := measureRead(t, t.Context(), bytes.NewReader(b), XLSX, DefaultLimits())
		checkRefused(t, m, "MaxXLSXParts", "has room for more than 1000 parts")
	})
	t.Run("part inflates past its declared size", func(t *testing.T) {
		// The sheet says it is 300 bytes; its data inflates to 64 MiB.
		var body bytes.Buffer
		zw := zip.NewWriter(&body)
		w, err := zw.Create("x")
		if err != nil {
			t.Fatal(err)
		}
		if err := repeatPart(`<worksheet `+tNS+`><sheetData>`+inlineRow(1, "url"), `<row/>`, 64<<20/6, `</sheetData></worksheet>`)(w); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(body.Bytes()), int64(body.Len()))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := zr.File[0].OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		deflated, err := io.ReadAll(raw)
		if err != nil {
			t.Fatal(err)
		}
		parts := workbookZip(nil, nil, nil)
		name := filepath.Join(t.TempDir(), "lying.xlsx")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out := zip.NewWriter(f)
		for _, p := range parts {
			if p.name == "xl/worksheets/sheet1.xml" {
				w, err := out.CreateRaw(&zip.FileHeader{Name: p.name, Method: zip.Deflate,
					CompressedSize64: uint64(len(deflated)), UncompressedSize64: 300, CRC32: zr.File[0].CRC32})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(deflated); err != nil {
					t.Fatal(err)
				}
				continue
			}
			w, err := out.Create(p.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.write(w); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		m := measureRead(t, t.Context(), openFile(t, name), XLSX, DefaultLimits())
		checkRefused(t, m, "", "xl/worksheets/sheet1.xml: damaged part")
	})
}

// TestReadHostileText reads CSV and JSONL files made of one giant line or
// field: each is refused naming the limit, having read little of it.
func TestReadHostileText(t *testing.T) {
	tests := []struct {
		name  string
		f     Format
		r     io.Reader
		limit string
		want  string
	}{
		{"csv line of 256 MiB", CSV, io.LimitReader(&endless{prefix: "url,note\nhttps://a/1,", fill: []byte("xxxxxxxx")}, 256<<20), "MaxRowBytes", "line 2: row larger than 65536 bytes"},
		{"csv field of 40 KiB", CSV, strings.NewReader("url,note\nhttps://a/1," + strings.Repeat("x", 40<<10) + "\n"), "MaxCellBytes", "row 2: cell 2 larger than 32768 bytes"},
		{"csv header field of 40 KiB", CSV, strings.NewReader("url," + strings.Repeat("x", 40<<10) + "\n"), "MaxCellBytes", "line 1: cell 2 larger than 32768 bytes"},
		{"jsonl line of 256 MiB", JSONL, io.LimitReader(&endless{prefix: `{"url":"https://a/1","note":"`, fill: []byte("xxxxxxxx")}, 256<<20), "MaxRowBytes", "line 1: row larger than 65536 bytes"},
		{"jsonl value of 40 KiB", JSONL, strings.NewReader(`{"url":"https://a/1","note":"` + strings.Repeat("x", 40<<10) + `"}` + "\n"), "MaxCellBytes", `line 1: field "note" larger than 32768 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := measureRead(t, t.Context(), tt.r, tt.f, DefaultLimits())
			checkRefused(t, m, tt.limit, tt.want)
		})
	}
}

// countdownCtx is a context that reports cancellation once Err has been
// asked n times: it cancels a read in the middle, wherever the reader
// checks, without a timer.
type countdownCtx struct {
	context.Context
	n atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestReadCancelled checks that a read stops at cancellation: in the
// middle of the rows of every format, while the shared strings are read,
// and while a workbook given as a plain reader is copied.
func TestReadCancelled(t *testing.T) {
	t.Parallel()
	var csvBuf, jsonlBuf strings.Builder
	csvBuf.WriteString("url\n")
	for i := range 10_000 {
		fmt.Fprintf(&csvBuf, "https://a/%d.jpg\n", i)
		fmt.Fprintf(&jsonlBuf, "{\"url\":\"https://a/%d.jpg\"}\n", i)
	}
	bigSheet := writeZip(t, workbookZip(repeatPart(`<worksheet `+tNS+`><sheetData>`+inlineRow(1, "url"), `<row><c t="s"><v>0</v></c></row>`, 10_000, `</sheetData></worksheet>`),
		func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString(`<sst ` + tNS + `><si><t>https://a/1.jpg</t></si>`)
			for i := range 500_000 {
				fmt.Fprintf(bw, `<si><t>shared string %d</t></si>`, i)
			}
			bw.WriteString(`</sst>`)
			return bw.Flush()
		}, nil))
	t.Run("between rows", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			f Format
			r func() io.Reader
		}{
			{CSV, func() io.Reader { return strings.NewReader(csvBuf.String()) }},
			{JSONL, func() io.Reader { return strings.NewReader(jsonlBuf.String()) }},
			{XLSX, func() io.Reader { return openFile(t, bigSheet) }},
		} {
			ctx, cancel := context.WithCancel(t.Context())
			rows := 0
			_, _, err := Read(ctx, tc.r(), tc.f, DefaultLimits(), func(Row) error {
				rows++
				if rows == 3 {
					cancel()
				}
				return nil
			}, nil)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err: got %v, want context.Canceled", tc.f, err)
			}
			if rows != 3 {
				t.Errorf("%s: rows after cancel: got %d, want 3", tc.f, rows)
			}
		}
	})
	t.Run("while reading shared strings", func(t *testing.T) {
		t.Parallel()
		ctx := &countdownCtx{Context: t.Context()}
		ctx.n.Store(20) // a few checks in: 500,000 strings take about 600
		rows := 0
		_, _, err := Read(ctx, openFile(t, bigSheet), XLSX, DefaultLimits(), func(Row) error { rows++; return nil }, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err: got %v, want context.Canceled", err)
		}
		if rows != 0 {
			t.Errorf("rows: got %d, want 0 (cancelled before the sheet)", rows)
		}
	})
	t.Run("while copying a workbook", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := Read(ctx, io.LimitReader(&endless{fill: []byte("PK\x03\x04")}, 1<<30), XLSX, DefaultLimits(), func(Row) error { return nil }, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err: got %v, want context.Canceled", err)
		}
	})
}
