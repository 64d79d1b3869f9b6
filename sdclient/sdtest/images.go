package sdtest

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"strings"

	"golang.org/x/image/webp"
)

// errBadBase64 is what Python's binascii reports; the caller turns any
// decode failure into "Invalid encoded image".
var errBadBase64 = errors.New("incorrect padding")

// pyB64Decode decodes like Python's base64.b64decode without validate:
// characters outside the standard alphabet are skipped, a complete pad
// sequence ends the input, and a leftover partial quantum is an error.
func pyB64Decode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4)
	var left byte
	quad, pads := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v, ok := b64val(c)
		if !ok {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			quad, left = 1, v
		case 1:
			out = append(out, left<<2|v>>4)
			quad, left = 2, v&0x0f
		case 2:
			out = append(out, left<<4|v>>2)
			quad, left = 3, v&0x03
		case 3:
			out = append(out, left<<6|v)
			quad, left = 0, 0
		}
	}
	if quad != 0 {
		return nil, errBadBase64
	}
	return out, nil
}

func b64val(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

// picture is a decoded input: pixels as non-premultiplied RGBA (so colour
// under transparent pixels survives) and whether any pixel is transparent.
type picture struct {
	img      *image.NRGBA
	hasAlpha bool // some alpha < 255, as PIL's getextrema on an RGBA image
}

// decodeImage follows decode_base64_to_image: a data:image/ URI is split on
// ';' and then ','; http(s) URLs are refused (the stand-in never fetches);
// anything that does not decode to a picture is a 500 "Invalid encoded
// image".
func decodeImage(enc string) (picture, *apiError) {
	invalid := httpErr(500, "Invalid encoded image")
	if strings.HasPrefix(enc, "http://") || strings.HasPrefix(enc, "https://") {
		return picture{}, invalid
	}
	if strings.HasPrefix(enc, "data:image/") {
		parts := strings.Split(enc, ";")
		if len(parts) < 2 {
			return picture{}, pyErr("IndexError", "list index out of range")
		}
		sub := strings.Split(parts[1], ",")
		if len(sub) < 2 {
			return picture{}, pyErr("IndexError", "list index out of range")
		}
		enc = sub[1]
	}
	for i := 0; i < len(enc); i++ {
		if enc[i] >= 0x80 {
			return picture{}, invalid
		}
	}
	raw, err := pyB64Decode(enc)
	if err != nil || len(raw) == 0 {
		return picture{}, invalid
	}
	cfg, _, err := decodeConfig(raw)
	if err != nil {
		return picture{}, invalid
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide {
		return picture{}, limitErr("image %dx%d is larger than %dx%d", cfg.Width, cfg.Height, MaxSide, MaxSide)
	}
	img, err := decodeRaw(raw)
	if err != nil {
		return picture{}, invalid
	}
	return toPicture(img), nil
}

func decodeConfig(raw []byte) (image.Config, string, error) {
	switch {
	case bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")):
		c, err := png.DecodeConfig(bytes.NewReader(raw))
		return c, "png", err
	case bytes.HasPrefix(raw, []byte("\xff\xd8")):
		c, err := jpeg.DecodeConfig(bytes.NewReader(raw))
		return c, "jpeg", err
	case bytes.HasPrefix(raw, []byte("GIF8")):
		c, err := gif.DecodeConfig(bytes.NewReader(raw))
		return c, "gif", err
	case len(raw) > 12 && string(raw[:4]) == "RIFF" && string(raw[8:12]) == "WEBP":
		c, err := webp.DecodeConfig(bytes.NewReader(raw))
		return c, "webp", err
	}
	return image.Config{}, "", errors.New("unknown image format")
}

func decodeRaw(raw []byte) (image.Image, error) {
	_, format, err := decodeConfig(raw)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(raw)
	switch format {
	case "png":
		return png.Decode(r)
	case "jpeg":
		return jpeg.Decode(r)
	case "gif":
		return gif.Decode(r)
	default:
		return webp.Decode(r)
	}
}

// toPicture copies any image into an NRGBA at the origin.
func toPicture(src image.Image) picture {
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch s := src.(type) {
	case *image.NRGBA:
		for y := 0; y < b.Dy(); y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*b.Dx()], s.Pix[s.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.NRGBA64:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				o := s.PixOffset(b.Min.X+x, b.Min.Y+y)
				d := dst.PixOffset(x, y)
				dst.Pix[d], dst.Pix[d+1], dst.Pix[d+2], dst.Pix[d+3] = s.Pix[o], s.Pix[o+2], s.Pix[o+4], s.Pix[o+6]
			}
		}
	default:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				c := color.NRGBAModel.Convert(src.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				d := dst.PixOffset(x, y)
				dst.Pix[d], dst.Pix[d+1], dst.Pix[d+2], dst.Pix[d+3] = c.R, c.G, c.B, c.A
			}
		}
	}
	p := picture{img: dst}
	for i := 3; i < len(dst.Pix); i += 4 {
		if dst.Pix[i] != 255 {
			p.hasAlpha = true
			break
		}
	}
	return p
}

