package sdtest

import (
	"errors"
	"image"
	"image/color"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// The synthetic product-on-white picture every fault test uses.
const faultW, faultH = 96, 80

var faultProduct = image.Rect(30, 24, 66, 56)

func faultSource() *image.NRGBA { return product(faultW, faultH, faultProduct) }

// withFaults returns fastOptions with f.
func withFaults(f Faults) Options {
	o := fastOptions()
	o.Faults = f
	return o
}

// grayOf reads one channel of a decoded picture as a mask: the red channel,
// or alpha when alpha is set.
func grayOf(img image.Image, alpha bool) *image.Gray {
	b := img.Bounds()
	m := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			v := c.R
			if alpha {
				v = c.A
			}
			m.Pix[y*m.Stride+x] = v
		}
	}
	return m
}

// centroid is the value-weighted centre of a mask and its total weight.
func centroid(m *image.Gray) (cx, cy, total float64) {
	for y := 0; y < m.Rect.Dy(); y++ {
		for x := 0; x < m.Rect.Dx(); x++ {
			v := float64(m.Pix[y*m.Stride+x])
			cx += v * float64(x)
			cy += v * float64(y)
			total += v
		}
	}
	if total == 0 {
		return 0, 0, 0
	}
	return cx / total, cy / total, total
}

// maskSource asks one endpoint for masks of faultSource.
type maskSource struct {
	name string
	get  func(t *testing.T, s *Server) []*image.Gray
}

func maskSources() []maskSource {
	rembg := func(returnMask bool) func(t *testing.T, s *Server) []*image.Gray {
		return func(t *testing.T, s *Server) []*image.Gray {
			t.Helper()
			r := post(t, s, "/rembg", map[string]any{"input_image": pngB64(t, faultSource()), "return_mask": returnMask})
			if r.status != http.StatusOK {
				t.Fatalf("rembg: got %d %s, want 200", r.status, r.body)
			}
			return []*image.Gray{grayOf(decodeB64(t, r.json(t)["image"]), !returnMask)}
		}
	}
	sam := func(key string, alpha bool) func(t *testing.T, s *Server) []*image.Gray {
		return func(t *testing.T, s *Server) []*image.Gray {
			t.Helper()
			c := faultProduct.Min.Add(faultProduct.Size().Div(2))
			r := post(t, s, "/sam/sam-predict", map[string]any{
				"input_image": pngB64(t, faultSource()), "sam_positive_points": [][]float64{{float64(c.X), float64(c.Y)}},
			})
			if r.status != http.StatusOK {
				t.Fatalf("sam: got %d %s, want 200", r.status, r.body)
			}
			list, _ := r.json(t)[key].([]any)
			if len(list) != 3 {
				t.Fatalf("sam %s: got %d pictures, want 3", key, len(list))
			}
			out := make([]*image.Gray, len(list))
			for i, x := range list {
				out[i] = grayOf(decodeB64(t, x), alpha)
			}
			return out
		}
	}
	return []maskSource{
		{"rembg mask", rembg(true)},
		{"rembg cutout alpha", rembg(false)},
		{"sam masks", sam("masks", false)},
		{"sam cutouts alpha", sam("masked_images", true)},
	}
}

