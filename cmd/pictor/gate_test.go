package main

import (
	"testing"

	"github.com/pictor/pictor/imaging"
)

func TestNewGateMemoryBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set, want int64
	}{
		{0, 3 * imaging.DefaultMemoryPerSlot},
		{100 << 20, 100 << 20},
		{-1, -1},
	} {
		g := newGate(config{Workers: 3, QueueSize: 8, MemoryBudget: tc.set})
		if b, _ := g.Memory(); b != tc.want {
			t.Errorf("PICTOR_MEMORY_BUDGET=%d: budget %d, want %d", tc.set, b, tc.want)
		}
	}
}
