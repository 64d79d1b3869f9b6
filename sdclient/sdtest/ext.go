package sdtest

import (
	"fmt"
	"hash/fnv"
	"image"
	"image/draw"
	"io"
	"net/http"
	"slices"
)

// rembgFields are the /rembg Body() parameters.
func rembgFields() []field {
	d := func(name string, k kind, def any) field { return field{name: name, kind: k, def: def} }
	return []field{
		d("input_image", kStr, ""),
		d("model", kStr, "u2net"),
		d("return_mask", kBool, false),
		d("alpha_matting", kBool, false),
		d("alpha_matting_foreground_threshold", kInt, int64(240)),
		d("alpha_matting_background_threshold", kInt, int64(10)),
		d("alpha_matting_erode_size", kInt, int64(10)),
	}
}

// clothSegModel is rembg's clothes segmentation model, which answers three
// class masks stacked vertically.
const clothSegModel = "u2net_cloth_seg"

// handleRembg is the rembg extension's POST /rembg: no lock, no auth. A
// model of "" or "None" answers null; u2net_cloth_seg answers three
// stacked class masks (see clothSeg); any other name acts as u2net. The
// Mask fault changes the mask, and so the cut-out's alpha.
func (s *Server) handleRembg(w http.ResponseWriter, r *http.Request, c *Call) {
	faults := s.Faults()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, ok := s.parseBody(w, r, body, rembgFields(), true)
	if !ok {
		return
	}
	if m := v.str("model"); m == "" || m == "None" {
		writeJSON(w, http.StatusOK, nil)
		return
	}
	p, err := decodeImage(v.str("input_image"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if !s.sleepSteps(r, 3) {
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "sdtest: server closed"})
		return
	}
	mask := faults.faultyMask(foreground(p.img))
	masks := []*image.Gray{mask}
	if v.str("model") == clothSegModel {
		masks = clothSeg(mask)
	}
	// rembg 2.0.50's remove(): one cut-out (or mask) per mask, stacked
	// vertically by get_concat_v_multi.
	var outs []image.Image
	for _, m := range masks {
		if v.bool("return_mask") {
			outs = append(outs, m)
		} else {
			outs = append(outs, pilRGBA{cutout(p.img, m)})
		}
	}
	out := outs[0]
	if len(outs) > 1 {
		out = concatV(outs)
	}
	raw, aerr := s.encodeOutput(out)
	if aerr != nil {
		s.writeErr(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, object{{"image", b64(raw)}})
}

// clothSeg is u2net_cloth_seg's answer for a product mask: the upper body,
// lower body and full body class masks, each the size of the input. The
// stand-in's upper class is the product above the middle row of its
// bounding box, lower the rest, full the whole product.
func clothSeg(m *image.Gray) []*image.Gray {
	upper, lower := image.NewGray(m.Rect), image.NewGray(m.Rect)
	full := image.NewGray(m.Rect)
	copy(full.Pix, m.Pix)
	if r, ok := bbox(m); ok {
		mid := (r.Min.Y + r.Max.Y) / 2
		w := m.Rect.Dx()
		copy(upper.Pix[:mid*w], m.Pix[:mid*w])
		copy(lower.Pix[mid*w:], m.Pix[mid*w:])
	}
	return []*image.Gray{upper, lower, full}
}

// concatV is rembg's get_concat_v_multi: the images one under the other on
// a canvas as wide as the first and as tall as all. get_concat_v always
// makes an RGBA canvas and PIL's paste converts what it pastes to that
// mode, so stacked L masks come out RGBA, the mask in the colour channels
// and the alpha opaque.
func concatV(imgs []image.Image) image.Image {
	w, h := imgs[0].Bounds().Dx(), 0
	for _, im := range imgs {
		h += im.Bounds().Dy()
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	y := 0
	for _, im := range imgs {
		b := im.Bounds()
		draw.Draw(dst, image.Rect(0, y, w, y+b.Dy()), im, b.Min, draw.Src)
		y += b.Dy()
	}
	return pilRGBA{dst}
}

// pilRGBA is a picture PIL holds in mode RGBA. PIL writes such a picture
// as an RGBA PNG even when every pixel is opaque (Go's encoder would drop
// the alpha channel), so a reader that takes a mask from the alpha channel
// gets an opaque one.
type pilRGBA struct{ *image.NRGBA }

// Opaque reports false, so that the PNG keeps its alpha channel.
func (pilRGBA) Opaque() bool { return false }

// foreground separates a picture on a plain background: the background is
// everything a flood fill from the border reaches through pixels close to
// the border's median colour (or transparent). It returns an L mask, white
// = foreground.
func foreground(img *image.NRGBA) *image.Gray {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var rs, gs, bs []int
	border := func(x, y int) {
		o := img.PixOffset(x, y)
		if img.Pix[o+3] >= 128 {
			rs, gs, bs = append(rs, int(img.Pix[o])), append(gs, int(img.Pix[o+1])), append(bs, int(img.Pix[o+2]))
		}
	}
	for x := 0; x < w; x++ {
		border(x, 0)
		border(x, h-1)
	}
	for y := 0; y < h; y++ {
		border(0, y)
		border(w-1, y)
	}
	median := func(v []int) int {
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	bg := [3]int{median(rs), median(gs), median(bs)}
	const tol = 32
	isBG := func(i int) bool {
		o := 4 * i
		if img.Pix[o+3] < 128 {
			return true
		}
		if len(rs) == 0 {
			return false
		}
		for c := range 3 {
			d := int(img.Pix[o+c]) - bg[c]
			if d > tol || d < -tol {
				return false
			}
		}
		return true
	}
	mask := image.NewGray(image.Rect(0, 0, w, h))
	for i := range mask.Pix {
		mask.Pix[i] = 255
	}
	queue := make([]int, 0, 2*(w+h))
	visit := func(x, y int) {
		i := y*w + x
		if mask.Pix[i] == 0 || !isBG(i) {
			return
		}
		mask.Pix[i] = 0
		queue = append(queue, i)
	}
	for x := 0; x < w; x++ {
		visit(x, 0)
		visit(x, h-1)
	}
	for y := 0; y < h; y++ {
		visit(0, y)
		visit(w-1, y)
	}
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		x, y := i%w, i/w
		if x > 0 {
			visit(x-1, y)
		}
		if x < w-1 {
			visit(x+1, y)
		}
		if y > 0 {
			visit(x, y-1)
		}
		if y < h-1 {
			visit(x, y+1)
		}
	}
	return mask
}

// cutout is rembg's naive_cutout: the picture where the mask is set,
// transparent black elsewhere.
func cutout(img *image.NRGBA, mask *image.Gray) *image.NRGBA {
	dst := image.NewNRGBA(img.Rect)
	for i, m := range mask.Pix {
		if m >= 128 {
			copy(dst.Pix[4*i:4*i+4], img.Pix[4*i:4*i+4])
		}
	}
	return dst
}

// samModels are the SAM checkpoints the stand-in "has" in models/sam.
var samModels = []string{
	"sam_vit_h_4b8939.pth", "sam_vit_l_0b3195.pth", "sam_vit_b_01ec64.pth",
	"sam_hq_vit_h.pth", "sam_hq_vit_l.pth", "sam_hq_vit_b.pth", "mobile_sam.pt",
}

func samFields() []field {
	points := field{kind: kList, elem: &field{kind: kList, elem: &field{kind: kFloat}}}
	pos, neg := points, points
	pos.name, pos.def = "sam_positive_points", []any{}
	neg.name, neg.def = "sam_negative_points", []any{}
	return []field{
		{name: "sam_model_name", kind: kStr, def: "sam_vit_h_4b8939.pth"},
		{name: "input_image", kind: kStr, required: true},
		pos,
		neg,
		{name: "dino_enabled", kind: kBool, def: false},
		{name: "dino_model_name", kind: kStr, def: "GroundingDINO_SwinT_OGC (694MB)", nullable: true},
		{name: "dino_text_prompt", kind: kStr, nullable: true},
		{name: "dino_box_threshold", kind: kFloat, def: 0.3, nullable: true},
		{name: "dino_preview_checkbox", kind: kBool, def: false},
		{name: "dino_preview_boxes_selection", kind: kList, nullable: true, elem: &field{kind: kInt}},
	}
}

func (s *Server) handleSAMHeartbeat(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, object{{"msg", "Success!"}})
}

func (s *Server) handleSAMModels(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, samModels)
}

