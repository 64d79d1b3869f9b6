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
// and releases it when it no longer holds the bytes. AcquireFor admits the pipelines
// themselves by the working memory their decoders hold beside the source (DecodeMemory:
// a progressive JPEG's coefficients, a WebP decoded whole), against a second budget, so
// a few large images cannot multiply the memory of every slot.
//
// Close ends it: a stopping process closes its Gate so that no new pipeline starts, and
// Shutdown stops libvips only once the running ones have given their slots back, since
// a libvips call made after it crashes the process.
type Gate struct {
	size, queue int

	mu       sync.Mutex
	inFlight int
	waiters  []*slotWaiter // FIFO; a slot is handed over by closing ready
	low      []*slotWaiter // background waiters (AcquireLow), served after waiters

	work    int64 // budget of the pipelines' working memory (AcquireFor); <= 0: none
	working int64 // working memory the running pipelines hold

	budget   int64         // memory budget of reservations; <= 0: none
	reserved int64         // bytes held by reservations
	holders  int           // live reservations
	byteWait []*byteWaiter // FIFO of Reserve callers

	closed bool       // Close was called: no slot is given any more
	count  *slotCount // the process's count of slots taken (slotsTaken); tests replace it

	idleAfter time.Duration // OnIdle's delay; 0: no idle hook
	idleFn    func()
	idleGen   uint64 // counts busy periods (inFlight leaving 0)
	idleTimer *time.Timer
	afterFunc func(time.Duration, func()) *time.Timer // time.AfterFunc; tests replace it
}

// SlotsPerCore is how many pipelines NewGate runs at once per core by default. One
// pipeline leaves its core idle part of the time: libvips hands each strip between its
// worker and write-behind threads, and the core waits for each thread to wake (on the
// benchmark's virtual machine, 10-13 % of the cores idle with every slot full, against
// 3-4 % for imgproxy, which runs two per core as well). A second pipeline per core fills
// those gaps: 6-7 % more JPEG listings a second at the same CPU per image (issue 13's
// benchmarks). The memory budgets stay what they were per core: the defaults per slot
// below are half of what one core's pipelines are given.
const SlotsPerCore = 2

// DefaultMemoryPerSlot is what NewGate gives each slot of the memory budget for sources:
// with sources admitted once their length is known, enough to keep a few large ones
// ready for every core (32 MiB a core at SlotsPerCore).
const DefaultMemoryPerSlot = 16 << 20

// DefaultWorkPerSlot is what NewGate gives each slot of the budget of working memory:
// 64 MiB a core at SlotsPerCore, so two cores run two 50 MB progressive decoders
// (3840x2160 at 4:4:4) at once.
const DefaultWorkPerSlot = 32 << 20

// slotWaiter is an Acquire caller waiting for a slot and n bytes of working memory.
type slotWaiter struct {
	n     int64
	ready chan struct{} // closed once the slot is granted, or the Gate closed
	err   error         // set before ready is closed when no slot is given (ErrClosed)
}

type byteWaiter struct {
	n     int64
	ready chan struct{} // closed once n bytes are granted
}

// NewGate returns a Gate running at most size pipelines at once, default
// SlotsPerCore * runtime.NumCPU() when size <= 0, with at most queue callers waiting, default 0
// (no waiting: ErrBusy as soon as all slots are taken) when queue <= 0.
// Its memory budget for sources is size * DefaultMemoryPerSlot (see SetMemory), its
// budget of working memory size * DefaultWorkPerSlot (see SetWork).
func NewGate(size, queue int) *Gate {
	if size <= 0 {
		size = SlotsPerCore * runtime.NumCPU()
	}
	return &Gate{size: size, queue: max(queue, 0), budget: int64(size) * DefaultMemoryPerSlot, work: int64(size) * DefaultWorkPerSlot, count: slotsTaken}
}

// SetWork sets the budget of working memory AcquireFor admits pipelines against (what
// their decoders hold beside the source, see DecodeMemory); n <= 0 turns it off, so only
// the number of slots bounds them. Set it before the Gate is shared.
func (g *Gate) SetWork(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.work = n
}

// Work returns the budget of working memory, and the bytes running pipelines hold now.
func (g *Gate) Work() (budget, held int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.work, g.working
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
		still := g.inFlight == 0 && g.idleGen == gen && !g.closed
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
	return g.acquire(ctx, 0, false)
}

// AcquireFor is Acquire for a pipeline whose decoder holds n bytes of working memory
// beside its source (DecodeMemory): it also waits, in the same FIFO line, while the
// running pipelines' working memory plus n would pass the budget (SetWork). A pipeline
// larger than the whole budget runs once no other holds working memory, so every image
// the limits accept still runs. Release gives the bytes back with the slot.
func (g *Gate) AcquireFor(ctx context.Context, n int64) (release func(), err error) {
	return g.acquire(ctx, n, false)
}

// AcquireLow takes a slot for background work (batch items): it is served only when no
// Acquire caller waits, so batches never delay interactive work, and it never fails with
// ErrBusy (its waiters are bounded by the number of background workers) nor counts
// toward Saturated.
func (g *Gate) AcquireLow(ctx context.Context) (release func(), err error) {
	return g.acquire(ctx, 0, true)
}

