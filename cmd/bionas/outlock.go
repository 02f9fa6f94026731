package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bionaslab/bionas/internal/dirlock"
)

// outLockFile is the lock file of a command's --out folder.
const outLockFile = ".bionas.lock"

// lockOut creates the --out folder of cmd if needed and takes its
// exclusive lock for the life of the command, as the lab does for its
// folder: two processes writing one folder would clobber each other's
// metrics and checkpoints. The second gets an error naming the folder and
// the holder's pid; the lock dies with its process (kill -9 included), so
// a crashed run can always be resumed.
func lockOut(cmd, out string) (release func(), err error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("%s: --out: %w", cmd, err)
	}
	l, err := dirlock.Acquire(filepath.Join(out, outLockFile), cmd+" --out")
	if err != nil {
		return nil, fmt.Errorf("%s: --out %s is in use: %w", cmd, out, err)
	}
	return l.Release, nil
}
