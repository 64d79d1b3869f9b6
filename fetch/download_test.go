package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Download streams a body larger than the Config's MaxBytes to the writer, within its own
// limit, and keeps every check Fetch has.
func TestDownload(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("url\nhttps://cdn.example.com/a.jpg\n", 4000) // ~140 kB
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/list.csv":
			w.Header().Set("Content-Type", "text/csv")
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write([]byte(big))
		case "/chunked.csv": // no Content-Length: the limit is counted as it streams
			w.Header().Set("Content-Type", "text/csv")
			for i := 0; i < 40; i++ {
				w.Write([]byte(big[:4000]))
				w.(http.Flusher).Flush()
			}
		case "/slow.csv":
			w.Write([]byte("url\n"))
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	small := func(c *Config) { allowLoopback(c); c.MaxBytes = 1024 }
	ctx := context.Background()

	t.Run("larger than MaxBytes, within its own limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		var buf bytes.Buffer
		ct, n, err := b.f.Download(ctx, srv.URL+"/list.csv", &buf, 1<<20, time.Minute)
		if err != nil || ct != "text/csv" || n != int64(len(big)) || buf.String() != big {
			t.Fatalf("Download = %q, %d, %v (wrote %d bytes); want the whole %d-byte body", ct, n, err, buf.Len(), len(big))
		}
	})
	t.Run("announced length over the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		var buf bytes.Buffer
		_, _, err := b.f.Download(ctx, srv.URL+"/list.csv", &buf, 1000, time.Minute)
		if !errors.Is(err, ErrTooLarge) || buf.Len() != 0 {
			t.Fatalf("Download = %v with %d bytes written, want ErrTooLarge and nothing written", err, buf.Len())
		}
	})
	t.Run("streamed length over the limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		var buf bytes.Buffer
		_, n, err := b.f.Download(ctx, srv.URL+"/chunked.csv", &buf, 50_000, time.Minute)
		if !errors.Is(err, ErrTooLarge) || n > 50_001 {
			t.Fatalf("Download = %d bytes, %v; want ErrTooLarge after at most the limit", n, err)
		}
	})
	t.Run("its own timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		var buf bytes.Buffer
		_, _, err := b.f.Download(ctx, srv.URL+"/slow.csv", &buf, 1<<20, 200*time.Millisecond)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("Download = %v, want ErrTimeout", err)
		}
	})
	t.Run("status", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		var se *StatusError
		if _, _, err := b.f.Download(ctx, srv.URL+"/missing.csv", &bytes.Buffer{}, 1<<20, time.Minute); !errors.As(err, &se) || se.StatusCode != 404 {
			t.Fatalf("Download = %v, want a 404 StatusError", err)
		}
	})
	t.Run("private address refused at the dialler", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil) // loopback not allowed
		b.dns.hosts["manifests.example"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		_, _, err := b.f.Download(ctx, "http://manifests.example:"+serverPort(t, srv)+"/list.csv", &bytes.Buffer{}, 1<<20, time.Minute)
		wantBlockedAddr(t, err, "127.0.0.1")
		if got := b.dials.connected(); len(got) != 0 {
			t.Errorf("connected to %v, want none", got)
		}
	})
	t.Run("limits must be positive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, small)
		if _, _, err := b.f.Download(ctx, srv.URL+"/list.csv", &bytes.Buffer{}, 0, time.Minute); err == nil {
			t.Fatal("Download with a zero limit succeeded")
		}
	})
}
