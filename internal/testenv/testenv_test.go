package testenv

import (
	"context"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// recorder stands in for a *testing.T to see whether a helper skips or
// fails; like testing.T, Skip and Fatal end the calling goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(args ...any)      { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatal(args ...any)     { r.failed = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// call runs h with r in its own goroutine, as testing does, and waits.
func call(h func(testing.TB), r *recorder) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h(r)
	}()
	<-done
}

func TestMissingServiceSkipsOrFails(t *testing.T) {
	tests := []struct {
		name                 string
		require              string
		wantSkip, wantFailed bool
	}{
		{"not required skips", "", true, false},
		{"required fails", "1", false, true},
		{"other value skips", "yes", true, false},
	}
	helpers := map[string]func(testing.TB){
		"Postgres":    func(tb testing.TB) { Postgres(tb) },
		"S3":          func(tb testing.TB) { S3(tb) },
		"MinIOBinary": func(tb testing.TB) { MinIOBinary(tb) },
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, env := range []string{EnvDatabaseURL, EnvS3Endpoint, EnvS3AccessKey, EnvS3SecretKey, EnvMinIOBinary} {
				t.Setenv(env, "")
			}
			t.Setenv(EnvRequireServices, tt.require)
			for name, h := range helpers {
				r := &recorder{TB: t}
				call(h, r)
				if r.skipped != tt.wantSkip || r.failed != tt.wantFailed {
					t.Errorf("%s: got skipped=%v failed=%v, want skipped=%v failed=%v", name, r.skipped, r.failed, tt.wantSkip, tt.wantFailed)
				}
			}
		})
	}
}

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func TestBucket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, wantPrefix string
	}{
		{"originals", "originals-"},
		{"My_Prefix!!", "my-prefix-"},
		{"", "test-"},
		{"---", "test-"},
		{strings.Repeat("long", 30), strings.Repeat("long", 10) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			t.Parallel()
			a, b := Bucket(t, tt.prefix), Bucket(t, tt.prefix)
			if a == b {
				t.Errorf("two calls: got %s twice, want different names", a)
			}
			for _, name := range []string{a, b} {
				if !bucketRE.MatchString(name) || len(name) > 63 {
					t.Errorf("Bucket(%q): got %q, want a valid S3 bucket name", tt.prefix, name)
				}
				if !strings.HasPrefix(name, tt.wantPrefix) {
					t.Errorf("Bucket(%q): got %q, want prefix %q", tt.prefix, name, tt.wantPrefix)
				}
			}
		})
	}
}

func TestFreshPostgres(t *testing.T) {
	t.Parallel()
	base := Postgres(t)
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		u := FreshPostgres(t)
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("connect to fresh database: %v", err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "t_testfreshpostgres_inner_") {
			t.Errorf("database name: got %q, want prefix t_testfreshpostgres_inner_", name)
		}
		var tables int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("tables in fresh database: got %d, want 0", tables)
		}
		// Left open on purpose: cleanup must drop it anyway.
		if _, err := pgx.Connect(ctx, u); err != nil {
			t.Fatal(err)
		}
	})
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Errorf("database %q after the test: got %d, want dropped (0)", name, n)
	}
}

func live(endpoint string) bool {
	resp, err := http.Get("http://" + endpoint + "/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestStartMinIO(t *testing.T) {
	t.Parallel()
	env, stop, start := StartMinIO(t)
	if !strings.HasPrefix(env.Endpoint, "127.0.0.1:") || env.AccessKey == "" || env.SecretKey == "" {
		t.Fatalf("StartMinIO: got %+v, want a loopback endpoint and keys", env)
	}
	if !live(env.Endpoint) {
		t.Fatalf("after start: got not live, want live")
	}
	stop()
	stop() // idempotent
	if live(env.Endpoint) {
		t.Errorf("after stop: got live, want down")
	}
	start()
	start() // idempotent
	if !live(env.Endpoint) {
		t.Errorf("after restart: got not live, want live on the same endpoint")
	}
}
