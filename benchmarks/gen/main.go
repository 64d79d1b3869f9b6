// Command gen writes photograph-like baseline JPEGs for the benchmarks.
//
// Each file is a distinct 2560x1600 (by default) picture built from a sky-like
// gradient, soft out-of-focus discs, a few octaves of value noise for texture
// and per-pixel sensor noise, so that it compresses like a photograph (about
// 1 MB at quality 90) rather than like a flat test card. Files differ in their
// noise seed, so no two have the same bytes or the same sha256.
//
//	go run ./benchmarks/gen -dir /tmp/src -n 64
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write photo-NNN.jpg into (required)")
	n := fs.Int("n", 64, "number of distinct images")
	width := fs.Int("width", 2560, "image width in pixels")
	height := fs.Int("height", 1600, "image height in pixels")
	quality := fs.Int("quality", 90, "JPEG quality (baseline, 4:2:0)")
	seed := fs.Uint64("seed", 1, "base seed; image i uses seed+i")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	if *n < 1 || *width < 16 || *height < 16 || *quality < 1 || *quality > 100 {
		return errors.New("need -n >= 1, -width and -height >= 16, -quality 1..100")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, *n)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				path := filepath.Join(*dir, fmt.Sprintf("photo-%03d.jpg", i))
				img := photo(*width, *height, *seed+uint64(i))
				if err := writeJPEG(path, img, *quality); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d images of %dx%d to %s\n", *n, *width, *height, *dir)
	return nil
}

func writeJPEG(path string, img image.Image, quality int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: quality}); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// grid is a lattice of random values, sampled with smooth interpolation.
type grid struct {
	cell   float64
	w, h   int
	values []float64
}

func newGrid(r *rand.Rand, width, height int, cell float64) grid {
	g := grid{cell: cell, w: int(float64(width)/cell) + 2, h: int(float64(height)/cell) + 2}
	g.values = make([]float64, g.w*g.h)
	for i := range g.values {
		g.values[i] = r.Float64()*2 - 1
	}
	return g
}

func (g grid) at(x, y float64) float64 {
	fx, fy := x/g.cell, y/g.cell
	ix, iy := int(fx), int(fy)
	tx, ty := smooth(fx-float64(ix)), smooth(fy-float64(iy))
	v00 := g.values[iy*g.w+ix]
	v10 := g.values[iy*g.w+ix+1]
	v01 := g.values[(iy+1)*g.w+ix]
	v11 := g.values[(iy+1)*g.w+ix+1]
	top := v00 + (v10-v00)*tx
	bottom := v01 + (v11-v01)*tx
	return top + (bottom-top)*ty
}

func smooth(t float64) float64 { return t * t * (3 - 2*t) }

type disc struct {
	x, y, r float64
	c       [3]float64
}

// photo draws one picture: a vertical gradient, soft discs, fractal texture in
// the lower "ground" half, and fine grain everywhere.
func photo(width, height int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	top := [3]float64{40 + r.Float64()*60, 90 + r.Float64()*80, 160 + r.Float64()*90}
	bottom := [3]float64{120 + r.Float64()*100, 100 + r.Float64()*80, 60 + r.Float64()*80}
	octaves := []struct {
		g   grid
		amp float64
	}{
		{newGrid(r, width, height, 400), 40},
		{newGrid(r, width, height, 97), 22},
		{newGrid(r, width, height, 23), 14},
		{newGrid(r, width, height, 5.3), 14},
	}
	discs := make([]disc, 24)
	for i := range discs {
		discs[i] = disc{
			x: r.Float64() * float64(width), y: r.Float64() * float64(height),
			r: 30 + r.Float64()*220,
			c: [3]float64{r.Float64()*255 - 128, r.Float64()*255 - 128, r.Float64()*255 - 128},
		}
	}
	horizon := float64(height) * (0.4 + r.Float64()*0.2)
	for y := range height {
		fy := float64(y)
		t := fy / float64(height)
		base := [3]float64{}
		for c := range base {
			base[c] = top[c] + (bottom[c]-top[c])*t
		}
		row := img.Pix[y*img.Stride:]
		for x := range width {
			fx := float64(x)
			var tex float64
			ground := 1 / (1 + math.Exp(-(fy-horizon)/40))
			for _, o := range octaves {
				tex += o.g.at(fx, fy) * o.amp
			}
			tex *= 0.35 + 0.65*ground
			px := base
			for _, d := range discs {
				dx, dy := fx-d.x, fy-d.y
				dist2 := dx*dx + dy*dy
				if dist2 < d.r*d.r*1.44 {
					a := 1 - smooth(math.Min(1, math.Max(0, (math.Sqrt(dist2)-d.r*0.8)/(d.r*0.4))))
					for c := range px {
						px[c] += d.c[c] * 0.45 * a
					}
				}
			}
			for c := range px {
				grain := (r.Float64() + r.Float64() - 1) * 16
				v := px[c] + tex*(0.8+0.1*float64(c)) + grain
				row[x*4+c] = uint8(math.Max(0, math.Min(255, v)))
			}
			row[x*4+3] = 255
		}
	}
	return img
}
