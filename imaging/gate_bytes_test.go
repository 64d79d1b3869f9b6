package imaging

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// reserveAsync starts a Reserve of n bytes and returns a channel with its outcome.
func reserveAsync(g *Gate, ctx context.Context, n int64, low bool) <-chan *Reservation {
	got := make(chan *Reservation, 1)
	go func() {
		reserve := g.Reserve
		if low {
			reserve = g.ReserveLow
		}
		r, err := reserve(ctx, n)
		if err != nil {
			r = nil
		}
		got <- r
	}()
	return got
}

func TestGateReserveWaitsForBytes(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 4)
	if budget, _ := g.Memory(); budget != 2*DefaultMemoryPerSlot {
		t.Fatalf("default budget: got %d, want %d", budget, 2*DefaultMemoryPerSlot)
	}
	g.SetMemory(100)
	ctx := context.Background()

	a, err := g.Reserve(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Reserve(ctx, 40)
	if err != nil {
		t.Fatalf("second reserve within the budget: got %v, want it granted at once", err)
	}
	// The budget is full: the next caller waits, holding nothing.
	c := reserveAsync(g, ctx, 30, false)
	waitFor(t, "the third caller to wait for bytes", func() bool { return g.WaitingBytes() == 1 })
	if _, reserved := g.Memory(); reserved != 100 {
		t.Errorf("reserved while the third waits: got %d, want 100", reserved)
	}
	// Settling a reservation down to what it really holds lets the waiter in.
	a.Settle(20)
	rc := <-c
	if rc == nil {
		t.Fatal("third reserve: got an error, want it granted after Settle")
	}
	if _, reserved := g.Memory(); reserved != 90 {
		t.Errorf("reserved: got %d, want 20+40+30", reserved)
	}
	// Growing is granted at once, even past the budget: the bytes are already held.
	b.Settle(70)
	if got := b.Bytes(); got != 70 {
		t.Errorf("Bytes after growing: got %d, want 70", got)
	}
	for _, r := range []*Reservation{a, b, rc, rc} { // a second Release does nothing
		r.Release()
	}
	var none *Reservation
	none.Release()
	if _, reserved := g.Memory(); reserved != 0 || rc.Bytes() != 0 {
		t.Errorf("after release: reserved %d, Bytes %d, want 0 and 0", reserved, rc.Bytes())
	}
}

func TestGateReserveLargerThanBudget(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 4)
	g.SetMemory(100)
	ctx := context.Background()
	small, err := g.Reserve(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	// A source larger than the whole budget runs, but only alone; callers behind it wait
	// even though they would fit, so it is not starved.
	big := reserveAsync(g, ctx, 500, false)
	waitFor(t, "the big caller to wait", func() bool { return g.WaitingBytes() == 1 })
	tiny := reserveAsync(g, ctx, 1, false)
	waitFor(t, "the tiny caller to queue behind it", func() bool { return g.WaitingBytes() == 2 })
	small.Release()
	rb := <-big
	if rb == nil {
		t.Fatal("big reserve: got an error, want it granted once alone")
	}
	if g.WaitingBytes() != 1 {
		t.Errorf("waiting while the big one runs: got %d, want 1", g.WaitingBytes())
	}
	rb.Release()
	if rt := <-tiny; rt == nil {
		t.Fatal("tiny reserve: got an error, want it granted")
	} else {
		rt.Release()
	}
}

func TestGateReserveBusyAndCancel(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 2)
	g.SetMemory(10)
	ctx := context.Background()
	held, err := g.Reserve(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	waiting := reserveAsync(g, cctx, 5, false)
	waitFor(t, "a caller to wait", func() bool { return g.WaitingBytes() == 1 })
	// One more caller waits for a slot: the queue of 2 is full for bytes and slots together.
	release, err := g.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slotWait := make(chan error, 1)
	go func() {
		r, err := g.Acquire(ctx)
		if err == nil {
			r()
		}
		slotWait <- err
	}()
	waitFor(t, "a caller to wait for a slot", func() bool { return g.Waiting() == 1 })
	if !g.Saturated() {
		t.Errorf("Saturated() = false with the queue full of byte and slot waiters, want true")
	}
	if _, err := g.Reserve(ctx, 1); !errors.Is(err, ErrBusy) {
		t.Errorf("Reserve with the queue full: got %v, want ErrBusy", err)
	}
	// The batch lane is never refused.
	low := reserveAsync(g, ctx, 1, true)
	waitFor(t, "the batch caller to wait", func() bool { return g.WaitingBytes() == 2 })
	release()
	if err := <-slotWait; err != nil {
		t.Errorf("slot waiter: got %v, want a slot", err)
	}
	// A cancelled waiter leaves the line holding nothing; the one behind it moves up.
	cancel()
	if r := <-waiting; r != nil {
		t.Errorf("cancelled reserve: got a reservation, want ctx's error")
	}
	held.Release()
	rl := <-low
	if rl == nil {
		t.Fatal("batch reserve: got an error, want it granted")
	}
	rl.Release()
	if _, reserved := g.Memory(); reserved != 0 {
		t.Errorf("reserved at the end: got %d, want 0", reserved)
	}
}

func TestGateReserveBoundsBytes(t *testing.T) {
	t.Parallel()
	g := NewGate(2, 100)
	g.SetMemory(1000)
	ctx := context.Background()
	var (
		mu        sync.Mutex
		held, top int64
		wg        sync.WaitGroup
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(100 + 37*(i%7))
			r, err := g.Reserve(ctx, n)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			held += n
			top = max(top, held)
			mu.Unlock()
			mu.Lock()
			held -= n
			mu.Unlock()
			r.Release()
		}()
	}
	wg.Wait()
	if top > 1000 {
		t.Errorf("bytes held at once: got %d, want at most the budget 1000", top)
	}
	if _, reserved := g.Memory(); reserved != 0 || g.WaitingBytes() != 0 {
		t.Errorf("at the end: reserved %d waiting %d, want 0 and 0", reserved, g.WaitingBytes())
	}
}

func TestGateNoMemoryBudget(t *testing.T) {
	t.Parallel()
	g := NewGate(1, 0)
	g.SetMemory(0)
	var rs []*Reservation
	for range 3 {
		r, err := g.Reserve(context.Background(), 1<<40)
		if err != nil {
			t.Fatalf("Reserve without a budget: got %v, want no wait and no error", err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.Release()
	}
}
