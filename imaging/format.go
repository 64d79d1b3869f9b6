package imaging

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Format is an image file format, named as in recipes ("jpeg", "png", ...).
type Format string

// The formats this package decodes and encodes.
const (
	// JPEG is baseline or progressive JPEG (JFIF/EXIF).
	JPEG Format = "jpeg"
	// PNG includes palette and 16-bit PNG.
	PNG Format = "png"
	// WebP is lossy or lossless WebP.
	WebP Format = "webp"
	// AVIF is AV1 in HEIF (decoded and encoded through libheif).
	AVIF Format = "avif"
	// GIF is decoded as its first frame.
	GIF Format = "gif"
	// TIFF is baseline TIFF (not BigTIFF).
	TIFF Format = "tiff"
	// HEIF is HEVC in HEIF (".heic").
	HEIF Format = "heif"
)

// DefaultFormats are the input formats Load accepts when LoadOptions.AllowedFormats
// is nil. GIF is decoded as its first frame only.
func DefaultFormats() []Format {
	return []Format{JPEG, PNG, WebP, AVIF, GIF, TIFF, HEIF}
}

// Ext returns the usual file extension of f without the dot ("jpg", "png", "webp",
// "avif", "gif", "tiff", "heic"); "" for an unknown format.
func (f Format) Ext() string {
	switch f {
	case JPEG:
		return "jpg"
	case PNG, WebP, AVIF, GIF, TIFF:
		return string(f)
	case HEIF:
		return "heic"
	}
	return ""
}

// ContentType returns the MIME type of f ("image/jpeg", ...), or
// "application/octet-stream" for an unknown format.
func (f Format) ContentType() string {
	switch f {
	case JPEG, PNG, WebP, AVIF, GIF, TIFF, HEIF:
		return "image/" + string(f)
	}
	return "application/octet-stream"
}

// Valid reports whether f is one of the formats declared in this package.
func (f Format) Valid() bool {
	switch f {
	case JPEG, PNG, WebP, AVIF, GIF, TIFF, HEIF:
		return true
	}
	return false
}

// ParseFormat parses a format name, case-insensitively. It accepts the constant
// names plus the aliases "jpg", "tif" and "heic". "auto" is not a format: resolve it
// with Negotiate. Anything else wraps ErrInvalidOption.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "jpeg", "jpg":
		return JPEG, nil
	case "png":
		return PNG, nil
	case "webp":
		return WebP, nil
	case "avif":
		return AVIF, nil
	case "gif":
		return GIF, nil
	case "tiff", "tif":
		return TIFF, nil
	case "heif", "heic":
		return HEIF, nil
	}
	return "", invalid("format %q", s)
}

// Auto picks the format of an "auto" output from the formats the client accepts beyond
// JPEG and PNG (the API reads them from its Accept header): AVIF when accepted, else WebP
// when accepted, else PNG when the image has alpha, else JPEG.
func Auto(accepted []Format, hasAlpha bool) Format {
	switch {
	case slices.Contains(accepted, AVIF):
		return AVIF
	case slices.Contains(accepted, WebP):
		return WebP
	case hasAlpha:
		return PNG
	}
	return JPEG
}

// sniff identifies the format of data from its magic bytes. It returns the format
// when it is one of ours, ErrUnsupportedFormat for a recognised format we refuse
// (SVG, PDF, BMP, ...), and ErrCorrupt for anything else. A JPEG is SOI and one
// more byte: libjpeg (and libvips' JPEG loader) need no more than SOI, and skip
// junk between it and the first marker, which tidyJPEG removes.
func sniff(data []byte) (Format, error) {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8:
		return JPEG, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, nil
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return GIF, nil
	case len(data) >= 12 && bytes.Equal(data[0:4], []byte("RIFF")) && bytes.Equal(data[8:12], []byte("WEBP")):
		return WebP, nil
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return TIFF, nil
	case bytes.HasPrefix(data, []byte("II+\x00")), bytes.HasPrefix(data, []byte("MM\x00+")):
		return "", fmt.Errorf("bigtiff: %w", ErrUnsupportedFormat)
	}
	if f, ok := sniffISOBMFF(data); ok {
		if f == "" {
			return "", fmt.Errorf("iso media file that is not heif or avif: %w", ErrUnsupportedFormat)
		}
		return f, nil
	}
	if name := sniffRefused(data); name != "" {
		return "", fmt.Errorf("%s: %w", name, ErrUnsupportedFormat)
	}
	return "", fmt.Errorf("unknown file signature: %w", ErrCorrupt)
}

// sniffISOBMFF recognises HEIF and AVIF from the ftyp box. ok is true for any
// ftyp box; f is "" when no brand is one of ours.
func sniffISOBMFF(data []byte) (f Format, ok bool) {
	if len(data) < 16 || !bytes.Equal(data[4:8], []byte("ftyp")) {
		return "", false
	}
	size := int(uint32(data[0])<<24 | uint32(data[1])<<16 | uint32(data[2])<<8 | uint32(data[3]))
	if size < 16 || size > len(data) {
		size = min(len(data), 64)
	}
	// Major brand at 8..12, minor version 12..16, compatible brands from 16.
	brands := [][]byte{data[8:12]}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, data[i:i+4])
	}
	var heif bool
	for _, b := range brands {
		switch string(b) {
		case "avif", "avis":
			return AVIF, true
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1":
			heif = true
		}
	}
	if heif {
		return HEIF, true
	}
	return "", true
}

// sniffRefused names formats we recognise and refuse.
func sniffRefused(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("%PDF")):
		return "pdf"
	case bytes.HasPrefix(data, []byte("%!PS")), bytes.HasPrefix(data, []byte("\xC5\xD0\xD3\xC6")):
		return "postscript"
	case bytes.HasPrefix(data, []byte("BM")) && len(data) >= 26:
		return "bmp"
	case bytes.HasPrefix(data, []byte("\x00\x00\x01\x00")), bytes.HasPrefix(data, []byte("\x00\x00\x02\x00")):
		return "ico"
	case bytes.HasPrefix(data, []byte("\x00\x00\x00\x0CjP  \r\n\x87\n")), bytes.HasPrefix(data, []byte("\xFF\x4F\xFF\x51")):
		return "jpeg 2000"
	case bytes.HasPrefix(data, []byte("\xFF\x0A")), bytes.HasPrefix(data, []byte("\x00\x00\x00\x0CJXL \r\n\x87\n")):
		return "jpeg xl"
	case bytes.HasPrefix(data, []byte("8BPS")):
		return "psd"
	case bytes.HasPrefix(data, []byte("\x1F\x8B")) && isSVGZ(data):
		return "svgz"
	case isSVG(data):
		return "svg"
	}
	return ""
}

// isSVG reports whether data looks like an SVG document: XML or markup that
// mentions an <svg element near the start.
func isSVG(data []byte) bool {
	head := data[:min(len(data), 4096)]
	head = bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '<' {
		return false
	}
	return bytes.Contains(bytes.ToLower(head), []byte("<svg"))
}

// isSVGZ is a cheap guess for gzip-compressed SVG: the gzip header's file name
// ends in .svg. Other gzip files are left to the caller (ErrCorrupt).
func isSVGZ(data []byte) bool {
	if len(data) < 10 || data[3]&0x08 == 0 { // FNAME flag
		return false
	}
	end := bytes.IndexByte(data[10:min(len(data), 266)], 0)
	if end < 0 {
		return false
	}
	return strings.HasSuffix(strings.ToLower(string(data[10:10+end])), ".svg")
}
