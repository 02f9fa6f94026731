package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// JobOptions configure RunJob.
type JobOptions struct {
	// Backend does the work (lab.Engine on a compute node).
	Backend Backend
	// FlushInterval is how often the run's files are written while it
	// runs (default 1 s): what a lab following the run sees, how fresh.
	FlushInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Getenv reads the environment (default os.Getenv): a Slurm job's
	// SLURM_JOB_ID, SLURMD_NODENAME and SLURM_JOB_PARTITION go into the
	// record.
	Getenv func(string) string
}

// RunJob runs the run of folder dir, exactly as its run.json describes it
// (kind, spec, parent), in this process, into that folder: what an
// executor's job does on a compute node (`bionas job run DIR`). A run that
// has a checkpoint goes on from it (Job.Resume is always set; the jobs use
// a checkpoint when there is one). The parent run, if any, is read from
// the folder beside dir (a run folder lives in <lab>/runs/).
//
// It holds the folder's run.lock throughout, and refuses a folder another
// live process holds (ErrRunHeld: a lab running it, another job) without
// writing anything; it refuses a run that is done. It needs no lab lock:
// the lab that submitted the run stays open and only reads the folder.
// The returned record is the run's end: done, failed, or interrupted (ctx
// cancelled: a scancel, the time limit's signal).
func RunJob(ctx context.Context, dir string, opts JobOptions) (RunInfo, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return RunInfo{}, fmt.Errorf("job run %s: %w", dir, err)
	}
	if st, err := os.Stat(filepath.Join(dir, FileRun)); err != nil || st.IsDir() {
		return RunInfo{}, fmt.Errorf("job run %s: not a run folder (want a folder with %s, such as <lab>/runs/r0001): %w",
			dir, FileRun, cmpErr(err, errors.New("run.json is a folder")))
	}
	lk, err := lockRun(dir)
	if err != nil {
		return RunInfo{}, fmt.Errorf("job run %s: %w", dir, err)
	}
	defer lk.Release()
	id := filepath.Base(dir)
	info, ok, err := readRunInfo(dir)
	switch {
	case err != nil:
		return RunInfo{}, fmt.Errorf("job run: %w", err)
	case !ok:
		return RunInfo{}, fmt.Errorf("job run %s: no %s", dir, FileRun)
	case info.ID != id:
		return RunInfo{}, fmt.Errorf("job run %s: %s names run %q, not the folder's %q", dir, filepath.Join(dir, FileRun), info.ID, id)
	case info.Status == StatusDone:
		return info, fmt.Errorf("job run %s: run %s is done; nothing to run (resume or start another run instead)", dir, id)
	case opts.Backend.Jobs[info.Kind] == nil:
		return info, fmt.Errorf("job run %s: %s run: %w", dir, info.Kind, ErrUnavailable)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	l := &Lab{
		opts: Options{Dir: filepath.Dir(filepath.Dir(dir)), Backend: opts.Backend, FlushInterval: opts.FlushInterval,
			StatusInterval: 200 * time.Millisecond, Now: opts.Now, MaxConcurrent: 1, MaxLight: 1},
		bus:        NewBus(),
		release:    func() {},
		runs:       map[string]*run{},
		changed:    make(chan struct{}),
		writerStop: make(chan struct{}),
		writerDone: make(chan struct{}),
		jobMode:    true,
	}
	r := l.loadRun(dir, id)
	// The parent's record, read only (it is not this job's to write).
	if p := r.info.Parent; p != "" {
		if pi, ok, err := readRunInfo(l.RunDir(p)); ok && err == nil {
			l.runs[p] = &run{dir: l.RunDir(p), info: pi}
		} else if err != nil {
			return r.info.Clone(), fmt.Errorf("job run %s: parent run: %w", dir, err)
		}
	}
	l.runs[id] = r
	l.order = []string{id}

	r.mu.Lock()
	r.info.Status, r.info.Error = StatusRunning, ""
	r.info.Started = opts.Now()
	r.info.Finished = time.Time{}
	if jobID := opts.Getenv("SLURM_JOB_ID"); jobID != "" {
		r.info.Job.Executor = cmpStr(r.info.Job.Executor, "slurm")
		r.info.Job.ID = jobID
		r.info.Job.State = "RUNNING"
		r.info.Job.Node = cmpStr(opts.Getenv("SLURMD_NODENAME"), r.info.Job.Node)
		r.info.Job.Partition = cmpStr(opts.Getenv("SLURM_JOB_PARTITION"), r.info.Job.Partition)
	}
	moved := ""
	if dev := opts.Backend.Device; dev != "" && dev != r.info.Spec.Device {
		if old := r.info.Spec.Device; old != "" {
			moved = fmt.Sprintf("computing on %s (the run asked for %s)", dev, old)
		}
		r.info.Spec.Device = dev
	}
	r.dirty |= dirtyInfo
	info = r.info.Clone()
	r.mu.Unlock()
	host, _ := os.Hostname()
	l.emit(r, Event{Kind: EventLog, Message: fmt.Sprintf("job started on %s (pid %d)%s", host, os.Getpid(), jobNote(info.Job))})
	if moved != "" {
		l.emit(r, Event{Kind: EventLog, Message: moved})
	}

	go l.writer()
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	status, msg := l.runJob(jctx, r, info, true)
	if status == StatusInterrupted && ctx.Err() != nil {
		msg = "stopped: the job was signalled (cancelled, or out of time)"
	}
	l.finish(r, status, msg)
	close(l.writerStop)
	<-l.writerDone
	if err := l.flush(r); err != nil {
		return r.info.Clone(), fmt.Errorf("job run %s: %w", dir, err)
	}
	out, _ := l.Run(id)
	return out, nil
}

func jobNote(j ExecJob) string {
	if j.ID == "" {
		return ""
	}
	return fmt.Sprintf(" as %s job %s", j.Executor, j.ID)
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
