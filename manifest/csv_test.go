package manifest

import (
	"io"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	t.Parallel()
	small := DefaultLimits()
	small.MaxBadRows = 2
	small.MaxRows = 3
	small.MaxColumns = 3
	small.MaxRowBytes = 100
	twoBad := DefaultLimits()
	twoBad.MaxBadRows = 2
	tests := []struct {
		name    string
		in      string
		lim     *Limits
		rows    []Row
		bad     []RowError
		wantErr string
	}{
		{
			name: "good and bad rows",
			in:   "url,sku\nhttps://a/1.jpg,S1\n,S2\nftp://a/3.jpg,S3\nhttps://a/4.jpg\n",
			rows: []Row{
				{Number: 2, URL: "https://a/1.jpg", SKU: "S1"},
				{Number: 5, URL: "https://a/4.jpg"},
			},
			bad: []RowError{{3, "no url or image_id"}, {4, "url is not http(s)"}},
		},
		{
			name: "bom crlf and header case and spaces",
			in:   "\xEF\xBB\xBF URL , Image_ID ,SKU\r\n  https://a/1.jpg  ,, S1 \r\n,img-7,\r\nhttps://a/2.jpg,img-8,\r\n",
			rows: []Row{
				{Number: 2, URL: "https://a/1.jpg", SKU: "S1"},
				{Number: 3, ImageID: "img-7"},
			},
			bad: []RowError{{4, "both url and image_id"}},
		},
		{
			name: "image_id only header",
			in:   "image_id\nimg-1\n",
			rows: []Row{{Number: 2, ImageID: "img-1"}},
		},
		{
			name: "ragged rows and extra columns into meta",
			in: "url,sku,Colour,size\n" +
				"https://a/1.jpg\n" +
				"https://a/2.jpg,S2,red,L\n" +
				"https://a/3.jpg,S3,blue,M,extra\n" +
				"https://a/4.jpg,S4,green,S,,\n",
			rows: []Row{
				{Number: 2, URL: "https://a/1.jpg", Meta: map[string]string{"Colour": "", "size": ""}},
				{Number: 3, URL: "https://a/2.jpg", SKU: "S2", Meta: map[string]string{"Colour": "red", "size": "L"}},
				{Number: 5, URL: "https://a/4.jpg", SKU: "S4", Meta: map[string]string{"Colour": "green", "size": "S"}},
			},
			bad: []RowError{{4, "row has 5 cells, header has 4 columns"}},
		},
		{
			name: "unnamed columns are ignored",
			in:   "url,,note,\nhttps://a/1.jpg,x,hi,\n",
			rows: []Row{{Number: 2, URL: "https://a/1.jpg", Meta: map[string]string{"note": "hi"}}},
		},
		{
			name: "blank lines and empty rows are skipped but counted",
			in:   "url,sku\n\nhttps://a/1.jpg,S1\n , \n,,\n\nhttps://a/2.jpg,S2\n",
			rows: []Row{{Number: 3, URL: "https://a/1.jpg", SKU: "S1"}, {Number: 7, URL: "https://a/2.jpg", SKU: "S2"}},
		},
		{
			name: "multi-line quoted field numbers the start line",
			in:   "url,note\nhttps://a/1.jpg,\"two\nlines\"\nhttps://a/2.jpg,\"a \"\"q\"\", b\"\n",
			rows: []Row{
				{Number: 2, URL: "https://a/1.jpg", Meta: map[string]string{"note": "two\nlines"}},
				{Number: 4, URL: "https://a/2.jpg", Meta: map[string]string{"note": `a "q", b`}},
			},
		},
		{
			name: "bare quote is a bad row",
			in:   "url,sku\nhttps://a/1.jpg,ab\"c\nhttps://a/2.jpg,S2\n",
			rows: []Row{{Number: 3, URL: "https://a/2.jpg", SKU: "S2"}},
			bad:  []RowError{{2, "column 19: bare \" in non-quoted-field"}},
		},
		{
			name: "extraneous quote is a bad row",
			in:   "url,sku\nhttps://a/1.jpg,\"ab\"c\nhttps://a/2.jpg,S2\n",
			rows: []Row{{Number: 3, URL: "https://a/2.jpg", SKU: "S2"}},
			bad:  []RowError{{2, "column 20: extraneous or missing \" in quoted-field"}},
		},
		{
			name: "unterminated quote on the last line is a bad row",
			in:   "url,sku\nhttps://a/1.jpg,S1\nhttps://a/2.jpg,\"S2\n",
			rows: []Row{{Number: 2, URL: "https://a/1.jpg", SKU: "S1"}},
			bad:  []RowError{{3, "column 21: extraneous or missing \" in quoted-field"}},
		},
		{
			name:    "unterminated quote swallowing lines is fatal",
			in:      "url,sku\nhttps://a/1.jpg,S1\nhttps://a/2.jpg,\"S2\nhttps://a/3.jpg,S3\nhttps://a/4.jpg,S4\n",
			rows:    []Row{{Number: 2, URL: "https://a/1.jpg", SKU: "S1"}},
			wantErr: "line 3",
		},
		{
			name: "semicolon separated",
			in:   "sku;url\nS1;https://a/1.jpg\n",
			rows: []Row{{Number: 2, URL: "https://a/1.jpg", SKU: "S1"}},
		},
		{
			name: "tab separated with commas in values",
			in:   "url\ttitle\nhttps://a/1.jpg\tred, large\n",
			rows: []Row{{Number: 2, URL: "https://a/1.jpg", Meta: map[string]string{"title": "red, large"}}},
		},
		{
			name: "url validation",
			in:   "url\nhttp://a/1.jpg\nHTTPS://a/2.jpg\nhttps:///nohost\n/relative.jpg\nhttp://[::1\n",
			rows: []Row{{Number: 2, URL: "http://a/1.jpg"}, {Number: 3, URL: "HTTPS://a/2.jpg"}},
			bad:  []RowError{{4, "url is not http(s)"}, {5, "url is not http(s)"}, {6, "url is not http(s)"}},
		},
		{name: "missing url and image_id columns", in: "sku,name\nS1,x\n", wantErr: "line 1: header has no url or image_id column"},
		{name: "no header at all", in: "https://a/1.jpg,S1\n", wantErr: "first row must be a header"},
		{name: "empty file", in: "", wantErr: "empty"},
		{name: "only a bom and blank lines", in: "\xEF\xBB\xBF\n\n", wantErr: "empty"},
		{name: "duplicate header", in: "url,sku,URL\n", wantErr: "duplicate column \"URL\""},
		{name: "header too wide", in: "url,a,b,c\n", lim: &small, wantErr: "more than 3"},
		{name: "broken quote in header is fatal", in: "url,\"sku\n", wantErr: "line 1"},
		{
			name:    "too many bad rows",
			in:      "url\nx\nhttps://a/1.jpg\ny\nz\nhttps://a/2.jpg\n",
			lim:     &twoBad,
			rows:    []Row{{Number: 3, URL: "https://a/1.jpg"}},
			bad:     []RowError{{2, "url is not http(s)"}, {4, "url is not http(s)"}},
			wantErr: "row 5: url is not http(s): more than 2 bad rows",
		},
		{
			name: "bad rows up to the limit",
			in:   "url\nx\ny\n",
			lim:  &small,
			bad:  []RowError{{2, "url is not http(s)"}, {3, "url is not http(s)"}},
		},
		{
			name:    "too many rows",
			in:      "url\nhttps://a/1\nx\nhttps://a/3\nhttps://a/4\n",
			lim:     &small,
			rows:    []Row{{Number: 2, URL: "https://a/1"}, {Number: 4, URL: "https://a/3"}},
			bad:     []RowError{{3, "url is not http(s)"}},
			wantErr: "row 5: more than 3 rows",
		},
		{
			name:    "row too large",
			in:      "url,note\nhttps://a/1,ok\nhttps://a/2," + strings.Repeat("x", 100) + "\n",
			lim:     &small,
			rows:    []Row{{Number: 2, URL: "https://a/1", Meta: map[string]string{"note": "ok"}}},
			wantErr: "line 3: row larger than 100 bytes",
		},
		{name: "not utf-8", in: "url,sku\nhttps://a/1,\xFF\xFE\n", wantErr: "row 2: is not UTF-8"},
		{name: "utf-16 bom", in: "\xFF\xFEu\x00r\x00l\x00", wantErr: "UTF-16"},
		{name: "nul bytes", in: "url\x00,sku\n", wantErr: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits()
			if tt.lim != nil {
				lim = *tt.lim
			}
			check(t, read(t, strings.NewReader(tt.in), CSV, lim), tt.rows, tt.bad, tt.wantErr)
		})
	}
}

