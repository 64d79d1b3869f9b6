package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
)

// noisyJPEG is a w x h JPEG of seeded noise at quality q: busy, sharp, no plain background.
func noisyJPEG(t testing.TB, w, h, q int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// opaquePNG is a w x h opaque PNG of seeded noise.
func opaquePNG(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ptr[T any](v T) *T { return &v }

const thumbsRecipe = `{"steps":[{"op":"resize","width":64,"height":64,"fit":"inside"}],"outputs":[{"name":"t","format":"jpeg","quality":70}]}`

// fixture is a catalog of varied images with metadata, some with renditions of "thumbs".
type fixture struct {
	b      bundle
	images map[string]catalog.Image // by SKU, as GetImage returns them after the set-up
	order  []string                 // SKUs in ingest order
}

func newFixture(t *testing.T, be backend) fixture {
	t.Helper()
	b := setup(t, be)
	ctx := context.Background()
	if _, _, err := b.svc.PutRecipe(ctx, "thumbs", []byte(thumbsRecipe)); err != nil {
		t.Fatal(err)
	}
	items := []struct {
		sku    string
		data   []byte
		meta   map[string]string
		recipe string // inline recipe at ingest: no quality report
	}{
		{"A-1", productJPEG(t, 400, 300), map[string]string{"Category": "shoes", "brand": "acme", "price": "19.99"}, ""},
		{"A-2", productJPEG(t, 300, 500), map[string]string{"category": "shoes", "brand": "zenith", "price": " 45 "}, ""},
		{"A-10", noisyJPEG(t, 900, 600, 50, 1), map[string]string{"category": "bags", "brand": "acme", "price": "n/a"}, ""},
		{"AB-1", productJPEG(t, 150, 150), map[string]string{"category": "hats"}, ""},
		{"B-1", smallPNG(t), map[string]string{"category": "bags", "price": "120"}, ""},
		{"B-2", productJPEG(t, 1000, 800), map[string]string{"category": "shoes"}, `{"outputs":[{"name":"x","format":"png"}]}`},
		{"C-1", opaquePNG(t, 200, 200, 3), nil, ""},
	}
	f := fixture{b: b, images: map[string]catalog.Image{}}
	for _, it := range items {
		req := catalog.IngestRequest{Data: it.data, SKU: it.sku, Meta: it.meta}
		if it.recipe != "" {
			req.Recipe = catalog.RecipeRef{Inline: []byte(it.recipe)}
		}
		res, err := b.svc.Ingest(ctx, req)
		if err != nil {
			t.Fatalf("ingest %s: %v", it.sku, err)
		}
		f.order = append(f.order, it.sku)
		f.images[it.sku] = res.Image
	}
	for _, sku := range []string{"A-1", "A-2", "C-1"} {
		if _, err := b.svc.Render(ctx, f.images[sku].ID, catalog.RecipeRef{Name: "thumbs"}, nil); err != nil {
			t.Fatalf("render %s: %v", sku, err)
		}
	}
	// A rejected rendition does not count: A-2's is rejected.
	if _, err := b.db.SQL.ExecContext(ctx, b.db.Rebind(`UPDATE renditions SET review = 'rejected' WHERE source_sha256 = ?`), f.images["A-2"].SHA256); err != nil {
		t.Fatal(err)
	}
	for sku, img := range f.images {
		got, err := b.svc.ImageByID(ctx, img.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.images[sku] = got
	}
	return f
}

// skus maps images to their SKUs, sorted.
func skus(imgs []catalog.Image) []string {
	out := make([]string, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, img.SKU)
	}
	slices.Sort(out)
	return out
}

// where returns the fixture's SKUs whose image satisfies keep, sorted.
func (f fixture) where(keep func(catalog.Image) bool) []string {
	var out []string
	for _, sku := range f.order {
		if keep(f.images[sku]) {
			out = append(out, sku)
		}
	}
	slices.Sort(out)
	return out
}

func TestSelectionConditions(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, be)
			ctx := context.Background()
			q := func(sku string) *catalog.QualityReport { return f.images[sku].Quality }
			if q("B-2") != nil {
				t.Fatalf("B-2 was ingested with a recipe and should have no quality report, got %+v", q("B-2"))
			}
			if !q("A-1").PlainBackground || q("A-10").PlainBackground || q("A-10").JPEGQuality == 0 {
				t.Fatalf("fixture reports: A-1 %+v, A-10 %+v: want A-1 plain, A-10 busy with a JPEG quality", q("A-1"), q("A-10"))
			}
			// A sharpness threshold between the plain shots and the noise.
			sharpMid := (q("A-1").Sharpness + q("A-10").Sharpness) / 2
			shorter := func(img catalog.Image) int { return min(img.Width, img.Height) }
			longer := func(img catalog.Image) int { return max(img.Width, img.Height) }
			after := f.images["A-10"].CreatedAt
			tests := []struct {
				name string
				sel  catalog.Selection
				want []string
			}{
				{"everything", catalog.Selection{}, f.where(func(catalog.Image) bool { return true })},
				{"ids", catalog.Selection{IDs: []string{f.images["A-2"].ID, f.images["C-1"].ID, "img_unknown"}}, []string{"A-2", "C-1"}},
				{"skus", catalog.Selection{SKUs: []string{"A-1", "B-2", "Z-9"}}, []string{"A-1", "B-2"}},
				{"sku prefix", catalog.Selection{SKUPrefix: "A-"}, []string{"A-1", "A-10", "A-2"}},
				{"sku prefix A", catalog.Selection{SKUPrefix: "A"}, []string{"A-1", "A-10", "A-2", "AB-1"}},
				{"meta one value, key in any case", catalog.Selection{Meta: map[string][]string{"CATEGORY": {"shoes"}}}, []string{"A-1", "A-2", "B-2"}},
				{"meta any of", catalog.Selection{Meta: map[string][]string{"category": {"hats", "bags"}}}, []string{"A-10", "AB-1", "B-1"}},
				{"meta value is exact", catalog.Selection{Meta: map[string][]string{"category": {"Shoes"}}}, nil},
				{"meta range", catalog.Selection{MetaRange: map[string]catalog.Range{"price": {Min: ptr(10.0), Max: ptr(50.0)}}}, []string{"A-1", "A-2"}},
				{"meta range inclusive", catalog.Selection{MetaRange: map[string]catalog.Range{"price": {Min: ptr(45.0), Max: ptr(120.0)}}}, []string{"A-2", "B-1"}},
				{"meta range open max", catalog.Selection{MetaRange: map[string]catalog.Range{"price": {Min: ptr(20.0)}}}, []string{"A-2", "B-1"}},
				{"meta missing", catalog.Selection{MetaMissing: []string{"Price"}}, []string{"AB-1", "B-2", "C-1"}},
				{"width", catalog.Selection{Width: &catalog.Range{Min: ptr(300.0), Max: ptr(900.0)}}, f.where(func(i catalog.Image) bool { return i.Width >= 300 && i.Width <= 900 })},
				{"height fractional bounds", catalog.Selection{Height: &catalog.Range{Min: ptr(299.5), Max: ptr(500.5)}}, f.where(func(i catalog.Image) bool { return i.Height >= 300 && i.Height <= 500 })},
				{"shorter side max 199", catalog.Selection{ShorterSide: &catalog.Range{Max: ptr(199.0)}}, f.where(func(i catalog.Image) bool { return shorter(i) <= 199 })},
				{"longer side", catalog.Selection{LongerSide: &catalog.Range{Min: ptr(500.0)}}, f.where(func(i catalog.Image) bool { return longer(i) >= 500 })},
				{"bytes", catalog.Selection{Bytes: &catalog.Range{Max: ptr(float64(f.images["A-1"].Bytes))}}, f.where(func(i catalog.Image) bool { return i.Bytes <= f.images["A-1"].Bytes })},
				{"sharpness", catalog.Selection{Sharpness: &catalog.Range{Max: ptr(sharpMid)}}, f.where(func(i catalog.Image) bool { return i.Quality != nil && i.Quality.Sharpness <= sharpMid })},
				{"jpeg quality", catalog.Selection{JPEGQuality: &catalog.Range{Max: ptr(60.0)}}, f.where(func(i catalog.Image) bool {
					return i.Quality != nil && i.Quality.JPEGQuality > 0 && i.Quality.JPEGQuality <= 60
				})},
				{"plain background false", catalog.Selection{PlainBackground: ptr(false)}, f.where(func(i catalog.Image) bool { return i.Quality != nil && !i.Quality.PlainBackground })},
				{"has alpha", catalog.Selection{HasAlpha: ptr(true)}, f.where(func(i catalog.Image) bool { return i.Quality != nil && i.Quality.HasAlpha })},
				{"formats", catalog.Selection{Formats: []string{"PNG", "jpg"}}, f.where(func(catalog.Image) bool { return true })},
				{"format png", catalog.Selection{Formats: []string{"png"}}, []string{"B-1", "C-1"}},
				{"ingested after", catalog.Selection{IngestedAfter: &after}, f.where(func(i catalog.Image) bool { return !i.CreatedAt.Before(after) })},
				{"ingested before", catalog.Selection{IngestedBefore: &after}, f.where(func(i catalog.Image) bool { return i.CreatedAt.Before(after) })},
				{"has rendition", catalog.Selection{HasRendition: "thumbs"}, []string{"A-1", "C-1"}},
				{"lacks rendition", catalog.Selection{LacksRendition: "thumbs"}, []string{"A-10", "A-2", "AB-1", "B-1", "B-2"}},
				{"combined: brand and price band", catalog.Selection{
					Meta:      map[string][]string{"brand": {"acme", "zenith"}},
					MetaRange: map[string]catalog.Range{"price": {Min: ptr(10.0), Max: ptr(50.0)}},
					SKUPrefix: "A-", LacksRendition: "thumbs",
				}, []string{"A-2"}},
				{"combined: quality and meta", catalog.Selection{Meta: map[string][]string{"category": {"bags"}}, PlainBackground: ptr(false), Formats: []string{"jpeg"}}, []string{"A-10"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if len(tt.want) == len(f.order) && !tt.sel.IsZero() && tt.name != "formats" {
						t.Fatalf("case selects every image: it cannot tell a working condition from an ignored one")
					}
					if len(tt.want) == 0 && tt.name != "meta value is exact" {
						t.Fatalf("case selects nothing: it cannot tell a working condition from one that matches nothing")
					}
					n, err := f.b.svc.CountSelection(ctx, tt.sel)
					if err != nil {
						t.Fatal(err)
					}
					if n != int64(len(tt.want)) {
						t.Errorf("count: got %d, want %d (%v)", n, len(tt.want), tt.want)
					}
					imgs, next, err := f.b.svc.ListImages(ctx, catalog.ListImagesQuery{Selection: tt.sel, Limit: 200})
					if err != nil {
						t.Fatal(err)
					}
					if got := skus(imgs); !slices.Equal(got, tt.want) {
						t.Errorf("list: got %v, want %v", got, tt.want)
					}
					if next != "" {
						t.Errorf("next cursor: got %q, want none", next)
					}
				})
			}
		})
	}
}

