package imaging

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds; the deadline only guards against a hang and
// is not part of what is tested.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewGateDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		size, queue         int
		wantSize, wantQueue int
	}{
		{"explicit", 3, 7, 3, 7},
		{"size default", 0, 2, 2 * runtime.NumCPU(), 2},
		{"negative", -1, -5, 2 * runtime.NumCPU(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := NewGate(tt.size, tt.queue)
			if g.Size() != tt.wantSize || g.Queue() != tt.wantQueue {
				t.Errorf("size %d queue %d, want %d and %d", g.Size(), g.Queue(), tt.wantSize, tt.wantQueue)
			}
		})
	}
}

func TestGateBusyAndRelease(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 1)
	ctx := context.Background()

	rel1, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.InFlight() != 1 || g.Waiting() != 0 || g.Saturated() {
		t.Errorf("after first acquire: in flight %d waiting %d saturated %v, want 1 0 false", g.InFlight(), g.Waiting(), g.Saturated())
	}

	got := make(chan error, 1)
	var rel2 func()
	go func() {
		r, err := g.Acquire(ctx)
		rel2 = r
		got <- err
	}()
	waitFor(t, "the second caller to queue", func() bool { return g.Waiting() == 1 })
	if !g.Saturated() {
		t.Errorf("Saturated() = false with the queue full, want true")
	}

	// The queue is full: a third caller is refused at once.
	if _, err := g.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("third Acquire error = %v, want ErrBusy", err)
	}

	rel1()
	rel1() // a second call does nothing
	if err := <-got; err != nil {
		t.Fatalf("second Acquire: %v", err)
	}
	if g.InFlight() != 1 || g.Waiting() != 0 || g.Saturated() {
		t.Errorf("after hand-over: in flight %d waiting %d saturated %v, want 1 0 false", g.InFlight(), g.Waiting(), g.Saturated())
	}
	rel2()
	if g.InFlight() != 0 {
		t.Errorf("InFlight() = %d after all released, want 0", g.InFlight())
	}
}

func TestGateCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 5)
	rel, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := g.Acquire(ctx)
		got <- err
	}()
	waitFor(t, "the caller to queue", func() bool { return g.Waiting() == 1 })
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire error = %v, want context.Canceled", err)
	}
	if g.Waiting() != 0 || g.InFlight() != 1 {
		t.Errorf("after cancel: waiting %d in flight %d, want 0 and 1", g.Waiting(), g.InFlight())
	}
	// An already cancelled context never takes a slot.
	if _, err := g.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with cancelled ctx error = %v, want context.Canceled", err)
	}
}

func TestGateNoQueue(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 0)
	r1, err1 := g.Acquire(context.Background())
	r2, err2 := g.Acquire(context.Background())
	if err1 != nil || err2 != nil {
		t.Fatalf("acquire: %v, %v", err1, err2)
	}
	if !g.Saturated() {
		t.Errorf("Saturated() = false with all slots taken and no queue, want true")
	}
	if _, err := g.Acquire(context.Background()); !errors.Is(err, ErrBusy) {
		t.Errorf("Acquire error = %v, want ErrBusy", err)
	}
	r1()
	if g.Saturated() {
		t.Errorf("Saturated() = true with a free slot, want false")
	}
	r2()
}

// TestGateBoundsConcurrency runs many callers and checks the slot count is
// never exceeded and every admitted caller finishes.
func TestGateBoundsConcurrency(t *testing.T) {
	t.Parallel()
	const size, callers = 3, 40
	g := NewGate(size, callers)
	var mu sync.Mutex
	running, peak, done := 0, 0, 0
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := g.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			runtime.Gosched()
			mu.Lock()
			running--
			done++
			mu.Unlock()
			rel()
		}()
	}
	wg.Wait()
	if peak > size || done != callers {
		t.Errorf("peak %d done %d, want peak <= %d and %d done", peak, done, size, callers)
	}
	if g.InFlight() != 0 || g.Waiting() != 0 {
		t.Errorf("in flight %d waiting %d at the end, want 0 0", g.InFlight(), g.Waiting())
	}
}

// Background waiters are served after interactive ones and never make the gate busy.
func TestGateLowPriority(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 1)
	ctx := context.Background()
	hold, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	for range 2 {
		go func() {
			r, err := g.AcquireLow(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- "low"
			r()
		}()
	}
	waitFor(t, "two background waiters", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.low) == 2
	})
	if g.Saturated() {
		t.Error("saturated by background waiters alone")
	}
	go func() {
		r, err := g.Acquire(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		order <- "high"
		r()
	}()
	waitFor(t, "the interactive waiter", func() bool { return g.Waiting() == 1 })
	hold()
	got := []string{<-order, <-order, <-order}
	if got[0] != "high" {
		t.Errorf("order %v: the interactive waiter, queued last, should go first", got)
	}
}