// endless yields prefix, then repeats fill forever: a row that never ends.
type endless struct {
	prefix string
	fill   []byte
	read   int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if e.prefix != "" {
		n = copy(p, e.prefix)
		e.prefix = e.prefix[n:]
	}
	for n < len(p) {
		n += copy(p[n:], e.fill)
	}
	e.read += int64(n)
	return n, nil
}

// TestReadEndlessRow feeds rows that never end: Read must stop with
// ErrInvalidManifest after about MaxRowBytes, not buffer forever.
func TestReadEndlessRow(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	lim.MaxRowBytes = 1 << 10
	tests := []struct {
		name    string
		f       Format
		r       *endless
		wantErr string
	}{
		{"csv line without newline", CSV, &endless{prefix: "url,note\nhttps://a/1,", fill: []byte("xxxxxxxx")}, "line 2: row larger than 1024 bytes"},
		{"csv quoted field of many lines", CSV, &endless{prefix: "url,note\nhttps://a/1,ok\nhttps://a/2,\"", fill: []byte("xx\n")}, "line 3: row larger than 1024 bytes"},
		{"csv endless header", CSV, &endless{prefix: "url,", fill: []byte("x")}, "line 1: row larger than 1024 bytes"},
		{"jsonl line without newline", JSONL, &endless{prefix: "{\"url\":\"https://a/1\"}\n{\"url\":\"", fill: []byte("x")}, "line 2: row larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := read(t, io.Reader(tt.r), tt.f, lim)
			if res.err == nil || !strings.Contains(res.err.Error(), tt.wantErr) {
				t.Fatalf("err: got %v, want one containing %q", res.err, tt.wantErr)
			}
			if max := int64(lim.MaxRowBytes) + 4*bufSize; tt.r.read > max {
				t.Errorf("bytes read: got %d, want at most %d", tt.r.read, max)
			}
		})
	}
}
