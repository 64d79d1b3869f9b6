package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{name: "plain", stat: "42 (pictor) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100", want: 3},
		{name: "name with spaces and parens", stat: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1000 1 0 0 20 0 1 0 1", want: 10.01},
		{name: "no name", stat: "7 a R 1", wantErr: true},
		{name: "too short", stat: "7 (x) R 1 2 3", wantErr: true},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 1 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU(tt.stat)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStatCPU error: got %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got < tt.want-1e-9 || got > tt.want+1e-9) {
				t.Errorf("parseStatCPU: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProcCPUOfSelf(t *testing.T) {
	t.Parallel()
	got, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatalf("procCPU: %v", err)
	}
	if got < 0 {
		t.Errorf("procCPU: got %v, want >= 0", got)
	}
	if got, err := procCPU(0); err != nil || got != 0 {
		t.Errorf("procCPU(0): got %v, %v, want 0, nil", got, err)
	}
}

func TestDuplicate(t *testing.T) {
	t.Parallel()
	a, b, c := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b")), sha256.Sum256([]byte("c"))
	tests := []struct {
		name         string
		sums         [][sha256.Size]byte
		wantI, wantJ int
		wantOK       bool
	}{
		{name: "none", sums: [][sha256.Size]byte{a, b, c}},
		{name: "empty"},
		{name: "last equals first", sums: [][sha256.Size]byte{a, b, c, a}, wantI: 0, wantJ: 3, wantOK: true},
		{name: "neighbours", sums: [][sha256.Size]byte{a, b, b}, wantI: 1, wantJ: 2, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i, j, ok := duplicate(tt.sums)
			if ok != tt.wantOK || i != tt.wantI || j != tt.wantJ {
				t.Errorf("duplicate: got %d, %d, %v, want %d, %d, %v", i, j, ok, tt.wantI, tt.wantJ, tt.wantOK)
			}
		})
	}
}

func testBase(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, uint8(100+i%50)
	}
	return img
}

func TestVariant(t *testing.T) {
	t.Parallel()
	base := testBase(64, 48) // 4 x 3 slots
	orig := bytes.Clone(base.Y)
	tests := []struct {
		name         string
		slot, i      int
		wantX, wantY int // top left corner of the changed block
	}{
		{name: "first slot", slot: 0, i: 0, wantX: 0, wantY: 0},
		{name: "second slot", slot: 1, i: 5, wantX: 16, wantY: 0},
		{name: "second row", slot: 5, i: 9, wantX: 16, wantY: 16},
		{name: "last slot", slot: 11, i: 3, wantX: 48, wantY: 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := variant(base, tt.slot, tt.i)
			level := uint8(16 + (tt.i*37)%224)
			for y := range 48 {
				for x := range 64 {
					in := x >= tt.wantX && x < tt.wantX+markSize && y >= tt.wantY && y < tt.wantY+markSize
					got, want := v.Y[v.YOffset(x, y)], orig[base.YOffset(x, y)]
					if in {
						want = level
					}
					if got != want {
						t.Fatalf("luma at %d,%d: got %d, want %d", x, y, got, want)
					}
				}
			}
		})
	}
	if !bytes.Equal(base.Y, orig) {
		t.Error("variant changed its base")
	}
}

func TestVariantPanicsPastLastSlot(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("variant of slot 12 of a 4 x 3 slot image: got no panic, want one")
		}
	}()
	variant(testBase(64, 48), 12, 0)
}