// luma is PIL's RGB to L conversion (ITU-R 601-2).
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// flatten composites an RGBA picture onto an opaque colour (images.flatten)
// and returns an opaque image.
func flatten(p picture, bg color.NRGBA) *image.NRGBA {
	src := p.img
	dst := image.NewNRGBA(src.Rect)
	for i := 0; i < len(src.Pix); i += 4 {
		a := uint32(src.Pix[i+3])
		for c := 0; c < 3; c++ {
			var under uint32
			switch c {
			case 0:
				under = uint32(bg.R)
			case 1:
				under = uint32(bg.G)
			default:
				under = uint32(bg.B)
			}
			dst.Pix[i+c] = uint8((uint32(src.Pix[i+c])*a + under*(255-a) + 127) / 255)
		}
		dst.Pix[i+3] = 255
	}
	return dst
}

// dropAlpha is PIL's convert("RGB") on an RGBA image: alpha is discarded,
// the colour underneath kept.
func dropAlpha(src *image.NRGBA) *image.NRGBA {
	dst := image.NewNRGBA(src.Rect)
	copy(dst.Pix, src.Pix)
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 255
	}
	return dst
}

// parseHexColor reads "#rrggbb" (or "#rgb"), white when malformed.
func parseHexColor(s string) color.NRGBA {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	var r, g, b uint8
	if len(s) != 6 {
		return color.NRGBA{255, 255, 255, 255}
	}
	if _, err := fmt.Sscanf(s, "%02x%02x%02x", &r, &g, &b); err != nil {
		return color.NRGBA{255, 255, 255, 255}
	}
	return color.NRGBA{r, g, b, 255}
}

// encodePNG writes img as PNG, with a tEXt chunk per text entry (PIL's
// PngInfo), at the fastest compression.
func encodePNG(img image.Image, text ...[2]string) []byte {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		// Only an empty image fails to encode; the callers never make one.
		panic(fmt.Sprintf("sdtest: encode png: %v", err))
	}
	if len(text) == 0 {
		return buf.Bytes()
	}
	raw := buf.Bytes()
	const afterIHDR = 8 + 4 + 4 + 13 + 4
	var out bytes.Buffer
	out.Write(raw[:afterIHDR])
	for _, t := range text {
		writeChunk(&out, "tEXt", append(append([]byte(latin1(t[0])), 0), latin1(t[1])...))
	}
	out.Write(raw[afterIHDR:])
	return out.Bytes()
}

// latin1 maps a string to Latin-1 bytes, as PNG tEXt requires; other
// characters become '?'.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}

