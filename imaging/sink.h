#ifndef PICTOR_SINK_H
#define PICTOR_SINK_H

#include <stddef.h>
#include <vips/vips.h>

// Sinks that compute a libvips image on the calling thread, strip by strip, top to
// bottom, where libvips' own sinks hand every strip to a worker thread and back.

// pictor_materialize computes in into a new memory image *out that carries in's header
// and metadata.
int pictor_materialize(VipsImage *in, VipsImage **out);

// pictor_jpeg_load decodes the JPEG in buf, shrunk on load by shrink (1, 2, 4 or 8),
// into a new memory image *out, failing on libjpeg's warnings as libvips' fail option
// does. buf is not kept. It answers 1, and makes nothing, when the decoded image would
// take more than max_bytes, or when libvips' operation cache is on (a cached loader
// would keep buf).
int pictor_jpeg_load(const void *buf, size_t len, int shrink, guint64 max_bytes, VipsImage **out);

// pictor_in_memory reports whether in is an image in memory, computed.
int pictor_in_memory(VipsImage *in);

// pictor_jpeg_encode writes in as a baseline JPEG with optimised Huffman tables and no
// marker but the frame's own, as libvips' jpegsave does with strip, optimize_coding and
// subsample_mode auto: chroma halved both ways below quality 90, kept whole from 90
// up. in must be 8-bit with 1 or 3 bands and no coding. On success *out (free it with
// vips_tracked_free()) holds *len bytes.
int pictor_jpeg_encode(VipsImage *in, int quality, unsigned char **out, unsigned long *len);

#endif
