package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Materialize computes the image's pending operations once and keeps the result in
// memory, so that later reads — each output of a recipe, each encode — start from these
// pixels instead of decoding and transforming the source again. libvips is lazy and runs
// with its operation cache off, so without this every encode re-runs the whole pipeline
// from the compressed source. A broken source fails here with ErrCorrupt. The result
// keeps the image's metadata and SourceFormat.
func (im *Image) Materialize() error {
	switch {
	case refImageOffset < 0:
		return im.materializeTIFF()
	case inMemory(im.ref):
		return nil // a JPEG as Load decoded it, nothing done to it since
	}
	if err := materialize(im.ref); err != nil {
		return im.pixelError("materialize", err)
	}
	origin, err := im.ref.Copy()
	if err != nil {
		return im.pixelError("materialize", err)
	}
	if im.origin != nil {
		im.origin.Close()
	}
	// decodeSource now reads the memory image, not the decoder.
	im.origin = origin
	return nil
}

// materializeTIFF keeps the pixels as uncompressed TIFF in memory, for a govips whose
// ImageRef materialize cannot reach (refImageOffset).
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
