package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcPercent is the least GOGC the service collects at. Under load most of its heap is
// source bytes in flight, which the collector does not scan, so collecting at half the
// live heap instead of all of it costs little CPU and keeps about a third less garbage at
// peak (issue 13's benchmarks: Go's heap at 32 clients 222 -> 158 MiB).
const gcPercent = 50

// gcHeadroom is the least the service may allocate between two collections. Between
// bursts the live heap is about 4 MiB, and at gcPercent alone the collector would run
// every 2 MiB, every one to three requests of a 1 MB source: 1.7-2.2 ms of CPU a request
// (issue 13's baseline case costs 45 ms in all, a 200 px rendition of it 25 ms). With
// 16 MiB it runs every 10-15 such requests, for about 15 MiB more at peak; under load
// the live heap is large enough that gcPercent gives more room than this, and the
// collector runs as before.
const gcHeadroom = 16 << 20

// gcPercentMax bounds GOGC when the heap is next to nothing (at startup).
const gcPercentMax = 1000

// gcPercentFor is the GOGC that lets the heap grow by the larger of floor percent of
// base and headroom bytes before the next collection, within [floor, gcPercentMax].
// base is what GOGC is a percentage of: the heap the last collection found live and the
// stacks and globals it scanned.
func gcPercentFor(base uint64, floor int, headroom uint64) int {
	if base == 0 {
		return max(floor, gcPercentMax)
	}
	p := headroom / base * 100
	p += headroom % base * 100 / base
	switch {
	case p < uint64(floor):
		return floor
	case p > gcPercentMax:
		return max(floor, gcPercentMax)
	}
	return int(p)
}

// tuneGC tunes Go's collector for the service, unless the environment sets GOGC, which
// then stays the runtime's: after every collection GOGC is set by gcPercentFor from
// the live heap it found, so the next one comes after gcHeadroom bytes at least and
// gcPercent of the live heap when that is more. The returned function stops the tuning
// and puts the collector back as it was.
func tuneGC(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	t := &gcTuner{floor: gcPercent, headroom: gcHeadroom, base: gcBase}
	t.prev = debug.SetGCPercent(gcPercent)
	t.arm()
	return t.stop
}

// gcTuner sets GOGC after each collection: a sentinel allocated and dropped at once
// becomes garbage in the next collection, whose cleanup tunes and allocates the next.
type gcTuner struct {
	floor    int
	headroom uint64
	base     func() uint64

	mu      sync.Mutex
	stopped bool
	prev    int // GOGC before tuneGC, put back by stop
}

// gcSentinel is large enough not to share the tiny allocator's blocks, whose objects
// may be found unreachable late or never.
type gcSentinel struct{ _ [32]byte }

// arm has collected run after the next collection.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), (*gcTuner).collected, t)
}

// collected runs after a collection: it sets GOGC for what that collection found live
// and arms the tuner for the next.
func (t *gcTuner) collected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	debug.SetGCPercent(gcPercentFor(t.base(), t.floor, t.headroom))
	t.arm()
}

// stop ends the tuning and puts back the GOGC tuneGC found; calling it again does nothing.
func (t *gcTuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.prev)
}

// gcBase is what the last collection found live (heap, and the stacks and globals it
// scanned), in bytes, which GOGC is a percentage of; 0 before the first collection.
func gcBase() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	var n uint64
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 {
			n += v.Value.Uint64()
		}
	}
	return n
}
