#ifndef PICTOR_REDUCEH_H
#define PICTOR_REDUCEH_H

#include <stdint.h>
#include <vips/vips.h>

// Fractional bits of the weights: 1 << PICTOR_REDUCEH_BITS is a weight of one.
#define PICTOR_REDUCEH_BITS 14

// pictor_reduce_stride is how many weights a plan keeps per output pixel or row: n
// rounded up to a multiple of 4, the pad weights 0, so that vector code may take the
// weights four at a time.
static inline int pictor_reduce_stride(int n) { return (n + 3) & ~3; }

#if defined(__SSE2__) && defined(__GNUC__)
// pictor_have_avx2 and pictor_have_ssse3 report whether the machine runs AVX2 and SSSE3,
// for the code built for them beside the SSE2 every x86-64 has.
static inline int pictor_have_avx2(void) { return __builtin_cpu_supports("avx2"); }
static inline int pictor_have_ssse3(void) { return __builtin_cpu_supports("ssse3"); }
#endif

// pictor_plan is a reduction as reduceh.c and reducev.c keep it: output pixel (or row) x
// weighs the n input pixels (or rows) from start[x] by coef[x*stride..].
typedef struct {
	int n;
	int stride;
	int out_len;
	int *start;
	int16_t *coef;
} pictor_plan;

// pictor_reduce_image makes *out, in reduced to out_len pixels a row (vertical 0) or
// out_len rows (1) by gen, whose b argument is a copy of the plan that *out keeps; who
// names the caller in errors. in must be 8-bit and uncoded, every window inside it.
int pictor_reduce_image(const char *who, VipsImage *in, VipsImage **out, int vertical, int out_len,
	int n, const int *start, const int16_t *coef, VipsGenerateFn gen, VipsDemandStyle style);

// pictor_reduce is pictor_reducev when vertical, pictor_reduceh otherwise.
int pictor_reduce(VipsImage *in, VipsImage **out, int vertical, int out_len, int n,
	const int *start, const int16_t *coef);

// pictor_reduceh makes *out, in reduced to out_width pixels a row: output pixel x is the
// n input pixels from start[x] weighted by coef[x*stride..], stride being
// pictor_reduce_stride(n). in must be 8-bit with 3 bands; every window inside the row.
int pictor_reduceh(VipsImage *in, VipsImage **out, int out_width, int n,
	const int *start, const int16_t *coef);

// pictor_reduceh_rows is the same reduction on rows in memory (packed, 3 bytes a pixel),
// by the best vector code the machine has (vector 1), by SSE2 alone (2), by SSSE3 at
// best (3) or by the scalar code (0); for tests.
int pictor_reduceh_rows(const uint8_t *in, int in_width, int height, uint8_t *out,
	int out_width, int n, const int *start, const int16_t *coef, int vector);

// pictor_reduceh_vector reports the vector code the machine runs: 3 AVX2, 2 SSSE3, 1
// SSE2, 0 none.
int pictor_reduceh_vector(void);

// pictor_reducev makes *out, in reduced to out_height rows: output row y is the n input
// rows from start[y] weighted by coef[y*stride..], stride being pictor_reduce_stride(n).
// in must be 8-bit, any bands; every window inside the column.
int pictor_reducev(VipsImage *in, VipsImage **out, int out_height, int n,
	const int *start, const int16_t *coef);

// pictor_reducev_rows is the same reduction on rows of row_bytes bytes in memory, by the
// best vector code the machine has (vector 1), by SSE2 alone (2) or by the scalar code
// (0); for tests.
int pictor_reducev_rows(const uint8_t *in, int row_bytes, uint8_t *out, int out_height, int n,
	const int *start, const int16_t *coef, int vector);

// pictor_reducev_vector reports the vector code pictor_reducev runs: 2 AVX2, 1 SSE2, 0
// none.
int pictor_reducev_vector(void);

#endif
