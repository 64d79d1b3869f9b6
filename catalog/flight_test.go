package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A call that panics answers every caller with an error, and the key is free again.
func TestFlightsPanic(t *testing.T) {
	t.Parallel()
	var g flights[int]
	_, err := g.do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	v, err := g.do(context.Background(), "k", func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Fatalf("after the panic: %v, %v; want 7, nil", v, err)
	}
}

// A caller that hangs up does not cancel the call another waits for; the last one does.
func TestFlightsCancel(t *testing.T) {
	t.Parallel()
	joined := make(chan struct{}, 1)
	g := flights[string]{joined: func() { joined <- struct{}{} }}
	started, proceed := make(chan struct{}), make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		close(started)
		select {
		case <-proceed:
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	first, hangUp := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := g.do(first, "k", fn)
		firstErr <- err
	}()
	<-started
	second := make(chan string, 1)
	go func() {
		v, _ := g.do(context.Background(), "k", func(context.Context) (string, error) { return "second ran", nil })
		second <- v
	}()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("the second caller never joined")
	}
	hangUp()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want context.Canceled", err)
	}
	close(proceed)
	if v := <-second; v != "done" {
		t.Fatalf("second caller got %q, want the shared call's result", v)
	}

	// Everyone gone: the call's context ends.
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go g.do(ctx, "j", func(ctx context.Context) (string, error) { //nolint:errcheck // the caller hangs up
		<-ctx.Done()
		stopped <- ctx.Err()
		return "", ctx.Err()
	})
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned call ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call nobody waits for went on")
	}
}
