//go:build !linux

package storage

import "os"

// writeDirect writes nothing: O_DIRECT is Linux's (see direct_linux.go).
func writeDirect(*os.File, []byte) (bool, error) { return false, nil }
