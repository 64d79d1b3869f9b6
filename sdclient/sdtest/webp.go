package sdtest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math/bits"
)

// encodeWebP writes img as an opaque RGB WebP, the way encode_pil_to_base64
// converts RGBA to RGB for webp (alpha dropped, the colour under it kept).
// The WebUI writes lossy WebP at jpeg_quality; the stand-in writes the
// simplest valid lossless (VP8L) stream instead: no transforms, no colour
// cache, and one prefix-code group in which every colour value has an 8-bit
// code and alpha (always 255) and distance have a single zero-bit symbol.
func encodeWebP(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(0, 1)             // alpha_is_used: no
	bw.write(0, 3)             // version 0
	bw.write(0, 1)             // no transform
	bw.write(0, 1)             // no colour cache
	bw.write(0, 1)             // no meta prefix codes
	bw.writeFlatCode(256 + 24) // green and length prefixes (no cache)
	bw.writeFlatCode(256)      // red
	bw.writeFlatCode(256)      // blue
	bw.writeSingleSymbol(255)  // alpha
	bw.writeSingleSymbol(0)    // distance
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			// Canonical codes of an all-8-bit code are the symbols themselves,
			// sent most significant bit first.
			bw.write(uint64(bits.Reverse8(c.G)), 8)
			bw.write(uint64(bits.Reverse8(c.R)), 8)
			bw.write(uint64(bits.Reverse8(c.B)), 8)
		}
	}
	data := bw.bytes()
	var out bytes.Buffer
	pad := len(data) & 1
	out.WriteString("RIFF")
	_ = binary.Write(&out, binary.LittleEndian, uint32(4+8+len(data)+pad))
	out.WriteString("WEBPVP8L")
	_ = binary.Write(&out, binary.LittleEndian, uint32(len(data)))
	out.Write(data)
	if pad == 1 {
		out.WriteByte(0)
	}
	return out.Bytes()
}

// bitWriter packs bits least significant first, as VP8L reads them.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits uint
}

func (bw *bitWriter) write(v uint64, n uint) {
	bw.acc |= v << bw.nbits
	bw.nbits += n
	for bw.nbits >= 8 {
		bw.buf = append(bw.buf, byte(bw.acc))
		bw.acc >>= 8
		bw.nbits -= 8
	}
}

func (bw *bitWriter) bytes() []byte {
	if bw.nbits > 0 {
		bw.buf = append(bw.buf, byte(bw.acc))
		bw.acc, bw.nbits = 0, 0
	}
	return bw.buf
}

// writeSingleSymbol writes a simple prefix code of one 8-bit symbol, which
// takes no bits to send.
func (bw *bitWriter) writeSingleSymbol(sym uint8) {
	bw.write(1, 1) // simple code
	bw.write(0, 1) // one symbol
	bw.write(1, 1) // an 8-bit symbol
	bw.write(uint64(sym), 8)
}

// writeFlatCode writes a normal prefix code over alphabet symbols in which
// symbols 0..255 have length 8 and the rest length 0. The code lengths are
// themselves sent with a code-length code of two 1-bit codes: "0" for length
// 0 and "1" for length 8.
func (bw *bitWriter) writeFlatCode(alphabet int) {
	bw.write(0, 1) // normal code
	// Code-length code lengths come in the order 17, 18, 0, 1, 2, 3, 4, 5,
	// 16, 6, 7, 8, ...: length 8 is the 12th.
	const n = 12
	bw.write(n-4, 4)
	for i := range n {
		switch i {
		case 2, 11: // lengths 0 and 8 get 1-bit codes
			bw.write(1, 3)
		default:
			bw.write(0, 3)
		}
	}
	bw.write(0, 1) // max_symbol is the alphabet size
	for sym := range alphabet {
		if sym < 256 {
			bw.write(1, 1)
		} else {
			bw.write(0, 1)
		}
	}
}
