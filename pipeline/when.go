package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// sourceFormats lists the source formats a When.Format may name, comma-separated.
const sourceFormats = "jpeg,png,webp,avif,gif,tiff,heif,jxl,bmp"

// maxSide bounds the pixel sizes in a When: 1..1000000.
const maxSide = 1_000_000

// When is a condition on a step: the step runs only if every set field holds (AND).
// A nil *When always matches. Unset fields (zero or nil) are not part of the condition.
type When struct {
	// ShorterSideBelow holds when min(width, height) < ShorterSideBelow; default 0 (unset).
	ShorterSideBelow int `json:"shorter_side_below,omitempty"`
	// LongerSideAbove holds when max(width, height) > LongerSideAbove; default 0 (unset).
	LongerSideAbove int `json:"longer_side_above,omitempty"`
	// WidthBelow holds when width < WidthBelow; default 0 (unset).
	WidthBelow int `json:"width_below,omitempty"`
	// HeightBelow holds when height < HeightBelow; default 0 (unset).
	HeightBelow int `json:"height_below,omitempty"`
	// SharpnessBelow holds when the analysed sharpness is below it; default 0 (unset).
	// It needs pixel analysis (Facts.Analyzed); without it the condition does not hold.
	SharpnessBelow float64 `json:"sharpness_below,omitempty"`
	// JPEGQualityBelow holds when the estimated JPEG quality is known (> 0) and below it,
	// 1..100; default 0 (unset).
	JPEGQualityBelow int `json:"jpeg_quality_below,omitempty"`
	// BackgroundPlain holds when the analysed plainness of the background equals it; default
	// nil (unset). It needs pixel analysis (Facts.Analyzed); without it it does not hold.
	BackgroundPlain *bool `json:"background_plain,omitempty"`
	// HasAlpha holds when the source's alpha channel presence equals it; default nil (unset).
	HasAlpha *bool `json:"has_alpha,omitempty"`
	// Format holds when the source format is in the list; default nil (unset). Parsed lists
	// are lower case, "jpg" becomes "jpeg", sorted and without duplicates; allowed values are
	// jpeg, png, webp, avif, gif, tiff, heif, jxl and bmp.
	Format []string `json:"format,omitempty"`
}

// Facts are what is known about a source image when conditions are checked.
type Facts struct {
	// Width of the image in pixels.
	Width int
	// Height of the image in pixels.
	Height int
	// Format of the source, e.g. "jpeg" ("jpg", "tif" and "heic" are understood too).
	Format string
	// HasAlpha is whether the image has an alpha channel.
	HasAlpha bool
	// Sharpness is the analysed sharpness; meaningful only when Analyzed.
	Sharpness float64
	// JPEGQuality is the estimated JPEG quality, 1..100; 0 means unknown (or not a JPEG).
	JPEGQuality int
	// PlainBackground is whether the background is plain; meaningful only when Analyzed.
	PlainBackground bool
	// Analyzed is whether Sharpness and PlainBackground are known.
	Analyzed bool
}

// Match reports whether every set condition of w holds for f. A nil When matches.
// JPEGQualityBelow never matches an unknown quality (0); SharpnessBelow and BackgroundPlain
// never match when f is not Analyzed.
func (w *When) Match(f Facts) bool {
	if w == nil {
		return true
	}
	shorter, longer := min(f.Width, f.Height), max(f.Width, f.Height)
	switch {
	case w.ShorterSideBelow > 0 && !(shorter < w.ShorterSideBelow),
		w.LongerSideAbove > 0 && !(longer > w.LongerSideAbove),
		w.WidthBelow > 0 && !(f.Width < w.WidthBelow),
		w.HeightBelow > 0 && !(f.Height < w.HeightBelow),
		w.SharpnessBelow > 0 && !(f.Analyzed && f.Sharpness < w.SharpnessBelow),
		w.JPEGQualityBelow > 0 && !(f.JPEGQuality > 0 && f.JPEGQuality < w.JPEGQualityBelow),
		w.BackgroundPlain != nil && !(f.Analyzed && f.PlainBackground == *w.BackgroundPlain),
		w.HasAlpha != nil && f.HasAlpha != *w.HasAlpha:
		return false
	}
	if len(w.Format) > 0 {
		src := normalizeFormat(f.Format)
		if !slices.ContainsFunc(w.Format, func(s string) bool { return normalizeFormat(s) == src }) {
			return false
		}
	}
	return true
}

