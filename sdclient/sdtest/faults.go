package sdtest

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Fault mode names, as Faults fields and ParseFaults strings spell them.
const (
	// FaultMaskFull makes every mask select every pixel as product.
	FaultMaskFull = "full"
	// FaultMaskEmpty makes every mask select no pixel.
	FaultMaskEmpty = "empty"
	// FaultMaskShift moves every mask right and down by Faults.MaskShift
	// pixels.
	FaultMaskShift = "shift"
	// FaultUpscaleBlurry blurs every upscaler answer.
	FaultUpscaleBlurry = "blurry"
	// FaultBackgroundOffWhite paints the img2img inpainted region a flat
	// warm off-white (OffWhite()).
	FaultBackgroundOffWhite = "offwhite"
)

// DefaultMaskShift is the shift, in pixels, of the "shift" mask fault when
// Faults.MaskShift is 0 (8).
const DefaultMaskShift = 8

// FaultsPath is the stand-in's own control route, outside the WebUI's
// namespaces: GET answers the current faults as a ParseFaults string
// (text/plain, "" for none), PUT with a ParseFaults string as the body sets
// them (204; 400 when the string is bad). It needs no auth.
const FaultsPath = "/sdtest/faults"

// maxFaultsBody is the largest PUT FaultsPath body (4 KiB).
const maxFaultsBody = 4 << 10

// OffWhite returns the colour the "offwhite" background fault paints,
// before the VAE-like drift: a warm off-white, RGB (238,234,226).
func OffWhite() color.NRGBA { return color.NRGBA{R: 238, G: 234, B: 226, A: 255} }

// whitePrompt is the phrase that makes img2img paint its inpainted region
// white; matched without regard to case.
const whitePrompt = "pure white background"

// Faults make the stand-in return wrong pictures on purpose; the zero value
// makes none. They change only the pictures answered, never the protocol:
// fields, status codes, timing and the queue lock stay as without faults.
type Faults struct {
	// Mask is "" (default: true masks), FaultMaskFull (every pixel
	// product), FaultMaskEmpty (no product) or FaultMaskShift (the true
	// mask moved right and down by MaskShift pixels; pixels shifted in at
	// the top and left are background). It applies to every mask and
	// cut-out /rembg and /sam/sam-predict answer; a cut-out uses the faulty
	// mask as its alpha.
	Mask string
	// MaskShift is the shift for Mask FaultMaskShift, in pixels; 0 (the
	// default) means DefaultMaskShift. Ignored for other masks.
	MaskShift int
	// Upscale is "" (default: true upscales) or FaultUpscaleBlurry: the
	// extras upscaler's answer, at the right size, blurred with a Gaussian
	// of sigma max(1.5, 0.6 × scale factor), so it is less sharp than a
	// plain Lanczos upscale.
	Upscale string
	// Background is "" (default) or FaultBackgroundOffWhite: img2img
	// paints the region its mask regenerates (everything outside the
	// product, as Pictor asks) a flat OffWhite() with the usual VAE drift,
	// whatever the prompt, denoising strength and inpainting fill. Without
	// a mask the colour stands in for the prompt's pattern.
	Background string
}

// Validate reports whether every mode name is known and MaskShift is in
// 0..MaxSide. Its errors wrap ErrInvalidOptions.
func (f Faults) Validate() error {
	var errs []error
	switch f.Mask {
	case "", FaultMaskFull, FaultMaskEmpty, FaultMaskShift:
	default:
		errs = append(errs, fmt.Errorf("mask fault %q is not %q, %q or %q: %w",
			f.Mask, FaultMaskFull, FaultMaskEmpty, FaultMaskShift, ErrInvalidOptions))
	}
	if f.MaskShift < 0 || f.MaskShift > MaxSide {
		errs = append(errs, fmt.Errorf("mask shift %d is outside 0..%d: %w", f.MaskShift, MaxSide, ErrInvalidOptions))
	}
	if f.Upscale != "" && f.Upscale != FaultUpscaleBlurry {
		errs = append(errs, fmt.Errorf("upscale fault %q is not %q: %w", f.Upscale, FaultUpscaleBlurry, ErrInvalidOptions))
	}
	if f.Background != "" && f.Background != FaultBackgroundOffWhite {
		errs = append(errs, fmt.Errorf("background fault %q is not %q: %w", f.Background, FaultBackgroundOffWhite, ErrInvalidOptions))
	}
	return errors.Join(errs...)
}

// String returns f as ParseFaults reads it, keys in a fixed order and unset
// fields left out: "" for no faults.
func (f Faults) String() string {
	var parts []string
	if f.Mask != "" {
		parts = append(parts, "mask="+f.Mask)
	}
	if f.MaskShift != 0 {
		parts = append(parts, "mask_shift="+strconv.Itoa(f.MaskShift))
	}
	if f.Upscale != "" {
		parts = append(parts, "upscale="+f.Upscale)
	}
	if f.Background != "" {
		parts = append(parts, "background="+f.Background)
	}
	return strings.Join(parts, ",")
}

