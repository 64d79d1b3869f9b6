package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/pictor/pictor/catalog"
)

// Two processes find the same dead worker at once: its job runs again once. A job of a
// live worker, and one of a client with no heartbeat row, are left alone; and a rescue
// from a stale listing (the job was rescued and fetched again meanwhile) changes nothing.
func TestRescueTakesTheAttemptItSaw(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, cat := OpenTestCatalog(t, dialect, false, catalog.DefaultConfig(), nil)
			var svc [2]*Service
			for i := range svc {
				s, err := New(DefaultConfig(), Deps{DB: d, Catalog: cat})
				if err != nil {
					t.Fatal(err)
				}
				svc[i] = s
			}
			if err := svc[0].Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// Three jobs on a queue no worker serves, each fetched by another client.
			const queue = "liveness_test"
			exec := svc[0].driver.GetExecutor()
			take := func(client string) *rivertype.JobRow {
				t.Helper()
				if _, err := svc[0].client.Insert(ctx, BatchItemArgs{BatchID: "bat_none", Row: 2}, &river.InsertOpts{Queue: queue}); err != nil {
					t.Fatal(err)
				}
				return fetchAs(t, exec, client, queue)
			}
			dead, live, unknown := take("dead_1"), take("live_1"), take("unknown_1")
			now := svc[0].dbNow()
			for client, age := range map[string]string{"dead_1": "3600000000000", "live_1": "0"} {
				if _, err := d.SQL.ExecContext(ctx, d.Rebind(`INSERT INTO job_workers (client_id, started_at, heartbeat_at) VALUES (?, `+now+` - `+age+`, `+now+` - `+age+`)`), client); err != nil {
					t.Fatal(err)
				}
			}

			var (
				wg    sync.WaitGroup
				total [2]int
				errs  [2]error
			)
			for i, s := range svc {
				wg.Go(func() { total[i], errs[i] = s.rescueOrphans(ctx) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || total[0]+total[1] != 1 {
				t.Fatalf("two processes rescuing at once: rescued %v (errors %v), want 1 in all", total, errs)
			}
			state := func(j *rivertype.JobRow) *rivertype.JobRow {
				t.Helper()
				got, err := svc[0].client.JobGet(ctx, j.ID)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			got := state(dead)
			if got.State != rivertype.JobStateAvailable || got.Attempt != 1 || len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Error, "dead_1") {
				t.Errorf("dead worker's job: %s attempt %d errors %v, want available, attempt 1, one error naming dead_1", got.State, got.Attempt, got.Errors)
			}
			for _, j := range []*rivertype.JobRow{live, unknown} {
				if got := state(j); got.State != rivertype.JobStateRunning || len(got.Errors) != 0 {
					t.Errorf("job of %v: %s errors %v, want running untouched", j.AttemptedBy, got.State, got.Errors)
				}
			}
			var rows int
			if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM job_workers WHERE client_id = 'dead_1'`).Scan(&rows); err != nil || rows != 0 {
				t.Errorf("dead worker's row: %d (%v), want forgotten", rows, err)
			}

			// A live worker fetches it again (attempt 2); a rescue from the listing that saw
			// attempt 1 of dead_1 leaves it running.
			again := fetchAs(t, exec, "live_1", queue)
			if again.ID != dead.ID || again.Attempt != 2 {
				t.Fatalf("fetched again: job %d attempt %d, want %d attempt 2", again.ID, again.Attempt, dead.ID)
			}
			if ok, err := svc[1].rescue(ctx, dead, "dead_1", "test"); ok || err != nil {
				t.Errorf("rescue from a stale listing: %v %v, want false", ok, err)
			}
			// Same attempt number, another client (a rescue and a fetch by a process whose
			// attempt count went back): left alone too.
			stale := *again
			if ok, err := svc[1].rescue(ctx, &stale, "dead_1", "test"); ok || err != nil {
				t.Errorf("rescue of attempt 2 as dead_1's while live_1 holds it: %v %v, want false", ok, err)
			}
			if got := state(dead); got.State != rivertype.JobStateRunning || got.Attempt != 2 {
				t.Errorf("re-fetched job: %s attempt %d, want running attempt 2", got.State, got.Attempt)
			}
		})
	}
}

// fetchAs takes the next available job of queue as River's client named client would.
func fetchAs(t *testing.T, exec riverdriver.Executor, client, queue string) *rivertype.JobRow {
	t.Helper()
	got, err := exec.JobGetAvailable(context.Background(), &riverdriver.JobGetAvailableParams{ClientID: client, MaxAttemptedBy: 100, MaxToLock: 1, Queue: queue})
	if err != nil || len(got.Jobs) != 1 {
		t.Fatalf("fetch as %s: %+v %v", client, got, err)
	}
	return got.Jobs[0]
}
