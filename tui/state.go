package tui

import (
	"context"
	"slices"
	"time"

	"github.com/bionaslab/bionas/lab"
)

// state is what the panes of one session share: the lab, the session's
// styles and clock, every run's record, and the selected run's data. It
// is read and written only on the session's update loop: panes change the
// selection and the status line from Update; lab calls that write files
// run as commands, and the shell applies their outcome (labRunMsg).
type state struct {
	lab *lab.Lab
	st  *Styles
	now func() time.Time
	ctx context.Context

	runs []lab.RunInfo
	sel  string
	cur  *runData // the selected run; nil when there is none

	// compare are the runs marked for comparison (Runs pane, c): the
	// Charts pane overlays their curves with the selected run's.
	compare []string
	// showArchived lists archived runs too (Runs pane, A).
	showArchived bool

	msg    string // the status line
	msgErr bool
}

// runData is the selected run as the panes see it: the lab's snapshot plus
// the events that arrived since, and version counters that panes use as
// cache keys.
type runData struct {
	lab.Snapshot
	prevGenotype *lab.Genotype // the genotype before the latest, to mark changed edges
	ver          versions
}

type versions struct {
	info, points, alphas, genotype, layers, attack, log int
}

func (s *state) run(id string) (lab.RunInfo, bool) {
	for _, r := range s.runs {
		if r.ID == id {
			return r, true
		}
	}
	return lab.RunInfo{}, false
}

// say sets the status line.
func (s *state) say(msg string) { s.msg, s.msgErr = msg, false }

// fail sets the status line to an error.
func (s *state) fail(err error) {
	if err != nil {
		s.msg, s.msgErr = err.Error(), true
	}
}

// reloadRuns replaces the runs list from the lab.
func (s *state) reloadRuns() { s.runs = s.lab.Runs() }

// visible is the runs list as the Runs pane shows it: archived runs only
// when asked for (the selected run always, so that the selection never
// points at a hidden row).
func (s *state) visible() []lab.RunInfo {
	if s.showArchived {
		return s.runs
	}
	out := make([]lab.RunInfo, 0, len(s.runs))
	for _, r := range s.runs {
		if !r.Archived || r.ID == s.sel {
			out = append(out, r)
		}
	}
	return out
}

// marked reports whether run id is marked for comparison.
func (s *state) marked(id string) bool { return slices.Contains(s.compare, id) }

// toggleCompare marks or unmarks run id for comparison.
func (s *state) toggleCompare(id string) {
	if i := slices.Index(s.compare, id); i >= 0 {
		s.compare = slices.Delete(s.compare, i, i+1)
		return
	}
	s.compare = append(s.compare, id)
}

// compared is the runs the Charts pane overlays: the marked ones and the
// selected one, in creation order; empty unless there are at least two.
func (s *state) compared() []lab.RunInfo {
	var out []lab.RunInfo
	for _, r := range s.runs {
		if r.ID == s.sel || s.marked(r.ID) {
			out = append(out, r)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// remove drops a deleted run from the list, the marks and the selection
// (which moves to the run after it, or the one before).
func (s *state) remove(id string) {
	i := slices.IndexFunc(s.runs, func(r lab.RunInfo) bool { return r.ID == id })
	if i < 0 {
		return
	}
	s.runs = slices.Delete(s.runs, i, i+1)
	if j := slices.Index(s.compare, id); j >= 0 {
		s.compare = slices.Delete(s.compare, j, j+1)
	}
	if s.sel == id {
		next := ""
		if len(s.runs) > 0 {
			next = s.runs[min(i, len(s.runs)-1)].ID
		}
		s.load(next)
	}
}

// load makes id the selected run, from a fresh snapshot.
func (s *state) load(id string) {
	s.sel = id
	if id == "" {
		s.cur = nil
		return
	}
	snap, err := s.lab.Snapshot(id)
	if err != nil {
		s.cur = nil
		s.fail(err)
		return
	}
	var v versions
	if s.cur != nil {
		v = s.cur.ver // keep counting up so caches never see an old key
	}
	v.info++
	v.points++
	v.alphas++
	v.genotype++
	v.layers++
	v.attack++
	v.log++
	s.cur = &runData{Snapshot: snap, ver: v}
}

// apply folds a batch of lab events into the state.
func (s *state) apply(b lab.Batch) {
	for _, id := range b.Resync {
		if id == s.sel {
			s.load(id)
		}
	}
	for _, e := range b.Events {
		if e.Kind == lab.EventStatus && e.Info != nil {
			s.upsertRun(*e.Info)
		}
		if e.Kind == lab.EventDeleted {
			s.remove(e.Run)
			continue
		}
		c := s.cur
		if c == nil || e.Run != c.Info.ID || e.Seq <= c.Seq {
			continue
		}
		switch e.Kind {
		case lab.EventStatus:
			if e.Info != nil {
				c.Info = *e.Info
				c.ver.info++
			}
		case lab.EventStep, lab.EventEpoch:
			c.Points = rewind(c.Points, e)
			c.Points = append(c.Points, e)
			c.ver.points++
			// The numbers move with every point, not only with the
			// (rate-limited) status events.
			c.Info.Last.Update(e)
			c.ver.info++
			for i := range s.runs {
				if s.runs[i].ID == c.Info.ID {
					s.runs[i].Last = c.Info.Last
				}
			}
		case lab.EventAlphas:
			c.Alphas = e.Alphas
			c.ver.alphas++
		case lab.EventGenotype:
			if c.Genotype != nil && e.Genotype != nil && !sameGenotype(*c.Genotype, *e.Genotype) {
				c.prevGenotype = c.Genotype
			}
			c.Genotype, c.GenotypeText = e.Genotype, e.GenotypeText
			c.ver.genotype++
		case lab.EventLayers:
			c.Layers = e.Layers
			c.ver.layers++
		case lab.EventAttack:
			c.Attack = e.Attack
			c.ver.attack++
		case lab.EventLog:
			c.Log = append(c.Log, e.Time.Format("15:04:05")+" "+e.Message)
			c.ver.log++
		}
	}
}

// upsertRun updates a run's record in the list, or adds a new run.
func (s *state) upsertRun(info lab.RunInfo) {
	for i := range s.runs {
		if s.runs[i].ID == info.ID {
			s.runs[i] = info
			return
		}
	}
	s.runs = append(s.runs, info)
	slices.SortStableFunc(s.runs, func(a, b lab.RunInfo) int { return a.Created.Compare(b.Created) })
}

// rewind drops the points a resumed job reports again (as the lab does).
func rewind(pts []lab.Event, e lab.Event) []lab.Event {
	keep := len(pts)
	switch e.Kind {
	case lab.EventStep:
		if e.Step <= 0 {
			return pts
		}
		for keep > 0 && pts[keep-1].Step >= e.Step {
			keep--
		}
	case lab.EventEpoch:
		for keep > 0 && pts[keep-1].Kind == lab.EventEpoch && pts[keep-1].Epoch >= e.Epoch {
			keep--
		}
	}
	return pts[:keep]
}

func sameGenotype(a, b lab.Genotype) bool {
	return slices.Equal(a.Normal.Edges, b.Normal.Edges) && slices.Equal(a.Reduce.Edges, b.Reduce.Edges)
}
