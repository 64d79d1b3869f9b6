package imaging

import (
	"errors"
	"testing"
)

func TestParseFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Format
		wantErr error
	}{
		{"jpeg", JPEG, nil},
		{"JPG", JPEG, nil},
		{" png ", PNG, nil},
		{"webp", WebP, nil},
		{"avif", AVIF, nil},
		{"gif", GIF, nil},
		{"tif", TIFF, nil},
		{"tiff", TIFF, nil},
		{"heic", HEIF, nil},
		{"heif", HEIF, nil},
		{"auto", "", ErrInvalidOption},
		{"bmp", "", ErrInvalidOption},
		{"", "", ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFormat(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ParseFormat(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatExtAndContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f         Format
		ext, mime string
	}{
		{JPEG, "jpg", "image/jpeg"},
		{PNG, "png", "image/png"},
		{WebP, "webp", "image/webp"},
		{AVIF, "avif", "image/avif"},
		{GIF, "gif", "image/gif"},
		{TIFF, "tiff", "image/tiff"},
		{HEIF, "heic", "image/heif"},
		{"bmp", "", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			t.Parallel()
			if got := tt.f.Ext(); got != tt.ext {
				t.Errorf("Ext() = %q, want %q", got, tt.ext)
			}
			if got := tt.f.ContentType(); got != tt.mime {
				t.Errorf("ContentType() = %q, want %q", got, tt.mime)
			}
		})
	}
}

func TestAuto(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accepted []Format
		alpha    bool
		want     Format
	}{
		{[]Format{WebP, AVIF}, false, AVIF},
		{[]Format{WebP}, true, WebP},
		{nil, true, PNG},
		{nil, false, JPEG},
		{[]Format{GIF}, false, JPEG},
	}
	for _, tt := range tests {
		if got := Auto(tt.accepted, tt.alpha); got != tt.want {
			t.Errorf("Auto(%q, %v) = %q, want %q", tt.accepted, tt.alpha, got, tt.want)
		}
	}
}

func TestParseColor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Color
		wantErr bool
	}{
		{"#fff", Color{255, 255, 255, 255}, false},
		{"#f80", Color{255, 136, 0, 255}, false},
		{"#102030", Color{16, 32, 48, 255}, false},
		{"102030", Color{16, 32, 48, 255}, false},
		{"#10203040", Color{16, 32, 48, 64}, false},
		{"#ABCDEF", Color{171, 205, 239, 255}, false},
		{"transparent", Color{}, false},
		{"White", Color{255, 255, 255, 255}, false},
		{"black", Color{0, 0, 0, 255}, false},
		{"#12345", Color{}, true},
		{"#ggg", Color{}, true},
		{"red", Color{}, true},
		{"", Color{}, true},
		{"#-12", Color{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseColor(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidOption) {
					t.Errorf("ParseColor(%q) error = %v, want ErrInvalidOption", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseColor(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, make([]byte, 16)...)
	}
	tests := []struct {
		name    string
		data    []byte
		want    Format
		wantErr error
	}{
		{"jpeg", []byte("\xFF\xD8\xFF\xE0rest"), JPEG, nil},
		{"jpeg junk after soi", []byte("\xFF\xD8\xFE\xFF\x00\x10JFIF"), JPEG, nil},
		{"png", []byte("\x89PNG\r\n\x1a\nrest"), PNG, nil},
		{"gif", []byte("GIF89a...."), GIF, nil},
		{"webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), WebP, nil},
		{"tiff le", []byte("II*\x00...."), TIFF, nil},
		{"tiff be", []byte("MM\x00*...."), TIFF, nil},
		{"avif", ftyp("avif", "mif1"), AVIF, nil},
		{"avif compat", ftyp("mif1", "miaf", "avif"), AVIF, nil},
		{"heic", ftyp("heic", "mif1"), HEIF, nil},
		{"mp4", ftyp("isom", "mp41"), "", ErrUnsupportedFormat},
		{"svg xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), "", ErrUnsupportedFormat},
		{"svg bare", []byte("\n  <svg width='1'/>"), "", ErrUnsupportedFormat},
		{"svg bom", []byte("\xEF\xBB\xBF<svg/>"), "", ErrUnsupportedFormat},
		{"pdf", []byte("%PDF-1.7\n"), "", ErrUnsupportedFormat},
		{"bmp", append([]byte("BM"), make([]byte, 60)...), "", ErrUnsupportedFormat},
		{"psd", []byte("8BPS\x00\x01"), "", ErrUnsupportedFormat},
		{"jxl", []byte("\xFF\x0A\x00"), "", ErrUnsupportedFormat},
		{"html", []byte("<!doctype html><html><body>not found</body></html>"), "", ErrCorrupt},
		{"text", []byte("hello world"), "", ErrCorrupt},
		{"empty", nil, "", ErrCorrupt},
		{"short jpeg", []byte("\xFF\xD8"), "", ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sniff(tt.data)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("sniff() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