func TestMaskFaults(t *testing.T) {
	t.Parallel()
	clean := setup(t, fastOptions())
	uniform := func(want uint8) func(t *testing.T, base, got *image.Gray) {
		return func(t *testing.T, base, got *image.Gray) {
			for i, v := range got.Pix {
				if v != want {
					t.Fatalf("pixel (%d,%d): got %d, want every pixel %d", i%got.Stride, i/got.Stride, v, want)
				}
			}
		}
	}
	shifted := func(d int) func(t *testing.T, base, got *image.Gray) {
		return func(t *testing.T, base, got *image.Gray) {
			bx, by, bw := centroid(base)
			gx, gy, gw := centroid(got)
			if math.Abs(gx-bx-float64(d)) > 0.5 || math.Abs(gy-by-float64(d)) > 0.5 {
				t.Errorf("centroid moved by (%.2f, %.2f), want (%d, %d)", gx-bx, gy-by, d, d)
			}
			// The product is far from the edges, so nothing is cut off.
			if gw != bw {
				t.Errorf("mask weight: got %.0f, want %.0f as before the shift", gw, bw)
			}
			for y := 0; y < got.Rect.Dy(); y++ {
				for x := 0; x < got.Rect.Dx(); x++ {
					if (x < d || y < d) && got.Pix[y*got.Stride+x] != 0 {
						t.Fatalf("shifted-in pixel (%d,%d): got %d, want background 0", x, y, got.Pix[y*got.Stride+x])
					}
				}
			}
		}
	}
	cases := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, base, got *image.Gray)
	}{
		{"full", Faults{Mask: FaultMaskFull}, uniform(255)},
		{"empty", Faults{Mask: FaultMaskEmpty}, uniform(0)},
		{"shift default", Faults{Mask: FaultMaskShift}, shifted(DefaultMaskShift)},
		{"shift 6", Faults{Mask: FaultMaskShift, MaskShift: 6}, shifted(6)},
		{"shift ignored without mask fault", Faults{MaskShift: 6}, shifted(0)},
		{"shift beyond the picture", Faults{Mask: FaultMaskShift, MaskShift: faultW}, uniform(0)},
	}
	for _, src := range maskSources() {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			base := src.get(t, clean)
			for i, m := range base {
				_, _, w := centroid(m)
				if w == 0 || w == 255*float64(len(m.Pix)) {
					t.Fatalf("clean mask %d: weight %.0f, want a real product mask", i, w)
				}
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					got := src.get(t, setup(t, withFaults(c.faults)))
					if len(got) != len(base) {
						t.Fatalf("masks: got %d, want %d", len(got), len(base))
					}
					for i := range got {
						if got[i].Rect != base[i].Rect {
							t.Fatalf("mask %d size: got %v, want %v", i, got[i].Rect, base[i].Rect)
						}
						c.check(t, base[i], got[i])
					}
				})
			}
		})
	}
}

// laplacianVariance is the variance of the 4-neighbour Laplacian of a
// picture's luma: lower is blurrier.
func laplacianVariance(img image.Image) float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	l := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := rgbAt(img, b.Min.X+x, b.Min.Y+y)
			l[y*w+x] = float64(luma(uint8(c[0]), uint8(c[1]), uint8(c[2])))
		}
	}
	var sum, sq float64
	n := 0
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			v := l[(y-1)*w+x] + l[(y+1)*w+x] + l[y*w+x-1] + l[y*w+x+1] - 4*l[y*w+x]
			sum += v
			sq += v * v
			n++
		}
	}
	mean := sum / float64(n)
	return sq/float64(n) - mean*mean
}

func meanRGB(img image.Image, in func(x, y int) bool) ([3]float64, int) {
	var acc [3]float64
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if !in(x, y) {
				continue
			}
			c := rgbAt(img, x, y)
			for ch := range 3 {
				acc[ch] += float64(c[ch])
			}
			n++
		}
	}
	for ch := range 3 {
		acc[ch] /= float64(max(n, 1))
	}
	return acc, n
}

