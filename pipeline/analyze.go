package pipeline

import (
	"context"
	"fmt"

	"github.com/pictor/pictor/imaging"
)

// Report is the quality triage of a source image: its size and format, how sharp it is,
// its estimated JPEG quality and whether it stands on a plain background.
type Report struct {
	Width           int
	Height          int
	Format          string
	Bytes           int64
	HasAlpha        bool
	Sharpness       float64
	JPEGQuality     int
	PlainBackground bool
	BackgroundColor string
}

// analysisSide is the longer side the decoder shrinks to for analysis; Sharpness is
// measured on a fixed-size downsample so scores compare across source sizes.
const analysisSide = 512

// Analyze decodes src (shrunk on load) and reports its quality. It decodes every byte, so a
// truncated or corrupt file fails here with imaging.ErrCorrupt.
func Analyze(ctx context.Context, src []byte, maxPixels int64) (Report, error) {
	info, err := imaging.Probe(src)
	if err != nil {
		return Report{}, err
	}
	if maxPixels > 0 && int64(info.Width)*int64(info.Height) > maxPixels {
		return Report{}, fmt.Errorf("%dx%d: %w", info.Width, info.Height, imaging.ErrTooManyPixels)
	}
	w, h := info.Width, info.Height
	if oriented(info) {
		w, h = h, w
	}
	rep := Report{Width: w, Height: h, Format: string(info.Format), Bytes: int64(len(src)), HasAlpha: info.HasAlpha}
	if q, ok := imaging.EstimateJPEGQuality(src); ok {
		rep.JPEGQuality = q
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	shrink := need(w, h, &ResizeParams{Width: analysisSide, Height: analysisSide, Fit: "inside"})
	im, err := imaging.Load(src, imaging.LoadOptions{MaxPixels: maxPixels, ShrinkTo: shrink})
	if err != nil {
		return Report{}, err
	}
	defer im.Close()
	if err := im.AutoOrient(); err != nil {
		return Report{}, err
	}
	if im.Width() > analysisSide || im.Height() > analysisSide {
		if err := im.Resize(imaging.ResizeOptions{Width: analysisSide, Height: analysisSide, Fit: "inside"}); err != nil {
			return Report{}, err
		}
	}
	if rep.Sharpness, err = im.Sharpness(); err != nil {
		return Report{}, err
	}
	plain, c, err := im.PlainBackground()
	if err != nil {
		return Report{}, err
	}
	rep.PlainBackground = plain
	if plain {
		rep.BackgroundColor = fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
	}
	return rep, nil
}
