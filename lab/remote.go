package lab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// This file is the lab's side of an executor's runs: submission, the
// follower that reads their folders and asks the executor about their
// jobs, and the settling of their ends. The job's side is RunJob
// (jobrun.go).
//
// Who writes a run folder: the lab until the run is submitted (run.json,
// queued), the job while it may run (from submission until the executor
// says it ended, and its run.lock is free), the lab again once it has read
// the job's last word. In between the lab only reads: flush skips a held
// run and keeps its dirty bits (a rename, a note) for the end.

// FileExecJob is the lab's note of the job it submitted a run as (the
// ExecJob, as JSON). The lab writes it right after submission and the job
// never does, so that a lab reopened before the job started (run.json
// still says queued, without a job id) still finds its job.
const FileExecJob = "exec.json"

// fileStamp is a file as the follower last read it: replaced files (every
// write is a rename) change their time and usually their size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// submit hands run r (its run.json written, status queued) to ex. A
// refusal fails the run with the executor's words; it is resumable.
func (l *Lab) submit(ex Executor, r *run) error {
	r.mu.Lock()
	info := r.info.Clone()
	r.logSeen = len(r.log)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job, err := ex.Submit(ctx, info, r.dir)
	if err != nil {
		err = fmt.Errorf("submit %s to %s: %w", info.ID, ex.Name(), err)
		l.finish(r, StatusFailed, err.Error())
		return err
	}
	job.Executor = ex.Name()
	if job.Submitted.IsZero() {
		job.Submitted = l.opts.Now()
	}
	werr := writeJSON(filepath.Join(r.dir, FileExecJob), job)
	r.mu.Lock()
	r.info.Job = job
	r.held, r.jobOpen = true, false
	r.stamps = nil
	r.jobStatus, r.jobError = StatusQueued, ""
	r.waitNote = ""
	r.mu.Unlock()
	l.emit(r, Event{Kind: EventLog, Message: fmt.Sprintf("submitted to %s as job %s", ex.Name(), job.ID)})
	if werr != nil {
		l.emit(r, Event{Kind: EventLog, Message: "warning: " + werr.Error()})
	}
	l.publishStatus(r)
	l.mu.Lock()
	l.notifyLocked()
	l.mu.Unlock()
	return nil
}

// adoptRemote takes up, on Open, a run that was queued or running on an
// executor when the lab last closed: its job may still be queued or
// running, and write the folder. The lab follows it if it has that
// executor; otherwise it leaves the record as it is (it must not write a
// folder a job may hold) and says how to follow it.
func (l *Lab) adoptRemote(r *run) {
	if r.info.Job.ID == "" {
		var job ExecJob
		if ok, _ := readJSON(filepath.Join(r.dir, FileExecJob), &job); ok && job.Executor == r.info.Job.Executor {
			r.info.Job = job
		}
	}
	ex := l.opts.Executor
	switch {
	case r.info.Job.ID == "":
		// Submission never finished (the lab died in it): no job to follow.
		r.info.Status = StatusInterrupted
		r.info.Error = fmt.Sprintf("interrupted: its submission to %s did not finish", r.info.Job.Executor)
		if err := writeJSON(filepath.Join(r.dir, FileRun), r.info); err != nil {
			r.writeErr = err
		}
	case ex != nil && ex.Name() == r.info.Job.Executor:
		r.held = true
		r.jobStatus = r.info.Status
	default:
		r.info.Error = fmt.Sprintf("runs as %s job %s, which this lab does not follow: open it with --executor %s",
			r.info.Job.Executor, r.info.Job.ID, r.info.Job.Executor)
	}
}

