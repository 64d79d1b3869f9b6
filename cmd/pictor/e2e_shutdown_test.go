package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/waitfor"
)

// TestShutdownWaitsForPipelines: a render whose caller has gone keeps running in libvips
// (a shared render stops only between its steps). SIGTERM then finds no request and no
// job, but libvips busy: the process waits for the render before shutting libvips down,
// and exits cleanly instead of crashing in the render's next libvips call.
func TestShutdownWaitsForPipelines(t *testing.T) {
	t.Parallel()
	s := startServer(t, "PICTOR_RENDER_BUDGET=-1", "PICTOR_LOG_LEVEL=info")
	var up ingestAnswer
	if r := s.call(t, "POST", "/v1/images?sku=S-1", "image/jpeg", bytes.NewReader(photo(t, 4000, 3000)), &up); r.StatusCode != 201 {
		t.Fatalf("upload: %d %s", r.StatusCode, body(r))
	}
	// A wide blur of a 12 MP image, computed as its PNG is encoded: one libvips call of
	// seconds, during which the render cannot notice that its caller has gone.
	recipe := `{"recipe":{"steps":[{"op":"blur","sigma":20}],"outputs":[{"name":"o","format":"png"}]}}`
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+"/v1/images/"+up.Image.ID+"/renditions", strings.NewReader(recipe))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	answered := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	// The render checks its context before its output, then encodes without looking
	// again. It is in the encode once libvips has decoded the source into memory for it
	// (36 MB, allocated whole, well above the malloc heap's idle level).
	heap := metric(t, s, "pictor_imaging_malloc_bytes")
	waitfor.Cond(t, 30*time.Second, func() bool {
		return metric(t, s, "pictor_imaging_in_flight") >= 1 && metric(t, s, "pictor_imaging_malloc_bytes") > heap+30<<20
	}, "the render to hold a libvips slot and decode its source")
	cancel()
	select {
	case err := <-answered:
		if err == nil {
			t.Fatal("the request was answered before it was cancelled: the render is too short for this test")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled request did not return")
	}
	if n := metric(t, s, "pictor_imaging_in_flight"); n < 1 {
		t.Fatalf("the render ended before the stop (in flight %v): too short for this test", n)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Fatal("still running 60 s after SIGTERM")
	}
	logs := s.logs.String()
	if s.waitErr != nil || strings.Contains(logs, "SIGSEGV") || strings.Contains(logs, "panic") {
		t.Fatalf("exit after SIGTERM with a render running: %v, want a clean exit; log:\n%s", s.waitErr, logs)
	}
	// It waited for the render, and shut libvips down once the render had given its
	// slot back.
	if !strings.Contains(logs, "waiting for libvips pipelines to finish") || !strings.Contains(logs, `msg="libvips stopped" running=0`) {
		t.Errorf("shutdown with a render running: want it to wait for the render, then stop libvips with nothing running; log:\n%s", logs)
	}
}
