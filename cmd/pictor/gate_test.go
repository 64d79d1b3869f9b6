package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/imaging"
)

func TestNewGateMemoryBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set, wantSources, wantWork int64
	}{
		{0, 3 * imaging.DefaultMemoryPerSlot, 3 * imaging.DefaultWorkPerSlot},
		{100 << 20, 100 << 20, 100 << 20},
		{-1, -1, -1},
	} {
		g := newGate(config{Workers: 3, QueueSize: 8, MemoryBudget: tc.set})
		if b, _ := g.Memory(); b != tc.wantSources {
			t.Errorf("PICTOR_MEMORY_BUDGET=%d: budget %d, want %d", tc.set, b, tc.wantSources)
		}
		if w, _ := g.Work(); w != 3*imaging.DefaultWorkPerSlot {
			t.Errorf("PICTOR_MEMORY_BUDGET=%d: decode budget %d, want the default %d", tc.set, w, 3*imaging.DefaultWorkPerSlot)
		}
		g = newGate(config{Workers: 3, QueueSize: 8, DecodeBudget: tc.set})
		if w, _ := g.Work(); w != tc.wantWork {
			t.Errorf("PICTOR_DECODE_BUDGET=%d: decode budget %d, want %d", tc.set, w, tc.wantWork)
		}
		if b, _ := g.Memory(); b != 3*imaging.DefaultMemoryPerSlot {
			t.Errorf("PICTOR_DECODE_BUDGET=%d: source budget %d, want the default %d", tc.set, b, 3*imaging.DefaultMemoryPerSlot)
		}
	}
}

// TestDefaultWorkers: with PICTOR_WORKERS unset the gate runs imaging.SlotsPerCore
// pipelines a core, its memory budgets are the same per core as with one pipeline a core
// (32 MiB of sources, 64 MiB of decoders' working memory), and the cost estimate counts
// the cores, not the slots.
func TestDefaultWorkers(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	c, _, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cores := runtime.NumCPU()
	if c.Workers != 2*cores {
		t.Fatalf("default workers %d on %d cores, want %d", c.Workers, cores, 2*cores)
	}
	g := newGate(c)
	if g.Size() != 2*cores {
		t.Errorf("gate size %d, want %d", g.Size(), 2*cores)
	}
	if b, _ := g.Memory(); b != int64(cores)*32<<20 {
		t.Errorf("source budget %d MiB on %d cores, want 32 MiB a core", b>>20, cores)
	}
	if w, _ := g.Work(); w != int64(cores)*64<<20 {
		t.Errorf("decode budget %d MiB on %d cores, want 64 MiB a core", w>>20, cores)
	}
	for _, tc := range []struct{ workers, want int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {2 * cores, cores}} {
		if got := cpuWorkers(tc.workers); got != tc.want {
			t.Errorf("cpuWorkers(%d) = %d, want %d", tc.workers, got, tc.want)
		}
	}
}

// TestMallocConfig: the C allocator takes imaging's defaults, except for a setting whose
// glibc variable the environment sets (an operator's choice), which stays glibc's.
func TestMallocConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want imaging.MallocConfig
	}{
		{nil, imaging.MallocConfig{}},
		{map[string]string{"MALLOC_ARENA_MAX": "2"}, imaging.MallocConfig{Arenas: -1}},
		{map[string]string{"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "0"}, imaging.MallocConfig{MmapThreshold: -1, TrimThreshold: -1}},
		{map[string]string{"MALLOC_ARENA_MAX": ""}, imaging.MallocConfig{}},
	} {
		if got := mallocConfig(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("env %v: got %+v, want %+v", tc.env, got, tc.want)
		}
	}
}

// TestStopImaging: the gate is closed before libvips' shutdown waits for the running
// pipelines, so none can start meanwhile; the wait is bounded by the shutdown timeout,
// and libvips left up is logged.
func TestStopImaging(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	g := imaging.NewGate(2, 2)
	release, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	called := false
	stopImaging(g, time.Hour, log, func(ctx context.Context) bool {
		called = true
		if _, err := g.Acquire(context.Background()); !errors.Is(err, imaging.ErrClosed) {
			t.Errorf("Acquire while libvips shuts down: got %v, want ErrClosed", err)
		}
		if d, ok := ctx.Deadline(); !ok || time.Until(d) < 59*time.Minute {
			t.Errorf("shutdown wait: deadline %v (set %v), want the shutdown timeout", d, ok)
		}
		return false
	})
	if !called {
		t.Fatal("libvips shutdown not called")
	}
	for _, want := range []string{"waiting for libvips pipelines to finish", "running=1", "libvips left running for the exit"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q: want it to contain %q", logs.String(), want)
		}
	}
}
