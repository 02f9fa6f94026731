//go:build windows

package dirlock

import (
	"os"

	"golang.org/x/sys/windows"
)

// errWouldBlock is what lockFile returns when another process holds the
// lock.
var errWouldBlock error = windows.ERROR_LOCK_VIOLATION

// lockRange is where the lock sits: one byte far past the pid at offset 0,
// because Windows locks are mandatory and would stop a refused caller from
// reading who holds the file.
func lockRange() *windows.Overlapped { return &windows.Overlapped{OffsetHigh: 1} }

func lockFile(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, lockRange())
}

func unlockFile(f *os.File) {
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
}
