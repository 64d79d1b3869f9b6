package manifest

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// TestReadMillionRowsMemory streams a generated 1,000,000-row CSV manifest
// (about 80 MB, made on the fly through an io.Pipe, never on disk), and a
// 250,000-row JSONL one, and
// checks that the Go heap in use never grows by more than 30 MB. It does not
// run in parallel, so that no other test's garbage is counted.
func TestReadMillionRowsMemory(t *testing.T) {
	const maxExtra = 30 << 20
	tests := []struct {
		name   string
		f      Format
		n      int
		header string
		line   string // format verb for i, i, i
		first  int    // Number of the first data row
	}{
		{"csv", CSV, 1_000_000, "url,sku,title,colour\n", "https://cdn.example.com/p/%07d.jpg,SKU-%07d,Product %d,red\n", 2},
		// JSONL decoding is slower; a quarter million rows shows the same bound.
		{"jsonl", JSONL, 250_000, "", `{"url":"https://cdn.example.com/p/%07d.jpg","sku":"SKU-%07d","title":"Product %d","colour":"red"}` + "\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pr.Close()
			go func() {
				bw := bufio.NewWriterSize(pw, 32<<10)
				_, err := io.WriteString(bw, tt.header)
				for i := 1; i <= tt.n && err == nil; i++ {
					_, err = fmt.Fprintf(bw, tt.line, i, i, i)
				}
				if err == nil {
					err = bw.Flush()
				}
				pw.CloseWithError(err)
			}()

			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := int64(ms.HeapInuse)
			var peak int64
			seen := 0
			good, bad, err := Read(t.Context(), pr, tt.f, DefaultLimits(), func(r Row) error {
				if want := tt.first + seen; r.Number != want {
					return fmt.Errorf("row number: got %d, want %d", r.Number, want)
				}
				seen++
				if seen%25_000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, int64(ms.HeapInuse))
				}
				return nil
			}, nil)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if good != tt.n || bad != 0 {
				t.Errorf("counts: got %d good, %d bad; want %d, 0", good, bad, tt.n)
			}
			if extra := peak - base; extra > maxExtra {
				t.Errorf("heap in use grew: got %d MB, want at most %d MB", extra>>20, maxExtra>>20)
			}
			t.Logf("heap in use: base %d MB, peak %d MB", base>>20, peak>>20)
		})
	}
}
