// A horizontal reduction of 8-bit, 3-band images by a weighted window per output pixel,
// as a libvips image: Debian's libvips 8.14 reduces horizontally in scalar C (its
// vertical reduction has a vector path), and that pass was the largest part of a
// listing resize after the JPEG decode. See reduceh.go.

#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "reduceh.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The plan: for output pixel x, n weights at coef[x*stride] (stride is
// pictor_reduce_stride(n), the pad weights 0) over the input pixels start[x] ..
// start[x]+n-1, all inside the row. Weights are fixed point with PICTOR_REDUCEH_BITS
// fractional bits.
typedef pictor_plan plan;

static inline int clip_u8(int32_t v) {
	v = (v + (1 << (PICTOR_REDUCEH_BITS - 1))) >> PICTOR_REDUCEH_BITS;
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

// row_scalar reduces one row: in is the input row from input pixel base, out the output
// row from output pixel x0, for the w output pixels from x0.
static void row_scalar(const plan *p, const uint8_t *in, int base, uint8_t *out, int x0, int w) {
	for (int x = x0; x < x0 + w; x++) {
		const uint8_t *q = in + 3 * (p->start[x] - base);
		const int16_t *c = p->coef + (size_t) x * p->stride;
		int32_t r = 0, g = 0, b = 0;
		for (int t = 0; t < p->n; t++) {
			r += c[t] * q[3 * t];
			g += c[t] * q[3 * t + 1];
			b += c[t] * q[3 * t + 2];
		}
		out[0] = clip_u8(r);
		out[1] = clip_u8(g);
		out[2] = clip_u8(b);
		out += 3;
	}
}

#if defined(__SSE2__)
// load4 reads pixel q and the first byte of the next; load3 only pixel q, for the last
// pixel of a window, which may end the region's buffer.
static inline __m128i load4(const uint8_t *q) {
	int32_t v;
	memcpy(&v, q, 4);
	return _mm_cvtsi32_si128(v);
}

static inline __m128i load3(const uint8_t *q) {
	return _mm_cvtsi32_si128(q[0] | q[1] << 8 | q[2] << 16);
}

// pixel_sse2 adds to acc the weights from t on, two at a time: the bytes of two
// neighbouring pixels are interleaved (r0 r1 g0 g1 b0 b1), widened to 16 bits and
// multiplied by the pair of weights with pmaddwd, which adds each pair into a 32-bit sum
// per band. Then it rounds, clips and writes the pixel. The arithmetic is row_scalar's:
// the sums are exact, and rounding and clipping are the same.
static inline void pixel_sse2(__m128i acc, const uint8_t *q, const int16_t *c, int t, int n, uint8_t *out) {
	const __m128i zero = _mm_setzero_si128();
	int32_t cc;
	for (; t + 2 < n; t += 2) {
		__m128i ab = _mm_unpacklo_epi8(load4(q + 3 * t), load4(q + 3 * t + 3));
		memcpy(&cc, c + t, 4);
		acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_unpacklo_epi8(ab, zero), _mm_set1_epi32(cc)));
	}
	// One or two weights left; the last reads its pixel alone.
	__m128i a = t + 1 < n ? load4(q + 3 * t) : load3(q + 3 * t);
	__m128i b = t + 1 < n ? load3(q + 3 * t + 3) : zero;
	memcpy(&cc, c + t, 4); // c[t+1] is a pad 0 when t+1 == n
	__m128i ab = _mm_unpacklo_epi8(a, b);
	acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_unpacklo_epi8(ab, zero), _mm_set1_epi32(cc)));

	acc = _mm_srai_epi32(_mm_add_epi32(acc, _mm_set1_epi32(1 << (PICTOR_REDUCEH_BITS - 1))), PICTOR_REDUCEH_BITS);
	int32_t px = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(acc, zero), zero));
	out[0] = px & 0xff;
	out[1] = (px >> 8) & 0xff;
	out[2] = (px >> 16) & 0xff;
}

// row_sse2 is row_scalar by pixel_sse2.
static void row_sse2(const plan *p, const uint8_t *in, int base, uint8_t *out, int x0, int w) {
	for (int x = x0; x < x0 + w; x++, out += 3)
		pixel_sse2(_mm_setzero_si128(), in + 3 * (p->start[x] - base), p->coef + (size_t) x * p->stride, 0, p->n, out);
}
#endif

#if defined(__SSE2__) && defined(__GNUC__)
#include <immintrin.h>
#define PICTOR_SSSE3 1

// store_pixel rounds the three sums in acc's low lanes to bytes, clipped, and writes
// them, as pixel_sse2 ends.
static inline void store_pixel(__m128i acc, uint8_t *out) {
	acc = _mm_srai_epi32(_mm_add_epi32(acc, _mm_set1_epi32(1 << (PICTOR_REDUCEH_BITS - 1))), PICTOR_REDUCEH_BITS);
	int32_t px = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(acc, acc), acc));
	out[0] = px & 0xff;
	out[1] = (px >> 8) & 0xff;
	out[2] = (px >> 16) & 0xff;
}

