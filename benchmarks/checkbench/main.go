// Command checkbench prices the output checks: it renders AI recipes on a product shot
// with the checks on and off, alternating, and prints the CPU each costs this process
// (user + system, from getrusage) and their ratio. The WebUI stand-in runs in another
// process (-sd-url, e.g. cmd/sdstub), so its painting is not counted; the GPU-side work a
// real backend does is not Pictor's CPU either.
//
//	go run ./benchmarks/checkbench -sd-url http://127.0.0.1:7861 -n 15
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
)

// Limit is the most the checks may add to a render's CPU, as a ratio.
const Limit = 1.15

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "checkbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	name   string
	recipe string
	sd     bool
}

var benches = []bench{
	{"classic cut-out, marketplace rules", `{"steps": [{"op": "auto_orient"}, {"op": "remove_background"}, {"op": "background", "color": "#ffffff"},
		{"op": "resize", "width": 1000, "height": 1000, "fit": "contain"}],
		"outputs": [{"name": "main", "format": "jpeg", "quality": 85, "checks": {"background_color": "#ffffff", "product_fill_min": 0.5}}]}`, false},
	{"classic cut-out, two outputs", `{"steps": [{"op": "remove_background"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "webp", "resize": {"width": 1000, "height": 1000, "fit": "contain"}},
		{"name": "thumb", "format": "jpeg", "resize": {"width": 200, "height": 200, "fit": "contain"}}]}`, false},
	{"sd cut-out (rembg)", `{"steps": [{"op": "remove_background", "engine": "sd"}, {"op": "background", "color": "#ffffff"}],
		"outputs": [{"name": "main", "format": "jpeg"}]}`, true},
	{"sd upscale 2x", `{"steps": [{"op": "upscale", "engine": "sd", "factor": 2}], "outputs": [{"name": "main", "format": "jpeg"}]}`, true},
	{"sd scene, marketplace rules", `{"steps": [{"op": "replace_background", "prompt": "the product on a pure white background", "seed": 3, "steps": 4}],
		"outputs": [{"name": "main", "format": "jpeg", "checks": {"background_color": "#ffffff", "product_fill_min": 0.5}}]}`, true},
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("checkbench", flag.ContinueOnError)
	sdURL := fs.String("sd-url", "", "a WebUI (or cmd/sdstub) for the sd recipes; empty skips them")
	n := fs.Int("n", 15, "renders per recipe and mode")
	w := fs.Int("width", 1600, "source width")
	h := fs.Int("height", 1200, "source height")
	only := fs.String("only", "", "run only the recipe of this name")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the checked renders here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 3 {
		return errors.New("-n must be at least 3")
	}
	imaging.Startup(imaging.StartupConfig{}, slog.New(slog.DiscardHandler))
	defer imaging.Shutdown()
	env := pipeline.Env{}
	if *sdURL != "" {
		pool, err := sdclient.NewPool([]sdclient.Backend{{URL: *sdURL}}, sdclient.DefaultPoolConfig(), nil, prometheus.NewRegistry())
		if err != nil {
			return err
		}
		defer pool.Close()
		env.SD = &pipeline.SD{Pool: pool}
	}
	src, err := productShot(*w, *h)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "source: %dx%d product shot, %d KB JPEG; %d renders per mode; limit %.2fx\n\n", *w, *h, len(src)/1024, *n, Limit)
	fmt.Fprintln(stdout, "| recipe | CPU ms, checks off | CPU ms, checks on | ratio |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	worst := 0.0
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, b := range benches {
		if *only != "" && b.name != *only {
			continue
		}
		if b.sd && env.SD == nil {
			fmt.Fprintf(stdout, "| %s | skipped: no -sd-url | | |\n", b.name)
			continue
		}
		r, err := pipeline.ParseRecipe([]byte(b.recipe))
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		var off, on []float64
		for i := range *n * 2 {
			noChecks := i%2 == 0
			cpu, err := render(env, src, r, noChecks)
			if err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
			if i < 2 {
				continue // warm-up: the first render of each mode loads what libvips needs
			}
			if noChecks {
				off = append(off, cpu)
			} else {
				on = append(on, cpu)
			}
		}
		mOff, mOn := median(off), median(on)
		ratio := mOn / mOff
		worst = math.Max(worst, ratio)
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.3fx |\n", b.name, mOff*1000, mOn*1000, ratio)
	}
	fmt.Fprintf(stdout, "\nworst ratio %.3fx (limit %.2fx)\n", worst, Limit)
	if worst > Limit {
		return fmt.Errorf("the checks cost %.3fx the render's CPU, more than %.2fx", worst, Limit)
	}
	return nil
}

// render runs r once and returns the CPU seconds this process spent on it.
func render(env pipeline.Env, src []byte, r *pipeline.Recipe, noChecks bool) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := cpuSeconds()
	out, err := pipeline.Run(ctx, env, src, r, pipeline.RunOptions{NoChecks: noChecks})
	after := cpuSeconds()
	if err != nil {
		return 0, err
	}
	if !noChecks && out[0].Checks == nil {
		return 0, errors.New("checks on, but no report")
	}
	return after - before, nil
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// productShot is a photograph-like product on an off-white studio sweep: a shaded,
// textured bottle-like body with a label, sensor noise everywhere, as JPEG q90.
func productShot(w, h int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	cx := float64(w) / 2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			v := 250 - 6*fy/float64(h)
			c := [3]float64{v, v, v - 2}
			half := float64(w) * (0.12 + 0.06*math.Sin(fy/float64(h)*math.Pi))
			if fy > float64(h)*0.15 && fy < float64(h)*0.88 && math.Abs(fx-cx) < half {
				t := (fx - cx + half) / (2 * half)
				shade := 0.55 + 0.45*math.Sin(t*math.Pi)
				c = [3]float64{40 + 120*shade, 70 + 60*shade, 30 + 30*shade}
				if fy > float64(h)*0.45 && fy < float64(h)*0.6 {
					c = [3]float64{235 * shade, 228 * shade, 210 * shade}
				}
			}
			n := rng.NormFloat64() * 2.5
			img.Set(x, y, color.RGBA{clamp(c[0] + n), clamp(c[1] + n), clamp(c[2] + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func clamp(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }
