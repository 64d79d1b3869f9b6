package checks

import (
	"errors"
	"fmt"
	"math"
)

// ErrBadBuffer is returned when a pixel buffer or mask does not match the size and band
// count it is passed with (or the size or band count is itself impossible). It is always
// wrapped with the detail.
var ErrBadBuffer = errors.New("bad pixel buffer")

// maskOn is the least mask value that counts as product (soft masks are halved here).
const maskOn = 128

// checkSize rejects sizes that are not positive or whose pixel count overflows.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("size %dx%d is not positive: %w", w, h, ErrBadBuffer)
	}
	if w > math.MaxInt32/h {
		return fmt.Errorf("size %dx%d is too large: %w", w, h, ErrBadBuffer)
	}
	return nil
}

// checkBuf checks that buf holds w*h pixels of bands bytes each, bands being 1, 3 or 4.
func checkBuf(name string, buf []byte, bands, w, h int) error {
	if err := checkSize(w, h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if bands != 1 && bands != 3 && bands != 4 {
		return fmt.Errorf("%s: %d bands, want 1, 3 or 4: %w", name, bands, ErrBadBuffer)
	}
	if len(buf) != w*h*bands {
		return fmt.Errorf("%s: %d bytes for %dx%dx%d, want %d: %w", name, len(buf), w, h, bands, w*h*bands, ErrBadBuffer)
	}
	return nil
}

// onSet returns mask >= 128 as a set of pixels.
func onSet(mask []byte) []bool {
	s := make([]bool, len(mask))
	for i, v := range mask {
		s[i] = v >= maskOn
	}
	return s
}

// ProductPixelsChanged measures how much of the product an edit touched: it erodes the
// mask (>= 128 is product) by erode pixels with a square structuring element, so the
// feathered edge is not judged (the frame edge is not background: product pixels within
// erode of it stay), and returns the share of the remaining product pixels where any band
// of out differs from src by more than tol. With 4 bands alpha is compared too, so a
// product pixel made transparent counts as changed. counted is the number of product
// pixels compared; when it is 0 the share is 0. A negative erode counts as 0.
//
// (Named ProductPixelsChanged because the check name constant ProductPixels already
// takes that identifier in this package.)
func ProductPixelsChanged(src, out []byte, bands int, mask []byte, w, h, erode, tol int) (share float64, counted int, err error) {
	if err := checkBuf("source", src, bands, w, h); err != nil {
		return 0, 0, err
	}
	if err := checkBuf("output", out, bands, w, h); err != nil {
		return 0, 0, err
	}
	if err := checkBuf("mask", mask, 1, w, h); err != nil {
		return 0, 0, err
	}
	keep := onSet(mask)
	if erode > 0 {
		keep = erodeSet(keep, w, h, erode)
	}
	changed := 0
	for i, k := range keep {
		if !k {
			continue
		}
		counted++
		p := i * bands
		for c := range bands {
			d := int(src[p+c]) - int(out[p+c])
			if d > tol || -d > tol {
				changed++
				break
			}
		}
	}
	if counted == 0 {
		return 0, 0, nil
	}
	return float64(changed) / float64(counted), counted, nil
}

// MaskStat describes a mask: Coverage is the share of the frame that is product (>= 128),
// Speckle the share of the product area outside its largest 8-connected region (0 when
// there is no product), Border the share of the frame's outermost 1-px ring that is
// product (each ring pixel counted once).
type MaskStat struct {
	Coverage, Speckle, Border float64
}

// MaskStats measures a one-band mask of w*h bytes.
func MaskStats(mask []byte, w, h int) (MaskStat, error) {
	if err := checkBuf("mask", mask, 1, w, h); err != nil {
		return MaskStat{}, err
	}
	var st MaskStat
	comps := components(mask, w, h)
	area, largest := 0, 0
	for _, c := range comps {
		area += c.area
		largest = max(largest, c.area)
	}
	st.Coverage = float64(area) / float64(w*h)
	if area > 0 {
		st.Speckle = 1 - float64(largest)/float64(area)
	}
	on, ring := 0, 0
	visit := func(i int) {
		ring++
		if mask[i] >= maskOn {
			on++
		}
	}
	if w <= 2 || h <= 2 {
		// Every pixel is on the ring.
		for i := range mask {
			visit(i)
		}
	} else {
		for x := range w {
			visit(x)
			visit((h-1)*w + x)
		}
		for y := 1; y < h-1; y++ {
			visit(y * w)
			visit(y*w + w - 1)
		}
	}
	st.Border = float64(on) / float64(ring)
	return st, nil
}

// Sharpness is the variance of the 4-neighbour Laplacian (4c - up - down - left - right)
// over the interior pixels of a grey image; 0 for images smaller than 3x3.
func Sharpness(grey []byte, w, h int) (float64, error) {
	if err := checkBuf("grey", grey, 1, w, h); err != nil {
		return 0, err
	}
	if w < 3 || h < 3 {
		return 0, nil
	}
	var sum, sq int64
	for y := 1; y < h-1; y++ {
		up, row, down := grey[(y-1)*w:y*w], grey[y*w:(y+1)*w], grey[(y+1)*w:(y+2)*w]
		for x := 1; x < w-1; x++ {
			l := 4*int64(row[x]) - int64(row[x-1]) - int64(row[x+1]) - int64(up[x]) - int64(down[x])
			sum += l
			sq += l * l
		}
	}
	n := float64((w - 2) * (h - 2))
	mean := float64(sum) / n
	return max(0, float64(sq)/n-mean*mean), nil
}

// Background judges a background rule: over the background pixels (mask < 128) farther
// than away pixels (Chebyshev distance) from every product pixel, so the anti-aliased
// edge is not judged, it returns the share whose every RGB channel is within tol of
// color. Alpha (4 bands) is ignored; a grey pixel (1 band) is compared as (v, v, v).
// counted is the number of pixels judged; when it is 0 the share is 1. A negative away
// counts as 0.
func Background(pix []byte, bands int, mask []byte, w, h int, color [3]uint8, tol, away int) (share float64, counted int, err error) {
	if err := checkBuf("image", pix, bands, w, h); err != nil {
		return 0, 0, err
	}
	if err := checkBuf("mask", mask, 1, w, h); err != nil {
		return 0, 0, err
	}
	near := onSet(mask)
	if away > 0 {
		near = dilateSet(near, w, h, away)
	}
	within := func(v byte, c uint8) bool {
		d := int(v) - int(c)
		return d <= tol && -d <= tol
	}
	good := 0
	for i, n := range near {
		if n {
			continue
		}
		counted++
		p := i * bands
		var r, g, b byte
		if bands == 1 {
			r, g, b = pix[p], pix[p], pix[p]
		} else {
			r, g, b = pix[p], pix[p+1], pix[p+2]
		}
		if within(r, color[0]) && within(g, color[1]) && within(b, color[2]) {
			good++
		}
	}
	if counted == 0 {
		return 1, 0, nil
	}
	return float64(good) / float64(counted), counted, nil
}

// fillMinShare is the least area, as a share of the frame, of a component that Fill
// counts; smaller ones are speckles.
const fillMinShare = 0.0005

// Fill is how far the product spans the frame: max(boxW/w, boxH/h) of the bounding box of
// the product pixels (mask >= 128), ignoring 8-connected components smaller than 0.05% of
// the frame so speckles do not widen the box (the largest component always counts, so a
// tiny product still has a box). 0 when there is no product.
func Fill(mask []byte, w, h int) (float64, error) {
	if err := checkBuf("mask", mask, 1, w, h); err != nil {
		return 0, err
	}
	comps := components(mask, w, h)
	if len(comps) == 0 {
		return 0, nil
	}
	big := 0
	for i, c := range comps {
		if c.area > comps[big].area {
			big = i
		}
	}
	minArea := fillMinShare * float64(w*h)
	box := comps[big]
	for _, c := range comps {
		if float64(c.area) < minArea {
			continue
		}
		box.x0, box.y0 = min(box.x0, c.x0), min(box.y0, c.y0)
		box.x1, box.y1 = max(box.x1, c.x1), max(box.y1, c.y1)
	}
	return max(float64(box.x1-box.x0+1)/float64(w), float64(box.y1-box.y0+1)/float64(h)), nil
}
