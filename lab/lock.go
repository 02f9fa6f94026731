package lab

import "github.com/bionaslab/bionas/internal/dirlock"

// lockDir takes the exclusive lock on <dir>/lab.lock, so that two
// processes never run the same lab (they would both write its runs). The
// kernel releases it when the process dies, however it dies; a refused
// caller's error names the holder's pid.
func lockDir(path string) (release func(), err error) {
	l, err := dirlock.Acquire(path, "lab")
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}
