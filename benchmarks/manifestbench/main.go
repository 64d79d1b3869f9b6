// Command manifestbench measures what hostile manifests cost the reader (issue 12): it
// writes each workbook or text file of its table to a directory, then reads it with
// manifest.Read and the default limits in a process of its own (the command runs itself
// with -child), and prints the wall time, the peak Go heap in use above the heap before
// the read (sampled every millisecond), the peak RSS above the RSS before the read
// (VmHWM against VmRSS from /proc/self/status) and how the read ended.
//
//	go run ./benchmarks/manifestbench              # every case
//	go run ./benchmarks/manifestbench -case sst-20M-empty
//
// The worst peak and time over the cases are checked against -max-heap-mib and
// -max-seconds; the command fails when either is exceeded.
//
// The "before" figures in benchmarks/README.md come from this file built against the
// manifest package of a529b74 (excelize opening the workbook):
//
//	mkdir /tmp/old && git archive a529b74 | tar -x -C /tmp/old
//	mkdir -p /tmp/old/benchmarks/manifestbench && cp benchmarks/manifestbench/main.go /tmp/old/benchmarks/manifestbench/
//	(cd /tmp/old && go run ./benchmarks/manifestbench -max-heap-mib 1e6 -max-seconds 1e6)
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pictor/pictor/manifest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manifestbench:", err)
		os.Exit(1)
	}
}

