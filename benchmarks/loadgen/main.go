// Command loadgen drives Pictor's ingest path, or imgproxy's, for the benchmarks.
//
// It serves every *.jpg of -dir from memory on a loopback port (the "source
// server"), then sends -n POST /v1/images requests to -server from -c
// concurrent clients. Every request names one of the served files and carries
// an inline recipe whose output names end in the request number, so the recipe
// hash differs on every request and nothing is answered from the rendition
// cache. It checks that every answer is 201 with fresh (not cached) renditions
// of the expected size, and prints one line of key=value results:
//
//	result requests=200 ok=200 failed=0 seconds=4.100 rate=48.78 p50_ms=80.1 p95_ms=120.3 p99_ms=140.2 max_ms=150.0 cpu_s=7.9 cpu_ms_per_image=39.5 loadgen_cpu_s=0.8 machine_busy_s=9.0 rss_mib=95.2 peak_rss_mib=180.4 main_bytes=61234 thumb_bytes=0
//
// With -target imgproxy it sends the same work to an imgproxy server instead: one
// GET /unsafe/rs:fit:800:800/q:80/cb:<tag>-<i>/plain/<source>@jpg per request (the
// cache buster makes every URL distinct; imgproxy keeps no result cache anyway), and
// with -outputs 2 a second GET for the thumb from the same client, so a request is
// then an image pair either way. Answers must be 200 images of the expected size.
//
// -format asks for every output in webp, avif or png instead of jpeg (imgproxy: the
// URL's extension); imgproxy's answers are checked to be of that format. -icc-from
// tags every source with the ICC profile of another JPEG (say, Display P3's) or, given
// srgb-hp, with an sRGB profile built like HP's IEC61966-2.1, and
// -orientation with an EXIF orientation (6: a phone photograph held upright).
//
// With -unique every request's source is distinct bytes: the source server puts a
// JPEG comment segment naming the request right after the start-of-image marker, so
// each source has its own sha256 (Pictor stores every original) while decoding it
// costs exactly what the file does. main_bytes and thumb_bytes are the mean encoded
// sizes of the outputs.
//
// With -pid it reads the server's VmRSS and VmHWM from /proc at the end;
// VmHWM is the peak resident set size of the process over its whole life. It
// also reads the server's CPU time (utime+stime) before and after the measured
// requests, so cpu_ms_per_image is the server's CPU cost of one request, which
// other work on the machine disturbs far less than the wall-clock rate. Over the
// same span it reports its own CPU time (source server and clients) and the CPU
// time the whole machine was busy (/proc/stat), so what other processes took is
// machine_busy_s - cpu_s - loadgen_cpu_s.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	server      string
	dir         string
	n, c        int
	warmup      int
	outputs     int
	size, thumb int
	quality     int
	tag         string
	pid         int
	timeout     time.Duration
	target      string // pictor or imgproxy
	thumbFit    string // inside or cover
	format      string // jpeg, webp, avif or png: every output's
	iccFrom     string // a JPEG whose ICC profile every source is tagged with
	orientation int    // an EXIF orientation every source is tagged with; 0: none
	unique      bool
}

