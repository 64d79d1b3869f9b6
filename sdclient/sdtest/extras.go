package sdtest

import (
	"fmt"
	"html"
	"image"
	"net/http"
	"strings"
)

// extrasFields is ExtrasBaseRequest (plain, non-Optional fields).
func extrasFields() []field {
	d := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def} }
	unit := func(name string) field {
		return field{name: name, kind: kFloat, def: int64(0), ge: num(0), le: num(1)}
	}
	return []field{
		{name: "resize_mode", kind: kLiteral, def: int64(0), literals: []int64{0, 1}},
		d("show_extras_results", kBool, true),
		unit("gfpgan_visibility"),
		unit("codeformer_visibility"),
		unit("codeformer_weight"),
		{name: "upscaling_resize", kind: kFloat, def: int64(2), gt: num(0)},
		{name: "upscaling_resize_w", kind: kInt, def: int64(512), ge: num(1)},
		{name: "upscaling_resize_h", kind: kInt, def: int64(512), ge: num(1)},
		d("upscaling_crop", kBool, true),
		d("upscaler_1", kStr, "None"),
		d("upscaler_2", kStr, "None"),
		unit("extras_upscaler_2_visibility"),
		d("upscale_first", kBool, false),
	}
}

func extrasSingleFields() []field {
	return append(extrasFields(), field{name: "image", kind: kStr, def: ""})
}

func extrasBatchFields() []field {
	item := field{kind: kModel, fields: []field{
		{name: "data", kind: kStr, required: true},
		{name: "name", kind: kStr, required: true},
	}}
	return append(extrasFields(), field{name: "imageList", kind: kList, required: true, elem: &item})
}

// extrasInput is one picture for the extras job.
type extrasInput struct {
	img  *image.NRGBA
	name string
}

func (s *Server) handleExtraSingle(w http.ResponseWriter, r *http.Request, c *Call) {
	faults := s.Faults()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, ok := s.parseBody(w, r, body, extrasSingleFields(), false)
	if !ok {
		return
	}
	p, err := decodeImage(v.str("image"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	out, info, ok := s.runExtrasLocked(w, r, c, v, []extrasInput{{img: p.img}}, faults)
	if !ok {
		return
	}
	var img any
	if len(out) > 0 {
		raw, err := s.encodeOutput(out[0])
		if err != nil {
			s.writeErr(w, err)
			return
		}
		img = b64(raw)
	}
	writeJSON(w, http.StatusOK, object{{"html_info", info}, {"image", img}})
}

func (s *Server) handleExtraBatch(w http.ResponseWriter, r *http.Request, c *Call) {
	faults := s.Faults()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, ok := s.parseBody(w, r, body, extrasBatchFields(), false)
	if !ok {
		return
	}
	list, _ := v["imageList"].([]any)
	inputs := make([]extrasInput, 0, len(list))
	for _, x := range list {
		item := x.(values)
		p, err := decodeImage(item.str("data"))
		if err != nil {
			s.writeErr(w, err)
			return
		}
		inputs = append(inputs, extrasInput{img: p.img, name: item.str("name")})
	}
	out, info, ok := s.runExtrasLocked(w, r, c, v, inputs, faults)
	if !ok {
		return
	}
	images := make([]string, len(out))
	for i, img := range out {
		raw, err := s.encodeOutput(img)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		images[i] = b64(raw)
	}
	writeJSON(w, http.StatusOK, object{{"html_info", info}, {"images", images}})
}

// runExtrasLocked takes the queue lock and runs the upscale job with the
// faults the request arrived under. It answers errors itself and returns
// false then.
func (s *Server) runExtrasLocked(w http.ResponseWriter, r *http.Request, c *Call, v values, inputs []extrasInput, faults Faults) ([]*image.NRGBA, string, bool) {
	if !s.acquire(w, c) {
		return nil, "", false
	}
	out, info, outcome, err := s.runExtras(v, inputs, faults)
	s.release(c, outcome == stopInterrupted)
	switch {
	case outcome == stopClosed:
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "sdtest: server closed"})
		return nil, "", false
	case err != nil:
		s.writeErr(w, err)
		return nil, "", false
	}
	return out, info, true
}

