package imaging

import (
	"errors"
	"testing"
)

func TestMaterialize(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"photo.jpg", "alpha.png", "photo.webp"} {
		t.Run(name, func(t *testing.T) {
			im, err := Load(readFile(t, name), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if err := im.Resize(ResizeOptions{Width: 100, Height: 100, Fit: FitInside}); err != nil {
				t.Fatal(err)
			}
			before, _ := im.pixel(10, 10)
			w, h, alpha := im.Width(), im.Height(), im.HasAlpha()
			if err := im.Materialize(); err != nil {
				t.Fatal(err)
			}
			after, _ := im.pixel(10, 10)
			if im.Width() != w || im.Height() != h || im.HasAlpha() != alpha || string(before) != string(after) {
				t.Errorf("after: %dx%d alpha %v pixel %v, want %dx%d alpha %v pixel %v", im.Width(), im.Height(), im.HasAlpha(), after, w, h, alpha, before)
			}
			for range 2 {
				data, err := im.Encode(EncodeOptions{Format: PNG})
				if err != nil {
					t.Fatal(err)
				}
				if info, err := Probe(data); err != nil || info.Width != w {
					t.Errorf("encode after materialize: %+v %v", info, err)
				}
			}
			if im.SourceFormat() == TIFF {
				t.Error("source format became TIFF")
			}
		})
	}
	t.Run("truncated source", func(t *testing.T) {
		im, err := Load(readFile(t, "truncated.jpg"), LoadOptions{})
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				return
			}
			t.Fatal(err)
		}
		defer im.Close()
		if err := im.Materialize(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("got %v, want ErrCorrupt", err)
		}
	})
}
