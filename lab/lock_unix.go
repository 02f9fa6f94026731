//go:build unix

package lab

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on <dir>/lab.lock, so that two
// processes never run the same lab (they would both write its runs). The
// kernel releases it when the process dies, however it dies.
func lockDir(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock lab: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock lab %s: another bionas process has this lab open (%w)", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
