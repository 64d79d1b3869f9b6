package manifest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

var sampleResults = []Result{
	{Row: 2, Source: "https://a/1.jpg?w=1&h=2", SKU: "S1", State: "succeeded",
		RenditionURLs: []string{"https://cdn/x/main.webp", "https://cdn/x/thumb.jpeg"},
		Review:        "pending", Checks: "fail: product_fill, background_white",
		Meta: map[string]string{"colour": "red", "ignored": "x"},
		Outputs: []Output{
			{Name: "main", URL: "https://cdn/x/main.webp", Format: "webp", Width: 2000, Height: 1500, Bytes: 183_211},
			{Name: "thumb", URL: "https://cdn/x/thumb.jpeg", Format: "jpeg", Width: 200, Height: 150, Bytes: 9_020},
		},
		Cost: ptr(0.0425), GPUSeconds: 12.5, CPUSeconds: 0.75,
		CheckDetail: []CheckCell{
			{Name: "main/product_fill", Verdict: "fail", Value: 0.41, Threshold: 0.6},
			{Name: "main/background_white", Verdict: "fail", Value: 231, Threshold: 245},
		}},
	{Row: 3, Source: "img-7", State: "failed", Error: "fetch: status 404, \"Not Found\"\nsecond line", Checks: "pass",
		Cost: ptr(-1.5)},
	{Row: 10, Source: "https://a/3.jpg", SKU: "=cmd", State: "skipped", RenditionURLs: []string{}, CPUSeconds: 1e-7},
}

func TestWriterCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		meta []string
		want [][]string
	}{
		{
			name: "fixed columns",
			want: [][]string{
				{"row", "source", "sku", "state", "renditions", "error", "review", "checks", "cost", "gpu_seconds", "cpu_seconds"},
				{"2", "https://a/1.jpg?w=1&h=2", "S1", "succeeded", "https://cdn/x/main.webp https://cdn/x/thumb.jpeg", "", "pending", "fail: product_fill, background_white", "0.0425", "12.5", "0.75"},
				{"3", "img-7", "", "failed", "", "fetch: status 404, \"Not Found\"\nsecond line", "", "pass", "-1.5", "0", "0"},
				{"10", "https://a/3.jpg", "'=cmd", "skipped", "", "", "", "", "", "0", "0.0000001"},
			},
		},
		{
			name: "meta columns",
			meta: []string{"colour", "size"},
			want: [][]string{
				{"row", "source", "sku", "state", "renditions", "error", "review", "checks", "cost", "gpu_seconds", "cpu_seconds", "colour", "size"},
				{"2", "https://a/1.jpg?w=1&h=2", "S1", "succeeded", "https://cdn/x/main.webp https://cdn/x/thumb.jpeg", "", "pending", "fail: product_fill, background_white", "0.0425", "12.5", "0.75", "red", ""},
				{"3", "img-7", "", "failed", "", "fetch: status 404, \"Not Found\"\nsecond line", "", "pass", "-1.5", "0", "0", "", ""},
				{"10", "https://a/3.jpg", "'=cmd", "skipped", "", "", "", "", "", "0", "0.0000001", "", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := NewWriter(&buf, CSV, tt.meta...)
			if err != nil {
				t.Fatalf("new writer: %v", err)
			}
			for _, r := range sampleResults {
				if err := w.Write(r); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			got, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("records:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestWriterCSVFormulaInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"equals", "=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"},
		{"plus", "+1+2", "'+1+2"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(A1:A2)", "'@SUM(A1:A2)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"full-width equals", "\uFF1D1+1", "'\uFF1D1+1"},
		{"full-width plus", "\uFF0B1", "'\uFF0B1"},
		{"full-width minus", "\uFF0D1", "'\uFF0D1"},
		{"full-width at", "\uFF20SUM(A1)", "'\uFF20SUM(A1)"},
		{"formula with csv quoting", "=1,\"2\"\n3", "'=1,\"2\"\n3"},
		{"normal value", "SKU-123", "SKU-123"},
		{"url", "https://a/1.jpg?w=1&h=-2", "https://a/1.jpg?w=1&h=-2"},
		{"leading space then equals", " =1", " =1"},
		{"equals later", "a=b", "a=b"},
		{"quote already", "'=1", "'=1"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := NewWriter(&buf, CSV, "colour")
			if err != nil {
				t.Fatalf("new writer: %v", err)
			}
			results := []Result{
				{Row: 2, Source: tt.in, SKU: tt.in, State: tt.in, RenditionURLs: []string{tt.in, "https://cdn/x.webp"},
					Error: tt.in, Review: tt.in, Checks: tt.in, Meta: map[string]string{"colour": tt.in}},
				{Row: -1, Source: "https://a/1.jpg", SKU: "S1", State: "succeeded", Cost: ptr(-2.25), GPUSeconds: -0.5,
					CPUSeconds: math.Inf(1)},
			}
			for _, r := range results {
				if err := w.Write(r); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			// ReadAll fails when a record's field count differs from the header's.
			got, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("read back %q: %v", buf.String(), err)
			}
			if len(got) != 3 {
				t.Fatalf("records: got %d, want 3", len(got))
			}
			want := []string{"2", tt.want, tt.want, tt.want, tt.want + " https://cdn/x.webp",
				tt.want, tt.want, tt.want, "", "0", "0", tt.want}
			if !reflect.DeepEqual(got[1], want) {
				t.Errorf("record:\n got %q\nwant %q", got[1], want)
			}
			// Numbers keep their sign; a number a spreadsheet cannot hold is left empty.
			wantNum := []string{"-1", "https://a/1.jpg", "S1", "succeeded", "", "", "", "", "-2.25", "-0.5", "", ""}
			if !reflect.DeepEqual(got[2], wantNum) {
				t.Errorf("numeric row:\n got %q\nwant %q", got[2], wantNum)
			}
		})
	}
}

func TestWriterJSONLKeepsFormulas(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, JSONL)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	in := Result{Row: 2, Source: "@SUM(A1)", SKU: "=HYPERLINK(\"x\")", State: "+1", Error: "-1",
		Review: "\t=1", Checks: "\uFF1D1", RenditionURLs: []string{"=a"}, Meta: map[string]string{"k": "=v"},
		Outputs:     []Output{{Name: "=o", URL: "+u"}},
		CheckDetail: []CheckCell{{Name: "@c", Verdict: "-v"}}}
	if err := w.Write(in); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	var got Result
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("decode %q: %v", buf.String(), err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %+v, want %+v", got, in)
	}
}

func TestWriterJSONL(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, JSONL, "ignored")
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	for _, r := range sampleResults {
		if err := w.Write(r); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if strings.Contains(buf.String(), `\u0026`) {
		t.Errorf("output escapes &: got %q", buf.String())
	}
	sc := bufio.NewScanner(&buf)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != len(sampleResults) {
		t.Fatalf("lines: got %d, want %d", len(lines), len(sampleResults))
	}
	for i, line := range lines {
		t.Run(sampleResults[i].Source, func(t *testing.T) {
			var got Result
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("decode %q: %v", line, err)
			}
			want := sampleResults[i]
			if want.RenditionURLs == nil {
				want.RenditionURLs = []string{}
			}
			if want.Outputs == nil {
				want.Outputs = []Output{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &keys); err != nil {
				t.Fatalf("decode keys: %v", err)
			}
			for _, k := range []string{"row", "source", "sku", "state", "renditions", "error", "review", "checks",
				"outputs", "gpu_seconds", "cpu_seconds"} {
				if _, ok := keys[k]; !ok {
					t.Errorf("key %q: got missing, want present in %s", k, line)
				}
			}
			for _, k := range []string{"renditions", "outputs"} {
				if string(keys[k]) == "null" {
					t.Errorf("%s: got null, want an array", k)
				}
			}
			for k, present := range map[string]bool{"cost": want.Cost != nil, "check_detail": want.CheckDetail != nil,
				"meta": want.Meta != nil} {
				if _, ok := keys[k]; ok != present {
					t.Errorf("key %q present: got %v, want %v in %s", k, ok, present, line)
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		f       Format
		meta    []string
		wantErr error
	}{
		{"unknown format", Format("xml"), nil, ErrUnsupportedFormat},
		{"meta column clashes", CSV, []string{"SKU"}, nil},
		{"meta column clashes with a new column", CSV, []string{"Cost"}, nil},
		{"meta column twice", CSV, []string{"a", "a"}, nil},
		{"xlsx meta column clashes", XLSX, []string{"State"}, nil},
		{"xlsx meta column twice", XLSX, []string{"a", "A"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := NewWriter(&bytes.Buffer{}, tt.f, tt.meta...)
			if err == nil || w != nil {
				t.Fatalf("got %v, %v; want nil writer and an error", w, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err: got %v, want %v", err, tt.wantErr)
			}
		})
	}
	for _, f := range []Format{CSV, JSONL, XLSX} {
		t.Run(string(f)+" write after close", func(t *testing.T) {
			t.Parallel()
			w, err := NewWriter(&bytes.Buffer{}, f)
			if err != nil {
				t.Fatalf("new writer: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("second close: got %v, want nil", err)
			}
			if err := w.Write(Result{Row: 2}); !errors.Is(err, ErrWriterClosed) {
				t.Errorf("write: got %v, want ErrWriterClosed", err)
			}
		})
	}
}
