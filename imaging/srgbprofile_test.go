package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math"
	"testing"
)

// iccTag is one tag of a profile built by buildProfile.
type iccTag struct {
	sig  string
	data []byte
}

// buildProfile writes an ICC profile of colour space space with an XYZ connection
// space and the given tags (no alignment padding beyond what the data has).
func buildProfile(space string, tags []iccTag) []byte {
	head := make([]byte, 132+12*len(tags))
	copy(head[12:16], "mntr")
	copy(head[16:20], space)
	copy(head[20:24], "XYZ ")
	copy(head[36:40], "acsp")
	binary.BigEndian.PutUint32(head[128:], uint32(len(tags)))
	body := []byte{}
	for i, tg := range tags {
		e := head[132+12*i:]
		copy(e[0:4], tg.sig)
		binary.BigEndian.PutUint32(e[4:], uint32(len(head)+len(body)))
		binary.BigEndian.PutUint32(e[8:], uint32(len(tg.data)))
		body = append(body, tg.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	p := append(head, body...)
	binary.BigEndian.PutUint32(p[0:4], uint32(len(p)))
	return p
}

func s15(v float64) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(int32(math.Round(v*65536))))
}

func xyzTag(x, y, z float64) []byte {
	b := append([]byte("XYZ \x00\x00\x00\x00"), s15(x)...)
	return append(append(b, s15(y)...), s15(z)...)
}

// curvTable samples f (encoded -> linear) into a curveType table of n entries; n 0 and 1
// write the identity and a gamma of f(0) instead.
func curvTable(n int, f func(float64) float64) []byte {
	b := binary.BigEndian.AppendUint32([]byte("curv\x00\x00\x00\x00"), uint32(n))
	switch n {
	case 0:
		return b
	case 1:
		return binary.BigEndian.AppendUint16(b, uint16(math.Round(f(0)*256)))
	}
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(f(float64(i)/float64(n-1))*65535)))
	}
	return b
}

func paraTag(kind uint16, params ...float64) []byte {
	b := binary.BigEndian.AppendUint16([]byte("para\x00\x00\x00\x00"), kind)
	b = append(b, 0, 0)
	for _, v := range params {
		b = append(b, s15(v)...)
	}
	return b
}

// srgbDecode is sRGB's decoding, encoded value to linear light.
func srgbDecode(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

// rgbProfile builds a matrix/TRC profile from three colorants and one curve tag for all
// three channels, plus any extra tags.
func rgbProfile(colorants [3][3]float64, trc []byte, extra ...iccTag) []byte {
	tags := []iccTag{
		{"wtpt", xyzTag(0.9642, 1, 0.8249)},
		{"rXYZ", xyzTag(colorants[0][0], colorants[0][1], colorants[0][2])},
		{"gXYZ", xyzTag(colorants[1][0], colorants[1][1], colorants[1][2])},
		{"bXYZ", xyzTag(colorants[2][0], colorants[2][1], colorants[2][2])},
		{"rTRC", trc}, {"gTRC", trc}, {"bTRC", trc},
	}
	return buildProfile("RGB ", append(tags, extra...))
}

// profileOfImage returns the ICC profile a loaded testdata image carries after ToSRGB,
// and the one it carried before.
func profilesOf(t *testing.T, name string) (before, after []byte) {
	t.Helper()
	im := loadFile(t, name)
	before = im.ref.GetICCProfile()
	if err := im.ToSRGB(); err != nil {
		t.Fatal(err)
	}
	return before, im.ref.GetICCProfile()
}

func TestIsSRGBProfile(t *testing.T) {
	t.Parallel()
	p3, libvipsSRGB := profilesOf(t, "display-p3.jpg")
	if len(p3) == 0 || len(libvipsSRGB) == 0 || bytes.Equal(p3, libvipsSRGB) {
		t.Fatalf("display-p3.jpg: profile of %d bytes before ToSRGB and %d after; want two different profiles", len(p3), len(libvipsSRGB))
	}
	hpLike := rgbProfile(srgbColorants, curvTable(1024, srgbDecode))
	// lcms' and libvips' sRGB colorants, 0.0002-0.0003 off HP's.
	lcms := [3][3]float64{{0.43585, 0.22238, 0.01392}, {0.38533, 0.71704, 0.09714}, {0.14302, 0.06059, 0.71384}}
	adobe := [3][3]float64{{0.60974, 0.31111, 0.01947}, {0.20528, 0.62567, 0.06087}, {0.14919, 0.06322, 0.74457}}
	srgbPara := paraTag(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)
	off := srgbColorants
	off[1][1] += 0.004
	tests := []struct {
		name string
		p    []byte
		want bool
	}{
		{"libvips' own sRGB profile", libvipsSRGB, true},
		{"Display P3", p3, false},
		{"sRGB, a 1024-entry table as HP's IEC61966-2.1", hpLike, true},
		{"sRGB, a parametric curve as lcms' v4 profile", rgbProfile(lcms, srgbPara), true},
		{"sRGB, parametric type 4 with no offsets", rgbProfile(srgbColorants, paraTag(4, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045, 0, 0)), true},
		{"sRGB, a 256-entry table", rgbProfile(srgbColorants, curvTable(256, srgbDecode)), true},
		{"sRGB's colorants, gamma 2.2", rgbProfile(srgbColorants, curvTable(1, func(float64) float64 { return 2.2 })), false},
		{"sRGB's colorants, parametric gamma 2.2", rgbProfile(srgbColorants, paraTag(0, 2.2)), false},
		{"sRGB's colorants, linear", rgbProfile(srgbColorants, curvTable(0, nil)), false},
		{"sRGB's colorants, a curve one level dark", rgbProfile(srgbColorants, curvTable(1024, func(v float64) float64 { return srgbDecode(max(v-1.0/255, 0)) })), false},
		{"Adobe RGB's colorants, sRGB's curve", rgbProfile(adobe, srgbPara), false},
		{"green 0.004 off", rgbProfile(off, srgbPara), false},
		{"sRGB with a lookup table", rgbProfile(srgbColorants, srgbPara, iccTag{"A2B0", make([]byte, 32)}), false},
		{"no bTRC", buildProfile("RGB ", []iccTag{
			{"rXYZ", xyzTag(srgbColorants[0][0], srgbColorants[0][1], srgbColorants[0][2])},
			{"gXYZ", xyzTag(srgbColorants[1][0], srgbColorants[1][1], srgbColorants[1][2])},
			{"bXYZ", xyzTag(srgbColorants[2][0], srgbColorants[2][1], srgbColorants[2][2])},
			{"rTRC", srgbPara}, {"gTRC", srgbPara},
		}), false},
		{"grey space", buildProfile("GRAY", []iccTag{{"kTRC", srgbPara}}), false},
		{"parametric type 1 with a zero slope", rgbProfile(srgbColorants, paraTag(1, 2.4, 0, 0.5)), false},
		{"truncated", hpLike[:len(hpLike)-100], false},
		{"header only", hpLike[:132], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isSRGBProfile(tt.p); got != tt.want {
				t.Errorf("isSRGBProfile = %v, want %v", got, tt.want)
			}
		})
	}
}

