// Command selectbench times catalog selections over a large catalog on PostgreSQL (issue
// 14: "a selection over 1 million stored images previews its count in under a second"). It
// creates a database of its own on the server of -db, migrates the catalog schema into it,
// bulk-loads -images images (varied sizes, formats, quality columns and SKU patterns; 5 %
// without a quality report), three image_meta rows per image (category of 50 values, brand
// of 500, a numeric price) and renditions of the recipe "listing" for 30 % of the images
// (a tenth of those rejected), all with INSERT ... SELECT generate_series, runs ANALYZE,
// and then times CountSelection and PreviewSelection (sample 12) for typical selections:
// one untimed run, then -runs timed runs of each, printing the median and the slowest.
// Each count is checked against a count written independently in plain SQL. It fails
// when a median count takes -max or more. The database is dropped at the end unless -keep.
//
//	bash benchmarks/select.sh        # starts a private PostgreSQL (scripts/testenv.sh)
//	go run ./benchmarks/selectbench -db postgres://...   # against a server you have
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/storage"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "selectbench:", err)
		os.Exit(1)
	}
}

const listingRecipe = `{"steps":[{"op":"resize","width":800,"height":800,"fit":"inside"}],"outputs":[{"name":"main","format":"jpeg","quality":80}]}`

// selection is one timed case: the selection, and the same rows counted in plain SQL.
type selection struct {
	name  string
	sel   catalog.Selection
	check string // SELECT count(*) ... with no parameters
}

func f(v float64) *float64 { return &v }

