//go:build windows

package filestore

import (
	"os"

	"golang.org/x/sys/windows"
)

// dirLock is a held lock on the directory's lock file.
type dirLock struct{ f *os.File }

// lock opens the lock file at path, creating it, and locks its first byte
// with LockFileEx. Each call opens the file anew: the lock belongs to the
// handle, so goroutines of one process exclude each other as processes do.
func lock(path string, exclusive bool) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	var flags uint32
	if exclusive {
		flags = windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	if err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, new(windows.Overlapped)); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "LockFileEx", Path: path, Err: err}
	}
	return &dirLock{f}, nil
}

func (l *dirLock) unlock() error {
	err := windows.UnlockFileEx(windows.Handle(l.f.Fd()), 0, 1, 0, new(windows.Overlapped))
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir does nothing on Windows, where directories cannot be synced and
// MoveFileEx, under os.Rename, is made durable by the file system.
func syncDir(dir string) error { return nil }
