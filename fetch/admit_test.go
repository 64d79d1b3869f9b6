package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestFetchAdmitted: admit hears the announced length (or -1) once the headers are in,
// before the body is read; its error ends the fetch as it is; the time it waits is not
// the fetch's, while a body that stalls after it still times out.
func TestFetchAdmitted(t *testing.T) {
	t.Parallel()
	stop := stopChannel(t)
	body := bytes.Repeat([]byte("x"), 10000)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "10000")
			w.Write(body) //nolint:errcheck // the client reports a short body
		case "/chunked":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			w.Write(body) //nolint:errcheck
		case "/stalled":
			w.Header().Set("Content-Length", "10000")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		default:
			http.NotFound(w, r)
		}
	}))
	ctx := context.Background()

	t.Run("announced and unannounced lengths", func(t *testing.T) {
		t.Parallel()
		b := setup(t, allowLoopback)
		for path, want := range map[string]int64{"/sized": 10000, "/chunked": -1} {
			got := int64(-2)
			res, err := b.f.FetchAdmitted(ctx, srv.URL+path, func(_ context.Context, size int64) error {
				got = size
				return nil
			})
			if err != nil || !bytes.Equal(res.Body, body) {
				t.Fatalf("%s: got %v, want the whole body", path, err)
			}
			if got != want {
				t.Errorf("%s: admit heard %d, want %d", path, got, want)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, allowLoopback)
		refused := errors.New("no room")
		_, err := b.f.FetchAdmitted(ctx, srv.URL+"/sized", func(context.Context, int64) error { return refused })
		if !errors.Is(err, refused) {
			t.Fatalf("got %v, want admit's error", err)
		}
		var called bool
		_, err = b.f.FetchAdmitted(ctx, srv.URL+"/missing", func(context.Context, int64) error { called = true; return nil })
		var se *StatusError
		if !errors.As(err, &se) || called {
			t.Errorf("404: got %v (admit called: %v), want a StatusError without admitting", err, called)
		}
	})

	t.Run("waiting is not the fetch's time", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) {
			allowLoopback(c)
			c.Timeout = 300 * time.Millisecond
		})
		// Admission takes longer than the whole Timeout (the elapsed time is what is
		// tested here), and the body still arrives.
		res, err := b.f.FetchAdmitted(ctx, srv.URL+"/sized", func(context.Context, int64) error {
			<-time.After(600 * time.Millisecond)
			return nil
		})
		if err != nil || len(res.Body) != len(body) {
			t.Fatalf("got %v, want the body after a long admission", err)
		}
		// A body that stalls once admitted still runs out of time.
		_, err = b.f.FetchAdmitted(ctx, srv.URL+"/stalled", func(context.Context, int64) error { return nil })
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("stalled body: got %v, want ErrTimeout", err)
		}
	})
}
