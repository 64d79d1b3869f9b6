package api

import (
	"strconv"
	"strings"

	"github.com/pictor/pictor/imaging"
)

// acceptedFormats reads an HTTP Accept header (or the accept query parameter, which holds
// one) for what an "auto" output may be beyond JPEG and PNG: image/avif and image/webp,
// named explicitly and not refused with q=0. Wildcards (*/* or image/*) select neither;
// the catalog then picks PNG for alpha, else JPEG (imaging.Auto).
func acceptedFormats(accept string) []imaging.Format {
	var out []imaging.Format
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		var f imaging.Format
		switch strings.ToLower(strings.TrimSpace(fields[0])) {
		case "image/avif":
			f = imaging.AVIF
		case "image/webp":
			f = imaging.WebP
		default:
			continue
		}
		ok := true
		for _, p := range fields[1:] {
			k, v, found := strings.Cut(strings.TrimSpace(p), "=")
			if !found || strings.ToLower(strings.TrimSpace(k)) != "q" {
				continue
			}
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q <= 0 {
				ok = false
			}
		}
		if ok && !contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func contains(fs []imaging.Format, f imaging.Format) bool {
	for _, g := range fs {
		if g == f {
			return true
		}
	}
	return false
}
