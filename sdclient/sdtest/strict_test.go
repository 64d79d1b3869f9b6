package sdtest

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/image/webp"
)

// TestNullInRequiredFields: the keys the API models add with a plain type
// are not Optional, so an explicit null there is a 422 on both flavors; the
// fields generated from the processing class take null.
func TestNullInRequiredFields(t *testing.T) {
	t.Parallel()
	init := pngB64(t, solid(16, 16, color.NRGBA{90, 90, 90, 255}))
	cases := []struct {
		path, field string
		want        int
	}{
		{"/sdapi/v1/img2img", "denoising_strength", http.StatusUnprocessableEntity},
		{"/sdapi/v1/img2img", "include_init_images", http.StatusUnprocessableEntity},
		{"/sdapi/v1/img2img", "send_images", http.StatusUnprocessableEntity},
		{"/sdapi/v1/txt2img", "save_images", http.StatusUnprocessableEntity},
		{"/sdapi/v1/txt2img", "alwayson_scripts", http.StatusUnprocessableEntity},
		{"/sdapi/v1/txt2img", "script_args", http.StatusUnprocessableEntity},
		{"/sdapi/v1/txt2img", "sampler_index", http.StatusUnprocessableEntity},
		{"/sdapi/v1/txt2img", "denoising_strength", http.StatusOK}, // Optional on txt2img
		{"/sdapi/v1/img2img", "mask_blur", http.StatusOK},
		{"/sdapi/v1/txt2img", "sampler_name", http.StatusOK},
	}
	for _, flavor := range []string{FlavorA1111, FlavorForge} {
		o := fastOptions()
		o.Flavor = flavor
		s := setup(t, o)
		for _, c := range cases {
			body := map[string]any{"steps": 1, "width": 16, "height": 16, c.field: nil}
			if c.path == "/sdapi/v1/img2img" {
				body["init_images"] = []string{init}
			}
			r := post(t, s, c.path, body)
			if r.status != c.want {
				t.Errorf("%s %s %s: null: got %d %s, want %d", flavor, c.path, c.field, r.status, r.body, c.want)
				continue
			}
			if c.want == http.StatusUnprocessableEntity && !strings.Contains(string(r.body), `"`+c.field+`"`) {
				t.Errorf("%s %s %s: got %s, want the field in loc", flavor, c.path, c.field, r.body)
			}
		}
	}
}

// TestStrictUnknownFields: by default the stand-in refuses keys its models do
// not declare (a misspelt field), in the body, in nested models and among
// override_settings; with IgnoreUnknownFields it drops them as the WebUI
// does.
func TestStrictUnknownFields(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, path string
		body       map[string]any
		loc        string
	}{
		{"misspelt txt2img field", "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8, "cfg_scal": 5}, `["body","cfg_scal"]`},
		{"unknown option", "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8, "override_settings": map[string]any{"sd_model_chekpoint": "x"}}, `["body","override_settings","sd_model_chekpoint"]`},
		{"misspelt rembg field", "/rembg", map[string]any{"input_image": tinyPNG, "model": "u2net", "return_mask": true, "alpha_mating": true}, `["body","alpha_mating"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := setup(t, fastOptions())
			r := post(t, s, c.path, c.body)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"loc":`+c.loc) || !strings.Contains(string(r.body), "extra fields not permitted") {
				t.Errorf("strict: got %d %s, want 422 extra fields not permitted at %s", r.status, r.body, c.loc)
			}
			o := fastOptions()
			o.IgnoreUnknownFields = true
			lenient := setup(t, o)
			if r := post(t, lenient, c.path, c.body); r.status != http.StatusOK {
				t.Errorf("lenient: got %d %s, want 200 (the WebUI ignores unknown keys)", r.status, r.body)
			}
		})
	}
}

