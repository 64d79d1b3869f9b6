// A vertical reduction of 8-bit images by a weighted window of rows per output row, as a
// libvips image: the companion of reduceh.c. Every byte of an output row is the same
// weighted sum of the bytes above one another in the window, so the sums run over whole
// rows 16 or 32 bytes at a time whatever the bands. See reduceh.go.

#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "reduceh.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSE2__) && defined(__GNUC__)
#include <immintrin.h>
#define PICTOR_AVX2 1
#endif

// vplan: output row y weighs the n input rows from start[y] by coef[y*stride..], stride
// being pictor_reduce_stride(n), PICTOR_REDUCEH_BITS fractional bits.
typedef pictor_plan vplan;

static inline uint8_t clip_u8(int32_t v) {
	v = (v + (1 << (PICTOR_REDUCEH_BITS - 1))) >> PICTOR_REDUCEH_BITS;
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

// sum_scalar writes out[i] = the weighted sum of rows[t][i], for i from i0 to len.
static void sum_scalar(const uint8_t *const *rows, const int16_t *c, int n, uint8_t *out, int i0, int len) {
	for (int i = i0; i < len; i++) {
		int32_t s = 0;
		for (int t = 0; t < n; t++)
			s += c[t] * rows[t][i];
		out[i] = clip_u8(s);
	}
}

#if defined(__SSE2__)
// sum_sse2 is sum_scalar 16 bytes at a time: the bytes of two rows are interleaved,
// widened to 16 bits and multiplied by the pair of weights with pmaddwd, which adds each
// pair into a 32-bit sum per byte; the sums are exact, rounded and clipped as
// sum_scalar does. It starts at byte i0 and returns where it stopped, less than 16 bytes
// before len.
static int sum_sse2(const uint8_t *const *rows, const int16_t *c, int n, uint8_t *out, int i0, int len) {
	const __m128i zero = _mm_setzero_si128();
	const __m128i half = _mm_set1_epi32(1 << (PICTOR_REDUCEH_BITS - 1));
	int i = i0;
	for (; i + 16 <= len; i += 16) {
		__m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
		for (int t = 0; t < n; t += 2) {
			__m128i x = _mm_loadu_si128((const __m128i *) (rows[t] + i));
			__m128i y = t + 1 < n ? _mm_loadu_si128((const __m128i *) (rows[t + 1] + i)) : zero;
			int32_t cc;
			memcpy(&cc, c + t, 4); // c[t+1] is the pad 0 when t+1 == n
			__m128i w = _mm_set1_epi32(cc);
			__m128i lo = _mm_unpacklo_epi8(x, y), hi = _mm_unpackhi_epi8(x, y);
			a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), w));
			a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), w));
			a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), w));
			a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), w));
		}
		a0 = _mm_srai_epi32(_mm_add_epi32(a0, half), PICTOR_REDUCEH_BITS);
		a1 = _mm_srai_epi32(_mm_add_epi32(a1, half), PICTOR_REDUCEH_BITS);
		a2 = _mm_srai_epi32(_mm_add_epi32(a2, half), PICTOR_REDUCEH_BITS);
		a3 = _mm_srai_epi32(_mm_add_epi32(a3, half), PICTOR_REDUCEH_BITS);
		__m128i v = _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3));
		_mm_storeu_si128((__m128i *) (out + i), v);
	}
	return i;
}
#endif

