#ifndef PICTOR_CVIPS_H
#define PICTOR_CVIPS_H

#include <vips/vips.h>

// pictor_vips_error takes libvips' error buffer; the caller frees it.
static inline char *pictor_vips_error(void) {
	char *s = g_strdup(vips_error_buffer());
	vips_error_clear();
	return s;
}

#endif
