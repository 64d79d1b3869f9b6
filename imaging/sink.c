#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

#include "sink.h"

// Lines computed at a time, as many as libvips' own sinks hand a worker (its "fat
// strips"), and a whole MCU row of a JPEG with chroma halved down.
#define STRIP 16

int pictor_materialize(VipsImage *in, VipsImage **out) {
	if (vips_image_pio_input(in))
		return -1;
	VipsImage *o = vips_image_new_memory();
	if (vips_image_pipelinev(o, VIPS_DEMAND_STYLE_ANY, in, NULL) || vips_image_write_prepare(o)) {
		g_object_unref(o);
		return -1;
	}
	// pipelinev makes o downstream of in and hands it in's progress_signal: a loader's
	// output image, held by no reference. o outlives in and its loader, so it must
	// neither keep that pointer nor pass it on to the images made from it.
	o->progress_signal = NULL;
	VipsRegion *from = vips_region_new(in);
	VipsRegion *to = vips_region_new(o);
	VipsRect all = {0, 0, o->Xsize, o->Ysize};
	int failed = !from || !to || vips_region_image(to, &all);
	for (int y = 0; !failed && y < in->Ysize; y += STRIP) {
		VipsRect r = {0, y, in->Xsize, VIPS_MIN(STRIP, in->Ysize - y)};
		failed = vips_region_prepare_to(from, to, &r, 0, y);
	}
	if (from)
		g_object_unref(from);
	if (to)
		g_object_unref(to);
	if (failed) {
		g_object_unref(o);
		return -1;
	}
	*out = o;
	return 0;
}

int pictor_in_memory(VipsImage *in) {
	return (in->dtype == VIPS_IMAGE_SETBUF || in->dtype == VIPS_IMAGE_SETBUF_FOREIGN) &&
		in->data && !in->generate_fn;
}

int pictor_jpeg_load(const void *buf, size_t len, int shrink, guint64 max_bytes, VipsImage **out) {
	if (vips_cache_get_max() > 0)
		return 1;
	VipsImage *t;
	if (vips_jpegload_buffer((void *) buf, len, &t, "access", VIPS_ACCESS_SEQUENTIAL,
			"shrink", shrink, "fail", TRUE, NULL))
		return -1;
	if (VIPS_IMAGE_SIZEOF_IMAGE(t) > max_bytes) {
		g_object_unref(t);
		return 1;
	}
	int r = pictor_materialize(t, out);
	g_object_unref(t);
	// The loader marks its output as readable top to bottom only; *out is not.
	if (!r)
		vips_image_remove(*out, VIPS_META_SEQUENTIAL);
	return r;
}

// encoder is pictor_jpeg_encode's error manager and destination: where error_exit
// returns to, and the output, in a buffer it owns (libjpeg's own memory destination
// leaves a freed pointer behind when an error stops it after the buffer grew). It lives
// on the heap: what libjpeg changes in it after setjmp is then still known after the
// longjmp.
typedef struct {
	struct jpeg_error_mgr err;
	struct jpeg_destination_mgr dest;
	jmp_buf jmp;
	unsigned char *buf;
	size_t cap;
} encoder;

static encoder *encoder_of(j_compress_ptr cinfo) { return (encoder *) cinfo->client_data; }

static void init_destination(j_compress_ptr cinfo) {
	encoder *e = encoder_of(cinfo);
	e->dest.next_output_byte = e->buf;
	e->dest.free_in_buffer = e->cap;
}

// empty_output_buffer is called with the buffer full: it doubles it.
static boolean empty_output_buffer(j_compress_ptr cinfo) {
	encoder *e = encoder_of(cinfo);
	unsigned char *b = vips_tracked_malloc(2 * e->cap);
	if (!b)
		ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
	memcpy(b, e->buf, e->cap);
	vips_tracked_free(e->buf);
	e->buf = b;
	e->dest.next_output_byte = b + e->cap;
	e->dest.free_in_buffer = e->cap;
	e->cap *= 2;
	return TRUE;
}

