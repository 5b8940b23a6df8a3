//go:build unix && !aix

package filestore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// dirLock is a held lock on the directory's lock file.
type dirLock struct{ f *os.File }

// lock opens the lock file at path, creating it, and takes a flock on it.
// Each call opens the file anew: flock locks belong to an open file, so
// goroutines of one process exclude each other as processes do.
func lock(path string, exclusive bool) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return &dirLock{f}, nil
}

func (l *dirLock) unlock() error {
	// Closing the file releases the lock.
	return l.f.Close()
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
