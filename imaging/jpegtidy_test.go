package imaging

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// headerMarkers returns the offsets of the marker segments of a clean JPEG up to and
// including its first SOS, keyed by marker code (the first of each code).
func headerMarkers(t *testing.T, b []byte) map[byte]int {
	t.Helper()
	at := map[byte]int{}
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			t.Fatalf("no marker at %d", p)
		}
		m := b[p+1]
		if _, ok := at[m]; !ok {
			at[m] = p
		}
		if m == 0xDA {
			return at
		}
		p += 2 + (int(b[p+2])<<8 | int(b[p+3]))
	}
	t.Fatal("no SOS")
	return nil
}

// scanHeaders returns the offsets of every SOS marker of a JPEG.
func scanHeaders(b []byte) []int {
	var at []int
	for p := 2; ; {
		m, off, next := entropyMarker(b, p)
		if m == 0 || m == 0xD9 {
			return at
		}
		if m == 0xDA {
			at = append(at, off)
		}
		n := int(b[next])<<8 | int(b[next+1])
		p = next + n
	}
}

func insertAt(b []byte, i int, ins []byte) []byte {
	return slices.Concat(b[:i], ins, b[i:])
}

// decodeAll loads data, decodes every pixel and returns them.
func decodeAll(t *testing.T, data []byte) ([]byte, error) {
	t.Helper()
	im, err := Load(data, LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer im.Close()
	_, _, pix, err := im.Sample(1, false)
	return pix, err
}

// refusedRaw reports whether libvips itself, given the bytes as they are, refuses
// them under the fail-on-warning load every decode uses: the faults the tidy
// removes must be ones that would otherwise make the load fail.
func refusedRaw(t *testing.T, data []byte) bool {
	t.Helper()
	ref, err := vips.LoadImageFromBuffer(data, importParams())
	if err != nil {
		return true
	}
	defer ref.Close()
	_, err = ref.Average()
	return err != nil
}

// TestTidyJPEGHarmlessFaults: a JPEG whose only faults are in bytes that carry no
// pixel data (junk between header segments, an unknown JFIF version, a sequential
// scan header with odd spectral fields) decodes to exactly the pixels of the clean
// file, where libvips' own load refuses it.
func TestTidyJPEGHarmlessFaults(t *testing.T) {
	jfif := func(major, minor byte) []byte {
		return slices.Concat([]byte{0xFF, 0xE0, 0, 16}, []byte("JFIF\x00"), []byte{major, minor, 1, 0, 72, 0, 72, 0, 0})
	}
	// plain.jpg with a JFIF APP0 segment first, as most files have.
	clean := insertAt(readFile(t, "plain.jpg"), 2, jfif(1, 1))
	want, err := decodeAll(t, clean)
	if err != nil {
		t.Fatal(err)
	}
	if got := tidyJPEG(clean); &got[0] != &clean[0] || len(got) != len(clean) {
		t.Fatal("a clean JPEG was copied")
	}
	at := headerMarkers(t, clean)
	jfif148 := bytes.Clone(clean)
	jfif148[2+4+5], jfif148[2+4+6] = 148, 73

	cases := map[string][]byte{
		"zeros before DQT":           insertAt(clean, at[0xDB], []byte{0, 0, 0, 0}),
		"stuffed FF00 before DQT":    insertAt(clean, at[0xDB], []byte{0xFF, 0x00, 0x12, 0xFF, 0x00}),
		"text before SOF":            insertAt(clean, at[0xC0], []byte("padding")),
		"a byte before DHT":          insertAt(clean, at[0xC4], []byte{0x0A}),
		"junk before SOS":            insertAt(clean, at[0xDA], []byte{1, 2, 3, 0xFF, 0xFF, 0x00, 4}),
		"junk before several":        insertAt(insertAt(clean, at[0xDA], []byte{7}), at[0xDB], []byte{9, 9}),
		"JFIF version 148":           jfif148,
		"JFIF version 148 plus junk": insertAt(jfif148, at[0xDB], []byte{0, 0}),
		"junk right after SOI":       insertAt(clean, 2, []byte{0xFE, 0xFF, 0x00, 0x10}),
	}
	// The APP0 marker's 0xFF lost: the whole segment is junk after SOI.
	mangled := bytes.Clone(clean)
	mangled[2] = 0xFE
	cases["APP0 marker byte mangled"] = mangled
	seq := bytes.Clone(clean)
	sos := at[0xDA]
	ns := int(seq[sos+4])
	seq[sos+4+1+2*ns], seq[sos+4+2+2*ns] = 0, 0 // Ss=0, Se=0
	cases["sequential scan with Se 0"] = seq

	for name, data := range cases {
		if !refusedRaw(t, data) {
			t.Errorf("%s: libvips reads it as it is; the case proves nothing", name)
			continue
		}
		got, err := decodeAll(t, data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: pixels differ from the clean file's", name)
		}
		if q, ok := EstimateJPEGQuality(data); !ok || q != 90 {
			t.Errorf("%s: quality estimate %d, %v; want 90", name, q, ok)
		}
		if len(tidyJPEG(data)) > len(data) {
			t.Errorf("%s: the tidied copy grew", name)
		}
	}
}

// TestTidyJPEGSequentialScans: a sequential frame coded as one scan per component
// (cjpeg -scans) with odd spectral fields in its later scan headers decodes to the
// clean file's pixels.
func TestTidyJPEGSequentialScans(t *testing.T) {
	clean := readFile(t, "sequential-3-scans.jpg")
	want, err := decodeAll(t, clean)
	if err != nil {
		t.Fatal(err)
	}
	scans := scanHeaders(clean)
	if len(scans) != 3 {
		t.Fatalf("%d scans, want 3", len(scans))
	}
	bad := bytes.Clone(clean)
	for _, sos := range scans[1:] {
		ns := int(bad[sos+4])
		bad[sos+4+2+2*ns] = 0 // Se=0
		bad[sos+4+3+2*ns] = 0x10
	}
	if !refusedRaw(t, bad) {
		t.Fatal("libvips reads it as it is; the case proves nothing")
	}
	got, err := decodeAll(t, bad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pixels differ from the clean file's")
	}
}

// TestTidyJPEGKeepsDamage: faults that can mean lost pixel data are still refused
// as ErrCorrupt, with or without harmless header junk, and bytes the walk does not
// understand are left for libvips to judge.
func TestTidyJPEGKeepsDamage(t *testing.T) {
	clean := readFile(t, "plain.jpg")
	at := headerMarkers(t, clean)
	junk := insertAt(clean, at[0xDB], []byte{0, 0, 0})
	scans := scanHeaders(progressiveJPEG(t, "plain.jpg"))
	prog := progressiveJPEG(t, "plain.jpg")

	cases := map[string][]byte{
		"truncated":                  clean[:len(clean)*2/3],
		"header junk then truncated": junk[:len(junk)*2/3],
		"junk between scans":         insertAt(prog, scans[3], []byte{1, 2, 3, 4}),
		"progressive scan with Se 0": func() []byte {
			b := bytes.Clone(prog)
			sos := scans[1]
			b[sos+4+2+2*int(b[sos+4])] = 0
			return b
		}(),
	}
	for name, data := range cases {
		if _, err := decodeAll(t, data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}

	for name, data := range map[string][]byte{
		"second SOI":          insertAt(clean, at[0xDB], []byte{0xFF, 0xD8}),
		"EOI before any scan": append(bytes.Clone(clean[:at[0xC4]]), 0xFF, 0xD9),
		"cut before any scan": clean[:at[0xC4]],
		"bad segment length":  func() []byte { b := bytes.Clone(clean); b[at[0xDB]+2], b[at[0xDB]+3] = 0xFF, 0xFF; return b }(),
		"no marker after SOI": append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{7}, 64)...),
	} {
		if got := tidyJPEG(data); &got[0] != &data[0] {
			t.Errorf("%s: tidied, want the bytes left as they are", name)
		}
	}
}
