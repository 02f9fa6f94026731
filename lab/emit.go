package lab

import (
	"encoding/json"
	"slices"
)

// publishStatus sends a run's record to the viewers.
func (l *Lab) publishStatus(r *run) {
	r.mu.Lock()
	e := l.statusEventLocked(r)
	r.mu.Unlock()
	l.bus.Publish(e)
}

func (l *Lab) statusEventLocked(r *run) Event {
	r.seq++
	r.statusDue = false
	info := r.info.Clone()
	r.lastStatus = l.opts.Now()
	return Event{Run: info.ID, Seq: r.seq, Kind: EventStatus, Time: r.lastStatus, Info: &info}
}

// emit records a job's event and publishes it (Job.Emit).
func (l *Lab) emit(r *run, e Event) {
	if e.Kind == EventStatus || e.Kind == "" {
		return // the lab alone reports status
	}
	e.sanitize()
	now := l.opts.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	e = e.clone()
	e.Info = nil
	r.mu.Lock()
	r.seq++
	e.Run, e.Seq = r.info.ID, r.seq
	status := false
	switch e.Kind {
	case EventStep, EventEpoch:
		r.rewind(e)
		b, err := json.Marshal(e)
		if err == nil {
			r.points = append(r.points, e)
			r.lines = append(r.lines, b)
			r.dirty |= dirtyMetrics
		}
		r.info.Last.Update(e)
		r.dirty |= dirtyInfo
		status = e.Kind == EventEpoch || now.Sub(r.lastStatus) >= l.opts.StatusInterval
		r.statusDue = !status // the writer publishes it if no later point does
	case EventAlphas:
		if e.Alphas == nil {
			r.mu.Unlock()
			return
		}
		r.alphas = e.Alphas
		r.dirty |= dirtyAlphas
	case EventGenotype:
		if e.Genotype == nil {
			r.mu.Unlock()
			return
		}
		r.genotype, r.genotypeText = e.Genotype, e.GenotypeText
		r.dirty |= dirtyGenotype
	case EventLayers:
		r.layers = e.Layers
		r.dirty |= dirtyLayers
	case EventAttack:
		r.attack = e.Attack
		if e.Attack != nil {
			r.info.Last.RobustAcc = e.Attack.WorstCase
			// Done and Total count image units (one image attacked by one
			// row), as the run's step events do.
			if e.Attack.Total > 0 {
				r.info.Last.Step, r.info.Last.TotalSteps = e.Attack.Done, e.Attack.Total
			}
		}
		r.dirty |= dirtyAttack | dirtyInfo
		status = true
	case EventLog:
		r.log = append(r.log, e.Time.Format("15:04:05")+" "+e.Message)
		if len(r.log) > maxLogLines {
			r.log = slices.Clone(r.log[len(r.log)-maxLogLines:])
		}
		r.dirty |= dirtyLog
	}
	var st Event
	if status {
		st = l.statusEventLocked(r)
	}
	r.mu.Unlock()
	l.bus.Publish(e)
	if status {
		l.bus.Publish(st)
	}
	if l.jobMode && e.Kind == EventEpoch {
		// A job on a compute node can die at any moment (its node
		// fails): the epoch's points reach the disk before the checkpoint
		// the engine writes next, so that a resume never leaves a gap.
		l.flush(r)
	}
}

// rewind drops the points a resumed job is about to report again (it
// restarts from its last checkpoint, which may be behind the last point).
func (r *run) rewind(e Event) {
	keep := len(r.points)
	switch e.Kind {
	case EventStep:
		if e.Step <= 0 {
			return
		}
		for keep > 0 && r.points[keep-1].Step >= e.Step {
			keep--
		}
	case EventEpoch:
		for keep > 0 && r.points[keep-1].Kind == EventEpoch && r.points[keep-1].Epoch >= e.Epoch {
			keep--
		}
	}
	if keep < len(r.points) {
		// New slices: a concurrent flush may still read the old ones.
		r.points = slices.Clone(r.points[:keep])
		r.lines = slices.Clone(r.lines[:keep])
	}
}

// Update folds a step or epoch event into the latest numbers (as the lab
// does for RunInfo.Last; viewers that apply points themselves use it too).
func (m *Metrics) Update(e Event) {
	m.Epoch = e.Epoch
	if e.Epochs > 0 {
		m.Epochs = e.Epochs
	}
	if e.Step > 0 {
		m.Step = e.Step
	}
	if e.TotalSteps > 0 {
		m.TotalSteps = e.TotalSteps
	}
	if e.Kind == EventStep {
		m.Loss, m.Acc = e.Loss, e.Acc
		if e.ImagesPerSec != 0 {
			m.ImagesPerSec = e.ImagesPerSec
		}
		return
	}
	if e.ValLoss != 0 || e.ValAcc != 0 {
		m.ValLoss, m.ValAcc = e.ValLoss, e.ValAcc
	}
	if e.TestAcc != 0 {
		m.TestAcc = e.TestAcc
	}
}
