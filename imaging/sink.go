package imaging

/*
#cgo pkg-config: vips libjpeg
#include <stdlib.h>
#include "cvips.h"
#include "sink.h"
*/
import "C"

import (
	"errors"
	"strings"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// Why Pictor computes its images on the calling thread: libvips' sinks (the random-access
// load that decodes a whole image, vips_image_write to memory, every saver) run a thread
// pool even at concurrency 1, one worker computing a strip of 16 lines while the calling
// thread waits on a semaphore for it, a hand-off of two context switches a strip, plus a
// write-behind thread for the savers. On this machine a context switch costs 5-10 us of
// CPU, and a listing render of two outputs made about 250 of them: a tenth of the
// imaging CPU. sink.c does the same strips top to bottom with vips_region_prepare on the
// calling thread, where the wait is no hand-off at all. It covers the listing path:
// decoding a JPEG that libjpeg streams (decodeJPEG says why not a progressive one),
// materializing for several outputs, and writing a stripped JPEG. The rest (other
// formats, JPEGs that keep metadata) still goes through libvips' sinks.

// errSinkDeclined is the answer of a sink that leaves the work to libvips' own.
var errSinkDeclined = errors.New("left to libvips")

// takeVipsError returns libvips' error buffer as an error, and clears it.
func takeVipsError() error {
	cs := C.pictor_vips_error()
	defer C.free(unsafe.Pointer(cs))
	if msg := strings.TrimSpace(C.GoString(cs)); msg != "" {
		return errors.New(msg)
	}
	return errors.New("libvips gave no message")
}

// setRefImage puts img into ref in place of the image ref holds, which it releases, as
// govips' own operations do but without their lock: an Image is used by one goroutine at
// a time. ref takes over the caller's reference to img.
func setRefImage(ref *vips.ImageRef, img *C.VipsImage) {
	p := refImage(ref)
	old := *p
	*p = img
	C.g_object_unref(C.gpointer(old))
}

// materialize computes ref into memory on the calling thread, with its metadata, and puts
// the result into ref. It needs refImageOffset.
func materialize(ref *vips.ImageRef) error {
	var out *C.VipsImage
	if C.pictor_materialize(*refImage(ref), &out) != 0 {
		return takeVipsError()
	}
	setRefImage(ref, out)
	return nil
}

// loadJPEG decodes data, shrunk on load by shrink, into memory on the calling thread and
// puts the result into ref, whose header must be data's. It answers errSinkDeclined,
// leaving ref as it was, when the decoded image would take more than maxBytes, when
// libvips' operation cache is on (a cached loader would keep data), or when
// refImageOffset is not known.
func loadJPEG(ref *vips.ImageRef, data []byte, shrink int, maxBytes uint64) error {
	if refImageOffset < 0 || len(data) == 0 {
		return errSinkDeclined
	}
	var out *C.VipsImage
	switch C.pictor_jpeg_load(unsafe.Pointer(unsafe.SliceData(data)), C.size_t(len(data)), C.int(shrink), C.guint64(maxBytes), &out) {
	case 0:
		setRefImage(ref, out)
		return nil
	case 1:
		return errSinkDeclined
	}
	return takeVipsError()
}

// discThreshold is the largest image libvips' random-access loaders decode into memory;
// a larger one goes to a temporary file (VIPS_DISC_THRESHOLD, 100 MB by default).
func discThreshold() uint64 { return uint64(C.vips_get_disc_threshold()) }

// inMemory reports whether ref is an image computed into memory.
func inMemory(ref *vips.ImageRef) bool {
	return refImageOffset >= 0 && C.pictor_in_memory(*refImage(ref)) != 0
}

// canEncodeJPEG reports whether encodeJPEG takes ref: 8 bits, 1 or 3 bands, one page, no
// coding, and refImageOffset known.
func canEncodeJPEG(ref *vips.ImageRef) bool {
	b := ref.Bands()
	return refImageOffset >= 0 && ref.BandFormat() == vips.BandFormatUchar && (b == 1 || b == 3) &&
		ref.Coding() == vips.CodingNone && ref.Pages() == 1
}

// encodeJPEG writes ref as libvips' jpegsave does with strip, optimize_coding and
// subsample_mode auto, byte for byte, computing it on the calling thread.
func encodeJPEG(ref *vips.ImageRef, quality int) ([]byte, error) {
	var buf *C.uchar
	var n C.ulong
	if C.pictor_jpeg_encode(*refImage(ref), C.int(quality), &buf, &n) != 0 {
		return nil, takeVipsError()
	}
	defer C.vips_tracked_free(unsafe.Pointer(buf))
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))...), nil
}
