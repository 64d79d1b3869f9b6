package imaging

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"

	"github.com/davidbyttow/govips/v2/vips"
)

// Info is what an image's header says, read without decoding pixels.
type Info struct {
	// Format is the detected file format.
	Format Format
	// Width and Height are the stored dimensions, before EXIF orientation.
	Width, Height int
	// HasAlpha reports an alpha channel (or PNG/GIF transparency).
	HasAlpha bool
	// Orientation is the EXIF orientation 1..8; 1 when absent.
	Orientation int
	// Pages is the number of pages or frames; 1 for a still image.
	Pages int
}

// OrientedSize returns Width and Height after the EXIF orientation is applied
// (swapped for orientations 5..8).
func (i Info) OrientedSize() Size {
	if i.Orientation >= 5 && i.Orientation <= 8 {
		return Size{Width: i.Height, Height: i.Width}
	}
	return Size{Width: i.Width, Height: i.Height}
}

// Size is a width and height in pixels.
type Size struct {
	Width, Height int
}

// LoadOptions controls Load. The zero value loads any accepted format at full size
// with no pixel limit.
type LoadOptions struct {
	// MaxPixels refuses images whose header declares more than this many pixels
	// (width*height) with ErrTooManyPixels, before any decode; default 0 (no limit).
	MaxPixels int64
	// ShrinkTo lets the decoder shrink while it decodes (JPEG DCT scaling by 2, 4 or
	// 8; WebP scaled decode) by the largest factor that keeps the oriented image at
	// least ShrinkTo in both dimensions (a zero dimension is unconstrained); default
	// zero (decode at full size). Other formats are never shrunk on load.
	ShrinkTo Size
	// AllowedFormats limits the accepted input formats; default nil means
	// DefaultFormats(). Other formats fail with ErrUnsupportedFormat.
	AllowedFormats []Format
}

// Image is a decoded (lazily: libvips decodes on first pixel access) image. Its
// operations mutate it in place. An Image is not safe for concurrent use; Close it
// when done. The data passed to Load must not be modified while the Image is open.
type Image struct {
	ref    *vips.ImageRef
	src    Format
	data   []byte         // the encoded source, to re-check it when pixels fail
	origin *vips.ImageRef // the image as loaded (shares the decoder with ref)
}

// ensureStarted starts libvips with the defaults if the program did not call
// Startup.
func ensureStarted() {
	Startup(DefaultStartupConfig(), slog.Default())
}

func importParams() *vips.ImportParams {
	p := vips.NewImportParams() // fail on decoder warnings (truncated data)
	p.FailOnError.Set(true)
	return p
}

// loadHeader sniffs data and opens it with libvips, which reads the header only.
// It returns the bytes it opened: data itself, or for a JPEG with harmless header
// faults a tidied copy (see tidyJPEG), which every later decode of the image uses.
func loadHeader(data []byte) (*vips.ImageRef, Format, []byte, error) {
	f, err := sniff(data)
	if err != nil {
		return nil, "", data, err
	}
	if err := sameLoader(data, f); err != nil {
		return nil, f, data, err
	}
	if f == JPEG {
		data = tidyJPEG(data)
	}
	ensureStarted()
	ref, err := vips.LoadImageFromBuffer(data, importParams())
	if err != nil {
		if errors.Is(err, vips.ErrUnsupportedImageFormat) && !vips.IsTypeSupported(vipsType(f)) {
			return nil, f, data, fmt.Errorf("no libvips loader for %s: %w", f, ErrUnsupportedFormat)
		}
		return nil, f, data, fmt.Errorf("read %s header: %s: %w", f, vipsError(err), ErrCorrupt)
	}
	return ref, f, data, nil
}