// ParseFaults reads faults written as comma-separated key=value pairs, such
// as "mask=shift,mask_shift=6,upscale=blurry,background=offwhite". The keys
// are mask, mask_shift, upscale and background, each at most once; spaces
// around items, keys and values are ignored. "" (or only spaces) is no
// faults. Its errors wrap ErrInvalidOptions.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Faults{}, fmt.Errorf("fault %q is not key=value: %w", strings.TrimSpace(item), ErrInvalidOptions)
		}
		if seen[k] {
			return Faults{}, fmt.Errorf("fault key %q is given twice: %w", k, ErrInvalidOptions)
		}
		seen[k] = true
		switch k {
		case "mask":
			f.Mask = v
		case "mask_shift":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return Faults{}, fmt.Errorf("mask_shift %q is not a positive number of pixels: %w", v, ErrInvalidOptions)
			}
			f.MaskShift = n
		case "upscale":
			f.Upscale = v
		case "background":
			f.Background = v
		default:
			return Faults{}, fmt.Errorf("fault key %q is not mask, mask_shift, upscale or background: %w", k, ErrInvalidOptions)
		}
	}
	if err := f.Validate(); err != nil {
		return Faults{}, fmt.Errorf("parse faults %q: %w", s, err)
	}
	return f, nil
}

// SetFaults replaces the server's faults; requests that arrive afterwards
// use them, requests already running keep the ones they started with. It is
// safe for concurrent use. It panics when f is invalid (see
// Faults.Validate), as New does for invalid Options.
func (s *Server) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		panic(fmt.Sprintf("sdtest: set faults: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the server's current faults, as set by Options.Faults,
// SetFaults or PUT FaultsPath.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// handleGetFaults is GET FaultsPath.
func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request, c *Call) {
	body := s.Faults().String()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}

// handlePutFaults is PUT FaultsPath.
func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request, c *Call) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFaultsBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge,
				detailBody{Detail: fmt.Sprintf("sdtest: faults body larger than %d bytes", maxFaultsBody)})
		}
		return
	}
	f, err := ParseFaults(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, detailBody{Detail: "sdtest: " + err.Error()})
		return
	}
	s.SetFaults(f)
	w.WriteHeader(http.StatusNoContent)
}

// faultyMask applies the Mask fault to a mask, returning m itself when
// there is none.
func (f Faults) faultyMask(m *image.Gray) *image.Gray {
	switch f.Mask {
	case FaultMaskFull, FaultMaskEmpty:
		out := image.NewGray(m.Rect)
		if f.Mask == FaultMaskFull {
			for i := range out.Pix {
				out.Pix[i] = 255
			}
		}
		return out
	case FaultMaskShift:
		d := f.MaskShift
		if d == 0 {
			d = DefaultMaskShift
		}
		out := image.NewGray(m.Rect)
		w, h := m.Rect.Dx(), m.Rect.Dy()
		if d >= w || d >= h {
			return out // moved out of the picture
		}
		for y := d; y < h; y++ {
			copy(out.Pix[y*out.Stride+d:y*out.Stride+w], m.Pix[(y-d)*m.Stride:(y-d)*m.Stride+w-d])
		}
		return out
	}
	return m
}

// blurryUpscale applies the Upscale fault to an upscaler's answer made
// from a picture srcW pixels wide and srcH high, returning up itself when
// there is none.
func (f Faults) blurryUpscale(up *image.NRGBA, srcW, srcH int) *image.NRGBA {
	if f.Upscale != FaultUpscaleBlurry {
		return up
	}
	scale := max(float64(up.Rect.Dx())/float64(srcW), float64(up.Rect.Dy())/float64(srcH))
	return blurNRGBA(up, max(1.5, 0.6*scale))
}

// blurNRGBA blurs the colour channels of a picture with a Gaussian of
// sigma, as gaussianBlur1D does on each axis; alpha is kept.
func blurNRGBA(src *image.NRGBA, sigma float64) *image.NRGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	ch := image.NewGray(image.Rect(0, 0, w, h))
	for c := range 4 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				ch.Pix[y*w+x] = src.Pix[src.PixOffset(x, y)+c]
			}
		}
		out := ch
		if c < 3 {
			out = gaussianBlur1D(gaussianBlur1D(ch, sigma, true), sigma, false)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dst.Pix[dst.PixOffset(x, y)+c] = out.Pix[y*w+x]
			}
		}
	}
	return dst
}

// flatBackground is the flat colour img2img paints its regenerated region
// for prompt, if any: OffWhite under the background fault, else white when
// the prompt asks for a pure white background.
func (f Faults) flatBackground(prompt string) (color.NRGBA, bool) {
	if f.Background == FaultBackgroundOffWhite {
		return OffWhite(), true
	}
	if strings.Contains(strings.ToLower(prompt), whitePrompt) {
		return color.NRGBA{R: 255, G: 255, B: 255, A: 255}, true
	}
	return color.NRGBA{}, false
}

// flatPicture is a w×h picture of c with the VAE-like drift of seed.
func flatPicture(w, h int, c color.NRGBA, seed int64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	return drift(img, seed^0x0ff1ce)
}
