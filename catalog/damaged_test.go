package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
)

// tailDamagedJPEG makes a w x h baseline JPEG of even texture whose scan ends early,
// inside its last row of blocks: the data is cut at 97.5 % and the end-of-image
// marker follows, so libjpeg warns of a premature end of a data segment there.
func tailDamagedJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8((x*31 + y*17 + (x*y)%13*9) % 256)
			img.Set(x, y, color.RGBA{v, 255 - v, uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	sos := bytes.Index(b, []byte{0xff, 0xda})
	if sos < 0 || !bytes.HasSuffix(b, []byte{0xff, 0xd9}) {
		t.Fatal("no scan in the JPEG made")
	}
	start := sos + 2 + (int(b[sos+2])<<8 | int(b[sos+3]))
	cut := start + (len(b)-2-start)*975/1000
	for b[cut-1] == 0xff { // not inside a stuffed 0xff 0x00
		cut--
	}
	return append(append([]byte(nil), b[:cut]...), 0xff, 0xd9)
}

// TestDamagedTailAnswered: an original whose last rows do not decode can be stored by
// an ingest that decodes it shrunk (libvips 8.14 checks libjpeg's warnings only before
// each strip it reads, so damage in the last strip of a shrunk decode passes). GET of
// the image must then answer it, saying why it has no quality report, and a render
// that decodes it in full must refuse it as undecodable, not fail as an internal error.
func TestDamagedTailAnswered(t *testing.T) {
	t.Parallel()
	data := tailDamagedJPEG(t, 640, 400)
	// The premise: decoded in full (by Load, or by the encoder), the source fails.
	im, err := imaging.Load(data, imaging.LoadOptions{})
	if err == nil {
		_, err = im.Encode(imaging.EncodeOptions{Format: imaging.PNG})
		im.Close()
	}
	if !errors.Is(err, imaging.ErrCorrupt) {
		t.Fatalf("full decode: %v, want ErrCorrupt (the damage is not where it was meant to be)", err)
	}

	b := setup(t, backends()[0])
	ctx := context.Background()
	small := `{"steps":[{"op":"resize","width":100,"height":100,"fit":"inside"}],"outputs":[{"name":"main","format":"jpeg"}]}`
	res, err := b.svc.Ingest(ctx, catalog.IngestRequest{Data: data, Recipe: catalog.RecipeRef{Inline: []byte(small)}})
	if errors.Is(err, imaging.ErrCorrupt) {
		t.Skip("this libvips refuses the damage on a shrunk decode too: nothing is stored")
	}
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	img, err := b.svc.GetImage(ctx, res.Image.ID)
	if err != nil {
		t.Fatalf("GetImage: %v, want the image", err)
	}
	if img.ID != res.Image.ID || img.Width != 640 || img.Quality != nil || img.QualityError == "" {
		t.Errorf("GetImage = %+v, want the 640 px image, no quality, a quality error", img)
	}
	large := `{"steps":[{"op":"resize","width":600,"height":600,"fit":"inside"}],"outputs":[{"name":"main","format":"png"}]}`
	if _, err := b.svc.Render(ctx, res.Image.ID, catalog.RecipeRef{Inline: []byte(large)}, nil); !errors.Is(err, imaging.ErrCorrupt) {
		t.Errorf("full-size render: %v, want ErrCorrupt", err)
	}
}