func selections(n int) []selection {
	return []selection{
		{"category = cat-7", catalog.Selection{Meta: map[string][]string{"category": {"cat-7"}}},
			`SELECT count(*) FROM image_meta WHERE key = 'category' AND value = 'cat-7'`},
		{"brand in (brand-1, brand-2), price 10..50", catalog.Selection{
			Meta:      map[string][]string{"brand": {"brand-1", "brand-2"}},
			MetaRange: map[string]catalog.Range{"price": {Min: f(10), Max: f(50)}}},
			`SELECT count(*) FROM image_meta b JOIN image_meta p ON p.image_id = b.image_id AND p.key = 'price'
			 WHERE b.key = 'brand' AND b.value IN ('brand-1', 'brand-2') AND p.num BETWEEN 10 AND 50`},
		{"shorter side max 799", catalog.Selection{ShorterSide: &catalog.Range{Max: f(799)}},
			`SELECT count(*) FROM images WHERE least(width, height) <= 799`},
		{"sharpness max 0.2, plain background false", catalog.Selection{Sharpness: &catalog.Range{Max: f(0.2)}, PlainBackground: new(false)},
			`SELECT count(*) FROM images WHERE sharpness <= 0.2 AND plain_background = 0`},
		{"sku prefix BAG-001", catalog.Selection{SKUPrefix: "BAG-001"},
			`SELECT count(*) FROM images WHERE starts_with(sku, 'BAG-001')`},
		{"lacks rendition of listing", catalog.Selection{LacksRendition: "listing"},
			fmt.Sprintf(`SELECT %d - count(DISTINCT source_sha256) FROM renditions WHERE review <> 'rejected'`, n)},
		{"category = cat-7, lacks listing, shorter side max 799", catalog.Selection{
			Meta: map[string][]string{"category": {"cat-7"}}, LacksRendition: "listing", ShorterSide: &catalog.Range{Max: f(799)}},
			`SELECT count(*) FROM images i JOIN image_meta m ON m.image_id = i.id AND m.key = 'category' AND m.value = 'cat-7'
			 WHERE least(i.width, i.height) <= 799 AND NOT EXISTS (SELECT 1 FROM renditions r
			 WHERE r.source_sha256 = i.sha256 AND r.review <> 'rejected')`},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("selectbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("db", os.Getenv("PICTOR_TEST_DATABASE_URL"), "PostgreSQL URL of a server where a database may be created (default $PICTOR_TEST_DATABASE_URL)")
	n := fs.Int("images", 1_000_000, "images to load")
	runs := fs.Int("runs", 5, "timed runs of each selection")
	limit := fs.Duration("max", time.Second, "fail when a median count takes this long or longer")
	keep := fs.Bool("keep", false, "keep the database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		return errors.New("give -db or PICTOR_TEST_DATABASE_URL")
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "== "+format+"\n", a...) }

	// A database of our own.
	admin, err := db.Open(ctx, db.Config{URL: *base, MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer admin.Close()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "selectbench_" + hex.EncodeToString(suffix)
	if _, err := admin.SQL.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if !*keep {
		defer func() {
			if _, err := admin.SQL.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				logf("drop database %s: %v", name, err)
			}
		}()
	} else {
		logf("database %s is kept", name)
	}
	u, err := url.Parse(*base)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	d, err := db.Open(ctx, db.Config{URL: u.String(), MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer d.Close()

	dir, err := os.MkdirTemp("", "selectbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := storage.NewLocal(storage.LocalConfig{Dir: dir})
	if err != nil {
		return err
	}
	fc, err := fetch.New(fetch.DefaultConfig())
	if err != nil {
		return err
	}
	svc, err := catalog.New(catalog.DefaultConfig(), catalog.Deps{DB: d, Store: st, Fetcher: fc, Gate: imaging.NewGate(1, 1),
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	if err := svc.Init(ctx); err != nil {
		return err
	}
	recipe, _, err := svc.PutRecipe(ctx, "listing", []byte(listingRecipe))
	if err != nil {
		return err
	}

	t0 := time.Now()
	if err := load(ctx, d, *n, recipe.Hash, logf); err != nil {
		return err
	}
	logf("loaded in %s", time.Since(t0).Round(time.Second))

	type row struct {
		name                   string
		count                  int64
		countMed, countMax     time.Duration
		previewMed, previewMax time.Duration
	}
	var rows []row
	var slow []string
	for _, c := range selections(*n) {
		var want int64
		if err := d.SQL.QueryRowContext(ctx, c.check).Scan(&want); err != nil {
			return fmt.Errorf("%s: check: %w", c.name, err)
		}
		var counts, previews []time.Duration
		var got int64
		for i := 0; i <= *runs; i++ {
			t := time.Now()
			if got, err = svc.CountSelection(ctx, c.sel); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			ct := time.Since(t)
			t = time.Now()
			p, err := svc.PreviewSelection(ctx, c.sel, catalog.DefaultSelectionSample)
			if err != nil {
				return fmt.Errorf("%s: preview: %w", c.name, err)
			}
			pt := time.Since(t)
			if p.Count != got || len(p.Sample) != int(min(got, catalog.DefaultSelectionSample)) {
				return fmt.Errorf("%s: preview count %d, sample %d; count %d", c.name, p.Count, len(p.Sample), got)
			}
			if i > 0 { // the first run warms the cache
				counts, previews = append(counts, ct), append(previews, pt)
			}
		}
		if got != want {
			return fmt.Errorf("%s: CountSelection says %d, plain SQL %d", c.name, got, want)
		}
		r := row{name: c.name, count: got, countMed: median(counts), countMax: slices.Max(counts),
			previewMed: median(previews), previewMax: slices.Max(previews)}
		rows = append(rows, r)
		logf("%s: %d, count %s, preview %s", c.name, got, r.countMed, r.previewMed)
		if r.countMed >= *limit {
			slow = append(slow, c.name)
		}
	}
	fmt.Fprintf(stdout, "%d images, %d runs each after one untimed run (median / slowest, ms)\n\n", *n, *runs)
	fmt.Fprintln(stdout, "| selection | matches | count | preview (count, unmeasured, 12 newest) |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %d | %s / %s | %s / %s |\n", r.name, r.count, ms(r.countMed), ms(r.countMax), ms(r.previewMed), ms(r.previewMax))
	}
	if len(slow) > 0 {
		return fmt.Errorf("counts at or over %s: %s", *limit, strings.Join(slow, "; "))
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// load fills images, image_meta and renditions. hashint4 gives each image's pseudo-random
// draws; g is the image number.
func load(ctx context.Context, d *db.DB, n int, listingHash string, logf func(string, ...any)) error {
	steps := []struct{ name, sql string }{
		{"images", fmt.Sprintf(`
INSERT INTO images (id, sha256, sku, width, height, format, bytes, source_url, quality, created_at,
	sharpness, jpeg_quality, plain_background, has_alpha)
SELECT 'img_' || lpad(to_hex(g), 24, '0'), sha, sku, w, h, fmt, bytes, '',
	CASE WHEN measured THEN json_build_object('width', w, 'height', h, 'format', fmt, 'bytes', bytes,
		'has_alpha', alpha = 1, 'sharpness', sharp, 'jpeg_quality', jq, 'plain_background', plain = 1)::text END,
	1700000000000000000 + g::bigint * 1000000000,
	CASE WHEN measured THEN sharp END, CASE WHEN measured AND fmt = 'jpeg' THEN jq END,
	CASE WHEN measured THEN plain END, CASE WHEN measured THEN alpha END
FROM (
	SELECT g, md5(g::text) || md5((-g)::text) AS sha,
		(ARRAY['SHOE', 'BAG', 'HAT', 'BELT', 'SOCK'])[1 + g %% 5] || '-' || lpad((g / 5)::text, 7, '0') AS sku,
		400 + abs(hashint4(g)) %% 3600 AS w, 400 + abs(hashint4(g + %[1]d)) %% 3600 AS h,
		(ARRAY['jpeg', 'jpeg', 'jpeg', 'jpeg', 'jpeg', 'jpeg', 'jpeg', 'png', 'png', 'webp'])[1 + abs(hashint4(g * 3)) %% 10] AS fmt,
		20000 + abs(hashint4(g * 5)) %% 8000000 AS bytes,
		abs(hashint4(g * 7)) %% 20 <> 0 AS measured,
		(abs(hashint4(g * 11)) %% 1000) / 1000.0 AS sharp,
		40 + abs(hashint4(g * 13)) %% 60 AS jq,
		(abs(hashint4(g * 17)) %% 3 = 0)::int AS plain,
		(abs(hashint4(g * 19)) %% 10 = 0)::int AS alpha
	FROM generate_series(1, %[1]d) g) s`, n)},
		{"image_meta: category", `
INSERT INTO image_meta (image_id, key, value, num)
SELECT id, 'category', 'cat-' || (abs(hashint8(created_at)) % 50), NULL FROM images`},
		{"image_meta: brand", `
INSERT INTO image_meta (image_id, key, value, num)
SELECT id, 'brand', 'brand-' || (abs(hashint8(created_at + 1)) % 500), NULL FROM images`},
		{"image_meta: price", `
INSERT INTO image_meta (image_id, key, value, num)
SELECT id, 'price', p::text, p FROM (SELECT id, (abs(hashint8(created_at + 2)) % 20000) / 100.0 AS p FROM images) s`},
		{"renditions", fmt.Sprintf(`
INSERT INTO renditions (id, source_sha256, recipe_hash, output, format, object_key, width, height, bytes, recipe, created_at, review)
SELECT 'rnd_' || substr(sha256, 1, 24), sha256, '%s', 'main', 'jpeg', 'k/' || sha256, 800, 800, 50000, '{}', created_at,
	CASE WHEN abs(hashint8(created_at + 3)) %% 10 = 0 THEN 'rejected' ELSE '' END
FROM images WHERE abs(hashint8(created_at + 4)) %% 10 < 3`, listingHash)},
		{"analyze", `ANALYZE`},
	}
	for _, s := range steps {
		t := time.Now()
		if _, err := d.SQL.ExecContext(ctx, s.sql); err != nil {
			return fmt.Errorf("load %s: %w", s.name, err)
		}
		logf("load %s: %s", s.name, time.Since(t).Round(time.Millisecond))
	}
	return nil
}
