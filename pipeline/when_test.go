package pipeline

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func boolPtr(b bool) *bool { return &b }

func TestWhenMatch(t *testing.T) {
	t.Parallel()
	// base is a 1200x800 opaque JPEG of quality 75, analysed as sharp (0.5) on a plain background.
	base := Facts{Width: 1200, Height: 800, Format: "jpeg", Sharpness: 0.5, JPEGQuality: 75, PlainBackground: true, Analyzed: true}
	with := func(change func(*Facts)) Facts {
		f := base
		change(&f)
		return f
	}
	tests := []struct {
		name  string
		when  *When
		facts Facts
		want  bool
	}{
		{"nil matches", nil, base, true},
		{"shorter side below holds", &When{ShorterSideBelow: 801}, base, true},
		{"shorter side below is strict", &When{ShorterSideBelow: 800}, base, false},
		{"shorter side uses the smaller side", &When{ShorterSideBelow: 1000}, with(func(f *Facts) { f.Width, f.Height = 800, 1200 }), true},
		{"longer side above holds", &When{LongerSideAbove: 1199}, base, true},
		{"longer side above is strict", &When{LongerSideAbove: 1200}, base, false},
		{"width below", &When{WidthBelow: 1201}, base, true},
		{"width below fails", &When{WidthBelow: 1200}, base, false},
		{"height below", &When{HeightBelow: 801}, base, true},
		{"height below fails", &When{HeightBelow: 800}, base, false},
		{"sharpness below", &When{SharpnessBelow: 0.6}, base, true},
		{"sharpness below fails", &When{SharpnessBelow: 0.5}, base, false},
		{"sharpness needs analysis", &When{SharpnessBelow: 0.6}, with(func(f *Facts) { f.Analyzed = false }), false},
		{"jpeg quality below", &When{JPEGQualityBelow: 80}, base, true},
		{"jpeg quality below fails", &When{JPEGQualityBelow: 75}, base, false},
		{"jpeg quality unknown never matches", &When{JPEGQualityBelow: 100}, with(func(f *Facts) { f.JPEGQuality = 0 }), false},
		{"background plain true", &When{BackgroundPlain: boolPtr(true)}, base, true},
		{"background plain false", &When{BackgroundPlain: boolPtr(false)}, base, false},
		{"background not plain wanted", &When{BackgroundPlain: boolPtr(false)}, with(func(f *Facts) { f.PlainBackground = false }), true},
		{"background needs analysis", &When{BackgroundPlain: boolPtr(false)}, with(func(f *Facts) { f.PlainBackground, f.Analyzed = false, false }), false},
		{"has alpha false", &When{HasAlpha: boolPtr(false)}, base, true},
		{"has alpha true", &When{HasAlpha: boolPtr(true)}, base, false},
		{"has alpha true with alpha", &When{HasAlpha: boolPtr(true)}, with(func(f *Facts) { f.HasAlpha = true }), true},
		{"format in list", &When{Format: []string{"png", "jpeg"}}, base, true},
		{"format not in list", &When{Format: []string{"png", "webp"}}, base, false},
		{"format alias jpg", &When{Format: []string{"jpeg"}}, with(func(f *Facts) { f.Format = "JPG" }), true},
		{"format alias in condition", &When{Format: []string{"jpg"}}, base, true},
		{"format unknown source", &When{Format: []string{"jpeg"}}, with(func(f *Facts) { f.Format = "" }), false},
		{"all hold", &When{ShorterSideBelow: 1000, LongerSideAbove: 1000, JPEGQualityBelow: 90, BackgroundPlain: boolPtr(true), HasAlpha: boolPtr(false), Format: []string{"jpeg"}}, base, true},
		{"one fails fails all", &When{ShorterSideBelow: 1000, LongerSideAbove: 1000, JPEGQualityBelow: 90, BackgroundPlain: boolPtr(true), HasAlpha: boolPtr(true)}, base, false},
		{"empty when matches", &When{}, base, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.when.Match(tc.facts); got != tc.want {
				t.Errorf("Match(%+v) of %+v: got %v, want %v", tc.facts, tc.when, got, tc.want)
			}
		})
	}
}

