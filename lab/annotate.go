package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The limits on what a user writes about a run: a name fits a list row,
// a note a screenful.
const (
	MaxNameLen = 60
	MaxNoteLen = 4000
)

// Rename gives run id a name, shown instead of its generated title
// (RunInfo.Title); an empty name restores the generated one.
func (l *Lab) Rename(id, name string) (RunInfo, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return RunInfo{}, fmt.Errorf("rename %s: the name has %d characters; at most %d", id, n, MaxNameLen)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return RunInfo{}, fmt.Errorf("rename %s: the name %q has a control character (a name is one line)", id, name)
	}
	return l.annotate(id, func(info *RunInfo) error { info.Name = name; return nil })
}

// SetNote replaces run id's note (free text, several lines; empty removes
// it).
func (l *Lab) SetNote(id, note string) (RunInfo, error) {
	note = strings.TrimRight(note, " \n\t")
	if n := utf8.RuneCountInString(note); n > MaxNoteLen {
		return RunInfo{}, fmt.Errorf("note on %s: %d characters; at most %d", id, n, MaxNoteLen)
	}
	if strings.ContainsFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return RunInfo{}, fmt.Errorf("note on %s: it has a control character other than a newline or tab", id)
	}
	return l.annotate(id, func(info *RunInfo) error { info.Note = note; return nil })
}

// Archive hides (archived true) or shows again a finished run. Nothing of
// it is removed: an archived run keeps its folder, its children and its
// place in lineage, and viewers list it on request.
func (l *Lab) Archive(id string, archived bool) (RunInfo, error) {
	return l.annotate(id, func(info *RunInfo) error {
		if archived && info.Status.Active() {
			return fmt.Errorf("archive %s: it is %s; stop it first", id, info.Status)
		}
		info.Archived = archived
		return nil
	})
}

// annotate changes run id's record with f and persists it (run.json is
// rewritten atomically) before telling the viewers.
func (l *Lab) annotate(id string, f func(*RunInfo) error) (RunInfo, error) {
	r := l.get(id)
	if r == nil {
		return RunInfo{}, fmt.Errorf("no run %q", id)
	}
	r.mu.Lock()
	next := r.info.Clone()
	if err := f(&next); err != nil {
		r.mu.Unlock()
		return RunInfo{}, err
	}
	r.info.Name, r.info.Note, r.info.Archived = next.Name, next.Note, next.Archived
	r.dirty |= dirtyInfo
	info := r.info.Clone()
	r.mu.Unlock()
	if err := l.flush(r); err != nil {
		return RunInfo{}, fmt.Errorf("save %s: %w", filepath.Join(r.dir, FileRun), err)
	}
	l.publishStatus(r)
	return info, nil
}

// DirTrash is the lab folder's subfolder where deleted runs go.
const DirTrash = "trash"

// Delete moves run id's folder to the lab's trash folder (DirTrash), from
// where a user can move it back into runs/ by hand: a deletion in the lab
// never destroys what a run saved. A run that is queued or running, or
// that another run names as its parent, is refused (archive it instead).
func (l *Lab) Delete(id string) (string, error) {
	l.mu.Lock()
	r := l.runs[id]
	if r == nil {
		l.mu.Unlock()
		return "", fmt.Errorf("no run %q", id)
	}
	var children []string
	for _, other := range l.order {
		if other == id {
			continue
		}
		o := l.runs[other]
		o.mu.Lock()
		if o.info.Parent == id {
			children = append(children, other)
		}
		o.mu.Unlock()
	}
	r.mu.Lock()
	st := r.info.Status
	r.mu.Unlock()
	if st.Active() {
		l.mu.Unlock()
		return "", fmt.Errorf("delete %s: it is %s; stop it first", id, st)
	}
	if len(children) > 0 {
		l.mu.Unlock()
		return "", fmt.Errorf("delete %s: runs %s start from it; archive it instead", id, strings.Join(children, ", "))
	}
	trash := filepath.Join(l.opts.Dir, DirTrash)
	dst := filepath.Join(trash, id+"-"+l.opts.Now().UTC().Format("20060102T150405"))
	if err := os.MkdirAll(trash, 0o755); err != nil {
		l.mu.Unlock()
		return "", fmt.Errorf("delete %s: %w", id, err)
	}
	// Write what is pending first, so that the trash holds the run as the
	// lab last knew it.
	l.mu.Unlock()
	if err := l.flush(r); err != nil {
		return "", fmt.Errorf("delete %s: save it first: %w", id, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs[id] != r {
		return "", fmt.Errorf("no run %q", id)
	}
	r.flushMu.Lock()
	err := os.Rename(r.dir, dst)
	if err == nil {
		// A flush still holding r writes into the trash copy, never a
		// half run folder under runs/.
		r.dir = dst
	}
	r.flushMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("delete %s: %w", id, err)
	}
	delete(l.runs, id)
	if i := slices.Index(l.order, id); i >= 0 {
		l.order = slices.Delete(l.order, i, i+1)
	}
	// The last of the run's events: viewers sort a batch by Seq, so no
	// status event of it can come after and list it again.
	r.mu.Lock()
	r.seq++
	seq := r.seq
	r.mu.Unlock()
	l.bus.Publish(Event{Run: id, Seq: seq, Kind: EventDeleted, Time: l.opts.Now()})
	l.notifyLocked()
	return dst, nil
}
