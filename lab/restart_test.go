package lab_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// TestHelperLabProcess is not a test: TestRestartAfterKill runs the test
// binary again with BIONAS_LAB_HELPER set, and this function, in that child
// process, opens the lab, finishes one run, starts a long one and waits to
// be killed.
func TestHelperLabProcess(t *testing.T) {
	dir := os.Getenv("BIONAS_LAB_HELPER")
	if dir == "" {
		t.Skip("helper process for TestRestartAfterKill")
	}
	f := &labtest.Fake{StepsPerEpoch: 20, Epochs: 1000, Delay: time.Millisecond}
	l, err := lab.Open(lab.Options{Dir: dir, Backend: f.Backend(), FlushInterval: 5 * time.Millisecond})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	done, _ := l.Start(lab.Spec{Kind: lab.KindSearch, Epochs: 1})
	l.WaitRun(context.Background(), done.ID)
	long, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	for {
		r, _ := l.Run(long.ID)
		if r.Last.Step >= 50 { // two epochs checkpointed, and it keeps writing
			break
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println("RUNNING", long.ID)
	select {} // until killed
}

// TestRestartAfterKill kills a lab process (SIGKILL: no clean-up of any
// kind) while a run writes, several times at different moments, and checks
// that the lab reopens with every run listed, the killed run interrupted
// and resumable, and every run folder whole.
func TestRestartAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	for i, extra := range []time.Duration{0, 7 * time.Millisecond, 23 * time.Millisecond} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLabProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "BIONAS_LAB_HELPER="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			id := ""
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "RUNNING "); ok {
					id = rest
					break
				}
			}
			if id == "" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("helper never started its long run")
			}
			time.Sleep(extra)
			cmd.Process.Kill()
			cmd.Wait()

			// Reopen: Open removes the temporary file of an atomic write
			// the kill may have cut short; everything else must parse.
			l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 20, Epochs: 3})
			runs := l.Runs()
			if len(runs) != 2 {
				t.Fatalf("runs after restart: %+v", runs)
			}
			for _, r := range runs {
				if err := lab.CheckRunFolder(filepath.Join(dir, "runs", r.ID)); err != nil {
					t.Fatalf("run folder corrupt: %v", err)
				}
			}
			if runs[0].Status != lab.StatusDone {
				t.Fatalf("finished run is %s after restart", runs[0].Status)
			}
			k := runs[1]
			if k.ID != id || k.Status != lab.StatusInterrupted || !k.Status.Resumable() {
				t.Fatalf("killed run %s is %s", k.ID, k.Status)
			}
			s, _ := l.Snapshot(id)
			if len(s.Points) == 0 || s.Alphas == nil || s.Genotype == nil {
				t.Fatalf("killed run lost its data: %d points, alphas %v", len(s.Points), s.Alphas != nil)
			}
			for i := 1; i < len(s.Points); i++ {
				if s.Points[i].Kind == lab.EventStep && s.Points[i-1].Kind == lab.EventStep && s.Points[i].Step != s.Points[i-1].Step+1 {
					t.Fatalf("metrics out of order at line %d: %d after %d", i+1, s.Points[i].Step, s.Points[i-1].Step)
				}
			}

			// Resume it: the job restarts from its last checkpoint (epoch 2
			// of the replacement fake's 3) and completes.
			if _, err := l.Resume(id); err != nil {
				t.Fatal(err)
			}
			got := wait(t, l, id)
			if got.Status != lab.StatusDone {
				t.Fatalf("resumed run: %s %q", got.Status, got.Error)
			}
			s, _ = l.Snapshot(id)
			if !strings.Contains(strings.Join(s.Log, "\n"), "resumed at epoch") {
				t.Fatalf("resume ignored the checkpoint: %q", s.Log)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if err := lab.CheckRunFolder(filepath.Join(dir, "runs", r.ID)); err != nil {
					t.Fatalf("after resume: %v", err)
				}
			}
		})
	}
}
