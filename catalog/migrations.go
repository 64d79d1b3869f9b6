package catalog

import (
	"strings"

	"github.com/pictor/pictor/db"
)

// schemaV1 is the catalog's first schema, written for SQLite; Postgres differs only in
// its byte type. Times are Unix nanoseconds (BIGINT) on both dialects.
const schemaV1 = `
CREATE TABLE images (
	id TEXT PRIMARY KEY,
	sha256 TEXT NOT NULL,
	sku TEXT NOT NULL DEFAULT '',
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	format TEXT NOT NULL,
	bytes BIGINT NOT NULL,
	source_url TEXT NOT NULL DEFAULT '',
	quality TEXT,
	created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX images_sha_sku ON images (sha256, sku);
CREATE INDEX images_sku_created ON images (sku, created_at, id);
CREATE INDEX images_created ON images (created_at, id);
CREATE TABLE renditions (
	id TEXT PRIMARY KEY,
	source_sha256 TEXT NOT NULL,
	recipe_hash TEXT NOT NULL,
	output TEXT NOT NULL,
	format TEXT NOT NULL,
	object_key TEXT NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	bytes BIGINT NOT NULL,
	recipe TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX renditions_source ON renditions (source_sha256, recipe_hash);
CREATE TABLE recipes (
	name TEXT PRIMARY KEY,
	body TEXT NOT NULL,
	hash TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE idempotency_keys (
	key TEXT PRIMARY KEY,
	request_hash TEXT NOT NULL,
	status INTEGER NOT NULL,
	body BLOB NOT NULL,
	created_at BIGINT NOT NULL
);`

// migrations are the catalog's tables, applied in order by db.Migrate.
var migrations = []db.Migration{
	{Version: 1, Name: "images, renditions, recipes, idempotency", SQLite: schemaV1,
		Postgres: strings.ReplaceAll(schemaV1, " BLOB ", " BYTEA ")},
	{Version: 2, Name: "rendition lineage and GPU time", SQLite: `
ALTER TABLE renditions ADD COLUMN lineage TEXT;
ALTER TABLE renditions ADD COLUMN gpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0;`},
	{Version: 3, Name: "scenes, scene variants, prompt templates", SQLite: `
CREATE TABLE scenes (
	id TEXT PRIMARY KEY,
	image_id TEXT NOT NULL,
	prompt TEXT NOT NULL,
	negative_prompt TEXT NOT NULL DEFAULT '',
	template TEXT NOT NULL DEFAULT '',
	variants INTEGER NOT NULL,
	seed BIGINT NOT NULL,
	strength DOUBLE PRECISION NOT NULL,
	steps INTEGER NOT NULL,
	state TEXT NOT NULL,
	progress DOUBLE PRECISION NOT NULL DEFAULT 0,
	eta DOUBLE PRECISION NOT NULL DEFAULT 0,
	has_preview INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	job_id BIGINT NOT NULL DEFAULT 0,
	cancel_requested INTEGER NOT NULL DEFAULT 0,
	approved_variant INTEGER,
	gpu_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX scenes_image ON scenes (image_id, created_at);
CREATE TABLE scene_variants (
	scene_id TEXT NOT NULL,
	idx INTEGER NOT NULL,
	seed BIGINT NOT NULL,
	rendition_id TEXT NOT NULL,
	PRIMARY KEY (scene_id, idx)
);
CREATE TABLE prompt_templates (
	name TEXT PRIMARY KEY,
	prompt TEXT NOT NULL,
	negative_prompt TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
ALTER TABLE images ADD COLUMN scene_rendition_id TEXT;`}, {Version: 4, Name: "rendition checks and review", SQLite: `
ALTER TABLE renditions ADD COLUMN checks TEXT;
ALTER TABLE renditions ADD COLUMN failed_checks TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN review TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN reviewer TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN review_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN reviewed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE renditions ADD COLUMN image_id TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN batch_id TEXT NOT NULL DEFAULT '';
ALTER TABLE renditions ADD COLUMN scene_id TEXT NOT NULL DEFAULT '';
CREATE INDEX renditions_review ON renditions (review, created_at, id);
ALTER TABLE scenes ADD COLUMN review TEXT NOT NULL DEFAULT 'failed';`},
	{Version: 5, Name: "revoked console sessions", SQLite: `
CREATE TABLE revoked_sessions (
	id TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);`},
	{Version: 6, Name: "image metadata and quality columns for selections", SQLite: schemaV6 + `
UPDATE images SET
	sharpness = json_extract(quality, '$.sharpness'),
	jpeg_quality = NULLIF(json_extract(quality, '$.jpeg_quality'), 0),
	plain_background = CASE WHEN json_extract(quality, '$.plain_background') THEN 1 ELSE 0 END,
	has_alpha = CASE WHEN json_extract(quality, '$.has_alpha') THEN 1 ELSE 0 END
WHERE quality IS NOT NULL AND json_valid(quality);`, Postgres: schemaV6 + `
UPDATE images SET
	sharpness = (quality::jsonb->>'sharpness')::double precision,
	jpeg_quality = NULLIF((quality::jsonb->>'jpeg_quality')::integer, 0),
	plain_background = CASE WHEN (quality::jsonb->>'plain_background')::boolean THEN 1 ELSE 0 END,
	has_alpha = CASE WHEN (quality::jsonb->>'has_alpha')::boolean THEN 1 ELSE 0 END
WHERE quality IS NOT NULL AND quality <> '';
CREATE INDEX images_sku_bytes ON images (sku COLLATE "C");`},
}

// schemaV6 holds an image's metadata (a key's num is its value parsed as a finite float,
// else NULL, for range selections) and the quality-report fields selections use as columns
// (NULL until the image has a report). The migration backfills the columns from the
// quality JSON; on PostgreSQL it adds an index on sku in byte order for sku_prefix (SQLite
// compares bytes anyway and uses images_sku_created).
const schemaV6 = `
CREATE TABLE image_meta (
	image_id TEXT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	num DOUBLE PRECISION,
	PRIMARY KEY (image_id, key)
);
CREATE INDEX image_meta_key_value ON image_meta (key, value, image_id);
CREATE INDEX image_meta_key_num ON image_meta (key, num, image_id);
ALTER TABLE images ADD COLUMN sharpness DOUBLE PRECISION;
ALTER TABLE images ADD COLUMN jpeg_quality INTEGER;
ALTER TABLE images ADD COLUMN plain_background INTEGER;
ALTER TABLE images ADD COLUMN has_alpha INTEGER;`
