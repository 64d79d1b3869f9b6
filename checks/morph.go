package checks

// dilateSet returns the pixels within Chebyshev distance r (a (2r+1)-square structuring
// element) of a pixel in set; pixels outside the frame are not in set. It runs two
// separable passes, each O(w*h) whatever r is.
func dilateSet(set []bool, w, h, r int) []bool {
	if r <= 0 {
		return append([]bool(nil), set...)
	}
	tmp := make([]bool, len(set))
	// Rows: distance to the nearest set pixel on the left, then on the right.
	for y := range h {
		row, dst := set[y*w:(y+1)*w], tmp[y*w:(y+1)*w]
		last := -r - 1
		for x := range w {
			if row[x] {
				last = x
			}
			dst[x] = x-last <= r
		}
		next := w + r + 1
		for x := w - 1; x >= 0; x-- {
			if row[x] {
				next = x
			}
			if next-x <= r {
				dst[x] = true
			}
		}
	}
	// Columns, walked row by row so memory is read in order.
	out := make([]bool, len(set))
	mark := make([]int, w)
	for x := range mark {
		mark[x] = -r - 1
	}
	for y := range h {
		src, dst := tmp[y*w:(y+1)*w], out[y*w:(y+1)*w]
		for x := range w {
			if src[x] {
				mark[x] = y
			}
			dst[x] = y-mark[x] <= r
		}
	}
	for x := range mark {
		mark[x] = h + r + 1
	}
	for y := h - 1; y >= 0; y-- {
		src, dst := tmp[y*w:(y+1)*w], out[y*w:(y+1)*w]
		for x := range w {
			if src[x] {
				mark[x] = y
			}
			if mark[x]-y <= r {
				dst[x] = true
			}
		}
	}
	return out
}

// erodeSet returns the pixels of set farther than r (Chebyshev) from every pixel inside
// the frame that is not in set: the frame edge does not erode.
func erodeSet(set []bool, w, h, r int) []bool {
	if r <= 0 {
		return append([]bool(nil), set...)
	}
	not := make([]bool, len(set))
	for i, v := range set {
		not[i] = !v
	}
	near := dilateSet(not, w, h, r)
	for i, v := range near {
		near[i] = !v
	}
	return near
}
