package api

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/pictor/pictor/imaging"
)

// corpusWant is what every route must answer for a corpus file, beyond "a 2xx or a 4xx problem".
type corpusWant int

const (
	// wantAny: any 2xx or 4xx (a truncated GIF may still show its first frame).
	wantAny corpusWant = iota
	// wantOK: a valid image every route must take (2xx), so the test cannot pass by
	// refusing everything.
	wantOK
	// wantRefused: a 4xx on every route that reads the image (formats we refuse,
	// headers that lie, polyglots).
	wantRefused
)

// corpusFile is one generated file and what the service must make of it.
type corpusFile struct {
	name string
	data []byte
	want corpusWant
	// slugs, when set, are the problem types a refusal may carry (wantRefused only).
	slugs []string
}

// Problem slugs the corpus expects for refused images.
var (
	slugsPixels      = []string{"too-many-pixels"}
	slugsUndecodable = []string{"undecodable-image"}
	slugsUnsupported = []string{"unsupported-format"}
	slugsRefused     = []string{"unsupported-format", "undecodable-image"}
	slugsHeader      = []string{"too-many-pixels", "undecodable-image"}
)

// buildCorpus makes every corpus file: valid images in each accepted format (made by
// Go's encoders, libvips and by hand), then truncations, lying headers, decompression
// bombs, formats we refuse, polyglots and noise.
func buildCorpus(t *testing.T) []corpusFile {
	t.Helper()
	var c []corpusFile
	add := func(name string, data []byte, w corpusWant, slugs ...string) {
		c = append(c, corpusFile{name: name, data: data, want: w, slugs: slugs})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}

	// Valid bases.
	photo := corpusPhoto(96, 72)
	pngB := corpusPNG(t, photo)
	jpgB := corpusJPEG(t, photo)
	gifB := corpusGIF(t, photo)
	webpB := corpusEncode(t, pngB, imaging.EncodeOptions{Format: imaging.WebP})
	webpLossless := corpusEncode(t, pngB, imaging.EncodeOptions{Format: imaging.WebP, Lossless: true})
	tiffB := corpusEncode(t, pngB, imaging.EncodeOptions{Format: imaging.TIFF})
	avifB := corpusEncode(t, pngB, imaging.EncodeOptions{Format: imaging.AVIF})
	heifB := corpusEncode(t, pngB, imaging.EncodeOptions{Format: imaging.HEIF})
	progJPEG := corpusVips(t, pngB, func(r *vips.ImageRef) ([]byte, error) {
		p := vips.NewJpegExportParams()
		p.Interlace = true
		b, _, err := r.ExportJpeg(p)
		return b, err
	})
	cmykJPEG := corpusVips(t, pngB, func(r *vips.ImageRef) ([]byte, error) {
		if err := r.ToColorSpace(vips.InterpretationCMYK); err != nil {
			return nil, err
		}
		b, _, err := r.ExportJpeg(vips.NewJpegExportParams())
		return b, err
	})
	interlacedPNG := corpusVips(t, pngB, func(r *vips.ImageRef) ([]byte, error) {
		p := vips.NewPngExportParams()
		p.Interlace = true
		b, _, err := r.ExportPng(p)
		return b, err
	})
	add("jpeg", jpgB, wantOK)
	add("jpeg progressive", progJPEG, wantOK)
	add("jpeg cmyk", cmykJPEG, wantOK)
	add("jpeg exif orientation 6", jpegWithSegments(jpgB, exifSegment(6)), wantOK)
	add("jpeg exif orientation 9", jpegWithSegments(jpgB, exifSegment(9)), wantOK)
	add("jpeg grey", corpusJPEG(t, toGray(photo)), wantOK)
	// Faults libjpeg only warns about, in bytes that carry no pixels, which libvips'
	// fail-on-warning load refused: junk after SOI or between header segments, an
	// unknown JFIF version, a sequential scan header with odd spectral fields.
	jfif := func(major byte) []byte {
		return jpegSegment(0xE0, []byte{'J', 'F', 'I', 'F', 0, major, 1, 1, 0, 72, 0, 72, 0, 0})
	}
	add("jpeg junk between header segments", jpegWithSegments(jpgB, jfif(1), []byte{0, 0xFF, 0, 7}), wantOK)
	add("jpeg unknown JFIF version", jpegWithSegments(jpgB, jfif(148)), wantOK)
	lostFF := jfif(1)
	lostFF[0] = 0xFE // the APP0 marker lost its 0xFF: junk right after SOI
	add("jpeg junk right after SOI", jpegWithSegments(jpgB, lostFF), wantOK)
	add("jpeg sequential scan header zeroed", jpegScanFieldsZeroed(t, jpgB), wantOK)
	add("png", pngB, wantOK)
	add("png interlaced", interlacedPNG, wantOK)
	add("png 16-bit", corpusPNG(t, to16(photo)), wantOK)
	add("png grey", corpusPNG(t, toGray(photo)), wantOK)
	// Slivers and specks: libvips' border finder and JPEG shrink-on-load have
	// floors (a 3x3 median; a side rounded down to 0 aborts the process).
	add("png 1x1", corpusPNG(t, corpusPhoto(1, 1)), wantOK)
	add("png 2x3", corpusPNG(t, corpusPhoto(2, 3)), wantOK)
	add("jpeg 9x1", corpusJPEG(t, corpusPhoto(9, 1)), wantOK)
	add("jpeg 5x3000 sliver", corpusJPEG(t, corpusPhoto(5, 3000)), wantOK)
	add("jpeg 3000x7 sliver", corpusJPEG(t, corpusPhoto(3000, 7)), wantOK)
	add("png palette with transparency", corpusPNG(t, toPaletted(photo, true)), wantOK)
	add("png alpha", corpusPNG(t, withAlphaHole(photo)), wantOK)
	add("gif", gifB, wantOK)
	add("webp", webpB, wantOK)
	add("webp lossless", webpLossless, wantOK)
	add("tiff", tiffB, wantOK)
	add("avif", avifB, wantOK)
	add("heif", heifB, wantOK)

	// Animated and multi-page files: the first frame or page is the image.
	add("gif animated 400 frames", corpusAnimatedGIF(t, 48, 36, 400), wantOK)
	add("webp animated 120 frames", corpusAnimatedWebP(t, photo, 120), wantOK)
	add("tiff 2000 pages", tiffFile(repeatPages(tiffPage{w: 16, h: 12}, 2000)), wantOK)

	// Metadata: huge or broken ICC profiles and EXIF.
	add("jpeg huge icc garbage", jpegWithSegments(jpgB, iccSegments(noise(1<<20))...), wantAny)
	add("jpeg icc lying size", jpegWithSegments(jpgB, iccSegments(lyingICC(rng))...), wantAny)
	add("jpeg exif broken ifd", jpegWithSegments(jpgB, brokenExifSegment()), wantAny)
	add("jpeg 400 app segments", jpegWithSegments(jpgB, manySegments(400, 60000)...), wantAny)
	add("png huge icc", pngInsert(pngB, pngChunk("iCCP", append([]byte("bad\x00\x00"), zlibOf(noise(4<<20))...))), wantAny)
	zeros256M := zlibZeros(256 << 20) // about 250 KiB
	add("png icc zlib bomb", pngInsert(pngB, pngChunk("iCCP", append([]byte("bomb\x00\x00"), zeros256M...))), wantAny)
	add("png 200000 text chunks", pngInsert(pngB, manyTextChunks(200000)...), wantAny)
	add("png exif chunk garbage", pngInsert(pngB, pngChunk("eXIf", noise(64<<10))), wantAny)
	add("jpeg trailing garbage", append(bytes.Clone(jpgB), noise(64<<10)...), wantAny)
	add("png trailing garbage", append(bytes.Clone(pngB), noise(64<<10)...), wantAny)
	add("jpeg garbage inside scan", jpegGarbageInScan(jpgB, rng), wantAny)

	// Truncations at several cut points.
	for _, base := range []struct {
		name string
		data []byte
	}{
		{"jpeg", jpgB}, {"jpeg progressive", progJPEG}, {"png", pngB}, {"gif", gifB},
		{"webp", webpB}, {"webp lossless", webpLossless}, {"tiff", tiffB}, {"avif", avifB}, {"heif", heifB},
	} {
		n := len(base.data)
		for _, cut := range []int{1, 3, 12, 33, n / 4, n / 2, n - 16, n - 1} {
			if cut <= 0 || cut >= n {
				continue
			}
			add(fmt.Sprintf("%s truncated at %d of %d", base.name, cut, n), base.data[:cut], wantAny)
		}
	}

	// Headers that lie about the size.
	add("png ihdr 100000x100000", pngSetSize(pngB, 100000, 100000), wantRefused, slugsHeader...)
	add("png ihdr 7000x7000 over tiny data", pngSetSize(pngB, 7000, 7000), wantRefused, slugsUndecodable...)
	add("png ihdr 0x0", pngSetSize(pngB, 0, 0), wantRefused, slugsUndecodable...)
	add("png ihdr bad crc", pngBadCRC(pngB), wantRefused, slugsUndecodable...)
	add("jpeg sof 65500x65500", jpegSetSize(jpgB, 65500, 65500), wantRefused, slugsHeader...)
	add("jpeg sof 7000x7000 over tiny data", jpegSetSize(jpgB, 7000, 7000), wantRefused, slugsUndecodable...)
	add("jpeg sof 0 height", jpegSetSize(jpgB, 96, 0), wantRefused, slugsUndecodable...)
	add("gif screen 65535x65535", gifSetScreen(gifB, 65535, 65535), wantAny)
	add("gif screen 7000x7000", gifSetScreen(gifB, 7000, 7000), wantAny)
	add("webp vp8x canvas 16384x16384", webpVP8X(webpB, 16384, 16384), wantRefused, slugsHeader...)
	add("tiff 100000x100000", tiffFile([]tiffPage{{w: 100000, h: 100000}}), wantRefused, slugsHeader...)
	add("tiff strips past the end", tiffFile([]tiffPage{{w: 64, h: 64, stripOffset: 1 << 30}}), wantRefused, slugsUndecodable...)
	add("tiff ifd loop", tiffFile([]tiffPage{{w: 16, h: 16, loop: true}}), wantAny)
	add("tiff 16-bit 3-sample", tiffFile([]tiffPage{{w: 32, h: 24, bits: 16, samples: 3}}), wantOK)
	add("avif ispe 60000x60000", isobmffSetIspe(avifB, 60000, 60000), wantRefused, slugsHeader...)
	add("avif ispe 6000x6000", isobmffSetIspe(avifB, 6000, 6000), wantAny)
	add("heif ispe 60000x60000", isobmffSetIspe(heifB, 60000, 60000), wantRefused, slugsHeader...)

	// Decompression bombs: small files that inflate to huge images or streams. The
	// 49-megapixel one is just under the service's 50-megapixel limit: it must be
	// taken (or refused) in bounded memory; the larger ones are refused from the header.
	add("png bomb 7000x7000 1-bit", pngRaw(7000, 7000, 1, 0, nil), wantAny)
	add("png bomb 100000x100000 1-bit", pngRaw(100000, 100000, 1, 0, zlibZeros(64<<10)), wantRefused, slugsPixels...)
	add("png bomb 8000x8000 rgba 16-bit", pngRaw(8000, 8000, 16, 6, zlibZeros(64<<10)), wantRefused, slugsPixels...)
	add("png bomb 2500x2500 rgba 16-bit", pngRaw(2500, 2500, 16, 6, nil), wantAny)
	add("png idat zlib bomb 256 MiB", pngRaw(64, 64, 8, 0, zeros256M), wantAny)
	add("tiff deflate bomb", tiffFile([]tiffPage{{w: 64, h: 64, deflate: zeros256M}}), wantAny)
	add("gif 3000x3000 lzw", corpusBigGIF(t, 3000, 3000), wantAny)

	// SVG: refused before any loader sees it, whatever it asks for.
	for name, svg := range map[string]string{
		"svg plain":             `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>`,
		"svg external entity":   `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><text y="20">&x;</text></svg>`,
		"svg huge dimensions":   `<svg xmlns="http://www.w3.org/2000/svg" width="1000000" height="1000000"><rect width="1000000" height="1000000"/></svg>`,
		"svg script":            `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" onload="alert(1)"><script>alert(1)</script></svg>`,
		"svg xlink passwd":      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="file:///etc/passwd" width="64" height="64"/></svg>`,
		"svg billion laughs":    `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&e;&e;&e;&e;</text></svg>`,
		"svg bom and space":     "\xEF\xBB\xBF \n\t<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"/>",
		"svg doctype only":      `<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`,
		"svg after long prolog": `<?xml version="1.0"?><!--` + strings.Repeat("x", 5000) + `--><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`,
	} {
		add(name, []byte(svg), wantRefused, slugsRefused...)
	}
	add("svgz", gzipNamed("image.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`)), wantRefused, slugsRefused...)

	// Polyglots: a header our sniffing takes for one format that libvips' own detection
	// would hand to another loader (librsvg, poppler).
	svgTail := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="file:///etc/passwd" width="64" height="64"/><rect width="64" height="64" fill="red"/></svg>`
	add("isobmff avif brand then svg", []byte("    ftypisom    avif"+svgTail), wantRefused, slugsRefused...)
	add("isobmff heif brand then svg", []byte("    ftypisom    mif1heic"+svgTail), wantRefused, slugsRefused...)
	add("isobmff avif brand then pdf", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00avifmif1"), corpusPDF...), wantRefused, slugsRefused...)
	add("webp brand in ftyp", []byte("\x00\x00\x00\x18ftypWEBP\x00\x00\x00\x00avifmif1"+strings.Repeat("\x00", 64)), wantRefused, slugsRefused...)
	add("gif then svg", []byte("GIF89a"+svgTail), wantRefused, slugsRefused...)

	// Formats libvips (or ImageMagick behind it) could load, all refused.
	add("pdf", corpusPDF, wantRefused, slugsUnsupported...)
	add("pdf truncated", corpusPDF[:40], wantRefused, slugsUnsupported...)
	add("pdf after junk", append([]byte("junk before the header\n"), corpusPDF...), wantRefused, slugsRefused...)
	add("postscript", []byte("%!PS-Adobe-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 64 lineto stroke showpage\n"), wantRefused, slugsUnsupported...)
	add("eps dos binary", append([]byte("\xC5\xD0\xD3\xC6"), noise(256)...), wantRefused, slugsUnsupported...)
	add("bmp", corpusBMP(32, 24), wantRefused, slugsUnsupported...)
	add("bmp header only", []byte("BM\x00\x00"), wantRefused, slugsRefused...)
	add("ico with png", corpusICO(pngB, 0x0001), wantRefused, slugsUnsupported...)
	add("cur with png", corpusICO(pngB, 0x0002), wantRefused, slugsUnsupported...)
	add("psd", append([]byte("8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x40\x00\x00\x00\x40\x00\x08\x00\x03"), make([]byte, 64)...), wantRefused, slugsUnsupported...)
	add("jpeg 2000 jp2", append([]byte("\x00\x00\x00\x0CjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 "), noise(128)...), wantRefused, slugsUnsupported...)
	add("jpeg 2000 codestream", append([]byte("\xFF\x4F\xFF\x51\x00\x2F"), noise(128)...), wantRefused, slugsUnsupported...)
	add("jpeg xl codestream", append([]byte("\xFF\x0A"), noise(128)...), wantRefused, slugsUnsupported...)
	add("jpeg xl container", append([]byte("\x00\x00\x00\x0CJXL \r\n\x87\n"), noise(128)...), wantRefused, slugsUnsupported...)
	add("ppm", append([]byte("P6\n4 4\n255\n"), noise(48)...), wantRefused, slugsRefused...)
	add("pgm", append([]byte("P5\n4 4\n255\n"), noise(16)...), wantRefused, slugsRefused...)
	add("pbm huge", []byte("P4\n1000000 1000000\n"), wantRefused, slugsRefused...)
	add("pfm", append([]byte("PF\n4 4\n-1.0\n"), make([]byte, 4*4*3*4)...), wantRefused, slugsRefused...)
	add("pam", append([]byte("P7\nWIDTH 4\nHEIGHT 4\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n"), noise(64)...), wantRefused, slugsRefused...)
	add("fits", corpusFITS(), wantRefused, slugsRefused...)
	add("vips native", append([]byte("\x08\xf2\xa6\xb6"), noise(80)...), wantRefused, slugsRefused...)
	add("vips matrix", []byte("2 2 1 0\n1 2\n3 4\n"), wantRefused, slugsRefused...)
	add("csv", []byte("1,2,3\n4,5,6\n7,8,9\n"), wantRefused, slugsRefused...)
	add("openexr", append([]byte("\x76\x2f\x31\x01\x02\x00\x00\x00"), noise(256)...), wantRefused, slugsRefused...)
	add("radiance hdr", []byte("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 4 +X 4\n"+strings.Repeat("\x80\x80\x80\x80", 16)), wantRefused, slugsRefused...)
	add("matlab", append([]byte("MATLAB 5.0 MAT-file, Platform: GLNXA64"+strings.Repeat(" ", 86)+"\x00\x01IM"), noise(64)...), wantRefused, slugsRefused...)
	add("dicom", append(append(make([]byte, 128), "DICM"...), noise(64)...), wantRefused, slugsRefused...)
	add("xcf", append([]byte("gimp xcf v011\x00"), noise(64)...), wantRefused, slugsRefused...)
	add("openslide svs-like bigtiff", append([]byte("II+\x00\x08\x00\x00\x00"), noise(64)...), wantRefused, slugsRefused...)
	add("magick mvg", []byte("push graphic-context\nviewbox 0 0 640 480\nimage over 0,0 0,0 'file:///etc/passwd'\npop graphic-context\n"), wantRefused, slugsRefused...)
	add("magick msl", []byte(`<?xml version="1.0" encoding="UTF-8"?><image><read filename="/etc/passwd"/><write filename="/tmp/pictor-msl"/></image>`), wantRefused, slugsRefused...)
	add("magick label", []byte("label:@/etc/passwd"), wantRefused, slugsRefused...)
	add("html", []byte("<!doctype html><html><body><img src=x></body></html>"), wantRefused, slugsRefused...)
	add("gzip", gzipNamed("image.png", pngB), wantRefused, slugsRefused...)
	add("mp4", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), noise(256)...), wantRefused, slugsRefused...)

	// Noise and nothing.
	add("zero bytes", nil, wantRefused, "invalid-request", "undecodable-image")
	add("one byte", []byte{0xFF}, wantRefused, slugsRefused...)
	add("jpeg magic only", []byte("\xFF\xD8\xFF"), wantRefused, slugsRefused...)
	add("png magic only", []byte("\x89PNG\r\n\x1a\n"), wantRefused, slugsRefused...)
	add("random 1 KiB", noise(1<<10), wantRefused, slugsRefused...)
	add("random 1 MiB", noise(1<<20), wantRefused, slugsRefused...)
	add("random after jpeg magic", append([]byte("\xFF\xD8\xFF\xE0"), noise(4096)...), wantRefused, slugsRefused...)
	add("random after png magic", append([]byte("\x89PNG\r\n\x1a\n"), noise(4096)...), wantRefused, slugsRefused...)
	add("random after riff webp", append([]byte("RIFF\x00\x10\x00\x00WEBPVP8 "), noise(4096)...), wantRefused, slugsRefused...)
	add("random after tiff magic", append([]byte("II*\x00"), noise(4096)...), wantRefused, slugsRefused...)
	add("random after gif magic", append([]byte("GIF89a"), noise(4096)...), wantRefused, slugsRefused...)
	add("random after avif ftyp", append([]byte("\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1"), noise(4096)...), wantRefused, slugsRefused...)
	return c
}

// corpusPhoto is a product-like picture: a shaded box on white.
func corpusPhoto(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{255, 255, 255, 255}
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = color.NRGBA{uint8(40 + x*150/w), 90, uint8(200 - y*100/h), 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func toGray(src *image.NRGBA) *image.Gray {
	g := image.NewGray(src.Bounds())
	for y := src.Rect.Min.Y; y < src.Rect.Max.Y; y++ {
		for x := src.Rect.Min.X; x < src.Rect.Max.X; x++ {
			g.Set(x, y, src.At(x, y))
		}
	}
	return g
}

func to16(src *image.NRGBA) *image.NRGBA64 {
	d := image.NewNRGBA64(src.Bounds())
	for y := src.Rect.Min.Y; y < src.Rect.Max.Y; y++ {
		for x := src.Rect.Min.X; x < src.Rect.Max.X; x++ {
			d.Set(x, y, src.At(x, y))
		}
	}
	return d
}

func toPaletted(src *image.NRGBA, transparent bool) *image.Paletted {
	pal := append(color.Palette{color.NRGBA{}}, palette.Plan9[:255]...)
	p := image.NewPaletted(src.Bounds(), pal)
	for y := src.Rect.Min.Y; y < src.Rect.Max.Y; y++ {
		for x := src.Rect.Min.X; x < src.Rect.Max.X; x++ {
			c := src.NRGBAAt(x, y)
			if transparent && c == (color.NRGBA{255, 255, 255, 255}) && x < 4 {
				p.SetColorIndex(x, y, 0)
				continue
			}
			p.Set(x, y, c)
		}
	}
	return p
}

func withAlphaHole(src *image.NRGBA) *image.NRGBA {
	d := image.NewNRGBA(src.Bounds())
	copy(d.Pix, src.Pix)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			d.SetNRGBA(x, y, color.NRGBA{})
		}
	}
	return d
}

func corpusPNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func corpusJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func corpusGIF(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corpusAnimatedGIF has n frames of w x h, each a box in another place.
func corpusAnimatedGIF(t *testing.T, w, h, n int) []byte {
	t.Helper()
	a := &gif.GIF{}
	for i := range n {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				idx := uint8(255)
				if (x+i)%w < w/2 && y > h/4 && y < 3*h/4 {
					idx = uint8(i % 200)
				}
				p.SetColorIndex(x, y, idx)
			}
		}
		a.Image = append(a.Image, p)
		a.Delay = append(a.Delay, 2)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, a); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corpusBigGIF is a one-colour w x h GIF: LZW packs it into a few kilobytes.
func corpusBigGIF(t *testing.T, w, h int) []byte {
	t.Helper()
	p := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, p, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corpusEncode re-encodes a PNG with the imaging package.
func corpusEncode(t *testing.T, pngData []byte, o imaging.EncodeOptions) []byte {
	t.Helper()
	im, err := imaging.Load(pngData, imaging.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	b, err := im.Encode(o)
	if err != nil {
		t.Fatalf("encode %s: %v", o.Format, err)
	}
	return b
}

// corpusVips runs export on a PNG loaded straight into libvips, for what the imaging
// package does not write (CMYK, progressive, interlaced, animated).
func corpusVips(t *testing.T, pngData []byte, export func(*vips.ImageRef) ([]byte, error)) []byte {
	t.Helper()
	ref, err := vips.NewImageFromBuffer(pngData)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	b, err := export(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corpusAnimatedWebP stacks n copies of img (shifted) and saves them as an animation.
func corpusAnimatedWebP(t *testing.T, img *image.NRGBA, n int) []byte {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	tall := image.NewNRGBA(image.Rect(0, 0, w, h*n))
	for i := range n {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				tall.SetNRGBA(x, i*h+y, img.NRGBAAt((x+i)%w, y))
			}
		}
	}
	return corpusVips(t, corpusPNG(t, tall), func(r *vips.ImageRef) ([]byte, error) {
		if err := r.SetPageHeight(h); err != nil {
			return nil, err
		}
		b, _, err := r.ExportWebp(vips.NewWebpExportParams())
		return b, err
	})
}

// jpegWithSegments inserts marker segments (each with its marker and length) after SOI.
func jpegWithSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// jpegScanFieldsZeroed sets the spectral selection and successive approximation
// fields of a baseline JPEG's scan header to zero, as some encoders write them.
func jpegScanFieldsZeroed(t *testing.T, jpg []byte) []byte {
	t.Helper()
	b := bytes.Clone(jpg)
	for p := 2; p+4 <= len(b) && b[p] == 0xFF; p += 2 + int(binary.BigEndian.Uint16(b[p+2:])) {
		if b[p+1] == 0xDA {
			ns := int(b[p+4])
			copy(b[p+5+2*ns:], []byte{0, 0, 0})
			return b
		}
	}
	t.Fatal("no scan header")
	return nil
}

// jpegSegment builds a JPEG marker segment; payload is cut to fit the 16-bit length.
func jpegSegment(marker byte, payload []byte) []byte {
	payload = payload[:min(len(payload), 65533)]
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// exifSegment is an APP1 EXIF block with one IFD0 entry: Orientation = o.
func exifSegment(o uint16) []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	b.WriteString("MM\x00\x2A\x00\x00\x00\x08") // big-endian TIFF, IFD0 at 8
	b.Write([]byte{0, 1})                       // one entry
	b.Write([]byte{0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(o >> 8), byte(o), 0, 0})
	b.Write([]byte{0, 0, 0, 0}) // no next IFD
	return jpegSegment(0xE1, b.Bytes())
}

// brokenExifSegment claims 65535 IFD entries pointing far outside the block.
func brokenExifSegment() []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	b.WriteString("II\x2A\x00\x08\x00\x00\x00")
	b.Write([]byte{0xFF, 0xFF})
	for range 40 {
		b.Write([]byte{0x12, 0x01, 0x04, 0x00, 0xFF, 0xFF, 0xFF, 0x7F, 0xF0, 0xFF, 0xFF, 0x7F})
	}
	b.Write([]byte{0x08, 0x00, 0x00, 0x00}) // next IFD: itself
	return jpegSegment(0xE1, b.Bytes())
}

// iccSegments splits profile into APP2 ICC_PROFILE chunks.
func iccSegments(profile []byte) [][]byte {
	const chunk = 65519 - 14
	n := (len(profile) + chunk - 1) / chunk
	var segs [][]byte
	for i := range n {
		part := profile[i*chunk : min(len(profile), (i+1)*chunk)]
		payload := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(n))
		segs = append(segs, jpegSegment(0xE2, append(payload, part...)))
	}
	return segs
}

// lyingICC is an ICC header claiming a 4 GiB profile with 100000 tags.
func lyingICC(rng *rand.Rand) []byte {
	p := make([]byte, 4096)
	binary.BigEndian.PutUint32(p[0:], 0xFFFFFFF0)
	copy(p[4:], "lcms")
	binary.BigEndian.PutUint32(p[8:], 0x04300000)
	copy(p[12:], "mntrRGB XYZ ")
	copy(p[36:], "acsp")
	binary.BigEndian.PutUint32(p[128:], 100000)
	for i := 132; i < len(p); i++ {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// manySegments makes n APP15 segments of size bytes each.
func manySegments(n, size int) [][]byte {
	payload := bytes.Repeat([]byte{'z'}, size)
	segs := make([][]byte, n)
	for i := range segs {
		segs[i] = jpegSegment(0xEF, payload)
	}
	return segs
}

// jpegGarbageInScan overwrites bytes in the middle of the entropy-coded data.
func jpegGarbageInScan(jpg []byte, rng *rand.Rand) []byte {
	out := bytes.Clone(jpg)
	sos := bytes.Index(out, []byte{0xFF, 0xDA})
	for i := sos + 20; i < len(out)-4; i += 7 {
		out[i] = byte(rng.Uint32())
	}
	return out
}

// jpegSetSize rewrites the height and width of the first SOF segment.
func jpegSetSize(jpg []byte, w, h int) []byte {
	out := bytes.Clone(jpg)
	for i := 2; i+9 < len(out); {
		if out[i] != 0xFF {
			break
		}
		m := out[i+1]
		l := int(binary.BigEndian.Uint16(out[i+2:]))
		if m >= 0xC0 && m <= 0xC2 {
			binary.BigEndian.PutUint16(out[i+5:], uint16(h))
			binary.BigEndian.PutUint16(out[i+7:], uint16(w))
			return out
		}
		i += 2 + l
	}
	panic("jpegSetSize: no SOF")
}

func pngChunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngInsert puts chunks right after IHDR.
func pngInsert(p []byte, chunks ...[]byte) []byte {
	const afterIHDR = 8 + 25
	out := append([]byte{}, p[:afterIHDR]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[afterIHDR:]...)
}

// pngSetSize rewrites IHDR's width and height (and its CRC).
func pngSetSize(p []byte, w, h uint32) []byte {
	out := bytes.Clone(p)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

func pngBadCRC(p []byte) []byte {
	out := bytes.Clone(p)
	out[29] ^= 0xFF
	return out
}

// pngRaw is a w x h PNG of the given depth and colour type whose IDAT is idat, or, when
// idat is nil, all-zero rows compressed (a few kilobytes for megapixels).
func pngRaw(w, h uint32, depth, colorType byte, idat []byte) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colorType
	if idat == nil {
		channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colorType]
		rowBytes := (int(w)*channels*int(depth)+7)/8 + 1
		idat = zlibZeros(int64(rowBytes) * int64(h))
	}
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", idat)...)
	return append(out, pngChunk("IEND", nil)...)
}

// manyTextChunks makes n small tEXt chunks.
func manyTextChunks(n int) [][]byte {
	c := pngChunk("tEXt", []byte("Comment\x00hello"))
	out := make([][]byte, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func zlibOf(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// zlibZeros is a zlib stream of n zero bytes (about n/1000 bytes long).
func zlibZeros(n int64) []byte {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zero := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(zero)))
		_, _ = zw.Write(zero[:k])
		n -= k
	}
	_ = zw.Close()
	return buf.Bytes()
}

func gzipNamed(name string, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// gifSetScreen rewrites the logical screen size.
func gifSetScreen(g []byte, w, h uint16) []byte {
	out := bytes.Clone(g)
	binary.LittleEndian.PutUint16(out[6:], w)
	binary.LittleEndian.PutUint16(out[8:], h)
	return out
}

// webpVP8X wraps a simple WebP's bitstream chunk in an extended file whose canvas
// claims w x h.
func webpVP8X(webp []byte, w, h int) []byte {
	vp8x := make([]byte, 10)
	putUint24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	putUint24(vp8x[4:], w-1)
	putUint24(vp8x[7:], h-1)
	body := append([]byte("WEBP"), riffChunk("VP8X", vp8x)...)
	body = append(body, webp[12:]...)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

func riffChunk(typ string, data []byte) []byte {
	c := append([]byte(typ), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// isobmffSetIspe rewrites every 'ispe' (image spatial extents) property.
func isobmffSetIspe(b []byte, w, h uint32) []byte {
	out := bytes.Clone(b)
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte("ispe"))
		if j < 0 {
			return out
		}
		at := i + j + 4 + 4 // after the box type and version/flags
		if at+8 <= len(out) {
			binary.BigEndian.PutUint32(out[at:], w)
			binary.BigEndian.PutUint32(out[at+4:], h)
		}
		i = at
	}
}

// tiffPage describes one page of a hand-made little-endian TIFF.
type tiffPage struct {
	w, h          uint32
	bits, samples uint16
	// deflate, when set, is the page's one strip, Deflate-compressed.
	deflate []byte
	// stripOffset, when set, replaces the strip's offset.
	stripOffset uint32
	// loop makes the page's next-IFD offset point at the page's own IFD.
	loop bool
}

func repeatPages(p tiffPage, n int) []tiffPage {
	out := make([]tiffPage, n)
	for i := range out {
		out[i] = p
	}
	return out
}

// tiffFile writes pages as a chain of IFDs, each with one strip (grey or RGB,
// uncompressed unless deflate is set).
func tiffFile(pages []tiffPage) []byte {
	var out bytes.Buffer
	out.WriteString("II*\x00\x00\x00\x00\x00")
	le := binary.LittleEndian
	prevNext := 4 // where the previous "next IFD" offset goes
	for _, p := range pages {
		bits, samples := max(p.bits, 8), max(p.samples, 1)
		strip := p.deflate
		compression := uint16(1)
		if strip != nil {
			compression = 8
		} else {
			n := uint64(p.w) * uint64(p.h) * uint64(samples) * uint64(bits/8)
			strip = make([]byte, min(n, 1<<16))
			for i := range strip {
				strip[i] = byte(i * 7)
			}
		}
		stripAt := uint32(out.Len())
		out.Write(strip)
		if out.Len()%2 == 1 {
			out.WriteByte(0)
		}
		if p.stripOffset != 0 {
			stripAt = p.stripOffset
		}
		bitsAt := uint32(out.Len())
		for range samples {
			_ = binary.Write(&out, le, bits)
		}
		if out.Len()%2 == 1 {
			out.WriteByte(0)
		}
		photometric := uint16(1)
		if samples >= 3 {
			photometric = 2
		}
		type entry struct {
			tag, typ uint16
			count    uint32
			value    uint32
		}
		bitsEntry := entry{258, 3, uint32(samples), bitsAt}
		if samples == 1 {
			bitsEntry.value = uint32(bits)
		}
		entries := []entry{
			{256, 4, 1, p.w},
			{257, 4, 1, p.h},
			bitsEntry,
			{259, 3, 1, uint32(compression)},
			{262, 3, 1, uint32(photometric)},
			{273, 4, 1, stripAt},
			{277, 3, 1, uint32(samples)},
			{278, 4, 1, p.h},
			{279, 4, 1, uint32(len(strip))},
		}
		ifdAt := uint32(out.Len())
		b := out.Bytes()
		le.PutUint32(b[prevNext:], ifdAt)
		_ = binary.Write(&out, le, uint16(len(entries)))
		for _, e := range entries {
			_ = binary.Write(&out, le, e.tag)
			_ = binary.Write(&out, le, e.typ)
			_ = binary.Write(&out, le, e.count)
			_ = binary.Write(&out, le, e.value)
		}
		prevNext = out.Len()
		next := uint32(0)
		if p.loop {
			next = ifdAt
		}
		_ = binary.Write(&out, le, next)
	}
	return out.Bytes()
}

// corpusPDF is a one-page PDF that draws a square.
var corpusPDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" +
	"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 64 64]/Contents 4 0 R>>endobj\n" +
	"4 0 obj<</Length 24>>stream\n0 0 m 64 64 l S 10 10 re f\nendstream endobj\n" +
	"trailer<</Root 1 0 R>>\n%%EOF\n")

// corpusBMP is a w x h 24-bit BMP.
func corpusBMP(w, h int) []byte {
	row := (w*3 + 3) &^ 3
	size := 54 + row*h
	b := make([]byte, size)
	copy(b, "BM")
	le := binary.LittleEndian
	le.PutUint32(b[2:], uint32(size))
	le.PutUint32(b[10:], 54)
	le.PutUint32(b[14:], 40)
	le.PutUint32(b[18:], uint32(w))
	le.PutUint32(b[22:], uint32(h))
	le.PutUint16(b[26:], 1)
	le.PutUint16(b[28:], 24)
	for i := 54; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

// corpusICO is an icon (kind 1) or cursor (kind 2) holding one PNG.
func corpusICO(pngData []byte, kind uint16) []byte {
	le := binary.LittleEndian
	b := make([]byte, 22)
	le.PutUint16(b[2:], kind)
	le.PutUint16(b[4:], 1)
	b[6], b[7] = 0, 0 // 256 x 256
	le.PutUint16(b[10:], 1)
	le.PutUint16(b[12:], 32)
	le.PutUint32(b[14:], uint32(len(pngData)))
	le.PutUint32(b[18:], 22)
	return append(b, pngData...)
}

// corpusFITS is a 4 x 4 8-bit FITS image.
func corpusFITS() []byte {
	var h strings.Builder
	for _, card := range []string{
		"SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
		"NAXIS1  =                    4", "NAXIS2  =                    4", "END",
	} {
		h.WriteString(fmt.Sprintf("%-80s", card))
	}
	hdr := h.String()
	hdr += strings.Repeat(" ", 2880-len(hdr))
	return append([]byte(hdr), make([]byte, 2880)...)
}
