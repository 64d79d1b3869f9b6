package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// result is what one Read call produced.
type result struct {
	rows     []Row
	bad      []RowError
	good, nb int
	err      error
}

// read runs Read over r and collects everything it reports.
func read(t *testing.T, r io.Reader, f Format, lim Limits) result {
	t.Helper()
	var res result
	res.good, res.nb, res.err = Read(context.Background(), r, f, lim,
		func(row Row) error {
			// Columns names exactly the Meta keys (checked here for every case, order in
			// TestReadColumnsInFileOrder), and is left out of the cases' wanted rows.
			if row.Columns != nil || (f != JSONL && row.Meta != nil) {
				if len(row.Columns) != len(row.Meta) {
					t.Errorf("row %d: columns %q for meta %v", row.Number, row.Columns, row.Meta)
				}
				for _, c := range row.Columns {
					if _, ok := row.Meta[c]; !ok {
						t.Errorf("row %d: column %q not in meta %v", row.Number, c, row.Meta)
					}
				}
			}
			row.Columns = nil
			res.rows = append(res.rows, row)
			return nil
		},
		func(e RowError) error { res.bad = append(res.bad, e); return nil })
	if res.good != len(res.rows) {
		t.Errorf("good count: got %d, want %d (rows delivered)", res.good, len(res.rows))
	}
	if res.nb != len(res.bad) {
		t.Errorf("bad count: got %d, want %d (bad rows delivered)", res.nb, len(res.bad))
	}
	return res
}

// check compares a read with what a case wants. wantErr is a substring of
// the error, which must then wrap ErrInvalidManifest.
func check(t *testing.T, res result, wantRows []Row, wantBad []RowError, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && res.err != nil:
		t.Fatalf("err: got %v, want nil", res.err)
	case wantErr != "" && res.err == nil:
		t.Fatalf("err: got nil, want one containing %q", wantErr)
	case wantErr != "":
		if !errors.Is(res.err, ErrInvalidManifest) {
			t.Errorf("err: got %v, want it to wrap ErrInvalidManifest", res.err)
		}
		if !strings.Contains(res.err.Error(), wantErr) {
			t.Errorf("err: got %q, want it to contain %q", res.err, wantErr)
		}
	}
	if !reflect.DeepEqual(res.rows, wantRows) {
		t.Errorf("rows:\n got %#v\nwant %#v", res.rows, wantRows)
	}
	if !reflect.DeepEqual(res.bad, wantBad) {
		t.Errorf("bad rows:\n got %#v\nwant %#v", res.bad, wantBad)
	}
}

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, ctype string
		head              string
		want              Format
		wantErr           error
	}{
		{name: "csv extension", file: "items.CSV", head: "url\n", want: CSV},
		{name: "tsv extension", file: "items.tsv", want: CSV},
		{name: "jsonl extension", file: "a/b/items.jsonl", head: "url,sku", want: JSONL},
		{name: "ndjson extension", file: "items.ndjson", want: JSONL},
		{name: "xlsx extension without head", file: "items.xlsx", want: XLSX},
		{name: "xlsx extension with zip head", file: "items.xlsx", head: "PK\x03\x04rest", want: XLSX},
		{name: "xlsx extension over text", file: "items.xlsx", head: "url,sku\n", wantErr: ErrUnsupportedFormat},
		{name: "zip head beats csv name", file: "items.csv", head: "PK\x03\x04", want: XLSX},
		{name: "legacy xls by name", file: "items.xls", wantErr: ErrUnsupportedFormat},
		{name: "legacy xls by bytes", file: "upload", head: "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", wantErr: ErrUnsupportedFormat},
		{name: "gzip by bytes", head: "\x1F\x8B\x08", wantErr: ErrUnsupportedFormat},
		{name: "csv content type", ctype: "text/csv; charset=utf-8", head: "{", want: CSV},
		{name: "ndjson content type", ctype: "application/x-ndjson", want: JSONL},
		{name: "xlsx content type", ctype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", head: "PK\x03\x04", want: XLSX},
		{name: "ms-excel content type is sniffed", ctype: "application/vnd.ms-excel", head: "url,sku\n", want: CSV},
		{name: "sniff jsonl", ctype: "application/octet-stream", head: "{\"url\":\"x\"}", want: JSONL},
		{name: "sniff jsonl after bom and space", head: "\xEF\xBB\xBF \n{\"url\":\"x\"}", want: JSONL},
		{name: "sniff csv", head: "url,sku\n", want: CSV},
		{name: "nothing known is csv", want: CSV},
		{name: "extension beats content type", file: "x.jsonl", ctype: "text/csv", want: JSONL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Detect(tt.file, tt.ctype, []byte(tt.head))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"csv", CSV, false}, {" JSONL ", JSONL, false}, {"ndjson", JSONL, false},
		{"xlsx", XLSX, false}, {"xml", "", true}, {"", "", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, err := ParseFormat(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("err: got %v, want ErrUnsupportedFormat", err)
			}
		})
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mod     func(*Limits)
		wantErr bool
	}{
		{"defaults", func(*Limits) {}, false},
		{"zero bad rows allowed", func(l *Limits) { l.MaxBadRows = 0 }, false},
		{"zero rows", func(l *Limits) { l.MaxRows = 0 }, true},
		{"zero row bytes", func(l *Limits) { l.MaxRowBytes = 0 }, true},
		{"zero columns", func(l *Limits) { l.MaxColumns = 0 }, true},
		{"negative bad rows", func(l *Limits) { l.MaxBadRows = -1 }, true},
		{"zero xlsx bytes", func(l *Limits) { l.MaxXLSXBytes = 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits()
			tt.mod(&lim)
			err := lim.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidLimits) {
				t.Errorf("got %v, want ErrInvalidLimits", err)
			}
		})
	}
}