// handleSAMPredict is the segment-anything extension's POST
// /sam/sam-predict: no lock, no auth. Point prompts select the regions
// (foreground parts, or the background) that contain them; a DINO text
// prompt selects the foreground. It answers, or only msg without a prompt,
// SAM's three multimask outputs in decoder order with their scores dropped
// (see samMasks), their overlays and their cut-outs, each encoded by
// samples_format (masks as 1-bit PNG when that is png). The Mask fault
// changes each mask, and so its overlay and cut-out.
func (s *Server) handleSAMPredict(w http.ResponseWriter, r *http.Request, c *Call) {
	faults := s.Faults()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, ok := s.parseBody(w, r, body, samFields(), false)
	if !ok {
		return
	}
	p, err := decodeImage(v.str("input_image"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	img := p.img
	fg := foreground(img)
	dino := v.bool("dino_enabled") && !v.isNull("dino_text_prompt")
	boxes := 0
	fgBox, anyFG := bbox(fg)
	if dino && anyFG && v.str("dino_text_prompt") != "" {
		boxes = 1
	}
	model := v.str("sam_model_name")
	if !slices.Contains(samModels, model) {
		s.exception(w, "Exception", model+" not found, please download model to models/sam.")
		return
	}
	posPts, negPts := points(v["sam_positive_points"]), points(v["sam_negative_points"])
	if boxes == 0 && len(posPts)+len(negPts) == 0 {
		msg := "You neither added point prompts nor enabled GroundingDINO. Segmentation cannot be generated."
		if dino && v.bool("dino_preview_checkbox") {
			msg = "It seems that you are using a high box threshold with no point prompts. Please lower your box threshold and re-try."
		}
		writeJSON(w, http.StatusOK, object{{"msg", msg}})
		return
	}
	if !s.sleepSteps(r, 4) {
		writeJSON(w, http.StatusServiceUnavailable, detailBody{Detail: "sdtest: server closed"})
		return
	}
	sel := fg
	at := fgBox.Min.Add(fgBox.Size().Div(2))
	if boxes == 0 {
		sel = selectRegions(fg, posPts, negPts)
		if len(posPts) > 0 {
			at = image.Pt(int(posPts[0][0]), int(posPts[0][1]))
		}
	}
	msg := fmt.Sprintf("SAM inference with %d box, %d positive prompts, %d negative prompts done.", boxes, len(posPts), len(negPts))
	masks := samMasks(img, sel, at, samOrder(v.str("input_image"), posPts, negPts))
	for i, m := range masks {
		masks[i] = faults.faultyMask(m)
	}
	bitPNG := s.samplesFormat() == "png"
	var blended, bits, masked []string
	for _, m := range masks {
		b, aerr := s.encodeOutput(tint(img, m))
		if aerr != nil {
			s.writeErr(w, aerr)
			return
		}
		mb := encodeBitPNG(m)
		if !bitPNG {
			if mb, aerr = s.encodeOutput(m); aerr != nil {
				s.writeErr(w, aerr)
				return
			}
		}
		cb, aerr := s.encodeOutput(cutout(img, m))
		if aerr != nil {
			s.writeErr(w, aerr)
			return
		}
		blended, bits, masked = append(blended, b64(b)), append(bits, b64(mb)), append(masked, b64(cb))
	}
	writeJSON(w, http.StatusOK, object{{"msg", msg}, {"blended_images", blended}, {"masks", bits}, {"masked_images", masked}})
}

// The three kinds of mask SAM's multimask output holds, by ambiguity level.
const (
	samPart  = iota // a part of the object
	samWhole        // the whole object
	samLarge        // the object with some of its surroundings
)

// samOrders are the decoder orders the stand-in answers in. SAM does not
// rank its three outputs and the extension drops their scores, so a client
// must choose; the stand-in never puts the whole object first, so a client
// that takes masks[0] always gets a wrong mask.
var samOrders = [][3]int{
	{samPart, samWhole, samLarge},
	{samLarge, samWhole, samPart},
	{samPart, samLarge, samWhole},
	{samLarge, samPart, samWhole},
}

// samOrder picks the order for a request from a hash of its image and
// prompts: the same request always gets the same order, different pictures
// get different ones.
func samOrder(image string, pos, neg [][2]float64) [3]int {
	h := fnv.New64a()
	_, _ = io.WriteString(h, image)
	_, _ = fmt.Fprint(h, pos, neg)
	return samOrders[h.Sum64()%uint64(len(samOrders))]
}

// samMasks makes SAM's three masks for the selected region sel, prompted at
// at, in order: a part (the region of sel around at whose colour is within
// 24 levels of the colour there, or, when that is most of sel, the half of
// sel's bounding box holding at), the whole of sel, and sel grown by a tenth
// of the picture's shorter side (at least 3 pixels).
func samMasks(img *image.NRGBA, sel *image.Gray, at image.Point, order [3]int) []*image.Gray {
	w, h := sel.Rect.Dx(), sel.Rect.Dy()
	kinds := [3]*image.Gray{
		samPart:  partOf(img, sel, at),
		samWhole: sel,
		samLarge: dilate(sel, max(3, min(w, h)/10)),
	}
	out := make([]*image.Gray, 3)
	for i, k := range order {
		out[i] = kinds[k]
	}
	return out
}

// partOf is the part of sel that SAM's finest output would give for a
// prompt at at; see samMasks.
func partOf(img *image.NRGBA, sel *image.Gray, at image.Point) *image.Gray {
	w, h := sel.Rect.Dx(), sel.Rect.Dy()
	out := image.NewGray(sel.Rect)
	area := 0
	start := -1
	for i, v := range sel.Pix {
		if v >= 128 {
			area++
			if start < 0 {
				start = i
			}
		}
	}
	if area == 0 {
		return out
	}
	if at.In(sel.Rect) && sel.Pix[at.Y*w+at.X] >= 128 {
		start = at.Y*w + at.X
	}
	ref := img.Pix[4*start : 4*start+3]
	near := func(i int) bool {
		for c := range 3 {
			if d := int(img.Pix[4*i+c]) - int(ref[c]); d > 24 || d < -24 {
				return false
			}
		}
		return true
	}
	part := 0
	stack := []int{start}
	out.Pix[start] = 255
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		part++
		x, y := i%w, i/w
		for _, n := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
			if n[0] < 0 || n[1] < 0 || n[0] >= w || n[1] >= h {
				continue
			}
			j := n[1]*w + n[0]
			if out.Pix[j] == 0 && sel.Pix[j] >= 128 && near(j) {
				out.Pix[j] = 255
				stack = append(stack, j)
			}
		}
	}
	if part*10 < area*7 {
		return out
	}
	// Most of the object has one colour: take the half holding the prompt.
	r, _ := bbox(sel)
	sx, sy := start%w, start/w
	half := r
	if r.Dx() >= r.Dy() {
		mid := (r.Min.X + r.Max.X) / 2
		if sx < mid {
			half.Max.X = mid
		} else {
			half.Min.X = mid
		}
	} else {
		mid := (r.Min.Y + r.Max.Y) / 2
		if sy < mid {
			half.Max.Y = mid
		} else {
			half.Min.Y = mid
		}
	}
	for i := range out.Pix {
		out.Pix[i] = 0
		if sel.Pix[i] >= 128 && image.Pt(i%w, i/w).In(half) {
			out.Pix[i] = 255
		}
	}
	return out
}