func TestUpscaleFault(t *testing.T) {
	t.Parallel()
	clean := setup(t, fastOptions())
	blurry := setup(t, withFaults(Faults{Upscale: FaultUpscaleBlurry}))
	single := func(req map[string]any) func(t *testing.T, s *Server) image.Image {
		return func(t *testing.T, s *Server) image.Image {
			t.Helper()
			body := map[string]any{"image": pngB64(t, faultSource())}
			for k, v := range req {
				body[k] = v
			}
			r := post(t, s, "/sdapi/v1/extra-single-image", body)
			if r.status != http.StatusOK {
				t.Fatalf("extras: got %d %s, want 200", r.status, r.body)
			}
			return decodeB64(t, r.json(t)["image"])
		}
	}
	cases := []struct {
		name     string
		get      func(t *testing.T, s *Server) image.Image
		wantSize image.Point
	}{
		{"Lanczos x2", single(map[string]any{"upscaler_1": "Lanczos"}), image.Pt(192, 160)},
		{"R-ESRGAN x4", single(map[string]any{"upscaler_1": "R-ESRGAN 4x+", "upscaling_resize": 4}), image.Pt(384, 320)},
		{"two upscalers x1.5", single(map[string]any{"upscaler_1": "ESRGAN_4x", "upscaler_2": "Lanczos", "extras_upscaler_2_visibility": 0.5, "upscaling_resize": 1.5}), image.Pt(144, 120)},
		{"batch", func(t *testing.T, s *Server) image.Image {
			t.Helper()
			r := post(t, s, "/sdapi/v1/extra-batch-images", map[string]any{
				"upscaler_1": "SwinIR 4x", "imageList": []map[string]any{{"data": pngB64(t, faultSource()), "name": "a.png"}},
			})
			if r.status != http.StatusOK {
				t.Fatalf("extras batch: got %d %s, want 200", r.status, r.body)
			}
			return images(t, r.json(t))[0]
		}, image.Pt(192, 160)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sharp, soft := c.get(t, clean), c.get(t, blurry)
			if got := soft.Bounds().Size(); got != c.wantSize || sharp.Bounds().Size() != c.wantSize {
				t.Fatalf("size: got %v (clean %v), want %v", got, sharp.Bounds().Size(), c.wantSize)
			}
			vs, vb := laplacianVariance(sharp), laplacianVariance(soft)
			if vb >= vs/2 {
				t.Errorf("Laplacian variance: got %.1f with the fault, want under half of %.1f without", vb, vs)
			}
			all := func(x, y int) bool { return true }
			ms, _ := meanRGB(sharp, all)
			mb, _ := meanRGB(soft, all)
			for ch := range 3 {
				if math.Abs(mb[ch]-ms[ch]) > 2 {
					t.Errorf("channel %d mean: got %.1f, want %.1f±2 (the same picture, blurred)", ch, mb[ch], ms[ch])
				}
			}
		})
	}
	r := post(t, blurry, "/sdapi/v1/extra-single-image", map[string]any{"image": pngB64(t, faultSource())})
	if r.status != http.StatusOK {
		t.Fatalf("no upscaler: got %d %s, want 200", r.status, r.body)
	}
	if got, want := rgbBytes(decodeB64(t, r.json(t)["image"])), rgbBytes(faultSource()); string(got) != string(want) {
		t.Errorf("no upscaler under the blurry fault: the picture changed, want it as sent")
	}
}