#if defined(PICTOR_AVX2)
// sum_avx2 is sum_sse2 32 bytes at a time. AVX2's unpacks and packs work within each
// 16-byte half, so the bytes come back in order.
__attribute__((target("avx2"))) static int sum_avx2(const uint8_t *const *rows, const int16_t *c, int n,
	uint8_t *out, int i0, int len) {
	const __m256i zero = _mm256_setzero_si256();
	const __m256i half = _mm256_set1_epi32(1 << (PICTOR_REDUCEH_BITS - 1));
	int i = i0;
	for (; i + 32 <= len; i += 32) {
		__m256i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
		for (int t = 0; t < n; t += 2) {
			__m256i x = _mm256_loadu_si256((const __m256i *) (rows[t] + i));
			__m256i y = t + 1 < n ? _mm256_loadu_si256((const __m256i *) (rows[t + 1] + i)) : zero;
			int32_t cc;
			memcpy(&cc, c + t, 4);
			__m256i w = _mm256_set1_epi32(cc);
			__m256i lo = _mm256_unpacklo_epi8(x, y), hi = _mm256_unpackhi_epi8(x, y);
			a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), w));
			a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), w));
			a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), w));
			a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), w));
		}
		a0 = _mm256_srai_epi32(_mm256_add_epi32(a0, half), PICTOR_REDUCEH_BITS);
		a1 = _mm256_srai_epi32(_mm256_add_epi32(a1, half), PICTOR_REDUCEH_BITS);
		a2 = _mm256_srai_epi32(_mm256_add_epi32(a2, half), PICTOR_REDUCEH_BITS);
		a3 = _mm256_srai_epi32(_mm256_add_epi32(a3, half), PICTOR_REDUCEH_BITS);
		__m256i v = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
		_mm256_storeu_si256((__m256i *) (out + i), v);
	}
	return i;
}

#endif

// sum_row computes one output row of len bytes by the best code the machine has
// (vector 1), by SSE2 alone (2), or by the scalar code (0), each taking what the one
// before left.
static void sum_row(const uint8_t *const *rows, const int16_t *c, int n, uint8_t *out, int len, int vector) {
	int i = 0;
#if defined(PICTOR_AVX2)
	if (vector == 1 && pictor_have_avx2())
		i = sum_avx2(rows, c, n, out, i, len);
#endif
#if defined(__SSE2__)
	if (vector)
		i = sum_sse2(rows, c, n, out, i, len);
#endif
	sum_scalar(rows, c, n, out, i, len);
}

int pictor_reducev_vector(void) {
#if defined(PICTOR_AVX2)
	if (pictor_have_avx2())
		return 2;
#endif
#if defined(__SSE2__)
	return 1;
#else
	return 0;
#endif
}

int pictor_reducev_rows(const uint8_t *in, int row_bytes, uint8_t *out, int out_height, int n,
	const int *start, const int16_t *coef, int vector) {
	const int stride = pictor_reduce_stride(n);
	const uint8_t *rows[n];
	for (int y = 0; y < out_height; y++) {
		for (int t = 0; t < n; t++)
			rows[t] = in + (size_t) (start[y] + t) * row_bytes;
		sum_row(rows, coef + (size_t) y * stride, n, out + (size_t) y * row_bytes, row_bytes, vector);
	}
	return 0;
}

static int gen(VipsRegion *or, void *seq, void *a, void *b, gboolean *stop) {
	VipsRegion *ir = (VipsRegion *) seq;
	const vplan *p = (const vplan *) b;
	const VipsRect *r = &or->valid;
	const int last = r->top + r->height - 1;
	VipsRect s = {
		.left = r->left,
		.top = p->start[r->top],
		.width = r->width,
		.height = p->start[last] + p->n - p->start[r->top],
	};
	if (vips_region_prepare(ir, &s))
		return -1;
	const int len = VIPS_REGION_SIZEOF_LINE(or);
	const uint8_t *rows[p->n];
	for (int y = r->top; y <= last; y++) {
		for (int t = 0; t < p->n; t++)
			rows[t] = VIPS_REGION_ADDR(ir, r->left, p->start[y] + t);
		sum_row(rows, p->coef + (size_t) y * p->stride, p->n, VIPS_REGION_ADDR(or, r->left, y), len, 1);
	}
	return 0;
}

int pictor_reducev(VipsImage *in, VipsImage **out, int out_height, int n,
	const int *start, const int16_t *coef) {
	return pictor_reduce_image("pictor_reducev", in, out, 1, out_height, n, start, coef, gen,
		VIPS_DEMAND_STYLE_FATSTRIP);
}