func TestReadArguments(t *testing.T) {
	t.Parallel()
	noop := func(Row) error { return nil }
	t.Run("invalid limits", func(t *testing.T) {
		t.Parallel()
		_, _, err := Read(context.Background(), strings.NewReader("url\n"), CSV, Limits{}, noop, nil)
		if !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("got %v, want ErrInvalidLimits", err)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		t.Parallel()
		_, _, err := Read(context.Background(), strings.NewReader("url\n"), Format("xml"), DefaultLimits(), noop, nil)
		if !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("got %v, want ErrUnsupportedFormat", err)
		}
	})
	t.Run("nil badFn ignores bad rows", func(t *testing.T) {
		t.Parallel()
		good, bad, err := Read(context.Background(), strings.NewReader("url\nhttps://a/1\nnope\n"), CSV, DefaultLimits(), noop, nil)
		if err != nil || good != 1 || bad != 1 {
			t.Errorf("got %d, %d, %v; want 1, 1, nil", good, bad, err)
		}
	})
}

func TestReadCallbacksAndContext(t *testing.T) {
	t.Parallel()
	const input = "url\nhttps://a/1\nbad\nhttps://a/2\nhttps://a/3\n"
	errStop := errors.New("stop")
	for _, f := range []Format{CSV, JSONL} {
		in := input
		if f == JSONL {
			in = "{\"url\":\"https://a/1\"}\n{\"url\":\"bad\"}\n{\"url\":\"https://a/2\"}\n{\"url\":\"https://a/3\"}\n"
		}
		t.Run(string(f)+"/row error stops", func(t *testing.T) {
			t.Parallel()
			calls := 0
			good, _, err := Read(context.Background(), strings.NewReader(in), f, DefaultLimits(),
				func(Row) error {
					if calls++; calls == 2 {
						return errStop
					}
					return nil
				}, nil)
			if !errors.Is(err, errStop) || good != 1 || calls != 2 {
				t.Errorf("got good %d, calls %d, err %v; want 1, 2, %v", good, calls, err, errStop)
			}
		})
		t.Run(string(f)+"/bad row error stops", func(t *testing.T) {
			t.Parallel()
			good, bad, err := Read(context.Background(), strings.NewReader(in), f, DefaultLimits(),
				func(Row) error { return nil }, func(RowError) error { return errStop })
			if !errors.Is(err, errStop) || good != 1 || bad != 0 {
				t.Errorf("got good %d, bad %d, err %v; want 1, 0, %v", good, bad, err, errStop)
			}
		})
		t.Run(string(f)+"/cancel stops", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			good, _, err := Read(ctx, strings.NewReader(in), f, DefaultLimits(),
				func(Row) error { cancel(); return nil }, nil)
			if !errors.Is(err, context.Canceled) || good != 1 {
				t.Errorf("got good %d, err %v; want 1, context.Canceled", good, err)
			}
		})
	}
}

// TestReadColumnsInFileOrder: a merchandiser's columns come back in the order the file
// has them (exports write them so), whatever the map order of Meta.
func TestReadColumnsInFileOrder(t *testing.T) {
	in := "title,url,zeta,Brand,sku,alpha\nRed shoe,https://a/1.jpg,z,Acme,S1,a\n"
	var got []string
	_, _, err := Read(context.Background(), strings.NewReader(in), CSV, DefaultLimits(),
		func(r Row) error { got = r.Columns; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"title", "zeta", "Brand", "alpha"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns: got %q, want %q", got, want)
	}
}