// sizes are the encoded bytes of one request's outputs.
type sizes struct{ main, thumb int64 }

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "", "Pictor base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&o.dir, "dir", "", "directory of source *.jpg files to serve (required)")
	fs.IntVar(&o.n, "n", 200, "measured requests")
	fs.IntVar(&o.c, "c", 4, "concurrent clients")
	fs.IntVar(&o.warmup, "warmup", 4, "unmeasured requests sent first, one at a time")
	fs.IntVar(&o.outputs, "outputs", 1, "outputs per recipe: 1 (main) or 2 (main and thumb)")
	fs.IntVar(&o.size, "size", 800, "main output box: fit inside size x size")
	fs.IntVar(&o.thumb, "thumb", 200, "thumb output box for -outputs 2")
	fs.IntVar(&o.quality, "quality", 80, "quality of every output")
	fs.StringVar(&o.format, "format", "jpeg", "format of every output: jpeg, webp, avif or png")
	fs.StringVar(&o.iccFrom, "icc-from", "", "a JPEG file whose ICC profile segments are put into every source, after its start-of-image marker; "+srgbHP+" for an sRGB profile built like HP's")
	fs.IntVar(&o.orientation, "orientation", 0, "an EXIF orientation (1-8) put into every source; 0: none")
	fs.StringVar(&o.tag, "tag", "r", "short tag put in output names, to keep runs apart")
	fs.IntVar(&o.pid, "pid", 0, "server process id, to report its RSS and peak RSS from /proc")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "time limit for one request")
	fs.StringVar(&o.target, "target", "pictor", "server kind: pictor (POST /v1/images) or imgproxy (GET /unsafe/...)")
	fs.StringVar(&o.thumbFit, "thumb-fit", "inside", "thumb fit for -outputs 2: inside (longer side -thumb) or cover (-thumb x -thumb, cropped)")
	fs.BoolVar(&o.unique, "unique", false, "make every request's source distinct bytes (a JPEG comment naming the request)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.server == "" || o.dir == "" {
		return errors.New("-server and -dir are required")
	}
	if o.n < 1 || o.c < 1 || o.warmup < 0 || (o.outputs != 1 && o.outputs != 2) {
		return errors.New("need -n >= 1, -c >= 1, -warmup >= 0, -outputs 1 or 2")
	}
	if len(o.tag) > 8 {
		return errors.New("-tag is at most 8 characters")
	}
	if o.target != "pictor" && o.target != "imgproxy" {
		return errors.New("-target is pictor or imgproxy")
	}
	if o.orientation < 0 || o.orientation > 8 {
		return errors.New("-orientation is 1 to 8, or 0 for none")
	}
	if _, ok := imgproxyExt[o.format]; !ok {
		return errors.New("-format is jpeg, webp, avif or png")
	}
	if o.thumbFit != "inside" && o.thumbFit != "cover" {
		return errors.New("-thumb-fit is inside or cover")
	}
	o.server = strings.TrimRight(o.server, "/")

	files, err := loadFiles(o.dir)
	if err != nil {
		return err
	}
	switch o.iccFrom {
	case "":
	case srgbHP:
		tagAll(files, srgbProfileSegment())
	default:
		b, err := os.ReadFile(o.iccFrom)
		if err != nil {
			return err
		}
		segs, err := iccSegments(b)
		if err != nil {
			return fmt.Errorf("-icc-from %s: %w", o.iccFrom, err)
		}
		tagAll(files, segs)
	}
	if o.orientation > 0 {
		tagAll(files, exifOrientation(o.orientation))
	}
	srcURL, stop, err := serveFiles(files, o.tag)
	if err != nil {
		return err
	}
	defer stop()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)

	client := &http.Client{
		Timeout:   o.timeout,
		Transport: &http.Transport{MaxIdleConns: o.c + 1, MaxIdleConnsPerHost: o.c + 1, DisableCompression: true},
	}
	source := func(i int, suffix string) string {
		name := names[i%len(names)]
		if o.unique {
			return srcURL + "/u/" + suffix + "/" + name
		}
		return srcURL + "/" + name
	}
	send := ingest
	if o.target == "imgproxy" {
		send = imgproxy
	}
	for i := range o.warmup {
		suffix := "w" + strconv.Itoa(i)
		if _, _, err := send(client, o, source(i, suffix), suffix); err != nil {
			return fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}

	latencies := make([]time.Duration, o.n)
	outSizes := make([]sizes, o.n)
	var (
		next     atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	cpuBefore, err := procCPU(o.pid)
	if err != nil {
		return err
	}
	busyBefore, err := machineBusy()
	if err != nil {
		return err
	}
	selfBefore := selfCPU()
	start := time.Now()
	for range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n {
					return
				}
				// Spread requests over the files so that consecutive requests name different sources.
				suffix := strconv.Itoa(i)
				d, sz, err := send(client, o, source(i, suffix), suffix)
				latencies[i], outSizes[i] = d, sz
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("request %d: %w", i, err) })
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	self := selfCPU() - selfBefore
	busyAfter, err := machineBusy()
	if err != nil {
		return err
	}
	cpuAfter, err := procCPU(o.pid)
	if err != nil {
		return err
	}
	cpu := cpuAfter - cpuBefore
	busy := busyAfter - busyBefore
	var rss, hwm float64
	if o.pid > 0 {
		if rss, hwm, err = procMemory(o.pid); err != nil {
			return err
		}
	}
	slices.Sort(latencies)
	ok := o.n - int(failed.Load())
	var mainBytes, thumbBytes float64
	for _, sz := range outSizes {
		mainBytes += float64(sz.main) / float64(o.n)
		thumbBytes += float64(sz.thumb) / float64(o.n)
	}
	fmt.Fprintf(stdout, "result requests=%d ok=%d failed=%d seconds=%.3f rate=%.2f p50_ms=%.1f p95_ms=%.1f p99_ms=%.1f max_ms=%.1f cpu_s=%.2f cpu_ms_per_image=%.1f loadgen_cpu_s=%.2f machine_busy_s=%.2f rss_mib=%.1f peak_rss_mib=%.1f main_bytes=%.0f thumb_bytes=%.0f\n",
		o.n, ok, failed.Load(), elapsed.Seconds(), float64(ok)/elapsed.Seconds(),
		ms(percentile(latencies, 0.50)), ms(percentile(latencies, 0.95)), ms(percentile(latencies, 0.99)), ms(latencies[len(latencies)-1]),
		cpu, cpu*1000/float64(o.n), self, busy, rss, hwm, mainBytes, thumbBytes)
	if firstErr != nil {
		fmt.Fprintln(stderr, "loadgen: first failure:", firstErr)
		return fmt.Errorf("%d of %d requests failed", failed.Load(), o.n)
	}
	return nil
}

