package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		args       []string
		wantStatus int
		wantBody   string
	}{
		{"a1111", []string{"-step-latency", "1ms"}, 404,
			`{"error":"HTTPException","detail":"Init image not found","body":"","errors":""}`},
		{"forge", []string{"-flavor", "forge"}, 404, `{"detail":"Init image not found"}`},
		{"auth", []string{"-auth", "u:p"}, 401,
			`{"error":"HTTPException","detail":"Not authenticated","body":"","errors":""}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			errc := make(chan error, 1)
			go func() {
				errc <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, c.args...), &stdout, &stderr)
			}()
			var base string
			deadline := time.Now().Add(10 * time.Second)
			for base == "" {
				if out := stdout.String(); strings.HasPrefix(out, "sdstub listening on http://127.0.0.1:") {
					base = strings.TrimSpace(strings.TrimPrefix(out, "sdstub listening on "))
				}
				select {
				case err := <-errc:
					t.Fatalf("run ended early: %v (stderr %s)", err, stderr.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no listening line; stdout %q", stdout.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			resp, err := http.Post(base+"/sdapi/v1/img2img", "application/json", strings.NewReader(`{"prompt":"x"}`))
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus || string(body) != c.wantBody {
				t.Errorf("img2img: got %d %s, want %d %s", resp.StatusCode, body, c.wantStatus, c.wantBody)
			}
			if c.name == "a1111" {
				resp, err := http.Post(base+"/sdapi/v1/txt2img", "application/json", strings.NewReader(`{"steps":2,"width":16,"height":16}`))
				if err != nil {
					t.Fatalf("txt2img: %v", err)
				}
				var out struct{ Images []string }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(out.Images) != 1 {
					t.Errorf("txt2img: got %d, %d images, %v; want 200 with 1 image", resp.StatusCode, len(out.Images), err)
				}
				if !strings.Contains(stderr.String(), "path=/sdapi/v1/txt2img") {
					t.Errorf("request log: got %q, want a txt2img record", stderr.String())
				}
			}
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("run: got %v, want nil after cancel", err)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
	}{
		{"unknown flavor", []string{"-flavor", "comfy"}},
		{"bad auth", []string{"-auth", "nocolon"}},
		{"unknown flag", []string{"-nope"}},
		{"extra argument", []string{"serve"}},
		{"bad log level", []string{"-log-level", "loud"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, c.args...), &out, &errb); err == nil {
				t.Errorf("run: got nil, want an error")
			}
			if out.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", out.String())
			}
		})
	}
}
