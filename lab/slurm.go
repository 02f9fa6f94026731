package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ExecutorSlurm is the Slurm executor's name.
const ExecutorSlurm = "slurm"

// FileSlurmScript is the batch script the Slurm executor writes into a run
// folder and submits: a user can read it, and resubmit it by hand (sbatch
// slurm.sh) to run the run again from its checkpoint.
const FileSlurmScript = "slurm.sh"

// SlurmOptions configure the Slurm executor. The zero value submits to the
// cluster's default partition with its default limits.
type SlurmOptions struct {
	// Binary is the bionas binary the job runs, by a path every compute
	// node sees (default: this process's own executable, os.Executable:
	// on a cluster it lives on the shared file system with the lab).
	Binary string
	// JobArgs are flags for `bionas job run` before the folder
	// ("--data-dir", "/shared/data").
	JobArgs []string
	// Partition (--partition), Time (--time, "1:00:00"), CPUs
	// (--cpus-per-task), Mem (--mem, "8G") and GPUs (--gres=gpu:N) are
	// sbatch's; empty or zero leaves the cluster's default.
	Partition string
	Time      string
	CPUs      int
	Mem       string
	GPUs      int
	// Extra are further sbatch options, one per element ("--qos=short").
	Extra []string
	// Device is where the jobs compute, recorded in the runs' specs
	// (default "cuda:0" with GPUs, else "cpu").
	Device string
	// Path is where the Slurm commands are looked up (default $PATH).
	Path string
	// Timeout bounds each Slurm command (default 30 s).
	Timeout time.Duration
}

// Slurm is the executor that submits each run as one Slurm batch job
// (sbatch), asks squeue (and sacct, where the cluster keeps accounting)
// for their states, and cancels them with scancel.
//
// One job per run, not a job array for a sweep: each run keeps a job id
// of its own, so that it can be stopped, resumed and resubmitted alone,
// and a sweep's runs show in squeue under their own names. An array would
// save the scheduler work for sweeps of thousands of runs; a lab's sweeps
// are tens.
//
// The command-line tools rather than slurmrestd: every cluster that runs
// Slurm has them on its login nodes, under the user's own identity, while
// slurmrestd is an optional daemon that needs a JWT or a local socket set
// up by the administrators.
type Slurm struct {
	opts SlurmOptions
	// tools are the commands' full paths.
	sbatch, squeue, scancel, sacct string
}

// NewSlurm returns the Slurm executor, or an error that says which Slurm
// command is missing (the lab cannot submit without them) and what to do.
func NewSlurm(o SlurmOptions) (*Slurm, error) {
	s := &Slurm{opts: o}
	if s.opts.Timeout <= 0 {
		s.opts.Timeout = 30 * time.Second
	}
	if s.opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("slurm executor: the bionas binary for the jobs: %w", err)
		}
		s.opts.Binary = exe
	}
	if !filepath.IsAbs(s.opts.Binary) {
		abs, err := filepath.Abs(s.opts.Binary)
		if err != nil {
			return nil, fmt.Errorf("slurm executor: binary %s: %w", s.opts.Binary, err)
		}
		s.opts.Binary = abs
	}
	if st, err := os.Stat(s.opts.Binary); err != nil || st.IsDir() {
		return nil, fmt.Errorf("slurm executor: the jobs' bionas binary %s: want an executable file every node sees: %w",
			s.opts.Binary, cmpErr(err, errors.New("it is a folder")))
	}
	if s.opts.GPUs < 0 || s.opts.CPUs < 0 {
		return nil, fmt.Errorf("slurm executor: gpus %d, cpus %d: want 0 (the cluster's default) or more", s.opts.GPUs, s.opts.CPUs)
	}
	if s.opts.Time != "" && !slurmTime.MatchString(s.opts.Time) {
		return nil, fmt.Errorf("slurm executor: time limit %q: want minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", s.opts.Time)
	}
	if s.opts.Mem != "" && !slurmMem.MatchString(s.opts.Mem) {
		return nil, fmt.Errorf("slurm executor: memory %q: want a size such as 4000, 8G or 512M", s.opts.Mem)
	}
	if s.opts.Device == "" {
		s.opts.Device = "cpu"
		if s.opts.GPUs > 0 {
			s.opts.Device = "cuda:0"
		}
	}
	for _, t := range []struct {
		dst      *string
		name     string
		optional bool
	}{{&s.sbatch, "sbatch", false}, {&s.squeue, "squeue", false}, {&s.scancel, "scancel", false}, {&s.sacct, "sacct", true}} {
		p, err := lookPath(t.name, s.opts.Path)
		if err != nil && !t.optional {
			return nil, fmt.Errorf("slurm executor: %s not found (looked in %s): run the lab on a Slurm login node, or install Slurm's client commands (Debian: slurm-client): %w",
				t.name, cmpStr(s.opts.Path, "$PATH"), err)
		}
		*t.dst = p
	}
	return s, nil
}

