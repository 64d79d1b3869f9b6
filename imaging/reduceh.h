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
// by the vector code when vector is set and the machine has it, else by the scalar code;
// for tests.
int pictor_reduceh_rows(const uint8_t *in, int in_width, int height, uint8_t *out,
	int out_width, int n, const int *start, const int16_t *coef, int vector);

// pictor_reduceh_vector reports whether the vector code is built in.
int pictor_reduceh_vector(void);

#endif
