package imaging

import (
	"encoding/binary"
	"math"
)

// DecodeMemory estimates the working memory, beside the source bytes, that decoding data
// holds at once, for admitting pipelines by bytes (Gate.AcquireFor). Most decoders stream
// a few lines at a time and hold next to nothing; what this counts is the decoders that
// must hold the whole image:
//   - JPEG in more than one scan (progressive, or sequential with a scan a component):
//     libjpeg keeps every DCT coefficient of the frame (two bytes a sample of each
//     component, at its sampling), however much the image is shrunk on load: 50 MB for
//     a 3840x2160 4:4:4 photograph;
//   - interlaced (Adam7) PNG: the whole image, at its channels and bit depth;
//   - WebP, GIF, HEIF and AVIF: the whole first frame, as RGBA.
//
// Sequential JPEG with interleaved scans, plain PNG and TIFF stream and count 0. A header
// it cannot read counts 0 too: the decode fails on it soon enough.
func DecodeMemory(data []byte) int64 {
	f, err := sniff(data)
	if err != nil {
		return 0
	}
	switch f {
	case JPEG:
		return jpegCoefficientBytes(data)
	case PNG:
		return pngInterlacedBytes(data)
	case TIFF:
		return 0
	}
	info, err := Probe(data)
	if err != nil {
		return 0
	}
	return mulCap(int64(info.Width), int64(info.Height), 4)
}

// jpegCoefficientBytes is the size of libjpeg's whole-image coefficient arrays, which it
// keeps when the image comes in more than one scan: a progressive frame, or a sequential
// one whose first scan carries fewer components than the frame (one scan a component).
// An interleaved sequential frame is decoded a band of lines at a time and counts 0.
func jpegCoefficientBytes(data []byte) int64 {
	p := 2
	var frame []byte // the sequential frame header, until its first scan
	for {
		m, _, next, _ := nextJPEGMarker(data, p)
		p = next
		switch {
		case m == 0, m == 0xD8, m == 0xD9:
			return 0
		case m >= 0xD0 && m <= 0xD7, m == 0x01:
			continue
		}
		n, ok := segmentLength(data, p)
		if !ok {
			return 0
		}
		seg := data[p+2 : p+n]
		p += n
		switch m {
		case 0xC0, 0xC1, 0xC9: // sequential: whole-image only if its scans are not interleaved
			frame = seg
		case 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
			return frameCoefficientBytes(seg)
		case 0xDA:
			if len(frame) < 6 || len(seg) < 1 || int(seg[0]) >= int(frame[5]) {
				return 0
			}
			return frameCoefficientBytes(frame)
		}
	}
}

// frameCoefficientBytes reads a frame header (precision, height, width, components with
// their sampling factors) and sizes its coefficient arrays as libjpeg does.
func frameCoefficientBytes(seg []byte) int64 {
	if len(seg) < 6 {
		return 0
	}
	height, width, comps := int64(binary.BigEndian.Uint16(seg[1:])), int64(binary.BigEndian.Uint16(seg[3:])), int(seg[5])
	if len(seg) < 6+3*comps || comps == 0 {
		return 0
	}
	type sampling struct{ h, v int64 }
	samp := make([]sampling, comps)
	var maxH, maxV int64 = 1, 1
	for i := range comps {
		hv := seg[6+3*i+1]
		samp[i] = sampling{max(int64(hv>>4), 1), max(int64(hv&0x0F), 1)}
		maxH, maxV = max(maxH, samp[i].h), max(maxV, samp[i].v)
	}
	var blocks int64
	for _, s := range samp {
		w := roundUp(ceilDiv(width*s.h, maxH*8), s.h)
		h := roundUp(ceilDiv(height*s.v, maxV*8), s.v)
		blocks += w * h
	}
	return blocks * 64 * 2
}

// pngInterlacedBytes is the size of an Adam7-interlaced PNG decoded whole (channels
// times bytes a sample; a palette expands to RGBA), 0 for a PNG that streams by rows.
func pngInterlacedBytes(data []byte) int64 {
	// Signature (8), IHDR length and type (8), then width, height, depth, colour type,
	// compression, filter, interlace.
	if len(data) < 8+8+13 || string(data[12:16]) != "IHDR" || data[28] != 1 {
		return 0
	}
	width, height := int64(binary.BigEndian.Uint32(data[16:])), int64(binary.BigEndian.Uint32(data[20:]))
	sample := int64(1)
	if data[24] == 16 {
		sample = 2
	}
	var channels int64
	switch data[25] { // colour type
	case 0: // grey
		channels = 1
	case 4: // grey and alpha
		channels = 2
	case 2: // RGB
		channels = 3
	case 3, 6: // palette (expanded to RGBA), RGBA
		channels = 4
	}
	return mulCap(width, height, channels, sample)
}

// mulCap multiplies non-negative factors, saturating at math.MaxInt64 instead of
// wrapping: a header may claim any size.
func mulCap(factors ...int64) int64 {
	p := int64(1)
	for _, f := range factors {
		if f != 0 && p > math.MaxInt64/f {
			return math.MaxInt64
		}
		p *= f
	}
	return p
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func roundUp(a, m int64) int64 { return ceilDiv(a, m) * m }
