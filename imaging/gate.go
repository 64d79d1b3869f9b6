package imaging

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Gate bounds how many libvips pipelines run at once (size) and how many callers
// may wait for a slot (queue); beyond that Acquire fails at once with ErrBusy, so
// the API can answer 429 instead of piling up work. Waiters are served in FIFO
// order. A Gate is safe for concurrent use.
type Gate struct {
	// OnWait, when set, is called after each successful Acquire with how long the
	// caller waited (0 when a slot was free); for a queue-wait histogram. Set it
	// before the Gate is shared; default nil.
	OnWait func(time.Duration)

	size, queue int

	mu       sync.Mutex
	inFlight int
	waiters  []chan struct{} // FIFO; a slot is handed over by closing the channel
	low      []chan struct{} // background waiters (AcquireLow), served after waiters
}

// NewGate returns a Gate running at most size pipelines at once, default
// runtime.NumCPU() when size <= 0, with at most queue callers waiting, default 0
// (no waiting: ErrBusy as soon as all slots are taken) when queue <= 0.
func NewGate(size, queue int) *Gate {
	if size <= 0 {
		size = runtime.NumCPU()
	}
	return &Gate{size: size, queue: max(queue, 0)}
}

// Size returns the number of slots.
func (g *Gate) Size() int { return g.size }

// Queue returns the maximum number of waiting callers.
func (g *Gate) Queue() int { return g.queue }

// Acquire takes a slot, waiting while all are busy. It fails at once with ErrBusy
// when queue callers are already waiting, and with ctx's error if ctx ends while
// waiting. On success the caller must call release exactly once (further calls
// do nothing).
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	return g.acquire(ctx, false)
}

// AcquireLow takes a slot for background work (batch items): it is served only when no
// Acquire caller waits, so batches never delay interactive work, and it never fails with
// ErrBusy (its waiters are bounded by the number of background workers) nor counts
// toward Saturated.
func (g *Gate) AcquireLow(ctx context.Context) (release func(), err error) {
	return g.acquire(ctx, true)
}

func (g *Gate) acquire(ctx context.Context, low bool) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	g.mu.Lock()
	if g.inFlight < g.size && len(g.waiters) == 0 && (low && len(g.low) == 0 || !low) {
		g.inFlight++
		g.mu.Unlock()
		g.observe(0)
		return g.releaser(), nil
	}
	if !low && len(g.waiters) >= g.queue {
		g.mu.Unlock()
		return nil, fmt.Errorf("gate: %d running, %d waiting: %w", g.size, g.queue, ErrBusy)
	}
	ready := make(chan struct{})
	if low {
		g.low = append(g.low, ready)
	} else {
		g.waiters = append(g.waiters, ready)
	}
	g.mu.Unlock()

	select {
	case <-ready:
		g.observe(time.Since(start))
		return g.releaser(), nil
	case <-ctx.Done():
		g.mu.Lock()
		q := &g.waiters
		if low {
			q = &g.low
		}
		for i, w := range *q {
			if w == ready {
				*q = append((*q)[:i], (*q)[i+1:]...)
				g.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		g.mu.Unlock()
		// The slot was handed over as ctx ended: give it back.
		g.release()
		return nil, ctx.Err()
	}
}

func (g *Gate) observe(d time.Duration) {
	if g.OnWait != nil {
		g.OnWait(d)
	}
}

func (g *Gate) releaser() func() {
	var once sync.Once
	return func() { once.Do(g.release) }
}

// release frees a slot, handing it straight to the oldest waiter if any.
func (g *Gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) > 0 {
		next := g.waiters[0]
		g.waiters = g.waiters[1:]
		close(next) // inFlight stays: the slot changes hands
		return
	}
	if len(g.low) > 0 {
		next := g.low[0]
		g.low = g.low[1:]
		close(next)
		return
	}
	g.inFlight--
}

// InFlight returns the number of slots taken.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// Waiting returns the number of callers waiting for a slot.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}

// Saturated reports whether a new caller would get ErrBusy now: all slots taken
// and queue callers waiting. With queue > 0 that is Waiting() >= queue; readiness
// probes turn false on it.
func (g *Gate) Saturated() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight >= g.size && len(g.waiters) >= g.queue
}
