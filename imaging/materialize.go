package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Materialize computes the image's pending operations once and keeps the result in
// memory, so that later reads — each output of a recipe, each encode — start from these
// pixels instead of decoding and transforming the source again. libvips is lazy and runs
// with its operation cache off, so without this every encode re-runs the whole pipeline
// from the compressed source. A broken source fails here with ErrCorrupt. The result
// keeps the image's metadata and SourceFormat.
func (im *Image) Materialize() error {
	if inPlace(im.ref) {
		return im.materializeInPlace()
	}
	return im.materializeTIFF()
}

// inPlace tells whether materializeInPlace can take ref: libvips' draw operations take
// an ink of three or four values, so 3- and 4-band images of known coding.
func inPlace(ref *vips.ImageRef) bool {
	b := ref.Bands()
	return (b == 3 || b == 4) && ref.Coding() == vips.CodingNone
}

// materializeInPlace has libvips compute the image into one memory buffer in place.
// govips has no call for that (vips_image_copy_memory), but every libvips draw
// operation first makes its image writable in memory (vips_image_inplace), which for a
// lazy image means computing it into a buffer and swapping that in: drawing an empty
// rectangle does exactly that and paints nothing. One pass and one copy, about 2 ms
// less than a round trip through uncompressed TIFF for an 800x500 photograph.
func (im *Image) materializeInPlace() error {
	if err := im.ref.DrawRect(vips.ColorRGBA{}, 0, 0, 0, 0, true); err != nil {
		return im.pixelError("materialize", err)
	}
	origin, err := im.ref.Copy()
	if err != nil {
		return im.pixelError("materialize", err)
	}
	if im.origin != nil {
		im.origin.Close()
	}
	// decodeSource now reads the buffer, not the decoder.
	im.origin = origin
	return nil
}

// materializeTIFF keeps the pixels as uncompressed TIFF in memory, for the images the
// draw operations do not take (grey, grey with alpha, more bands, LABQ).
func (im *Image) materializeTIFF() error {
	p := vips.NewTiffExportParams()
	p.Compression = vips.TiffCompressionNone
	p.StripMetadata = false
	p.Quality = 100
	buf, _, err := im.ref.ExportTiff(p)
	if err != nil {
		return im.pixelError("materialize", err)
	}
	ref, err := vips.LoadImageFromBuffer(buf, importParams())
	if err != nil {
		return im.pixelError("materialize", err)
	}
	origin, err := ref.Copy()
	if err != nil {
		ref.Close()
		return im.pixelError("materialize", err)
	}
	im.ref.Close()
	if im.origin != nil {
		im.origin.Close()
	}
	// data stays the encoded source: errors are still judged against it. The TIFF
	// buffer lives on in ref, which keeps what it was loaded from.
	im.ref, im.origin = ref, origin
	return nil
}
