package lab

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bionaslab/bionas/internal/dirlock"
)

// FileRunLock is the lock file of a run folder. Whoever executes the run
// holds it for as long as it may write the folder: the lab for a job on
// its own goroutines, `bionas job run` on a compute node for an executor's
// job. The lab lock (lab.lock) is not enough once jobs run in other
// processes on other machines: it keeps two labs apart, this keeps a lab
// and a job (or two jobs) apart, run by run. The kernel drops it when its
// holder dies, so a node that crashed leaves no stale lock behind (on a
// shared file system too: Linux's NFS client maps flock to NFS locks).
const FileRunLock = "run.lock"

// ErrRunHeld is wrapped by the error of a run whose folder another live
// process holds.
var ErrRunHeld = errors.New("the run folder is held by another live job")

// lockRun takes run folder dir's lock without waiting.
func lockRun(dir string) (*dirlock.Lock, error) {
	path := filepath.Join(dir, FileRunLock)
	lk, err := dirlock.Acquire(path, "run "+filepath.Base(dir))
	if errors.Is(err, dirlock.ErrLocked) {
		return nil, fmt.Errorf("%w (%s); nothing was written: %w", ErrRunHeld, dir, err)
	}
	return lk, err
}
