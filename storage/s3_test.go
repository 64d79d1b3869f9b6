package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/storage"
)

func newS3(t *testing.T, env testenv.S3Env, edit func(*storage.S3Config)) *storage.S3 {
	t.Helper()
	cfg := storage.DefaultS3Config()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = env.Endpoint, env.AccessKey, env.SecretKey
	if edit != nil {
		edit(&cfg)
	}
	s, err := storage.NewS3(cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	return s
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// allOps calls every network operation of s once and returns the errors by name.
func allOps(ctx context.Context, s *storage.S3, bucket string) map[string]error {
	errs := map[string]error{}
	errs["EnsureBucket"] = s.EnsureBucket(ctx, bucket)
	errs["Put"] = s.Put(ctx, bucket, "k", []byte("x"), storage.PutOptions{})
	_, errs["Stat"] = s.Stat(ctx, bucket, "k")
	rc, _, err := s.Get(ctx, bucket, "k")
	if rc != nil {
		rc.Close()
	}
	errs["Get"] = err
	errs["Delete"] = s.Delete(ctx, bucket, "k")
	for _, err := range s.List(ctx, bucket, "") {
		errs["List"] = err
	}
	errs["Ping"] = s.Ping(ctx)
	return errs
}

func TestS3Unavailable(t *testing.T) {
	t.Parallel()
	// hang accepts connections and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	// unavailable answers every request with S3's 503 error.
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>down for maintenance</Message></Error>`)
	}))
	t.Cleanup(unavailable.Close)
	// broken answers with a 500 and no body at all.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)

	tests := []struct {
		name     string
		endpoint string
	}{
		{"closed port", closedPort(t)},
		{"server never answers", hang.Addr().String()},
		{"503 ServiceUnavailable", strings.TrimPrefix(unavailable.URL, "http://")},
		{"500 without body", strings.TrimPrefix(broken.URL, "http://")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newS3(t, testenv.S3Env{Endpoint: tt.endpoint, AccessKey: "ak", SecretKey: "secret-key"}, func(c *storage.S3Config) {
				c.Timeout = 500 * time.Millisecond
				c.MaxRetries = 1
			})
			start := time.Now()
			for op, err := range allOps(context.Background(), s, "some-bucket") {
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", op, err)
				}
				if errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s: got %v, want no ErrNotFound", op, err)
				}
			}
			// Seven calls with a 0.5s timeout and no retries: far below a
			// minute unless timeouts are not applied at all.
			if d := time.Since(start); d > time.Minute {
				t.Errorf("took %s, want the configured timeout to bound each call", d)
			}
		})
	}
}

func TestS3CallerCancelIsNotUnavailable(t *testing.T) {
	t.Parallel()
	s := newS3(t, testenv.S3Env{Endpoint: closedPort(t), AccessKey: "ak", SecretKey: "secret-key"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Stat(ctx, "some-bucket", "k")
	if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Stat with cancelled ctx: got %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestS3MinIODownAndBack(t *testing.T) {
	t.Parallel()
	env, stop, start := testenv.StartMinIO(t)
	s := newS3(t, env, func(c *storage.S3Config) {
		c.Timeout = 2 * time.Second
		c.MaxRetries = 1
	})
	ctx := context.Background()
	bucket := testenv.Bucket(t, "downup")
	if err := s.EnsureBucket(ctx, bucket); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	if err := s.Put(ctx, bucket, "k", []byte("survives"), storage.PutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	stop()
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping while down: got %v, want ErrUnavailable", err)
	}
	if _, err := s.Stat(ctx, bucket, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Stat while down: got %v, want ErrUnavailable", err)
	}
	start()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: got %v, want nil", err)
	}
	rc, _, err := s.Get(ctx, bucket, "k")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "survives" {
		t.Errorf("Get after restart: got %q, want %q", b, "survives")
	}
}

func TestS3PresignGet(t *testing.T) {
	t.Parallel()
	s := newS3(t, testenv.S3(t), nil)
	ctx := context.Background()
	bucket := testenv.Bucket(t, "presign")
	if err := s.EnsureBucket(ctx, bucket); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	data := bytes.Repeat([]byte("pixels"), 1000)
	key := "renditions/abc/main.webp"
	if err := s.Put(ctx, bucket, key, data, storage.PutOptions{ContentType: "image/webp"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	u, err := s.PresignGet(ctx, bucket, key, time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("PresignGet: got %s, want a loopback http URL", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned: got status %d, want 200 (%s)", resp.StatusCode, body)
	}
	if !bytes.Equal(body, data) {
		t.Errorf("GET presigned: got %d bytes, want %d", len(body), len(data))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/webp" {
		t.Errorf("GET presigned: got Content-Type %q, want image/webp", ct)
	}

	// A tampered signature is refused, so the URL really is what grants access.
	resp2, err := http.Get(strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1))
	if err != nil {
		t.Fatalf("GET tampered: %v", err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden {
		t.Errorf("GET tampered: got status %d, want 403", resp2.StatusCode)
	}

	for _, exp := range []time.Duration{0, time.Millisecond, storage.MaxPresignExpiry + time.Second} {
		if _, err := s.PresignGet(ctx, bucket, key, exp); err == nil {
			t.Errorf("PresignGet expiry %s: got nil error, want one", exp)
		}
	}
	if _, err := s.PresignGet(ctx, bucket, "../x", time.Minute); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("PresignGet bad key: got %v, want ErrInvalidKey", err)
	}
}

func TestS3PingWithoutKnownBucket(t *testing.T) {
	t.Parallel()
	s := newS3(t, testenv.S3(t), nil)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
}

func TestS3BadCredentials(t *testing.T) {
	t.Parallel()
	env := testenv.S3(t)
	env.SecretKey = "wrong-secret-key"
	s := newS3(t, env, nil)
	err := s.Ping(context.Background())
	if err == nil || errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Ping with bad credentials: got %v, want an error that is neither ErrUnavailable nor ErrNotFound", err)
	}
}

func TestS3ConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*storage.S3Config)
		wantErr bool
	}{
		{"defaults with endpoint", func(c *storage.S3Config) {}, false},
		{"http scheme", func(c *storage.S3Config) { c.Endpoint = "http://127.0.0.1:9000" }, false},
		{"https scheme", func(c *storage.S3Config) { c.Endpoint = "https://s3.example.com" }, false},
		{"anonymous", func(c *storage.S3Config) { c.AccessKey, c.SecretKey = "", "" }, false},
		{"no endpoint", func(c *storage.S3Config) { c.Endpoint = "" }, true},
		{"ftp scheme", func(c *storage.S3Config) { c.Endpoint = "ftp://host" }, true},
		{"path", func(c *storage.S3Config) { c.Endpoint = "http://host:9000/bucket" }, true},
		{"only access key", func(c *storage.S3Config) { c.SecretKey = "" }, true},
		{"zero timeout", func(c *storage.S3Config) { c.Timeout = 0 }, true},
		{"zero retries", func(c *storage.S3Config) { c.MaxRetries = 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := storage.DefaultS3Config()
			cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = "127.0.0.1:9000", "ak", "sk"
			tt.edit(&cfg)
			err := cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate: got %v, want error %v", err, tt.wantErr)
			}
			_, nerr := storage.NewS3(cfg)
			if (nerr != nil) != tt.wantErr {
				t.Errorf("NewS3: got %v, want error %v", nerr, tt.wantErr)
			}
		})
	}
}
