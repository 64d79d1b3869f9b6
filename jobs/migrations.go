package jobs

import "github.com/pictor/pictor/db"

// migrations are the batch tables jobs owns. Times are Unix nanoseconds.
var migrations = []db.Migration{
	{Version: 1, Name: "batches and batch items", SQLite: `
CREATE TABLE batches (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	recipe TEXT NOT NULL,
	filter TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	total INTEGER NOT NULL DEFAULT 0,
	bad_rows INTEGER NOT NULL DEFAULT 0,
	bad_row_sample TEXT NOT NULL DEFAULT '[]',
	estimate TEXT NOT NULL DEFAULT '',
	trial TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	started_at BIGINT NOT NULL DEFAULT 0,
	finished_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE batch_items (
	batch_id TEXT NOT NULL,
	row_number INTEGER NOT NULL,
	url TEXT NOT NULL DEFAULT '',
	image_id TEXT NOT NULL DEFAULT '',
	sku TEXT NOT NULL DEFAULT '',
	meta TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	result_image TEXT NOT NULL DEFAULT '',
	renditions TEXT NOT NULL DEFAULT '',
	error TEXT NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 0,
	gpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	cpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	bytes BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (batch_id, row_number)
);
CREATE INDEX batch_items_state ON batch_items (batch_id, state);
CREATE INDEX batch_items_updated ON batch_items (batch_id, updated_at);`},
	{Version: 2, Name: "scheduled batches", SQLite: `
ALTER TABLE batches ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN manifest_url TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN next_run BIGINT NOT NULL DEFAULT 0;`},
	// The batch keeps what its items spent, added as each item finishes: summing the
	// items on every status poll read the whole batch (half a second for a million
	// rows, holding SQLite's one connection).
	{Version: 3, Name: "batch spend totals", SQLite: `
ALTER TABLE batches ADD COLUMN gpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN cpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
UPDATE batches SET
	gpu_seconds = (SELECT coalesce(sum(gpu_seconds), 0) FROM batch_items WHERE batch_id = batches.id),
	cpu_seconds = (SELECT coalesce(sum(cpu_seconds), 0) FROM batch_items WHERE batch_id = batches.id),
	bytes = (SELECT coalesce(sum(bytes), 0) FROM batch_items WHERE batch_id = batches.id);`},
	// The quality gate: a trial's threshold, a spend cap and the review policy on the
	// batch; what a cap sets aside for items in flight and how many items the spend
	// totals hold (the mean cost of an item); each item's review state and check verdict.
	{Version: 4, Name: "batch quality gate and spend cap", SQLite: `
ALTER TABLE batches ADD COLUMN min_accuracy DOUBLE PRECISION NOT NULL DEFAULT 0.95;
ALTER TABLE batches ADD COLUMN max_cost DOUBLE PRECISION;
ALTER TABLE batches ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN paused_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN cost_reserved DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN items_spent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_items ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_items ADD COLUMN checks TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_items ADD COLUMN cost_reserved DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE batches SET items_spent = (SELECT count(*) FROM batch_items
	WHERE batch_id = batches.id AND state IN ('succeeded', 'failed', 'skipped'));`},
	// A scheduled batch's manifest re-reads: when one last worked, and the failures since
	// (their count sets the back-off; the last message shows on the batch).
	{Version: 5, Name: "scheduled refresh failures", SQLite: `
ALTER TABLE batches ADD COLUMN refreshed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN refresh_error TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN refresh_failed_at BIGINT NOT NULL DEFAULT 0;`},
	// Every process that works jobs, by its River client id, with the database's time of
	// its last heartbeat: a job whose client stopped beating runs again at once, instead of
	// waiting for River's rescuer.
	{Version: 6, Name: "job worker heartbeats", SQLite: `
CREATE TABLE job_workers (
	client_id TEXT PRIMARY KEY,
	host TEXT NOT NULL DEFAULT '',
	pid INTEGER NOT NULL DEFAULT 0,
	started_at BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL
);`},
	// Catalog campaigns: a batch made from a selection of stored images or from an approved
	// scene, its manifest's columns (kept per item as meta, in file order here), a prompt
	// template filled from each row with N variants, a delayed start; items known by their
	// content (source and SKU) so that a scheduled re-read adds only rows it has not seen,
	// wherever they sit in the file. Existing items get a key when they are the first of
	// their content in the batch.
	{Version: 7, Name: "catalog campaigns", SQLite: `
ALTER TABLE batches ADD COLUMN columns TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN selection TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN source_scene TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN prompt_template TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN prompt_vars TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN variants INTEGER NOT NULL DEFAULT 1;
ALTER TABLE batches ADD COLUMN seed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN start_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN start_force INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN duplicate_rows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batch_items ADD COLUMN content_key TEXT NOT NULL DEFAULT '';
UPDATE batch_items SET content_key = (CASE WHEN url <> '' THEN 'u:' || url ELSE 'i:' || image_id END) || ' ' || sku
	WHERE (batch_id, row_number) IN (SELECT batch_id, min(row_number) FROM batch_items GROUP BY batch_id, url, image_id, sku);
CREATE UNIQUE INDEX batch_items_content ON batch_items (batch_id, content_key) WHERE content_key <> '';
CREATE INDEX batches_start_at ON batches (start_at) WHERE start_at > 0;`},
}
