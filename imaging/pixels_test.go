package imaging

import (
	"image"
	"image/color"
	"testing"
)

// patterned is a w x h RGBA image whose every pixel differs from its neighbours, with
// alpha varying too when alpha is set.
func patterned(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha {
				a = uint8(x*5 + y*3)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 11), uint8(x + y), a})
		}
	}
	return img
}

func TestSamplePicksEveryStepthPixel(t *testing.T) {
	t.Parallel()
	const w, h = 101, 67
	for _, alpha := range []bool{false, true} {
		src := patterned(w, h, alpha)
		var im *Image
		if alpha {
			im = mustLoad(t, pngOf(t, src), LoadOptions{})
		} else {
			rgb := image.NewRGBA(src.Rect)
			for i := 0; i < len(src.Pix); i += 4 {
				copy(rgb.Pix[i:i+3], src.Pix[i:i+3])
				rgb.Pix[i+3] = 255
			}
			im = mustLoad(t, pngOf(t, rgb), LoadOptions{})
		}
		for _, step := range []int{1, 2, 3, 7} {
			// stripBytes of one row reads the image in strips of step rows.
			for _, strip := range []int{sampleStripBytes, 1} {
				sw, sh, pix, err := im.sample(step, false, strip)
				if err != nil {
					t.Fatal(err)
				}
				if sw != (w+step-1)/step || sh != (h+step-1)/step || len(pix) != sw*sh*4 {
					t.Fatalf("alpha %v step %d: %dx%d with %d bytes", alpha, step, sw, sh, len(pix))
				}
				for sy := range sh {
					for sx := range sw {
						want := src.NRGBAAt(sx*step, sy*step)
						if !alpha {
							want.A = 255
						}
						i := (sy*sw + sx) * 4
						got := color.NRGBA{pix[i], pix[i+1], pix[i+2], pix[i+3]}
						if got != want {
							t.Fatalf("alpha %v step %d strip %d: sample (%d,%d) = %v, want source (%d,%d) = %v",
								alpha, step, strip, sx, sy, got, sx*step, sy*step, want)
						}
					}
				}
			}
		}
	}
	if _, _, _, err := mustLoad(t, pngOf(t, patterned(4, 4, false)), LoadOptions{}).Sample(0, false); err == nil {
		t.Error("step 0 sampled")
	}
}

func TestSampleGrayMatchesPickGray(t *testing.T) {
	t.Parallel()
	const w, h = 90, 61
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 13)
	}
	im := mustLoad(t, pngOf(t, g), LoadOptions{})
	for _, step := range []int{1, 4, 5} {
		for _, strip := range []int{sampleStripBytes, 1} {
			sw, sh, pix, err := im.sample(step, true, strip)
			if err != nil {
				t.Fatal(err)
			}
			pw, ph, picked, err := PickGray(w, h, g.Pix, step)
			if err != nil {
				t.Fatal(err)
			}
			if sw != pw || sh != ph || string(pix) != string(picked) {
				t.Fatalf("step %d strip %d: Sample %dx%d, PickGray %dx%d; pixels equal %v", step, strip, sw, sh, pw, ph, string(pix) == string(picked))
			}
		}
	}
	if _, _, _, err := PickGray(w, h, g.Pix[1:], 2); err == nil {
		t.Error("PickGray took too few pixels")
	}
}

func TestSettleGrayKeepsThePixels(t *testing.T) {
	t.Parallel()
	const w, h = 80, 60
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 20; y < 40; y++ {
		for x := 20; x < 60; x++ {
			g.Pix[y*w+x] = 255
		}
	}
	mask, err := NewImageFromGray(w, h, g.Pix)
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	if err := mask.ref.GaussianBlur(2); err != nil { // a feathered mask: a lazy operation
		t.Fatal(err)
	}
	_, _, before, err := mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	sw, sh, settled, err := mask.SettleGray()
	if err != nil {
		t.Fatal(err)
	}
	_, _, after, err := mask.Gray()
	if err != nil {
		t.Fatal(err)
	}
	if sw != w || sh != h || string(settled) != string(before) || string(after) != string(before) {
		t.Fatalf("settled %dx%d; returned pixels equal %v, read-back equal %v", sw, sh, string(settled) == string(before), string(after) == string(before))
	}
	if before[30*w+19] == 0 || before[30*w+19] == 255 {
		t.Fatalf("the blur did not run: edge pixel %d", before[30*w+19])
	}
	photo := loadFile(t, "photo.jpg")
	if _, _, _, err := photo.SettleGray(); err != nil || photo.ref.Bands() != 1 {
		t.Errorf("settle a colour image: %v, %d bands", err, photo.ref.Bands())
	}
}

