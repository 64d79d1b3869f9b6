package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pictor/pictor/storage"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key string
		ok  bool
	}{
		{"sha256/ab/abcdef", true},
		{"abc/def/main.webp", true},
		{"a", true},
		{"with space/and+plus=and,comma", true},
		{"ünïcode/ключ", true},
		{"a..b", true}, // ".." only matters as a path segment
		{"a/b.meta.jsonx", true},
		{strings.Repeat(strings.Repeat("x", storage.MaxSegmentLen)+"/", 5) + strings.Repeat("y", 19), true},
		{strings.Repeat("x", storage.MaxSegmentLen), true},
		{strings.Repeat("x", storage.MaxSegmentLen+1), false},
		{"", false},
		{strings.Repeat("x", storage.MaxKeyLen+1), false},
		{"/lead", false},
		{"trail/", false},
		{"a//b", false},
		{"..", false},
		{"a/..", false},
		{"../a", false},
		{"a/./b", false},
		{".hidden", false},
		{"a/.tmp-1", false},
		{"nul\x00", false},
		{"tab\tkey", false},
		{"del\x7f", false},
		{"bad\xff", false},
		{"obj.meta.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			err := storage.ValidateKey(tt.key)
			if got := err == nil; got != tt.ok {
				t.Errorf("ValidateKey: got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("ValidateKey: got %v, want it to wrap ErrInvalidKey", err)
			}
		})
	}
}

func TestValidateBucket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"originals", true},
		{"pictor-renditions", true},
		{"a.b-c", true},
		{"abc", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"Upper", false},
		{"under_score", false},
		{"-lead", false},
		{"trail.", false},
		{"a..b", false},
		{"a/b", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := storage.ValidateBucket(tt.name)
			if got := err == nil; got != tt.ok {
				t.Errorf("ValidateBucket: got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, storage.ErrInvalidBucket) {
				t.Errorf("ValidateBucket: got %v, want it to wrap ErrInvalidBucket", err)
			}
		})
	}
}

func TestValidateMeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		meta map[string]string
		ok   bool
	}{
		{"nil", nil, true},
		{"plain", map[string]string{"width": "640", "recipe-hash": "abc", "format": "image/webp"}, true},
		{"empty value", map[string]string{"k": ""}, true},
		{"printable punctuation", map[string]string{"k": `a b!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`}, true},
		{"upper key", map[string]string{"Width": "1"}, false},
		{"underscore key", map[string]string{"a_b": "1"}, false},
		{"dash first", map[string]string{"-a": "1"}, false},
		{"empty key", map[string]string{"": "1"}, false},
		{"content-type", map[string]string{"content-type": "x"}, false},
		{"x-amz", map[string]string{"x-amz-meta-a": "x"}, false},
		{"x-minio", map[string]string{"x-minio-internal": "x"}, false},
		{"non-ascii value", map[string]string{"k": "é"}, false},
		{"newline value", map[string]string{"k": "a\nb"}, false},
		{"padded value", map[string]string{"k": " a"}, false},
		{"too long", map[string]string{"k": strings.Repeat("v", storage.MaxMetaLen)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := storage.ValidateMeta(tt.meta)
			if got := err == nil; got != tt.ok {
				t.Errorf("ValidateMeta: got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, storage.ErrInvalidMeta) {
				t.Errorf("ValidateMeta: got %v, want it to wrap ErrInvalidMeta", err)
			}
		})
	}
}
