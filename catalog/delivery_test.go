package catalog_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

func TestDeliverAndPurge(t *testing.T) {
	t.Parallel()
	b := setup(t, backends()[0])
	ctx := context.Background()
	if _, _, err := b.svc.PutRecipe(ctx, "card", []byte(twoOutputs)); err != nil {
		t.Fatal(err)
	}
	res, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: productJPEG(t, 1600, 1000)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ext string
		accept    []imaging.Format
		width     int
		format    imaging.Format
		w, h      int
	}{
		{"first output as png", "png", nil, 0, imaging.PNG, 800, 500},
		{"auto prefers avif", "auto", []imaging.Format{imaging.WebP, imaging.AVIF}, 0, imaging.AVIF, 800, 500},
		{"auto webp", "auto", []imaging.Format{imaging.WebP}, 0, imaging.WebP, 800, 500},
		{"width override", "jpg", nil, 320, imaging.JPEG, 320, 200},
		{"width over the image's never enlarges", "jpg", nil, 1280, imaging.JPEG, 800, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2 {
				rc, meta, err := b.svc.Deliver(ctx, res.Image.ID, "card", tc.ext, tc.accept, tc.width)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(rc)
				rc.Close()
				info, err := imaging.Probe(data)
				if err != nil || info.Format != tc.format || info.Width != tc.w || info.Height != tc.h {
					t.Errorf("round %d: got %+v (%v), want %s %dx%d", round, info, err, tc.format, tc.w, tc.h)
				}
				if meta.ETag == "" || meta.ContentType != tc.format.ContentType() {
					t.Errorf("meta = %+v", meta)
				}
			}
		})
	}
	if _, _, err := b.svc.Deliver(ctx, res.Image.ID, "card", "gif", nil, 0); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("bad ext: %v, want ErrInvalid", err)
	}
	if _, _, err := b.svc.Deliver(ctx, res.Image.ID, "nope", "png", nil, 0); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown recipe: %v, want ErrNotFound", err)
	}
	before := runs(t, b)
	n, err := b.svc.PurgeRenditions(ctx, res.Image.ID)
	if err != nil || n != len(cases) {
		t.Fatalf("purge removed %d (%v), want %d (one per delivered variant)", n, err, len(cases))
	}
	if n, err := b.svc.PurgeRenditions(ctx, res.Image.ID); err != nil || n != 0 {
		t.Errorf("second purge removed %d (%v), want 0", n, err)
	}
	// After a purge the next request renders again.
	rc, _, err := b.svc.Deliver(ctx, res.Image.ID, "card", "png", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if got := runs(t, b); got != before+1 {
		t.Errorf("runs %v -> %v, want one more render after purge", before, got)
	}
}
