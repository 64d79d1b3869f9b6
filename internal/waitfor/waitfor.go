// Package waitfor is the tests' one way to wait for something that shows only by polling:
// a condition checked again and again, with a deadline, so a test that waits for what never
// happens fails with a message instead of hanging until the test binary's timeout.
//
// Wait on a signal (a channel, a WaitGroup) where there is one; use testing/synctest where
// time itself is the subject.
package waitfor

import (
	"testing"
	"time"
)

// maxInterval caps the pause between two checks; the first checks follow each other
// closely (1ms, then doubling), so a condition that holds soon is seen soon.
const maxInterval = 50 * time.Millisecond

// Cond checks cond until it returns true and fails the test with msg (and how long it
// waited) if it has not within timeout. It checks once more at the deadline, so a
// condition that holds by then is never reported as missed. cond runs on the calling
// goroutine, which must be the test's: it may call t.Fatal itself.
func Cond(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("waited %s: %s", timeout, msg)
	}
}

// Poll checks cond until it returns true or timeout passes, and reports whether it held.
// It is Cond for goroutines that are not the test's, or callers with more to say than a
// message.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, maxInterval)
	}
}