// runExtras is run_postprocessing with the upscale script: job "extras",
// one job_no per picture, one step per 192-pixel tile for model upscalers.
// The Upscale fault blurs what the upscalers answer.
func (s *Server) runExtras(v values, inputs []extrasInput, faults Faults) ([]*image.NRGBA, string, stop, *apiError) {
	s.beginJob("extras")
	defer s.endJob()
	s.mu.Lock()
	s.st.jobCount = len(inputs)
	s.mu.Unlock()

	hang := false
	if f, ok := s.takeFailure(); ok {
		if f == FailHang {
			hang = true
		} else {
			if st := s.waitStep(false, false); st == stopClosed {
				return nil, "", st, nil
			}
			return nil, "", stopNone, s.failureErr(f)
		}
	}

	name1, name2 := v.str("upscaler_1"), v.str("upscaler_2")
	up1, ok1 := findUpscaler(name1)
	if !ok1 {
		return nil, "", stopNone, pyErr("AssertionError", "could not find upscaler named %s", name1)
	}
	up2, ok2 := findUpscaler(name2)
	if !ok2 {
		return nil, "", stopNone, pyErr("AssertionError", "could not find upscaler named %s", name2)
	}
	mode := v.int("resize_mode")
	var info []string
	var outcome stop
	var out []*image.NRGBA
	for _, in := range inputs {
		s.mu.Lock()
		s.st.skipped = false
		stopNow := s.st.interrupted
		if in.name != "" {
			name := in.name
			s.st.textinfo = &name
		}
		s.mu.Unlock()
		if stopNow {
			break
		}
		img := dropAlpha(in.img)
		info = info[:0]
		if up1.name != "None" {
			up, inf, steps, err := upscaleOnce(img, up1, v, mode)
			if err != nil {
				return nil, "", stopNone, err
			}
			for range steps {
				st := s.waitStep(hang, false)
				hang = false
				if st == stopClosed {
					return nil, "", st, nil
				}
				if st == stopInterrupted {
					outcome = stopInterrupted
					break
				}
			}
			info = append(info, inf...)
			info = append(info, "Postprocess upscaler: "+up1.name)
			vis := v.float("extras_upscaler_2_visibility")
			if up2.name != "None" && vis > 0 {
				second, _, _, err := upscaleOnce(img, up2, v, mode)
				if err != nil {
					return nil, "", stopNone, err
				}
				up = lerpImage(up, second, vis)
				info = append(info, "Postprocess upscaler 2: "+up2.name)
			}
			img = faults.blurryUpscale(up, img.Rect.Dx(), img.Rect.Dy())
		}
		out = append(out, img)
		s.nextJob()
	}
	return out, "<div class='infotext'>\n<p>" + html.EscapeString(strings.Join(info, ", ")) + "</p>\n</div>", outcome, nil
}

// upscaleOnce is ScriptPostprocessingUpscale.upscale with Upscaler.upscale:
// the target size is floored to a multiple of 8, and resize_mode 1 with
// upscaling_crop centres the result on a black RGB canvas of exactly w×h.
// It returns the picture, its infotext entries and how many steps it takes.
func upscaleOnce(img *image.NRGBA, up upscaler, v values, mode int64) (*image.NRGBA, []string, int, *apiError) {
	iw, ih := img.Rect.Dx(), img.Rect.Dy()
	var by float64
	var info []string
	tw, th := int(v.int("upscaling_resize_w")), int(v.int("upscaling_resize_h"))
	if mode == 1 {
		by = max(float64(tw)/float64(iw), float64(th)/float64(ih))
		info = append(info, fmt.Sprintf("Postprocess upscale to: %dx%d", tw, th))
	} else {
		by = v.float("upscaling_resize")
		shown := pyFloatRepr(by)
		if n, ok := v["upscaling_resize"].(int64); ok {
			by, shown = float64(n), fmt.Sprint(n)
		}
		info = append(info, "Postprocess upscale by: "+shown)
	}
	dw, dh := int(float64(iw)*by)/8*8, int(float64(ih)*by)/8*8
	if dw <= 0 || dh <= 0 {
		return nil, nil, 0, pyErr("ValueError", "height and width must be > 0")
	}
	if dw > MaxSide || dh > MaxSide {
		return nil, nil, 0, limitErr("upscaled size %dx%d is larger than %dx%d", dw, dh, MaxSide, MaxSide)
	}
	k := lanczos
	if up.name == "Nearest" {
		k = nearest
	}
	out := resize(img, dw, dh, k)
	steps := 1
	if up.model {
		// A neural upscaler restores edges that a resampling kernel leaves soft: the
		// stand-in approximates its crisper output with an unsharp mask over Lanczos.
		out = unsharp(out, 0.8)
		tiles := ((iw + 191) / 192) * ((ih + 191) / 192)
		passes := 1
		for sc := up.scale; float64(iw)*sc < float64(dw) && passes < 3; sc *= up.scale {
			passes++
		}
		steps = tiles * passes
	}
	if mode == 1 && v.bool("upscaling_crop") {
		canvas := image.NewNRGBA(image.Rect(0, 0, tw, th))
		for i := 3; i < len(canvas.Pix); i += 4 {
			canvas.Pix[i] = 255
		}
		ox, oy := tw/2-dw/2, th/2-dh/2
		for y := 0; y < dh; y++ {
			cy := y + oy
			if cy < 0 || cy >= th {
				continue
			}
			for x := 0; x < dw; x++ {
				cx := x + ox
				if cx < 0 || cx >= tw {
					continue
				}
				copy(canvas.Pix[canvas.PixOffset(cx, cy):canvas.PixOffset(cx, cy)+4], out.Pix[out.PixOffset(x, y):])
			}
		}
		out = canvas
		info = append(info, fmt.Sprintf("Postprocess crop to: %dx%d", tw, th))
	}
	return out, info, steps, nil
}

// unsharp sharpens img's colour channels by amount times its difference from a 3x3 box
// blur (alpha untouched).
func unsharp(img *image.NRGBA, amount float64) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewNRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			o := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				sum := 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						sum += int(img.Pix[img.PixOffset(x+dx, y+dy)+c])
					}
				}
				v := float64(img.Pix[o+c])
				out.Pix[o+c] = clamp8(v + amount*(v-float64(sum)/9))
			}
		}
	}
	return out
}
