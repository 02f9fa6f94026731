package dirlock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHoldLockChild is the lock holder of TestLockAcrossProcesses in a
// child process (it does nothing in a normal test run): it takes the lock,
// says so on stdout and waits to be killed.
func TestHoldLockChild(t *testing.T) {
	path := os.Getenv("DIRLOCK_TEST_HOLD")
	if path == "" {
		return
	}
	if _, err := Acquire(path, "test"); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute)
	os.Exit(0)
}

func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockChild$")
	cmd.Env = append(os.Environ(), "DIRLOCK_TEST_HOLD="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	_, err = Acquire(path, "test")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second process got the lock: %v", err)
	}
	for _, want := range []string{path, "pid " + strconv.Itoa(cmd.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// kill -9 of the holder frees the lock: no stale lock file.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	l, err := Acquire(path, "test")
	if err != nil {
		t.Fatalf("after kill -9 of the holder: %v", err)
	}
	l.Release()
}

func TestLockInOneProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"second acquire is refused", func(t *testing.T) {
			l, err := Acquire(path, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			_, err = Acquire(path, "test")
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
				t.Fatalf("second acquire: %v", err)
			}
		}},
		{"release frees it", func(t *testing.T) {
			l, err := Acquire(path, "test")
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
			l.Release() // twice is harmless
			l2, err := Acquire(path, "test")
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			l2.Release()
		}},
		{"missing folder", func(t *testing.T) {
			_, err := Acquire(filepath.Join(path, "no", "such"), "test")
			if err == nil || errors.Is(err, ErrLocked) {
				t.Fatalf("lock in a missing folder: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