// loadFiles reads every *.jpg of dir into memory.
func loadFiles(dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.jpg in %s", dir)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(p)] = b
	}
	return files, nil
}

// srgbHP is the -icc-from value that tags sources with srgbProfileSegment's profile.
const srgbHP = "srgb-hp"

// tagAll puts segments into every file, right after its start-of-image marker.
func tagAll(files map[string][]byte, segments []byte) {
	for name, f := range files {
		files[name] = append(append(append(make([]byte, 0, len(f)+len(segments)), f[:2]...), segments...), f[2:]...)
	}
}

// iccSegments returns the APP2 ICC_PROFILE segments of a JPEG, whole and in order.
func iccSegments(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return nil, errors.New("not a JPEG")
	}
	var segs []byte
	for i := 2; i+4 <= len(b) && b[i] == 0xff && b[i+1] != 0xda; {
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if end > len(b) {
			return nil, errors.New("a segment runs past the end of the file")
		}
		if b[i+1] == 0xe2 && bytes.HasPrefix(b[i+4:end], []byte("ICC_PROFILE\x00")) {
			segs = append(segs, b[i:end]...)
		}
		i = end
	}
	if segs == nil {
		return nil, errors.New("no ICC profile")
	}
	return segs, nil
}

// exifOrientation returns an APP1 EXIF segment whose only field is the orientation n:
// a little-endian TIFF header and one IFD0 entry (tag 0x0112, SHORT, count 1).
func exifOrientation(n int) []byte {
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0, // header, IFD0 at 8
		1, 0, // one entry
		0x12, 0x01, 3, 0, 1, 0, 0, 0, byte(n), 0, 0, 0, // Orientation SHORT 1 = n
		0, 0, 0, 0} // no next IFD
	body := append([]byte("Exif\x00\x00"), tiff...)
	return append([]byte{0xff, 0xe1, byte((len(body) + 2) >> 8), byte(len(body) + 2)}, body...)
}

// serveFiles serves files on a loopback port and returns its base URL and a stop function.
// GET /NAME answers the file; GET /u/ID/NAME answers it with a JPEG comment segment
// "pictor-bench TAG ID" inserted after its start-of-image marker, so every ID is a
// distinct source that decodes to the same pixels.
func serveFiles(files map[string][]byte, tag string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	modTime := time.Now()
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path := strings.TrimPrefix(r.URL.Path, "/")
			if rest, ok := strings.CutPrefix(path, "u/"); ok {
				id, name, _ := strings.Cut(rest, "/")
				b, ok := files[name]
				if !ok || id == "" || len(b) < 2 || b[0] != 0xff || b[1] != 0xd8 {
					http.NotFound(w, r)
					return
				}
				com := comment("pictor-bench " + tag + " " + id)
				w.Header().Set("Content-Type", "image/jpeg")
				w.Header().Set("Content-Length", strconv.Itoa(len(b)+len(com)))
				w.Write(b[:2]) //nolint:errcheck // the client reports a short body
				w.Write(com)   //nolint:errcheck
				w.Write(b[2:]) //nolint:errcheck
				return
			}
			b, ok := files[path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "image/jpeg")
			http.ServeContent(w, r, r.URL.Path, modTime, bytes.NewReader(b))
		}),
	}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on stop
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// comment returns a JPEG COM segment holding text (at most 65533 bytes).
func comment(text string) []byte {
	n := len(text) + 2
	return append([]byte{0xff, 0xfe, byte(n >> 8), byte(n)}, text...)
}

type fitBox struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Fit    string `json:"fit"`
}

