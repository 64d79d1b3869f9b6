package imaging

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refColumns reduces h rows of rowBytes bytes to outH rows in float64, each byte down its
// column as refReduce does a row of one band.
func refColumns(in []byte, rowBytes, h, outH int) []float64 {
	out := make([]float64, rowBytes*outH)
	col := make([]byte, h*3)
	for i := range rowBytes {
		for y := range h {
			col[3*y], col[3*y+1], col[3*y+2] = in[y*rowBytes+i], 0, 0
		}
		r := refReduce(col, h, outH)
		for y := range outH {
			out[y*rowBytes+i] = r[3*y]
		}
	}
	return out
}

// TestReduceColumns: reducev.c's columns are the float64 reduction within a level, and
// its AVX2 and SSE2 code give the scalar code's bytes, for rows of any length (whole
// vectors and a rest) and every reduction canReduceHeight takes, on random rows and on
// stripes that ring past 0 and 255.
func TestReduceColumns(t *testing.T) {
	if reduceColumnsVector() < 2 {
		t.Log("no AVX2 on this machine: SSE2 alone is checked")
	}
	r := rand.New(rand.NewPCG(7, 8))
	check := func(h, outH, rowBytes int, exact bool) {
		t.Helper()
		p, err := lanczos3Plan(h, outH)
		if err != nil {
			t.Fatalf("%d -> %d: %v", h, outH, err)
		}
		in := make([]byte, rowBytes*h)
		for i := range in {
			in[i] = byte(r.IntN(256))
		}
		for y := 1; y < h; y += 4 { // stripes of rows: black, white, white, black
			for i := range rowBytes {
				in[y*rowBytes+i] = 255 * byte(i%2)
			}
		}
		scalar := reduceColumns(in, rowBytes, outH, p, reduceScalar)
		for _, code := range []int{reduceSSE2, reduceBest} {
			got := reduceColumns(in, rowBytes, outH, p, code)
			for i := range scalar {
				if got[i] != scalar[i] {
					t.Fatalf("%d -> %d rows of %d bytes, code %d: byte %d (row %d): %d, scalar %d", h, outH, rowBytes, code, i, i/rowBytes, got[i], scalar[i])
				}
			}
		}
		if !exact {
			return
		}
		for i, w := range refColumns(in, rowBytes, h, outH) {
			if math.Abs(float64(scalar[i])-math.Round(math.Min(255, math.Max(0, w)))) > 1 {
				t.Fatalf("%d -> %d: byte %d (row %d) is %d, the float64 reduction %.2f", h, outH, i, i/rowBytes, scalar[i], w)
			}
		}
	}
	for _, c := range planCases {
		check(c[0], c[1], 3*37, true)
	}
	for range 200 {
		h := 7 + r.IntN(600)
		outH := max(1, h/maxReduce+r.IntN(h-h/maxReduce))
		if outH >= h || 6*h/outH+1 >= h {
			continue
		}
		check(h, outH, 1+r.IntN(200), false)
	}
}

// TestReduceColumnsStayInside: no code reads past a row's end: the last row ends where
// an unreadable page begins, so a read past it faults.
func TestReduceColumnsStayInside(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, rowBytes := range []int{1, 15, 16, 17, 31, 33, 95, 3 * 211} {
		const h, outH = 40, 13
		p, err := lanczos3Plan(h, outH)
		if err != nil {
			t.Fatal(err)
		}
		in := guarded(t, rowBytes*h)
		for i := range in {
			in[i] = byte(r.IntN(256))
		}
		want := reduceColumns(in, rowBytes, outH, p, reduceScalar)
		for _, code := range []int{reduceSSE2, reduceBest} {
			if got := reduceColumns(in, rowBytes, outH, p, code); string(got) != string(want) {
				t.Fatalf("rows of %d bytes, code %d: differs from the scalar code", rowBytes, code)
			}
		}
	}
}