// result is what a child prints, one JSON object.
type result struct {
	Seconds     float64 `json:"seconds"`
	HeapMiB     float64 `json:"heap_mib"` // peak HeapInuse above the base
	RSSMiB      float64 `json:"rss_mib"`  // VmHWM above VmRSS before the read
	BaseRSSMiB  float64 `json:"base_rss_mib"`
	Good, Bad   int
	Err         string `json:"err"`
	TimedOut    bool   `json:"timed_out"`
	ChildFailed string `json:"-"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("manifestbench", flag.ContinueOnError)
	only := fs.String("case", "", "run only the case of this name")
	dir := fs.String("dir", "", "directory for the generated files (default: a temporary one, removed after)")
	child := fs.String("child", "", "internal: read this file in this process")
	format := fs.String("format", "xlsx", "internal: the child's manifest format")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up on a read after this long")
	maxHeap := fs.Float64("max-heap-mib", 128, "fail when a read's peak heap above idle exceeds this")
	maxSeconds := fs.Float64("max-seconds", 60, "fail when a read takes longer than this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		return runChild(*child, manifest.Format(*format), *timeout, stdout)
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "pictor-manifestbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d CPUs, %s; default limits; one process a read\n\n", runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(stdout, "| case | file | seconds | peak heap MiB | peak RSS MiB | rows | ended |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	var worstHeap, worstSec float64
	var worstHeapCase, worstSecCase string
	for _, c := range cases {
		if *only != "" && c.name != *only {
			continue
		}
		path := filepath.Join(work, c.name+"."+string(c.format))
		if err := writeFile(path, c.write); err != nil {
			return fmt.Errorf("%s: write: %w", c.name, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		// The child's own deadline is the timeout; this one only catches a hung child.
		ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Minute)
		out, err := exec.CommandContext(ctx, self, "-child", path, "-format", string(c.format), "-timeout", timeout.String()).Output()
		cancel()
		var r result
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
			}
			r.ChildFailed = err.Error()
		} else if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("%s: child output %q: %w", c.name, out, err)
		}
		_ = os.Remove(path)
		ended := "ok"
		switch {
		case r.ChildFailed != "":
			ended = "child failed: " + r.ChildFailed
		case r.TimedOut:
			ended = "timed out: " + r.Err
		case r.Err != "":
			ended = r.Err
		}
		fmt.Fprintf(stdout, "| %s | %s | %.2f | %.1f | %.1f | %d | %s |\n",
			c.name, size(fi.Size()), r.Seconds, r.HeapMiB, r.RSSMiB, r.Good+r.Bad, strings.ReplaceAll(ended, "|", "/"))
		if r.HeapMiB > worstHeap || worstHeapCase == "" {
			worstHeap, worstHeapCase = r.HeapMiB, c.name
		}
		if r.Seconds > worstSec || worstSecCase == "" {
			worstSec, worstSecCase = r.Seconds, c.name
		}
		if r.ChildFailed != "" || r.TimedOut {
			worstSec, worstSecCase = max(worstSec, timeout.Seconds()), c.name
		}
	}
	fmt.Fprintf(stdout, "\nworst peak heap above idle: %.1f MiB (%s; limit %.0f)\n", worstHeap, worstHeapCase, *maxHeap)
	fmt.Fprintf(stdout, "worst time: %.2f s (%s; limit %.0f)\n", worstSec, worstSecCase, *maxSeconds)
	if worstHeap > *maxHeap || worstSec > *maxSeconds {
		return fmt.Errorf("a read exceeded the bounds")
	}
	return nil
}

func size(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// runChild reads path once with the default limits and prints a result.
func runChild(path string, f manifest.Format, timeout time.Duration, stdout io.Writer) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	baseRSS, err := procStatus("VmRSS")
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		peak = base
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	good, bad, err := manifest.Read(ctx, file, f, manifest.DefaultLimits(),
		func(manifest.Row) error { return nil }, nil)
	elapsed := time.Since(start)
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	hwm, err2 := procStatus("VmHWM")
	if err2 != nil {
		return err2
	}
	r := result{
		Seconds:    elapsed.Seconds(),
		HeapMiB:    float64(peak-base) / (1 << 20),
		RSSMiB:     float64(hwm-baseRSS) / (1 << 20),
		BaseRSSMiB: float64(baseRSS) / (1 << 20),
		Good:       good,
		Bad:        bad,
		TimedOut:   errors.Is(err, context.DeadlineExceeded),
	}
	if err != nil {
		r.Err = err.Error()
		if len(r.Err) > 160 {
			r.Err = r.Err[:160] + "..."
		}
	}
	return json.NewEncoder(stdout).Encode(r)
}

// procStatus returns a kB field of /proc/self/status in bytes.
func procStatus(field string) (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

func writeFile(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	return errors.Join(err, f.Close())
}

// A benchCase is one manifest to read.
type benchCase struct {
	name   string
	format manifest.Format
	write  func(w io.Writer) error
}

var cases = []benchCase{
	// The workbooks: a few header strings, then millions of empty shared strings
	// (about 51 KB and 100 KB compressed), and a 16 MiB styles part.
	{"sst-10M-empty", manifest.XLSX, workbook(sstEmpty(10_000_000), nil, honestSheet(1))},
	{"sst-20M-empty", manifest.XLSX, workbook(sstEmpty(20_000_000), nil, honestSheet(1))},
	{"styles-16MiB-xfs", manifest.XLSX, workbook(sstEmpty(0), stylesXfs(16<<20), honestSheet(1))},
	{"styles-16MiB-fonts", manifest.XLSX, workbook(sstEmpty(0), stylesFonts(16<<20), honestSheet(1))},
	// 16 MiB of empty cell formats (<xf/>): 3.3 million of them.
	{"styles-16MiB-empty-xfs", manifest.XLSX, workbook(sstEmpty(0), stylesEmptyXfs(16<<20), honestSheet(1))},
	// One shared string of 256 MiB.
	{"sst-256MiB-string", manifest.XLSX, workbook(sstHuge(256<<20), nil, honestSheet(1))},
	// A sheet of 24 million empty rows (about 450 MiB of XML), then a 10,000-column row.
	{"sheet-24M-empty-rows", manifest.XLSX, workbook(sstEmpty(0), nil, emptyRows(24_000_000))},
	// One cell of 256 MiB, an inline string in the sheet.
	{"sheet-256MiB-cell", manifest.XLSX, workbook(sstEmpty(0), nil, giantCell(256<<20))},
	// A zip bomb: an unreferenced 1 GiB part of zeros (about 1 MiB compressed).
	{"zip-bomb-1GiB-part", manifest.XLSX, withPart(workbook(sstEmpty(0), nil, honestSheet(1)), "xl/media/image1.bin", zeros(1<<30))},
	// 100,000 zip entries.
	{"zip-100k-parts", manifest.XLSX, manyParts(100_000)},
	// Honest workbooks: 200,000 rows of url, sku, title as shared strings, and the most
	// rows a sheet holds (3.1 million shared strings, 150 MiB of them).
	{"honest-200k-rows", manifest.XLSX, workbook(sstRows(200_000), nil, honestSheet(200_000))},
	{"honest-1M-rows", manifest.XLSX, workbook(sstRows(1<<20-1), nil, honestSheet(1<<20))},
	// The worst the defaults accept: as many shared strings as allowed (4 million), and a
	// sheet of the most rows, 13 columns each, 460 MiB of XML (under the 512 MiB part limit
	// and the 100:1 ratio).
	{"sst-4M-strings", manifest.XLSX, workbook(sstNumbered(4_000_000), nil, honestSheet(1))},
	{"wide-1M-rows", manifest.XLSX, workbook(sstURLs(1<<20-1), nil, wideSheet(1<<20, 13))},
	// Text manifests: one line of 256 MiB, and an honest million rows.
	{"csv-256MiB-line", manifest.CSV, longLine(256 << 20)},
	{"jsonl-256MiB-line", manifest.JSONL, longLine(256 << 20)},
	{"csv-1M-rows", manifest.CSV, csvRows(1_000_000)},
}

// giantCell is a header row and one data row whose second cell is an inline string of n bytes.
func giantCell(n int) func(w io.Writer) error {
	return repeat(xmlDecl+`<worksheet `+nsMain+`><sheetData>`+
		`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>`+
		`<row r="2"><c r="A2" t="inlineStr"><is><t>https://cdn.example.com/p/1.jpg</t></is></c><c r="B2" t="inlineStr"><is><t>`,
		`aaaaaaaaaaaaaaaa`, n/16, `</t></is></c></row></sheetData></worksheet>`)
}

