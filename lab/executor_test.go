package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSlurmStatus(t *testing.T) {
	tests := []struct {
		state         string
		ended, failed bool
		msg           string
	}{
		{"PENDING", false, false, ""},
		{"RUNNING", false, false, ""},
		{"COMPLETING", false, false, ""},
		{"COMPLETED", true, false, "completed"},
		{"CANCELLED", true, false, "cancelled"},
		{"TIMEOUT", true, false, "time limit"},
		{"NODE_FAIL", true, false, "node"},
		{"PREEMPTED", true, false, "preempted"},
		{"FAILED", true, true, "failed"},
		{"OUT_OF_MEMORY", true, true, "memory"},
		{"REVOKED", true, false, "REVOKED"},
	}
	for _, tc := range tests {
		st := slurmStatus(ExecJob{ID: "12", State: tc.state})
		if st.Ended != tc.ended || st.Failed != tc.failed || !strings.Contains(st.Message, tc.msg) {
			t.Errorf("%s: ended %v failed %v %q; want %v %v containing %q", tc.state, st.Ended, st.Failed, st.Message, tc.ended, tc.failed, tc.msg)
		}
	}
}

// stubTools makes a folder of do-nothing Slurm commands: enough for
// NewSlurm to find them and for Script to be read, nothing submits.
func stubTools(t *testing.T, names ...string) string {
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewSlurmErrors(t *testing.T) {
	bin, _ := os.Executable()
	tools := stubTools(t, "sbatch", "squeue", "scancel")
	tests := []struct {
		name string
		o    SlurmOptions
		want string
	}{
		{"no sbatch", SlurmOptions{Binary: bin, Path: t.TempDir()}, "sbatch not found"},
		{"no scancel", SlurmOptions{Binary: bin, Path: stubTools(t, "sbatch", "squeue")}, "scancel not found"},
		{"no binary", SlurmOptions{Binary: "/no/such/bionas", Path: tools}, "/no/such/bionas"},
		{"bad time", SlurmOptions{Binary: bin, Path: tools, Time: "an hour"}, `time limit "an hour"`},
		{"bad mem", SlurmOptions{Binary: bin, Path: tools, Mem: "lots"}, `memory "lots"`},
		{"negative gpus", SlurmOptions{Binary: bin, Path: tools, GPUs: -1}, "gpus -1"},
	}
	for _, tc := range tests {
		_, err := NewSlurm(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewSlurm(SlurmOptions{Binary: bin, Path: tools}); err != nil {
		t.Errorf("sacct is optional: %v", err)
	}
}

func TestSlurmScript(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "my bionas")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := NewSlurm(SlurmOptions{Binary: bin, Path: stubTools(t, "sbatch", "squeue", "scancel"), Partition: "gpu", Time: "1:00:00",
		CPUs: 4, Mem: "8G", GPUs: 2, Extra: []string{"--qos=short"}, JobArgs: []string{"--data-dir", "/shared/data"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Device() != "cuda:0" {
		t.Errorf("device with GPUs: %q, want cuda:0", s.Device())
	}
	dir := "/lab/runs/r0007"
	got := s.Script(RunInfo{ID: "r0007", Kind: KindSearch}, dir)
	for _, want := range []string{"#!/bin/sh\n", "#SBATCH --job-name=bionas-r0007\n", "#SBATCH --output=/lab/runs/r0007/slurm-%j.out\n",
		"#SBATCH --no-requeue\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=1:00:00\n", "#SBATCH --cpus-per-task=4\n",
		"#SBATCH --mem=8G\n", "#SBATCH --gres=gpu:2\n", "#SBATCH --qos=short\n",
		"exec '" + bin + "' job run --data-dir /shared/data /lab/runs/r0007\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
}
