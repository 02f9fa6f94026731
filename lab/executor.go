package lab

import (
	"context"
	"fmt"
	"time"
)

// ExecutorLocal names the lab's own goroutines, the default executor: a
// run's job runs inside the lab process (Backend.Jobs) and shares its
// memory.
const ExecutorLocal = "local"

// Executor runs a run's job outside the lab process. The run's folder is
// the only channel back: the job (`bionas job run DIR`, lab.RunJob) holds
// the folder's run.lock and writes run.json, metrics.jsonl and the
// snapshots there as a local job's lab would; the lab reads them, never
// writes them while the job may hold the folder, and publishes what it
// reads on its bus, so a viewer sees the run as it sees a local one.
//
// The lab's goroutines are not an Executor: they need none of this (the
// job emits straight into the lab's memory). Slurm (slurm.go) is the one
// implementation.
type Executor interface {
	// Name is the executor's name, recorded in RunInfo.Job.Executor
	// ("slurm").
	Name() string
	// Submit hands the run in folder dir (its run.json already written,
	// status queued) to the executor and returns its job.
	Submit(ctx context.Context, info RunInfo, dir string) (ExecJob, error)
	// Cancel stops a job, queued or running. A running job is signalled
	// and writes its run as interrupted; the lab sees it end by Poll.
	Cancel(ctx context.Context, job ExecJob) error
	// Poll returns what the executor knows of each job, by job id. A job
	// it no longer knows is missing from the map.
	Poll(ctx context.Context, jobs []ExecJob) (map[string]ExecStatus, error)
	// Device is where its jobs compute ("cpu", "cuda:0"): recorded in the
	// runs' Spec.Device. Empty: the lab's backend's device.
	Device() string
}

// ExecJob is a run's job on an executor other than the lab's goroutines,
// as run.json records it.
type ExecJob struct {
	// Executor is the executor's name ("slurm").
	Executor string `json:"executor"`
	// ID is the executor's job id (a Slurm job id, "1234").
	ID string `json:"id,omitempty"`
	// State is the job's state in the executor's words (Slurm's PENDING,
	// RUNNING, COMPLETED, TIMEOUT, NODE_FAIL, …).
	State string `json:"state,omitempty"`
	// Reason is why a pending job waits (Slurm's Resources, Priority, …).
	Reason string `json:"reason,omitempty"`
	// Node is where it runs, Partition the queue it was submitted to.
	Node      string `json:"node,omitempty"`
	Partition string `json:"partition,omitempty"`
	// Output is the job's output file (stdout and stderr), relative to
	// the run folder ("slurm-1234.out").
	Output string `json:"output,omitempty"`
	// Submitted is when the lab handed it to the executor.
	Submitted time.Time `json:"submitted,omitzero"`
}

// ExecStatus is a job's state as Executor.Poll reports it.
type ExecStatus struct {
	// Job is the job with State, Reason and Node as the executor says now.
	Job ExecJob
	// Ended is set once the job will not run any more (completed, failed,
	// cancelled, timed out, its node failed, preempted).
	Ended bool
	// Failed is set for an end that is the job's own failure (a non-zero
	// exit) rather than something done to it (cancelled, out of time, a
	// node that died, preemption).
	Failed bool
	// Message says how it ended, for the run's record ("Slurm job 12 ran
	// out of its time limit (TIMEOUT)").
	Message string
}

// StartOptions say where and as part of what a run starts (Lab.StartWith).
type StartOptions struct {
	// Executor is ExecutorLocal, the lab's executor's name (Options.
	// Executor), or "" for the lab's default: its executor if it has one,
	// else local.
	Executor string
	// Sweep is the sweep the run belongs to (RunInfo.Sweep).
	Sweep string
}

// ExecutorName is the lab's default executor: Options.Executor's name, or
// ExecutorLocal.
func (l *Lab) ExecutorName() string {
	if l.opts.Executor != nil {
		return l.opts.Executor.Name()
	}
	return ExecutorLocal
}

// executorFor resolves StartOptions.Executor: nil is the lab's goroutines.
func (l *Lab) executorFor(name string) (Executor, error) {
	switch {
	case name == "" && l.opts.Executor != nil:
		return l.opts.Executor, nil
	case name == "" || name == ExecutorLocal:
		return nil, nil
	case l.opts.Executor != nil && name == l.opts.Executor.Name():
		return l.opts.Executor, nil
	}
	return nil, errExecutor(name, l.ExecutorName())
}

func errExecutor(name, has string) error {
	if has == ExecutorLocal {
		return fmt.Errorf("executor %q: this lab runs its jobs locally only (open it with --executor %s)", name, name)
	}
	return fmt.Errorf("executor %q: this lab has the executors local and %s", name, has)
}
