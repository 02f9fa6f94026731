//go:build unix

package main

import "syscall"

// minorFaults returns the process's minor page faults so far (0 where
// getrusage fails).
func minorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Minflt)
}