// encodeBitPNG writes a mask as a 1-bit greyscale PNG (PIL mode "1"):
// values of 128 and above are white.
func encodeBitPNG(m *image.Gray) []byte {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	rowLen := (w + 7) / 8
	raw := make([]byte, 0, h*(rowLen+1))
	for y := 0; y < h; y++ {
		raw = append(raw, 0) // filter: none
		row := make([]byte, rowLen)
		for x := 0; x < w; x++ {
			if m.Pix[y*m.Stride+x] >= 128 {
				row[x/8] |= 0x80 >> (x % 8)
			}
		}
		raw = append(raw, row...)
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, greyscale
	writeChunk(&out, "IHDR", ihdr)
	writeChunk(&out, "IDAT", z.Bytes())
	writeChunk(&out, "IEND", nil)
	return out.Bytes()
}

// encodeJPEG writes an RGB JPEG; alpha is dropped, as encode_pil_to_base64
// converts RGBA to RGB for jpg.
func encodeJPEG(img image.Image, quality int) []byte {
	var buf bytes.Buffer
	if n, ok := img.(*image.NRGBA); ok {
		img = dropAlpha(n)
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		panic(fmt.Sprintf("sdtest: encode jpeg: %v", err))
	}
	return buf.Bytes()
}

func b64(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// grayToRGB makes an opaque RGB image from a mask (PIL convert('RGB')).
func grayToRGB(m *image.Gray) *image.NRGBA {
	dst := image.NewNRGBA(m.Rect)
	for i, v := range m.Pix {
		dst.Pix[4*i], dst.Pix[4*i+1], dst.Pix[4*i+2], dst.Pix[4*i+3] = v, v, v, 255
	}
	return dst
}

// resampler kernels.
type kernel struct {
	support float64
	f       func(float64) float64
}

var (
	lanczos = kernel{3, func(x float64) float64 {
		x = math.Abs(x)
		if x >= 3 {
			return 0
		}
		if x < 1e-9 {
			return 1
		}
		px := math.Pi * x
		return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
	}}
	nearest = kernel{0, nil}
)

// weights precomputes a PIL-style convolution for one axis.
type weights struct {
	start []int
	w     [][]float64
}

func makeWeights(in, out int, k kernel) weights {
	scale := float64(in) / float64(out)
	fs := math.Max(scale, 1)
	support := k.support * fs
	ws := weights{start: make([]int, out), w: make([][]float64, out)}
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		lo := max(int(math.Floor(center-support)), 0)
		hi := min(int(math.Ceil(center+support)), in)
		var sum float64
		row := make([]float64, 0, hi-lo)
		for j := lo; j < hi; j++ {
			v := k.f((float64(j) + 0.5 - center) / fs)
			row = append(row, v)
			sum += v
		}
		if sum != 0 {
			for j := range row {
				row[j] /= sum
			}
		}
		ws.start[i], ws.w[i] = lo, row
	}
	return ws
}

// resize scales an NRGBA image to w×h (Lanczos, or nearest neighbour). The
// same size returns a copy.
func resize(src *image.NRGBA, w, h int, k kernel) *image.NRGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	if sw == w && sh == h {
		copy(dst.Pix, src.Pix)
		return dst
	}
	if k.f == nil {
		for y := 0; y < h; y++ {
			sy := min(int((float64(y)+0.5)*float64(sh)/float64(h)), sh-1)
			for x := 0; x < w; x++ {
				sx := min(int((float64(x)+0.5)*float64(sw)/float64(w)), sw-1)
				copy(dst.Pix[dst.PixOffset(x, y):dst.PixOffset(x, y)+4], src.Pix[src.PixOffset(sx, sy):])
			}
		}
		return dst
	}
	// Work premultiplied so transparent pixels do not bleed colour.
	hw := makeWeights(sw, w, k)
	tmp := make([]float64, 4*w*sh)
	for y := 0; y < sh; y++ {
		for x := 0; x < w; x++ {
			var acc [4]float64
			for j, wt := range hw.w[x] {
				o := src.PixOffset(hw.start[x]+j, y)
				a := float64(src.Pix[o+3])
				acc[0] += wt * float64(src.Pix[o]) * a
				acc[1] += wt * float64(src.Pix[o+1]) * a
				acc[2] += wt * float64(src.Pix[o+2]) * a
				acc[3] += wt * a
			}
			copy(tmp[4*(y*w+x):], acc[:])
		}
	}
	vw := makeWeights(sh, h, k)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var acc [4]float64
			for j, wt := range vw.w[y] {
				o := 4 * ((vw.start[y]+j)*w + x)
				for c := range 4 {
					acc[c] += wt * tmp[o+c]
				}
			}
			d := dst.PixOffset(x, y)
			a := clamp8(acc[3])
			dst.Pix[d+3] = a
			if acc[3] > 0 {
				for c := range 3 {
					dst.Pix[d+c] = clamp8(acc[c] / acc[3])
				}
			}
		}
	}
	return dst
}