// dilate grows a binary mask by r pixels (a square window), in time
// independent of r: a running count per row, then per column.
func dilate(m *image.Gray, r int) *image.Gray {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	rows := image.NewGray(m.Rect)
	for y := range h {
		run := 0 // set pixels in [x-r, x+r] of this row
		for x := 0; x < min(r, w); x++ {
			if m.Pix[y*w+x] >= 128 {
				run++
			}
		}
		for x := range w {
			if x+r < w && m.Pix[y*w+x+r] >= 128 {
				run++
			}
			if x-r-1 >= 0 && m.Pix[y*w+x-r-1] >= 128 {
				run--
			}
			if run > 0 {
				rows.Pix[y*w+x] = 255
			}
		}
	}
	out := image.NewGray(m.Rect)
	for x := range w {
		run := 0
		for y := 0; y < min(r, h); y++ {
			if rows.Pix[y*w+x] != 0 {
				run++
			}
		}
		for y := range h {
			if y+r < h && rows.Pix[(y+r)*w+x] != 0 {
				run++
			}
			if y-r-1 >= 0 && rows.Pix[(y-r-1)*w+x] != 0 {
				run--
			}
			if run > 0 {
				out.Pix[y*w+x] = 255
			}
		}
	}
	return out
}

func points(x any) [][2]float64 {
	l, _ := x.([]any)
	var out [][2]float64
	for _, e := range l {
		p, _ := e.([]any)
		if len(p) < 2 {
			continue
		}
		px, _ := p[0].(float64)
		py, _ := p[1].(float64)
		out = append(out, [2]float64{px, py})
	}
	return out
}