// NeedsAnalysis reports whether w uses a fact that needs pixel analysis: SharpnessBelow or
// BackgroundPlain. A nil When needs none.
func (w *When) NeedsAnalysis() bool {
	return w != nil && (w.SharpnessBelow > 0 || w.BackgroundPlain != nil)
}

// ParseWhen parses and validates a condition on its own (a batch filter, for instance), with
// the same strictness and error style as ParseRecipe; field paths start with "when".
func ParseWhen(data []byte) (*When, error) {
	errs := &errList{}
	if len(data) > MaxRecipeBytes {
		errs.add("", "condition is %d bytes, more than the limit of %d", len(data), MaxRecipeBytes)
		return nil, errs.err()
	}
	if !checkJSON(errs, data) {
		return nil, errs.err()
	}
	w := parseWhenValue(errs, "when", data)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return w, nil
}

// parseWhenValue validates a when object at path, recording errors in errs.
func parseWhenValue(errs *errList, path string, raw json.RawMessage) *When {
	o, ok := newObject(errs, path, raw)
	if !ok {
		return nil
	}
	if len(o.keys) == 0 {
		errs.add(path, "no condition")
		return nil
	}
	before := errs.len()
	w := &When{}
	w.ShorterSideBelow, _ = o.intIn("shorter_side_below", 0, 1, maxSide)
	w.LongerSideAbove, _ = o.intIn("longer_side_above", 0, 1, maxSide)
	w.WidthBelow, _ = o.intIn("width_below", 0, 1, maxSide)
	w.HeightBelow, _ = o.intIn("height_below", 0, 1, maxSide)
	if v, present, ok := o.number("sharpness_below"); ok && present {
		if v > 0 && !math.IsInf(v, 1) {
			w.SharpnessBelow = v
		} else {
			o.fail("sharpness_below", "must be greater than 0, got %s", fmtFloat(v))
		}
	}
	w.JPEGQualityBelow, _ = o.intIn("jpeg_quality_below", 0, 1, 100)
	if o.has("background_plain") {
		b := o.boolean("background_plain", false)
		if !o.failed("background_plain") {
			w.BackgroundPlain = &b
		}
	}
	if o.has("has_alpha") {
		b := o.boolean("has_alpha", false)
		if !o.failed("has_alpha") {
			w.HasAlpha = &b
		}
	}
	if raw, ok := o.take("format"); ok {
		w.Format = parseFormats(o, raw)
	}
	o.unknown()
	if errs.len() == before && !w.NeedsAnalysis() && w.HasAlpha == nil && w.Format == nil &&
		w.ShorterSideBelow == 0 && w.LongerSideAbove == 0 && w.WidthBelow == 0 &&
		w.HeightBelow == 0 && w.JPEGQualityBelow == 0 {
		// Only null fields were given.
		errs.add(path, "no condition")
	}
	return w
}

func parseFormats(o *object, raw json.RawMessage) []string {
	items, ok := o.array("format", raw)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		o.fail("format", "must list at least one format")
		return nil
	}
	var out []string
	for i, item := range items {
		var s string
		if kind(item) != '"' || json.Unmarshal(item, &s) != nil {
			o.fail(fmt.Sprintf("format[%d]", i), "must be a string, got %s", kindName(item))
			continue
		}
		f := normalizeFormat(s)
		if !slices.Contains(strings.Split(sourceFormats, ","), f) {
			o.fail(fmt.Sprintf("format[%d]", i), "must be one of %s, got %q", strings.ReplaceAll(sourceFormats, ",", ", "), s)
			continue
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// normalizeFormat lower-cases a format name and maps its aliases (jpg, tif, heic) to the
// names imaging uses.
func normalizeFormat(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "jpg":
		return "jpeg"
	case "tif":
		return "tiff"
	case "heic":
		return "heif"
	}
	return s
}
