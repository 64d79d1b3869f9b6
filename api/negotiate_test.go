package api

import (
	"testing"

	"github.com/pictor/pictor/imaging"
)

func TestAcceptedFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		accept string
		alpha  bool
		want   imaging.Format
	}{
		{"chrome", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", false, imaging.AVIF},
		{"webp only", "image/webp,*/*", false, imaging.WebP},
		{"webp with q", "image/webp;q=0.9, image/png", true, imaging.WebP},
		{"avif refused", "image/avif;q=0, image/webp", false, imaging.WebP},
		{"both refused", "image/avif;q=0, image/webp;q=0.0", true, imaging.PNG},
		{"wildcard opaque", "*/*", false, imaging.JPEG},
		{"wildcard alpha", "image/*", true, imaging.PNG},
		{"empty alpha", "", true, imaging.PNG},
		{"empty opaque", "", false, imaging.JPEG},
		{"case", "IMAGE/AVIF", false, imaging.AVIF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := imaging.Auto(acceptedFormats(tt.accept), tt.alpha); got != tt.want {
				t.Errorf("auto of %q (alpha %v) = %q, want %q", tt.accept, tt.alpha, got, tt.want)
			}
		})
	}
}
