package waitfor

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestPollSeesACondition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		go func() {
			time.Sleep(time.Second)
			n.Store(1)
		}()
		start := time.Now()
		if !Poll(5*time.Second, func() bool { return n.Load() == 1 }) {
			t.Fatal("Poll gave up on a condition that held after 1s, want it seen")
		}
		if took := time.Since(start); took < time.Second || took > time.Second+maxInterval {
			t.Errorf("Poll returned after %s, want within %s of the condition holding", took, maxInterval)
		}
	})
}

func TestPollGivesUpAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		checks := 0
		if Poll(3*time.Second, func() bool { checks++; return false }) {
			t.Fatal("Poll reported a condition that never held")
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("Poll gave up after %s, want exactly the 3s timeout", took)
		}
		if checks < 2 || checks > 3*int(time.Second/maxInterval)+8 {
			t.Errorf("Poll checked %d times in 3s, want a few per maxInterval", checks)
		}
	})
}

func TestPollChecksAtTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		held := Poll(time.Second, func() bool { return time.Since(start) >= time.Second })
		if !held {
			t.Fatal("Poll missed a condition that held exactly at the deadline")
		}
	})
}

// Cond fails the test it is given when the condition never holds.
func TestCondFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() { // Fatalf ends the goroutine that calls it
			defer close(done)
			Cond(rec, time.Second, func() bool { return false }, "the thing")
		}()
		<-done
		if rec.msg != "waited 1s: the thing" {
			t.Errorf("Cond failed with %q, want %q", rec.msg, "waited 1s: the thing")
		}
	})
}

type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
