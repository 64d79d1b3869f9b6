package imaging

import (
	"errors"
	"fmt"
	"strings"

	"github.com/davidbyttow/govips/v2/vips"
)

// Sentinel errors. Every error returned by this package wraps at most one of them
// (test with errors.Is); the api package maps them to its answers.
var (
	// ErrTooManyPixels means the header declares more pixels (width*height) than
	// LoadOptions.MaxPixels allows. Nothing was decoded.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrUnsupportedFormat means the bytes are a format we recognise but do not
	// accept: SVG, PDF, BMP, JPEG 2000, JPEG XL, PSD, or one outside
	// LoadOptions.AllowedFormats.
	ErrUnsupportedFormat = errors.New("unsupported image format")
	// ErrCorrupt means the bytes are not an image, or the image is truncated or
	// cannot be decoded.
	ErrCorrupt = errors.New("corrupt image")
	// ErrInvalidOption means an argument to an operation is out of range or
	// unknown.
	ErrInvalidOption = errors.New("invalid image option")
	// ErrBusy means the Gate's wait queue is full: try again later.
	ErrBusy = errors.New("image processing busy")
	// ErrClosed means the Gate was closed because the process is stopping: try again
	// on another instance, or later.
	ErrClosed = errors.New("image processing stopped")
)

// vipsError strips the Go stack that govips appends to libvips' error buffer and
// keeps the first lines of the libvips message.
func vipsError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\nStack:"); i >= 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSpace(msg)
	lines := strings.Split(msg, "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	return strings.Join(lines, "; ")
}

// decodeMarkers are substrings of libvips/loader error messages that mean the
// source bytes could not be decoded.
var decodeMarkers = []string{
	"load", "vipsjpeg", "vipspng", "libpng", "spng", "nsgif", "tiff2vips", "tiffread",
	"premature", "truncated", "corrupt", "not enough data", "read error", "out of order",
	"unexpected end", "crc", "zlib", "idat", "decode",
}

// isDecodeError reports whether a libvips error message names a decoder.
func isDecodeError(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range decodeMarkers {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// pixelError wraps an error of a libvips operation on im. Decoding is lazy and
// any operation may compute pixels (a smart crop, a trim, a resize or rotate that
// reads lines as it is built), so the cause may be a broken source. libvips' error
// buffer is process-global (a concurrent failure can take or mix the messages), so
// rather than trust the message, the source is decoded once more to decide (only
// on this failure path): a source that fails again is ErrCorrupt.
func (im *Image) pixelError(op string, err error) error {
	msg := vipsError(err)
	var broken bool
	if im.data != nil {
		broken = sourceBroken(im.data)
	} else {
		broken = msg == "" || isDecodeError(msg)
	}
	if msg == "" {
		msg = "libvips gave no message"
	}
	if broken {
		return fmt.Errorf("%s: %s: %w", op, msg, ErrCorrupt)
	}
	return fmt.Errorf("%s: %s", op, msg)
}

// sourceBroken decodes data in full, at full scale, and reports whether that
// fails. Not at a JPEG shrink: libvips 8.14 passes libjpeg's warnings (a
// premature end of a data segment) as failures only when it decodes at scale 1,
// so a source that failed a full-size pipeline would pass a 1/8 check.
func sourceBroken(data []byte) bool {
	p := importParams()
	ref, err := vips.LoadImageFromBuffer(data, p)
	if err != nil {
		return true
	}
	defer ref.Close()
	_, err = ref.Average()
	return err != nil
}

// opError wraps a failure of a libvips operation with no source behind it to judge
// (loading itself, an image made from raw pixels); operations on an Image use
// pixelError.
func opError(op string, err error) error {
	return fmt.Errorf("%s: %s", op, vipsError(err))
}

// invalid returns an ErrInvalidOption with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidOption)
}