// cancelRemote asks the executor to stop run r's job; the follower sees
// it end.
func (l *Lab) cancelRemote(r *run, job ExecJob) error {
	ex := l.opts.Executor
	if ex == nil || ex.Name() != job.Executor {
		return fmt.Errorf("stop %s: it runs as %s job %s; this lab has no %s executor (open it with --executor %s)",
			r.info.ID, job.Executor, job.ID, job.Executor, job.Executor)
	}
	if job.ID == "" {
		return fmt.Errorf("stop %s: its submission to %s has not finished; try again in a moment", r.info.ID, job.Executor)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ex.Cancel(ctx, job); err != nil {
		return fmt.Errorf("stop %s: %w", r.info.ID, err)
	}
	l.emit(r, Event{Kind: EventLog, Message: fmt.Sprintf("asked %s to cancel job %s", job.Executor, job.ID)})
	return nil
}

// watch follows the executor's runs every PollInterval until Close.
func (l *Lab) watch() {
	defer close(l.watchDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := time.NewTicker(l.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-l.watchStop:
			return
		case <-t.C:
			l.follow(ctx)
		}
	}
}

// follow asks the executor about every held run's job (one call for all),
// reads their folders, and settles the ones that ended.
func (l *Lab) follow(ctx context.Context) {
	var held []*run
	var jobs []ExecJob
	for _, r := range l.allRuns() {
		r.mu.Lock()
		if (r.held || r.jobOpen) && r.info.Job.ID != "" {
			held = append(held, r)
			jobs = append(jobs, r.info.Job)
		}
		r.mu.Unlock()
	}
	if len(held) == 0 {
		return
	}
	states, err := l.opts.Executor.Poll(ctx, jobs)
	for i, r := range held {
		r.mu.Lock()
		settled := !r.held
		r.mu.Unlock()
		if settled { // only the job's last state is still to come
			if err == nil {
				l.closeJob(r, states[jobs[i].ID])
			}
			continue
		}
		l.syncFolder(r)
		if err != nil {
			// No news is not an end: the controller may be restarting.
			l.noteOnce(r, fmt.Sprintf("warning: cannot ask %s about job %s: %v", jobs[i].Executor, jobs[i].ID, err))
			continue
		}
		st, known := states[jobs[i].ID]
		if !known {
			st = ExecStatus{Job: jobs[i], Ended: true,
				Message: fmt.Sprintf("%s no longer knows job %s", jobs[i].Executor, jobs[i].ID)}
		}
		l.updateJob(r, st)
		r.mu.Lock()
		jobDone := r.jobStatus == StatusDone || r.jobStatus == StatusFailed
		r.mu.Unlock()
		// A job that wrote done or failed has said everything once its
		// lock is free; one interrupted waits for the executor's end,
		// which says why (cancelled, out of time, a node failure).
		if st.Ended || jobDone {
			l.settle(r, st)
		}
	}
}

// noteOnce logs a line about a held run, once until it changes.
func (l *Lab) noteOnce(r *run, msg string) {
	r.mu.Lock()
	same := r.waitNote == msg
	r.waitNote = msg
	r.mu.Unlock()
	if !same {
		l.emit(r, Event{Kind: EventLog, Message: msg})
	}
}

// updateJob records the executor's view of a run's job.
func (l *Lab) updateJob(r *run, st ExecStatus) {
	r.mu.Lock()
	j := &r.info.Job
	changed := false
	for _, f := range []struct {
		dst *string
		v   string
	}{{&j.State, st.Job.State}, {&j.Reason, st.Job.Reason}, {&j.Node, st.Job.Node}} {
		if f.v != "" && *f.dst != f.v {
			*f.dst, changed = f.v, true
		}
	}
	if st.Job.Reason == "" && j.Reason != "" && st.Job.State != "" && st.Job.State != "PENDING" {
		j.Reason, changed = "", true
	}
	if st.Job.State == "RUNNING" && r.info.Status == StatusQueued {
		r.info.Status, changed = StatusRunning, true
	}
	r.mu.Unlock()
	if changed {
		l.publishStatus(r)
	}
}

// syncFolder reads what changed in a held run's folder since the last
// call and publishes it, as the job's emits would have been.
func (l *Lab) syncFolder(r *run) {
	var events []Event
	statusChanged := false
	r.mu.Lock()
	defer func() {
		var st Event
		if statusChanged {
			st = l.statusEventLocked(r)
		}
		r.mu.Unlock()
		for _, e := range events {
			l.bus.Publish(e)
		}
		if statusChanged {
			l.bus.Publish(st)
		}
	}()
	if r.stamps == nil {
		r.stamps = map[string]fileStamp{}
	}
	changed := func(name string) bool {
		st, err := os.Stat(filepath.Join(r.dir, name))
		if err != nil {
			return false
		}
		s := fileStamp{st.ModTime(), st.Size()}
		if r.stamps[name] == s {
			return false
		}
		r.stamps[name] = s
		return true
	}
	event := func(e Event) {
		r.seq++
		e.Run, e.Seq = r.info.ID, r.seq
		if e.Time.IsZero() {
			e.Time = l.opts.Now()
		}
		events = append(events, e)
	}
	path := func(name string) string { return filepath.Join(r.dir, name) }

	if changed(FileRun) {
		var j RunInfo
		if ok, err := readJSON(path(FileRun), &j); ok && err == nil {
			statusChanged = r.mergeJobInfo(j)
		}
	}
	if changed(FileMetrics) {
		pts, _ := readMetrics(path(FileMetrics))
		k := 0
		for k < len(pts) && k < len(r.points) && samePoint(pts[k], r.points[k]) {
			k++
		}
		if k < len(r.points) { // a resumed job dropped points after its checkpoint
			r.points = slices.Clone(r.points[:k])
			r.lines = slices.Clone(r.lines[:k])
		}
		for _, p := range pts[k:] {
			event(p)
			p = events[len(events)-1]
			if b, err := json.Marshal(p); err == nil {
				r.points = append(r.points, p)
				r.lines = append(r.lines, b)
			}
		}
	}
	if changed(FileAlphas) {
		var a Alphas
		if ok, err := readJSON(path(FileAlphas), &a); ok && err == nil {
			r.alphas = &a
			event(Event{Kind: EventAlphas, Alphas: a.Clone(), Epoch: a.Epoch, Step: a.Step})
		}
	}
	if changed(FileGenotype) || changed(FileGenotypeText) {
		var g Genotype
		if ok, err := readJSON(path(FileGenotype), &g); ok && err == nil {
			r.genotype = &g
			if b, err := os.ReadFile(path(FileGenotypeText)); err == nil {
				r.genotypeText = strings.TrimSpace(string(b))
			}
			event(Event{Kind: EventGenotype, Genotype: g.Clone(), GenotypeText: r.genotypeText})
		}
	}
	if changed(FileLayers) {
		var ls []LayerInfo
		if ok, err := readJSON(path(FileLayers), &ls); ok && err == nil {
			r.layers = ls
			event(Event{Kind: EventLayers, Layers: cloneLayers(ls)})
		}
	}
	if changed(FileAttack) {
		var rep AttackReport
		if ok, err := readJSON(path(FileAttack), &rep); ok && err == nil {
			r.attack = &rep
			event(Event{Kind: EventAttack, Attack: rep.Clone()})
		}
	}
	if changed(FileLog) {
		if b, err := os.ReadFile(path(FileLog)); err == nil {
			var lines []string
			for _, line := range strings.Split(string(bytes.TrimRight(b, "\n")), "\n") {
				if line != "" {
					lines = append(lines, line)
				}
			}
			if len(lines) < r.logSeen { // the job kept only its last lines
				r.logSeen = len(lines)
			}
			for _, line := range lines[r.logSeen:] {
				r.log = append(r.log, line)
				_, msg, _ := strings.Cut(line, " ") // the job's time stamp
				event(Event{Kind: EventLog, Message: msg})
			}
			r.logSeen = len(lines)
			if len(r.log) > maxLogLines {
				r.log = slices.Clone(r.log[len(r.log)-maxLogLines:])
			}
		}
	}
}

// samePoint reports whether two metrics points are the same report.
func samePoint(a, b Event) bool {
	return a.Kind == b.Kind && a.Epoch == b.Epoch && a.Step == b.Step && a.Time.Equal(b.Time)
}

// mergeJobInfo takes what the job's run.json says about the run's
// progress into the lab's record; the user's annotations (name, note,
// archive), the sweep and the resume count stay the lab's. It reports
// whether the record changed. r.mu must be held.
func (r *run) mergeJobInfo(j RunInfo) bool {
	if j.ID != r.info.ID {
		return false // not this run's record (a folder copied over?)
	}
	before, _ := json.Marshal(r.info)
	r.jobStatus, r.jobError = j.Status, j.Error
	if j.Status == StatusRunning && r.info.Status == StatusQueued {
		r.info.Status = StatusRunning
	}
	if !j.Started.IsZero() {
		r.info.Started = j.Started
	}
	r.info.Last = j.Last
	if j.Spec.Device != "" {
		r.info.Spec.Device = j.Spec.Device
	}
	if j.Job.Node != "" {
		r.info.Job.Node = j.Job.Node
	}
	if j.Job.ID != "" && r.info.Job.ID == "" {
		r.info.Job.ID = j.Job.ID
	}
	after, _ := json.Marshal(r.info)
	return !bytes.Equal(before, after)
}

// settle ends a held run whose job ended (st) or wrote its end: once the
// folder's lock is free, it reads the job's last word, decides the run's
// status and writes the record. A folder still held (the executor says
// the job ended, but its process lives on a node cut off from the
// controller) is waited for.
func (l *Lab) settle(r *run, st ExecStatus) {
	lk, err := lockRun(r.dir)
	if err != nil {
		if st.Ended {
			l.noteOnce(r, fmt.Sprintf("%s, but its folder is still held; waiting for the job's process to end", st.Message))
		}
		return
	}
	defer lk.Release()
	// A job killed in the middle of an atomic write left its temporary
	// file: the folder is whole without it.
	removeTemps(r.dir)
	l.syncFolder(r)
	r.mu.Lock()
	status, msg := r.jobStatus, r.jobError
	switch {
	case status == StatusDone, status == StatusFailed && !st.Ended:
	case status == StatusFailed:
		if st.Message != "" && !st.Failed {
			msg = st.Message + ": " + msg
		}
	case status == StatusInterrupted:
		if st.Message != "" {
			msg = st.Message
		}
	case status == StatusQueued && st.Failed:
		// The job failed before it started the run (no bionas on the
		// node, a folder it could not read): its output says why.
		status, msg = StatusFailed, st.Message
		if tail := lastLines(filepath.Join(r.dir, r.info.Job.Output), 3); tail != "" {
			msg += ": " + tail
		}
	default:
		// It died without its last word (killed, its node failed, out of
		// time before it could write): resumable from its checkpoint.
		status = StatusInterrupted
		msg = cmp.Or(st.Message, "interrupted: its job ended without a word")
	}
	if st.Job.State != "" {
		r.info.Job.State = st.Job.State
	}
	// Settled on the job's own word before the executor said it ended:
	// the follower records the job's last state when it comes.
	r.jobOpen = !st.Ended
	r.info.Job.Reason = ""
	r.info.Status, r.info.Error = status, msg
	r.info.Finished = l.opts.Now()
	r.held = false
	r.cancel = nil
	r.waitNote = ""
	// The job's files are the run's: only the record (merged with the
	// user's annotations) and the log (with the lab's lines) are written.
	r.dirty = dirtyInfo | dirtyLog
	r.mu.Unlock()
	l.flush(r)
	l.publishStatus(r)
	l.mu.Lock()
	l.notifyLocked()
	l.mu.Unlock()
}

// closeJob records the executor's last state of a settled run's job
// (COMPLETED), once it has one; a job the executor no longer knows keeps
// the last state seen.
func (l *Lab) closeJob(r *run, st ExecStatus) {
	r.mu.Lock()
	if st.Job.ID == "" || st.Ended {
		r.jobOpen = false
	}
	changed := st.Ended && st.Job.State != "" && st.Job.State != r.info.Job.State
	if changed {
		r.info.Job.State = st.Job.State
		r.dirty |= dirtyInfo
	}
	r.mu.Unlock()
	if changed {
		l.flush(r)
		l.publishStatus(r)
	}
}

// lastLines is the last n non-empty lines of a file, joined by " | ".
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	for _, s := range strings.Split(string(b), "\n") {
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