// fast_end is where, from x0, the output pixels stop whose whole padded window (stride
// weights, and the two pixels a 16-byte load of the last four reaches past them) lies
// within the avail pixels of the row from base: before it the vector code takes the
// weights four at a time, the pads' 0 weighing the pixels past the window.
static int fast_end(const plan *p, int base, int avail, int x0, int w) {
	int x = x0 + w;
	while (x > x0 && p->start[x - 1] - base + p->stride + 2 > avail)
		x--;
	return x;
}

// The pshufb masks that spread the bytes of pixels 0 and 1 (lo), or 2 and 3 (hi), of a
// 16-byte load into 16-bit lanes: r0 r1 g0 g1 b0 b1.
#define LO_MASK 0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1
#define HI_MASK 6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1

// row_ssse3 is row_sse2 four weights at a time, a 16-byte load a step (pixels t to t+5,
// of which t to t+3 are used): pshufb spreads the bytes of two pixel pairs into 16-bit
// lanes in one instruction each, where pixel_sse2 needs two loads and two unpacks a
// pair. Before fast_end every step is whole, over the padded window; after it the steps
// stop where a load would pass the window, and pixel_sse2 takes the last weights.
__attribute__((target("ssse3"))) static void row_ssse3(const plan *p, const uint8_t *in, int base,
	int avail, uint8_t *out, int x0, int w) {
	const __m128i lo = _mm_setr_epi8(LO_MASK);
	const __m128i hi = _mm_setr_epi8(HI_MASK);
	const int n = p->n, fast = fast_end(p, base, avail, x0, w);
	for (int x = x0; x < x0 + w; x++, out += 3) {
		const uint8_t *q = in + 3 * (p->start[x] - base);
		const int16_t *c = p->coef + (size_t) x * p->stride;
		__m128i acc = _mm_setzero_si128();
		const int end = x < fast ? p->stride : n - 5;
		int t = 0;
		for (; t < end; t += 4) {
			__m128i v = _mm_loadu_si128((const __m128i *) (q + 3 * t));
			__m128i cc = _mm_loadl_epi64((const __m128i *) (c + t));
			acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_shuffle_epi8(v, lo), _mm_shuffle_epi32(cc, 0x00)));
			acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_shuffle_epi8(v, hi), _mm_shuffle_epi32(cc, 0x55)));
		}
		if (x < fast)
			store_pixel(acc, out);
		else
			pixel_sse2(acc, q, c, t, n, out);
	}
}

// row_avx2 is row_ssse3's whole steps for two output pixels at once, one in each 16-byte
// half of the AVX2 registers (pshufb and pmaddwd work within the halves); the pixels
// from fast_end on go to row_ssse3.
__attribute__((target("avx2"))) static void row_avx2(const plan *p, const uint8_t *in, int base,
	int avail, uint8_t *out, int x0, int w) {
	const __m256i lo = _mm256_setr_epi8(LO_MASK, LO_MASK);
	const __m256i hi = _mm256_setr_epi8(HI_MASK, HI_MASK);
	const __m256i half = _mm256_set1_epi32(1 << (PICTOR_REDUCEH_BITS - 1));
	const int fast = fast_end(p, base, avail, x0, w), stride = p->stride;
	int x = x0;
	for (; x + 1 < fast; x += 2, out += 6) {
		const uint8_t *q0 = in + 3 * (p->start[x] - base);
		const uint8_t *q1 = in + 3 * (p->start[x + 1] - base);
		const int16_t *c0 = p->coef + (size_t) x * stride;
		const int16_t *c1 = c0 + stride;
		__m256i acc = _mm256_setzero_si256();
		for (int t = 0; t < stride; t += 4) {
			__m256i v = _mm256_inserti128_si256(
				_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *) (q0 + 3 * t))),
				_mm_loadu_si128((const __m128i *) (q1 + 3 * t)), 1);
			__m256i cc = _mm256_inserti128_si256(
				_mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *) (c0 + t))),
				_mm_loadl_epi64((const __m128i *) (c1 + t)), 1);
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(v, lo), _mm256_shuffle_epi32(cc, 0x00)));
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(v, hi), _mm256_shuffle_epi32(cc, 0x55)));
		}
		acc = _mm256_srai_epi32(_mm256_add_epi32(acc, half), PICTOR_REDUCEH_BITS);
		acc = _mm256_packus_epi16(_mm256_packs_epi32(acc, acc), acc);
		int32_t a = _mm256_extract_epi32(acc, 0), b = _mm256_extract_epi32(acc, 4);
		out[0] = a & 0xff;
		out[1] = (a >> 8) & 0xff;
		out[2] = (a >> 16) & 0xff;
		out[3] = b & 0xff;
		out[4] = (b >> 8) & 0xff;
		out[5] = (b >> 16) & 0xff;
	}
	if (x < x0 + w)
		row_ssse3(p, in, base, avail, out, x, x0 + w - x);
}

#endif

