package main

// Catalog campaigns (issue 14) end to end on a running `pictor serve`: a manifest's columns
// become image metadata that GET /v1/images selects by, a batch made from that selection
// with the CLI, its results as XLSX, and a delayed start.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/pictor/pictor/internal/waitfor"
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

// Per-row prompts over HTTP, on the stand-in WebUI: a manifest upload with a prompt
// template and two variants; the trial names the row whose column is empty; each product's
// renditions carry its own filled prompt and two seeds; the results export names both variants.
func TestPerRowPromptsEndToEnd(t *testing.T) {
	stub := startStub(t, "1ms")
	png, _ := shot(t)
	src := sources(t, map[string][]byte{"/kettle.png": png, "/lamp.png": png[:len(png):len(png)], "/mug.png": png})
	s := startServer(t, "PICTOR_SD_URLS="+stub, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8")
	recipe := `{"steps":[{"op":"remove_background","engine":"sd"},{"op":"replace_background","prompt":"a product photo"}],` +
		`"outputs":[{"name":"scene","format":"jpeg"}]}`
	manifest := fmt.Sprintf("url,sku,Product Name\n%[1]s/kettle.png,K1,red kettle\n%[1]s/lamp.png,L1,\n", src.URL)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	part, _ := mw.CreateFormFile("manifest", "m.csv")
	part.Write([]byte(manifest))
	for k, v := range map[string]string{"recipe": recipe, "prompt_template": "a {product} on a marble table",
		"prompt_vars": `{"product":"Product Name"}`, "variants": "2"} {
		mw.WriteField(k, v)
	}
	mw.Close()
	var bt struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Trial *struct {
			Done              bool `json:"done"`
			PromptErrors      int  `json:"prompt_errors"`
			PromptErrorSample []struct {
				Row     int    `json:"row"`
				Message string `json:"message"`
			} `json:"prompt_error_sample"`
		} `json:"trial"`
		Counts map[string]int `json:"counts"`
	}
	if r := s.call(t, "POST", "/v1/batches", mw.FormDataContentType(), &b, &bt); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, body(r))
	}
	if r := s.call(t, "POST", "/v1/batches/"+bt.ID+"/trial", "application/json", strings.NewReader(`{"sample":2}`), nil); r.StatusCode != http.StatusAccepted {
		t.Fatalf("trial: %d %s", r.StatusCode, body(r))
	}
	if !waitfor.Poll(60*time.Second, func() bool {
		s.call(t, "GET", "/v1/batches/"+bt.ID, "", nil, &bt)
		return bt.State == "ready"
	}) {
		t.Fatalf("the trial did not finish: %s", bt.State)
	}
	if bt.Trial.PromptErrors != 1 || bt.Trial.PromptErrorSample[0].Row != 3 || !strings.Contains(bt.Trial.PromptErrorSample[0].Message, `"Product Name"`) {
		t.Fatalf("trial prompt errors: %+v, want row 3 naming its column", bt.Trial)
	}
	if r := s.call(t, "POST", "/v1/batches/"+bt.ID+"/start", "application/json", strings.NewReader(`{"force":true}`), nil); r.StatusCode != http.StatusOK {
		t.Fatalf("start: %d %s", r.StatusCode, body(r))
	}
	if !waitfor.Poll(60*time.Second, func() bool {
		s.call(t, "GET", "/v1/batches/"+bt.ID, "", nil, &bt)
		return bt.State == "done"
	}) {
		t.Fatalf("the batch did not finish: %s %v", bt.State, bt.Counts)
	}
	if bt.Counts["succeeded"] != 1 || bt.Counts["failed"] != 1 {
		t.Fatalf("counts %v, want the kettle done and the lamp failed", bt.Counts)
	}
	r := s.call(t, "GET", "/v1/batches/"+bt.ID+"/results?format=jsonl", "", nil, nil)
	lines := strings.Split(strings.TrimSpace(body(r)), "\n")
	var kettle struct {
		Outputs []struct{ Name, URL string } `json:"outputs"`
		Meta    map[string]string            `json:"meta"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &kettle); err != nil || len(kettle.Outputs) != 2 ||
		kettle.Outputs[0].Name != "scene v1" || kettle.Outputs[1].Name != "scene v2" || kettle.Meta["Product Name"] != "red kettle" {
		t.Fatalf("kettle's results %s (%v): want both variants and its columns", lines[0], err)
	}
	var list struct {
		Images []struct {
			ID string `json:"id"`
		} `json:"images"`
	}
	s.call(t, "GET", "/v1/images?sku=K1", "", nil, &list)
	if len(list.Images) != 1 {
		t.Fatalf("images of K1: %d", len(list.Images))
	}
	var rends struct {
		Renditions []struct {
			Lineage map[string]string `json:"lineage"`
		} `json:"renditions"`
	}
	s.call(t, "GET", "/v1/images/"+list.Images[0].ID+"/renditions", "", nil, &rends)
	seeds := map[string]bool{}
	for _, rd := range rends.Renditions {
		if rd.Lineage["prompt"] != "a red kettle on a marble table" {
			t.Errorf("lineage %v: want the row's prompt", rd.Lineage)
		}
		seeds[rd.Lineage["seed"]] = true
	}
	if len(rends.Renditions) != 2 || len(seeds) != 2 {
		t.Errorf("renditions %d, seeds %v: want two variants", len(rends.Renditions), seeds)
	}
}
