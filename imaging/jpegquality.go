package imaging

// ijgTables returns the IJG (libjpeg) base quantisation tables of ITU-T T.81
// Annex K, in natural (row-major) order. (Functions, not package variables: no
// package-level mutable state.)
func ijgTables() (luma, chroma [64]int) {
	luma = [64]int{
		16, 11, 10, 16, 24, 40, 51, 61,
		12, 12, 14, 19, 26, 58, 60, 55,
		14, 13, 16, 24, 40, 57, 69, 56,
		14, 17, 22, 29, 51, 87, 80, 62,
		18, 22, 37, 56, 68, 109, 103, 77,
		24, 35, 55, 64, 81, 104, 113, 92,
		49, 64, 78, 87, 103, 121, 120, 101,
		72, 92, 95, 98, 112, 100, 103, 99,
	}
	chroma = [64]int{
		17, 18, 24, 47, 99, 99, 99, 99,
		18, 21, 26, 66, 99, 99, 99, 99,
		24, 26, 56, 99, 99, 99, 99, 99,
		47, 66, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
	}
	return luma, chroma
}

// zigzagOrder returns, for each position k of a DQT's coefficients, its natural
// index.
func zigzagOrder() [64]int {
	return [64]int{
		0, 1, 8, 16, 9, 2, 3, 10,
		17, 24, 32, 25, 18, 11, 4, 5,
		12, 19, 26, 33, 40, 48, 41, 34,
		27, 20, 13, 6, 7, 14, 21, 28,
		35, 42, 49, 56, 57, 50, 43, 36,
		29, 22, 15, 23, 30, 37, 44, 51,
		58, 59, 52, 45, 38, 31, 39, 46,
		53, 60, 61, 54, 47, 55, 62, 63,
	}
}

// EstimateJPEGQuality estimates the IJG quality (1..100) a JPEG was saved with,
// from its quantisation tables, as ImageMagick's identify does: it returns the
// quality whose libjpeg-scaled standard tables are closest to the file's luma
// (and chroma, when present) tables. Exact for files written by libjpeg,
// libjpeg-turbo and libvips with standard tables; an approximation for others
// (cameras, Photoshop). ok is false when data is not a JPEG or has no DQT before
// the first scan. Pure Go; it reads only the headers.
func EstimateJPEGQuality(data []byte) (quality int, ok bool) {
	tables, ok := readDQT(tidyJPEG(data))
	if !ok {
		return 0, false
	}
	luma, hasLuma := tables[0]
	chroma, hasChroma := tables[1]
	if !hasLuma {
		return 0, false
	}
	baseLuma, baseChroma := ijgTables()
	best, bestErr := 0, -1
	for q := 100; q >= 1; q-- {
		e := tableDistance(luma, &baseLuma, q)
		if hasChroma {
			e += tableDistance(chroma, &baseChroma, q)
		}
		if bestErr < 0 || e < bestErr {
			best, bestErr = q, e
		}
	}
	return best, true
}

// tableDistance is the sum of absolute differences between a file table (natural
// order) and the base table scaled for quality q as jpeg_set_quality does.
func tableDistance(t *[64]int, base *[64]int, q int) int {
	scale := 200 - 2*q
	if q < 50 {
		scale = 5000 / q
	}
	d := 0
	for i := range 64 {
		v := (base[i]*scale + 50) / 100
		v = max(1, min(v, 255)) // force_baseline
		diff := t[i] - v
		if diff < 0 {
			diff = -diff
		}
		d += diff
	}
	return d
}

// readDQT returns the quantisation tables (natural order) by destination id,
// read from the markers before the first SOS.
func readDQT(data []byte) (map[int]*[64]int, bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	zigzag := zigzagOrder()
	tables := map[int]*[64]int{}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil, false
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xD9 || marker == 0xDA { // EOI, SOS: no more tables
			break
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 || i+2+n > len(data) {
			return nil, false
		}
		if marker == 0xDB {
			seg := data[i+4 : i+2+n]
			for len(seg) > 0 {
				pq, tq := int(seg[0]>>4), int(seg[0]&0x0F)
				size := 64
				if pq == 1 {
					size = 128
				} else if pq != 0 {
					return nil, false
				}
				if len(seg) < 1+size || tq > 3 {
					return nil, false
				}
				var t [64]int
				for k := range 64 {
					var v int
					if pq == 1 {
						v = int(seg[1+2*k])<<8 | int(seg[2+2*k])
					} else {
						v = int(seg[1+k])
					}
					t[zigzag[k]] = v
				}
				tables[tq] = &t
				seg = seg[1+size:]
			}
		}
		i += 2 + n
	}
	return tables, len(tables) > 0
}