func writeTestJPEG(t *testing.T, path string, w, h int, shade uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 5), shade, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunVariants(t *testing.T) {
	t.Parallel()
	from, out := t.TempDir(), t.TempDir()
	writeTestJPEG(t, filepath.Join(from, "photo-000.jpg"), 64, 48, 10)
	writeTestJPEG(t, filepath.Join(from, "photo-001.jpg"), 64, 48, 200)
	tests := []struct {
		name    string
		args    []string
		want    int // files written
		wantErr string
	}{
		{name: "ok", args: []string{"-from", from, "-out", filepath.Join(out, "ok"), "-n", "24"}, want: 24},
		{name: "more than the slots", args: []string{"-from", from, "-out", filepath.Join(out, "many"), "-n", "25"}, wantErr: "need 13 marks per base"},
		{name: "no bases", args: []string{"-from", out, "-out", filepath.Join(out, "none"), "-n", "2"}, wantErr: "no photo-*.jpg"},
		{name: "missing -out", args: []string{"-from", from}, wantErr: "need -from, -out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout bytes.Buffer
			err := run(context.Background(), append([]string{"variants"}, tt.args...), &stdout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("variants error: got %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("variants: %v", err)
			}
			paths, _ := filepath.Glob(filepath.Join(tt.args[3], "variant-*.jpg"))
			if len(paths) != tt.want {
				t.Fatalf("variant files: got %d, want %d", len(paths), tt.want)
			}
			seen := map[[sha256.Size]byte]string{}
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
				if err != nil || cfg.Width != 64 || cfg.Height != 48 {
					t.Fatalf("%s: got %dx%d (%v), want 64x48", p, cfg.Width, cfg.Height, err)
				}
				sum := sha256.Sum256(b)
				if q, ok := seen[sum]; ok {
					t.Fatalf("%s and %s have the same bytes", q, p)
				}
				seen[sum] = p
			}
		})
	}
}

func TestManifests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(io.Writer)
		want  string
	}{
		{
			name:  "urls cycle and stay distinct",
			write: func(w io.Writer) { writeURLManifest(w, "http://127.0.0.1:9", []string{"a.jpg", "b c.jpg"}, 3) },
			want:  "url\nhttp://127.0.0.1:9/a.jpg?i=0\nhttp://127.0.0.1:9/b%20c.jpg?i=1\nhttp://127.0.0.1:9/a.jpg?i=2\n",
		},
		{
			name:  "ids cycle",
			write: func(w io.Writer) { writeIDManifest(w, []string{"img_1", "img_2"}, 3) },
			want:  "image_id\nimg_1\nimg_2\nimg_1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			tt.write(&b)
			if got := b.String(); got != tt.want {
				t.Errorf("manifest: got %q, want %q", got, tt.want)
			}
		})
	}
}

// fakePictor is enough of Pictor's batch and image API for runBatch. Each created
// batch is done after two polls; fail items fail.
type fakePictor struct {
	t    *testing.T
	fail int

	mu       sync.Mutex
	rows     [][]string // the last manifest's rows, header first
	recipe   string
	fetched  int // url rows whose source answered 200 with a JPEG
	polls    int
	started  bool
	imageIDs []string
}

