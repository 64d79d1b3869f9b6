package imaging

import (
	"encoding/binary"
	"fmt"

	"github.com/davidbyttow/govips/v2/vips"
)

// Default encoder settings.
const (
	// DefaultJPEGQuality is the JPEG quality when EncodeOptions.Quality is 0.
	DefaultJPEGQuality = 80
	// DefaultWebPQuality is the WebP quality when EncodeOptions.Quality is 0.
	DefaultWebPQuality = 80
	// DefaultAVIFQuality is the AVIF quality when EncodeOptions.Quality is 0.
	DefaultAVIFQuality = 50
	// DefaultHEIFQuality is the HEIF (HEVC) quality when EncodeOptions.Quality is 0.
	DefaultHEIFQuality = 50
	// AVIFEffort is the encoder effort for AVIF and HEIF (libvips hands libaom
	// 9-effort as its speed): tuned for a server, not for the last byte. Measured on
	// this stack (libvips 8.14, libaom 3.6) for 800x500 photographs at q50-q80: effort 1
	// costs 50-72 ms of CPU, effort 2 35-50 % more for files 0.6-1.6 % smaller, effort 3
	// twice as much. It must not be 0: govips then leaves libvips' default, effort 4,
	// ten times the CPU of 1. imgproxy's default (speed 8) is effort 1 too.
	AVIFEffort = 1
	// PNGCompression is the zlib level used for PNG.
	PNGCompression = 6
)

// EncodeOptions controls Encode. Only Format is required.
type EncodeOptions struct {
	// Format of the output; required.
	Format Format
	// Quality 1..100; default 0 = the format's default (JPEG 80, WebP 80, AVIF 50,
	// HEIF 50). Ignored by PNG and GIF.
	Quality int
	// Lossless asks WebP, AVIF or HEIF for lossless coding; default false. PNG, GIF
	// and TIFF are lossless anyway; JPEG refuses it with ErrInvalidOption.
	Lossless bool
	// KeepICC keeps the ICC profile; default false strips it (the image is assumed
	// to be sRGB: call ToSRGB first). WebP output never carries a profile.
	KeepICC bool
	// KeepMetadata keeps EXIF, XMP and IPTC; default false strips them. (HEIF
	// output always carries a minimal EXIF block that libvips 8.14 generates:
	// resolution only, nothing from the source.)
	KeepMetadata bool
}

// maxEncodeSide is the longest side f's encoder writes: WebP's bitstream holds 14
// bits, libjpeg-turbo stops at 65500; the others reach MaxDimension.
func maxEncodeSide(f Format) int {
	switch f {
	case WebP:
		return 16383
	case JPEG:
		return 65500
	}
	return MaxDimension
}