// TestGateOnIdle: the idle hook runs once a period with no slot taken has lasted its
// delay, not while a slot is held, not for an idle period that has since ended, and
// once per idle period.
func TestGateOnIdle(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 2)
	var timers []func() // each armed timer's function, fired by hand below
	g.afterFunc = func(d time.Duration, f func()) *time.Timer {
		if d != time.Minute {
			t.Errorf("idle delay %v, want 1m", d)
		}
		timers = append(timers, f)
		return time.AfterFunc(time.Hour, func() {})
	}
	var ran int
	g.OnIdle(time.Minute, func() { ran++ })
	if len(timers) != 1 {
		t.Fatalf("%d timers armed by OnIdle on an idle gate, want 1", len(timers))
	}
	acquire := func() func() {
		t.Helper()
		release, err := g.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return release
	}

	r1 := acquire()
	timers[0]() // the idle period it was armed for has ended
	if ran != 0 {
		t.Fatalf("hook ran %d times with a slot held, want 0", ran)
	}
	r2 := acquire()
	r1()
	if len(timers) != 1 {
		t.Fatalf("%d timers armed with a slot still held, want 1", len(timers))
	}
	r2()
	if len(timers) != 2 {
		t.Fatalf("%d timers armed after the last slot was given back, want 2", len(timers))
	}
	r3 := acquire()
	r3()
	if len(timers) != 3 {
		t.Fatalf("%d timers armed after a second busy period, want 3", len(timers))
	}
	timers[1]() // stale: a busy period came between
	if ran != 0 {
		t.Fatalf("hook ran %d times for an idle period that had ended, want 0", ran)
	}
	timers[2]()
	if ran != 1 {
		t.Fatalf("hook ran %d times after an idle period's delay, want 1", ran)
	}
}

// TestGateOnIdleRealClock: with the real clock, giving back the last slot makes the
// hook run after its delay.
func TestGateOnIdleRealClock(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 0)
	ran := make(chan struct{}, 8)
	release, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.OnIdle(time.Millisecond, func() { ran <- struct{}{} })
	release()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("idle hook did not run within 10 s of the last slot given back")
	}
}

// TestGateClose: Close turns away the waiters and every later caller with ErrClosed;
// a slot taken before it is given back as usual and leaves the process's count.
func TestGateClose(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 2)
	c := newSlotCount()
	g.count = c
	ctx := context.Background()
	rel, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 2)
	for _, acquire := range []func(context.Context) (func(), error){g.Acquire, g.AcquireLow} {
		go func() {
			r, err := acquire(ctx)
			if err == nil {
				r()
			}
			waiting <- err
		}()
	}
	waitFor(t, "both callers waiting", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.waiters)+len(g.low) == 2
	})
	g.Close()
	for range 2 {
		if err := <-waiting; !errors.Is(err, ErrClosed) {
			t.Errorf("waiter at Close: got %v, want ErrClosed", err)
		}
	}
	if _, err := g.Acquire(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close: got %v, want ErrClosed", err)
	}
	if _, err := g.AcquireLowFor(ctx, 1<<20); !errors.Is(err, ErrClosed) {
		t.Errorf("AcquireLowFor after Close: got %v, want ErrClosed", err)
	}
	g.Close() // a second Close does nothing
	if g.InFlight() != 1 {
		t.Fatalf("in flight after Close: %d, want the slot taken before it", g.InFlight())
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if c.wait(ended) {
		t.Fatal("slot count: none taken reported while the slot taken before Close runs")
	}
	rel()
	if g.InFlight() != 0 || !c.wait(ended) {
		t.Errorf("after the release: in flight %d, count drained %v; want 0 and true", g.InFlight(), c.wait(ended))
	}
}

// TestSlotCountForShutdown: the slots taken in every Gate are counted together, and the
// wait Shutdown makes before stopping libvips ends only once all are given back.
func TestSlotCountForShutdown(t *testing.T) {
	t.Parallel()
	c := newSlotCount()
	a, b := NewGate(1, 1), NewGate(2, 1)
	a.count, b.count = c, c
	ctx := context.Background()
	relA, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	relB, err := b.AcquireLowFor(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if c.wait(ended) {
		t.Fatal("wait: no slot taken reported with two taken")
	}
	relA()
	relA() // a second call gives nothing back twice
	if c.wait(ended) {
		t.Fatal("wait: no slot taken reported with one still taken")
	}
	relB()
	deadline, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if !c.wait(deadline) {
		t.Fatal("wait: slots still counted after both were given back")
	}
	// Taken again after being idle: counted again.
	relA, err = a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer relA()
	if c.wait(ended) {
		t.Error("wait: no slot taken reported after a new one was taken")
	}
}
