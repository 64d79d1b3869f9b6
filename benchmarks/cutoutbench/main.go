// Command cutoutbench scores the classic cut-out (imaging's Matte) on the
// labelled set in imaging/testdata/cutout (product shots with enclosed regions
// of the background's colour, some holes and some product; see gen.go there)
// and prices it on 1600x1200 shots. It prints every shot's IoU with its true
// mask, the mean and the lowest, and the CPU time (user + system, from
// getrusage) of a cut-out, the median of -n runs.
//
//	go run ./benchmarks/cutoutbench            # from the repository root
//	go run ./benchmarks/cutoutbench -n 15 -big imaging/testdata/matte/shoe.jpg
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pictor/pictor/imaging"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cutoutbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cutoutbench", flag.ContinueOnError)
	dir := fs.String("dir", "imaging/testdata/cutout", "the labelled set: NAME.jpg with NAME.mask.png")
	n := fs.Int("n", 9, "runs per timing (the median is printed)")
	big := fs.String("big", "imaging/testdata/matte/shoe.jpg,imaging/testdata/cutout/clock.jpg",
		"comma-separated shots timed at 1600x1200 (resized to it when they are not)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	imaging.Startup(imaging.StartupConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer imaging.Shutdown()

	files, err := filepath.Glob(filepath.Join(*dir, "*.jpg"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no shots in %s (run from the repository root)", *dir)
	}
	slices.Sort(files)
	fmt.Fprintf(stdout, "| shot | size | IoU | CPU ms |\n|---|---|---|---|\n")
	var sum float64
	lowest, lowestName := 2.0, ""
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jpg")
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		want, ww, wh, err := readMask(filepath.Join(*dir, name+".mask.png"))
		if err != nil {
			return err
		}
		got, w, h, ms, err := matte(data, *n)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if w != ww || h != wh {
			return fmt.Errorf("%s: mask %dx%d, true mask %dx%d", name, w, h, ww, wh)
		}
		score := iou(got, want)
		sum += score
		if score < lowest {
			lowest, lowestName = score, name
		}
		fmt.Fprintf(stdout, "| %s | %dx%d | %.4f | %.1f |\n", name, w, h, score, ms)
	}
	fmt.Fprintf(stdout, "\nmean IoU %.4f over %d shots, lowest %.4f (%s)\n\n", sum/float64(len(files)), len(files), lowest, lowestName)

	for _, f := range strings.Split(*big, ",") {
		if f == "" {
			continue
		}
		data, err := bigShot(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		_, w, h, ms, err := matte(data, *n)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(stdout, "%s at %dx%d: %.1f CPU ms a cut-out (median of %d)\n", filepath.Base(f), w, h, ms, *n)
	}
	return nil
}

// matte cuts out the shot in data n times (decoded once before) and returns
// the last mask, its size and the median CPU milliseconds of a cut-out.
func matte(data []byte, n int) (mask []byte, w, h int, ms float64, err error) {
	im, err := imaging.Load(data, imaging.LoadOptions{})
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer im.Close()
	if _, _, _, err := im.Gray(); err != nil { // decode once
		return nil, 0, 0, 0, err
	}
	var times []float64
	for range max(1, n) {
		start := cpu()
		m, err := im.Matte(imaging.MatteOptions{})
		if err != nil {
			return nil, 0, 0, 0, err
		}
		w, h, mask, err = m.Gray()
		m.Close()
		if err != nil {
			return nil, 0, 0, 0, err
		}
		times = append(times, float64(cpu()-start)/float64(time.Millisecond))
	}
	slices.Sort(times)
	return mask, w, h, times[len(times)/2], nil
}

// bigShot returns the shot at path as a 1600x1200 JPEG (q90), resizing it when
// it is another size.
func bigShot(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	im, err := imaging.Load(data, imaging.LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer im.Close()
	if im.Width() == 1600 && im.Height() == 1200 {
		return data, nil
	}
	if err := im.Resize(imaging.ResizeOptions{Width: 1600, Height: 1200, Fit: imaging.FitFill}); err != nil {
		return nil, err
	}
	return im.Encode(imaging.EncodeOptions{Format: imaging.JPEG, Quality: 90})
}

// cpu is the process's user plus system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readMask decodes a grey PNG mask.
func readMask(path string) (pix []byte, w, h int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, 0, 0, errors.New(path + ": empty mask")
	}
	pix = make([]byte, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			pix = append(pix, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		}
	}
	return pix, b.Dx(), b.Dy(), nil
}

// iou is the intersection over union of two masks, each cut at 128.
func iou(got, want []byte) float64 {
	var inter, union int
	for i := range got {
		g, w := got[i] >= 128, want[i] >= 128
		if g && w {
			inter++
		}
		if g || w {
			union++
		}
	}
	if union == 0 {
		return 1
	}
	return float64(inter) / float64(union)
}
