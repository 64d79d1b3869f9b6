package checks

// component is one 8-connected region of a mask's product pixels (>= 128).
type component struct {
	area           int
	x0, y0, x1, y1 int // bounding box, inclusive
}

// run is a horizontal stretch [s, e) of product pixels on row y.
type run struct {
	y, s, e int32
}

// components labels the 8-connected regions of product pixels. It labels runs, not
// pixels: one pass finds each row's runs and joins them with union-find to the runs of
// the row above that touch them (8-connected: they overlap once widened by one pixel).
// No recursion; memory is proportional to the number of runs.
func components(mask []byte, w, h int) []component {
	var runs []run
	var parent []int32
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int32) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		if ra < rb {
			parent[rb] = ra
		} else {
			parent[ra] = rb
		}
	}
	prevStart, prevEnd := 0, 0
	for y := range h {
		row := mask[y*w : (y+1)*w]
		curStart := len(runs)
		j := prevStart
		for x := 0; x < w; {
			for x < w && row[x] < maskOn {
				x++
			}
			if x == w {
				break
			}
			s := x
			for x < w && row[x] >= maskOn {
				x++
			}
			id := int32(len(runs))
			runs = append(runs, run{y: int32(y), s: int32(s), e: int32(x)})
			parent = append(parent, id)
			// Runs above that end before s-1 touch neither this run nor later ones.
			for j < prevEnd && int(runs[j].e) < s {
				j++
			}
			for k := j; k < prevEnd && int(runs[k].s) <= x; k++ {
				union(int32(k), id)
			}
		}
		prevStart, prevEnd = curStart, len(runs)
	}
	index := make([]int32, len(runs))
	var comps []component
	for i, r := range runs {
		root := find(int32(i))
		var c *component
		if int(root) == i {
			index[i] = int32(len(comps))
			comps = append(comps, component{x0: int(r.s), y0: int(r.y), x1: int(r.e) - 1, y1: int(r.y)})
			c = &comps[len(comps)-1]
		} else {
			// Roots are the lowest index of their set, so they were seen first.
			c = &comps[index[root]]
		}
		c.area += int(r.e - r.s)
		c.x0, c.x1 = min(c.x0, int(r.s)), max(c.x1, int(r.e)-1)
		c.y0, c.y1 = min(c.y0, int(r.y)), max(c.y1, int(r.y))
	}
	return comps
}