type output struct {
	Name    string  `json:"name"`
	Format  string  `json:"format"`
	Quality int     `json:"quality"`
	Resize  *fitBox `json:"resize,omitempty"`
}

type step struct {
	Op string `json:"op"`
	fitBox
}

type recipe struct {
	Steps   []step   `json:"steps"`
	Outputs []output `json:"outputs"`
}

type ingestBody struct {
	URL    string `json:"url"`
	Recipe recipe `json:"recipe"`
}

type ingestAnswer struct {
	Renditions []struct {
		Name   string `json:"name"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Bytes  int64  `json:"bytes"`
		Cached bool   `json:"cached"`
	} `json:"renditions"`
}

// fitsBox tells whether a w x h output is what the box asked: the longer side box for
// fit inside, box x box for cover.
func fitsBox(w, h, box int, fit string) bool {
	if fit == "cover" {
		return w == box && h == box
	}
	return max(w, h) == box
}

// ingest sends one POST /v1/images whose output names end in suffix, and checks the answer.
func ingest(client *http.Client, o options, src, suffix string) (time.Duration, sizes, error) {
	rec := recipe{
		Steps:   []step{{Op: "resize", fitBox: fitBox{Width: o.size, Height: o.size, Fit: "inside"}}},
		Outputs: []output{{Name: "main-" + o.tag + "-" + suffix, Format: o.format, Quality: o.quality}},
	}
	mainName := rec.Outputs[0].Name
	if o.outputs == 2 {
		thumb := output{Name: "thumb-" + o.tag + "-" + suffix, Format: o.format, Quality: o.quality,
			Resize: &fitBox{Width: o.thumb, Height: o.thumb, Fit: o.thumbFit}}
		rec.Outputs = append(rec.Outputs, thumb)
	}
	body, err := json.Marshal(ingestBody{URL: src, Recipe: rec})
	if err != nil {
		return 0, sizes{}, err
	}
	start := time.Now()
	resp, err := client.Post(o.server+"/v1/images", "application/json", bytes.NewReader(body))
	if err != nil {
		return time.Since(start), sizes{}, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return d, sizes{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return d, sizes{}, fmt.Errorf("got status %d, want 201: %.300s", resp.StatusCode, answer)
	}
	var a ingestAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return d, sizes{}, fmt.Errorf("decode answer: %w", err)
	}
	if len(a.Renditions) != len(rec.Outputs) {
		return d, sizes{}, fmt.Errorf("got %d renditions, want %d", len(a.Renditions), len(rec.Outputs))
	}
	var sz sizes
	for i, r := range a.Renditions {
		box, fit, n := o.size, "inside", &sz.main
		if r.Name != mainName {
			box, fit, n = o.thumb, o.thumbFit, &sz.thumb
		}
		switch {
		case r.Name != rec.Outputs[i].Name:
			return d, sizes{}, fmt.Errorf("got rendition %q, want %q", r.Name, rec.Outputs[i].Name)
		case r.Cached:
			return d, sizes{}, fmt.Errorf("rendition %q came from the cache, want a fresh render", r.Name)
		case !fitsBox(r.Width, r.Height, box, fit):
			return d, sizes{}, fmt.Errorf("rendition %q is %dx%d, want %s %d", r.Name, r.Width, r.Height, fit, box)
		}
		*n = r.Bytes
	}
	return d, sz, nil
}

// imgproxy asks an imgproxy server for the same outputs, one GET each, in turn; the cache
// buster <tag>-<suffix> makes every URL distinct.
func imgproxy(client *http.Client, o options, src, suffix string) (time.Duration, sizes, error) {
	start := time.Now()
	var sz sizes
	cb := "cb:" + o.tag + "-" + suffix
	main := fmt.Sprintf("rs:fit:%d:%d/q:%d/%s", o.size, o.size, o.quality, cb)
	n, err := imgproxyGet(client, o.server, main, src, o.format, o.size, "inside")
	if err != nil {
		return time.Since(start), sizes{}, fmt.Errorf("main: %w", err)
	}
	sz.main = n
	if o.outputs == 2 {
		kind := "fit"
		if o.thumbFit == "cover" {
			kind = "fill"
		}
		thumb := fmt.Sprintf("rs:%s:%d:%d/g:ce/q:%d/%s", kind, o.thumb, o.thumb, o.quality, cb)
		if sz.thumb, err = imgproxyGet(client, o.server, thumb, src, o.format, o.thumb, o.thumbFit); err != nil {
			return time.Since(start), sizes{}, fmt.Errorf("thumb: %w", err)
		}
	}
	return time.Since(start), sz, nil
}

// imgproxyExt is the extension that asks imgproxy for an output format.
var imgproxyExt = map[string]string{"jpeg": "jpg", "webp": "webp", "avif": "avif", "png": "png"}

// imgproxyGet fetches one unsigned imgproxy URL and checks it is an image of format
// and of the box.
func imgproxyGet(client *http.Client, server, opts, src, format string, box int, fit string) (int64, error) {
	resp, err := client.Get(server + "/unsafe/" + opts + "/plain/" + src + "@" + imgproxyExt[format])
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("got status %d, want 200: %.300s", resp.StatusCode, b)
	}
	w, h, err := imageSize(b, format)
	if err != nil {
		return 0, err
	}
	if !fitsBox(w, h, box, fit) {
		return 0, fmt.Errorf("got %dx%d, want %s %d", w, h, fit, box)
	}
	return int64(len(b)), nil
}

// imageSize reads the pixel size of an encoded image that must be of format: JPEG and
// PNG through the standard library, WebP from its VP8X, VP8 or VP8L header, AVIF from
// the first 'ispe' (image spatial extents) property after an ftyp box naming avif.
func imageSize(b []byte, format string) (int, int, error) {
	switch format {
	case "jpeg", "png":
		dec := jpeg.DecodeConfig
		if format == "png" {
			dec = png.DecodeConfig
		}
		cfg, err := dec(bytes.NewReader(b))
		if err != nil {
			return 0, 0, fmt.Errorf("answer is not a %s: %w", format, err)
		}
		return cfg.Width, cfg.Height, nil
	case "webp":
		if len(b) < 30 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
			return 0, 0, errors.New("answer is not a webp")
		}
		switch string(b[12:16]) {
		case "VP8X":
			return 1 + (int(b[24]) | int(b[25])<<8 | int(b[26])<<16), 1 + (int(b[27]) | int(b[28])<<8 | int(b[29])<<16), nil
		case "VP8 ":
			if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
				return 0, 0, errors.New("answer is a webp without a VP8 start code")
			}
			return int(binary.LittleEndian.Uint16(b[26:])) & 0x3fff, int(binary.LittleEndian.Uint16(b[28:])) & 0x3fff, nil
		case "VP8L":
			if b[20] != 0x2f {
				return 0, 0, errors.New("answer is a webp without a VP8L signature")
			}
			v := binary.LittleEndian.Uint32(b[21:])
			return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, nil
		}
		return 0, 0, fmt.Errorf("answer is a webp with a first chunk %q", b[12:16])
	case "avif":
		if len(b) < 16 || string(b[4:8]) != "ftyp" {
			return 0, 0, errors.New("answer is not an avif (no ftyp box)")
		}
		ftyp := int(binary.BigEndian.Uint32(b))
		if ftyp < 16 || ftyp > len(b) || !bytes.Contains(b[8:ftyp], []byte("avif")) {
			return 0, 0, errors.New("answer is not an avif (its ftyp box names no avif brand)")
		}
		i := bytes.Index(b, []byte("ispe"))
		if i < 4 || i+16 > len(b) {
			return 0, 0, errors.New("answer is an avif without an ispe property")
		}
		return int(binary.BigEndian.Uint32(b[i+8:])), int(binary.BigEndian.Uint32(b[i+12:])), nil
	}
	return 0, 0, fmt.Errorf("unknown format %q", format)
}

// procMemory returns VmRSS and VmHWM of pid in MiB.
func procMemory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read server status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s %q: %w", key, val, err)
		}
		if key == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// procCPU returns the user plus system CPU seconds pid has used, or 0 when pid is 0.
// /proc/PID/stat counts in USER_HZ ticks, which Linux fixes at 100 a second.
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server stat: %w", err)
	}
	// The command name (field 2) may hold spaces; the fields after its closing paren are fixed.
	paren := strings.LastIndex(string(b), ") ")
	if paren < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b)[paren+2:]) // f[0] is field 3 (state), so utime (14) is f[11] and stime (15) is f[12]
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks float64
	for _, s := range f[11:13] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return ticks / 100, nil
}

// selfCPU returns the user plus system CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// machineBusy returns the CPU seconds all cores have spent not idle since boot, from the
// first line of /proc/stat (user nice system idle iowait irq softirq steal ...).
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("parse /proc/stat: %q", line)
	}
	var ticks float64
	for i, s := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
		ticks += v
	}
	return ticks / 100, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(p*float64(len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
