package catalog

import (
	"context"
	"fmt"
	"sync"
)

// flights runs one call per key at a time and gives its result to every caller that asks
// for the same key while it runs. Unlike singleflight, the call does not run on its first
// caller's context: it runs on a context of its own, cancelled only when every caller
// waiting for it has gone, so one client hanging up does not fail the others, and work
// nobody waits for any more stops.
type flights[V any] struct {
	// joined, when set, is called each time a caller joins a call in flight.
	joined func()

	mu    sync.Mutex
	calls map[string]*flightCall[V]
}

type flightCall[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do returns fn's result for key, running fn unless a call for key is in flight, in which
// case it waits for that call's result. A caller whose ctx ends stops waiting with ctx's
// error; the call goes on while anyone else waits for it. The context fn sees carries the
// values of the caller that started it, not its deadline.
func (g *flights[V]) do(ctx context.Context, key string, fn func(context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall[V]{}
	}
	c, shared := g.calls[key]
	if shared {
		c.waiters++
	} else {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall[V]{done: make(chan struct{}), waiters: 1, cancel: cancel}
		g.calls[key] = c
		go g.run(cctx, key, c, fn)
	}
	g.mu.Unlock()
	if shared && g.joined != nil {
		g.joined()
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters--
	if c.waiters == 0 {
		// Nobody waits any more: stop the work, and let the next caller start afresh
		// rather than join a call being cancelled.
		c.cancel()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
	}
	g.mu.Unlock()
	var zero V
	return zero, ctx.Err()
}

func (g *flights[V]) run(ctx context.Context, key string, c *flightCall[V], fn func(context.Context) (V, error)) {
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("panic in shared call: %v", p)
		}
		c.cancel()
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
}
