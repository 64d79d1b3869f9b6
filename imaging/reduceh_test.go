package imaging

import (
	"math"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// planCases are reductions of rows of every kind: by little and by up to maxReduce, to
// odd and even kernel lengths, rows barely longer than the kernel, and issue 13's 1280 ->
// 800 and 1280 -> 320 (its thumbnail).
var planCases = [][2]int{{1280, 800}, {640, 200}, {640, 161}, {641, 640}, {100, 99}, {100, 51}, {31, 30}, {30, 9}, {25, 7}, {9, 8}, {2559, 800}, {17, 13}, {1280, 320}, {640, 100}, {2000, 125}, {1601, 100}}

// refReduce is the reduction the plan approximates, in float64: Lanczos3 centred at
// (x+0.5)*inW/outW, stretched by the reduction, the row's end pixels repeated beyond
// it, normalised.
func refReduce(row []byte, inW, outW int) []float64 {
	s := float64(inW) / float64(outW)
	out := make([]float64, outW*3)
	for x := range outW {
		c := (float64(x) + 0.5) * s
		var sum float64
		var acc [3]float64
		for j := int(math.Floor(c-3*s)) - 1; j <= int(math.Ceil(c+3*s))+1; j++ {
			w := lanczos3((float64(j) + 0.5 - c) / s)
			jj := min(max(j, 0), inW-1)
			sum += w
			for b := range 3 {
				acc[b] += w * float64(row[3*jj+b])
			}
		}
		for b := range 3 {
			out[3*x+b] = acc[b] / sum
		}
	}
	return out
}

// weights is the weight output pixel x gives each input pixel.
func (p *reducePlan) weights(inW, x int) []int {
	w := make([]int, inW)
	for i := range p.n {
		w[int(p.start[x])+i] = int(p.coef[x*p.stride+i])
	}
	return w
}

func randomRows(r *rand.Rand, w, h int) []byte {
	pix := make([]byte, w*h*3)
	for i := range pix {
		pix[i] = byte(r.IntN(256))
	}
	return pix
}

// TestLanczos3Plan: every pixel's weights sum to exactly one, its window lies inside the
// row, the plan is symmetric about the row's middle, and what it gives is the float64
// reduction rounded (within one level: the weights are rounded to 14 bits).
func TestLanczos3Plan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range planCases {
		inW, outW := c[0], c[1]
		p, err := lanczos3Plan(inW, outW)
		if err != nil {
			t.Fatalf("%d -> %d: %v", inW, outW, err)
		}
		for x := range outW {
			sum := 0
			for _, v := range p.coef[x*p.stride : (x+1)*p.stride] {
				sum += int(v)
			}
			if sum != 1<<reduceBits {
				t.Fatalf("%d -> %d: pixel %d weights sum to %d", inW, outW, x, sum)
			}
			if st := int(p.start[x]); st < 0 || st+p.n > inW {
				t.Fatalf("%d -> %d: pixel %d window %d+%d outside the row", inW, outW, x, st, p.n)
			}
			if p.stride > p.n && p.coef[x*p.stride+p.n] != 0 {
				t.Fatalf("%d -> %d: pad weight of pixel %d is %d", inW, outW, x, p.coef[x*p.stride+p.n])
			}
			// Mirror: pixel outW-1-x weighs the mirrored pixels alike.
			m := outW - 1 - x
			wx, wm := p.weights(inW, x), p.weights(inW, m)
			for j := range inW {
				// The rounding residue (at most half a unit a weight) lands on either side.
				if d := wx[j] - wm[inW-1-j]; 2*d < -p.n || 2*d > p.n {
					t.Fatalf("%d -> %d: pixel %d weighs input %d by %d, its mirror %d input %d by %d", inW, outW, x, j, wx[j], m, inW-1-j, wm[inW-1-j])
				}
			}
		}
		row := randomRows(r, inW, 1)
		got := reduceRows(row, inW, 1, p, outW, reduceScalar)
		want := refReduce(row, inW, outW)
		for i := range got {
			w := math.Min(255, math.Max(0, want[i]))
			if math.Abs(float64(got[i])-w) > 1 {
				t.Fatalf("%d -> %d: value %d (pixel %d) is %d, the float64 reduction %.2f", inW, outW, i, i/3, got[i], w)
			}
		}
	}
	for _, c := range [][2]int{{6, 5}, {7, 6}, {10, 3}, {10, 11}, {10, 0}} {
		if _, err := lanczos3Plan(c[0], c[1]); err == nil {
			t.Errorf("lanczos3Plan(%d, %d): no error", c[0], c[1])
		}
	}
}

