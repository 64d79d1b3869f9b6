package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// alignedAt returns n bytes of a pattern starting off bytes past a 4096-byte boundary.
func alignedAt(n, off int) []byte {
	buf := make([]byte, n+2*directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&buf[0]))%directAlign)) % directAlign
	b := buf[skip+off : skip+off+n]
	for i := range b {
		b[i] = byte(i*31 + i/4096)
	}
	return b
}

// Large objects are written past the page cache and read back byte for byte, whatever
// their length and alignment; small and unaligned ones go through the cache.
func TestWriteDirect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		b          []byte
		wantDirect bool
	}{
		{"aligned, ragged tail", alignedAt(1<<20+123, 0), true},
		{"aligned, whole blocks", alignedAt(2<<20, 0), true},
		{"unaligned buffer", alignedAt(1<<20, 1), false},
		{"small", alignedAt(4096, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			direct, err := writeDirect(f, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if !direct {
				if _, err := f.Write(tc.b); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if direct != tc.wantDirect && !(tc.wantDirect && !supportsDirect(t, dir)) {
				t.Errorf("written with O_DIRECT: %v, want %v", direct, tc.wantDirect)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, tc.b) {
				t.Errorf("read back %d bytes (%v), want the %d written", len(got), err, len(tc.b))
			}
		})
	}
	// Through the store: a large original survives the round trip.
	l, err := NewLocal(LocalConfig{Dir: filepath.Join(dir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := l.EnsureBucket(ctx, "originals"); err != nil {
		t.Fatal(err)
	}
	b := alignedAt(3<<20+77, 0)
	if err := l.Put(ctx, "originals", "big", b, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(l.objectPath("originals", "big"))
	if err != nil || !bytes.Equal(got, b) {
		t.Errorf("stored %d bytes (%v), want %d", len(got), err, len(b))
	}
}

// supportsDirect tells whether dir's file system takes O_DIRECT (tmpfs before Linux 6.6
// does not); there the store writes through the cache and the test says so.
func supportsDirect(t *testing.T, dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, ".probe"), os.O_CREATE|os.O_RDWR|unix.O_DIRECT, 0o600)
	if err != nil {
		t.Logf("%s refuses O_DIRECT: %v", dir, err)
		return false
	}
	f.Close()
	return true
}