// Encode writes the image in o.Format. It does not change im, so one Image can be
// encoded several times. By default all metadata, ICC profile included, is
// stripped. JPEG is baseline (not progressive) with optimised Huffman tables; an
// image with alpha is flattened onto white for JPEG; CMYK, grey+alpha, 16-bit and
// other colourspaces are converted to 8-bit sRGB first. A pending orientation is
// not applied (call AutoOrient). Because decoding is lazy, a corrupt source
// surfaces here as ErrCorrupt; bad options, and an image longer than the format
// can hold (WebP: 16383 pixels a side), wrap ErrInvalidOption.
func (im *Image) Encode(o EncodeOptions) ([]byte, error) {
	if !o.Format.Valid() {
		return nil, invalid("encode: format %q", o.Format)
	}
	if o.Quality < 0 || o.Quality > 100 {
		return nil, invalid("encode: quality %d", o.Quality)
	}
	if o.Lossless && (o.Format == JPEG) {
		return nil, invalid("encode: %s cannot be lossless", o.Format)
	}
	strip := !o.KeepICC && !o.KeepMetadata
	if side := maxEncodeSide(o.Format); im.Width() > side || im.Height() > side {
		return nil, invalid("encode %s: %dx%d is over the format's %d pixels a side", o.Format, im.Width(), im.Height(), side)
	}

	ref, err := im.ref.Copy()
	if err != nil {
		return nil, im.pixelError("encode", err)
	}
	defer ref.Close()
	out := &Image{ref: ref, src: im.src}
	if err := out.prepareForSave(o.Format); err != nil {
		return nil, err
	}
	if !strip || o.Format == HEIF || o.Format == GIF {
		// Some savers ignore strip: remove fields by hand.
		if !o.KeepMetadata {
			if err := ref.RemoveMetadata(); err != nil {
				return nil, im.pixelError("encode", err)
			}
		}
		if !o.KeepICC && ref.HasICCProfile() {
			if err := ref.RemoveICCProfile(); err != nil {
				return nil, im.pixelError("encode", err)
			}
		}
	}

	// Decode the source before the encoder runs: libvips 8.14's webpsave leaks
	// the decoded source when the source fails mid-save, and the error is clearer.
	if err := im.decodeSource(fmt.Sprintf("encode %s", o.Format)); err != nil {
		return nil, err
	}

	var data []byte
	switch o.Format {
	case JPEG:
		q := qualityOr(o.Quality, DefaultJPEGQuality)
		if strip && canEncodeJPEG(ref) {
			data, err = encodeJPEG(ref, q)
			break
		}
		data, _, err = ref.ExportJpeg(jpegParams(q, strip))
	case PNG:
		p := vips.NewPngExportParams()
		p.Compression = PNGCompression
		p.Filter = vips.PngFilterAll
		p.Interlace = false
		p.StripMetadata = strip
		data, _, err = ref.ExportPng(p)
	case WebP:
		p := vips.NewWebpExportParams()
		p.Quality = qualityOr(o.Quality, DefaultWebPQuality)
		p.Lossless = o.Lossless
		p.ReductionEffort = 4
		p.StripMetadata = strip
		data, _, err = ref.ExportWebp(p)
		if err == nil && !o.KeepMetadata {
			data = stripWebPMetadata(data)
		}
	case AVIF:
		p := vips.NewAvifExportParams()
		p.Quality = qualityOr(o.Quality, DefaultAVIFQuality)
		p.Lossless = o.Lossless
		p.Bitdepth = 8
		p.Effort = AVIFEffort
		p.StripMetadata = strip
		data, _, err = ref.ExportAvif(p)
	case HEIF:
		p := vips.NewHeifExportParams()
		p.Quality = qualityOr(o.Quality, DefaultHEIFQuality)
		p.Lossless = o.Lossless
		p.Bitdepth = 8
		p.Effort = AVIFEffort
		data, _, err = ref.ExportHeif(p)
	case GIF:
		p := vips.NewGifExportParams()
		data, _, err = ref.ExportGIF(p)
	case TIFF:
		p := vips.NewTiffExportParams()
		p.StripMetadata = strip
		data, _, err = ref.ExportTiff(p)
	}
	if err != nil {
		return nil, im.pixelError(fmt.Sprintf("encode %s", o.Format), err)
	}
	return data, nil
}

// jpegParams are libvips' jpegsave options for Encode; encodeJPEG writes the same bytes.
func jpegParams(quality int, strip bool) *vips.JpegExportParams {
	p := vips.NewJpegExportParams()
	p.Quality = quality
	p.Interlace = false
	p.OptimizeCoding = true
	p.SubsampleMode = vips.VipsForeignSubsampleAuto
	p.StripMetadata = strip
	return p
}

// prepareForSave converts what a saver would mangle: non-sRGB colourspaces and
// 16-bit to 8-bit sRGB (grey stays grey), and alpha for JPEG onto white.
func (im *Image) prepareForSave(f Format) error {
	ref := im.ref
	switch interp := ref.Interpretation(); {
	case interp == vips.InterpretationCMYK:
		if err := im.ToSRGB(); err != nil {
			return err
		}
	case (interp == vips.InterpretationBW || interp == vips.InterpretationSRGB) && ref.BandFormat() == vips.BandFormatUchar:
		// Savers take these as they are.
	default:
		if err := im.ensureRGB8(); err != nil {
			return err
		}
	}
	if f == JPEG {
		return im.Flatten(Color{R: 255, G: 255, B: 255, A: 255})
	}
	return nil
}

func qualityOr(q, def int) int {
	if q == 0 {
		return def
	}
	return q
}

// stripWebPMetadata removes EXIF and XMP chunks from a WebP file and clears their
// VP8X flags. libvips 8.14's webpsave writes an EXIF chunk even when told to
// strip. Malformed input is returned unchanged.
func stripWebPMetadata(data []byte) []byte {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return data
	}
	out := make([]byte, 12, len(data))
	copy(out, data[:12])
	vp8x := -1
	for i := 12; i < len(data); {
		if i+8 > len(data) {
			return data
		}
		n := int(binary.LittleEndian.Uint32(data[i+4 : i+8]))
		end := i + 8 + n + n&1
		if n < 0 || end > len(data) {
			if i+8+n == len(data) { // unpadded last chunk
				end = len(data)
			} else {
				return data
			}
		}
		switch string(data[i : i+4]) {
		case "EXIF", "XMP ":
		default:
			if string(data[i:i+4]) == "VP8X" {
				vp8x = len(out)
			}
			out = append(out, data[i:end]...)
		}
		i = end
	}
	if vp8x >= 0 && vp8x+9 <= len(out) {
		out[vp8x+8] &^= 0x08 | 0x04 // EXIF and XMP flags
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}
