//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package jobs

import (
	"errors"
	"os"
	"syscall"
)

// errLockHeld is tryLock's answer when another open file holds the lock.
var errLockHeld = errors.New("lock held")

// tryLock takes an exclusive advisory lock on f without waiting; errLockHeld when another
// process (or another open file) holds it. Closing f releases it, as does the death of
// the process.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}

// lockFiles says whether tryLock works on this system.
const lockFiles = true
