package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// TestRestartShowsInterruptedRunAndResumes opens the TUI on a lab folder
// left by a process that died during a run (run.json still says running):
// the run is listed as interrupted, R resumes it, and it finishes.
func TestRestartShowsInterruptedRunAndResumes(t *testing.T) {
	dir := t.TempDir()
	rd := filepath.Join(dir, "runs", "r0001")
	os.MkdirAll(rd, 0o755)
	os.WriteFile(filepath.Join(rd, lab.FileRun), []byte(`{"id":"r0001","kind":"search","spec":{"kind":"search","dataset":"mnist","method":"darts"},
		"status":"running","created":"2025-03-14T15:09:26Z","last":{"step":4,"total_steps":10,"epochs":1}}`), 0o644)
	os.WriteFile(filepath.Join(rd, lab.FileMetrics), []byte(`{"run":"r0001","seq":1,"kind":"step","time":"2025-03-14T15:09:27Z","step":4,"total_steps":10,"loss":1.5}`+"\n"), 0o644)
	f := &labtest.Fake{StepsPerEpoch: 10, Epochs: 1}
	l, err := lab.Open(lab.Options{Dir: dir, Backend: f.Backend(), FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := New(l, Options{Now: fixedNow, Width: 80, Height: 24})
	defer m.Close()
	if v := m.View(); !strings.Contains(v, "interrupted") || !strings.Contains(v, "r0001") {
		t.Fatalf("restarted lab view:\n%s", v)
	}
	var resume bool
	for _, b := range m.panes[paneRuns].Keys() {
		if b.Help().Key == "R" && b.Enabled() {
			resume = true
		}
	}
	if !resume {
		t.Fatal("R (resume) is not offered for the interrupted run")
	}
	drive(t, m, keys("R")...)
	if !strings.Contains(m.s.msg, "resumed r0001") {
		t.Fatalf("status line %q", m.s.msg)
	}
	got := waitRun(t, l, "r0001")
	if got.Status != lab.StatusDone || got.Resumes != 1 {
		t.Fatalf("after resume: %s, %d resumes", got.Status, got.Resumes)
	}
}

func waitRun(t *testing.T, l *lab.Lab, id string) lab.RunInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := l.Run(id)
		if !r.Status.Active() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s", id, r.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
