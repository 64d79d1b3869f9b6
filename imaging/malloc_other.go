//go:build !linux

package imaging

func tuneMalloc(MallocConfig) bool { return false }

// ReleaseMemory gives the C allocator's free memory back to the system; off Linux it
// does nothing and reports false.
func ReleaseMemory() bool { return false }

// ReadMallocStats returns what the C allocator holds now; off Linux ok is false.
func ReadMallocStats() (s MallocStats, ok bool) { return MallocStats{}, false }