// zeros writes n zero bytes.
func zeros(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.CopyN(w, zeroReader{}, int64(n))
		return err
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// withPart is the workbook wb with one more part appended: wb's parts are copied as they
// are (still compressed) into a new zip, then the extra part is added.
func withPart(wb func(w io.Writer) error, name string, content func(w io.Writer) error) func(w io.Writer) error {
	return func(w io.Writer) error {
		var buf bytes.Buffer
		if err := wb(&buf); err != nil {
			return err
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			return err
		}
		zw := zip.NewWriter(w)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, flate.BestCompression)
		})
		for _, f := range zr.File {
			if err := zw.Copy(f); err != nil {
				return err
			}
		}
		pw, err := zw.Create(name)
		if err != nil {
			return err
		}
		if err := content(pw); err != nil {
			return err
		}
		return zw.Close()
	}
}

// part is one zip entry: its name and a writer of its content.
type part struct {
	name  string
	write func(w io.Writer) error
}

func text(s string) func(w io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// repeat writes head, n copies of item and tail.
func repeat(head, item string, n int, tail string) func(w io.Writer) error {
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

// writeZip writes parts as a zip, deflated at the best compression.
func writeZip(w io.Writer, parts []part) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	for _, p := range parts {
		pw, err := zw.Create(p.name)
		if err != nil {
			return err
		}
		if err := p.write(pw); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return zw.Close()
}

const (
	nsMain  = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	nsRel   = `xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relNS   = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
	xmlDecl = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
)

// workbook returns a writer of a one-sheet workbook with the given shared strings,
// styles (nil: none) and sheet parts.
func workbook(sst, styles, sheet func(w io.Writer) error) func(w io.Writer) error {
	types := xmlDecl + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
		`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>`
	wbRels := xmlDecl + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId1" Type="` + relNS + `/worksheet" Target="worksheets/sheet1.xml"/>` +
		`<Relationship Id="rId2" Type="` + relNS + `/sharedStrings" Target="sharedStrings.xml"/>`
	if styles != nil {
		types += `<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>`
		wbRels += `<Relationship Id="rId3" Type="` + relNS + `/styles" Target="styles.xml"/>`
	}
	types += `</Types>`
	wbRels += `</Relationships>`
	parts := []part{
		{"[Content_Types].xml", text(types)},
		{"_rels/.rels", text(xmlDecl + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + relNS + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
		{"xl/workbook.xml", text(xmlDecl + `<workbook ` + nsMain + ` ` + nsRel + `><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)},
		{"xl/_rels/workbook.xml.rels", text(wbRels)},
		{"xl/worksheets/sheet1.xml", sheet},
		{"xl/sharedStrings.xml", sst},
	}
	if styles != nil {
		parts = append(parts, part{"xl/styles.xml", styles})
	}
	return func(w io.Writer) error { return writeZip(w, parts) }
}

// sstHeader is the shared-string table's start: the header names at indexes 0-2.
const sstHeader = xmlDecl + `<sst ` + nsMain + `><si><t>url</t></si><si><t>sku</t></si><si><t>title</t></si>`

// sstEmpty is the header strings and n empty ones.
func sstEmpty(n int) func(w io.Writer) error {
	return repeat(sstHeader, `<si/>`, n, `</sst>`)
}

// sstHuge is the header strings and one string of n bytes.
func sstHuge(n int) func(w io.Writer) error {
	return repeat(sstHeader+`<si><t>`, `aaaaaaaaaaaaaaaa`, n/16, `</t></si></sst>`)
}

// sstRows is the header strings and url, sku and title strings for n rows.
func sstRows(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(sstHeader)
		for i := range n {
			fmt.Fprintf(bw, `<si><t>https://cdn.example.com/p/%07d.jpg</t></si><si><t>SKU-%07d</t></si><si><t>Product %d, a fine thing</t></si>`, i, i, i)
		}
		bw.WriteString(`</sst>`)
		return bw.Flush()
	}
}

// sstNumbered is the header strings and n-3 short distinct strings.
func sstNumbered(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(sstHeader)
		for i := 3; i < n; i++ {
			fmt.Fprintf(bw, `<si><t>s%d</t></si>`, i)
		}
		bw.WriteString(`</sst>`)
		return bw.Flush()
	}
}

// sstURLs is the header strings and n URLs.
func sstURLs(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(sstHeader)
		for i := range n {
			fmt.Fprintf(bw, `<si><t>https://cdn.example.com/p/%07d.jpg</t></si>`, i)
		}
		bw.WriteString(`</sst>`)
		return bw.Flush()
	}
}

// wideSheet is a header row of url and cols-1 inline names, then n-1 rows of a URL
// (shared string 3..) and cols-1 numbers.
func wideSheet(n, cols int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(xmlDecl + `<worksheet ` + nsMain + `><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>`)
		for c := 1; c < cols; c++ {
			fmt.Fprintf(bw, `<c r="%s1" t="inlineStr"><is><t>col%d</t></is></c>`, colName(c), c)
		}
		bw.WriteString(`</row>`)
		for i := 0; i < n-1; i++ {
			r := i + 2
			fmt.Fprintf(bw, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c>`, r, r, 3+i)
			for c := 1; c < cols; c++ {
				fmt.Fprintf(bw, `<c r="%s%d"><v>%d</v></c>`, colName(c), r, (i*31+c*7919)%1000003)
			}
			bw.WriteString(`</row>`)
		}
		bw.WriteString(`</sheetData></worksheet>`)
		return bw.Flush()
	}
}

// colName is the letter of column c (0-based, below 26).
func colName(c int) string {
	return string(rune('A' + c))
}

// honestSheet is a header row of shared strings 0-2 and n-1 data rows of shared strings
// 3.. (sstRows), or, for n = 1, one data row of inline strings.
func honestSheet(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(xmlDecl + `<worksheet ` + nsMain + `><sheetData>` +
			`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>`)
		if n == 1 {
			bw.WriteString(`<row r="2"><c r="A2" t="inlineStr"><is><t>https://cdn.example.com/p/1.jpg</t></is></c></row>`)
		}
		for i := 0; i < n-1; i++ {
			r := i + 2
			fmt.Fprintf(bw, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d" t="s"><v>%d</v></c><c r="C%d" t="s"><v>%d</v></c></row>`,
				r, r, 3+3*i, r, 4+3*i, r, 5+3*i)
		}
		bw.WriteString(`</sheetData></worksheet>`)
		return bw.Flush()
	}
}

// emptyRows is a header row, then n empty rows, then a row with a cell at column 10,000.
func emptyRows(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(xmlDecl + `<worksheet ` + nsMain + `><sheetData>` +
			`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`)
		for i := range n {
			fmt.Fprintf(bw, `<row r="%d"/>`, i+2)
		}
		fmt.Fprintf(bw, `<row r="%d"><c r="NTP%d" t="inlineStr"><is><t>x</t></is></c></row>`, n+2, n+2)
		bw.WriteString(`</sheetData></worksheet>`)
		return bw.Flush()
	}
}

const stylesHead = xmlDecl + `<styleSheet ` + nsMain + `>`

// stylesXfs is a styles part of about n bytes of cell formats.
func stylesXfs(n int) func(w io.Writer) error {
	const xf = `<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>`
	return repeat(stylesHead+`<cellXfs>`, xf, n/len(xf), `</cellXfs></styleSheet>`)
}

// stylesEmptyXfs is a styles part of about n bytes of empty cell formats.
func stylesEmptyXfs(n int) func(w io.Writer) error {
	return repeat(stylesHead+`<cellXfs>`, `<xf/>`, n/5, `</cellXfs></styleSheet>`)
}

// stylesFonts is a styles part of about n bytes of fonts and one cell format.
func stylesFonts(n int) func(w io.Writer) error {
	const font = `<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>`
	return repeat(stylesHead+`<fonts>`, font, n/len(font), `</fonts><cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>`)
}

// manyParts is a small workbook followed by n empty entries.
func manyParts(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		parts := []part{
			{"_rels/.rels", text(xmlDecl + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
				`<Relationship Id="rId1" Type="` + relNS + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`)},
			{"xl/workbook.xml", text(xmlDecl + `<workbook ` + nsMain + ` ` + nsRel + `><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)},
			{"xl/_rels/workbook.xml.rels", text(xmlDecl + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
				`<Relationship Id="rId1" Type="` + relNS + `/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`)},
			{"xl/worksheets/sheet1.xml", text(xmlDecl + `<worksheet ` + nsMain + `><sheetData>` +
				`<row r="1"><c r="A1" t="inlineStr"><is><t>url</t></is></c></row></sheetData></worksheet>`)},
		}
		for i := range n {
			parts = append(parts, part{fmt.Sprintf("xl/media/p%d.bin", i), text("")})
		}
		return writeZip(w, parts)
	}
}

// longLine is one line of n bytes.
func longLine(n int) func(w io.Writer) error {
	return repeat(`url,`, `aaaaaaaaaaaaaaaa`, n/16, "\n")
}

// csvRows is a CSV manifest of n rows.
func csvRows(n int) func(w io.Writer) error {
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString("url,sku,title\n")
		for i := range n {
			fmt.Fprintf(bw, "https://cdn.example.com/p/%07d.jpg,SKU-%07d,\"Product %d, a fine thing\"\n", i, i, i)
		}
		return bw.Flush()
	}
}
