package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3Env is where an S3-compatible server listens and how to sign in to it.
type S3Env struct {
	// Endpoint is host:port, without scheme; the server speaks plain HTTP.
	Endpoint string
	// AccessKey is the root user.
	AccessKey string
	// SecretKey is the root password.
	SecretKey string
}

// S3 returns the shared MinIO server (PICTOR_TEST_S3_*). It skips the test
// when PICTOR_TEST_S3_ENDPOINT is empty, or fails it when
// PICTOR_TEST_REQUIRE_SERVICES=1. Use a fresh Bucket per test.
func S3(t testing.TB) S3Env {
	t.Helper()
	return S3Env{
		Endpoint:  lookup(t, "MinIO", EnvS3Endpoint),
		AccessKey: lookup(t, "MinIO", EnvS3AccessKey),
		SecretKey: lookup(t, "MinIO", EnvS3SecretKey),
	}
}

// MinIOBinary returns the path of the minio server binary
// (PICTOR_TEST_MINIO_BIN), skipping or failing the test as S3 does when it
// is not set, and failing it when the file is not there.
func MinIOBinary(t testing.TB) string {
	t.Helper()
	bin := lookup(t, "MinIO binary", EnvMinIOBinary)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", EnvMinIOBinary, err)
	}
	return bin
}

// minioStartTimeout bounds how long StartMinIO waits for /minio/health/live.
const minioStartTimeout = 60 * time.Second

// StartMinIO starts a private MinIO server for this test, on a free loopback
// port with its data in t.TempDir(), and waits until it is live. stop kills
// it; start starts it again on the same port and data directory, so a client
// made before stop works again after start. Both are idempotent and must be
// called from the test's own goroutine (they call t.Fatal). The server is
// stopped when the test ends.
func StartMinIO(t testing.TB) (env S3Env, stop func(), start func()) {
	t.Helper()
	bin := MinIOBinary(t)
	dir := t.TempDir()
	env = S3Env{
		Endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		AccessKey: "pictor-test",
		SecretKey: "pictor-" + randomHex(t, 8),
	}
	console := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))

	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		done chan struct{}
	)
	stop = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cmd = nil
	}
	start = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil {
			return
		}
		logf, err := os.OpenFile(filepath.Join(dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatalf("minio log: %v", err)
		}
		defer logf.Close()
		c := exec.Command(bin, "server", filepath.Join(dir, "data"), "--quiet",
			"--address", env.Endpoint, "--console-address", console)
		c.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+env.AccessKey,
			"MINIO_ROOT_PASSWORD="+env.SecretKey,
			"MINIO_UPDATE=off",
			"MINIO_BROWSER=off",
			"MINIO_CI_CD=1",
		)
		c.Stdout = logf
		c.Stderr = logf
		if err := c.Start(); err != nil {
			t.Fatalf("start minio: %v", err)
		}
		d := make(chan struct{})
		go func() {
			_ = c.Wait()
			close(d)
		}()
		if err := waitLive(env.Endpoint, d); err != nil {
			_ = c.Process.Kill()
			<-d
			log, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			t.Fatalf("minio on %s: %v\n%s", env.Endpoint, err, log)
		}
		cmd, done = c, d
	}
	t.Cleanup(stop)
	start()
	return env, stop, start
}

// waitLive polls MinIO until its liveness endpoint answers 200 and its S3 API
// answers (see apiAnswers), the process exits (exited is closed) or
// minioStartTimeout passes.
func waitLive(endpoint string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), minioStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + endpoint + "/minio/health/live"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && apiAnswers(ctx, client, endpoint) {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("minio exited before it was live")
		case <-ctx.Done():
			return fmt.Errorf("not live after %s", minioStartTimeout)
		case <-tick.C:
		}
	}
}

// apiAnswers reports whether MinIO's S3 API is initialised: an anonymous
// ListBuckets is refused (403) rather than answered 503 "Server not
// initialized yet", which MinIO does for a moment after it reports live.
func apiAnswers(ctx context.Context, client *http.Client, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+endpoint+"/", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Bucket returns a bucket name unique to this call, valid for S3 and for
// storage.Local: prefix (lower-cased, other characters turned into '-'),
// a '-', and 12 random hex digits, 63 bytes at most. It does not create the
// bucket.
func Bucket(t testing.TB, prefix string) string {
	t.Helper()
	p := sanitize(prefix, '-', 40)
	if p == "" {
		p = "test"
	}
	return p + "-" + randomHex(t, 6)
}