// resizeGray scales a mask to w×h with Lanczos.
func resizeGray(src *image.Gray, w, h int) *image.Gray {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewGray(image.Rect(0, 0, w, h))
	if sw == w && sh == h {
		copy(dst.Pix, src.Pix)
		return dst
	}
	hw := makeWeights(sw, w, lanczos)
	tmp := make([]float64, w*sh)
	for y := 0; y < sh; y++ {
		for x := 0; x < w; x++ {
			var acc float64
			for j, wt := range hw.w[x] {
				acc += wt * float64(src.Pix[y*src.Stride+hw.start[x]+j])
			}
			tmp[y*w+x] = acc
		}
	}
	vw := makeWeights(sh, h, lanczos)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var acc float64
			for j, wt := range vw.w[y] {
				acc += wt * tmp[(vw.start[y]+j)*w+x]
			}
			dst.Pix[y*dst.Stride+x] = clamp8(acc)
		}
	}
	return dst
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// gaussianBlur1D blurs a mask along one axis like cv2.GaussianBlur with a
// kernel of 2*int(2.5*sigma+0.5)+1 taps and BORDER_REFLECT_101.
func gaussianBlur1D(m *image.Gray, sigma float64, horizontal bool) *image.Gray {
	if sigma <= 0 {
		return m
	}
	r := int(2.5*sigma + 0.5)
	k := make([]float64, 2*r+1)
	var sum float64
	for i := -r; i <= r; i++ {
		k[i+r] = math.Exp(-float64(i*i) / (2 * sigma * sigma))
		sum += k[i+r]
	}
	for i := range k {
		k[i] /= sum
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dst := image.NewGray(m.Rect)
	n := w
	if !horizontal {
		n = h
	}
	reflect := func(i int) int {
		if n == 1 {
			return 0
		}
		for i < 0 || i >= n {
			if i < 0 {
				i = -i
			}
			if i >= n {
				i = 2*n - 2 - i
			}
		}
		return i
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var acc float64
			for i := -r; i <= r; i++ {
				if horizontal {
					acc += k[i+r] * float64(m.Pix[y*m.Stride+reflect(x+i)])
				} else {
					acc += k[i+r] * float64(m.Pix[reflect(y+i)*m.Stride+x])
				}
			}
			dst.Pix[y*dst.Stride+x] = clamp8(acc)
		}
	}
	return dst
}

// bbox returns the bounding box of the non-zero pixels of a mask (PIL
// getbbox) and whether there are any.
func bbox(m *image.Gray) (image.Rectangle, bool) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	x1, y1, x2, y2 := w, h, -1, -1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if m.Pix[y*m.Stride+x] != 0 {
				x1, y1 = min(x1, x), min(y1, y)
				x2, y2 = max(x2, x), max(y2, y)
			}
		}
	}
	if x2 < 0 {
		return image.Rectangle{}, false
	}
	return image.Rect(x1, y1, x2+1, y2+1), true
}

func cropNRGBA(src *image.NRGBA, r image.Rectangle) *image.NRGBA {
	dst := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*r.Dx()], src.Pix[src.PixOffset(r.Min.X, r.Min.Y+y):])
	}
	return dst
}

func cropGray(src *image.Gray, r image.Rectangle) *image.Gray {
	dst := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+r.Dx()], src.Pix[(r.Min.Y+y)*src.Stride+r.Min.X:])
	}
	return dst
}

// fitResize implements images.resize_image's modes for an opaque image:
// 0 and 3 stretch, 1 covers and crops the centre, 2 fits and fills the
// margins by stretching the edge rows or columns.
func fitResize(mode int64, src *image.NRGBA, w, h int) *image.NRGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	switch mode {
	case 1:
		ratio, srcRatio := float64(w)/float64(h), float64(sw)/float64(sh)
		rw, rh := w, h
		if ratio > srcRatio {
			rh = max(1, sh*w/sw)
		} else {
			rw = max(1, sw*h/sh)
		}
		big := resize(src, rw, rh, lanczos)
		x0, y0 := (rw-w)/2, (rh-h)/2
		return cropNRGBA(big, image.Rect(x0, y0, x0+w, y0+h))
	case 2:
		ratio, srcRatio := float64(w)/float64(h), float64(sw)/float64(sh)
		rw, rh := w, h
		if ratio < srcRatio {
			rh = max(1, sh*w/sw)
		} else {
			rw = max(1, sw*h/sh)
		}
		small := resize(src, rw, rh, lanczos)
		dst := image.NewNRGBA(image.Rect(0, 0, w, h))
		x0, y0 := (w-rw)/2, (h-rh)/2
		for y := 0; y < h; y++ {
			sy := min(max(y-y0, 0), rh-1)
			for x := 0; x < w; x++ {
				sx := min(max(x-x0, 0), rw-1)
				copy(dst.Pix[dst.PixOffset(x, y):dst.PixOffset(x, y)+4], small.Pix[small.PixOffset(sx, sy):])
			}
		}
		return dst
	}
	return resize(src, w, h, lanczos)
}

// fitResizeGray applies fitResize to a mask.
func fitResizeGray(mode int64, m *image.Gray, w, h int) *image.Gray {
	if mode != 1 && mode != 2 {
		return resizeGray(m, w, h)
	}
	out := fitResize(mode, grayToRGB(m), w, h)
	g := image.NewGray(out.Rect)
	for i := range g.Pix {
		g.Pix[i] = out.Pix[4*i]
	}
	return g
}
