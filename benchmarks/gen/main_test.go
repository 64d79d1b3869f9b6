package main

import (
	"bytes"
	"crypto/sha256"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

func TestRunWritesDistinctJPEGs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-dir", dir, "-n", "3", "-width", "320", "-height", "200"}, &out); err != nil {
		t.Fatalf("run: got %v, want no error", err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(paths) != 3 {
		t.Fatalf("files: got %d, want 3", len(paths))
	}
	sums := map[[32]byte]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != 320 || cfg.Height != 200 {
			t.Errorf("%s: got %dx%d, %v, want a 320x200 JPEG", p, cfg.Width, cfg.Height, err)
		}
		// Baseline: a SOF0 marker, no SOF2 (progressive).
		if !bytes.Contains(b, []byte{0xff, 0xc0}) || bytes.Contains(b, []byte{0xff, 0xc2}) {
			t.Errorf("%s: got no baseline SOF0 marker, want a baseline JPEG", p)
		}
		// Photo-like: far more bytes than a flat picture (about 1.5 bits a pixel at q90).
		if min := 320 * 200 / 8; len(b) < min {
			t.Errorf("%s: got %d bytes, want at least %d (texture and grain)", p, len(b), min)
		}
		sums[sha256.Sum256(b)] = true
	}
	if len(sums) != 3 {
		t.Errorf("distinct contents: got %d, want 3", len(sums))
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"no dir", []string{"-n", "1"}},
		{"zero images", []string{"-dir", t.TempDir(), "-n", "0"}},
		{"tiny", []string{"-dir", t.TempDir(), "-width", "8"}},
		{"quality", []string{"-dir", t.TempDir(), "-quality", "101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := run(tt.args, &bytes.Buffer{}); err == nil {
				t.Errorf("run(%q): got no error, want one", tt.args)
			}
		})
	}
}
