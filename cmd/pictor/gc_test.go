package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pictor/pictor/internal/waitfor"
)

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		base, headroom uint64
		floor, want    int
	}{
		{0, 16 * mib, 50, gcPercentMax},       // before the first collection
		{mib / 4, 16 * mib, 50, gcPercentMax}, // 6400 %, bounded
		{4 * mib, 16 * mib, 50, 400},          // between bursts: 16 MiB of room
		{3 * mib, 16 * mib, 50, 533},          // rounded down
		{16 * mib, 16 * mib, 50, 100},         //
		{32 * mib, 16 * mib, 50, 50},          // both give 16 MiB
		{33 * mib, 16 * mib, 50, 50},          // under load: the floor
		{1 << 62, 16 * mib, 50, 50},           // no overflow
		{mib, 1 << 62, 50, gcPercentMax},      // no overflow
		{4 * mib, 16 * mib, 2000, 2000},       // a floor over the bound wins
		{4 * mib, 16 * mib, gcPercentMax + 1, gcPercentMax + 1},
	} {
		if got := gcPercentFor(tc.base, tc.floor, tc.headroom); got != tc.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", tc.base, tc.floor, tc.headroom, got, tc.want)
		}
	}
}

// gogc is the collector's GOGC now.
func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("/gc/gogc:percent: kind %v", s[0].Value.Kind())
	}
	return int(s[0].Value.Uint64())
}

// TestGCTuner: after each collection GOGC follows what it found live, and once stopped
// the tuner puts back the GOGC it found and changes it no more. Not parallel: GOGC is
// the process's.
func TestGCTuner(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	const mib = 1 << 20
	var base atomic.Uint64
	base.Store(4 * mib)
	tu := &gcTuner{floor: 50, headroom: 16 * mib, base: base.Load}
	tu.prev = debug.SetGCPercent(50)
	tu.arm()

	collect := func(want int) {
		t.Helper()
		waitfor.Cond(t, 10*time.Second, func() bool {
			runtime.GC()
			return gogc(t) == want
		}, "GOGC after a collection")
	}
	collect(400) // 16 MiB over 4 MiB
	base.Store(64 * mib)
	collect(50) // the floor: it was armed again
	base.Store(2 * mib)
	collect(800)

	tu.stop()
	if got := gogc(t); got != 100 {
		t.Fatalf("after stop GOGC = %d, want the 100 it found", got)
	}
	// The sentinel armed before stop is collected after it: its cleanup changes nothing.
	base.Store(4 * mib)
	tu.collected()
	if got := gogc(t); got != 100 {
		t.Errorf("a collection after stop set GOGC to %d, want 100 kept", got)
	}
}

// TestTuneGC: the service tunes the collector unless GOGC is set, which then stays the
// runtime's; the base it tunes by is read (a misspelt metric would read 0). Not
// parallel: GOGC is the process's.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	stop := tuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	runtime.GC()
	stop()
	if got := gogc(t); got != 100 {
		t.Errorf("GOGC=100: collector at %d%%, want the runtime's 100%%", got)
	}

	stop = tuneGC(func(string) string { return "" })
	if got := gogc(t); got != gcPercent {
		t.Errorf("GOGC unset: collector at %d%% before the first tuning, want %d%%", got, gcPercent)
	}
	waitfor.Cond(t, 10*time.Second, func() bool {
		runtime.GC()
		return gogc(t) != gcPercent || gcPercentFor(gcBase(), gcPercent, gcHeadroom) == gcPercent
	}, "GOGC tuned after a collection")
	stop()
	if got := gogc(t); got != 100 {
		t.Errorf("after stop GOGC = %d, want the 100 it found", got)
	}

	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if b, live := gcBase(), s[0].Value.Uint64(); b <= live {
		t.Errorf("gcBase() = %d, want more than the live heap %d (stacks and globals too)", b, live)
	}
}
