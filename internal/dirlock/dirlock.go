// Package dirlock takes exclusive locks on folders for the life of a
// process, so that two bionas processes never write the same lab or run
// folder at once (they would clobber each other's metrics and checkpoints).
//
// A lock is an advisory lock (flock(2) on Unix, LockFileEx on Windows) on a
// file inside the folder. The kernel releases it when the process ends,
// however it ends (kill -9 included), so a crash never leaves a stale lock
// behind. The holder writes its pid into the file; a refused caller reads it
// back to say who holds the folder.
package dirlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrLocked is wrapped by the error of Acquire when another process holds
// the lock.
var ErrLocked = errors.New("held by another process")

// Lock is a held lock. Release it once; the process ending releases it too.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the exclusive lock on the file at path (created if
// missing) without waiting. what names the locked thing in errors ("lab",
// "search --out"). If another process holds it, the error wraps ErrLocked
// and names the file and the holder's pid.
func Acquire(path, what string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s %s: %w", what, path, err)
	}
	if err := lockFile(f); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("lock %s %s: %w (pid %s): wait for it to finish or stop it: %w",
				what, path, ErrLocked, holder, err)
		}
		return nil, fmt.Errorf("lock %s %s: %w", what, path, err)
	}
	// Record the holder for the error message of the next caller. A
	// failure here costs only that message, not the lock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release gives the lock up. The pid stays in the file: it is only read
// while the lock is held, so a stale pid is never reported.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	unlockFile(l.f)
	l.f.Close()
	l.f = nil
}

// readHolder returns the pid written in the lock file, or "unknown" (the
// holder may not have written it yet).
func readHolder(f *os.File) string {
	var b [32]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "unknown"
	}
	s := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(s); err != nil || s == "" {
		return "unknown"
	}
	return s
}
