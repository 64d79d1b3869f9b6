package pipeline

import (
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/sdclient"
)

// How remove_background with engine sd and model sam picks one of segment-anything's masks.

// loadMask decodes a mask from a backend into a one-band mask.
func loadMask(c *Context, data []byte) (*imaging.Image, error) {
	mask, err := imaging.Load(data, imaging.LoadOptions{MaxPixels: c.Env.MaxPixels})
	if err != nil {
		return nil, fmt.Errorf("mask from backend: %w", err)
	}
	if err := mask.ToMask(); err != nil {
		mask.Close()
		return nil, err
	}
	return mask, nil
}

// samCandidate is one of segment-anything's masks, measured on the sampled grid.
type samCandidate struct {
	mask     *imaging.Image
	area     int     // sampled pixels set
	contains bool    // the prompt point is set
	border   float64 // share of the image border that is set
	edge     float64 // mean gradient of the picture along the mask's outline
	iou      float64 // agreement with the classic matte; -1 without one
}

// chooseSAMMask picks one of segment-anything's masks and records which and why. The
// extension answers SAM's three multimask outputs in decoder order with their scores
// dropped: one may be a part of the product (a label, a face of the box), one the whole
// product, one the product with some of its surroundings. The choice:
//   - only masks that hold the prompt point, are neither empty nor almost the whole
//     picture, and cover less than half the picture's border count (all non-empty ones
//     when none does);
//   - on a plain background, the one that agrees best with the classic matte (IoU at
//     least 0.5);
//   - otherwise the largest whose outline runs along the picture's edges: its mean
//     gradient at least 0.7 of the best one's. A part is smaller than the whole; an
//     over-large region's outline runs through flat background.
//
// Lineage records sam_mask (the index chosen, of the count answered) and
// sam_mask_reason.
func (c *Context) chooseSAMMask(masks [][]byte, at image.Point) (*imaging.Image, error) {
	w, h := c.Image.Width(), c.Image.Height()
	step := sampleStep(w, h)
	cands := make([]*samCandidate, 0, len(masks))
	defer func() {
		for _, k := range cands {
			if k.mask != nil {
				k.mask.Close()
			}
		}
	}()
	sw, sh, src, err := c.Image.Sample(step, true)
	if err != nil {
		return nil, fmt.Errorf("segment-anything masks: %w", err)
	}
	var matte []byte
	if plain, _, err := c.Image.PlainBackground(); err == nil && plain {
		if mt, err := c.Image.Matte(imaging.MatteOptions{}); err == nil {
			_, _, full, gerr := mt.Gray()
			mt.Close()
			if gerr == nil {
				_, _, matte, _ = imaging.PickGray(w, h, full, step)
			}
		}
	}
	px, py := min(at.X/step, sw-1), min(at.Y/step, sh-1)
	for i, data := range masks {
		m, err := loadMask(c, data)
		if err != nil {
			return nil, fmt.Errorf("segment-anything mask %d: %w", i, err)
		}
		k := &samCandidate{mask: m, iou: -1}
		cands = append(cands, k)
		if m.Width() != w || m.Height() != h {
			return nil, fmt.Errorf("segment-anything mask %d is %dx%d, image is %dx%d: %w", i, m.Width(), m.Height(), w, h, sdclient.ErrBackend)
		}
		_, _, full, err := m.Gray()
		if err != nil {
			return nil, fmt.Errorf("segment-anything mask %d: %w", i, err)
		}
		mw, mh, pix, err := imaging.PickGray(w, h, full, step)
		if err != nil || mw != sw || mh != sh {
			return nil, fmt.Errorf("segment-anything mask %d: sampled to %dx%d, image to %dx%d: %w", i, mw, mh, sw, sh, err)
		}
		measureSAM(k, pix, src, matte, sw, sh, px, py)
	}
	n := sw * sh
	var valid []int
	for i, k := range cands {
		if k.contains && k.area > 0 && k.area*100 < n*95 && k.border < 0.5 {
			valid = append(valid, i)
		}
	}
	relaxed := len(valid) == 0
	if relaxed {
		for i, k := range cands {
			if k.area > 0 {
				valid = append(valid, i)
			}
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("segment-anything found no object: every mask is empty: %w", imaging.ErrInvalidOption)
	}
	pick, reason := -1, ""
	if matte != nil {
		for _, i := range valid {
			if pick < 0 || cands[i].iou > cands[pick].iou {
				pick = i
			}
		}
		if cands[pick].iou >= 0.5 {
			reason = fmt.Sprintf("plain background: agrees best with the classic matte (IoU %s)", samFigures(cands, pick, func(k *samCandidate) float64 { return k.iou }, "%.2f"))
		} else {
			pick = -1
		}
	}
	if pick < 0 {
		best := 0.0
		for _, i := range valid {
			best = max(best, cands[i].edge)
		}
		for _, i := range valid {
			if cands[i].edge >= 0.7*best && (pick < 0 || cands[i].area > cands[pick].area) {
				pick = i
			}
		}
		reason = fmt.Sprintf("largest mask whose outline follows the picture's edges (mean outline gradient %s)", samFigures(cands, pick, func(k *samCandidate) float64 { return k.edge }, "%.0f"))
	}
	if relaxed {
		reason += "; no mask held the prompt point without covering most of the border"
	}
	chosen := cands[pick].mask
	cands[pick].mask = nil // kept: the caller closes it
	c.note("sam_mask", fmt.Sprintf("%d of %d", pick, len(masks)))
	c.note("sam_mask_reason", reason)
	return chosen, nil
}

// samFigures formats one measure of every candidate, the chosen one marked.
func samFigures(cands []*samCandidate, pick int, f func(*samCandidate) float64, format string) string {
	parts := make([]string, len(cands))
	for i, k := range cands {
		parts[i] = fmt.Sprintf("masks[%d] "+format, i, f(k))
		if i == pick {
			parts[i] += " chosen"
		}
	}
	return strings.Join(parts, ", ")
}

// measureSAM fills a candidate's measures from its sampled mask pix, the sampled grey
// picture src, the sampled classic matte (nil without one) and the prompt point.
func measureSAM(k *samCandidate, pix, src, matte []byte, w, h, px, py int) {
	set := func(x, y int) bool { return pix[y*w+x] >= 128 }
	k.contains = set(px, py)
	borderSet, borderN := 0, 0
	var edgeSum float64
	edgeN := 0
	inter, union := 0, 0
	for y := range h {
		for x := range w {
			i := y*w + x
			in := pix[i] >= 128
			if in {
				k.area++
			}
			if matte != nil {
				mt := matte[i] >= 128
				if in && mt {
					inter++
				}
				if in || mt {
					union++
				}
			}
			if x == 0 || y == 0 || x == w-1 || y == h-1 {
				borderN++
				if in {
					borderSet++
				}
				continue
			}
			if in && (!set(x-1, y) || !set(x+1, y) || !set(x, y-1) || !set(x, y+1)) {
				gx := float64(src[i+1]) - float64(src[i-1])
				gy := float64(src[i+w]) - float64(src[i-w])
				edgeSum += math.Abs(gx) + math.Abs(gy)
				edgeN++
			}
		}
	}
	if borderN > 0 {
		k.border = float64(borderSet) / float64(borderN)
	}
	if edgeN > 0 {
		k.edge = edgeSum / float64(edgeN)
	}
	if matte != nil && union > 0 {
		k.iou = float64(inter) / float64(union)
	}
}
