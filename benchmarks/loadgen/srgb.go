package main

import (
	"encoding/binary"
	"math"
)

// srgbProfileSegment returns an APP2 ICC_PROFILE segment holding an sRGB profile built
// like HP's "sRGB IEC61966-2.1", the profile most photographs that carry one carry: ICC
// version 2.1, its header fields (manufacturer IEC, model sRGB, creator HP, 1998-12-01,
// which is how imgproxy recognizes it), sRGB's D50-adapted colorants and a 1024-entry tone
// curve of sRGB's decoding.
func srgbProfileSegment() []byte {
	be32 := binary.BigEndian.AppendUint32
	s15 := func(b []byte, v float64) []byte { return be32(b, uint32(int32(math.Round(v*65536)))) }
	xyz := func(x, y, z float64) []byte { return s15(s15(s15([]byte("XYZ \x00\x00\x00\x00"), x), y), z) }
	curve := be32([]byte("curv\x00\x00\x00\x00"), 1024)
	for i := range 1024 {
		v := float64(i) / 1023
		l := v / 12.92
		if v > 0.04045 {
			l = math.Pow((v+0.055)/1.055, 2.4)
		}
		curve = binary.BigEndian.AppendUint16(curve, uint16(math.Round(l*65535)))
	}
	text := func(s string) []byte { return append(append([]byte("text\x00\x00\x00\x00"), s...), 0) }
	desc := be32([]byte("desc\x00\x00\x00\x00"), uint32(len("sRGB IEC61966-2.1")+1))
	desc = append(append(desc, "sRGB IEC61966-2.1\x00"...), make([]byte, 4+4+2+1+67)...) // no Unicode or ScriptCode text
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc}, {"cprt", text("Copyright (c) 1998 Hewlett-Packard Company")},
		{"wtpt", xyz(0.9504559, 1, 1.0890578)},
		{"rXYZ", xyz(0.4360747, 0.2225045, 0.0139322)},
		{"gXYZ", xyz(0.3850649, 0.7168786, 0.0971045)},
		{"bXYZ", xyz(0.1430804, 0.0606169, 0.7141733)},
		{"rTRC", curve}, {"gTRC", curve}, {"bTRC", curve},
	}
	head := make([]byte, 132+12*len(tags))
	copy(head[4:], "Lino")
	copy(head[8:], []byte{2, 16, 0, 0})
	copy(head[12:], "mntrRGB XYZ ")
	copy(head[24:], []byte{7, 206, 0, 2, 0, 9, 0, 6, 0, 49, 0, 0})
	copy(head[36:], "acspMSFT")
	copy(head[48:], "IEC sRGB")
	// The PCS illuminant, D50.
	binary.BigEndian.PutUint32(head[68:], uint32(int32(math.Round(0.9642*65536))))
	binary.BigEndian.PutUint32(head[72:], 1<<16)
	binary.BigEndian.PutUint32(head[76:], uint32(int32(math.Round(0.8249*65536))))
	copy(head[80:], "HP  ")
	binary.BigEndian.PutUint32(head[128:], uint32(len(tags)))
	var body []byte
	for i, t := range tags {
		e := head[132+12*i:]
		copy(e, t.sig)
		binary.BigEndian.PutUint32(e[4:], uint32(len(head)+len(body)))
		binary.BigEndian.PutUint32(e[8:], uint32(len(t.data)))
		body = append(body, t.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	profile := append(head, body...)
	binary.BigEndian.PutUint32(profile, uint32(len(profile)))
	seg := []byte{0xff, 0xe2, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+14+len(profile)))
	return append(append(append(seg, "ICC_PROFILE\x00"...), 1, 1), profile...)
}
