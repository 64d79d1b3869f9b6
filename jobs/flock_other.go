//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package jobs

import (
	"errors"
	"os"
)

var errLockHeld = errors.New("lock held")

// tryLock is not available here: liveness goes by heartbeats alone.
func tryLock(*os.File) error { return errors.ErrUnsupported }

// lockFiles says whether tryLock works on this system.
const lockFiles = false