static void term_destination(j_compress_ptr cinfo) { (void) cinfo; }

static void error_exit(j_common_ptr cinfo) {
	char msg[JMSG_LENGTH_MAX];
	(*cinfo->err->format_message)(cinfo, msg);
	vips_error("pictor_jpeg_encode", "%s", msg);
	longjmp(((encoder *) cinfo->err)->jmp, 1); // err is encoder's first field
}

// libjpeg's compressor warns only of what a caller did wrong; none is an error here.
static void emit_message(j_common_ptr cinfo, int level) {
	(void) cinfo;
	(void) level;
}

int pictor_jpeg_encode(VipsImage *in, int quality, unsigned char **out, unsigned long *len) {
	if (in->BandFmt != VIPS_FORMAT_UCHAR || (in->Bands != 1 && in->Bands != 3) ||
		in->Coding != VIPS_CODING_NONE || quality < 1 || quality > 100) {
		vips_error("pictor_jpeg_encode", "not an 8-bit image of 1 or 3 bands, or quality not 1-100");
		return -1;
	}
	if (vips_image_pio_input(in))
		return -1;
	VipsRegion *region = vips_region_new(in);
	if (!region)
		return -1;
	encoder *e = g_new0(encoder, 1);
	// A tenth of the pixels' bytes holds most JPEGs of quality 80 whole.
	e->cap = VIPS_MAX(16384, VIPS_IMAGE_SIZEOF_IMAGE(in) / 10);
	if (!(e->buf = vips_tracked_malloc(e->cap))) {
		g_free(e);
		g_object_unref(region);
		return -1;
	}
	struct jpeg_compress_struct cinfo;
	cinfo.client_data = e; // kept by jpeg_create_compress
	cinfo.err = jpeg_std_error(&e->err);
	e->err.error_exit = error_exit;
	e->err.emit_message = emit_message;
	if (setjmp(e->jmp)) {
		jpeg_destroy_compress(&cinfo);
		vips_tracked_free(e->buf);
		g_free(e);
		g_object_unref(region);
		return -1;
	}
	jpeg_create_compress(&cinfo);
	e->dest.init_destination = init_destination;
	e->dest.empty_output_buffer = empty_output_buffer;
	e->dest.term_destination = term_destination;
	cinfo.dest = &e->dest;
	cinfo.image_width = in->Xsize;
	cinfo.image_height = in->Ysize;
	cinfo.input_components = in->Bands;
	cinfo.in_color_space = in->Bands == 3 ? JCS_RGB : JCS_GRAYSCALE;
	jpeg_set_defaults(&cinfo);
	cinfo.optimize_coding = TRUE;
	jpeg_set_quality(&cinfo, quality, TRUE);
	if (quality >= 90)
		for (int i = 0; i < in->Bands; i++) {
			cinfo.comp_info[i].h_samp_factor = 1;
			cinfo.comp_info[i].v_samp_factor = 1;
		}
	cinfo.write_JFIF_header = FALSE;
	jpeg_start_compress(&cinfo, TRUE);
	JSAMPROW rows[STRIP];
	for (int y = 0; y < in->Ysize; y += STRIP) {
		VipsRect r = {0, y, in->Xsize, VIPS_MIN(STRIP, in->Ysize - y)};
		if (vips_region_prepare(region, &r)) {
			jpeg_destroy_compress(&cinfo);
			vips_tracked_free(e->buf);
			g_free(e);
			g_object_unref(region);
			return -1;
		}
		for (int i = 0; i < r.height; i++)
			rows[i] = (JSAMPROW) VIPS_REGION_ADDR(region, 0, y + i);
		jpeg_write_scanlines(&cinfo, rows, r.height);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	g_object_unref(region);
	*out = e->buf;
	*len = e->cap - e->dest.free_in_buffer;
	g_free(e);
	return 0;
}