// TestSamplesFormat: pictures come back in the samples_format option
// (alpha flattened for jpg and webp), SAM masks included.
func TestSamplesFormat(t *testing.T) {
	t.Parallel()
	sniff := func(raw []byte) string {
		switch {
		case bytes.HasPrefix(raw, []byte("\x89PNG")):
			return "png"
		case bytes.HasPrefix(raw, []byte("\xff\xd8")):
			return "jpg"
		case len(raw) > 12 && string(raw[:4]) == "RIFF" && string(raw[8:12]) == "WEBP":
			return "webp"
		}
		return "?"
	}
	decode := func(t *testing.T, x any) (image.Image, string) {
		t.Helper()
		raw, err := base64.StdEncoding.DecodeString(x.(string))
		if err != nil {
			t.Fatal(err)
		}
		var img image.Image
		switch f := sniff(raw); f {
		case "png":
			img, err = png.Decode(bytes.NewReader(raw))
		case "jpg":
			img, err = jpeg.Decode(bytes.NewReader(raw))
		case "webp":
			img, err = webp.Decode(bytes.NewReader(raw))
		default:
			t.Fatalf("unknown image format %q", raw[:min(8, len(raw))])
		}
		if err != nil {
			t.Fatal(err)
		}
		return img, sniff(raw)
	}
	for _, format := range []string{"png", "jpg", "webp"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := setup(t, fastOptions())
			if r := post(t, s, "/sdapi/v1/options", map[string]any{"samples_format": format}); r.status != http.StatusOK {
				t.Fatalf("options: %d %s", r.status, r.body)
			}
			gen := post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 16, "height": 16}).json(t)
			if _, got := decode(t, gen["images"].([]any)[0]); got != format {
				t.Errorf("txt2img image: got %s, want %s", got, format)
			}
			src := pngB64(t, product(48, 40, image.Rect(12, 10, 36, 30)))
			sam := post(t, s, "/sam/sam-predict", map[string]any{"input_image": src, "sam_positive_points": [][2]int{{24, 20}}}).json(t)
			for _, key := range []string{"masks", "masked_images", "blended_images"} {
				list, _ := sam[key].([]any)
				if len(list) != 3 {
					t.Fatalf("sam %s: got %d, want 3", key, len(list))
				}
				if _, got := decode(t, list[0]); got != format {
					t.Errorf("sam %s: got %s, want %s", key, got, format)
				}
			}
			cut := post(t, s, "/rembg", map[string]any{"input_image": src, "model": "u2net"}).json(t)
			img, got := decode(t, cut["image"])
			if got != format {
				t.Errorf("rembg: got %s, want %s", got, format)
			}
			_, _, _, a := img.At(0, 0).RGBA()
			if transparent := a == 0; transparent != (format == "png") {
				t.Errorf("rembg %s corner alpha: got %d, want transparent only in png", format, a)
			}
		})
	}
	t.Run("unknown format", func(t *testing.T) {
		t.Parallel()
		s := setup(t, fastOptions())
		post(t, s, "/sdapi/v1/options", map[string]any{"samples_format": "bmpx"})
		if r := post(t, s, "/sdapi/v1/txt2img", map[string]any{"steps": 1, "width": 8, "height": 8}); r.status != http.StatusInternalServerError {
			t.Errorf("txt2img with samples_format bmpx: got %d %s, want 500", r.status, r.body)
		}
	})
}

