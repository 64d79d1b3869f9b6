// Command checkbench prices the output checks: it renders AI recipes on a product shot
// with the checks on and off and prints the CPU each costs (user + system, from
// getrusage) and their ratio. Each mode runs in a process of its own (the command runs
// itself with -child), the two alternating for -rounds rounds, so that one mode's garbage
// is never collected on the other's time. The WebUI stand-in runs in another
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
	"os/exec"
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
	n := fs.Int("n", 15, "renders per recipe, mode and round")
	rounds := fs.Int("rounds", 3, "rounds of one process per mode, alternating")
	child := fs.String("child", "", "internal: render the recipe of this name in this process, -mode on or off, and print the median CPU ms")
	mode := fs.String("mode", "on", "internal: with -child, on or off")
	w := fs.Int("width", 1600, "source width")
	h := fs.Int("height", 1200, "source height")
	only := fs.String("only", "", "run only the recipe of this name")
	profile := fs.String("cpuprofile", "", "with -child, write a CPU profile of the renders to this file")
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
	if *child != "" {
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		return runChild(env, src, *child, *mode == "off", *n, stdout)
	}
	fmt.Fprintf(stdout, "source: %dx%d product shot, %d KB JPEG; %d rounds of %d renders per mode, one process each; limit %.2fx\n\n",
		*w, *h, len(src)/1024, *rounds, *n, Limit)
	fmt.Fprintln(stdout, "| recipe | CPU ms, checks off | CPU ms, checks on | ratio |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	worst := 0.0
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, b := range benches {
		if *only != "" && b.name != *only {
			continue
		}
		if b.sd && env.SD == nil {
			fmt.Fprintf(stdout, "| %s | skipped: no -sd-url | | |\n", b.name)
			continue
		}
		var off, on []float64
		for range *rounds {
			for _, m := range []string{"off", "on"} {
				args := []string{"-child", b.name, "-mode", m, "-n", fmt.Sprint(*n), "-width", fmt.Sprint(*w), "-height", fmt.Sprint(*h)}
				if *sdURL != "" {
					args = append(args, "-sd-url", *sdURL)
				}
				out, err := exec.Command(self, args...).Output()
				if err != nil {
					return fmt.Errorf("%s, checks %s: %w", b.name, m, err)
				}
				var ms float64
				if _, err := fmt.Sscan(string(out), &ms); err != nil {
					return fmt.Errorf("%s, checks %s: read %q: %w", b.name, m, out, err)
				}
				if m == "off" {
					off = append(off, ms)
				} else {
					on = append(on, ms)
				}
			}
		}
		mOff, mOn := median(off), median(on)
		ratio := mOn / mOff
		worst = math.Max(worst, ratio)
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.3fx |\n", b.name, mOff, mOn, ratio)
	}
	fmt.Fprintf(stdout, "\nworst ratio %.3fx (limit %.2fx)\n", worst, Limit)
	if worst > Limit {
		return fmt.Errorf("the checks cost %.3fx the render's CPU, more than %.2fx", worst, Limit)
	}
	return nil
}

// runChild renders one recipe n times in one mode (after one warm-up render) and prints the
// median CPU milliseconds of a render.
func runChild(env pipeline.Env, src []byte, name string, noChecks bool, n int, stdout io.Writer) error {
	var b *bench
	for i := range benches {
		if benches[i].name == name {
			b = &benches[i]
		}
	}
	if b == nil {
		return fmt.Errorf("no recipe %q", name)
	}
	r, err := pipeline.ParseRecipe([]byte(b.recipe))
	if err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	var cpu []float64
	for i := range n + 1 {
		c, err := render(env, src, r, noChecks)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		if i > 0 {
			cpu = append(cpu, c*1000)
		}
	}
	fmt.Fprintf(stdout, "%.3f\n", median(cpu))
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
