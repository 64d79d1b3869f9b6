package main

// Catalog campaigns (issue 14) end to end on a running `pictor serve`: a manifest's columns
// become image metadata that GET /v1/images selects by, a batch made from that selection
// with the CLI, its results as XLSX, and a delayed start.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

func TestCampaignEndToEnd(t *testing.T) {
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("/p/%d.jpg", i)] = photo(t, 200+i*10, 150)
	}
	src := sources(t, files)
	s := startServer(t, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8", "PICTOR_COST_CPU_SECOND=0.5", "PICTOR_COST_CURRENCY=eur")
	deps := batchDeps{client: &http.Client{Timeout: time.Minute}, poll: 20 * time.Millisecond, lineEvery: 1, trialWait: 2 * time.Minute}
	env := envOf(map[string]string{"PICTOR_SERVER": s.base})
	recipe := `{"steps":[{"op":"resize","width":120}],"outputs":[{"name":"main","format":"jpeg"},{"name":"thumb","format":"webp","resize":{"width":40}}]}`

	// A manifest whose category and Title columns become the images' metadata.
	manifest := filepath.Join(t.TempDir(), "catalog.csv")
	var m strings.Builder
	m.WriteString("url,sku,category,Title\n")
	for i := range 6 {
		fmt.Fprintf(&m, "%s/p/%d.jpg,SKU-%d,%s,Product %d\n", src.URL, i, i, []string{"shoes", "bags"}[i%2], i)
	}
	if err := os.WriteFile(manifest, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runBatch(context.Background(), []string{"submit", manifest, "--recipe", recipe}, env, &out, &errOut, deps); err != nil {
		t.Fatalf("submit: %v (stderr %s)", err, errOut.String())
	}
	var list struct {
		Images []struct {
			ID   string            `json:"id"`
			SKU  string            `json:"sku"`
			Meta map[string]string `json:"meta"`
		} `json:"images"`
	}
	if r := s.call(t, "GET", "/v1/images?meta.category=shoes", "", nil, &list); r.StatusCode != http.StatusOK || len(list.Images) != 3 {
		t.Fatalf("GET /v1/images?meta.category=shoes: %d, %d images; want the 3 shoes", r.StatusCode, len(list.Images))
	}
	for _, img := range list.Images {
		if img.Meta["category"] != "shoes" || !strings.HasPrefix(img.Meta["title"], "Product ") {
			t.Errorf("image %s meta %v: want the manifest's columns", img.ID, img.Meta)
		}
	}
	if r := s.call(t, "GET", "/v1/images?meta.category=shoes&colour=red", "", nil, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown selection parameter: %d, want 400", r.StatusCode)
	}

	// A batch of that selection, from the CLI, and its results as a workbook.
	out.Reset()
	errOut.Reset()
	if err := runBatch(context.Background(), []string{"submit", "--select", `{"meta":{"category":"shoes"}}`, "--recipe", recipe,
		"--name", "shoes again"}, env, &out, &errOut, deps); err != nil {
		t.Fatalf("submit --select: %v (stderr %s)", err, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	r := s.call(t, "GET", "/v1/batches/"+id+"/results?format=xlsx", "", nil, nil)
	data := []byte(body(r))
	if r.StatusCode != http.StatusOK || !bytes.HasPrefix(data, []byte("PK")) ||
		r.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("results as xlsx: %d %s, want a workbook", r.StatusCode, r.Header.Get("Content-Type"))
	}
	wb, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	rows, err := wb.GetRows(wb.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !strings.Contains(strings.Join(rows[0], "|"), "category|title") ||
		!strings.Contains(strings.Join(rows[0], "|"), "thumb url|thumb width") || !strings.Contains(strings.Join(rows[0], "|"), "cost (EUR)") {
		t.Fatalf("workbook rows %q: want a header with the input columns, both outputs and the cost, and 3 rows", rows)
	}

	// A delayed start: the batch waits as a draft with its start time.
	var bt struct {
		ID      string     `json:"id"`
		State   string     `json:"state"`
		StartAt *time.Time `json:"start_at"`
	}
	r = s.call(t, "POST", "/v1/batches", "application/json",
		strings.NewReader(`{"recipe":`+recipe+`,"selection":{"meta":{"category":"bags"}}}`), &bt)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create from a selection: %d %s", r.StatusCode, body(r))
	}
	at := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	r = s.call(t, "POST", "/v1/batches/"+bt.ID+"/start", "application/json", strings.NewReader(`{"at":"`+at.Format(time.RFC3339)+`"}`), &bt)
	if r.StatusCode != http.StatusOK || bt.State != "draft" || bt.StartAt == nil || !bt.StartAt.Equal(at) {
		t.Errorf("start with at: %d state %q start_at %v, want a draft starting at %v", r.StatusCode, bt.State, bt.StartAt, at)
	}
	r = s.call(t, "POST", "/v1/batches", "application/json",
		strings.NewReader(`{"recipe":`+recipe+`,"selection":{"meta":{"category":"bags"}},"manifest_url":"http://x/m.csv"}`), nil)
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("selection and manifest_url: %d, want 400", r.StatusCode)
	}
}
