package imaging

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Gate bounds how many libvips pipelines run at once (size) and how many callers
// may wait for a slot (queue); beyond that Acquire fails at once with ErrBusy instead
// of piling up work. Waiters are served in FIFO
// order. A Gate is safe for concurrent use.
//
// It also admits work by bytes: Reserve holds part of a memory budget for a source
// before the source is read (fetched, or read from the store), so requests that wait
// for their turn hold no source bytes, whatever size the clients send. A caller
// reserves what the source may be, reads it, settles the reservation to what it is,
// and releases it when it no longer holds the bytes.
type Gate struct {
	size, queue int

	mu       sync.Mutex
	inFlight int
	waiters  []chan struct{} // FIFO; a slot is handed over by closing the channel
	low      []chan struct{} // background waiters (AcquireLow), served after waiters

	budget   int64         // memory budget of reservations; <= 0: none
	reserved int64         // bytes held by reservations
	holders  int           // live reservations
	byteWait []*byteWaiter // FIFO of Reserve callers

	idleAfter time.Duration // OnIdle's delay; 0: no idle hook
	idleFn    func()
	idleGen   uint64 // counts busy periods (inFlight leaving 0)
	idleTimer *time.Timer
	afterFunc func(time.Duration, func()) *time.Timer // time.AfterFunc; tests replace it
}

// DefaultMemoryPerSlot is the memory budget for sources NewGate gives each slot.
const DefaultMemoryPerSlot = 64 << 20

type byteWaiter struct {
	n     int64
	ready chan struct{} // closed once n bytes are granted
}

// NewGate returns a Gate running at most size pipelines at once, default
// runtime.NumCPU() when size <= 0, with at most queue callers waiting, default 0
// (no waiting: ErrBusy as soon as all slots are taken) when queue <= 0.
// Its memory budget is size * DefaultMemoryPerSlot (see SetMemory).
func NewGate(size, queue int) *Gate {
	if size <= 0 {
		size = runtime.NumCPU()
	}
	return &Gate{size: size, queue: max(queue, 0), budget: int64(size) * DefaultMemoryPerSlot}
}

// SetMemory sets the memory budget Reserve admits against; n <= 0 turns admission by
// bytes off (Reserve never waits). Set it before the Gate is shared.
func (g *Gate) SetMemory(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.budget = n
}

// Memory returns the memory budget, and the bytes reservations hold now.
func (g *Gate) Memory() (budget, reserved int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.budget, g.reserved
}

// Reservation is a hold on part of a Gate's memory budget; Settle resizes it and Release
// gives it back. Its methods are safe for concurrent use.
type Reservation struct {
	g    *Gate
	n    int64
	done bool
}

// Reserve holds n bytes of the memory budget, waiting (FIFO, behind earlier Reserve
// callers) while the bytes reserved plus n would exceed it. A reservation larger than the
// whole budget is granted once nothing else is reserved, so any source the limits accept
// still runs, alone. Like Acquire it fails at once with ErrBusy when queue callers already
// wait (for bytes or for a slot), and with ctx's error if ctx ends while waiting. The
// caller must Release the reservation.
func (g *Gate) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	return g.reserve(ctx, n, false)
}

// ReserveLow is Reserve for background work (batch items): it waits in the same line but
// never fails with ErrBusy, as AcquireLow.
func (g *Gate) ReserveLow(ctx context.Context, n int64) (*Reservation, error) {
	return g.reserve(ctx, n, true)
}

func (g *Gate) reserve(ctx context.Context, n int64, low bool) (*Reservation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n = max(n, 0)
	r := &Reservation{g: g, n: n}
	g.mu.Lock()
	if len(g.byteWait) == 0 && g.fits(n) {
		g.grant(n)
		g.mu.Unlock()
		return r, nil
	}
	if !low && len(g.byteWait)+len(g.waiters) >= g.queue {
		g.mu.Unlock()
		return nil, fmt.Errorf("gate: %d bytes of %d reserved, %d waiting: %w", g.reserved, g.budget, len(g.byteWait)+len(g.waiters), ErrBusy)
	}
	w := &byteWaiter{n: n, ready: make(chan struct{})}
	g.byteWait = append(g.byteWait, w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return r, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, x := range g.byteWait {
			if x == w {
				g.byteWait = append(g.byteWait[:i], g.byteWait[i+1:]...)
				// A large waiter at the head may have held smaller ones back.
				g.admitBytes()
				return nil, ctx.Err()
			}
		}
		// Granted as ctx ended: give the bytes back.
		g.ungrant(n)
		return nil, ctx.Err()
	}
}