// AcquireLowFor is AcquireLow for a pipeline holding n bytes of working memory, as
// AcquireFor.
func (g *Gate) AcquireLowFor(ctx context.Context, n int64) (release func(), err error) {
	return g.acquire(ctx, n, true)
}

func (g *Gate) acquire(ctx context.Context, n int64, low bool) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n = max(n, 0)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, fmt.Errorf("gate: %w", ErrClosed)
	}
	if g.inFlight < g.size && len(g.waiters) == 0 && (!low || len(g.low) == 0) && g.fitsWork(n) {
		g.take(n)
		g.mu.Unlock()
		return g.releaser(n), nil
	}
	if !low && len(g.waiters) >= g.queue {
		g.mu.Unlock()
		return nil, fmt.Errorf("gate: %d running, %d waiting: %w", g.size, g.queue, ErrBusy)
	}
	w := &slotWaiter{n: n, ready: make(chan struct{})}
	q := &g.waiters
	if low {
		q = &g.low
	}
	*q = append(*q, w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		if w.err != nil {
			return nil, w.err
		}
		return g.releaser(n), nil
	case <-ctx.Done():
		g.mu.Lock()
		for i, x := range *q {
			if x == w {
				*q = append((*q)[:i], (*q)[i+1:]...)
				// A waiter at the head too large for the working memory left may have
				// held later ones back.
				g.dispatch()
				g.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		g.mu.Unlock()
		if w.err != nil { // turned away by Close as ctx ended
			return nil, ctx.Err()
		}
		// The slot was handed over as ctx ended: give it back.
		g.release(n)
		return nil, ctx.Err()
	}
}

// fitsWork tells whether a pipeline holding n bytes of working memory may start now;
// g.mu is held.
func (g *Gate) fitsWork(n int64) bool {
	return g.work <= 0 || g.working == 0 || g.working+n <= g.work
}

// take counts a slot and its working memory as taken; g.mu is held.
func (g *Gate) take(n int64) {
	if g.inFlight == 0 {
		g.busy()
	}
	g.inFlight++
	g.working += n
	g.count.add(1)
}

// slotsTaken counts the slots taken in every Gate of the process, so that Shutdown can
// wait for the pipelines holding them; it is kept beside each Gate's own count (under
// that Gate's lock) because a process may have several Gates (tests do).
var slotsTaken = newSlotCount()

type slotCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n is 0
}

func newSlotCount() *slotCount {
	c := &slotCount{zero: make(chan struct{})}
	close(c.zero)
	return c
}

func (c *slotCount) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 && d > 0 {
		c.zero = make(chan struct{})
	}
	c.n += d
	if c.n == 0 {
		close(c.zero)
	}
}

// wait waits until no slot is taken, or ctx ends; it reports whether none is.
func (c *slotCount) wait(ctx context.Context) bool {
	c.mu.Lock()
	zero := c.zero
	c.mu.Unlock()
	select {
	case <-zero:
		return true
	default:
	}
	select {
	case <-zero:
		return true
	case <-ctx.Done():
		return false
	}
}

// dispatch grants slots to waiters in order, interactive ones first, while slots are
// free and the head's working memory fits; g.mu is held.
func (g *Gate) dispatch() {
	for g.inFlight < g.size {
		q := &g.waiters
		if len(*q) == 0 {
			q = &g.low
		}
		if len(*q) == 0 || !g.fitsWork((*q)[0].n) {
			return
		}
		w := (*q)[0]
		*q = (*q)[1:]
		g.take(w.n)
		close(w.ready)
	}
}

func (g *Gate) releaser(n int64) func() {
	var once sync.Once
	return func() { once.Do(func() { g.release(n) }) }
}

// release frees a slot and its working memory, handing them on to the oldest waiters
// that can start.
func (g *Gate) release(n int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	g.working -= n
	g.count.add(-1)
	g.dispatch()
	if g.inFlight == 0 {
		g.armIdle()
	}
}

// Close stops the Gate giving slots: the callers waiting for one, and every later
// caller, fail with ErrClosed; the pipelines running go on and give their slots back as
// usual (Shutdown waits for them). The idle hook does not run after Close. Calling it
// again does nothing.
func (g *Gate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	for _, w := range append(g.waiters, g.low...) {
		w.err = fmt.Errorf("gate: %w", ErrClosed)
		close(w.ready)
	}
	g.waiters, g.low = nil, nil
	if g.idleTimer != nil {
		g.idleTimer.Stop()
		g.idleTimer = nil
	}
	g.idleFn = nil
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

// Saturated reports whether a new caller would get ErrBusy now: all slots taken (or
// callers waiting for one, for working memory) and queue callers waiting (for a slot or
// for bytes). With queue > 0 that is Waiting()+WaitingBytes() >= queue; readiness probes
// turn false on it.
func (g *Gate) Saturated() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return (g.inFlight >= g.size || len(g.waiters) > 0) && len(g.waiters)+len(g.byteWait) >= g.queue
}
