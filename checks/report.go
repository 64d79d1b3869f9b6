// Package checks measures whether an AI-made image is right: the product's own pixels
// kept, a sane mask, the asked geometry, an upscale that gained sharpness without
// changing content, marketplace background rules. It works on raw 8-bit pixel buffers
// and imports no project package (a leaf): callers decode, this package measures and
// judges.
package checks

import (
	"fmt"
	"math"
	"strings"
)

// Check names, stable in the API, exports and the review filter.
const (
	ProductPixels    = "product_pixels"    // share of product pixels (eroded mask) that changed
	MaskCoverage     = "mask_coverage"     // share of the frame the mask covers
	MaskSpeckle      = "mask_speckle"      // share of the mask outside its largest region
	MaskBorder       = "mask_border"       // share of the frame border the mask touches (plain sources)
	Geometry         = "geometry"          // output size exactly as the recipe asked
	UpscaleSharpness = "upscale_sharpness" // AI upscale sharpness over a Lanczos upscale's
	UpscaleContent   = "upscale_content"   // SSIM of the upscale, downscaled back, against the source
	BackgroundWhite  = "background_white"  // share of background pixels within tolerance of the rule's colour
	ProductFill      = "product_fill"      // longer side of the product's box over the frame's
	Safety           = "safety"            // the safety classifier's verdict (1 flagged or unclassified, 0 clean)
)

// Verdicts of one check.
const (
	Pass = "pass"
	Fail = "fail"
)

// Comparison operators a threshold is held to.
const (
	AtMost  = "<="
	AtLeast = ">="
	Equal   = "=="
)

// Result is one check on one output: what was measured, against what, and the verdict.
type Result struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	Verdict   string  `json:"verdict"`
	// Detail says what was measured where it is not obvious (sizes, the reference mask).
	Detail string `json:"detail,omitempty"`
}

// Judge fills r.Verdict from r.Value, r.Op and r.Threshold; a NaN value fails.
func (r Result) Judge() Result {
	v, t := r.Value, r.Threshold
	ok := false
	switch r.Op {
	case AtMost:
		ok = v <= t
	case AtLeast:
		ok = v >= t
	case Equal:
		ok = v == t
	}
	if math.IsNaN(v) {
		ok = false
	}
	r.Verdict = Fail
	if ok {
		r.Verdict = Pass
	}
	// Values travel as JSON: keep them finite and short.
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		r.Value = -1
	}
	r.Value = math.Round(r.Value*1e6) / 1e6
	return r
}

// Report is every check run on one output.
type Report struct {
	Results []Result `json:"results"`
	// Passed is true when every result passed.
	Passed bool `json:"passed"`
}

// Add judges r and appends it, keeping Passed up to date.
func (rep *Report) Add(r Result) {
	r = r.Judge()
	if len(rep.Results) == 0 {
		rep.Passed = true
	}
	rep.Results = append(rep.Results, r)
	if r.Verdict != Pass {
		rep.Passed = false
	}
}

// Failed returns the names of the failing checks, in order.
func (rep *Report) Failed() []string {
	if rep == nil {
		return nil
	}
	var out []string
	for _, r := range rep.Results {
		if r.Verdict != Pass {
			out = append(out, r.Name)
		}
	}
	return out
}

// Merge appends other's results to a copy of rep.
func (rep *Report) Merge(other *Report) *Report {
	out := &Report{}
	for _, x := range []*Report{rep, other} {
		if x == nil {
			continue
		}
		for _, r := range x.Results {
			out.Add(r)
		}
	}
	if len(out.Results) == 0 {
		return nil
	}
	return out
}

// String is a one-line summary: "pass" or "fail: a=0.1 (<= 0.01), ...".
func (rep *Report) String() string {
	if rep == nil || len(rep.Results) == 0 {
		return ""
	}
	if rep.Passed {
		return Pass
	}
	var b strings.Builder
	b.WriteString(Fail + ":")
	for _, r := range rep.Results {
		if r.Verdict != Pass {
			fmt.Fprintf(&b, " %s=%g (%s %g)", r.Name, r.Value, r.Op, r.Threshold)
		}
	}
	return b.String()
}