func TestSelectionPreviewAndPaging(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, be)
			ctx := context.Background()

			// Preview: count, unmeasured, the newest first, with metadata.
			p, err := f.b.svc.PreviewSelection(ctx, catalog.Selection{Meta: map[string][]string{"category": {"shoes"}}, PlainBackground: ptr(true)}, 12)
			if err != nil {
				t.Fatal(err)
			}
			if p.Count != 2 || p.Unmeasured != 1 || len(p.Sample) != 2 {
				t.Fatalf("preview: got count %d unmeasured %d sample %v, want 2, 1 (B-2 has no report), 2", p.Count, p.Unmeasured, skus(p.Sample))
			}
			if p.Sample[0].SKU != "A-2" || p.Sample[1].SKU != "A-1" {
				t.Errorf("sample order: got %s, %s, want A-2, A-1 (newest first)", p.Sample[0].SKU, p.Sample[1].SKU)
			}
			if got := p.Sample[0].Meta; got["brand"] != "zenith" || got["category"] != "shoes" || got["price"] != " 45 " {
				t.Errorf("sample meta: got %v, want brand zenith, category shoes, price \" 45 \"", got)
			}
			p, err = f.b.svc.PreviewSelection(ctx, catalog.Selection{SKUPrefix: "A"}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if p.Count != 4 || p.Unmeasured != 0 || len(p.Sample) != 2 || p.Sample[0].SKU != "AB-1" {
				t.Errorf("preview of 4 with sample 2: got count %d unmeasured %d sample %v, want 4, 0, [AB-1 A-10]", p.Count, p.Unmeasured, skus(p.Sample))
			}
			if p, err = f.b.svc.PreviewSelection(ctx, catalog.Selection{SKUPrefix: "A"}, 0); err != nil || p.Count != 4 || len(p.Sample) != 0 {
				t.Errorf("count-only preview: got %+v, %v, want count 4 and no sample", p, err)
			}
			for _, n := range []int{-1, 51} {
				if _, err := f.b.svc.PreviewSelection(ctx, catalog.Selection{}, n); !errors.Is(err, catalog.ErrInvalid) {
					t.Errorf("sample %d: got %v, want ErrInvalid", n, err)
				}
			}

			// Paging a selection two at a time visits each match once, in ingest order.
			sel := catalog.Selection{LacksRendition: "thumbs"}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				imgs, next, err := f.b.svc.ListImages(ctx, catalog.ListImagesQuery{Selection: sel, Cursor: cursor, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				if len(imgs) > 2 {
					t.Fatalf("page of %d, want at most 2", len(imgs))
				}
				for _, img := range imgs {
					got = append(got, img.SKU)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			want := []string{"A-2", "A-10", "AB-1", "B-1", "B-2"}
			if !slices.Equal(got, want) {
				t.Errorf("pages: got %v, want %v", got, want)
			}
			// The old SKU filter still works, with a selection too.
			imgs, _, err := f.b.svc.ListImages(ctx, catalog.ListImagesQuery{SKU: "A-10", Selection: catalog.Selection{SKUPrefix: "A"}})
			if err != nil || len(imgs) != 1 || imgs[0].SKU != "A-10" || imgs[0].Meta["brand"] != "acme" {
				t.Errorf("list sku A-10: got %v, %v, want A-10 with its meta", skus(imgs), err)
			}

			// A new version of the recipe has no renditions yet.
			if _, _, err := f.b.svc.PutRecipe(ctx, "thumbs", []byte(strings.Replace(thumbsRecipe, `"quality":70`, `"quality":71`, 1))); err != nil {
				t.Fatal(err)
			}
			if n, err := f.b.svc.CountSelection(ctx, catalog.Selection{HasRendition: "thumbs"}); err != nil || n != 0 {
				t.Errorf("has_rendition after the recipe changed: got %d, %v, want 0", n, err)
			}
		})
	}
}

func TestSelectionInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	ctx := context.Background()
	long := strings.Repeat("x", 129)
	ids := make([]string, catalog.MaxSelectionIDs+1)
	for i := range ids {
		ids[i] = "img"
	}
	now := time.Now()
	tests := []struct {
		name, field string
		sel         catalog.Selection
	}{
		{"too many ids", "ids", catalog.Selection{IDs: ids}},
		{"empty sku", "skus", catalog.Selection{SKUs: []string{""}}},
		{"long prefix", "sku_prefix", catalog.Selection{SKUPrefix: long}},
		{"bad meta key", "meta", catalog.Selection{Meta: map[string][]string{"a/b": {"x"}}}},
		{"meta without values", "meta.brand", catalog.Selection{Meta: map[string][]string{"Brand": {}}}},
		{"empty range", "width", catalog.Selection{Width: &catalog.Range{}}},
		{"upside-down range", "sharpness", catalog.Selection{Sharpness: &catalog.Range{Min: ptr(0.5), Max: ptr(0.1)}}},
		{"upside-down meta range", "meta_range.price", catalog.Selection{MetaRange: map[string]catalog.Range{"price": {Min: ptr(5.0), Max: ptr(1.0)}}}},
		{"bad missing key", "meta_missing", catalog.Selection{MetaMissing: []string{" "}}},
		{"unknown format", "formats", catalog.Selection{Formats: []string{"bmp"}}},
		{"times upside down", "ingested_after", catalog.Selection{IngestedAfter: &now, IngestedBefore: &now}},
		{"bad recipe name", "has_rendition", catalog.Selection{HasRendition: "No Such/Name"}},
		{"unknown recipe", "lacks_rendition", catalog.Selection{LacksRendition: "nosuch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.svc.CountSelection(ctx, tt.sel)
			if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want ErrInvalid naming %s", err, tt.field)
			}
			if _, _, err := b.svc.ListImages(ctx, catalog.ListImagesQuery{Selection: tt.sel}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("list: got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSelectionJSON(t *testing.T) {
	t.Parallel()
	var sel catalog.Selection
	in := `{"meta":{"category":"shoes","brand":["a","b"]},"width":{"min":10},"plain_background":false,"ingested_after":"2024-01-02T03:04:05Z"}`
	if err := sel.UnmarshalJSON([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sel.Meta["category"], []string{"shoes"}) || !slices.Equal(sel.Meta["brand"], []string{"a", "b"}) ||
		sel.Width == nil || *sel.Width.Min != 10 || sel.PlainBackground == nil || *sel.PlainBackground || sel.IngestedAfter.Year() != 2024 {
		t.Errorf("decoded %+v", sel)
	}
	for _, bad := range []string{`{"colour":"red"}`, `{"meta":{"a":1}}`, `{"width":{"min":1,"avg":2}}`, `{"meta":{"a":[1]}}`} {
		if err := new(catalog.Selection).UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s: got no error, want one", bad)
		}
	}
}

func TestImageMeta(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, be)
			ctx := context.Background()
			res, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100), SKU: "M-1", Meta: map[string]string{" Colour ": "red"}})
			if err != nil {
				t.Fatal(err)
			}
			id := res.Image.ID
			if got := res.Image.Meta; len(got) != 1 || got["colour"] != "red" {
				t.Fatalf("ingest meta: got %v, want colour=red", got)
			}
			// Merge: set, replace, delete; the same change twice gives the same image.
			img, err := b.svc.SetImageMeta(ctx, id, map[string]*string{"Size": ptr("10"), "brand": ptr("Acme")})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"colour": "red", "size": "10", "brand": "Acme"}; !mapsEqual(img.Meta, want) {
				t.Fatalf("after set: got %v, want %v", img.Meta, want)
			}
			for range 2 {
				if img, err = b.svc.SetImageMeta(ctx, id, map[string]*string{"COLOUR": nil, "size": ptr("12.5")}); err != nil {
					t.Fatal(err)
				}
				if want := map[string]string{"size": "12.5", "brand": "Acme"}; !mapsEqual(img.Meta, want) {
					t.Fatalf("after delete: got %v, want %v", img.Meta, want)
				}
			}
			if n, _ := b.svc.CountSelection(ctx, catalog.Selection{MetaRange: map[string]catalog.Range{"size": {Min: ptr(12.5), Max: ptr(12.5)}}}); n != 1 {
				t.Errorf("size 12.5 as a number: got %d images, want 1", n)
			}
			// A re-ingest of the same image merges its meta.
			res, err = b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 200, 100), SKU: "M-1", Meta: map[string]string{"brand": "Other"}})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"size": "12.5", "brand": "Other"}; !mapsEqual(res.Image.Meta, want) {
				t.Errorf("after re-ingest: got %v, want %v", res.Image.Meta, want)
			}
			if got, err := b.svc.GetImage(ctx, id); err != nil || got.Meta["brand"] != "Other" {
				t.Errorf("GetImage meta: got %v, %v", got.Meta, err)
			}

			// Limits.
			bad := []map[string]*string{
				{"": ptr("x")},
				{"-lead": ptr("x")},
				{"a/b": ptr("x")},
				{strings.Repeat("k", 65): ptr("x")},
				{"k": ptr(strings.Repeat("v", 1025))},
				{"k": ptr("\xff\xfe")},
				{"Dup": ptr("1"), "dup": ptr("2")},
			}
			for _, set := range bad {
				if _, err := b.svc.SetImageMeta(ctx, id, set); !errors.Is(err, catalog.ErrInvalid) {
					t.Errorf("set %v: got %v, want ErrInvalid", set, err)
				}
			}
			if _, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 20, 10), Meta: map[string]string{"a b/c": "x"}}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("ingest with a bad key: got %v, want ErrInvalid", err)
			}
			if _, err := b.svc.SetImageMeta(ctx, "img_nosuch", map[string]*string{"a": ptr("b")}); !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("unknown image: got %v, want ErrNotFound", err)
			}
			// 64 keys in all is the limit, counted after the merge; a failed change changes nothing.
			many := map[string]*string{}
			for i := range 62 {
				many["k"+string(rune('a'+i/26))+string(rune('a'+i%26))] = ptr("v")
			}
			if img, err = b.svc.SetImageMeta(ctx, id, many); err != nil || len(img.Meta) != 64 {
				t.Fatalf("64 keys: got %d keys, %v, want 64 and no error", len(img.Meta), err)
			}
			if _, err := b.svc.SetImageMeta(ctx, id, map[string]*string{"one more": ptr("v")}); !errors.Is(err, catalog.ErrInvalid) {
				t.Errorf("65th key: got %v, want ErrInvalid", err)
			}
			if img, err = b.svc.SetImageMeta(ctx, id, map[string]*string{"one more": ptr("v"), "size": nil}); err != nil || len(img.Meta) != 64 || img.Meta["one more"] != "v" {
				t.Errorf("swap a key: got %d keys, %v, want 64 with 'one more'", len(img.Meta), err)
			}
			if got, _ := b.svc.ImageByID(ctx, id); len(got.Meta) != 64 {
				t.Errorf("stored keys: got %d, want 64", len(got.Meta))
			}

			// SetImageMetaTx joins the caller's transaction: a rollback leaves nothing.
			for _, commit := range []bool{false, true} {
				tx, err := b.db.SQL.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := b.svc.SetImageMetaTx(ctx, tx, id, map[string]*string{"brand": ptr("Tx")}); err != nil {
					tx.Rollback()
					t.Fatal(err)
				}
				if commit {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
				got, _ := b.svc.ImageByID(ctx, id)
				if want := map[bool]string{false: "Other", true: "Tx"}[commit]; got.Meta["brand"] != want {
					t.Errorf("commit %v: brand %q, want %q", commit, got.Meta["brand"], want)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestQualityColumnsBackfill takes a catalog back to before migration 6, records an
// image with a quality report as the old code did (JSON only) and one without, and
// migrates again: the columns are filled from the JSON, and the lazy report of GetImage
// fills them for the other.
func TestQualityColumnsBackfill(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, be)
			d := b.db
			ctx := context.Background()
			withReport, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 300, 200), SKU: "Q-1"})
			if err != nil {
				t.Fatal(err)
			}
			noReport, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: noisyJPEG(t, 120, 90, 40, 7), SKU: "Q-2",
				Recipe: catalog.RecipeRef{Inline: []byte(thumbsRecipe)}})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`DROP INDEX image_meta_key_value`, `DROP INDEX image_meta_key_num`, `DROP TABLE image_meta`,
				`ALTER TABLE images DROP COLUMN sharpness`, `ALTER TABLE images DROP COLUMN jpeg_quality`,
				`ALTER TABLE images DROP COLUMN plain_background`, `ALTER TABLE images DROP COLUMN has_alpha`,
				`DELETE FROM schema_migrations WHERE owner = 'catalog' AND version = 6`,
			} {
				if _, err := d.SQL.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if d.Dialect == db.Postgres {
				if _, err := d.SQL.ExecContext(ctx, `DROP INDEX images_sku_bytes`); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.svc.Init(ctx); err != nil { // migrates to 6 again
				t.Fatal(err)
			}
			rep := withReport.Image.Quality
			var (
				sharp          *float64
				jq, plain, alp *int
			)
			err = d.SQL.QueryRowContext(ctx, d.Rebind(`SELECT sharpness, jpeg_quality, plain_background, has_alpha FROM images WHERE id = ?`),
				withReport.Image.ID).Scan(&sharp, &jq, &plain, &alp)
			if err != nil {
				t.Fatal(err)
			}
			if sharp == nil || *sharp != rep.Sharpness || jq == nil || *jq != rep.JPEGQuality || plain == nil || *plain != 1 || alp == nil || *alp != 0 {
				t.Errorf("backfilled columns: sharpness %v jpeg_quality %v plain %v alpha %v, want %v %d 1 0", deref(sharp), deref(jq), deref(plain), deref(alp), rep.Sharpness, rep.JPEGQuality)
			}
			sel := catalog.Selection{PlainBackground: ptr(true), Formats: []string{"jpeg"}}
			if p, err := b.svc.PreviewSelection(ctx, sel, 5); err != nil || p.Count != 1 || p.Unmeasured != 1 {
				t.Fatalf("before the lazy report: got %+v, %v, want count 1 (Q-1) and 1 unmeasured (Q-2)", p, err)
			}
			img, err := b.svc.GetImage(ctx, noReport.Image.ID)
			if err != nil || img.Quality == nil {
				t.Fatalf("lazy report: %v %+v", err, img)
			}
			want := int64(1)
			if img.Quality.PlainBackground {
				want = 2
			}
			if p, err := b.svc.PreviewSelection(ctx, sel, 5); err != nil || p.Count != want || p.Unmeasured != 0 {
				t.Errorf("after the lazy report: got %+v, %v, want count %d and none unmeasured", p, err, want)
			}
			if n, err := b.svc.CountSelection(ctx, catalog.Selection{JPEGQuality: &catalog.Range{Min: ptr(float64(img.Quality.JPEGQuality)), Max: ptr(float64(img.Quality.JPEGQuality))}, SKUs: []string{"Q-2"}}); err != nil || n != 1 {
				t.Errorf("Q-2 by its JPEG quality %d: got %d, %v, want 1", img.Quality.JPEGQuality, n, err)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