func TestBackgroundPaint(t *testing.T) {
	t.Parallel()
	src := faultSource()
	mask := rectMask(faultW, faultH, faultProduct)
	inner := faultProduct.Inset(12)
	outer := faultProduct.Inset(-14)
	isBackground := func(x, y int) bool { return !image.Pt(x, y).In(outer) }
	white := [3]float64{255, 255, 255}
	ow := OffWhite()
	off := [3]float64{float64(ow.R), float64(ow.G), float64(ow.B)}
	cases := []struct {
		name    string
		faults  Faults
		prompt  string
		fullRes bool
		want    *[3]float64 // flat colour painted, or nil for the prompt's pattern
	}{
		{"white prompt", Faults{}, "A bottle on a Pure White Background, soft light", false, &white},
		{"white prompt only masked", Faults{}, "PURE WHITE BACKGROUND", true, &white},
		{"plain prompt paints the pattern", Faults{}, "studio scene", false, nil},
		{"offwhite fault", Faults{Background: FaultBackgroundOffWhite}, "studio scene", false, &off},
		{"offwhite overrides the white prompt", Faults{Background: FaultBackgroundOffWhite}, "pure white background", false, &off},
		{"offwhite only masked", Faults{Background: FaultBackgroundOffWhite}, "studio scene", true, &off},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, withFaults(c.faults))
			// As Pictor asks: the product mask inverted, the original as the
			// fill, partial denoising.
			r := post(t, s, "/sdapi/v1/img2img", map[string]any{
				"init_images": []string{pngB64(t, src)}, "mask": pngB64(t, mask),
				"inpainting_mask_invert": 1, "mask_blur": 4, "inpaint_full_res": c.fullRes,
				"inpaint_full_res_padding": 0, "inpainting_fill": 1, "denoising_strength": 0.75,
				"prompt": c.prompt, "seed": 7, "steps": 4, "width": faultW, "height": faultH,
			})
			if r.status != http.StatusOK {
				t.Fatalf("img2img: got %d %s, want 200", r.status, r.body)
			}
			out := images(t, r.json(t))[0]
			if got := out.Bounds().Size(); got != image.Pt(faultW, faultH) {
				t.Fatalf("size: got %v, want %dx%d", got, faultW, faultH)
			}
			// The product is kept, with the VAE drift only.
			for y := inner.Min.Y; y < inner.Max.Y; y++ {
				for x := inner.Min.X; x < inner.Max.X; x++ {
					got, want := rgbAt(out, x, y), rgbAt(src, x, y)
					for ch := range 3 {
						if d := absInt(got[ch] - want[ch]); d > 4 {
							t.Fatalf("product pixel (%d,%d) channel %d: got %d, want %d±4", x, y, ch, got[ch], want[ch])
						}
					}
				}
			}
			mean, n := meanRGB(out, isBackground)
			if n < 1000 {
				t.Fatalf("background pixels: got %d, want ≥ 1000", n)
			}
			if c.want == nil {
				if math.Abs(mean[0]-255)+math.Abs(mean[1]-255)+math.Abs(mean[2]-255) < 30 {
					t.Errorf("background mean: got %.1f, want the prompt's coloured pattern, not white", mean)
				}
				return
			}
			want := *c.want
			for y := 0; y < faultH; y++ {
				for x := 0; x < faultW; x++ {
					if !isBackground(x, y) {
						continue
					}
					got := rgbAt(out, x, y)
					for ch := range 3 {
						if d := math.Abs(float64(got[ch]) - want[ch]); d > 5 {
							t.Fatalf("background pixel (%d,%d) channel %d: got %d, want %.0f within the drift", x, y, ch, got[ch], want[ch])
						}
						if want == white && got[ch] < 250 {
							t.Fatalf("background pixel (%d,%d) channel %d: got %d, want ≥ 250", x, y, ch, got[ch])
						}
					}
				}
			}
			for ch := range 3 {
				if d := math.Abs(mean[ch] - want[ch]); d > 4 {
					t.Errorf("background mean channel %d: got %.1f, want %.0f±4 (the drift)", ch, mean[ch], want[ch])
				}
			}
			if want == off && mean[0] > 245 && mean[1] > 245 && mean[2] > 245 {
				t.Errorf("background mean: got %.1f, want off-white, not white", mean)
			}
		})
	}
}

func TestParseFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Faults
		str  string
	}{
		{"", Faults{}, ""},
		{"  ", Faults{}, ""},
		{"mask=full", Faults{Mask: FaultMaskFull}, "mask=full"},
		{"mask=empty", Faults{Mask: FaultMaskEmpty}, "mask=empty"},
		{"mask=shift", Faults{Mask: FaultMaskShift}, "mask=shift"},
		{"mask=shift,mask_shift=6,upscale=blurry,background=offwhite",
			Faults{Mask: FaultMaskShift, MaskShift: 6, Upscale: FaultUpscaleBlurry, Background: FaultBackgroundOffWhite},
			"mask=shift,mask_shift=6,upscale=blurry,background=offwhite"},
		{" background = offwhite , mask_shift=3 ,mask=shift", Faults{Mask: FaultMaskShift, MaskShift: 3, Background: FaultBackgroundOffWhite},
			"mask=shift,mask_shift=3,background=offwhite"},
		{"upscale=blurry", Faults{Upscale: FaultUpscaleBlurry}, "upscale=blurry"},
	}
	for _, c := range cases {
		t.Run("ok "+c.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFaults(c.in)
			if err != nil {
				t.Fatalf("ParseFaults(%q): got %v, want nil", c.in, err)
			}
			if got != c.want {
				t.Errorf("ParseFaults(%q): got %+v, want %+v", c.in, got, c.want)
			}
			if s := got.String(); s != c.str {
				t.Errorf("String: got %q, want %q", s, c.str)
			}
			back, err := ParseFaults(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q: got %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
	bad := []struct{ in, mention string }{
		{"mask=wobble", "wobble"},
		{"mask=FULL", "FULL"},
		{"upscale=sharp", "sharp"},
		{"background=white", "white"},
		{"colour=red", "colour"},
		{"mask", "mask"},
		{"mask=", "mask="},
		{"=full", "=full"},
		{"mask=full,mask=empty", "twice"},
		{"mask=full,,upscale=blurry", "key=value"},
		{"mask_shift=0", "mask_shift"},
		{"mask_shift=-3", "mask_shift"},
		{"mask_shift=x", "mask_shift"},
		{"mask=shift,mask_shift=5000", "5000"},
	}
	for _, c := range bad {
		t.Run("bad "+c.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFaults(c.in)
			if err == nil {
				t.Fatalf("ParseFaults(%q): got %+v, nil; want an error", c.in, got)
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error: got %q, want it to mention %q", err, c.mention)
			}
		})
	}
}

func TestFaultsOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		faults Faults
		ok     bool
	}{
		{"none", Faults{}, true},
		{"all", Faults{Mask: FaultMaskShift, MaskShift: 3, Upscale: FaultUpscaleBlurry, Background: FaultBackgroundOffWhite}, true},
		{"unknown mask", Faults{Mask: "half"}, false},
		{"unknown upscale", Faults{Upscale: "sharp"}, false},
		{"unknown background", Faults{Background: "grey"}, false},
		{"negative shift", Faults{Mask: FaultMaskShift, MaskShift: -1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Options{Faults: c.faults}.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate: got %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
			s, nerr := NewUnstarted(Options{Faults: c.faults})
			if (nerr == nil) != c.ok {
				t.Fatalf("NewUnstarted: got %v, want ok=%v", nerr, c.ok)
			}
			if s != nil {
				defer s.Close()
				if got := s.Faults(); got != c.faults {
					t.Errorf("Faults: got %+v, want %+v", got, c.faults)
				}
			}
			if c.ok {
				return
			}
			s2 := setup(t, fastOptions())
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("SetFaults(%+v): no panic, want one", c.faults)
					}
				}()
				s2.SetFaults(c.faults)
			}()
			if got := s2.Faults(); got != (Faults{}) {
				t.Errorf("Faults after a refused SetFaults: got %+v, want none", got)
			}
		})
	}
}