// TestGreyMaskStaysSoft: create_binary_mask rounds only the alpha of a
// semi-transparent RGBA mask; a greyscale mask keeps its grey, so in
// only-masked mode (where mask_for_overlay is the mask itself) a grey area
// is blended, not repainted outright.
func TestGreyMaskStaysSoft(t *testing.T) {
	t.Parallel()
	const w, h = 32, 32
	s := setup(t, fastOptions())
	initImg := solid(w, h, color.NRGBA{200, 30, 30, 255})
	run := func(mask image.Image) image.Image {
		t.Helper()
		r := post(t, s, "/sdapi/v1/img2img", map[string]any{
			"init_images": []string{pngB64(t, initImg)}, "mask": pngB64(t, mask), "mask_blur": 0,
			"inpainting_fill": 1, "inpaint_full_res": true, "inpaint_full_res_padding": 0, "denoising_strength": 1.0,
			"prompt": "a blue wall", "seed": 9, "steps": 2, "width": w, "height": h,
		})
		if r.status != http.StatusOK {
			t.Fatalf("img2img: %d %s", r.status, r.body)
		}
		return images(t, r.json(t))[0]
	}
	white := image.NewGray(image.Rect(0, 0, w, h))
	grey := image.NewGray(image.Rect(0, 0, w, h))
	rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range white.Pix {
		if i%w >= w/2 { // the right half is masked
			white.Pix[i], grey.Pix[i] = 255, 200
			rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2], rgba.Pix[4*i+3] = 255, 255, 255, 200
		}
	}
	full, soft, alpha := run(white), run(grey), run(rgba)
	x, y := w*3/4, h/2
	if rgbAt(full, x, y) == rgbAt(initImg, x, y) {
		t.Fatalf("white mask: pixel kept the original %v, want it repainted", rgbAt(full, x, y))
	}
	// Grey 200 of 255: mostly the new picture, some of the original.
	f, g, o := rgbAt(full, x, y), rgbAt(soft, x, y), rgbAt(initImg, x, y)
	for c := range 3 {
		want := (f[c]*200 + o[c]*55) / 255
		if absInt(g[c]-want) > 3 {
			t.Errorf("grey mask channel %d: got %d, want about %d (a blend; %d is repainted, %d original)", c, g[c], want, f[c], o[c])
		}
	}
	if got := rgbAt(alpha, x, y); got != f {
		t.Errorf("semi-transparent RGBA mask: got %v, want %v (its alpha rounded to 255)", got, f)
	}
	got, orig := rgbAt(soft, w/4, h/2), rgbAt(initImg, w/4, h/2)
	for c := range 3 {
		if absInt(got[c]-orig[c]) > 4 { // the VAE round trip drifts a few levels
			t.Errorf("unmasked pixel: got %v, want the original %v", got, orig)
			break
		}
	}
}

// TestSAMMaskOrder: the three masks are SAM's multimask outputs in decoder
// order: a part of the object, the whole object and the object with some
// surroundings, never the whole object first.
func TestSAMMaskOrder(t *testing.T) {
	t.Parallel()
	s := setup(t, fastOptions())
	orders := map[[3]string]bool{}
	for i := range 6 {
		w, h := 60+7*i, 48+5*i
		r := image.Rect(w/4, h/4, w*3/4, h*3/4)
		src := product(w, h, r)
		whole := 0
		for range r.Dx() * r.Dy() {
			whole++
		}
		resp := post(t, s, "/sam/sam-predict", map[string]any{"input_image": pngB64(t, src), "sam_positive_points": [][2]int{{w / 2, h / 2}}}).json(t)
		masks, _ := resp["masks"].([]any)
		if len(masks) != 3 {
			t.Fatalf("masks: got %d, want 3 (%v)", len(masks), resp["msg"])
		}
		var kinds [3]string
		for k, m := range masks {
			img := decodeB64(t, m)
			in, out := 0, 0
			for y := range h {
				for x := range w {
					if c := rgbAt(img, x, y); c[0] >= 128 {
						if image.Pt(x, y).In(r) {
							in++
						} else {
							out++
						}
					}
				}
			}
			switch {
			case in == whole && out == 0:
				kinds[k] = "whole"
			case in == whole && out > 0:
				kinds[k] = "large"
			case in > 0 && in < whole*7/10 && out == 0:
				kinds[k] = "part"
			default:
				t.Fatalf("%dx%d mask %d: %d inside, %d outside the object (%d): not a part, the whole or a larger region", w, h, k, in, out, whole)
			}
		}
		if kinds[0] == "whole" {
			t.Errorf("%dx%d: the whole object came first: %v", w, h, kinds)
		}
		orders[kinds] = true
	}
	if len(orders) < 2 {
		t.Errorf("orders: got only %v, want the order to vary with the picture", orders)
	}
}
