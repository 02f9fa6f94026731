package lab_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/internal/dirlock"
	"github.com/bionaslab/bionas/lab"
)

// queuedRun writes a run folder as a lab leaves it for an executor's job:
// run.json, status queued.
func queuedRun(t *testing.T, labDir, id string, spec lab.Spec, job lab.ExecJob) string {
	t.Helper()
	dir := filepath.Join(labDir, "runs", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	info := lab.RunInfo{ID: id, Kind: spec.Kind, Spec: spec, Status: lab.StatusQueued, Created: time.Unix(1e9, 0), Job: job}
	b, err := jsonMarshalIndent(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, lab.FileRun), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRunJob runs a run folder as a compute node's job does, and checks
// what it refuses: a folder another process holds (nothing written), a
// run that is done, a folder that is not a run's.
func TestRunJob(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network")
	}
	labDir := t.TempDir()
	spec := lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bp", Epochs: 1, Subset: 32, BatchSize: 8, C: 2, Cells: 2, Seed: 3, Device: "cpu"}
	dir := queuedRun(t, labDir, "r0001", spec, lab.ExecJob{})
	env := map[string]string{"SLURM_JOB_ID": "77", "SLURMD_NODENAME": "node3", "SLURM_JOB_PARTITION": "debug"}
	opts := lab.JobOptions{Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 50 * time.Millisecond, Getenv: func(k string) string { return env[k] }}
	ctx := context.Background()

	// Held by another process (here another lock of the same file, which
	// flock refuses as it would another process): refused, nothing written.
	held, err := dirlock.Acquire(filepath.Join(dir, lab.FileRunLock), "test")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, lab.FileRun))
	_, err = lab.RunJob(ctx, dir, opts)
	if !errors.Is(err, lab.ErrRunHeld) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("run a held folder: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, lab.FileRun))
	if string(before) != string(after) {
		t.Errorf("a refused job changed run.json")
	}
	if _, err := os.Stat(filepath.Join(dir, lab.FileMetrics)); err == nil {
		t.Errorf("a refused job wrote metrics")
	}
	held.Release()

	info, err := lab.RunJob(ctx, dir, opts)
	if err != nil || info.Status != lab.StatusDone {
		t.Fatalf("job run: %s %q %v", info.Status, info.Error, err)
	}
	if info.Job.ID != "77" || info.Job.Node != "node3" || info.Job.Executor != "slurm" {
		t.Errorf("the job's record: %+v", info.Job)
	}
	if err := lab.CheckRunFolder(dir); err != nil {
		t.Error(err)
	}
	if _, err := lab.RunJob(ctx, dir, opts); err == nil || !strings.Contains(err.Error(), "is done") {
		t.Errorf("job run of a done run: %v", err)
	}
	if _, err := lab.RunJob(ctx, t.TempDir(), opts); err == nil || !strings.Contains(err.Error(), "not a run folder") {
		t.Errorf("job run of an empty folder: %v", err)
	}
	// A lab opened on the folder shows the run as the job left it.
	l, err := lab.Open(lab.Options{Dir: labDir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, _ := l.Run("r0001"); got.Status != lab.StatusDone || got.Job.ID != "77" {
		t.Errorf("reopened: %s, job %+v", got.Status, got.Job)
	}
}

// TestOpenLeavesExecutorRuns: a lab opened without the executor a run was
// submitted to neither marks it interrupted nor writes its folder (its job
// may be running), says how to follow it, and refuses to stop it.
func TestOpenLeavesExecutorRuns(t *testing.T) {
	labDir := t.TempDir()
	dir := queuedRun(t, labDir, "r0001", lab.Spec{Kind: lab.KindSearch}, lab.ExecJob{Executor: "slurm", ID: "12"})
	before, _ := os.ReadFile(filepath.Join(dir, lab.FileRun))
	l, err := lab.Open(lab.Options{Dir: labDir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, _ := l.Run("r0001")
	if got.Status != lab.StatusQueued || !strings.Contains(got.Error, "--executor slurm") {
		t.Errorf("run of a slurm job in a local lab: %s %q", got.Status, got.Error)
	}
	if err := l.Stop("r0001"); err == nil || !strings.Contains(err.Error(), "--executor slurm") {
		t.Errorf("stop: %v", err)
	}
	if _, err := l.StartWith(lab.Spec{Kind: lab.KindSearch}, lab.StartOptions{Executor: "slurm"}); err == nil || !strings.Contains(err.Error(), "--executor slurm") {
		t.Errorf("start on slurm in a local lab: %v", err)
	}
	l.Close()
	after, _ := os.ReadFile(filepath.Join(dir, lab.FileRun))
	if string(before) != string(after) {
		t.Errorf("the lab wrote the run.json of a run it does not follow:\n%s\n%s", before, after)
	}
}