// fits tells whether n more bytes fit the budget now; g.mu is held.
func (g *Gate) fits(n int64) bool {
	return g.budget <= 0 || g.holders == 0 || g.reserved+n <= g.budget
}

func (g *Gate) grant(n int64) { g.reserved += n; g.holders++ }

func (g *Gate) ungrant(n int64) {
	g.reserved -= n
	g.holders--
	g.admitBytes()
}

// admitBytes grants waiting reservations in order while they fit; g.mu is held.
func (g *Gate) admitBytes() {
	for len(g.byteWait) > 0 && g.fits(g.byteWait[0].n) {
		w := g.byteWait[0]
		g.byteWait = g.byteWait[1:]
		g.grant(w.n)
		close(w.ready)
	}
}

// Bytes returns the bytes the reservation holds (0 once released).
func (r *Reservation) Bytes() int64 {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	if r.done {
		return 0
	}
	return r.n
}

// Settle sets the reservation to n bytes, once the caller knows what it holds: shrinking
// lets waiting callers in; growing is granted at once (the bytes are already in memory).
// It does nothing after Release.
func (r *Reservation) Settle(n int64) {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.done {
		return
	}
	n = max(n, 0)
	g.reserved += n - r.n
	r.n = n
	g.admitBytes()
}

// Release gives the reservation back; further calls do nothing. A nil Reservation may be
// released.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	g.ungrant(r.n)
}

// Size returns the number of slots.
func (g *Gate) Size() int { return g.size }

// OnIdle makes f run once whenever no slot has been taken for d since the last one was
// given back; f runs on its own goroutine and is not run again until slots have been
// busy and idle once more. Serving uses it to give the C allocator's free memory back
// (ReleaseMemory) after a burst of work, not between its requests. Call it before the
// Gate is shared; d <= 0 or a nil f turns it off.
func (g *Gate) OnIdle(d time.Duration, f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d <= 0 || f == nil {
		d, f = 0, nil
	}
	g.idleAfter, g.idleFn = d, f
	if g.afterFunc == nil {
		g.afterFunc = time.AfterFunc
	}
	if g.inFlight == 0 {
		g.armIdle()
	}
}

// busy notes that a slot was taken while none was held. g.mu is held.
func (g *Gate) busy() {
	g.idleGen++
	if g.idleTimer != nil {
		g.idleTimer.Stop()
		g.idleTimer = nil
	}
}

// armIdle starts the idle hook's timer for the idle period that begins now. g.mu is
// held.
func (g *Gate) armIdle() {
	if g.idleFn == nil {
		return
	}
	gen, f := g.idleGen, g.idleFn
	g.idleTimer = g.afterFunc(g.idleAfter, func() {
		g.mu.Lock()
		still := g.inFlight == 0 && g.idleGen == gen
		g.mu.Unlock()
		if still {
			f()
		}
	})
}

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
	g.mu.Lock()
	if g.inFlight < g.size && len(g.waiters) == 0 && (low && len(g.low) == 0 || !low) {
		if g.inFlight == 0 {
			g.busy()
		}
		g.inFlight++
		g.mu.Unlock()
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
	if g.inFlight == 0 {
		g.armIdle()
	}
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

// WaitingBytes returns the number of callers waiting in Reserve.
func (g *Gate) WaitingBytes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.byteWait)
}

// Saturated reports whether a new caller would get ErrBusy now: all slots taken
// and queue callers waiting (for a slot or for bytes). With queue > 0 that is
// Waiting()+WaitingBytes() >= queue; readiness probes turn false on it.
func (g *Gate) Saturated() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight >= g.size && len(g.waiters)+len(g.byteWait) >= g.queue
}
