package storage

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment O_DIRECT asks of a write's buffer, offset and length:
// 4096 covers devices of 512- and 4096-byte logical blocks.
const directAlign = 4096

// directMin is the size from which an object's bytes are written with O_DIRECT.
const directMin = 256 << 10

// writeDirect writes b to the new file f, the 4096-byte-aligned part of a large,
// aligned buffer with O_DIRECT and the rest through the page cache. Originals are
// written once and read back rarely: copying megabytes into the page cache costs more
// CPU than anything else a store does (on a VM whose freed pages go back to the host,
// about 1 ms per MB), and the cached copies only push renditions out of the cache. The
// store's sync still makes the bytes durable. It reports false, having written
// nothing, when b does not qualify or the file system refuses O_DIRECT (tmpfs).
func writeDirect(f *os.File, b []byte) (bool, error) {
	n := len(b) &^ (directAlign - 1)
	if len(b) < directMin || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign != 0 {
		return false, nil
	}
	fd := int(f.Fd())
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return false, nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_DIRECT); err != nil {
		return false, nil // the file system does not do O_DIRECT
	}
	done, err := f.Write(b[:n])
	if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags); ferr != nil && err == nil {
		err = ferr
	}
	if errors.Is(err, unix.EINVAL) && done%directAlign == 0 {
		// Larger logical blocks than directAlign: the rest goes through the cache.
		err = nil
	}
	if err != nil {
		return true, err
	}
	_, err = f.Write(b[done:])
	return true, err
}