// selectRegions labels the 4-connected regions of equal mask value and
// keeps those holding a positive point and no negative point.
func selectRegions(fg *image.Gray, pos, neg [][2]float64) *image.Gray {
	w, h := fg.Rect.Dx(), fg.Rect.Dy()
	labels := make([]int, w*h)
	next := 0
	for start := range labels {
		if labels[start] != 0 {
			continue
		}
		next++
		val := fg.Pix[start]
		stack := []int{start}
		labels[start] = next
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			for _, n := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if n[0] < 0 || n[1] < 0 || n[0] >= w || n[1] >= h {
					continue
				}
				j := n[1]*w + n[0]
				if labels[j] == 0 && fg.Pix[j] == val {
					labels[j] = next
					stack = append(stack, j)
				}
			}
		}
	}
	at := func(p [2]float64) int {
		x, y := min(max(int(p[0]), 0), w-1), min(max(int(p[1]), 0), h-1)
		return labels[y*w+x]
	}
	keep := map[int]bool{}
	for _, p := range pos {
		keep[at(p)] = true
	}
	for _, p := range neg {
		delete(keep, at(p))
	}
	out := image.NewGray(fg.Rect)
	for i, l := range labels {
		if keep[l] {
			out.Pix[i] = 255
		}
	}
	return out
}

// tint is show_masks: the masked area blended half way to a blue.
func tint(img *image.NRGBA, m *image.Gray) *image.NRGBA {
	dst := image.NewNRGBA(img.Rect)
	copy(dst.Pix, img.Pix)
	col := [3]float64{30, 144, 255}
	for i, v := range m.Pix {
		if v < 128 {
			continue
		}
		for c := range 3 {
			dst.Pix[4*i+c] = clamp8(float64(dst.Pix[4*i+c])*0.5 + col[c]*0.5)
		}
	}
	return dst
}
