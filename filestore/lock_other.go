//go:build !(unix && !aix) && !windows

package filestore

import (
	"fmt"
	"runtime"
)

type dirLock struct{}

// lock fails: this platform has no file locking the package can use, so
// New refuses to open a store on it.
func lock(path string, exclusive bool) (*dirLock, error) {
	return nil, fmt.Errorf("file locking is not supported on %s", runtime.GOOS)
}

func (l *dirLock) unlock() error { return nil }

func syncDir(dir string) error { return nil }
