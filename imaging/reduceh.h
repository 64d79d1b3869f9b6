#ifndef PICTOR_REDUCEH_H
#define PICTOR_REDUCEH_H

#include <stdint.h>
#include <vips/vips.h>

// Fractional bits of the weights: 1 << PICTOR_REDUCEH_BITS is a weight of one.
#define PICTOR_REDUCEH_BITS 14

// pictor_reduceh makes *out, in reduced to out_width pixels a row: output pixel x is the
// n input pixels from start[x] weighted by coef[x*stride..], stride being n rounded up to
// even (the pad weight 0). in must be 8-bit with 3 bands; every window inside the row.
int pictor_reduceh(VipsImage *in, VipsImage **out, int out_width, int n,
	const int *start, const int16_t *coef);

// pictor_reduceh_rows is the same reduction on rows in memory (packed, 3 bytes a pixel),
// by the best vector code the machine has (vector 1), by SSE2 alone (2) or by the scalar
// code (0); for tests.
int pictor_reduceh_rows(const uint8_t *in, int in_width, int height, uint8_t *out,
	int out_width, int n, const int *start, const int16_t *coef, int vector);

// pictor_reduceh_vector reports the vector code the machine runs: 2 SSSE3, 1 SSE2, 0
// none.
int pictor_reduceh_vector(void);

#endif
