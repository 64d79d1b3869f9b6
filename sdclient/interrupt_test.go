package sdclient_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/pictor/pictor/sdclient"
	"github.com/pictor/pictor/sdclient/sdtest"
)

// foreignTxt2Img posts a txt2img as another client of the backend would,
// under its own task id, and sends its status to the returned channel.
func foreignTxt2Img(t *testing.T, srv *sdtest.Server, task string) <-chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		body := `{"steps": 2, "width": 8, "height": 8, "force_task_id": "` + task + `"}`
		resp, err := http.Post(srv.URL+"/sdapi/v1/txt2img", "application/json", strings.NewReader(body))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// callOf returns the server's call with task id task.
func callOf(srv *sdtest.Server, task string) (sdtest.Call, bool) {
	for _, c := range srv.Calls() {
		if c.Task == task {
			return c, true
		}
	}
	return sdtest.Call{}, false
}

// TestPoolCancelSparesForeignJob shares a backend with another client: a
// Pictor call queued behind that client's job is cancelled. /interrupt is
// global, so the Pool must not send it while the other job runs; it keeps
// the backend until its own task starts and interrupts that one.
func TestPoolCancelSparesForeignJob(t *testing.T) {
	t.Parallel()
	pb := setupPool(t, 1, fastOpts(), nil)
	srv := pb.servers[0]
	srv.FailNext(sdtest.FailHang, 1) // the other client's job runs until interrupted
	foreign := foreignTxt2Img(t, srv, "task(foreign)")
	waitFor(t, "the other client's job to run", func() bool {
		c, ok := callOf(srv, "task(foreign)")
		return ok && !c.Start.IsZero()
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pb.pool.Do(ctx, sdclient.Interactive, txt2img(3000)) // 6 s unless interrupted
		done <- err
	}()
	waitFor(t, "our call to queue behind it", func() bool {
		c := generations(srv, "/sdapi/v1/txt2img")
		return len(c) == 2 && !c[1].Queued.IsZero()
	})
	ours := generations(srv, "/sdapi/v1/txt2img")[1].Task
	if !strings.HasPrefix(ours, "pictor-") {
		t.Fatalf("our task id: got %q, want a forced pictor-… id", ours)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Do: got %v, want context.Canceled", err)
	}
	// Do returned; the other job still runs untouched, and the backend stays
	// reserved for our abandoned task.
	if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 0 {
		t.Fatalf("interrupts sent while another client's job ran: got %d, want 0", got)
	}
	if c, _ := callOf(srv, "task(foreign)"); !c.End.IsZero() || c.Interrupted {
		t.Fatalf("other client's job: got %+v, want it still running", c)
	}
	if got := pb.pool.Status()[0].InFlight; got != 1 {
		t.Errorf("in flight while our abandoned task waits: got %d, want 1", got)
	}

	// The other client stops its own job; ours then starts and the Pool
	// interrupts it, then hands the backend back.
	resp, err := http.Post(srv.URL+"/sdapi/v1/interrupt", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-foreign; got != http.StatusOK {
		t.Errorf("other client's job: got status %d, want 200", got)
	}
	waitFor(t, "our task to be interrupted", func() bool {
		c, ok := callOf(srv, ours)
		return ok && !c.End.IsZero()
	})
	if c, _ := callOf(srv, ours); !c.Interrupted {
		t.Errorf("our abandoned task: got %+v, want it interrupted", c)
	}
	if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 2 {
		t.Errorf("interrupts: got %d, want 2 (the other client's own, then ours)", got)
	}
	waitFor(t, "the backend to be handed back", func() bool { return pb.pool.Status()[0].InFlight == 0 })
	if _, err := pb.pool.Do(context.Background(), sdclient.Interactive, txt2img(1)); err != nil {
		t.Fatalf("next Do: %v", err)
	}
}

// TestPoolCancelWithoutTaskRoute cancels a running call on a backend
// without the UI (--nowebui), which cannot say whose job runs: the Pool
// must not interrupt it blindly.
func TestPoolCancelWithoutTaskRoute(t *testing.T) {
	t.Parallel()
	opts := fastOpts()
	opts.NoWebUI = true
	pb := setupPool(t, 1, opts, nil)
	srv := pb.servers[0]
	srv.FailNext(sdtest.FailHang, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pb.pool.Do(ctx, sdclient.Interactive, txt2img(3))
		done <- err
	}()
	waitFor(t, "the generation to run", func() bool {
		c := generations(srv, "/sdapi/v1/txt2img")
		return len(c) == 1 && !c[0].Start.IsZero()
	})
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Do: got %v, want context.Canceled", err)
	}
	if got := len(generations(srv, "/sdapi/v1/interrupt")); got != 0 {
		t.Errorf("interrupts sent without knowing whose job runs: got %d, want 0", got)
	}
	if got := pb.pool.Status()[0].InFlight; got != 0 {
		t.Errorf("in flight after Do: got %d, want 0", got)
	}
}