// TestReduceRowsVector: the AVX2, SSSE3 and SSE2 code give the scalar code's bytes, on random
// rows and on the extremes that clip (black and white stripes ring past 0 and 255).
func TestReduceRowsVector(t *testing.T) {
	if reduceVector() == 0 {
		t.Skip("no vector code on this machine")
	}
	if reduceVector() < 3 {
		t.Logf("vector code %d on this machine: AVX2 is not checked", reduceVector())
	}
	same := func(inW, outW, h int, p *reducePlan, rows []byte) {
		t.Helper()
		scalar := reduceRows(rows, inW, h, p, outW, reduceScalar)
		for _, code := range []int{reduceSSE2, reduceSSSE3, reduceBest} {
			vector := reduceRows(rows, inW, h, p, outW, code)
			for i := range scalar {
				if scalar[i] != vector[i] {
					t.Fatalf("%d -> %d, code %d: byte %d (row %d, pixel %d): %d, scalar %d", inW, outW, code, i, i/(3*outW), i%(3*outW)/3, vector[i], scalar[i])
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range planCases {
		inW, outW := c[0], c[1]
		p, err := lanczos3Plan(inW, outW)
		if err != nil {
			t.Fatal(err)
		}
		rows := randomRows(r, inW, 5)
		for x := range inW { // a sixth row of stripes
			v := byte(0)
			if x/2%2 == 0 {
				v = 255
			}
			rows = append(rows, v, v, 255-v)
		}
		same(inW, outW, 6, p, rows)
	}
	// Sizes at random, every reduction canReduceWidth takes.
	for range 300 {
		inW := 2 + r.IntN(3000)
		outW := max(1, inW/maxReduce+r.IntN(inW-inW/maxReduce))
		if outW >= inW {
			continue
		}
		p, err := lanczos3Plan(inW, outW)
		if err != nil {
			if 6*inW/outW+1 < inW { // a row longer than the kernel has a plan
				t.Fatalf("%d -> %d: %v", inW, outW, err)
			}
			continue
		}
		same(inW, outW, 2, p, randomRows(r, inW, 2))
	}
}

// loadRef loads a testdata file as a govips image, closed when the test ends.
func loadRef(t *testing.T, name string) *vips.ImageRef {
	t.Helper()
	ref, err := vips.NewImageFromBuffer(readFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ref.Close)
	return ref
}

func refBytes(t *testing.T, ref *vips.ImageRef) []byte {
	t.Helper()
	b, err := ref.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScaleSplitAgainstLibvips: on a photograph, scaleTo's own passes give what libvips'
// Lanczos3 resize gives, within rounding (libvips quantizes the kernel's phase and its
// weights), and nearer a float64 Lanczos3 than libvips does; the image they leave is
// lazy and reads the same in any region (libvips asks for strips and tiles from any
// column).
func TestScaleSplitAgainstLibvips(t *testing.T) {
	if refImageOffset < 0 {
		t.Fatal("govips' ImageRef has no image field where reduceh.go looks")
	}
	pix := refBytes(t, loadRef(t, "photo.jpg"))
	for _, c := range [][2]int{{400, 250}, {401, 251}, {161, 300}, {639, 400}, {200, 125}, {300, 600}, {600, 401}, {640, 250}, {640, 399}} {
		w, h := c[0], c[1]
		im := loadFile(t, "photo.jpg")
		W, H := im.Width(), im.Height()
		if !canReduceWidth(im.ref, w) && !canReduceHeight(im.ref, h) {
			t.Fatalf("%dx%d: neither canReduceWidth nor canReduceHeight for a 3-band JPEG", w, h)
		}
		// An enlargement of the columns goes to libvips whole (scaleTo), so this
		// compares libvips with itself there.
		if err := im.scaleTo(w, h); err != nil {
			t.Fatal(err)
		}
		if im.Width() != w || im.Height() != h {
			t.Fatalf("scaleTo(%d, %d) gave %dx%d", w, h, im.Width(), im.Height())
		}
		got := refBytes(t, im.ref)

		ref := loadRef(t, "photo.jpg")
		if err := ref.ResizeWithVScale(float64(w)/float64(W), float64(h)/float64(H), vips.KernelLanczos3); err != nil {
			t.Fatal(err)
		}
		want := refBytes(t, ref)
		if len(got) != len(want) {
			t.Fatalf("%dx%d: %d bytes, libvips %d", w, h, len(got), len(want))
		}
		var sum, worst int
		for i := range got {
			d := int(got[i]) - int(want[i])
			if d < 0 {
				d = -d
			}
			sum += d
			worst = max(worst, d)
		}
		// Measured: 0.02-0.23 on average, 3 at most.
		if mean := float64(sum) / float64(len(got)); mean > 0.3 || worst > 4 {
			t.Errorf("%dx%d: differs from libvips' resize by %.3f on average, %d at most", w, h, mean, worst)
		}
		exact := refResize(pix, W, H, w, h)
		if eOurs, eVips := meanError(got, exact), meanError(want, exact); eOurs > eVips+0.02 {
			t.Errorf("%dx%d: mean error %.3f from a float64 Lanczos3, libvips' %.3f", w, h, eOurs, eVips)
		}

		// A region from the middle, asked for on its own, reads as the whole did.
		x0, y0, cw, ch := w/3, h/4, w/3, h/2
		if err := im.ref.ExtractArea(x0, y0, cw, ch); err != nil {
			t.Fatal(err)
		}
		part := refBytes(t, im.ref)
		for y := range ch {
			for i := range cw * 3 {
				if a, b := part[(y*cw)*3+i], got[((y0+y)*w+x0)*3+i]; a != b {
					t.Fatalf("%dx%d: region pixel (%d,%d) band %d is %d, in the whole %d", w, h, x0+i/3, y0+y, i%3, a, b)
				}
			}
		}
	}
}

// TestScaleToFallsBack: what reduceh.go does not take goes to libvips' resize: images
// with alpha, reductions by more than 16, enlargements, rows or columns shorter than
// the kernel.
func TestScaleToFallsBack(t *testing.T) {
	im := loadFile(t, "alpha.png")
	if canReduceWidth(im.ref, im.Width()/2) {
		t.Error("canReduceWidth takes an image with alpha")
	}
	ph := loadFile(t, "photo.jpg")
	for _, w := range []int{39, 640, 641, 700} {
		if canReduceWidth(ph.ref, w) {
			t.Errorf("canReduceWidth takes 640 -> %d", w)
		}
	}
	for _, w := range []int{40, 160, 639} {
		if !canReduceWidth(ph.ref, w) {
			t.Errorf("canReduceWidth refuses 640 -> %d", w)
		}
	}
	// A row of 6 is shorter than the kernel's window for 6 -> 5: reduceWidth fails and
	// leaves the image as it was, and scaleTo has libvips reduce it.
	tiny := loadRef(t, "photo.jpg")
	if err := tiny.ExtractArea(0, 0, 6, 4); err != nil {
		t.Fatal(err)
	}
	before := refBytes(t, tiny)
	if err := reduceWidth(tiny, 5); err == nil {
		t.Fatal("reduceWidth 6 -> 5: no error")
	}
	if after := refBytes(t, tiny); string(after) != string(before) || tiny.Width() != 6 {
		t.Error("a failed reduceWidth changed the image")
	}
	small := &Image{ref: tiny}
	if err := small.scaleTo(5, 4); err != nil {
		t.Fatal(err)
	}
	if small.Width() != 5 || small.Height() != 4 {
		t.Errorf("scaleTo(5, 4) of 6x4 gave %dx%d", small.Width(), small.Height())
	}
	// The same down a column of 6.
	tall := loadRef(t, "photo.jpg")
	if err := tall.ExtractArea(0, 0, 4, 6); err != nil {
		t.Fatal(err)
	}
	before = refBytes(t, tall)
	if err := reduceHeight(tall, 5); err == nil {
		t.Fatal("reduceHeight 6 -> 5: no error")
	}
	if after := refBytes(t, tall); string(after) != string(before) || tall.Height() != 6 {
		t.Error("a failed reduceHeight changed the image")
	}
	narrow := &Image{ref: tall}
	if err := narrow.scaleTo(4, 5); err != nil {
		t.Fatal(err)
	}
	if narrow.Width() != 4 || narrow.Height() != 5 {
		t.Errorf("scaleTo(4, 5) of 4x6 gave %dx%d", narrow.Width(), narrow.Height())
	}
}

// refResize is a Lanczos3 resize of packed RGB in float64, rows then columns, each as
// refReduce does it.
func refResize(pix []byte, W, H, w, h int) []float64 {
	tmp := make([]float64, w*H*3)
	for y := range H {
		copy(tmp[y*w*3:], refReduce(pix[y*W*3:(y+1)*W*3], W, w))
	}
	out := make([]float64, w*h*3)
	s := float64(H) / float64(h)
	for y := range h {
		c := (float64(y) + 0.5) * s
		var sum float64
		acc := make([]float64, w*3)
		for j := int(math.Floor(c-3*s)) - 1; j <= int(math.Ceil(c+3*s))+1; j++ {
			k := lanczos3((float64(j) + 0.5 - c) / s)
			jj := min(max(j, 0), H-1)
			sum += k
			for i := range acc {
				acc[i] += k * tmp[jj*w*3+i]
			}
		}
		for i := range acc {
			out[y*w*3+i] = acc[i] / sum
		}
	}
	return out
}

// meanError is the mean distance of got from want rounded and clipped to 8 bits.
func meanError(got []byte, want []float64) float64 {
	var sum float64
	for i := range got {
		sum += math.Abs(float64(got[i]) - math.Round(math.Min(255, math.Max(0, want[i]))))
	}
	return sum / float64(len(got))
}

// TestScaleSplitLargeReductions: whatever the reductions across and down, scaleTo's
// result is as close to a float64 Lanczos3 resize as libvips' path was, or closer: from a
// reduction by 4 on the rows take one Lanczos3 pass, where libvips' path took a linear
// pass to twice the target first (160x100: 0.48 against 0.71 on average).
func TestScaleSplitLargeReductions(t *testing.T) {
	src := loadRef(t, "photo.jpg")
	W, H := src.Width(), src.Height()
	pix := refBytes(t, src)
	var cases [][2]int
	for _, w := range []int{639, 320, 161, 100, 41} {
		for _, h := range []int{400, 250, 150, 62, 25} {
			cases = append(cases, [2]int{w, h})
		}
	}
	for _, c := range cases {
		w, h := c[0], c[1]
		want := refResize(pix, W, H, w, h)

		im := loadFile(t, "photo.jpg")
		if err := im.scaleTo(w, h); err != nil {
			t.Fatal(err)
		}
		got := refBytes(t, im.ref)

		old := loadRef(t, "photo.jpg")
		hs, vs := float64(w)/float64(W), float64(h)/float64(H)
		if hs < 0.5 && vs < 0.5 {
			if err := old.ResizeWithVScale(2*hs, 2*vs, vips.KernelLinear); err != nil {
				t.Fatal(err)
			}
			hs, vs = float64(w)/float64(old.Width()), float64(h)/float64(old.Height())
		}
		if err := old.ResizeWithVScale(hs, vs, vips.KernelLanczos3); err != nil {
			t.Fatal(err)
		}
		before := refBytes(t, old)
		if len(got) != len(want) || len(before) != len(want) {
			t.Fatalf("%dx%d: %d and %d bytes, want %d", w, h, len(got), len(before), len(want))
		}
		eNew, eOld := meanError(got, want), meanError(before, want)
		if eNew > eOld+0.02 {
			t.Errorf("%dx%d: mean error %.3f from a float64 Lanczos3, libvips' path %.3f", w, h, eNew, eOld)
		}
	}
}

// TestCachedPlan: a plan is made once for a size and kept, and the cache stays bounded.
func TestCachedPlan(t *testing.T) {
	a, err := cachedPlan(1000, 333)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cachedPlan(1000, 333)
	if a != b {
		t.Error("a second plan was made for 1000 -> 333")
	}
	want, _ := lanczos3Plan(1000, 333)
	if a.n != want.n || !slices.Equal(a.coef, want.coef) || !slices.Equal(a.start, want.start) {
		t.Error("the cached plan is not lanczos3Plan's")
	}
	for i := range 2 * maxPlans {
		if _, err := cachedPlan(2000+i, 1000); err != nil {
			t.Fatal(err)
		}
	}
	plans.Lock()
	n := len(plans.m)
	plans.Unlock()
	if n > maxPlans {
		t.Errorf("%d plans kept, want at most %d", n, maxPlans)
	}
	if _, err := cachedPlan(6, 5); err == nil {
		t.Error("cachedPlan(6, 5): no error")
	}
}

// TestReduceRowsStayInside: no code reads past a row's last pixel: the rows end where an
// unreadable page begins, so a read past them faults.
func TestReduceRowsStayInside(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range append(planCases, [2]int{11, 9}, [2]int{12, 7}, [2]int{6000, 400}) {
		inW, outW := c[0], c[1]
		p, err := lanczos3Plan(inW, outW)
		if err != nil {
			t.Fatal(err)
		}
		rows := guarded(t, inW*3) // one row
		copy(rows, randomRows(r, inW, 1))
		want := reduceRows(rows, inW, 1, p, outW, reduceScalar)
		for _, code := range []int{reduceSSE2, reduceSSSE3, reduceBest} {
			if got := reduceRows(rows, inW, 1, p, outW, code); string(got) != string(want) {
				t.Fatalf("%d -> %d, code %d: differs from the scalar code", inW, outW, code)
			}
		}
	}
}

// guarded returns n bytes (up to 63 pages) that end where an unreadable page begins, so
// that a read past them faults.
func guarded(t *testing.T, n int) []byte {
	t.Helper()
	page := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 64*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("no anonymous mmap:", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[63*page:], syscall.PROT_NONE); err != nil {
		t.Skip("no mprotect:", err)
	}
	if n > 63*page {
		t.Fatalf("guarded(%d): more than 63 pages", n)
	}
	return mem[63*page-n : 63*page]
}