func TestFaultsRoute(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	text := func(b []byte) string { return string(b) }
	put := func(body string) func(t *testing.T) response {
		return func(t *testing.T) response {
			return do(t, http.MethodPut, s.URL+FaultsPath, []byte(body), map[string]string{"Content-Type": "text/plain"})
		}
	}
	getPath := func(path string) func(t *testing.T) response {
		return func(t *testing.T) response { return get(t, s, path) }
	}
	maskWeight := func(t *testing.T) float64 {
		_, _, w := centroid(maskSources()[0].get(t, s)[0])
		return w
	}
	steps := []struct {
		name       string
		call       func(t *testing.T) response
		wantStatus int
		wantBody   string // exact, or "" to skip
		wantFaults Faults
		check      func(t *testing.T)
	}{
		{"get none", getPath(FaultsPath), 200, "", Faults{}, func(t *testing.T) {
			if w := maskWeight(t); w == 0 || w == 255*faultW*faultH {
				t.Errorf("mask without faults: weight %.0f, want a product mask", w)
			}
		}},
		{"put full", put("mask=full"), 204, "", Faults{Mask: FaultMaskFull}, func(t *testing.T) {
			if w := maskWeight(t); w != 255*faultW*faultH {
				t.Errorf("mask after PUT mask=full: weight %.0f, want every pixel 255", w)
			}
		}},
		{"get full", getPath(FaultsPath), 200, "mask=full", Faults{Mask: FaultMaskFull}, nil},
		{"put bad keeps the faults", put("mask=wobble"), 400, "", Faults{Mask: FaultMaskFull}, nil},
		{"put too big", put(strings.Repeat(" ", maxFaultsBody+1)), 413, "", Faults{Mask: FaultMaskFull}, nil},
		{"put several", put(" upscale=blurry, mask=shift,mask_shift=4 \n"), 204, "",
			Faults{Mask: FaultMaskShift, MaskShift: 4, Upscale: FaultUpscaleBlurry}, nil},
		{"get several", getPath(FaultsPath), 200, "mask=shift,mask_shift=4,upscale=blurry",
			Faults{Mask: FaultMaskShift, MaskShift: 4, Upscale: FaultUpscaleBlurry}, nil},
		{"post is not allowed", func(t *testing.T) response { return post(t, s, FaultsPath, "mask=full") }, 405, `{"detail":"Method Not Allowed"}`,
			Faults{Mask: FaultMaskShift, MaskShift: 4, Upscale: FaultUpscaleBlurry}, nil},
		{"put empty clears", put(""), 204, "", Faults{}, func(t *testing.T) {
			if w := maskWeight(t); w == 0 || w == 255*faultW*faultH {
				t.Errorf("mask after clearing: weight %.0f, want a product mask", w)
			}
		}},
		{"unknown sdtest path", getPath("/sdtest/nope"), 404, `{"detail":"Not Found"}`, Faults{}, nil},
		{"not under sdapi", getPath("/sdapi/v1/sdtest/faults"), 404, `{"detail":"Not Found"}`, Faults{}, nil},
		{"trailing slash", getPath(FaultsPath + "/"), 404, `{"detail":"Not Found"}`, Faults{}, nil},
	}
	// The steps run in order: each depends on the faults the last one left.
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := st.call(t)
			if r.status != st.wantStatus {
				t.Fatalf("status: got %d %s, want %d", r.status, r.body, st.wantStatus)
			}
			if st.wantBody != "" && text(r.body) != st.wantBody {
				t.Errorf("body: got %q, want %q", r.body, st.wantBody)
			}
			switch r.status {
			case 200:
				if got, want := text(r.body), st.wantFaults.String(); got != want {
					t.Errorf("body: got %q, want %q", got, want)
				}
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type: got %q, want text/plain", ct)
				}
			case 204:
				if len(r.body) != 0 {
					t.Errorf("body: got %q, want none", r.body)
				}
			case 400:
				if !strings.Contains(text(r.body), "wobble") {
					t.Errorf("body: got %s, want it to name the bad value", r.body)
				}
			case 405:
				if got := r.header.Get("Allow"); got != "GET, PUT" {
					t.Errorf("Allow: got %q, want %q", got, "GET, PUT")
				}
			}
			if got := s.Faults(); got != st.wantFaults {
				t.Errorf("Faults: got %+v, want %+v", got, st.wantFaults)
			}
			if st.check != nil {
				st.check(t)
			}
		})
	}
	for _, c := range s.Calls() {
		if c.Endpoint == FaultsPath && c.Status != http.StatusMethodNotAllowed {
			t.Errorf("call log: got %+v, want the control route's GET and PUT kept out", c)
		}
	}
}

func TestFaultsRouteWithAuth(t *testing.T) {
	t.Parallel()
	o := fastOptions()
	o.Auth = "u:p"
	s := setup(t, o)
	if r := get(t, s, "/sdapi/v1/sd-models"); r.status != http.StatusUnauthorized {
		t.Fatalf("sd-models without credentials: got %d, want 401", r.status)
	}
	r := do(t, http.MethodPut, s.URL+FaultsPath, []byte("upscale=blurry"), nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("PUT faults without credentials: got %d %s, want 204", r.status, r.body)
	}
	if got := s.Faults(); got != (Faults{Upscale: FaultUpscaleBlurry}) {
		t.Errorf("Faults: got %+v, want upscale=blurry", got)
	}
}

// TestSetFaultsConcurrent flips the faults while requests run: each answer
// must use one set of faults throughout, never a mix.
func TestSetFaultsConcurrent(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	src := maskSources()[0]
	// Set before the flipper starts: a request that ran before its first
	// flip would otherwise see the true mask, which is not uniform.
	s.SetFaults(Faults{Mask: FaultMaskFull})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if i%2 == 0 {
				s.SetFaults(Faults{Mask: FaultMaskFull})
			} else {
				s.SetFaults(Faults{Mask: FaultMaskEmpty})
			}
			_ = s.Faults()
		}
	}()
	for range 8 {
		m := src.get(t, s)[0]
		first := m.Pix[0]
		for i, v := range m.Pix {
			if v != first || (v != 0 && v != 255) {
				t.Fatalf("pixel %d: got %d after %d, want one uniform full or empty mask", i, v, first)
			}
		}
	}
	close(done)
	wg.Wait()
}
