package api

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pictor/pictor/catalog"
)

// imageSelector is what the selection and metadata routes need.
type imageSelector interface {
	PreviewSelection(ctx context.Context, sel catalog.Selection, sample int) (catalog.SelectionPreview, error)
	SetImageMeta(ctx context.Context, id string, set map[string]*string) (catalog.Image, error)
}

// selectBodyLimit bounds the body of POST /v1/images/select.
const selectBodyLimit = 1 << 20

// selectionRanges are the query parameters that take .min and .max, by selection field.
var selectionRanges = []string{"width", "height", "longer_side", "shorter_side", "bytes", "sharpness", "jpeg_quality"}

// selectionFromQuery reads a selection from query parameters: id, sku, format and
// meta_missing (repeatable), sku_prefix, meta.KEY=VALUE (repeatable: any of the values),
// meta.KEY.min and meta.KEY.max, width.min/.max and likewise height, longer_side,
// shorter_side, bytes, sharpness and jpeg_quality, plain_background and has_alpha
// (true or false), ingested_after and ingested_before (RFC 3339), has_rendition and
// lacks_rendition (recipe names). Empty values are ignored. Any other parameter is an
// error naming it (callers remove their own, such as cursor and limit, first), as is a
// single-valued parameter given twice or a value that does not parse; the result is
// checked with Selection.Validate.
func selectionFromQuery(q url.Values) (catalog.Selection, error) {
	var (
		sel     catalog.Selection
		unknown []string
	)
	invalid := func(param, format string, args ...any) error {
		return fmt.Errorf("%w: query parameter %s: %s", catalog.ErrInvalid, param, fmt.Sprintf(format, args...))
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}) {
		var values []string
		for _, v := range q[name] {
			if v != "" {
				values = append(values, v)
			}
		}
		if len(values) == 0 {
			continue
		}
		single := func() (string, error) {
			if len(values) > 1 {
				return "", invalid(name, "given %d times, once at most", len(values))
			}
			return values[0], nil
		}
		number := func() (*float64, error) {
			v, err := single()
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, invalid(name, "%q is not a finite number", v)
			}
			return &f, nil
		}
		boolean := func() (*bool, error) {
			v, err := single()
			if err != nil {
				return nil, err
			}
			switch v {
			case "true":
				return new(true), nil
			case "false":
				return new(false), nil
			}
			return nil, invalid(name, "%q: want true or false", v)
		}
		instant := func() (*time.Time, error) {
			v, err := single()
			if err != nil {
				return nil, err
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, invalid(name, "%q is not an RFC 3339 time such as 2024-05-01T00:00:00Z", v)
			}
			return &t, nil
		}
		var err error
		switch name {
		case "id":
			sel.IDs = append(sel.IDs, values...)
		case "sku":
			sel.SKUs = append(sel.SKUs, values...)
		case "format":
			sel.Formats = append(sel.Formats, values...)
		case "meta_missing":
			sel.MetaMissing = append(sel.MetaMissing, values...)
		case "sku_prefix":
			sel.SKUPrefix, err = single()
		case "has_rendition":
			sel.HasRendition, err = single()
		case "lacks_rendition":
			sel.LacksRendition, err = single()
		case "plain_background":
			sel.PlainBackground, err = boolean()
		case "has_alpha":
			sel.HasAlpha, err = boolean()
		case "ingested_after":
			sel.IngestedAfter, err = instant()
		case "ingested_before":
			sel.IngestedBefore, err = instant()
		default:
			key, isMeta := strings.CutPrefix(name, "meta.")
			field, bound, isRange := cutBound(name)
			switch {
			case isMeta && key != "":
				if mkey, mbound, ok := cutBound(key); ok && mkey != "" {
					r := sel.MetaRange[mkey]
					if err = setBound(&r, mbound, number); err == nil {
						if sel.MetaRange == nil {
							sel.MetaRange = map[string]catalog.Range{}
						}
						sel.MetaRange[mkey] = r
					}
					break
				}
				if sel.Meta == nil {
					sel.Meta = map[string][]string{}
				}
				sel.Meta[key] = append(sel.Meta[key], values...)
			case isRange && slices.Contains(selectionRanges, field):
				r := rangeField(&sel, field)
				if *r == nil {
					*r = &catalog.Range{}
				}
				err = setBound(*r, bound, number)
			default:
				unknown = append(unknown, name)
			}
		}
		if err != nil {
			return catalog.Selection{}, err
		}
	}
	if len(unknown) > 0 {
		return catalog.Selection{}, fmt.Errorf("%w: unknown query parameter(s) %s", catalog.ErrInvalid, strings.Join(unknown, ", "))
	}
	if err := sel.Validate(); err != nil {
		return catalog.Selection{}, err
	}
	return sel, nil
}

// cutBound splits "NAME.min" or "NAME.max".
func cutBound(s string) (name, bound string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 || (s[i+1:] != "min" && s[i+1:] != "max") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func setBound(r *catalog.Range, bound string, number func() (*float64, error)) error {
	f, err := number()
	if err != nil {
		return err
	}
	if bound == "min" {
		r.Min = f
	} else {
		r.Max = f
	}
	return nil
}

// rangeField returns the selection's range named as in the query.
func rangeField(sel *catalog.Selection, field string) **catalog.Range {
	switch field {
	case "width":
		return &sel.Width
	case "height":
		return &sel.Height
	case "longer_side":
		return &sel.LongerSide
	case "shorter_side":
		return &sel.ShorterSide
	case "bytes":
		return &sel.Bytes
	case "sharpness":
		return &sel.Sharpness
	}
	return &sel.JPEGQuality
}

// selectRequest is the body of POST /v1/images/select.
type selectRequest struct {
	Selection catalog.Selection `json:"selection"`
	// Sample is how many of the newest matches to return, 0 to 50; default 12.
	Sample *int `json:"sample"`
}

// handleSelectImages serves POST /v1/images/select: {"selection": {...}, "sample": 12}
// -> 200 {"count", "unmeasured", "sample"}. It changes nothing, so it needs only the read
// scope (requiredScope).
func (s *server) handleSelectImages() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sel := s.catalog
		b, err := readBody(w, r, selectBodyLimit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var in selectRequest
		if err := unmarshalStrict(b, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		sample := catalog.DefaultSelectionSample
		if in.Sample != nil {
			sample = *in.Sample
		}
		p, err := sel.PreviewSelection(r.Context(), in.Selection, sample)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, p)
	}
}

// handlePatchImageMeta serves PATCH /v1/images/{id}/meta: a JSON object of string values
// (set) or null (delete), merged into the image's metadata -> 200 with the image.
func (s *server) handlePatchImageMeta() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sel := s.catalog
		b, err := readBody(w, r, s.cfg.MaxJSONBytes)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] != '{' {
			s.writeError(w, r, fmt.Errorf("%w: the body must be a JSON object of string or null values", errMalformedJSON))
			return
		}
		var set map[string]*string
		if err := unmarshalStrict(b, &set); err != nil {
			s.writeError(w, r, err)
			return
		}
		img, err := sel.SetImageMeta(r.Context(), chi.URLParam(r, "id"), set)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, http.StatusOK, img)
	}
}
