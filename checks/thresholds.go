package checks

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidThreshold is returned for a threshold out of its range.
var ErrInvalidThreshold = errors.New("invalid check threshold")

// Thresholds are the limits the checks hold an output to. A recipe sets them under
// "checks", an output under its own "checks" (fields given there win); a field left out
// keeps its default. The background rules (BackgroundColor, ProductFillMin) run only when
// set.
type Thresholds struct {
	// ProductPixelsMax is the largest share of product pixels (inside the eroded mask)
	// that may differ from the source; default 0.001.
	ProductPixelsMax *float64 `json:"product_pixels_max,omitempty"`
	// ProductPixelsTolerance is how far (0..255, any channel) a pixel may move and still
	// count as unchanged; default 4.
	ProductPixelsTolerance *float64 `json:"product_pixels_tolerance,omitempty"`
	// MaskErode is how many pixels the mask is eroded by before product pixels are
	// compared (the feathered edge may change); default 3.
	MaskErode *float64 `json:"mask_erode,omitempty"`
	// MaskCoverageMin and MaskCoverageMax bound the share of the frame the mask covers;
	// defaults 0.01 and 0.95.
	MaskCoverageMin *float64 `json:"mask_coverage_min,omitempty"`
	MaskCoverageMax *float64 `json:"mask_coverage_max,omitempty"`
	// MaskSpeckleMax is the largest share of the mask outside its largest connected
	// region; default 0.05.
	MaskSpeckleMax *float64 `json:"mask_speckle_max,omitempty"`
	// MaskBorderMax is the largest share of the frame's border the mask may touch when
	// the source background was plain; default 0.25.
	MaskBorderMax *float64 `json:"mask_border_max,omitempty"`
	// UpscaleSharpnessMin is the least ratio of the AI upscale's sharpness to a Lanczos
	// upscale's of the same source; default 1.0.
	UpscaleSharpnessMin *float64 `json:"upscale_sharpness_min,omitempty"`
	// UpscaleContentMin is the least SSIM of the upscale, downscaled back to the
	// source's size, against the source; default 0.9.
	UpscaleContentMin *float64 `json:"upscale_content_min,omitempty"`
	// BackgroundColor, when set ("#ffffff"), is the colour the background must be;
	// default unset (no background rule).
	BackgroundColor *string `json:"background_color,omitempty"`
	// BackgroundTolerance is how far (0..255, any channel) a background pixel may be
	// from BackgroundColor; default 8.
	BackgroundTolerance *float64 `json:"background_tolerance,omitempty"`
	// BackgroundMinShare is the least share of background pixels within tolerance;
	// default 0.99.
	BackgroundMinShare *float64 `json:"background_min_share,omitempty"`
	// ProductFillMin, when set, is the least share of the frame's width or height that
	// the product's bounding box spans (marketplaces ask 0.85); default unset.
	ProductFillMin *float64 `json:"product_fill_min,omitempty"`
}

func f64(v float64) *float64 { return &v }

// DefaultThresholds returns every default filled in (background rules unset).
func DefaultThresholds() Thresholds {
	return Thresholds{
		ProductPixelsMax: f64(0.001), ProductPixelsTolerance: f64(4), MaskErode: f64(3),
		MaskCoverageMin: f64(0.01), MaskCoverageMax: f64(0.95), MaskSpeckleMax: f64(0.05), MaskBorderMax: f64(0.25),
		UpscaleSharpnessMin: f64(1.0), UpscaleContentMin: f64(0.9),
		BackgroundTolerance: f64(8), BackgroundMinShare: f64(0.99),
	}
}

// Over returns t with every field that o sets taken from o.
func (t Thresholds) Over(o *Thresholds) Thresholds {
	if o == nil {
		return t
	}
	pick := func(dst **float64, src *float64) {
		if src != nil {
			*dst = src
		}
	}
	pick(&t.ProductPixelsMax, o.ProductPixelsMax)
	pick(&t.ProductPixelsTolerance, o.ProductPixelsTolerance)
	pick(&t.MaskErode, o.MaskErode)
	pick(&t.MaskCoverageMin, o.MaskCoverageMin)
	pick(&t.MaskCoverageMax, o.MaskCoverageMax)
	pick(&t.MaskSpeckleMax, o.MaskSpeckleMax)
	pick(&t.MaskBorderMax, o.MaskBorderMax)
	pick(&t.UpscaleSharpnessMin, o.UpscaleSharpnessMin)
	pick(&t.UpscaleContentMin, o.UpscaleContentMin)
	if o.BackgroundColor != nil {
		t.BackgroundColor = o.BackgroundColor
	}
	pick(&t.BackgroundTolerance, o.BackgroundTolerance)
	pick(&t.BackgroundMinShare, o.BackgroundMinShare)
	pick(&t.ProductFillMin, o.ProductFillMin)
	return t
}

// Validate checks every set field's range; the colour is checked by the caller, which
// knows the colour syntax.
func (t *Thresholds) Validate() error {
	if t == nil {
		return nil
	}
	var errs []error
	rng := func(name string, v *float64, lo, hi float64) {
		if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
			errs = append(errs, fmt.Errorf("%s: %g is outside %g..%g: %w", name, *v, lo, hi, ErrInvalidThreshold))
		}
	}
	rng("product_pixels_max", t.ProductPixelsMax, 0, 1)
	rng("product_pixels_tolerance", t.ProductPixelsTolerance, 0, 255)
	rng("mask_erode", t.MaskErode, 0, 64)
	rng("mask_coverage_min", t.MaskCoverageMin, 0, 1)
	rng("mask_coverage_max", t.MaskCoverageMax, 0, 1)
	rng("mask_speckle_max", t.MaskSpeckleMax, 0, 1)
	rng("mask_border_max", t.MaskBorderMax, 0, 1)
	rng("upscale_sharpness_min", t.UpscaleSharpnessMin, 0, 100)
	rng("upscale_content_min", t.UpscaleContentMin, -1, 1)
	rng("background_tolerance", t.BackgroundTolerance, 0, 255)
	rng("background_min_share", t.BackgroundMinShare, 0, 1)
	rng("product_fill_min", t.ProductFillMin, 0, 1)
	if t.MaskCoverageMin != nil && t.MaskCoverageMax != nil && *t.MaskCoverageMin > *t.MaskCoverageMax {
		errs = append(errs, fmt.Errorf("mask_coverage_min %g is above mask_coverage_max %g: %w", *t.MaskCoverageMin, *t.MaskCoverageMax, ErrInvalidThreshold))
	}
	return errors.Join(errs...)
}

// Get returns *p, or 0 when p is nil.
func Get(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
