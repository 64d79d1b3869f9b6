package jobs

import (
	"context"
	"database/sql"
	"testing"

	"github.com/pictor/pictor/db"
)

// migratedTo opens a fresh test database of dialect with the first n jobs migrations, and
// an exec that fails the test on error.
func migratedTo(t *testing.T, dialect string, n int) (*db.DB, func(q string, args ...any)) {
	t.Helper()
	ctx := context.Background()
	d, _ := openTestDB(t, dialect)
	if err := d.Migrate(ctx, "jobs", migrations[:n]); err != nil {
		t.Fatal(err)
	}
	return d, func(q string, args ...any) {
		t.Helper()
		if _, err := d.SQL.ExecContext(ctx, d.Rebind(q), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// Migration 3 backfills each batch's spend totals from the items a database already holds.
func TestMigrationBackfillsSpend(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, exec := migratedTo(t, dialect, 2)
			for _, id := range []string{"bat_a", "bat_b"} {
				exec(`INSERT INTO batches (id, name, recipe, state, created_at, updated_at) VALUES (?, ?, '{}', 'done', 1, 1)`, id, id)
			}
			for i, it := range []struct {
				batch    string
				gpu, cpu float64
				bytes    int64
			}{{"bat_a", 1.5, 0.25, 1000}, {"bat_a", 0.5, 0.75, 24}, {"bat_b", 0, 2, 7}} {
				exec(`INSERT INTO batch_items (batch_id, row_number, state, gpu_seconds, cpu_seconds, bytes, updated_at)
					VALUES (?, ?, 'succeeded', ?, ?, ?, 1)`, it.batch, i+2, it.gpu, it.cpu, it.bytes)
			}
			if err := d.Migrate(ctx, "jobs", migrations); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string][3]float64{"bat_a": {2, 1, 1024}, "bat_b": {0, 2, 7}} {
				var gpu, cpu float64
				var bytes int64
				if err := d.SQL.QueryRowContext(ctx, d.Rebind(`SELECT gpu_seconds, cpu_seconds, bytes FROM batches WHERE id = ?`), id).Scan(&gpu, &cpu, &bytes); err != nil {
					t.Fatal(err)
				}
				if gpu != want[0] || cpu != want[1] || float64(bytes) != want[2] {
					t.Errorf("%s spend after migration: gpu %v cpu %v bytes %d, want %v", id, gpu, cpu, bytes, want)
				}
			}
		})
	}
}

// Migration 4 gives existing batches the default threshold, no cap, and the count of
// items their spend totals already hold (the mean item cost a max_cost needs).
func TestMigrationQualityGate(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, exec := migratedTo(t, dialect, 3)
			exec(`INSERT INTO batches (id, name, recipe, state, created_at, updated_at) VALUES ('bat_a', 'a', '{}', 'running', 1, 1)`)
			for i, state := range []string{"succeeded", "failed", "skipped", "queued", "pending"} {
				exec(`INSERT INTO batch_items (batch_id, row_number, state, updated_at) VALUES ('bat_a', ?, ?, 1)`, i+2, state)
			}
			if err := d.Migrate(ctx, "jobs", migrations); err != nil {
				t.Fatal(err)
			}
			var (
				minAcc   float64
				maxCost  sql.NullFloat64
				review   string
				spent    int
				reserved float64
			)
			if err := d.SQL.QueryRowContext(ctx, `SELECT min_accuracy, max_cost, review, items_spent, cost_reserved FROM batches WHERE id = 'bat_a'`).Scan(
				&minAcc, &maxCost, &review, &spent, &reserved); err != nil {
				t.Fatal(err)
			}
			if minAcc != DefaultMinAccuracy || maxCost.Valid || review != "" || spent != 3 || reserved != 0 {
				t.Errorf("after migration: min_accuracy %v max_cost %v review %q items_spent %d reserved %v; want %v, NULL, \"\", 3, 0",
					minAcc, maxCost, review, spent, reserved, DefaultMinAccuracy)
			}
		})
	}
}
