package jobs_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/jobs"
	"github.com/pictor/pictor/manifest"
)

// TestCorruptStoredColumns: a stored column that is not the JSON it should be is an
// error, not a silently shortened answer (the old code dropped the Unmarshal error).
func TestCorruptStoredColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupBatch(t, "sqlite")
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader("url,sku,color\nhttp://127.0.0.1:1/a.jpg,A,x\n"), Format: manifest.CSV})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	tests := []struct {
		name, update string
		run          func() error
	}{
		{"results renditions", `UPDATE batch_items SET renditions = '[{"url":' WHERE batch_id = ?`, func() error {
			var out bytes.Buffer
			return b.jobs.WriteResults(ctx, bt.ID, &out, manifest.CSV)
		}},
		{"batch trial", `UPDATE batches SET trial = '{"done":' WHERE id = ?`, func() error {
			_, err := b.jobs.GetBatch(ctx, bt.ID)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.db.SQL.ExecContext(ctx, b.db.Rebind(tt.update), bt.ID); err != nil {
				t.Fatalf("corrupt: %v", err)
			}
			if err := tt.run(); err == nil {
				t.Errorf("got nil error, want one for a corrupt column")
			}
		})
	}
}

// TestWriteResultsClosedDB: an export over a database that went away fails.
func TestWriteResultsClosedDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupBatch(t, "sqlite")
	bt, err := b.jobs.CreateBatch(ctx, jobs.BatchRequest{Recipe: catalog.RecipeRef{Inline: []byte(smallRecipe)},
		Manifest: strings.NewReader("url,sku,color\nhttp://127.0.0.1:1/a.jpg,A,x\n"), Format: manifest.CSV})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var out bytes.Buffer
	if err := b.jobs.WriteResults(cctx, bt.ID, &out, manifest.CSV); err == nil {
		t.Errorf("WriteResults over a cancelled context: got nil error, want one")
	}
}
