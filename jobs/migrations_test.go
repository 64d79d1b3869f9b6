package jobs

import (
	"context"
	"testing"
)

// Migration 3 backfills each batch's spend totals from the items a database already holds.
func TestMigrationBackfillsSpend(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, _ := openTestDB(t, dialect)
			if err := d.Migrate(ctx, "jobs", migrations[:2]); err != nil {
				t.Fatal(err)
			}
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := d.SQL.ExecContext(ctx, d.Rebind(q), args...); err != nil {
					t.Fatal(err)
				}
			}
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
