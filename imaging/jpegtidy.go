package imaging

import "bytes"

// tidyJPEG returns data, or a copy of it that libjpeg decodes to the same pixels
// without the warnings that libvips' fail-on-warning load would refuse it for, where
// those warnings are about bytes that carry no pixel data:
//
//   - junk between SOI and the first marker, or between the marker segments
//     before the first scan (padding, a stray 0xFF00, a byte an editor left
//     behind, a segment whose marker lost its 0xFF): libjpeg skips it with "N
//     extraneous bytes before marker"; the copy leaves it out;
//   - a JFIF APP0 segment whose major version is not 1 or 2 ("unknown JFIF
//     revision number"): libjpeg reads nothing else from the version; the copy
//     says 1;
//   - a sequential frame's scan header whose spectral selection and successive
//     approximation are not 0, 63, 0, 0 ("Invalid SOS parameters for sequential
//     JPEG", written by some phone and scanner software): libjpeg decodes a
//     sequential scan whole whatever they say; the copy writes 0, 63, 0, 0.
//
// Junk between or inside scans is left alone: there it can mean lost or damaged
// entropy-coded data, which the load must still refuse. So is anything the walk
// does not understand (a bad segment length, a second SOI, no scan): libjpeg
// judges it. The walk reads only the header segments (and, for a sequential frame
// coded in several scans, looks for the later scan headers); data is never
// modified, and a copy is made only when something is tidied.
func tidyJPEG(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return data
	}
	t := jpegTidier{data: data}
	p := 2
	sequential, frameComps := false, 0
	for {
		m, at, next, junk := nextJPEGMarker(data, p)
		if m == 0 {
			return data
		}
		if junk {
			t.skip(p, at)
		}
		p = next
		switch {
		case m == 0xD8, m == 0xD9: // a second SOI, or EOI before any scan
			return data
		case m >= 0xD0 && m <= 0xD7, m == 0x01: // no parameters; libjpeg ignores them here
			continue
		}
		n, ok := segmentLength(data, p)
		if !ok {
			return data
		}
		seg := data[p+2 : p+n]
		switch m {
		case 0xC0, 0xC1, 0xC9: // sequential frames (Huffman baseline and extended, arithmetic)
			sequential = true
			if len(seg) >= 6 {
				frameComps = int(seg[5])
			}
		case 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
			sequential = false
		case 0xE0:
			// "JFIF\0", major, minor, ...: libjpeg examines it from 14 bytes on.
			if len(seg) >= 14 && string(seg[:5]) == "JFIF\x00" && seg[5] != 1 && seg[5] != 2 {
				t.patch(p+2+5, 1)
			}
		case 0xDA:
			ns, ok := t.scanHeader(seg, p+2, sequential)
			if !ok {
				return data
			}
			if sequential && ns < frameComps {
				t.laterScans(p + n)
			}
			return t.result()
		}
		p += n
	}
}

// jpegTidier builds the tidied copy lazily: out stays nil until the first change.
type jpegTidier struct {
	data []byte
	out  []byte
	from int // data[:from] is in out (when out is not nil)
}

// upTo copies data up to i into out.
func (t *jpegTidier) upTo(i int) {
	if t.out == nil {
		t.out = make([]byte, 0, len(t.data))
	}
	t.out = append(t.out, t.data[t.from:i]...)
	t.from = i
}

// skip leaves data[a:b] out of the copy.
func (t *jpegTidier) skip(a, b int) {
	t.upTo(a)
	t.from = b
}

// patch writes v in place of data[i].
func (t *jpegTidier) patch(i int, v byte) {
	if t.data[i] == v {
		return
	}
	t.upTo(i)
	t.out = append(t.out, v)
	t.from = i + 1
}

func (t *jpegTidier) result() []byte {
	if t.out == nil {
		return t.data
	}
	return append(t.out, t.data[t.from:]...)
}

// scanHeader checks an SOS segment's body (seg, at offset off in data) and, in a
// sequential frame, sets its Ss, Se, Ah/Al to 0, 63, 0. It returns the scan's
// component count.
func (t *jpegTidier) scanHeader(seg []byte, off int, sequential bool) (int, bool) {
	if len(seg) < 1 {
		return 0, false
	}
	ns := int(seg[0])
	if len(seg) != 1+2*ns+3 {
		return 0, false
	}
	if sequential {
		i := off + 1 + 2*ns
		t.patch(i, 0)
		t.patch(i+1, 63)
		t.patch(i+2, 0)
	}
	return ns, true
}

// laterScans walks the rest of a sequential frame coded in several scans (one per
// component) and tidies each later scan header. It stops at EOI or at anything it
// does not understand.
func (t *jpegTidier) laterScans(p int) {
	data := t.data
	for {
		m, _, next := entropyMarker(data, p)
		if m == 0 || m == 0xD9 {
			return
		}
		p = next
		n, ok := segmentLength(data, p)
		if !ok {
			return
		}
		if m == 0xDA {
			if _, ok := t.scanHeader(data[p+2:p+n], p+2, true); !ok {
				return
			}
		}
		p += n
	}
}

// nextJPEGMarker finds the next marker from p as libjpeg's next_marker does
// between header segments: it skips bytes that are not 0xFF and stuffed 0xFF00
// pairs (junk), and fill 0xFFs (legal). It returns the marker code (0 at the end
// of data), the offset of the 0xFF that introduces it, the offset after the code,
// and whether junk was skipped.
func nextJPEGMarker(data []byte, p int) (m byte, at, next int, junk bool) {
	for p < len(data) {
		if data[p] != 0xFF {
			junk = true
			p++
			continue
		}
		q := p
		for q < len(data) && data[q] == 0xFF {
			q++
		}
		if q >= len(data) {
			return 0, 0, 0, false
		}
		if data[q] == 0 {
			junk = true
			p = q + 1
			continue
		}
		return data[q], q - 1, q + 1, junk
	}
	return 0, 0, 0, false
}

// entropyMarker finds the next marker after entropy-coded data from p: 0xFF00 is
// a stuffed byte, 0xFFD0-D7 restart markers and 0xFF fill bytes belong to the
// scan.
func entropyMarker(data []byte, p int) (m byte, at, next int) {
	for p+1 < len(data) {
		i := bytes.IndexByte(data[p:], 0xFF)
		if i < 0 {
			break
		}
		p += i
		if p+1 >= len(data) {
			break
		}
		c := data[p+1]
		switch {
		case c == 0, c >= 0xD0 && c <= 0xD7:
			p += 2
		case c == 0xFF:
			p++
		default:
			return c, p, p + 2
		}
	}
	return 0, 0, 0
}

// segmentLength reads the length of the marker segment starting at p (the two
// length bytes count themselves) and checks that it fits in data.
func segmentLength(data []byte, p int) (int, bool) {
	if p+2 > len(data) {
		return 0, false
	}
	n := int(data[p])<<8 | int(data[p+1])
	if n < 2 || p+n > len(data) {
		return 0, false
	}
	return n, true
}