// withICC inserts an ICC profile (one APP2 segment) right after a JPEG's SOI marker.
func withICC(t *testing.T, jpg, icc []byte) []byte {
	t.Helper()
	if len(icc) > 65519 || !bytes.HasPrefix(jpg, []byte{0xFF, 0xD8}) {
		t.Fatal("withICC: profile too long or not a JPEG")
	}
	seg := []byte{0xFF, 0xE2, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+14+len(icc)))
	seg = append(append(append(seg, "ICC_PROFILE\x00"...), 1, 1), icc...)
	return append(append([]byte{0xFF, 0xD8}, seg...), jpg[2:]...)
}

// TestToSRGBKeepsSRGB: an 8-bit photograph whose profile is sRGB's keeps its pixels and
// its own profile (no lcms transform ran), while the same pixels under Display P3's
// profile are converted.
func TestToSRGBKeepsSRGB(t *testing.T) {
	t.Parallel()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 4), uint8(y * 5), uint8(255 - x*3), 255})
		}
	}
	plain := jpegOf(t, img, 95)
	srgb := rgbProfile(srgbColorants, curvTable(1024, srgbDecode))
	p3, _ := profilesOf(t, "display-p3.jpg")

	ref := mustLoad(t, plain, LoadOptions{})
	tagged := mustLoad(t, withICC(t, plain, srgb), LoadOptions{})
	if tagged.ProfileTransformPending() {
		t.Error("ProfileTransformPending = true for an sRGB profile, want false")
	}
	if err := tagged.ToSRGB(); err != nil {
		t.Fatal(err)
	}
	if got := tagged.ref.GetICCProfile(); !bytes.Equal(got, srgb) {
		t.Errorf("after ToSRGB the image carries a profile of %d bytes, want its own sRGB profile (%d bytes): it was transformed", len(got), len(srgb))
	}
	for _, at := range [][2]int{{0, 0}, {13, 7}, {40, 30}, {63, 47}} {
		if got, want := px(t, tagged, at[0], at[1]), px(t, ref, at[0], at[1]); got != want {
			t.Errorf("pixel %v = %v, want %v, the decoded pixel", at, got, want)
		}
	}

	wide := mustLoad(t, withICC(t, plain, p3), LoadOptions{})
	if !wide.ProfileTransformPending() {
		t.Error("ProfileTransformPending = false for Display P3, want true")
	}
	if err := wide.ToSRGB(); err != nil {
		t.Fatal(err)
	}
	if wide.ProfileTransformPending() {
		t.Error("ProfileTransformPending = true after ToSRGB, want false")
	}
	if err := wide.ToSRGB(); err != nil { // a second call is harmless
		t.Fatal(err)
	}
	if got := wide.ref.GetICCProfile(); bytes.Equal(got, p3) {
		t.Error("a Display P3 photograph kept its profile: it was not converted")
	}
	// P3's red is more saturated than sRGB's can show: x=0 column has red 0, but a
	// bright red-ish pixel moves when converted.
	if got, was := px(t, wide, 63, 0), px(t, ref, 63, 0); got == was {
		t.Errorf("pixel (63,0) of the Display P3 photograph is %v before and after conversion", got)
	}
}

// FuzzIsSRGBProfile: whatever the bytes of a profile, isSRGBProfile answers without
// panicking.
func FuzzIsSRGBProfile(f *testing.F) {
	f.Add(rgbProfile(srgbColorants, curvTable(1024, srgbDecode)))
	f.Add(rgbProfile(srgbColorants, paraTag(3, 2.4, 1/1.055, 0.055/1.055, 1/12.92, 0.04045)))
	f.Add(rgbProfile(srgbColorants, curvTable(1, func(float64) float64 { return 2.2 })))
	f.Add(buildProfile("RGB ", nil))
	f.Fuzz(func(t *testing.T, p []byte) {
		isSRGBProfile(p)
	})
}