// sameLoader refuses data that govips would hand to another loader than the one for
// f, the format sniff found. govips picks the loader from its own reading of the
// magic bytes, which differs from sniff for polyglots: an ISO media file whose
// compatible brands name AVIF but whose major brand does not, with "%PDF" in its
// first kilobyte, goes to poppler's PDF loader whatever sniff decided. The refusal
// is ErrUnsupportedFormat, before any loader runs. AVIF and HEIF share libheif's
// loader. Bytes govips cannot place (under 12 bytes, or an ISO media file whose
// major brand is not HEIF's) pass: the load then fails as ErrCorrupt.
func sameLoader(data []byte, f Format) error {
	got := vips.DetermineImageType(data)
	switch {
	case got == vipsType(f), got == vips.ImageTypeUnknown: // unknown: the load fails, ErrCorrupt
		return nil
	case (f == AVIF || f == HEIF) && (got == vips.ImageTypeAVIF || got == vips.ImageTypeHEIF):
		return nil
	}
	return fmt.Errorf("signature says %s, libvips would read it as %s: %w", f, vips.ImageTypes[got], ErrUnsupportedFormat)
}

// vipsType maps a Format to govips' image type.
func vipsType(f Format) vips.ImageType {
	switch f {
	case JPEG:
		return vips.ImageTypeJPEG
	case PNG:
		return vips.ImageTypePNG
	case WebP:
		return vips.ImageTypeWEBP
	case AVIF:
		return vips.ImageTypeAVIF
	case GIF:
		return vips.ImageTypeGIF
	case TIFF:
		return vips.ImageTypeTIFF
	case HEIF:
		return vips.ImageTypeHEIF
	}
	return vips.ImageTypeUnknown
}

func infoOf(ref *vips.ImageRef, f Format) Info {
	o := ref.Orientation()
	if o < 1 || o > 8 {
		o = 1
	}
	pages := ref.Pages()
	if pages < 1 {
		pages = 1
	}
	return Info{Format: f, Width: ref.Width(), Height: ref.Height(), HasAlpha: ref.HasAlpha(), Orientation: o, Pages: pages}
}

// Probe reads the header of an encoded image without decoding pixels. SVG, PDF and
// other refused formats fail with ErrUnsupportedFormat; unknown or unreadable bytes
// with ErrCorrupt. Dimensions are as stored, before EXIF orientation.
func Probe(data []byte) (Info, error) {
	ref, f, _, err := loadHeader(data)
	if err != nil {
		return Info{}, fmt.Errorf("probe: %w", err)
	}
	defer ref.Close()
	return infoOf(ref, f), nil
}

