package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/manifest"
)

// idleService is a Service that inserts jobs but runs none (Work false), on a fresh
// database of the dialect.
func idleService(t *testing.T, dialect string) *Service {
	t.Helper()
	d, cat := OpenTestCatalog(t, dialect, false, catalog.DefaultConfig(), nil)
	ctx := context.Background()
	jc := DefaultConfig()
	jc.Work = false
	s, err := New(jc, Deps{DB: d, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// createIdleBatch makes a draft batch of n url rows on s.
func createIdleBatch(t *testing.T, s *Service, n int) Batch {
	t.Helper()
	b, err := s.CreateBatch(context.Background(), BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(`{"outputs":[{"name":"a"}]}`)},
		Manifest: strings.NewReader(URLManifest("https://cdn.example.com", n)), Format: manifest.CSV})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Starting a batch answers before its items are queued (a hand-off job does that), and
// hand-offs running at once queue every item exactly once.
func TestEnqueueHandOff(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := idleService(t, dialect)
			ctx := context.Background()
			const items = 2*enqueueChunk + 500
			b := createIdleBatch(t, s, items)
			started, err := s.StartBatch(ctx, b.ID, ActionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if started.State != BatchRunning || started.Counts[ItemQueued] != items {
				t.Fatalf("started = %s %v, want running with %d waiting", started.State, started.Counts, items)
			}
			count := func(q string, args ...any) int {
				var n int
				if err := s.db.SQL.QueryRowContext(ctx, s.db.Rebind(q), args...).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(`SELECT count(*) FROM batch_items WHERE batch_id = ? AND state = ?`, b.ID, ItemPending); n != items {
				t.Fatalf("%d items pending after start, want all %d (the hand-off job queues them)", n, items)
			}
			if n := count(`SELECT count(*) FROM river_job WHERE kind = 'batch_enqueue'`); n != 1 {
				t.Fatalf("%d hand-off jobs, want 1", n)
			}

			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					for {
						n, err := s.enqueueChunk(ctx, b.ID)
						if err != nil {
							errs <- err
							return
						}
						if n == 0 {
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := count(`SELECT count(*) FROM batch_items WHERE batch_id = ? AND state = ?`, b.ID, ItemQueued); n != items {
				t.Errorf("%d items queued, want %d", n, items)
			}
			if n := count(`SELECT count(*) FROM river_job WHERE kind = 'batch_item'`); n != items {
				t.Errorf("%d item jobs for %d items: an item was queued twice or not at all", n, items)
			}
		})
	}
}

// The hand-off keeps at most enqueueAhead of a batch's items in the queue, then waits;
// once they are taken it goes on, and it finishes a batch with nothing left.
func TestEnqueueKeepsAhead(t *testing.T) {
	t.Parallel()
	s := idleService(t, "sqlite")
	ctx := context.Background()
	const items = enqueueAhead + 2500
	b := createIdleBatch(t, s, items)
	if _, err := s.StartBatch(ctx, b.ID, ActionOptions{}); err != nil {
		t.Fatal(err)
	}
	w := &batchEnqueueWorker{s: s}
	job := &river.Job[BatchEnqueueArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}, Args: BatchEnqueueArgs{BatchID: b.ID}}
	count := func(state string) int {
		var n int
		if err := s.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM batch_items WHERE batch_id = ? AND state = ?`, b.ID, state).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var snooze *rivertype.JobSnoozeError
	if err := w.Work(ctx, job); !errors.As(err, &snooze) || snooze.Duration != enqueueWait {
		t.Fatalf("first hand-off run = %v, want a snooze of %v", err, enqueueWait)
	}
	if q, p := count(ItemQueued), count(ItemPending); q != enqueueAhead || p != items-enqueueAhead {
		t.Fatalf("after the first run: %d queued, %d pending; want %d and %d", q, p, enqueueAhead, items-enqueueAhead)
	}
	// Workers took most of them.
	if _, err := s.db.SQL.ExecContext(ctx, `UPDATE batch_items SET state = ? WHERE batch_id = ? AND state = ? AND row_number <= 9000`,
		ItemSucceeded, b.ID, ItemQueued); err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, job); err != nil {
		t.Fatalf("second hand-off run = %v, want done", err)
	}
	if p := count(ItemPending); p != 0 {
		t.Fatalf("%d items still pending after the hand-off finished", p)
	}
}