var (
	slurmTime = regexp.MustCompile(`^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|infinite|unlimited)$`)
	slurmMem  = regexp.MustCompile(`^\d+[KMGT]?$`)
)

// lookPath finds a command in path (a PATH-style list), or in $PATH.
func lookPath(name, path string) (string, error) {
	if path == "" {
		return exec.LookPath(name)
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Name implements Executor.
func (s *Slurm) Name() string { return ExecutorSlurm }

// Device implements Executor.
func (s *Slurm) Device() string { return s.opts.Device }

// Options returns the executor's options, defaults filled in.
func (s *Slurm) Options() SlurmOptions { return s.opts }

// Script is the batch script of the run in folder dir.
func (s *Slurm) Script(info RunInfo, dir string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	sb := func(format string, args ...any) { fmt.Fprintf(&b, "#SBATCH "+format+"\n", args...) }
	sb("--job-name=bionas-%s", info.ID)
	sb("--output=%s", filepath.Join(dir, "slurm-%j.out"))
	sb("--chdir=%s", dir)
	// A job that its node's failure or a preemption ends shows as
	// interrupted, resumable by the user (R), rather than starting over
	// behind the lab's back.
	sb("--no-requeue")
	if s.opts.Partition != "" {
		sb("--partition=%s", s.opts.Partition)
	}
	if s.opts.Time != "" {
		sb("--time=%s", s.opts.Time)
	}
	if s.opts.CPUs > 0 {
		sb("--cpus-per-task=%d", s.opts.CPUs)
	}
	if s.opts.Mem != "" {
		sb("--mem=%s", s.opts.Mem)
	}
	if s.opts.GPUs > 0 {
		sb("--gres=gpu:%d", s.opts.GPUs)
	}
	for _, e := range s.opts.Extra {
		sb("%s", e)
	}
	fmt.Fprintf(&b, "#\n# BioNAS lab run %s (%s), written by the lab that submitted it.\n", info.ID, info.Title())
	b.WriteString("# The job runs exactly the run that run.json beside this script describes,\n")
	b.WriteString("# into this folder, from its checkpoint if it has one. Resubmit it with\n")
	b.WriteString("#   sbatch " + shellQuote(filepath.Join(dir, FileSlurmScript)) + "\n")
	b.WriteString("# (the lab follows a run only through the jobs it submitted itself: R in the\n# runs list resumes it there).\n")
	args := []string{s.opts.Binary, "job", "run"}
	args = append(args, s.opts.JobArgs...)
	args = append(args, dir)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	b.WriteString("exec " + strings.Join(args, " ") + "\n")
	return b.String()
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Submit implements Executor: it writes slurm.sh into the run folder and
// submits it with sbatch.
func (s *Slurm) Submit(ctx context.Context, info RunInfo, dir string) (ExecJob, error) {
	script := filepath.Join(dir, FileSlurmScript)
	if err := atomicWrite(script, []byte(s.Script(info, dir))); err != nil {
		return ExecJob{}, err
	}
	out, err := s.run(ctx, dir, s.sbatch, "--parsable", script)
	if err != nil {
		return ExecJob{}, err
	}
	// --parsable prints "id" or "id;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return ExecJob{}, fmt.Errorf("sbatch %s: want a job id, got %q", script, clipMsg(out))
	}
	return ExecJob{Executor: ExecutorSlurm, ID: id, State: "PENDING", Partition: s.opts.Partition, Output: "slurm-" + id + ".out"}, nil
}

// Cancel implements Executor (scancel: SIGTERM to a running job, which
// writes its run interrupted; a pending one just leaves the queue).
func (s *Slurm) Cancel(ctx context.Context, job ExecJob) error {
	_, err := s.run(ctx, "", s.scancel, job.ID)
	return err
}

// Poll implements Executor: squeue, which also lists jobs that ended
// within the cluster's MinJobAge; then sacct for older ones, where the
// cluster keeps accounting.
func (s *Slurm) Poll(ctx context.Context, jobs []ExecJob) (map[string]ExecStatus, error) {
	out := map[string]ExecStatus{}
	if len(jobs) == 0 {
		return out, nil
	}
	byID := map[string]ExecJob{}
	var ids []string
	for _, j := range jobs {
		byID[j.ID] = j
		ids = append(ids, j.ID)
	}
	text, err := s.run(ctx, "", s.squeue, "--noheader", "--states=all", "--jobs="+strings.Join(ids, ","), "--format=%i|%T|%N|%P|%r")
	if err != nil && !strings.Contains(err.Error(), "Invalid job id") {
		return nil, err
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 5 {
			continue
		}
		j, ok := byID[f[0]]
		if !ok {
			continue
		}
		j.State, j.Node, j.Partition, j.Reason = f[1], f[2], f[3], f[4]
		if j.Reason == "None" {
			j.Reason = ""
		}
		out[j.ID] = slurmStatus(j)
	}
	var missing []string
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 || s.sacct == "" {
		return out, nil
	}
	// Without accounting ("Slurm accounting storage is disabled") sacct
	// fails; the jobs then stay unknown, and the lab goes by their folders.
	text, err = s.run(ctx, "", s.sacct, "--noheader", "--parsable2", "--allocations", "--jobs="+strings.Join(missing, ","), "--format=JobID,State,NodeList,Partition")
	if err != nil {
		return out, nil
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 4 {
			continue
		}
		j, ok := byID[f[0]]
		if !ok {
			continue
		}
		state, _, _ := strings.Cut(f[1], " ") // "CANCELLED by 0"
		j.State, j.Node, j.Partition = state, f[2], f[3]
		out[j.ID] = slurmStatus(j)
	}
	return out, nil
}

// slurmStatus reads a Slurm job state.
func slurmStatus(j ExecJob) ExecStatus {
	st := ExecStatus{Job: j, Ended: true}
	name := "Slurm job " + j.ID
	switch strings.TrimRight(j.State, "+") {
	case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD":
		st.Ended = false
	case "COMPLETED":
		st.Message = name + " completed"
	case "CANCELLED":
		st.Message = "stopped: " + name + " was cancelled"
	case "TIMEOUT", "DEADLINE":
		st.Message = name + " ran out of its time limit (" + j.State + "); resume goes on from its checkpoint"
	case "NODE_FAIL", "BOOT_FAIL":
		st.Message = "interrupted: the node of " + name + " failed (" + j.State + "); resume goes on from its checkpoint"
	case "PREEMPTED":
		st.Message = "interrupted: " + name + " was preempted; resume goes on from its checkpoint"
	case "OUT_OF_MEMORY":
		st.Message, st.Failed = name+" ran out of memory (OUT_OF_MEMORY): resume with more --slurm-mem", true
	case "FAILED":
		st.Message, st.Failed = name+" failed", true
	default: // REVOKED, SPECIAL_EXIT, a state of a newer Slurm
		st.Message = name + " ended " + j.State
	}
	return st
}

// run runs a Slurm command and returns its stdout; its error quotes the
// command's stderr (sbatch says there why it refuses a job: an unknown
// partition, a full queue, a limit).
func (s *Slurm) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if ctx.Err() != nil {
			return stdout.String(), fmt.Errorf("%s %s: no answer in %v (is slurmctld up?): %w", filepath.Base(name), strings.Join(args, " "), s.opts.Timeout, ctx.Err())
		}
		return stdout.String(), fmt.Errorf("%s %s: %s: %w", filepath.Base(name), strings.Join(args, " "), clipMsg(msg), err)
	}
	return stdout.String(), nil
}

// clipMsg shortens a command's message for a run's record.
func clipMsg(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		return s[:397] + "..."
	}
	return s
}
