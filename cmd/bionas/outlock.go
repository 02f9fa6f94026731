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
// a crashed run can always be resumed. A folder that lockOut created and
// that the command left empty (it failed before writing anything: a
// dataset that does not open, say) is removed on release.
func lockOut(cmd, out string) (release func(), err error) {
	_, statErr := os.Stat(out)
	created := os.IsNotExist(statErr)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("%s: --out: %w", cmd, err)
	}
	lockPath := filepath.Join(out, outLockFile)
	l, err := dirlock.Acquire(lockPath, cmd+" --out")
	if err != nil {
		return nil, fmt.Errorf("%s: --out %s is in use: %w", cmd, out, err)
	}
	return func() {
		empty := false
		if created {
			entries, err := os.ReadDir(out)
			empty = err == nil && len(entries) == 1 && entries[0].Name() == outLockFile
		}
		if empty {
			_ = os.Remove(lockPath) // still held: nobody else can have taken it
		}
		l.Release()
		if empty {
			_ = os.Remove(out) // fails, harmlessly, if anything appeared meanwhile
		}
	}, nil
}
