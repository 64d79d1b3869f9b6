//go:build linux

package imaging

/*
#include <stdlib.h>
#include <malloc.h>

// pictor_tune_malloc applies each setting >= 0 to glibc's malloc and reports whether
// malloc took them all; off glibc (musl) it does nothing and reports 0.
static int pictor_tune_malloc(int arenas, int mmap_threshold, int trim_threshold) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	int ok = 1;
	if (arenas >= 0 && mallopt(M_ARENA_MAX, arenas) != 1) ok = 0;
	if (mmap_threshold >= 0 && mallopt(M_MMAP_THRESHOLD, mmap_threshold) != 1) ok = 0;
	if (trim_threshold >= 0 && mallopt(M_TRIM_THRESHOLD, trim_threshold) != 1) ok = 0;
	return ok;
#else
	return 0;
#endif
}

static int pictor_malloc_trim(void) {
#ifdef __GLIBC__
	return malloc_trim(0);
#else
	return 0;
#endif
}

// pictor_mallinfo fills in the bytes held by malloc's arenas (in use and free) and
// those in chunks mapped one by one.
static int pictor_mallinfo(size_t *arena, size_t *free, size_t *mapped) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();
	*arena = mi.arena;
	*free = mi.fordblks;
	*mapped = mi.hblkhd;
	return 1;
#else
	return 0;
#endif
}
*/
import "C"

// tuneMalloc applies c to the C allocator; a field < 0 is left as glibc has it. It
// reports whether the allocator took every setting (false off glibc).
func tuneMalloc(c MallocConfig) bool {
	return C.pictor_tune_malloc(C.int(c.Arenas), C.int(c.MmapThreshold), C.int(c.TrimThreshold)) == 1
}

// ReleaseMemory gives the C allocator's free memory back to the system (glibc's
// malloc_trim): what libvips and its decoders freed and malloc kept for reuse. It
// reports whether any memory was given back.
func ReleaseMemory() bool {
	return C.pictor_malloc_trim() == 1
}

// ReadMallocStats returns what the C allocator holds now; ok is false where it cannot
// tell (off glibc).
func ReadMallocStats() (s MallocStats, ok bool) {
	var arena, free, mapped C.size_t
	if C.pictor_mallinfo(&arena, &free, &mapped) != 1 {
		return MallocStats{}, false
	}
	return MallocStats{Arenas: int64(arena), Free: int64(free), Mapped: int64(mapped)}, true
}
