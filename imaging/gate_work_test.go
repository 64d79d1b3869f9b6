package imaging

import (
	"context"
	"errors"
	"testing"
	"time"
)

// acquireAsync starts an AcquireFor (or AcquireLowFor) of n bytes and returns a channel
// with its release func, nil on error.
func acquireAsync(g *Gate, ctx context.Context, n int64, low bool) <-chan func() {
	got := make(chan func(), 1)
	go func() {
		acquire := g.AcquireFor
		if low {
			acquire = g.AcquireLowFor
		}
		r, err := acquire(ctx, n)
		if err != nil {
			r = nil
		}
		got <- r
	}()
	return got
}

// granted reports whether an async acquire has been granted, without waiting.
func granted(c <-chan func()) (func(), bool) {
	select {
	case r := <-c:
		return r, true
	default:
		return nil, false
	}
}

// TestGateWorkMemory: pipelines are admitted by the working memory their decoders hold as
// well as by slots, in order, and a pipeline larger than the budget runs alone.
func TestGateWorkMemory(t *testing.T) {
	t.Parallel()
	g := NewGate(4, 8)
	if budget, held := g.Work(); budget != 4*DefaultWorkPerSlot || held != 0 {
		t.Fatalf("default work budget: got %d (%d held), want %d", budget, held, 4*DefaultWorkPerSlot)
	}
	g.SetWork(100)
	ctx := context.Background()

	a, err := g.AcquireFor(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.AcquireFor(ctx, 30)
	if err != nil {
		t.Fatalf("second pipeline within the budget: got %v, want it admitted at once", err)
	}
	// 90 of 100 held: a third of 50 waits though slots are free, and a streaming
	// pipeline (0 bytes) queued behind it waits its turn.
	c := acquireAsync(g, ctx, 50, false)
	waitFor(t, "the 50-byte pipeline to wait", func() bool { return g.Waiting() == 1 })
	d := acquireAsync(g, ctx, 0, false)
	waitFor(t, "the streaming pipeline to queue", func() bool { return g.Waiting() == 2 })
	if _, ok := granted(c); ok {
		t.Fatal("a pipeline past the working-memory budget was admitted")
	}
	if got := g.InFlight(); got != 2 {
		t.Errorf("in flight: got %d, want 2", got)
	}
	if g.Saturated() {
		t.Error("saturated with 2 of 8 queue places taken")
	}
	a()
	rc, rd := <-c, <-d
	if rc == nil || rd == nil {
		t.Fatal("waiters failed after the budget freed up")
	}
	if _, held := g.Work(); held != 80 {
		t.Errorf("held: got %d, want 30+50+0", held)
	}
	b()
	rc()
	rd()
	a() // a second release does nothing
	if _, held := g.Work(); held != 0 || g.InFlight() != 0 {
		t.Errorf("after release: held %d, in flight %d, want 0 and 0", held, g.InFlight())
	}

	// Larger than the whole budget: admitted once no other pipeline holds working
	// memory, and nothing with working memory joins it.
	small, err := g.AcquireFor(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	huge := acquireAsync(g, ctx, 500, false)
	waitFor(t, "the oversized pipeline to wait", func() bool { return g.Waiting() == 1 })
	small()
	rh := <-huge
	if rh == nil {
		t.Fatal("oversized pipeline not admitted once alone")
	}
	next := acquireAsync(g, ctx, 10, false)
	waitFor(t, "a pipeline to wait behind the oversized one", func() bool { return g.Waiting() == 1 })
	// A streaming pipeline fits, but queues behind the waiter ahead of it.
	stream := acquireAsync(g, ctx, 0, false)
	waitFor(t, "the streaming pipeline to queue", func() bool { return g.Waiting() == 2 })
	if _, ok := granted(stream); ok {
		t.Error("a pipeline overtook the one waiting ahead of it")
	}
	rh()
	for _, c := range []<-chan func(){next, stream} {
		r := <-c
		if r == nil {
			t.Fatal("waiter not admitted after the oversized pipeline finished")
		}
		r()
	}
}

// TestGateWorkMemoryLowAndCancel: background pipelines wait for working memory behind
// interactive ones, and a waiter at the head that gives up lets the next one in.
func TestGateWorkMemoryLowAndCancel(t *testing.T) {
	t.Parallel()
	g := NewGate(4, 8)
	g.SetWork(100)
	ctx := context.Background()
	a, err := g.AcquireFor(ctx, 80)
	if err != nil {
		t.Fatal(err)
	}
	// Background work that fits, with no one waiting, goes at once.
	rl, err := g.AcquireLowFor(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	rl()

	cctx, cancel := context.WithCancel(ctx)
	big := acquireAsync(g, cctx, 50, false)
	waitFor(t, "the big pipeline to wait", func() bool { return g.Waiting() == 1 })
	small := acquireAsync(g, ctx, 10, false)
	lowWaiter := acquireAsync(g, ctx, 5, true)
	waitFor(t, "the small and background pipelines to queue", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.waiters) == 2 && len(g.low) == 1
	})
	cancel()
	if r := <-big; r != nil {
		t.Fatal("cancelled waiter admitted")
	}
	// The head gave up: the pipelines behind it fit and go.
	deadline := time.After(10 * time.Second)
	for _, c := range []<-chan func(){small, lowWaiter} {
		select {
		case r := <-c:
			if r == nil {
				t.Fatal("waiter failed")
			}
			r()
		case <-deadline:
			t.Fatal("waiters behind a cancelled head were not admitted")
		}
	}
	a()
	if _, held := g.Work(); held != 0 {
		t.Errorf("held after all released: %d", held)
	}
}

// TestGateSaturatedByWorkMemory: callers waiting for working memory fill the queue
// though slots are free, and the gate says so, as Acquire answers ErrBusy.
func TestGateSaturatedByWorkMemory(t *testing.T) {
	t.Parallel()
	g := NewGate(4, 1)
	g.SetWork(100)
	ctx := context.Background()
	hold, err := g.AcquireFor(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	wait := acquireAsync(g, ctx, 50, false)
	waitFor(t, "the pipeline to wait for working memory", func() bool { return g.Waiting() == 1 })
	if !g.Saturated() {
		t.Error("not saturated with the one queue place taken")
	}
	if r, err := g.Acquire(ctx); !errors.Is(err, ErrBusy) {
		if r != nil {
			r()
		}
		t.Errorf("Acquire with the queue full: got %v, want ErrBusy", err)
	}
	hold()
	if r := <-wait; r == nil {
		t.Fatal("waiter not admitted")
	} else {
		r()
	}
	if g.Saturated() {
		t.Error("saturated once idle")
	}
}

// TestGateNoWorkBudget: with the budget off only slots bound pipelines.
func TestGateNoWorkBudget(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 0)
	g.SetWork(0)
	ctx := context.Background()
	a, err := g.AcquireFor(ctx, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.AcquireFor(ctx, 1<<40)
	if err != nil {
		t.Fatalf("second pipeline with no work budget: %v", err)
	}
	a()
	b()
}
