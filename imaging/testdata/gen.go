//go:build ignore

// gen writes the test images of package imaging into testdata/. Run it from the
// imaging directory with `go generate` (or `go run testdata/gen.go`); it is
// deterministic, and the generated files are committed.
//
//	photo.jpg      640x400 photo-like JPEG (q90) stored sideways, EXIF orientation 6
//	               and Artist "pictor-test-artist";
//	               a red block marks the stored top-left corner
//	plain.jpg      640x400 JPEG (q90), no EXIF: the same picture, for shrink and crop tests
//	truncated.jpg  plain.jpg cut at 40%: the header is fine, the scan data ends early
//	alpha.png      300x200 RGBA: transparent background, opaque red disc, half-transparent blue bar
//	photo.webp     640x400 lossy WebP of the same picture
//	huge.png       PNG header claiming 20000x20000 RGB, then a truncated IDAT (a few bytes)
//	cmyk.jpg       160x100 CMYK JPEG (converted with libvips' built-in CMYK profile, none embedded)
//	display-p3.jpg 16x16 JPEG (q95) of the flat sRGB colour (200, 30, 40) converted to Display P3
//	               with libvips' built-in P3 profile, which is embedded: its pixel values are
//	               about (184, 50, 47), and only a colour-managed reader sees (200, 30, 40)
//	image.svg      a small SVG
//	doc.pdf        the start of a PDF
//
// Not written by gen: sequential-3-scans.jpg, a 160x100 baseline JPEG coded as one
// scan per component (which neither Go's encoder nor libvips writes), made from
// photo.jpg by libjpeg-turbo's tools:
//
//	vips resize photo.jpg small.ppm 0.25
//	cjpeg -quality 85 -sample 2x2,1x1,1x1 -scans scans.txt small.ppm > sequential-3-scans.jpg
//
// with scans.txt holding the three lines "0;", "1;" and "2;".
package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/davidbyttow/govips/v2/vips"
)

const dir = "testdata"

// exifArtist is the Artist tag written into photo.jpg's EXIF.
const exifArtist = "pictor-test-artist"

func main() {
	vips.LoggingSettings(nil, vips.LogLevelWarning)
	vips.Startup(&vips.Config{})
	defer vips.Shutdown()

	plain := encodeJPEG(photo(640, 400), 90)
	write("plain.jpg", plain)
	write("photo.jpg", withOrientation(plain, 6))
	write("truncated.jpg", plain[:len(plain)*4/10])
	write("alpha.png", encodePNG(alphaImage(300, 200)))
	write("huge.png", hugePNG(20000, 20000))
	write("image.svg", []byte(`<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect width="100" height="100" fill="red"/></svg>
`))
	write("doc.pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"))

	ref, err := vips.NewImageFromBuffer(plain)
	check(err)
	webp, _, err := ref.ExportWebp(&vips.WebpExportParams{Quality: 80, ReductionEffort: 4, StripMetadata: true})
	check(err)
	write("photo.webp", webp)
	ref.Close()

	ref, err = vips.NewImageFromBuffer(encodeJPEG(photo(160, 100), 90))
	check(err)
	check(ref.TransformICCProfileWithFallback("cmyk", "srgb"))
	cmyk, _, err := ref.ExportJpeg(&vips.JpegExportParams{Quality: 90, StripMetadata: true})
	check(err)
	write("cmyk.jpg", cmyk)
	ref.Close()

	flat := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []uint8{200, 30, 40, 255})
	}
	ref, err = vips.NewImageFromBuffer(encodePNG(flat))
	check(err)
	check(ref.TransformICCProfileWithFallback("p3", "srgb"))
	p3, _, err := ref.ExportJpeg(&vips.JpegExportParams{Quality: 95})
	check(err)
	write("display-p3.jpg", p3)
	ref.Close()
}

// photo draws a smooth colour gradient with some edges and a red block in the
// top-left corner.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bw, bh := w/8, h/8
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := 60 + 120*fx
			g := 80 + 100*fy
			b := 140 + 60*math.Sin(fx*6+fy*4)
			// Some texture so that sharpness is measurable.
			if (x/16+y/16)%2 == 0 && x > w/2 {
				r, g, b = r*0.7, g*0.7, b*0.7
			}
			if x < bw && y < bh {
				r, g, b = 230, 20, 20
			}
			img.Set(x, y, color.RGBA{uint8(r), uint8(g), uint8(b), 255})
		}
	}
	return img
}

func alphaImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, rad := float64(w)/2, float64(h)/2, float64(h)/3
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			switch {
			case dx*dx+dy*dy <= rad*rad:
				img.Set(x, y, color.NRGBA{220, 30, 30, 255})
			case y >= h-30 && y < h-10:
				img.Set(x, y, color.NRGBA{20, 40, 200, 128})
			}
		}
	}
	return img
}

func encodeJPEG(img image.Image, q int) []byte {
	var buf bytes.Buffer
	check(jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}))
	return buf.Bytes()
}

func encodePNG(img image.Image) []byte {
	var buf bytes.Buffer
	check(png.Encode(&buf, img))
	return buf.Bytes()
}

// withOrientation inserts an EXIF APP1 segment right after SOI holding the
// orientation and an Artist tag (exifArtist), whose presence in an output shows
// that source metadata leaked through.
func withOrientation(jpg []byte, orientation uint16) []byte {
	artist := append([]byte(exifArtist), 0)
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")                        // big-endian TIFF header
	binary.Write(&tiff, binary.BigEndian, uint32(8))      // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(2))      // two entries, sorted by tag
	binary.Write(&tiff, binary.BigEndian, uint16(0x0112)) // Orientation
	binary.Write(&tiff, binary.BigEndian, uint16(3))      // SHORT
	binary.Write(&tiff, binary.BigEndian, uint32(1))      // count
	binary.Write(&tiff, binary.BigEndian, orientation)    // value
	binary.Write(&tiff, binary.BigEndian, uint16(0))      // padding
	binary.Write(&tiff, binary.BigEndian, uint16(0x013B)) // Artist
	binary.Write(&tiff, binary.BigEndian, uint16(2))      // ASCII
	binary.Write(&tiff, binary.BigEndian, uint32(len(artist)))
	binary.Write(&tiff, binary.BigEndian, uint32(8+2+2*12+4)) // value offset, after the IFD
	binary.Write(&tiff, binary.BigEndian, uint32(0))          // no next IFD
	tiff.Write(artist)
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// hugePNG writes a valid signature and IHDR for w x h 8-bit RGB, then an IDAT
// holding only the start of a zlib stream, and no IEND.
func hugePNG(w, h uint32) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // bit depth 8, colour type RGB
	chunk(&buf, "IHDR", ihdr)
	chunk(&buf, "IDAT", []byte{0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00})
	return buf.Bytes()
}

func chunk(buf *bytes.Buffer, typ string, data []byte) {
	binary.Write(buf, binary.BigEndian, uint32(len(data)))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	buf.WriteString(typ)
	buf.Write(data)
	binary.Write(buf, binary.BigEndian, crc.Sum32())
}

func write(name string, data []byte) {
	check(os.WriteFile(filepath.Join(dir, name), data, 0o644))
	log.Printf("%s: %d bytes", name, len(data))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
