package imaging

import (
	"image"
	"image/color"
	"testing"
)

func TestSharpness(t *testing.T) {
	t.Parallel()
	checker := solid(800, 600, white)
	for y := 0; y < 600; y += 8 {
		for x := (y / 8 % 2) * 8; x < 800; x += 16 {
			fillRect(checker, image.Rect(x, y, x+8, y+8), black)
		}
	}
	sharpData := pngOf(t, checker)
	blurred := func(data []byte, sigma float64) []byte {
		im := mustLoad(t, data, LoadOptions{})
		if err := im.Blur(sigma); err != nil {
			t.Fatal(err)
		}
		out, err := im.Encode(EncodeOptions{Format: PNG})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name     string
		data     []byte
		min, max float64
	}{
		{"flat", pngOf(t, solid(300, 200, color.NRGBA{90, 120, 200, 255})), 0, 0.01},
		{"checkerboard", sharpData, 10000, 1e9},
		{"blurred 2", blurred(sharpData, 2), 500, 10000},
		{"blurred 8", blurred(sharpData, 8), 0, 20},
		{"photo", readFile(t, "plain.jpg"), 100, 1e9},
		{"photo blurred 3", blurred(readFile(t, "plain.jpg"), 3), 0, 20},
		{"tiny", pngOf(t, solid(2, 2, white)), 0, 0},
	}
	scores := map[string]float64{}
	for _, tt := range tests {
		im := mustLoad(t, tt.data, LoadOptions{})
		got, err := im.Sharpness()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		scores[tt.name] = got
		t.Logf("%s: %.2f", tt.name, got)
		if got < tt.min || got > tt.max {
			t.Errorf("%s: Sharpness() = %.2f, want %.2f..%.2f", tt.name, got, tt.min, tt.max)
		}
	}
	if !(scores["checkerboard"] > scores["blurred 2"] && scores["blurred 2"] > scores["blurred 8"] && scores["photo"] > scores["photo blurred 3"]) {
		t.Errorf("scores not ordered by blur: %v", scores)
	}
}

func TestPlainBackground(t *testing.T) {
	t.Parallel()
	product := func(bg color.NRGBA) *image.NRGBA {
		img := solid(400, 300, bg)
		fillRect(img, image.Rect(100, 60, 300, 240), red)
		return img
	}
	busy := solid(400, 300, white)
	for x := 0; x < 400; x += 20 {
		fillRect(busy, image.Rect(x, 0, x+10, 300), blue)
	}
	tests := []struct {
		name      string
		data      []byte
		wantPlain bool
		wantColor Color
		tol       int
	}{
		{"white studio", pngOf(t, product(white)), true, Color{255, 255, 255, 255}, 1},
		{"white studio jpeg", jpegOf(t, product(white), 80), true, Color{255, 255, 255, 255}, 3},
		{"grey studio", pngOf(t, product(color.NRGBA{200, 200, 200, 255})), true, Color{200, 200, 200, 255}, 1},
		{"transparent", readFile(t, "alpha.png"), false, Color{}, -1}, // its blue bar touches the border ring
		{"cut-out", pngOf(t, product(color.NRGBA{0, 0, 0, 0})), true, Color{}, 0},
		{"stripes", pngOf(t, busy), false, Color{}, -1},
		{"photo", readFile(t, "plain.jpg"), false, Color{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			im := mustLoad(t, tt.data, LoadOptions{})
			plain, c, err := im.PlainBackground()
			if err != nil {
				t.Fatal(err)
			}
			if plain != tt.wantPlain {
				t.Errorf("plain = %v (colour %v), want %v", plain, c, tt.wantPlain)
			}
			if tt.tol >= 0 && !near([4]uint8{c.R, c.G, c.B, c.A}, [4]uint8{tt.wantColor.R, tt.wantColor.G, tt.wantColor.B, tt.wantColor.A}, tt.tol) {
				t.Errorf("colour = %v, want %v", c, tt.wantColor)
			}
		})
	}
}

func TestLaplacianVariance(t *testing.T) {
	t.Parallel()
	// One bright pixel in the middle of 3x3: the only interior Laplacian is 4*255.
	pix := []byte{0, 0, 0, 0, 255, 0, 0, 0, 0}
	if got := laplacianVariance(3, 3, pix); got != 0 {
		t.Errorf("single interior sample: variance %v, want 0", got)
	}
	// 4x3 with interior values 4*255 and -255: mean 382.5, variance 637.5^2.
	pix = []byte{0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0}
	if got, want := laplacianVariance(4, 3, pix), 637.5*637.5; got != want {
		t.Errorf("variance %v, want %v", got, want)
	}
}
