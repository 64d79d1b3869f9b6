package checks

// BorderFlood finds the product in an image shot on a plain background, from its pixels
// alone, and returns it as a one-band mask (255 product, 0 background). The background
// colour is the per-channel median of the frame's outermost 1-px ring; the background is
// every pixel reachable from the ring (4-connected, iterative flood fill) through pixels
// that look like that colour; everything else is product, so a white label enclosed by a
// dark product stays product. A pixel looks like the background when every RGB channel
// (the one grey band for 1-band input) is within tol of the median; the flood also
// passes an outlier that has at most one outlier among its 8 neighbours, so lone
// JPEG-noise specks do not become product while a 1-px outline still holds. With 4
// bands, fully transparent pixels are background too and are left out of the median.
func BorderFlood(pix []byte, bands int, w, h, tol int) ([]byte, error) {
	if err := checkBuf("image", pix, bands, w, h); err != nil {
		return nil, err
	}
	colours := min(bands, 3)
	transparent := func(i int) bool { return bands == 4 && pix[i*4+3] == 0 }

	// The ring, each pixel once.
	ring := make([]int32, 0, 2*(w+h))
	if w <= 2 || h <= 2 {
		for i := range w * h {
			ring = append(ring, int32(i))
		}
	} else {
		for x := range w {
			ring = append(ring, int32(x), int32((h-1)*w+x))
		}
		for y := 1; y < h-1; y++ {
			ring = append(ring, int32(y*w), int32(y*w+w-1))
		}
	}

	// Per-channel median of the ring's visible pixels.
	var hist [3][256]int
	n := 0
	for _, i := range ring {
		if transparent(int(i)) {
			continue
		}
		n++
		for c := range colours {
			hist[c][pix[int(i)*bands+c]]++
		}
	}
	var med [3]int
	for c := range colours {
		seen := 0
		for v, k := range hist[c] {
			seen += k
			if seen > (n-1)/2 {
				med[c] = v
				break
			}
		}
	}

	// looks reports whether pixel i alone looks like the background.
	looks := func(i int) bool {
		if transparent(i) {
			return true
		}
		if n == 0 {
			return false // no visible ring pixel: no background colour
		}
		for c := range colours {
			d := int(pix[i*bands+c]) - med[c]
			if d > tol || -d > tol {
				return false
			}
		}
		return true
	}
	// passable also lets the flood through an outlier with at most one outlier among its
	// 8 neighbours (a speck of one or two pixels); a pixel of a line or of any larger
	// region has at least two, so thin outlines still hold the flood.
	passable := func(i int) bool {
		if looks(i) {
			return true
		}
		x, y := i%w, i/w
		odd := 0
		for yy := max(0, y-1); yy <= min(h-1, y+1); yy++ {
			for xx := max(0, x-1); xx <= min(w-1, x+1); xx++ {
				if j := yy*w + xx; j != i && !looks(j) {
					odd++
				}
			}
		}
		return odd <= 1
	}

	// State in out: 255 not yet tested, 0 background, 1 tested and not background.
	const (
		untested = 255
		bg       = 0
		blocked  = 1
	)
	out := make([]byte, w*h)
	for i := range out {
		out[i] = untested
	}
	stack := make([]int32, 0, len(ring))
	try := func(i int) {
		if out[i] != untested {
			return
		}
		if passable(i) {
			out[i] = bg
			stack = append(stack, int32(i))
		} else {
			out[i] = blocked
		}
	}
	for _, i := range ring {
		try(int(i))
	}
	for len(stack) > 0 {
		i := int(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		x := i % w
		if x > 0 {
			try(i - 1)
		}
		if x < w-1 {
			try(i + 1)
		}
		if i >= w {
			try(i - w)
		}
		if i+w < w*h {
			try(i + w)
		}
	}
	for i, v := range out {
		if v != bg {
			out[i] = 255
		}
	}
	return out, nil
}
