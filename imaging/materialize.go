package imaging

import "github.com/davidbyttow/govips/v2/vips"

// Materialize computes the image's pending operations once and keeps the result in
// memory (as uncompressed TIFF), so that later reads — each output of a recipe, each
// encode — start from these pixels instead of decoding and transforming the source
// again. libvips is lazy and runs with its operation cache off, so without this every
// encode re-runs the whole pipeline from the compressed source. A broken source fails
// here with ErrCorrupt. The result keeps the image's metadata and SourceFormat.
func (im *Image) Materialize() error {
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
		return opError("materialize", err)
	}
	origin, err := ref.Copy()
	if err != nil {
		ref.Close()
		return opError("materialize", err)
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
