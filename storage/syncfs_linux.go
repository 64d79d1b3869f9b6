package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes every write to the file system holding dir durable (syncfs(2)):
// file data, new names and renames alike.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
