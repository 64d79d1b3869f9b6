package imaging

import "testing"

func TestAlpha(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alpha.png", "photo.jpg"} {
		t.Run(name, func(t *testing.T) {
			im, err := Load(readFile(t, name), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			a, err := im.Alpha()
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Width() != im.Width() || a.Height() != im.Height() || a.ref.Bands() != 1 {
				t.Fatalf("alpha %dx%d bands %d, want %dx%d one band", a.Width(), a.Height(), a.ref.Bands(), im.Width(), im.Height())
			}
			if !im.HasAlpha() {
				p, err := a.pixel(3, 3)
				if err != nil || p[0] != 255 {
					t.Errorf("opaque alpha pixel = %v (%v), want 255", p, err)
				}
			}
		})
	}
}