// row reduces the w output pixels from x0 by the best code the machine has (vector 1),
// by SSE2 alone (2), by SSSE3 at best (3), or by the scalar code (0). in is the input
// row from pixel base, avail pixels of it readable.
static void row(const plan *p, const uint8_t *in, int base, int avail, uint8_t *out, int x0, int w, int vector) {
#if defined(PICTOR_SSSE3)
	if (vector == 1 && pictor_have_avx2()) {
		row_avx2(p, in, base, avail, out, x0, w);
		return;
	}
	if ((vector == 1 || vector == 3) && pictor_have_ssse3()) {
		row_ssse3(p, in, base, avail, out, x0, w);
		return;
	}
#endif
#if defined(__SSE2__)
	if (vector) {
		row_sse2(p, in, base, out, x0, w);
		return;
	}
#endif
	row_scalar(p, in, base, out, x0, w);
}

int pictor_reduceh_vector(void) {
#if defined(PICTOR_SSSE3)
	if (pictor_have_avx2())
		return 3;
	if (pictor_have_ssse3())
		return 2;
#endif
#if defined(__SSE2__)
	return 1;
#else
	return 0;
#endif
}

int pictor_reduceh_rows(const uint8_t *in, int in_width, int height, uint8_t *out,
	int out_width, int n, const int *start, const int16_t *coef, int vector) {
	plan p = {n, pictor_reduce_stride(n), out_width, (int *) start, (int16_t *) coef};
	for (int y = 0; y < height; y++)
		row(&p, in + (size_t) y * in_width * 3, 0, in_width, out + (size_t) y * out_width * 3, 0, out_width, vector);
	return 0;
}

static int gen(VipsRegion *or, void *seq, void *a, void *b, gboolean *stop) {
	VipsRegion *ir = (VipsRegion *) seq;
	const plan *p = (const plan *) b;
	const VipsRect *r = &or->valid;
	const int last = r->left + r->width - 1;
	// The windows, and the padding the vector code reads past the last ones where the
	// image has it.
	VipsRect s = {
		.left = p->start[r->left],
		.top = r->top,
		.width = VIPS_MIN(p->start[last] + p->stride + 2, ir->im->Xsize) - p->start[r->left],
		.height = r->height,
	};
	if (vips_region_prepare(ir, &s))
		return -1;
	for (int y = r->top; y < r->top + r->height; y++)
		row(p, VIPS_REGION_ADDR(ir, s.left, y), s.left, s.width, VIPS_REGION_ADDR(or, r->left, y), r->left, r->width, 1);
	return 0;
}

int pictor_reduce_image(const char *who, VipsImage *in, VipsImage **out, int vertical, int out_len,
	int n, const int *start, const int16_t *coef, VipsGenerateFn gen, VipsDemandStyle style) {
	if (in->BandFmt != VIPS_FORMAT_UCHAR || in->Coding != VIPS_CODING_NONE || n < 1 || out_len < 1) {
		vips_error(who, "not an 8-bit image, or an empty plan");
		return -1;
	}
	const int in_len = vertical ? in->Ysize : in->Xsize;
	for (int x = 0; x < out_len; x++)
		if (start[x] < 0 || start[x] + n > in_len) {
			vips_error(who, "window %d outside the image", x);
			return -1;
		}
	VipsImage *o = vips_image_new();
	plan *p = VIPS_NEW(VIPS_OBJECT(o), plan);
	int stride = pictor_reduce_stride(n);
	int *st = VIPS_ARRAY(VIPS_OBJECT(o), out_len, int);
	int16_t *co = VIPS_ARRAY(VIPS_OBJECT(o), (size_t) out_len * stride, int16_t);
	if (!p || !st || !co || vips_image_pipelinev(o, style, in, NULL)) {
		g_object_unref(o);
		return -1;
	}
	memcpy(st, start, sizeof(int) * out_len);
	memcpy(co, coef, sizeof(int16_t) * out_len * stride);
	*p = (plan) {n, stride, out_len, st, co};
	if (vertical)
		o->Ysize = out_len;
	else
		o->Xsize = out_len;
	// The output holds a reference to its input for as long as it lives.
	g_object_ref(in);
	vips_object_local(o, in);
	if (vips_image_generate(o, vips_start_one, gen, vips_stop_one, in, p)) {
		g_object_unref(o);
		return -1;
	}
	*out = o;
	return 0;
}

int pictor_reduceh(VipsImage *in, VipsImage **out, int out_width, int n,
	const int *start, const int16_t *coef) {
	if (in->Bands != 3) {
		vips_error("pictor_reduceh", "not a 3-band image");
		return -1;
	}
	return pictor_reduce_image("pictor_reduceh", in, out, 0, out_width, n, start, coef, gen,
		VIPS_DEMAND_STYLE_THINSTRIP);
}

int pictor_reduce(VipsImage *in, VipsImage **out, int vertical, int out_len, int n,
	const int *start, const int16_t *coef) {
	return vertical ? pictor_reducev(in, out, out_len, n, start, coef)
			: pictor_reduceh(in, out, out_len, n, start, coef);
}
