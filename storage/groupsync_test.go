package storage

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Writers waiting together share syncs, and every writer is answered. In a synctest
// bubble every writer has asked before the first sync (20ms of fake time) ends: the
// first writer's sync runs, all the others share the one after it.
func TestGroupSyncShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		g := &groupSync{sync: func() error {
			calls.Add(1)
			time.Sleep(20 * time.Millisecond)
			return nil
		}}
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				if err := g.Wait(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := calls.Load(); n != 2 {
			t.Fatalf("64 waiters made %d syncs; want 2 (the first writer's, then one shared by the rest)", n)
		}
	})
}

// A writer that asks while a sync runs is answered by the next one: the running
// sync may have started before its writes.
func TestGroupSyncWaitsForALaterRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		started := make(chan int, 4)
		var rounds atomic.Int32
		g := &groupSync{sync: func() error {
			n := int(rounds.Add(1))
			started <- n
			if n == 1 {
				<-release
			}
			return nil
		}}
		aDone := make(chan struct{})
		go func() { g.Wait(); close(aDone) }()
		if n := <-started; n != 1 {
			t.Fatalf("first round is %d", n)
		}
		bDone := make(chan int32)
		go func() { g.Wait(); bDone <- rounds.Load() }()
		synctest.Wait() // b is waiting while round 1 runs
		close(release)
		<-aDone
		if got := <-bDone; got < 2 {
			t.Fatalf("second writer answered after %d rounds; want the round after its call", got)
		}
	})
}

func TestGroupSyncReportsErrors(t *testing.T) {
	boom := errors.New("disk gone")
	fail := true
	g := &groupSync{sync: func() error {
		if fail {
			return boom
		}
		return nil
	}}
	if err := g.Wait(); !errors.Is(err, boom) {
		t.Fatalf("Wait = %v, want %v", err, boom)
	}
	fail = false
	if err := g.Wait(); err != nil {
		t.Fatalf("Wait after recovery = %v", err)
	}
}