// Load opens an encoded image: it sniffs the format, reads the header, enforces
// opts.AllowedFormats and opts.MaxPixels before any decode, and applies
// shrink-on-load for opts.ShrinkTo. A JPEG that libjpeg streams is decoded here
// (decodeJPEG), other images lazily; a truncated or corrupt body is reported as
// ErrCorrupt by Load or, at the latest, by the first operation that reads pixels
// (Encode, Trim, Sharpness...). GIF loads its first frame. EXIF orientation stays
// pending (see AutoOrient), except that a WebP shrunk on load is already upright.
func Load(data []byte, opts LoadOptions) (*Image, error) {
	f, err := sniff(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	allowed := opts.AllowedFormats
	if allowed == nil {
		allowed = DefaultFormats()
	}
	if !slices.Contains(allowed, f) {
		return nil, fmt.Errorf("load %s: not allowed: %w", f, ErrUnsupportedFormat)
	}
	if opts.MaxPixels < 0 || opts.ShrinkTo.Width < 0 || opts.ShrinkTo.Height < 0 {
		return nil, invalid("load: negative limit")
	}
	ref, _, data, err := loadHeader(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	info := infoOf(ref, f)
	if opts.MaxPixels > 0 && int64(info.Width)*int64(info.Height) > opts.MaxPixels {
		ref.Close()
		return nil, fmt.Errorf("load: %dx%d is more than %d pixels: %w", info.Width, info.Height, opts.MaxPixels, ErrTooManyPixels)
	}
	switch {
	case f == JPEG:
		s := 1
		if opts.ShrinkTo != (Size{}) {
			s = jpegShrink(info.OrientedSize(), opts.ShrinkTo)
		}
		if ref, err = decodeJPEG(ref, data, s, discThreshold()); err != nil {
			return nil, err
		}
	case f == WebP && opts.ShrinkTo != (Size{}):
		if box, ok := webpShrink(info.OrientedSize(), opts.ShrinkTo); ok {
			shrunk, err := webpThumbnail(data, box, opts.ShrinkTo)
			if err != nil {
				ref.Close()
				return nil, fmt.Errorf("load webp shrink: %s: %w", vipsError(err), ErrCorrupt)
			}
			// vips_thumbnail picks its loader itself: it must be WebP's too.
			if got := shrunk.Format(); got != vips.ImageTypeWEBP {
				shrunk.Close()
				ref.Close()
				return nil, fmt.Errorf("load webp shrink: libvips read it as %s: %w", vips.ImageTypes[got], ErrUnsupportedFormat)
			}
			ref.Close()
			ref = shrunk
		}
	}
	origin, err := ref.Copy()
	if err != nil {
		ref.Close()
		return nil, opError("load", err)
	}
	return &Image{ref: ref, src: f, data: data, origin: origin}, nil
}

// decodeJPEG decodes the JPEG data, whose header ref holds, shrunk on load by shrink,
// into memory on the calling thread (loadJPEG) when libjpeg streams it (one interleaved
// scan) and it takes at most maxBytes there. Otherwise it leaves the decoding to libvips
// as the pipeline first reads pixels: from ref itself, or from a new loader that
// shrinks. A JPEG in several scans is left so because libjpeg holds every coefficient of
// it (50 MB for a 3840x2160 photograph, in pieces under the malloc arena's mapping
// threshold): decoded on the calling thread those pieces fragmented the arena so that
// peak RSS at 32 clients on the progressive benchmark rose from about 420 to 520 MiB,
// for a saving there of nothing measurable (the decode is 300 ms of Huffman decoding).
// It returns the image to go on with; on error it has closed ref.
func decodeJPEG(ref *vips.ImageRef, data []byte, shrink int, maxBytes uint64) (*vips.ImageRef, error) {
	err := errSinkDeclined
	if jpegCoefficientBytes(data) == 0 {
		err = loadJPEG(ref, data, shrink, maxBytes)
	}
	switch {
	case err == nil:
		return ref, nil
	case !errors.Is(err, errSinkDeclined):
		ref.Close()
		return nil, fmt.Errorf("load jpeg shrink %d: %s: %w", shrink, err, ErrCorrupt)
	case shrink == 1:
		return ref, nil
	}
	p := importParams()
	p.JpegShrinkFactor.Set(shrink)
	shrunk, err := vips.LoadImageFromBuffer(data, p)
	ref.Close()
	if err != nil {
		return nil, fmt.Errorf("load jpeg shrink %d: %s: %w", shrink, vipsError(err), ErrCorrupt)
	}
	return shrunk, nil
}

// jpegShrink returns the largest libjpeg scale-down (1, 2, 4 or 8) that keeps
// the oriented image at least target and at least one pixel each way. libvips
// rounds the shrunk size down (libjpeg's extra column is cropped), and a side
// that rounds to 0 aborts the process in libvips 8.14 (a failed sanity
// assertion, not an error), so the division here rounds down too.
func jpegShrink(oriented, target Size) int {
	for _, s := range []int{8, 4, 2} {
		w, h := oriented.Width/s, oriented.Height/s
		if w >= max(target.Width, 1) && h >= max(target.Height, 1) {
			return s
		}
	}
	return 1
}

// webpThumbnail decodes a WebP shrunk into box through vips_thumbnail, which drives
// libwebp's scaled decode and applies the EXIF orientation. Should libvips round the
// result below target, it decodes again into a box one pixel larger each way.
func webpThumbnail(data []byte, box, target Size) (*vips.ImageRef, error) {
	shrunk, err := vips.LoadThumbnailFromBuffer(data, box.Width, box.Height, vips.InterestingNone, vips.SizeDown, importParams())
	if err == nil && (shrunk.Width() < target.Width || shrunk.Height() < target.Height) {
		shrunk.Close()
		shrunk, err = vips.LoadThumbnailFromBuffer(data, box.Width+1, box.Height+1, vips.InterestingNone, vips.SizeDown, importParams())
	}
	return shrunk, err
}

// webpShrink returns the box to thumbnail a WebP into so that it stays at least
// target, and whether shrinking is worth it (a factor of 2 or more).
func webpShrink(oriented, target Size) (Size, bool) {
	if oriented.Width <= 0 || oriented.Height <= 0 {
		return Size{}, false
	}
	scale := math.Max(float64(target.Width)/float64(oriented.Width), float64(target.Height)/float64(oriented.Height))
	if scale > 0.5 {
		return Size{}, false
	}
	if scale <= 0 {
		scale = 1 / float64(max(oriented.Width, oriented.Height)) // a zero target: any size
	}
	// The box that scale gives exactly, so that a resize to the target afterwards has
	// nothing left to do: a box one pixel larger made vips_thumbnail decode to 801x501
	// for an 800x500 target, and resampling that by 0.999 cost a quarter of the render
	// and blurred it. vips_thumbnail fits inside the box, at a scale of at least scale,
	// so both sides cover the target (Load checks, for libvips' rounding).
	w := int(math.Ceil(float64(oriented.Width) * scale))
	h := int(math.Ceil(float64(oriented.Height) * scale))
	return Size{Width: min(w, oriented.Width), Height: min(h, oriented.Height)}, true
}

// Close frees the image's libvips resources. It is safe to call more than once.
func (im *Image) Close() {
	if im == nil || im.ref == nil {
		return
	}
	im.ref.Close()
	im.ref = nil
	if im.origin != nil {
		im.origin.Close()
		im.origin = nil
	}
	im.data = nil
}

// decodeSource makes libvips decode the whole source now (its loaders keep the
// decoded pixels for the pipeline), so that a broken source is reported before
// an encoder runs. A no-op for images not made by Load.
func (im *Image) decodeSource(op string) error {
	if im.origin == nil {
		return nil
	}
	o := &Image{ref: im.origin}
	if _, err := o.pixel(0, 0); err != nil {
		return im.pixelError(op, err)
	}
	return nil
}

// Copy returns an independent Image sharing the decoded source pixels, for
// rendering several outputs from one decode. Operations on either do not affect the
// other; steps applied before the copy are re-evaluated lazily by each.
func (im *Image) Copy() (*Image, error) {
	ref, err := im.ref.Copy()
	if err != nil {
		return nil, im.pixelError("copy", err)
	}
	c := &Image{ref: ref, src: im.src, data: im.data}
	if im.origin != nil {
		if c.origin, err = im.origin.Copy(); err != nil {
			ref.Close()
			return nil, im.pixelError("copy", err)
		}
	}
	return c, nil
}

// Width returns the current width in pixels.
func (im *Image) Width() int { return im.ref.Width() }

// Height returns the current height in pixels.
func (im *Image) Height() int { return im.ref.Height() }

// HasAlpha reports whether the image has an alpha channel.
func (im *Image) HasAlpha() bool { return im.ref.HasAlpha() }

// SourceFormat returns the format the image was loaded from.
func (im *Image) SourceFormat() Format { return im.src }

// Orientation returns the EXIF orientation still pending, 1..8; 1 once AutoOrient
// has applied it or when the source had none.
func (im *Image) Orientation() int {
	o := im.ref.Orientation()
	if o < 1 || o > 8 {
		return 1
	}
	return o
}

// setRef replaces the wrapped image, closing the old one.
func (im *Image) setRef(ref *vips.ImageRef) {
	if ref == im.ref {
		return
	}
	im.ref.Close()
	im.ref = ref
}
