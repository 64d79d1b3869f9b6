package deploy

// Shared set-up for the deployment tests: the repository root, the pictor
// binary (built once per run from ./cmd/pictor), a running `pictor serve`,
// and the settings the binary really reads.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long the tests wait for a build or a server start;
// it guards against hangs and is never part of an assertion.
const startTimeout = 5 * time.Minute

var (
	// binDir holds the binaries the tests build; TestMain removes it.
	binDir string

	buildMu sync.Mutex
	builds  = map[string]*buildResult{}

	settingsOnce sync.Once
	settingsSet  map[string]bool
	settingsErr  error
)

// buildResult is one `go build` of a command under cmd/, done once per run.
type buildResult struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pictor-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the directory of the service's go.mod, the repository root: the tests run in
// deploy/, a module of its own that keeps their Kubernetes and compose types out of the
// service's.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.HasPrefix(b, []byte("module github.com/pictor/pictor\n")) {
		t.Fatalf("repo root %s holds no go.mod of github.com/pictor/pictor (%v)", root, err)
	}
	return root
}

// readFile reads a file given relative to the repository root.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

// binary builds ./cmd/NAME once per test run and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	root := repoRoot(t)
	buildMu.Lock()
	b, ok := builds[name]
	if !ok {
		b = &buildResult{}
		builds[name] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		b.path = filepath.Join(binDir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func pictorBinary(t *testing.T) string { return binary(t, "pictor") }

// cleanEnv is the environment for a child pictor: the test's own, minus every
// PICTOR_ variable (make test exports some), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PICTOR_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

var reSettingEnv = regexp.MustCompile(`\(env (PICTOR_[A-Z0-9_]+)[,)]`)

// settings returns the PICTOR_ variables that `pictor serve -help` documents:
// the settings the binary really reads.
func settings(t *testing.T) map[string]bool {
	t.Helper()
	bin := pictorBinary(t)
	settingsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "-help")
		cmd.Env = cleanEnv()
		out, _ := cmd.CombinedOutput() // -help exits 2 by design
		settingsSet = map[string]bool{}
		for _, m := range reSettingEnv.FindAllStringSubmatch(string(out), -1) {
			settingsSet[m[1]] = true
		}
		if len(settingsSet) == 0 {
			settingsErr = fmt.Errorf("pictor serve -help listed no PICTOR_ variables:\n%s", out)
		}
	})
	if settingsErr != nil {
		t.Fatal(settingsErr)
	}
	return settingsSet
}

// requiredSettings must be set by the compose file and the Kubernetes
// manifests (issue 6's list).
var requiredSettings = []string{
	"PICTOR_ADDR", "PICTOR_DATA_DIR", "PICTOR_DATABASE_URL", "PICTOR_S3_ENDPOINT",
	"PICTOR_S3_ACCESS_KEY", "PICTOR_S3_SECRET_KEY", "PICTOR_S3_BUCKET_ORIGINALS",
	"PICTOR_S3_BUCKET_RENDITIONS", "PICTOR_S3_USE_SSL", "PICTOR_PUBLIC_BASE_URL",
	"PICTOR_SD_URLS", "PICTOR_API_KEYS", "PICTOR_URL_SIGNING_KEY", "PICTOR_SESSION_SECRET", "PICTOR_FETCH_ALLOWED_NETS",
	"PICTOR_MAX_SOURCE_BYTES", "PICTOR_MAX_SOURCE_PIXELS", "PICTOR_WORKERS", "PICTOR_LOG_FORMAT",
}

// checkSettingName reports a PICTOR_ variable the binary does not read: a
// typo, or a setting that was renamed or removed.
func checkSettingName(t *testing.T, where, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "PICTOR_") {
		return
	}
	if settings(t)[name] {
		return
	}
	t.Errorf("%s sets %s: pictor does not read it (got settings %v)", where, name, sortedKeys(settings(t)))
}

// server is a running process that serves HTTP on a loopback port.
type server struct {
	URL  string
	Addr string
}

// stack is a running `pictor serve` with the stand-in WebUI as its backend.
type stack struct {
	*server
	SD *server
}

// startPictor runs cmd/sdstub and `pictor serve -addr 127.0.0.1:0` with a
// fresh data directory and PICTOR_SD_URLS pointing at the stub, and stops both
// when the test ends.
func startPictor(t *testing.T) *stack {
	t.Helper()
	sd := startProcess(t, "sdstub listening on ", binary(t, "sdstub"),
		[]string{"-addr", "127.0.0.1:0", "-step-latency", "1ms", "-log-level", "warn"}, nil)
	pictor := startProcess(t, "pictor listening on ", pictorBinary(t),
		[]string{"serve", "-addr", "127.0.0.1:0"},
		[]string{
			"PICTOR_DATA_DIR=" + t.TempDir(),
			"PICTOR_LOG_LEVEL=warn",
			"PICTOR_WORKERS=1",
			"PICTOR_SD_URLS=" + sd.URL,
		})
	return &stack{server: pictor, SD: sd}
}

// startProcess runs bin with args and extra environment, waits for the
// stdout line that starts with prefix and carries the URL, and stops the
// process (SIGINT) when the test ends.
func startProcess(t *testing.T, prefix, bin string, args, env []string) *server {
	t.Helper()
	s := startProcessUntil(t, prefix, "", bin, args, env)
	if s == nil {
		t.Fatalf("%s: no %q line", filepath.Base(bin), prefix)
	}
	return s
}

// startProcessUntil is startProcess that gives up, returning nil, when the
// process prints the line giveUp before the prefix line.
func startProcessUntil(t *testing.T, prefix, giveUp, bin string, args, env []string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv(env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", filepath.Base(bin), err)
	}
	t.Cleanup(func() {
		cancel()
		if err := cmd.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("%s did not stop: %v", filepath.Base(bin), err)
			}
		}
	})

	urls := make(chan string, 1)
	go func() {
		defer close(urls)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				urls <- strings.TrimSpace(rest)
				break
			}
			if giveUp != "" && sc.Text() == giveUp {
				urls <- ""
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case u, ok := <-urls:
		if ok && u == "" {
			return nil
		}
		if ok {
			return &server{URL: u, Addr: strings.TrimPrefix(u, "http://")}
		}
		t.Fatalf("%s exited before printing %q; stderr:\n%s", filepath.Base(bin), prefix, stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("%s did not print %q; stderr:\n%s", filepath.Base(bin), prefix, stderr.String())
	}
	return nil
}

// lockedBuffer is a bytes.Buffer a child process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// do sends one request and returns the status and body.
func (s *server) do(t *testing.T, method, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// smallPNG is a 64x48 gradient, enough for an ingest and a render.
func smallPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 5), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// findPromtool returns promtool from PATH or the cache scripts/validate-deploy.sh
// fills, or "" when there is none.
func findPromtool() string {
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	cache := os.Getenv("PICTOR_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "pictor")
	}
	p := filepath.Join(cache, "bin", "promtool")
	if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// runIn runs a command in dir with a time limit and returns its combined output.
func runIn(dir, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}
