package imaging

/*
#cgo pkg-config: vips
#include "cvips.h"
#include "reduceh.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// Why Pictor reduces rows itself: Debian's libvips 8.14 (the one the service is built
// against) reduces vertically with a vector path but horizontally in scalar C, a
// multiply-add per band, tap and pixel. For issue 13's listing resize (a 2560x1600
// JPEG decoded at half size, then Lanczos3 to 800x500) that horizontal pass was 15 % of
// the request's CPU, second only to the JPEG decode, in Pictor and imgproxy alike.
// reduceh.c does the same weighted sums four taps at a time with SSSE3 (two with SSE2
// where the machine has no SSSE3), two output pixels at once with AVX2, in the same
// integer arithmetic as its scalar code. reducev.c does the columns (libvips' vertical
// pass, vector code and all, costs twice as much): 16 or 32 bytes of a row at a time.

// reduceBits is the fractional bits of the weights (PICTOR_REDUCEH_BITS).
const reduceBits = C.PICTOR_REDUCEH_BITS

// lanczos3 is the Lanczos kernel with a = 3.
func lanczos3(t float64) float64 {
	t = math.Abs(t)
	switch {
	case t < 1e-9:
		return 1
	case t >= 3:
		return 0
	}
	pt := math.Pi * t
	return 3 * math.Sin(pt) * math.Sin(pt/3) / (pt * pt)
}

// reducePlan is a reduction from inW to outW pixels (or rows): output pixel x weighs the
// n input pixels from start[x] by coef[x*stride:], stride being n rounded up to a
// multiple of 4 (the pad weights 0), in fixed point with reduceBits fractional bits.
type reducePlan struct {
	n, stride int
	start     []C.int
	coef      []C.int16_t
}

// lanczos3Plan plans a Lanczos3 reduction of a row from inW to outW pixels (outW <=
// inW). Pixel centres sit at i+0.5 on both sides, so the output spans the input
// exactly; output pixel x is centred at (x+0.5)*inW/outW and the kernel is stretched by
// the reduction. Taps beyond the row's ends read its end pixels (their weights folded
// onto them), as libvips extends an image by copying its edge. The weights of each
// pixel are rounded to sum to exactly one. It fails when the row is shorter than the
// kernel's window.
func lanczos3Plan(inW, outW int) (*reducePlan, error) {
	if outW < 1 || outW > inW {
		return nil, errors.New("reduce: output wider than input, or empty")
	}
	s := float64(inW) / float64(outW)
	support := 3 * s
	n := int(math.Ceil(2*support)) + 1
	if n > inW {
		return nil, errors.New("reduce: row shorter than the kernel")
	}
	stride := int(C.pictor_reduce_stride(C.int(n)))
	p := &reducePlan{n: n, stride: stride, start: make([]C.int, outW), coef: make([]C.int16_t, outW*stride)}
	w := make([]float64, n)
	for x := range outW {
		c := (float64(x) + 0.5) * s
		j0 := int(math.Floor(c-support-0.5)) + 1 // the first pixel whose centre is inside the support
		st := min(max(j0, 0), inW-n)
		clear(w)
		sum := 0.0
		for j := j0; j < j0+n; j++ {
			v := lanczos3((float64(j) + 0.5 - c) / s)
			sum += v
			w[min(max(j, 0), inW-1)-st] += v
		}
		row := p.coef[x*stride : x*stride+n]
		total, big := 0, 0
		for i := range n {
			q := int(math.Round(w[i] / sum * (1 << reduceBits)))
			row[i] = C.int16_t(q)
			total += q
			if math.Abs(w[i]) > math.Abs(w[big]) {
				big = i
			}
		}
		row[big] += C.int16_t(1<<reduceBits - total)
		p.start[x] = C.int(st)
	}
	return p, nil
}

// The code reduceRows runs.
const (
	reduceScalar = 0
	reduceBest   = 1 // what the machine has: AVX2, else SSSE3, else SSE2, else scalar
	reduceSSE2   = 2 // SSE2, else scalar
	reduceSSSE3  = 3 // SSSE3, else SSE2, else scalar (reduceRows only)
)

// reduceRows reduces packed 3-band rows with the plan by the code named; for tests of the
// vector code against the scalar.
func reduceRows(in []byte, inW, h int, p *reducePlan, outW int, code int) []byte {
	out := make([]byte, outW*h*3)
	C.pictor_reduceh_rows((*C.uint8_t)(unsafe.Pointer(&in[0])), C.int(inW), C.int(h),
		(*C.uint8_t)(unsafe.Pointer(&out[0])), C.int(outW), C.int(p.n), &p.start[0], &p.coef[0], C.int(code))
	return out
}

// reduceVector is the vector code reduceh.c runs on this machine: 3 AVX2, 2 SSSE3, 1
// SSE2, 0 none.
func reduceVector() int { return int(C.pictor_reduceh_vector()) }

// refImageOffset is where govips keeps an ImageRef's *C.VipsImage (its unexported field
// image), or -1 when that field is not what this file expects, a govips other than the
// one go.mod names; reduceWidth is then never used.
var refImageOffset = func() int {
	f, ok := reflect.TypeFor[vips.ImageRef]().FieldByName("image")
	if !ok || f.Type.Kind() != reflect.Pointer {
		return -1
	}
	switch f.Type.Elem().Name() {
	case "_Ctype_struct__VipsImage", "_Ctype_VipsImage":
		return int(f.Offset)
	}
	return -1
}()

// refImage is where ref keeps its image.
func refImage(ref *vips.ImageRef) **C.VipsImage {
	return (**C.VipsImage)(unsafe.Add(unsafe.Pointer(ref), refImageOffset))
}

// maxReduce is the largest reduction reduceWidth takes: beyond it the window passes 100
// pixels, and the weights, a few hundredths of one each, keep fewer significant bits.
const maxReduce = 16

// canReduceWidth reports whether reduceWidth may take ref to w pixels a row: an 8-bit
// 3-band image of one page without alpha, reduced by up to maxReduce.
func canReduceWidth(ref *vips.ImageRef, w int) bool {
	W := ref.Width()
	return w < W && W <= maxReduce*w && reducible(ref)
}

// canReduceHeight is canReduceWidth for reduceHeight and h rows.
func canReduceHeight(ref *vips.ImageRef, h int) bool {
	H := ref.Height()
	return h < H && H <= maxReduce*h && reducible(ref)
}

// reducible reports whether ref is an image reduceWidth and reduceHeight take.
func reducible(ref *vips.ImageRef) bool {
	return refImageOffset >= 0 && ref.BandFormat() == vips.BandFormatUchar && ref.Bands() == 3 &&
		!ref.HasAlpha() && ref.Coding() == vips.CodingNone && ref.Pages() == 1
}

// plans keeps the plans made last, read-only once made: a catalog's renders ask for few
// sizes over and over, and a plan costs 10-20 thousand sines (0.3-0.5 ms).
var plans = struct {
	sync.Mutex
	m map[[2]int]*reducePlan
}{m: map[[2]int]*reducePlan{}}

// maxPlans bounds plans; it is emptied when full.
const maxPlans = 64

// cachedPlan is lanczos3Plan(inW, outW), from plans when it is there.
func cachedPlan(inW, outW int) (*reducePlan, error) {
	k := [2]int{inW, outW}
	plans.Lock()
	p := plans.m[k]
	plans.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := lanczos3Plan(inW, outW)
	if err != nil {
		return nil, err
	}
	plans.Lock()
	if len(plans.m) >= maxPlans {
		clear(plans.m)
	}
	plans.m[k] = p
	plans.Unlock()
	return p, nil
}

// reduceWidth reduces ref to w pixels a row with lanczos3Plan through reduceh.c; the
// image stays lazy, as libvips' own reductions leave it. It fails, leaving ref as it
// was, when the plan does (a row shorter than the kernel).
func reduceWidth(ref *vips.ImageRef, w int) error { return reduce(ref, false, ref.Width(), w) }

// reduceHeight reduces ref to h rows by lanczos3Plan through reducev.c, as reduceWidth
// does the rows: every byte of an output row the same weighted sum down its column.
func reduceHeight(ref *vips.ImageRef, h int) error { return reduce(ref, true, ref.Height(), h) }

// reduce is reduceWidth, or reduceHeight when vertical, from in pixels to out.
func reduce(ref *vips.ImageRef, vertical bool, in, out int) error {
	p, err := cachedPlan(in, out)
	if err != nil {
		return err
	}
	v := C.int(0)
	if vertical {
		v = 1
	}
	var img *C.VipsImage
	if C.pictor_reduce(*refImage(ref), &img, v, C.int(out), C.int(p.n), &p.start[0], &p.coef[0]) != 0 {
		return fmt.Errorf("reduce: %w", takeVipsError())
	}
	setRefImage(ref, img)
	return nil
}

// reduceColumns reduces packed rows of rowBytes bytes, H of them, to h rows with the plan
// by the code named (0 scalar, 1 the best, 2 SSE2); for tests of the vector code.
func reduceColumns(in []byte, rowBytes, h int, p *reducePlan, code int) []byte {
	out := make([]byte, rowBytes*h)
	C.pictor_reducev_rows((*C.uint8_t)(unsafe.Pointer(&in[0])), C.int(rowBytes), (*C.uint8_t)(unsafe.Pointer(&out[0])),
		C.int(h), C.int(p.n), &p.start[0], &p.coef[0], C.int(code))
	return out
}

// reduceColumnsVector is the vector code reducev.c runs on this machine: 2 AVX2, 1
// SSE2, 0 none.
func reduceColumnsVector() int { return int(C.pictor_reducev_vector()) }