func (f *fakePictor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	writeBatch := func(state string, counts map[string]int, done bool) {
		b := map[string]any{"id": "bat_1", "state": state, "counts": counts, "started_at": start}
		if done {
			b["finished_at"] = start.Add(2 * time.Second)
		}
		json.NewEncoder(w).Encode(b)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/batches":
		mf, _, err := r.FormFile("manifest")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f.rows, err = csv.NewReader(mf).ReadAll(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.recipe = r.FormValue("recipe")
		if f.rows[0][0] == "url" {
			for _, row := range f.rows[1:] {
				resp, err := http.Get(row[0])
				if err != nil {
					f.t.Errorf("fetch %s: %v", row[0], err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); resp.StatusCode == http.StatusOK && err == nil {
					f.fetched++
				}
			}
		}
		w.WriteHeader(http.StatusCreated)
		writeBatch("draft", nil, false)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/batches/bat_1/start":
		f.started = true
		writeBatch("running", map[string]int{"queued": len(f.rows) - 1}, false)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/batches/bat_1":
		f.polls++
		n := len(f.rows) - 1
		if f.polls < 2 {
			writeBatch("running", map[string]int{"queued": n}, false)
			return
		}
		writeBatch("done", map[string]int{"succeeded": n - f.fail, "failed": f.fail}, true)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/batches/bat_1/results":
		for i := range len(f.rows) - 1 {
			state, msg := "succeeded", ""
			if i < f.fail {
				state, msg = "failed", fmt.Sprintf("bad source %d", i+1)
			}
			json.NewEncoder(w).Encode(map[string]any{"row": i + 1, "state": state, "error": msg})
		}
	case r.Method == http.MethodGet && r.URL.Path == "/v1/images":
		// Two pages of at most two ids.
		page, next := f.imageIDs, ""
		if r.URL.Query().Get("cursor") == "" && len(page) > 2 {
			page, next = page[:2], "c2"
		} else if r.URL.Query().Get("cursor") == "c2" {
			page = page[2:]
		}
		var imgs []map[string]string
		for _, id := range page {
			imgs = append(imgs, map[string]string{"id": id})
		}
		json.NewEncoder(w).Encode(map[string]any{"images": imgs, "next_cursor": next})
	default:
		http.NotFound(w, r)
	}
}

func TestRunBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 3 {
		writeTestJPEG(t, filepath.Join(dir, fmt.Sprintf("variant-%04d.jpg", i)), 32, 24, uint8(i*40))
	}
	const recipe = `{"steps":[{"op":"resize","width":16,"height":16,"fit":"inside"}],"outputs":[{"name":"t","format":"jpeg"}]}`
	tests := []struct {
		name      string
		mode      string
		n, fail   int
		ids       []string
		wantRows  []string // first column of the manifest, header first
		wantFetch int
		wantLine  string
		wantErr   string
	}{
		{
			name: "url rows", mode: "url", n: 5, wantFetch: 5,
			wantLine: "result mode=url items=5 succeeded=5 failed=0 ",
		},
		{
			name: "image_id rows over two pages", mode: "ids", n: 4, ids: []string{"img_a", "img_b", "img_c"},
			wantRows: []string{"image_id", "img_a", "img_b", "img_c", "img_a"},
			wantLine: "result mode=ids items=4 succeeded=4 failed=0 ",
		},
		{name: "failures are reported", mode: "url", n: 4, fail: 2, wantFetch: 4, wantErr: "row 2 failed: bad source 2"},
		{name: "no images for ids", mode: "ids", n: 2, wantErr: "holds no images"},
		{name: "unknown mode", mode: "x", n: 2, wantErr: "unknown -mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakePictor{t: t, fail: tt.fail, imageIDs: tt.ids}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var stdout bytes.Buffer
			err := run(context.Background(), []string{"run", "-server", srv.URL, "-mode", tt.mode, "-dir", dir,
				"-n", fmt.Sprint(tt.n), "-recipe", recipe, "-poll", "1ms", "-timeout", "30s"}, &stdout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run error: got %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("run: %v", err)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.fetched != tt.wantFetch {
				t.Errorf("sources fetched: got %d, want %d", fake.fetched, tt.wantFetch)
			}
			if tt.wantRows != nil {
				var got []string
				for _, r := range fake.rows {
					got = append(got, r[0])
				}
				if strings.Join(got, ",") != strings.Join(tt.wantRows, ",") {
					t.Errorf("manifest rows: got %v, want %v", got, tt.wantRows)
				}
			}
			if tt.wantErr != "" {
				return
			}
			if fake.recipe != recipe {
				t.Errorf("recipe field: got %q, want %q", fake.recipe, recipe)
			}
			if !fake.started {
				t.Error("batch was never started")
			}
			line := stdout.String()
			if !strings.HasPrefix(line, tt.wantLine) || !strings.Contains(line, " seconds=2.000 ") ||
				!strings.Contains(line, fmt.Sprintf(" rate=%.1f ", float64(tt.n)/2)) {
				t.Errorf("result line: got %q, want it to start %q with seconds=2.000 and rate=%.1f", line, tt.wantLine, float64(tt.n)/2)
			}
		})
	}
}
