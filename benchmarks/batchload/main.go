// Command batchload drives Pictor's batch API for benchmarks/batch.sh.
//
//	batchload variants -from DIR -n 2000 -out DIR
//
// writes N distinct JPEGs (variant-NNNN.jpg) made from the photo-*.jpg files of
// -from, in turn: each is its base with one small block of luma changed at a
// place that depends on N, re-encoded, so no two files share a sha256 while all
// cost the same to decode and resize. It fails if any two files are equal.
//
//	batchload run -server URL -pid PID -mode url -dir DIR -n 2000 -recipe JSON
//
// creates one batch of -n rows with the inline -recipe, starts it, polls it until
// it is done, checks that every item succeeded, and prints one line:
//
//	result mode=url items=2000 succeeded=2000 failed=0 create_s=0.21 seconds=8.02 rate=249.4 ms_per_item=4.01 cpu_s=15.1 cpu_ms_per_item=7.6 harness_cpu_s=0.4 machine_busy_s=15.9
//
// Mode url serves every *.jpg of -dir from memory on a loopback port and writes
// a manifest of url rows (the files in turn, each URL distinct by ?i=ROW). Mode
// ids lists the images the server already holds (GET /v1/images) and writes a
// manifest of image_id rows, so an item fetches nothing, and with the recipe the
// images were rendered with before, every render is a rendition-cache hit.
//
// seconds is the server's own started_at to finished_at of the batch, so it is
// not coarsened by the polling; rate is items / seconds. cpu_s is the server's
// CPU time (utime+stime from /proc/PID/stat) from the start request to done,
// harness_cpu_s this process's (source server and polling), machine_busy_s what
// every core spent not idle (/proc/stat) over the same span.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "batchload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: batchload variants|run [flags]")
	}
	switch args[0] {
	case "variants":
		return runVariants(args[1:], stdout)
	case "run":
		return runBatch(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown subcommand %q (want variants or run)", args[0])
}

// --- variants ------------------------------------------------------------------

func runVariants(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("batchload variants", flag.ContinueOnError)
	from := fs.String("from", "", "directory of photo-*.jpg base images (required)")
	out := fs.String("out", "", "directory to write variant-NNNN.jpg into (required)")
	n := fs.Int("n", 2000, "number of distinct variants")
	quality := fs.Int("quality", 85, "JPEG quality of the variants")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *out == "" || *n < 1 || *quality < 1 || *quality > 100 {
		return errors.New("need -from, -out, -n >= 1 and -quality 1..100")
	}
	paths, err := filepath.Glob(filepath.Join(*from, "photo-*.jpg"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no photo-*.jpg in %s", *from)
	}
	sort.Strings(paths)
	bases := make([]*image.YCbCr, len(paths))
	for i, p := range paths {
		img, err := decodeYCbCr(p)
		if err != nil {
			return err
		}
		bases[i] = img
	}
	r := bases[0].Rect
	if slots := (r.Dx() / markSize) * (r.Dy() / markSize); (*n+len(bases)-1)/len(bases) > slots {
		return fmt.Errorf("%d variants of %d bases need %d marks per base; a %v base has %d", *n, len(bases), (*n+len(bases)-1)/len(bases), r, slots)
	}
	for i, b := range bases {
		if b.Rect != r {
			return fmt.Errorf("%s is %v, want %v like the first base", paths[i], b.Rect, r)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	sums := make([][sha256.Size]byte, *n)
	jobs := make(chan int)
	errs := make(chan error, *n)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for i := range jobs {
				img := variant(bases[i%len(bases)], i/len(bases), i)
				buf.Reset()
				if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: *quality}); err != nil {
					errs <- fmt.Errorf("encode variant %d: %w", i, err)
					continue
				}
				sums[i] = sha256.Sum256(buf.Bytes())
				if err := os.WriteFile(filepath.Join(*out, variantName(i)), buf.Bytes(), 0o644); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if i, j, ok := duplicate(sums); ok {
		return fmt.Errorf("variants %d and %d have the same bytes", i, j)
	}
	b := bases[0].Bounds()
	fmt.Fprintf(stdout, "wrote %d distinct %dx%d variants of %d bases to %s\n", *n, b.Dx(), b.Dy(), len(bases), *out)
	return nil
}

func variantName(i int) string { return fmt.Sprintf("variant-%04d.jpg", i) }

func decodeYCbCr(path string) (*image.YCbCr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		return nil, fmt.Errorf("decode %s: %T, want a colour baseline JPEG", path, img)
	}
	return y, nil
}

// markSize is the side of the block variant changes: two 8x8 JPEG blocks, so the
// change survives quantisation.
const markSize = 16

// variant copies base and sets the luma of one markSize block: the block's place is
// the slot-th in raster order (slot differs among variants of one base), its level
// comes from i. It panics if the image has fewer slots than slot+1.
func variant(base *image.YCbCr, slot, i int) *image.YCbCr {
	img := &image.YCbCr{
		Y: bytes.Clone(base.Y), Cb: base.Cb, Cr: base.Cr, // only Y is written
		YStride: base.YStride, CStride: base.CStride, SubsampleRatio: base.SubsampleRatio, Rect: base.Rect,
	}
	perRow := img.Rect.Dx() / markSize
	if perRow == 0 || slot >= perRow*(img.Rect.Dy()/markSize) {
		panic(fmt.Sprintf("variant: no slot %d in a %v image", slot, img.Rect))
	}
	x0 := img.Rect.Min.X + (slot%perRow)*markSize
	y0 := img.Rect.Min.Y + (slot/perRow)*markSize
	level := uint8(16 + (i*37)%224)
	for y := y0; y < y0+markSize; y++ {
		for x := x0; x < x0+markSize; x++ {
			img.Y[img.YOffset(x, y)] = level
		}
	}
	return img
}

// duplicate reports the first two equal sums.
func duplicate(sums [][sha256.Size]byte) (int, int, bool) {
	seen := make(map[[sha256.Size]byte]int, len(sums))
	for i, s := range sums {
		if j, ok := seen[s]; ok {
			return j, i, true
		}
		seen[s] = i
	}
	return 0, 0, false
}

// --- run -------------------------------------------------------------------------

type options struct {
	server  string
	mode    string
	dir     string
	n       int
	recipe  string
	pid     int
	poll    time.Duration
	timeout time.Duration
}

func runBatch(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("batchload run", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "", "Pictor base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&o.mode, "mode", "url", "url: rows are URLs of -dir's files; ids: rows are the server's image ids")
	fs.StringVar(&o.dir, "dir", "", "directory of *.jpg files to serve, for -mode url")
	fs.IntVar(&o.n, "n", 2000, "manifest rows")
	fs.StringVar(&o.recipe, "recipe", "", "inline recipe JSON (required)")
	fs.IntVar(&o.pid, "pid", 0, "server process id, to read its CPU time from /proc (0: not read)")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often to read the batch's state")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "time limit for the whole batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.server == "" || o.recipe == "" || o.n < 1 || o.poll <= 0 {
		return errors.New("need -server, -recipe, -n >= 1 and a positive -poll")
	}
	if !json.Valid([]byte(o.recipe)) {
		return errors.New("-recipe is not valid JSON")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c := &client{base: strings.TrimRight(o.server, "/"), http: &http.Client{Timeout: time.Minute}}

	var manifest bytes.Buffer
	switch o.mode {
	case "url":
		if o.dir == "" {
			return errors.New("-mode url needs -dir")
		}
		src, names, err := serveDir(o.dir)
		if err != nil {
			return err
		}
		defer src.Close()
		writeURLManifest(&manifest, "http://"+src.Addr().String(), names, o.n)
	case "ids":
		ids, err := c.imageIDs(ctx)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return errors.New("the server holds no images for -mode ids")
		}
		writeIDManifest(&manifest, ids, o.n)
	default:
		return fmt.Errorf("unknown -mode %q (want url or ids)", o.mode)
	}

	t0 := time.Now()
	id, err := c.create(ctx, manifest.Bytes(), o.recipe)
	if err != nil {
		return err
	}
	createS := time.Since(t0).Seconds()

	cpu0, err := procCPU(o.pid)
	if err != nil {
		return err
	}
	self0, busy0 := selfCPU(), machineBusy()
	if _, err := c.batch(ctx, http.MethodPost, id, "/start"); err != nil {
		return err
	}
	var b batch
	for {
		if b, err = c.batch(ctx, http.MethodGet, id, ""); err != nil {
			return err
		}
		if b.State != "running" {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("batch %s not done after %v: %v", id, o.timeout, b.Counts)
		case <-time.After(o.poll):
		}
	}
	cpu1, err := procCPU(o.pid)
	if err != nil {
		return err
	}
	self1, busy1 := selfCPU(), machineBusy()
	if b.State != "done" {
		return fmt.Errorf("batch %s ended %s: %v", id, b.State, b.Counts)
	}
	if b.StartedAt == nil || b.FinishedAt == nil {
		return fmt.Errorf("batch %s is done without started_at and finished_at", id)
	}
	if ok := b.Counts["succeeded"]; ok != o.n {
		return fmt.Errorf("batch %s: %d of %d items succeeded (%v); first failures:\n%s", id, ok, o.n, b.Counts, c.failures(ctx, id, 5))
	}
	secs := b.FinishedAt.Sub(*b.StartedAt).Seconds()
	cpu := cpu1 - cpu0
	fmt.Fprintf(stdout, "result mode=%s items=%d succeeded=%d failed=%d create_s=%.2f seconds=%.3f rate=%.1f ms_per_item=%.2f cpu_s=%.2f cpu_ms_per_item=%.2f harness_cpu_s=%.2f machine_busy_s=%.2f batch=%s\n",
		o.mode, o.n, b.Counts["succeeded"], b.Counts["failed"], createS, secs, float64(o.n)/secs, secs*1000/float64(o.n),
		cpu, cpu*1000/float64(o.n), self1-self0, busy1-busy0, id)
	return nil
}

// serveDir serves every *.jpg of dir from memory on a loopback port, and returns the
// listener (close it to stop) and the file names in order.
func serveDir(dir string) (net.Listener, []string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no *.jpg in %s", dir)
	}
	sort.Strings(paths)
	files := make(map[string][]byte, len(paths))
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		name := filepath.Base(p)
		files[name] = b
		names = append(names, name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go http.Serve(ln, sourceHandler(files))
	return ln, names, nil
}

// sourceHandler answers GET /NAME with the file's bytes as image/jpeg, any query ignored.
func sourceHandler(files map[string][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}

// writeURLManifest writes a CSV of n url rows: the names in turn, each made distinct by ?i=ROW.
func writeURLManifest(w io.Writer, base string, names []string, n int) {
	fmt.Fprintln(w, "url")
	for i := range n {
		fmt.Fprintf(w, "%s/%s?i=%d\n", base, url.PathEscape(names[i%len(names)]), i)
	}
}

// writeIDManifest writes a CSV of n image_id rows: the ids in turn.
func writeIDManifest(w io.Writer, ids []string, n int) {
	fmt.Fprintln(w, "image_id")
	for i := range n {
		fmt.Fprintln(w, ids[i%len(ids)])
	}
}

// --- the Pictor API ----------------------------------------------------------------

type client struct {
	base string
	http *http.Client
}

type batch struct {
	ID         string         `json:"id"`
	State      string         `json:"state"`
	Total      int            `json:"total"`
	Counts     map[string]int `json:"counts"`
	StartedAt  *time.Time     `json:"started_at"`
	FinishedAt *time.Time     `json:"finished_at"`
}

// do sends a request and decodes a JSON answer of status want into out.
func (c *client) do(req *http.Request, want int, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// create uploads the manifest and the recipe as multipart and returns the batch id.
func (c *client) create(ctx context.Context, manifest []byte, recipe string) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="manifest"; filename="manifest.csv"`)
	h.Set("Content-Type", "text/csv")
	part, err := mw.CreatePart(h)
	if err != nil {
		return "", err
	}
	part.Write(manifest)
	if err := mw.WriteField("recipe", recipe); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/batches", &body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var b batch
	if err := c.do(req, http.StatusCreated, &b); err != nil {
		return "", err
	}
	if b.ID == "" {
		return "", errors.New("create batch: no id in the answer")
	}
	return b.ID, nil
}

// batch sends GET /v1/batches/ID or POST /v1/batches/ID/ACTION.
func (c *client) batch(ctx context.Context, method, id, action string) (batch, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v1/batches/"+url.PathEscape(id)+action, nil)
	if err != nil {
		return batch{}, err
	}
	var b batch
	err = c.do(req, http.StatusOK, &b)
	return b, err
}

// imageIDs lists every image the server holds, in its order.
func (c *client) imageIDs(ctx context.Context) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		u := c.base + "/v1/images?limit=200"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Images []struct {
				ID string `json:"id"`
			} `json:"images"`
			NextCursor string `json:"next_cursor"`
		}
		if err := c.do(req, http.StatusOK, &page); err != nil {
			return nil, err
		}
		for _, im := range page.Images {
			ids = append(ids, im.ID)
		}
		if page.NextCursor == "" || len(page.Images) == 0 {
			return ids, nil
		}
		cursor = page.NextCursor
	}
}

// failures returns the first n result lines that are not succeeded, for the error report.
func (c *client) failures(ctx context.Context, id string, n int) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/batches/"+url.PathEscape(id)+"/results?format=jsonl", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var out []string
	dec := json.NewDecoder(resp.Body)
	for len(out) < n {
		var r struct {
			Row   int    `json:"row"`
			State string `json:"state"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&r); err != nil {
			break
		}
		if r.State != "succeeded" {
			out = append(out, fmt.Sprintf("  row %d %s: %s", r.Row, r.State, r.Error))
		}
	}
	return strings.Join(out, "\n")
}

// --- CPU accounting -------------------------------------------------------------------

// procCPU returns the user plus system CPU seconds pid has used, or 0 when pid is 0.
// /proc/PID/stat counts in USER_HZ ticks, which Linux fixes at 100 a second.
func procCPU(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime+stime (fields 14 and 15) from a /proc/PID/stat line; the
// command name (field 2) may hold spaces and parentheses, so fields count from its end.
func parseStatCPU(stat string) (float64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("parse stat: no command name")
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parse stat: %d fields after the name, want 13 or more", len(f))
	}
	var ticks float64
	for _, s := range f[11:13] { // fields 14 and 15 of the whole line
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("parse stat: %w", err)
		}
		ticks += v
	}
	return ticks / 100, nil
}

// selfCPU returns the user plus system CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// machineBusy returns the CPU seconds all cores have spent not idle since boot, from
// the first line of /proc/stat (user nice system idle iowait irq softirq steal ...),
// or 0 when it cannot be read.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100
}
