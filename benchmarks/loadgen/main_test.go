package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePictor answers POST /v1/images like Pictor: it fetches the source URL (which must be
// the loopback source server) and returns one rendition per output, shaped by answer.
func fakePictor(t *testing.T, answer func(out output, i int) (status int, w, h int, cached bool)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var fetched atomic.Int64
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body ingestBody
		if r.Method != http.MethodPost || r.URL.Path != "/v1/images" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(body.URL, "http://127.0.0.1:") {
			http.Error(w, "source not on loopback: "+body.URL, http.StatusBadRequest)
			return
		}
		resp, err := http.Get(body.URL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		src, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := jpeg.DecodeConfig(bytes.NewReader(src)); err != nil {
			http.Error(w, "source is not a jpeg", http.StatusBadRequest)
			return
		}
		fetched.Add(1)
		i := int(n.Add(1))
		type rendition struct {
			Name   string `json:"name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Cached bool   `json:"cached"`
		}
		var out struct {
			Renditions []rendition `json:"renditions"`
		}
		status := http.StatusCreated
		for _, o := range body.Recipe.Outputs {
			s, rw, rh, cached := answer(o, i)
			status = s
			out.Renditions = append(out.Renditions, rendition{Name: o.Name, Width: rw, Height: rh, Cached: cached})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(out) //nolint:errcheck // the client reports a short body
	}))
	t.Cleanup(srv.Close)
	return srv, &fetched
}

func sourceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 3 {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 64, 40)), nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("photo-%03d.jpg", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fits answers what Pictor should: the main output 800 wide, the thumb 200 wide.
func fits(o output, _ int) (int, int, int, bool) {
	if o.Resize != nil {
		return http.StatusCreated, o.Resize.Width, o.Resize.Width * 5 / 8, false
	}
	return http.StatusCreated, 800, 500, false
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		outputs int
		answer  func(output, int) (int, int, int, bool)
		wantErr string
	}{
		{"one output", 1, fits, ""},
		{"two outputs", 2, fits, ""},
		{"status not 201", 1, func(o output, i int) (int, int, int, bool) {
			if i == 5 {
				return http.StatusTooManyRequests, 800, 500, false
			}
			return fits(o, i)
		}, "1 of 6 requests failed"},
		{"served from cache", 1, func(o output, i int) (int, int, int, bool) {
			s, w, h, _ := fits(o, i)
			return s, w, h, true
		}, "6 of 6 requests failed"},
		{"wrong thumb size", 2, func(o output, i int) (int, int, int, bool) {
			s, w, h, c := fits(o, i)
			if o.Resize != nil {
				w = 800
			}
			return s, w, h, c
		}, "6 of 6 requests failed"},
	}
	dir := sourceDir(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, fetched := fakePictor(t, tt.answer)
			var stdout, stderr bytes.Buffer
			args := []string{"-server", srv.URL, "-dir", dir, "-n", "6", "-c", "2", "-warmup", "0",
				"-outputs", strconv.Itoa(tt.outputs), "-pid", strconv.Itoa(os.Getpid())}
			err := run(args, &stdout, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run: got %v (stderr %q), want no error", err, stderr.String())
				}
				if !strings.Contains(stdout.String(), "ok=6 failed=0") {
					t.Errorf("stdout: got %q, want ok=6 failed=0", stdout.String())
				}
				if !strings.Contains(stdout.String(), "peak_rss_mib=") || strings.Contains(stdout.String(), "peak_rss_mib=0.0") {
					t.Errorf("stdout: got %q, want a non-zero peak_rss_mib", stdout.String())
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: got %v, want an error containing %q", err, tt.wantErr)
			}
			if got := fetched.Load(); got != 6 {
				t.Errorf("sources fetched: got %d, want 6", got)
			}
		})
	}
}

func TestDistinctOutputNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	srv, _ := fakePictor(t, func(o output, i int) (int, int, int, bool) {
		if seen[o.Name] {
			return http.StatusConflict, 0, 0, false
		}
		seen[o.Name] = true
		return fits(o, i)
	})
	var stdout, stderr bytes.Buffer
	// Run serially (-c 1) so the map needs no lock.
	args := []string{"-server", srv.URL, "-dir", sourceDir(t), "-n", "10", "-c", "1", "-warmup", "2", "-outputs", "2"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: got %v (stderr %q), want no error", err, stderr.String())
	}
	if got, want := len(seen), 2*(10+2); got != want {
		t.Errorf("distinct output names: got %d, want %d", got, want)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"no server", []string{"-dir", "x"}},
		{"no dir", []string{"-server", "http://127.0.0.1:1"}},
		{"three outputs", []string{"-server", "http://127.0.0.1:1", "-dir", "x", "-outputs", "3"}},
		{"long tag", []string{"-server", "http://127.0.0.1:1", "-dir", "x", "-tag", "waytoolong"}},
		{"unknown format", []string{"-server", "http://127.0.0.1:1", "-dir", "x", "-format", "gif"}},
		{"orientation 9", []string{"-server", "http://127.0.0.1:1", "-dir", "x", "-orientation", "9"}},
		{"empty dir", []string{"-server", "http://127.0.0.1:1", "-dir", t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := run(tt.args, io.Discard, io.Discard); err == nil {
				t.Errorf("run(%q): got no error, want one", tt.args)
			}
		})
	}
}

func TestProcReaders(t *testing.T) {
	t.Parallel()
	// Burn CPU until the kernel's precise counter shows 100 ms used, so that /proc's
	// tick-based counter is above zero too; hashing cannot be optimised away.
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(20 * time.Second)
	for start := selfCPU(); selfCPU()-start < 0.1; {
		if time.Now().After(deadline) {
			t.Fatal("could not burn 100 ms of CPU in 20 s")
		}
		sum := sha256.Sum256(buf)
		buf[0] = sum[0]
	}
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Errorf("procCPU: got %v, %v, want > 0 and no error", cpu, err)
	}
	rss, hwm, err := procMemory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("procMemory: got rss %v hwm %v err %v, want 0 < rss <= hwm", rss, hwm, err)
	}
	busy, err := machineBusy()
	if err != nil || busy <= 0 {
		t.Errorf("machineBusy: got %v, %v, want > 0 and no error", busy, err)
	}
	if got := selfCPU(); got <= 0 {
		t.Errorf("selfCPU: got %v, want > 0", got)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Errorf("procCPU of a missing pid: got no error, want one")
	}
}

// fakeImgproxy answers GET /unsafe/rs:KIND:W:H/.../plain/SRC@jpg like imgproxy: it fetches
// SRC from the loopback source server and answers a JPEG of the size asked (for fit, the
// longer side W of a 16:10 picture; for fill, W x H), or of the size wrong(i) gives.
func fakeImgproxy(t *testing.T, wrong func(i int) bool) (*httptest.Server, *atomic.Int64, *sync.Map) {
	t.Helper()
	var n atomic.Int64
	var sources sync.Map // sha256 of each fetched source -> true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts, src, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/unsafe/"), "/plain/")
		at := strings.LastIndexByte(src, '@')
		if !ok || at < 0 || !strings.HasPrefix(src, "http://127.0.0.1:") {
			http.Error(w, "bad path "+r.URL.Path, http.StatusNotFound)
			return
		}
		ext := src[at+1:]
		resp, err := http.Get(src[:at])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil {
			http.Error(w, "source is not a jpeg", http.StatusUnprocessableEntity)
			return
		}
		sources.Store(sha256.Sum256(body), true)
		var kind string
		var bw, bh int
		if _, err := fmt.Sscanf(strings.ReplaceAll(strings.SplitN(opts, "/", 2)[0], ":", " "), "rs %s %d %d", &kind, &bw, &bh); err != nil {
			http.Error(w, "bad options "+opts, http.StatusNotFound)
			return
		}
		i := int(n.Add(1))
		ow, oh := bw, bw*10/16
		if kind == "fill" {
			oh = bh
		}
		if wrong != nil && wrong(i) {
			ow++
		}
		out, err := encodedAs(ext, ow, oh)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(out) //nolint:errcheck // the client reports a short body
	}))
	t.Cleanup(srv.Close)
	return srv, &n, &sources
}

// encodedAs returns an image of w x h in the format of an imgproxy extension: JPEG and PNG
// by the standard library, WebP and AVIF as the testdata files (300x260, made by libvips)
// with the size fields the answer is read by rewritten.
func encodedAs(ext string, w, h int) ([]byte, error) {
	var buf bytes.Buffer
	switch ext {
	case "jpg":
		err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)), nil)
		return buf.Bytes(), err
	case "png":
		err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)))
		return buf.Bytes(), err
	case "webp":
		b, err := os.ReadFile("testdata/size.webp")
		if err != nil || string(b[12:16]) != "VP8X" {
			return nil, fmt.Errorf("testdata/size.webp: %v, want a VP8X file", err)
		}
		for k, v := range []int{w - 1, h - 1} {
			b[24+3*k], b[25+3*k], b[26+3*k] = byte(v), byte(v>>8), byte(v>>16)
		}
		return b, nil
	case "avif":
		b, err := os.ReadFile("testdata/size.avif")
		i := bytes.Index(b, []byte("ispe"))
		if err != nil || i < 0 {
			return nil, fmt.Errorf("testdata/size.avif: %v, want an ispe property", err)
		}
		binary.BigEndian.PutUint32(b[i+8:], uint32(w))
		binary.BigEndian.PutUint32(b[i+12:], uint32(h))
		return b, nil
	}
	return nil, fmt.Errorf("unknown extension %q", ext)
}

func TestImgproxyTarget(t *testing.T) {
	t.Parallel()
	dir := sourceDir(t)
	tests := []struct {
		name     string
		args     []string
		wrong    func(int) bool
		wantGets int64
		wantErr  string
	}{
		{"one output", []string{"-outputs", "1"}, nil, 6, ""},
		{"two outputs, cover thumb", []string{"-outputs", "2", "-thumb-fit", "cover"}, nil, 12, ""},
		{"wrong size", []string{"-outputs", "1"}, func(i int) bool { return i == 3 }, 6, "1 of 6 requests failed"},
		{"webp", []string{"-format", "webp", "-outputs", "2", "-thumb-fit", "cover"}, nil, 12, ""},
		{"avif", []string{"-format", "avif", "-outputs", "2"}, nil, 12, ""},
		{"png", []string{"-format", "png"}, nil, 6, ""},
		{"avif, wrong size", []string{"-format", "avif"}, func(i int) bool { return i == 2 }, 6, "1 of 6 requests failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, gets, sources := fakeImgproxy(t, tt.wrong)
			var stdout, stderr bytes.Buffer
			args := append([]string{"-target", "imgproxy", "-server", srv.URL, "-dir", dir, "-n", "6", "-c", "2", "-warmup", "0", "-unique"}, tt.args...)
			err := run(args, &stdout, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run: got %v (stderr %q), want no error", err, stderr.String())
				}
				if !strings.Contains(stdout.String(), "ok=6 failed=0") || strings.Contains(stdout.String(), "main_bytes=0 ") {
					t.Errorf("stdout: got %q, want ok=6 failed=0 and main_bytes above 0", stdout.String())
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: got %v, want an error containing %q", err, tt.wantErr)
			}
			if got := gets.Load(); got != tt.wantGets {
				t.Errorf("imgproxy requests: got %d, want %d", got, tt.wantGets)
			}
			distinct := 0
			sources.Range(func(any, any) bool { distinct++; return true })
			if want := 6; distinct != want {
				t.Errorf("distinct source bytes: got %d, want %d (one per request with -unique)", distinct, want)
			}
		})
	}
}

func TestUniqueSources(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 32, 20)), nil); err != nil {
		t.Fatal(err)
	}
	files["a.jpg"] = buf.Bytes()
	base, stop, err := serveFiles(files, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	_, plain := get("/a.jpg")
	if !bytes.Equal(plain, files["a.jpg"]) {
		t.Fatalf("GET /a.jpg: got %d bytes, want the file's %d", len(plain), len(files["a.jpg"]))
	}
	_, one := get("/u/1/a.jpg")
	_, two := get("/u/2/a.jpg")
	if bytes.Equal(one, two) || bytes.Equal(one, plain) {
		t.Errorf("GET /u/1 and /u/2: got equal bytes, want distinct sources")
	}
	for _, b := range [][]byte{one, two} {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 20 {
			t.Errorf("unique source: decode got %v, %v, want a 32x20 JPEG", img, err)
		}
		if !bytes.Contains(b, []byte("pictor-bench t ")) {
			t.Errorf("unique source: got no comment naming the request")
		}
	}
	if code, _ := get("/u/1/missing.jpg"); code != http.StatusNotFound {
		t.Errorf("GET /u/1/missing.jpg: got %d, want 404", code)
	}
}

// TestImageSize reads the size of real files made by libvips (300x260) in every format,
// WebP also as a plain VP8 and a VP8L file (libvips writes VP8X), and refuses a file of
// another format than the one asked for.
func TestImageSize(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// plain unwraps a VP8X WebP to its image chunk alone, as a simple-format file.
	plain := func(b []byte, fourcc string) []byte {
		i := bytes.Index(b, []byte(fourcc))
		if i < 0 {
			t.Fatalf("no %q chunk", fourcc)
		}
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		chunk := b[i : i+8+n+n%2]
		out := append([]byte("RIFF\x00\x00\x00\x00WEBP"), chunk...)
		binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
		return out
	}
	tests := []struct {
		name, format string
		b            []byte
		wantErr      bool
	}{
		{"jpeg", "jpeg", read("size.jpg"), false},
		{"png", "png", read("size.png"), false},
		{"webp vp8x", "webp", read("size.webp"), false},
		{"webp vp8", "webp", plain(read("size.webp"), "VP8 "), false},
		{"webp vp8l", "webp", plain(read("size-lossless.webp"), "VP8L"), false},
		{"avif", "avif", read("size.avif"), false},
		{"jpeg asked as avif", "avif", read("size.jpg"), true},
		{"avif asked as webp", "webp", read("size.avif"), true},
		{"webp asked as jpeg", "jpeg", read("size.webp"), true},
		{"truncated webp", "webp", read("size.webp")[:20], true},
		{"avif cut before its ispe", "avif", read("size.avif")[:bytes.Index(read("size.avif"), []byte("ispe"))], true},
		{"heic brand", "avif", bytes.Replace(read("size.avif"), []byte("avif"), []byte("heic"), -1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, h, err := imageSize(tt.b, tt.format)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("imageSize: got %dx%d, want an error", w, h)
				}
				return
			}
			if err != nil || w != 300 || h != 260 {
				t.Fatalf("imageSize: got %dx%d, %v; want 300x260", w, h, err)
			}
		})
	}
}

// TestICCSegments takes the Display P3 profile out of imaging's testdata photograph and
// refuses files without one.
func TestICCSegments(t *testing.T) {
	t.Parallel()
	p3, err := os.ReadFile("../../imaging/testdata/display-p3.jpg")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := iccSegments(p3)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 18+128 || segs[0] != 0xff || segs[1] != 0xe2 || string(segs[4:16]) != "ICC_PROFILE\x00" || !bytes.Contains(p3, segs) {
		t.Fatalf("segments: %d bytes, %q...; want the file's APP2 ICC_PROFILE segment", len(segs), segs[:min(len(segs), 16)])
	}
	withICC, plain := tagged(t, segs)
	if _, err := jpeg.DecodeConfig(bytes.NewReader(withICC)); err != nil {
		t.Errorf("a tagged JPEG does not decode: %v", err)
	}
	for name, b := range map[string][]byte{"no profile": plain, "not a JPEG": []byte("GIF89a"), "cut": p3[:40]} {
		if _, err := iccSegments(b); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

// TestExifOrientation: the segment is a well-formed APP1 EXIF block naming the
// orientation, and a JPEG carrying it still decodes.
func TestExifOrientation(t *testing.T) {
	t.Parallel()
	seg := exifOrientation(6)
	if seg[0] != 0xff || seg[1] != 0xe1 || int(seg[2])<<8|int(seg[3]) != len(seg)-2 || string(seg[4:10]) != "Exif\x00\x00" {
		t.Fatalf("segment % x: not an APP1 EXIF segment of its own length", seg)
	}
	tiff := seg[10:]
	if string(tiff[:4]) != "II*\x00" || binary.LittleEndian.Uint32(tiff[4:]) != 8 || binary.LittleEndian.Uint16(tiff[8:]) != 1 {
		t.Fatalf("TIFF header % x, want II*, IFD0 at 8 with one entry", tiff[:10])
	}
	e := tiff[10:22]
	if tag, typ, count, v := binary.LittleEndian.Uint16(e), binary.LittleEndian.Uint16(e[2:]), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint16(e[8:]); tag != 0x0112 || typ != 3 || count != 1 || v != 6 {
		t.Errorf("entry: tag %#x type %d count %d value %d, want orientation 0x112 SHORT 1 = 6", tag, typ, count, v)
	}
	if b, _ := tagged(t, seg); !bytes.Contains(b, seg) {
		t.Error("the tagged JPEG does not hold the segment")
	} else if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil {
		t.Errorf("a tagged JPEG does not decode: %v", err)
	}
}

// tagged returns testdata/size.jpg tagged with segments by tagAll, and the file as it was.
func tagged(t *testing.T, segments []byte) (tagged, plain []byte) {
	t.Helper()
	plain, err := os.ReadFile("testdata/size.jpg")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a.jpg": plain}
	tagAll(files, segments)
	if !bytes.HasPrefix(files["a.jpg"], append([]byte{0xff, 0xd8}, segments...)) || !bytes.HasSuffix(files["a.jpg"], plain[2:]) {
		t.Fatal("tagAll did not put the segments right after the start-of-image marker")
	}
	return files["a.jpg"], plain
}

// TestSRGBProfileSegment: the built profile is one APP2 segment that libvips-free checks
// can read: an ICC_PROFILE chunk 1 of 1, the profile's size in its header, and HP's
// IEC61966-2.1 header fields, by which imgproxy recognizes sRGB.
func TestSRGBProfileSegment(t *testing.T) {
	t.Parallel()
	seg := srgbProfileSegment()
	if seg[0] != 0xff || seg[1] != 0xe2 || int(binary.BigEndian.Uint16(seg[2:])) != len(seg)-2 || string(seg[4:16]) != "ICC_PROFILE\x00" || seg[16] != 1 || seg[17] != 1 {
		t.Fatalf("segment % x...: not one APP2 ICC_PROFILE chunk of its own length", seg[:18])
	}
	p := seg[18:]
	if int(binary.BigEndian.Uint32(p)) != len(p) || string(p[36:40]) != "acsp" || string(p[16:24]) != "RGB XYZ " {
		t.Fatalf("profile header % x: size, signature or spaces wrong", p[:40])
	}
	if !bytes.Equal(p[8:12], []byte{2, 16, 0, 0}) || !bytes.Equal(p[24:30], []byte{7, 206, 0, 2, 0, 9}) ||
		string(p[48:52]) != "IEC " || string(p[52:56]) != "sRGB" || string(p[80:84]) != "HP  " {
		t.Errorf("header fields % x: not HP's sRGB IEC61966-2.1 ones", p[:84])
	}
	n := binary.BigEndian.Uint32(p[128:])
	for i := range n {
		e := p[132+12*i:]
		if off, size := binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:]); int(off+size) > len(p) {
			t.Errorf("tag %q runs past the profile", e[:4])
		}
	}
	b, _ := tagged(t, seg)
	if got, err := iccSegments(b); err != nil || !bytes.Equal(got, seg) {
		t.Errorf("a tagged file's ICC segments: %d bytes, %v; want the segment", len(got), err)
	}
}
