package storage

import "sync"

// groupSync shares one file-system sync among the writers waiting for it (group
// commit): a writer asks after its writes are done, and is answered by the first sync
// that starts after it asked. Concurrent writers pay one sync between them instead of
// one each, and at most one sync runs at a time.
type groupSync struct {
	sync func() error

	mu      sync.Mutex
	running bool
	next    *syncRound // the round the next callers join; it starts after the running one
}

type syncRound struct {
	done chan struct{}
	err  error
}

// Wait returns once a sync that started after the call has finished, with its error.
func (g *groupSync) Wait() error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	r := g.next
	if !g.running {
		g.startLocked()
	}
	g.mu.Unlock()
	<-r.done
	return r.err
}

// startLocked runs the pending round; when it ends, the round joined meanwhile starts.
func (g *groupSync) startLocked() {
	cur := g.next
	g.next = nil
	g.running = true
	go func() {
		cur.err = g.sync()
		close(cur.done)
		g.mu.Lock()
		g.running = false
		if g.next != nil {
			g.startLocked()
		}
		g.mu.Unlock()
	}()
}
