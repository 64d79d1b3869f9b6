package manifest

import (
	"strings"
	"testing"
)

func TestReadJSONL(t *testing.T) {
	t.Parallel()
	small := DefaultLimits()
	small.MaxRowBytes = 60
	small.MaxColumns = 3
	small.MaxBadRows = 1
	tests := []struct {
		name    string
		in      string
		lim     *Limits
		rows    []Row
		bad     []RowError
		wantErr string
	}{
		{
			name: "good rows with meta and scalar values",
			in: `{"url":"https://a/1.jpg","sku":"S1","Colour":"red","n":5,"ok":true,"x":null}` + "\n" +
				`{"image_id":12345}` + "\n" +
				`{" URL ":" https://a/2.jpg ","SKU":7}` + "\n",
			rows: []Row{
				{Number: 1, URL: "https://a/1.jpg", SKU: "S1", Meta: map[string]string{"Colour": "red", "n": "5", "ok": "true", "x": ""}},
				{Number: 2, ImageID: "12345"},
				{Number: 3, URL: "https://a/2.jpg", SKU: "7"},
			},
		},
		{
			name: "bom crlf and blank lines keep line numbers",
			in:   "\xEF\xBB\xBF{\"url\":\"https://a/1.jpg\"}\r\n\r\n   \n{\"url\":\"https://a/2.jpg\"}",
			rows: []Row{{Number: 1, URL: "https://a/1.jpg"}, {Number: 4, URL: "https://a/2.jpg"}},
		},
		{
			name: "bad rows with exact line numbers",
			in: `{"url":"https://a/1.jpg"}` + "\n" +
				`["https://a/2.jpg"]` + "\n" +
				`not json` + "\n" +
				`{"url":"https://a/3.jpg"` + "\n" +
				`{"url":{"href":"https://a/4.jpg"}}` + "\n" +
				`{"URL":"https://a/5.jpg","url":"https://a/5.jpg"}` + "\n" +
				`{"url":"https://a/6.jpg"} {"url":"https://a/7.jpg"}` + "\n" +
				`{"sku":"S8"}` + "\n" +
				`{"url":"https://a/9.jpg","image_id":"img-9"}` + "\n" +
				`{"url":"file:///etc/passwd"}` + "\n" +
				`{"url":"https://a/11.jpg","note":"a\u0000b"}` + "\n" +
				`{}` + "\n" +
				`"https://a/13.jpg"` + "\n" +
				`{"image_id":"img-14"}` + "\n",
			rows: []Row{{Number: 1, URL: "https://a/1.jpg"}, {Number: 14, ImageID: "img-14"}},
			bad: []RowError{
				{2, notObject}, {3, notObject}, {4, notObject},
				{5, `field "url" is not a string or number`},
				{6, `duplicate field "url"`},
				{7, notObject},
				{8, "no url or image_id"},
				{9, "both url and image_id"},
				{10, "url is not http(s)"},
				{11, `field "note" contains a NUL character`},
				{12, "no url or image_id"},
				{13, notObject},
			},
		},
		{
			name: "too many fields",
			in:   `{"url":"https://a/1","a":"1","b":"2","c":"3"}` + "\n" + `{"url":"https://a/2","a":"1"}` + "\n",
			lim:  &small,
			rows: []Row{{Number: 2, URL: "https://a/2", Meta: map[string]string{"a": "1"}}},
			bad:  []RowError{{1, "object has more than 3 fields"}},
		},
		{
			name:    "too many bad rows",
			in:      "{}\n{\"url\":\"https://a/2\"}\n{}\n",
			lim:     &small,
			rows:    []Row{{Number: 2, URL: "https://a/2"}},
			bad:     []RowError{{1, "no url or image_id"}},
			wantErr: "row 3: no url or image_id: more than 1 bad rows",
		},
		{
			name:    "row too large",
			in:      `{"url":"https://a/1"}` + "\n" + `{"url":"https://a/2","note":"` + strings.Repeat("x", 60) + `"}` + "\n",
			lim:     &small,
			rows:    []Row{{Number: 1, URL: "https://a/1"}},
			wantErr: "line 2: row larger than 60 bytes",
		},
		{
			name:    "not utf-8",
			in:      "{\"url\":\"https://a/1\"}\n{\"url\":\"https://a/\xFF\"}\n",
			rows:    []Row{{Number: 1, URL: "https://a/1"}},
			wantErr: "line 2: is not UTF-8",
		},
		{name: "utf-16", in: "\xFF\xFE{\x00", wantErr: "UTF-16"},
		{name: "empty file", in: "", wantErr: "empty"},
		{name: "only blank lines", in: "\n  \r\n\n", wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := DefaultLimits()
			if tt.lim != nil {
				lim = *tt.lim
			}
			check(t, read(t, strings.NewReader(tt.in), JSONL, lim), tt.rows, tt.bad, tt.wantErr)
		})
	}
}