func TestWhenNeedsAnalysis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		when *When
		want bool
	}{
		{"nil", nil, false},
		{"sizes only", &When{ShorterSideBelow: 5, WidthBelow: 3, Format: []string{"png"}, JPEGQualityBelow: 50, HasAlpha: boolPtr(true)}, false},
		{"sharpness", &When{SharpnessBelow: 0.1}, true},
		{"background plain false", &When{BackgroundPlain: boolPtr(false)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.when.NeedsAnalysis(); got != tc.want {
				t.Errorf("NeedsAnalysis: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseWhen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		want        *When
	}{
		{"sizes", `{"shorter_side_below":800,"longer_side_above":4000,"width_below":10,"height_below":20}`,
			&When{ShorterSideBelow: 800, LongerSideAbove: 4000, WidthBelow: 10, HeightBelow: 20}},
		{"analysis", `{"sharpness_below":0.2,"background_plain":false}`, &When{SharpnessBelow: 0.2, BackgroundPlain: boolPtr(false)}},
		{"quality and alpha", `{"jpeg_quality_below":60,"has_alpha":true}`, &When{JPEGQualityBelow: 60, HasAlpha: boolPtr(true)}},
		{"formats normalised", `{"format":["WEBP","jpg","jpeg","png"]}`, &When{Format: []string{"jpeg", "png", "webp"}}},
		{"null field beside a set one", `{"has_alpha":null,"width_below":5}`, &When{WidthBelow: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWhen([]byte(tc.input))
			if err != nil {
				t.Fatalf("ParseWhen: got error %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseWhen: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseWhenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, field, msg string
	}{
		{"empty", `{}`, "when", "no condition"},
		{"only nulls", `{"format":null}`, "when", "no condition"},
		{"unknown field", `{"shorter_side":5}`, "when.shorter_side", "unknown field"},
		{"zero size", `{"shorter_side_below":0}`, "when.shorter_side_below", "must be between 1 and 1000000"},
		{"fraction", `{"width_below":1.5}`, "when.width_below", "must be an integer"},
		{"quality range", `{"jpeg_quality_below":101}`, "when.jpeg_quality_below", "must be between 1 and 100"},
		{"sharpness zero", `{"sharpness_below":0}`, "when.sharpness_below", "must be greater than 0"},
		{"sharpness infinite", `{"sharpness_below":1e999}`, "when.sharpness_below", "must be greater than 0"},
		{"bool type", `{"has_alpha":"yes"}`, "when.has_alpha", "must be true or false"},
		{"format not array", `{"format":"jpeg"}`, "when.format", "must be an array, got string"},
		{"format empty", `{"format":[]}`, "when.format", "at least one format"},
		{"format item type", `{"format":[1]}`, "when.format[0]", "must be a string, got number"},
		{"format unknown", `{"format":["jpeg","svg"]}`, "when.format[1]", `got "svg"`},
		{"not an object", `[]`, "when", "must be an object, got array"},
		{"invalid JSON", `{`, "", "invalid JSON"},
		{"too large", `{"width_below":1` + strings.Repeat(" ", MaxRecipeBytes) + `}`, "", "more than the limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := ParseWhen([]byte(tc.input))
			if w != nil {
				t.Errorf("ParseWhen: got %+v, want nil", w)
			}
			fields := fieldsOf(t, err)
			i := slices.Index(fields, tc.field)
			if i < 0 {
				t.Fatalf("fields: got %q, want one of them %q (error %v)", fields, tc.field, err)
			}
			var ve *ValidationError
			errors.As(err, &ve)
			if msg := ve.Errors[i].Message; !strings.Contains(msg, tc.msg) {
				t.Errorf("%s message: got %q, want it to contain %q", tc.field, msg, tc.msg)
			}
		})
	}
	t.Run("error string", func(t *testing.T) {
		t.Parallel()
		_, err := ParseWhen([]byte(`{}`))
		if got, want := err.Error(), "when: no condition"; got != want {
			t.Errorf("Error(): got %q, want %q", got, want)
		}
	})
}
