package imaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// mallocChildEnv makes the test binary run mallocChild instead of the tests: the
// allocator's state depends on everything a process has done, so each case gets a
// fresh process.
const mallocChildEnv = "PICTOR_IMAGING_MALLOC_CHILD"

// mallocReport is what mallocChild prints.
type mallocReport struct {
	Stats     MallocStats
	RSSBefore int64 // after the decode, before ReleaseMemory
	RSSAfter  int64
	Released  bool
}

// mallocChild starts libvips with the allocator tuned by default ("default") or left
// as glibc has it ("glibc"), decodes the progressive JPEG named by
// PICTOR_IMAGING_MALLOC_CHILD_SOURCE, whose decoder keeps a buffer of every coefficient
// (34 MiB for progressiveSource) and frees it at the end, and prints a mallocReport.
// Nothing large is allocated before the decode: glibc raises its mapping threshold
// to the largest mapped buffer freed so far.
func mallocChild(mode string) int {
	cfg := StartupConfig{}
	if mode == "glibc" {
		cfg.Malloc = MallocConfig{Arenas: -1, MmapThreshold: -1, TrimThreshold: -1}
	}
	Startup(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer Shutdown()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, err); return 1 }

	data, err := os.ReadFile(os.Getenv(mallocChildEnv + "_SOURCE"))
	if err != nil {
		return fail(err)
	}
	im, err := Load(data, LoadOptions{ShrinkTo: Size{Width: 300, Height: 200}})
	if err != nil {
		return fail(err)
	}
	if _, err := im.Encode(EncodeOptions{Format: JPEG}); err != nil {
		return fail(err)
	}
	im.Close()
	runtime.GC()
	var r mallocReport
	var ok bool
	if r.Stats, ok = ReadMallocStats(); !ok {
		return fail(fmt.Errorf("no malloc statistics"))
	}
	r.RSSBefore = rss()
	r.Released = ReleaseMemory()
	r.RSSAfter = rss()
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return fail(err)
	}
	return 0
}

// progressiveSource is a progressive 3000x2000 JPEG without chroma subsampling.
func progressiveSource(t *testing.T) []byte {
	t.Helper()
	return encodeBlackSize(t, 3000, 2000, jpegExport(true, vips.VipsForeignSubsampleOff))
}

// rss is this process's resident set in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestMallocTuned: by default a decoder's large buffer is kept in malloc's arenas for
// the next image instead of being mapped afresh each time (faulted in page by page),
// and ReleaseMemory gives it back; with the tuning left to glibc the buffer is mapped
// on its own and already gone, which is what the default must differ from.
func TestMallocTuned(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("glibc's malloc only")
	}
	t.Parallel()
	src := filepath.Join(t.TempDir(), "progressive.jpg")
	if err := os.WriteFile(src, progressiveSource(t), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) mallocReport {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), mallocChildEnv+"="+mode, mallocChildEnv+"_SOURCE="+src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s child: %v\n%s", mode, err, stderr.String())
		}
		var r mallocReport
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s child: %v: %q", mode, err, out)
		}
		t.Logf("%s: %+v", mode, r)
		return r
	}
	buf := int64(16 << 20) // most of the decoder's 34 MiB buffer
	d := run("default")
	if d.Stats.Arenas < buf || d.Stats.Free < buf {
		t.Errorf("tuned: arenas hold %d bytes, %d free after the decode; want both >= %d (the decoder's buffer kept for reuse)", d.Stats.Arenas, d.Stats.Free, buf)
	}
	if !d.Released || d.RSSBefore-d.RSSAfter < buf {
		t.Errorf("tuned: ReleaseMemory %v, RSS %d -> %d; want true and at least %d bytes given back", d.Released, d.RSSBefore, d.RSSAfter, buf)
	}
	g := run("glibc")
	if g.Stats.Free >= buf {
		t.Errorf("glibc's own settings: %d bytes free in the arenas, want < %d (the buffer mapped on its own and unmapped)", g.Stats.Free, buf)
	}
}

func TestMallocConfigDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      MallocConfig
		want    MallocConfig
		invalid bool
	}{
		{"zero is the defaults", MallocConfig{}, DefaultMallocConfig(), false},
		{"negative leaves glibc's", MallocConfig{Arenas: -5, MmapThreshold: -1, TrimThreshold: -1}, MallocConfig{Arenas: -1, MmapThreshold: -1, TrimThreshold: -1}, false},
		{"set", MallocConfig{Arenas: 4, MmapThreshold: 1 << 20, TrimThreshold: 1 << 30}, MallocConfig{Arenas: 4, MmapThreshold: 1 << 20, TrimThreshold: 1 << 30}, false},
		{"mmap threshold over glibc's most", MallocConfig{MmapThreshold: 32<<20 + 1}, MallocConfig{}, true},
		{"trim threshold over an int", MallocConfig{TrimThreshold: 1 << 31}, MallocConfig{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := StartupConfig{Malloc: tc.in}.Validate()
			if tc.invalid {
				if !errors.Is(err, ErrInvalidOption) {
					t.Fatalf("Validate: got %v, want ErrInvalidOption", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tc.in.withDefaults(); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