func TestSampleAreaAndPickRGB(t *testing.T) {
	t.Parallel()
	const w, h, step = 97, 71, 3
	src := patterned(w, h, false)
	rgbPix := make([]byte, 0, w*h*3)
	for i := 0; i < len(src.Pix); i += 4 {
		rgbPix = append(rgbPix, src.Pix[i], src.Pix[i+1], src.Pix[i+2])
		src.Pix[i+3] = 255
	}
	im := mustLoad(t, pngOf(t, src), LoadOptions{})
	sw, sh, whole, err := im.Sample(step, false)
	if err != nil {
		t.Fatal(err)
	}
	pw, ph, picked, err := PickRGB(w, h, rgbPix, step)
	if err != nil {
		t.Fatal(err)
	}
	if pw != sw || ph != sh || string(picked) != string(whole) {
		t.Fatalf("PickRGB %dx%d differs from Sample %dx%d", pw, ph, sw, sh)
	}
	// An area: its places are the whole sample's places that fall in it.
	area := image.Rect(9, 12, 50, 40)
	aw, ah, got, err := im.SampleArea(step, false, area)
	if err != nil {
		t.Fatal(err)
	}
	if aw != 14 || ah != 10 || len(got) != aw*ah*4 { // x 9..48, y 12..39 every 3rd
		t.Fatalf("area sample %dx%d with %d bytes, want 14x10", aw, ah, len(got))
	}
	for ay := range ah {
		for ax := range aw {
			sx, sy := 3+ax, 4+ay
			if g, w := got[(ay*aw+ax)*4:][:4], whole[(sy*sw+sx)*4:][:4]; string(g) != string(w) {
				t.Fatalf("area place (%d,%d): %v, whole sample %v", ax, ay, g, w)
			}
		}
	}
	// Clipped to the image; empty outside it.
	if aw, ah, _, err := im.SampleArea(step, false, image.Rect(90, 66, 200, 200)); err != nil || aw != 3 || ah != 2 {
		t.Errorf("clipped area: %dx%d %v, want 3x2", aw, ah, err)
	}
	if aw, _, pix, err := im.SampleArea(step, false, image.Rect(300, 300, 400, 400)); err != nil || aw != 0 || pix != nil {
		t.Errorf("area outside: %d %v %v", aw, pix, err)
	}
	if _, _, _, err := im.SampleArea(step, false, image.Rect(1, 0, 10, 10)); err == nil {
		t.Error("an area off the sample grid was taken")
	}
}

func TestMatteSourceHandsBackItsPixels(t *testing.T) {
	t.Parallel()
	const w, h = 120, 90
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 250
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	for y := 30; y < 60; y++ {
		for x := 40; x < 80; x++ {
			img.SetRGBA(x, y, color.RGBA{30, 60, 90, 255})
		}
	}
	im := mustLoad(t, pngOf(t, img), LoadOptions{})
	mask, px, err := im.MatteSource(MatteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mask.Close()
	rgb := px.Source
	_, _, want, err := im.Sample(1, false)
	if err != nil {
		t.Fatal(err)
	}
	_, _, got, err := PickRGB(w, h, rgb, 1)
	if err != nil || string(got) != string(want) {
		t.Fatalf("MatteSource's pixels differ from the image's (%v)", err)
	}
	// The mask's pixels are the mask's.
	if _, _, gray, err := mask.Gray(); err != nil || string(gray) != string(px.Mask) {
		t.Fatalf("MatteSource's mask pixels differ from the mask (%v)", err)
	}
	if _, px, err := im.MatteSource(MatteOptions{Feather: 8}); err != nil || px.Mask != nil {
		t.Errorf("a wide feather, softened lazily by libvips, handed back mask pixels (%v)", err)
	}
	// With alpha the pixels it read are flattened, not the image's own: none are handed back.
	withAlpha := mustLoad(t, pngOf(t, patterned(w, h, true)), LoadOptions{})
	if m, px, err := withAlpha.MatteSource(MatteOptions{}); err == nil {
		m.Close()
		if px.Source != nil {
			t.Error("an image with alpha handed back flattened pixels")
		}
	}
}
