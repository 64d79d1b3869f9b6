package main

import (
	"fmt"
	"strings"
	"testing"
)

// A manifest by URL is spooled to disk within its own limit, not the source image limit:
// a manifest several times PICTOR_MAX_SOURCE_BYTES makes a batch of every row, and the
// fetch keeps the SSRF guard.
func TestBatchManifestByURL(t *testing.T) {
	t.Parallel()
	const rows = 5000
	var csv strings.Builder
	csv.WriteString("url,sku,colour\n")
	for i := range rows {
		fmt.Fprintf(&csv, "https://cdn.example.com/catalog/images/%06d/front.jpg,SKU-%06d,red\n", i, i)
	}
	csv.WriteString(",no-url,blue\n") // a bad row, reported by number
	src := sources(t, map[string][]byte{"/list.csv": []byte(csv.String())})
	limit := csv.Len() / 4
	s := startServer(t, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.1/32", fmt.Sprintf("PICTOR_MAX_SOURCE_BYTES=%d", limit))
	port := src.URL[strings.LastIndexByte(src.URL, ':')+1:]
	recipe := `{"steps":[{"op":"resize","width":320,"height":320,"fit":"inside"}],"outputs":[{"name":"t","format":"jpeg"}]}`

	var b struct {
		batchView
		BadRows int `json:"bad_rows"`
	}
	r := s.call(t, "POST", "/v1/batches", "application/json",
		strings.NewReader(`{"name":"by url","recipe":`+recipe+`,"manifest_url":"`+src.URL+`/list.csv"}`), &b)
	if r.StatusCode != 201 || b.Total != rows || b.BadRows != 1 || b.State != "draft" {
		t.Fatalf("create from a %d-byte manifest (source limit %d): %d %+v, want 201, a draft of %d items and 1 bad row",
			csv.Len(), limit, r.StatusCode, b, rows)
	}

	for _, tc := range []struct{ name, url string }{
		{"private address", "http://127.0.0.2:" + port + "/list.csv"},
		{"missing manifest", src.URL + "/gone.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p problem
			r := s.call(t, "POST", "/v1/batches", "application/json",
				strings.NewReader(`{"recipe":`+recipe+`,"manifest_url":"`+tc.url+`"}`), &p)
			if r.StatusCode < 400 || r.StatusCode == 500 || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d %s, want a problem other than 500: %+v", r.StatusCode, r.Header.Get("Content-Type"), p)
			}
			if tc.name == "private address" && p.Type != "urn:pictor:problem:source-address-blocked" {
				t.Errorf("type %q, want source-address-blocked", p.Type)
			}
		})
	}
}
