package sdtest

import (
	"net/http"
	"sync"
	"time"
)

// fifoLock is the WebUI's call_queue.queue_lock: a FIFOLock that hands
// itself to waiters in arrival order. Waiting cannot be cancelled: a queued
// request runs even when its client has gone, as a blocked worker thread
// does in the WebUI.
type fifoLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

// lock takes the lock; queued runs while the arrival is recorded, before
// any later caller can queue.
func (l *fifoLock) lock(queued func()) {
	l.mu.Lock()
	queued()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	<-ch
}

// unlock hands the lock to the oldest waiter, or frees it.
func (l *fifoLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.held = false
		return
	}
	next := l.waiters[0]
	l.waiters = l.waiters[1:]
	close(next)
}

// acquire queues c on the lock and takes it. When the server closed while
// the call waited, it answers 503 and returns false.
func (s *Server) acquire(w http.ResponseWriter, c *Call) bool {
	s.lock.lock(func() {
		s.mu.Lock()
		c.Queued = time.Now()
		s.mu.Unlock()
	})
	s.mu.Lock()
	c.Start = time.Now()
	s.active++
	s.maxActive = max(s.maxActive, s.active)
	s.mu.Unlock()
	if s.isClosed() {
		s.release(c, false)
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "sdtest: server closed"})
		return false
	}
	return true
}

// release ends c's locked section and passes the lock on.
func (s *Server) release(c *Call, interrupted bool) {
	s.mu.Lock()
	s.active--
	c.End = time.Now()
	c.Interrupted = interrupted
	s.mu.Unlock()
	s.lock.unlock()
}
