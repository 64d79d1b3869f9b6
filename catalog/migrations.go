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
}
