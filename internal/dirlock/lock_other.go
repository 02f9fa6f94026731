//go:build !unix && !windows

package dirlock

import (
	"errors"
	"os"
)

// errWouldBlock never happens here: these systems (js, wasip1, plan9) have
// no advisory locks, so a folder must not be opened by two processes.
var errWouldBlock = errors.New("would block")

func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
