package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a lab. The zero value (apart from Dir) is usable.
type Options struct {
	// Dir is the lab folder; it is created if missing.
	Dir string
	// Backend does the work. A zero Backend can list and show runs but
	// starts none.
	Backend Backend
	// MaxConcurrent is how many jobs of the main lane run at once
	// (default 1: one job already keeps a 2-core CPU busy). Others wait in
	// a queue.
	MaxConcurrent int
	// MaxLight is how many jobs of the light lane run at once (default
	// 1): short jobs (robustness reports on at most LightImages images)
	// that a researcher waits for at the screen, and that must not queue
	// behind a ten-minute retraining. They share the CPU with the main
	// lane's job for their few seconds.
	MaxLight int
	// LightImages is the largest robustness report (images attacked)
	// that takes the light lane (default 1000).
	LightImages int
	// FlushInterval is how often the writer persists a running run's
	// metrics and snapshots (default 1 s).
	FlushInterval time.Duration
	// StatusInterval is the least time between two status events caused
	// by step events of one run (default 200 ms).
	StatusInterval time.Duration
	// Now is the clock (default time.Now); tests inject a fixed one.
	Now func() time.Time
	// Executor, if set, is where runs execute by default (a Slurm
	// cluster): Start submits each run to it, and the lab follows the runs
	// from their folders (remote.go). Nil: the lab's own goroutines, as
	// StartWith's ExecutorLocal always is.
	Executor Executor
	// PollInterval is how often the lab asks the executor about its jobs
	// and reads their folders (default 1 s).
	PollInterval time.Duration
}

// maxLogLines is how many log lines a run keeps.
const maxLogLines = 500

// Lab holds every run of a lab folder and runs their jobs.
type Lab struct {
	opts    Options
	bus     *Bus
	release func()

	mu           sync.Mutex
	runs         map[string]*run
	order        []string // IDs in creation order
	queue        []string // the main lane's queue
	light        []string // the light lane's queue
	running      int      // main-lane jobs running
	runningLight int
	nextID       int
	closed       bool
	changed      chan struct{} // closed (and replaced) at every status change
	jobs         sync.WaitGroup

	writerStop chan struct{}
	writerDone chan struct{}
	// watchStop and watchDone stop the follower of executor runs (nil
	// without an executor).
	watchStop chan struct{}
	watchDone chan struct{}
	// jobMode marks the one-run lab of RunJob (a job on a compute node):
	// it holds no lab lock and schedules nothing.
	jobMode bool
}

// run is one run's state in memory. mu guards everything but dir and
// flushMu; flushMu serialises writes of its folder.
type run struct {
	dir     string
	flushMu sync.Mutex

	mu           sync.Mutex
	info         RunInfo
	seq          uint64
	points       []Event
	lines        [][]byte // points encoded as metrics.jsonl lines
	alphas       *Alphas
	genotype     *Genotype
	genotypeText string
	layers       []LayerInfo
	attack       *AttackReport
	log          []string
	dirty        dirty
	lastStatus   time.Time
	cancel       context.CancelFunc
	resume       bool // the next execution resumes
	statusDue    bool // the record changed since the last status event
	writeErr     error
	// held is set while an executor's job may write the folder (from its
	// submission until the lab settles its end): the lab reads the folder
	// then, and writes nothing (flush keeps the dirty bits for later).
	held bool
	// stamps are the folder's files as the follower last read them.
	stamps map[string]fileStamp
	// waitNote is what the follower last logged about a held run, to say
	// it once.
	waitNote string
	// logSeen counts the lines of log.txt the follower has taken in;
	// jobStatus and jobError are what the job's run.json last said.
	logSeen   int
	jobStatus Status
	jobError  string
	// jobOpen is set for a run settled before its executor said its job
	// ended: the follower still asks for the job's last state.
	jobOpen bool
}

type dirty uint8

const (
	dirtyInfo dirty = 1 << iota
	dirtyMetrics
	dirtyAlphas
	dirtyGenotype
	dirtyLayers
	dirtyAttack
	dirtyLog
)

// Open opens (creating it if needed) the lab folder opts.Dir, reloads every
// run in it, and marks the runs that were queued or running when the last
// process died as interrupted. Only one process may have a lab open.
func Open(opts Options) (*Lab, error) {
	if opts.Dir == "" {
		return nil, errors.New("open lab: no folder given")
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 1
	}
	if opts.MaxLight <= 0 {
		opts.MaxLight = 1
	}
	if opts.LightImages <= 0 {
		opts.LightImages = 1000
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, runsDir), 0o755); err != nil {
		return nil, fmt.Errorf("open lab: %w", err)
	}
	release, err := lockDir(filepath.Join(opts.Dir, "lab.lock"))
	if err != nil {
		return nil, err
	}
	l := &Lab{
		opts:       opts,
		bus:        NewBus(),
		release:    release,
		runs:       map[string]*run{},
		nextID:     1,
		changed:    make(chan struct{}),
		writerStop: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if err := l.load(); err != nil {
		release()
		return nil, err
	}
	go l.writer()
	if opts.Executor != nil {
		l.watchStop, l.watchDone = make(chan struct{}), make(chan struct{})
		go l.watch()
	}
	return l, nil
}

// load reads every run folder.
func (l *Lab) load() error {
	root := filepath.Join(l.opts.Dir, runsDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("open lab: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if strings.HasPrefix(name, ".new-") { // a run whose creation never finished
			os.RemoveAll(filepath.Join(root, name))
			continue
		}
		if strings.HasPrefix(name, ".") {
			continue
		}
		r := l.loadRun(filepath.Join(root, name), name)
		l.runs[name] = r
		l.order = append(l.order, name)
		if n, ok := idNumber(name); ok && n >= l.nextID {
			l.nextID = n + 1
		}
	}
	// Deleted runs keep their ids: a new run never takes one.
	if trash, err := os.ReadDir(filepath.Join(l.opts.Dir, DirTrash)); err == nil {
		for _, e := range trash {
			id, _, _ := strings.Cut(e.Name(), "-")
			if n, ok := idNumber(id); ok && n >= l.nextID {
				l.nextID = n + 1
			}
		}
	}
	slices.SortFunc(l.order, func(a, b string) int {
		ra, rb := l.runs[a], l.runs[b]
		if c := ra.info.Created.Compare(rb.info.Created); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return nil
}

// loadRun reads one run folder. Damage is reported in the run's record
// (status failed, Error) rather than hiding the run.
func (l *Lab) loadRun(dir, id string) *run {
	removeTemps(dir)
	r := &run{dir: dir}
	info, ok, err := readRunInfo(dir)
	r.info = info
	switch {
	case ok && err != nil:
		// It parses but asks for what must not run (Spec.Validate): shown
		// as failed, with the field; Resume refuses it; the file is kept
		// as it is for the user to inspect.
		r.info.ID, r.info.Status, r.info.Error = id, StatusFailed, "damaged run folder: "+err.Error()
		return r
	case err != nil || !ok:
		if err == nil {
			err = fmt.Errorf("no %s", FileRun)
		}
		st, _ := os.Stat(dir)
		r.info = RunInfo{ID: id, Status: StatusFailed, Error: "unreadable run folder: " + err.Error()}
		if st != nil {
			r.info.Created = st.ModTime()
		}
		return r
	case r.info.ID != id:
		r.info.Error = fmt.Sprintf("run.json names run %q; using the folder name", r.info.ID)
		r.info.ID = id
	}
	switch {
	case !r.info.Status.Active() || l.jobMode: // RunJob holds the folder and sets the status
	case r.info.Job.Executor != "":
		// Its job may still be queued or running on the executor, which
		// writes the folder: follow it, or leave it be (remote.go).
		l.adoptRemote(r)
	default:
		r.info.Status = StatusInterrupted
		r.info.Error = "interrupted: the lab stopped while it ran"
		if err := writeJSON(filepath.Join(dir, FileRun), r.info); err != nil {
			r.writeErr = err
		}
	}
	pts, err := readMetrics(filepath.Join(dir, FileMetrics))
	if err != nil {
		r.log = append(r.log, "warning: "+err.Error())
	}
	for _, p := range pts {
		if b, err := json.Marshal(p); err == nil {
			r.points = append(r.points, p)
			r.lines = append(r.lines, b)
		}
	}
	r.seq = uint64(len(r.points))
	var a Alphas
	if ok, err := readJSON(filepath.Join(dir, FileAlphas), &a); ok {
		r.alphas = &a
	} else if err != nil {
		r.log = append(r.log, "warning: "+err.Error())
	}
	var g Genotype
	if ok, err := readJSON(filepath.Join(dir, FileGenotype), &g); ok {
		r.genotype = &g
		if b, err := os.ReadFile(filepath.Join(dir, FileGenotypeText)); err == nil {
			r.genotypeText = strings.TrimSpace(string(b))
		}
	} else if err != nil {
		r.log = append(r.log, "warning: "+err.Error())
	}
	var ls []LayerInfo
	if ok, err := readJSON(filepath.Join(dir, FileLayers), &ls); ok {
		r.layers = ls
	} else if err != nil {
		r.log = append(r.log, "warning: "+err.Error())
	}
	var rep AttackReport
	if ok, err := readJSON(filepath.Join(dir, FileAttack), &rep); ok {
		r.attack = &rep
	} else if err != nil {
		r.log = append(r.log, "warning: "+err.Error())
	}
	if b, err := os.ReadFile(filepath.Join(dir, FileLog)); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if line != "" {
				r.log = append(r.log, line)
				r.logSeen++
			}
		}
	}
	return r
}

func idNumber(id string) (int, bool) {
	if !strings.HasPrefix(id, "r") {
		return 0, false
	}
	n, err := strconv.Atoi(id[1:])
	return n, err == nil
}

// Dir returns the lab folder.
func (l *Lab) Dir() string { return l.opts.Dir }

// BackendName returns the backend's name.
func (l *Lab) BackendName() string { return l.opts.Backend.Name }

// Device returns where the backend's work computes ("cpu", "cuda:0"; ""
// when the backend does not say).
func (l *Lab) Device() string { return l.opts.Backend.Device }

// Attacks lists the attacks the backend knows.
func (l *Lab) Attacks() []string { return slices.Clone(l.opts.Backend.Attacks) }

// CanRun reports whether the backend has a job for kind k.
func (l *Lab) CanRun(k Kind) bool { return l.opts.Backend.Jobs[k] != nil }

// CanStep reports whether the backend has an attack stepper.
func (l *Lab) CanStep() bool { return l.opts.Backend.Stepper != nil }

// MaxConcurrent returns the main lane's concurrency limit.
func (l *Lab) MaxConcurrent() int { return l.opts.MaxConcurrent }

// MaxLight returns the light lane's concurrency limit.
func (l *Lab) MaxLight() int { return l.opts.MaxLight }

// LaneLight names the light lane (RunInfo.Lane).
const LaneLight = "light"

// laneOf is the lane a new run of spec waits in: robustness reports small
// enough to finish in moments take the light lane; everything else the
// main one.
func (l *Lab) laneOf(spec Spec) string {
	if spec.Kind != KindAttack || spec.Attack == nil {
		return ""
	}
	if n := cmp.Or(spec.Attack.N, DefaultReportImages); n <= l.opts.LightImages {
		return LaneLight
	}
	return ""
}

// DefaultReportImages is how many test images a robustness report attacks
// when its spec does not say (AttackSpec.N = 0).
const DefaultReportImages = 100

// Ahead returns how many runs wait before run id in its lane's queue
// (0 when it is not queued).
func (l *Lab) Ahead(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range [][]string{l.queue, l.light} {
		if i := slices.Index(q, id); i >= 0 {
			return i
		}
	}
	return 0
}

// Subscribe returns a subscription to every run's events (see Bus). Close
// it when the viewer goes away.
func (l *Lab) Subscribe() *Subscription { return l.bus.Subscribe(0) }

// Subscribers returns the number of open subscriptions.
func (l *Lab) Subscribers() int { return l.bus.Subscribers() }

// Runs returns every run's record in creation order.
func (l *Lab) Runs() []RunInfo {
	l.mu.Lock()
	rs := make([]*run, len(l.order))
	for i, id := range l.order {
		rs[i] = l.runs[id]
	}
	l.mu.Unlock()
	out := make([]RunInfo, len(rs))
	for i, r := range rs {
		r.mu.Lock()
		out[i] = r.info.Clone()
		r.mu.Unlock()
	}
	return out
}

// Run returns one run's record.
func (l *Lab) Run(id string) (RunInfo, bool) {
	r := l.get(id)
	if r == nil {
		return RunInfo{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info.Clone(), true
}

// RunDir returns a run's folder.
func (l *Lab) RunDir(id string) string { return filepath.Join(l.opts.Dir, runsDir, id) }

func (l *Lab) get(id string) *run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

// Snapshot is everything the lab holds about a run, for a viewer that
// opens it: the events up to Seq are all in it.
type Snapshot struct {
	Info         RunInfo
	Seq          uint64
	Points       []Event
	Alphas       *Alphas
	Genotype     *Genotype
	GenotypeText string
	Layers       []LayerInfo
	Attack       *AttackReport
	Log          []string
}

// Snapshot returns a copy of a run's state.
func (l *Lab) Snapshot(id string) (Snapshot, error) {
	r := l.get(id)
	if r == nil {
		return Snapshot{}, fmt.Errorf("no run %q", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{
		Info:         r.info.Clone(),
		Seq:          r.seq,
		Points:       slices.Clone(r.points),
		Alphas:       r.alphas.Clone(),
		Genotype:     r.genotype.Clone(),
		GenotypeText: r.genotypeText,
		Attack:       r.attack.Clone(),
		Log:          slices.Clone(r.log),
	}
	if r.layers != nil {
		s.Layers = cloneLayers(r.layers)
	}
	return s, nil
}

// Start creates a run of spec (filled in from its preset) and queues it.
func (l *Lab) Start(spec Spec) (RunInfo, error) { return l.start(spec, nil, StartOptions{}) }

// StartWith is Start on the executor (and in the sweep) o names.
func (l *Lab) StartWith(spec Spec, o StartOptions) (RunInfo, error) { return l.start(spec, nil, o) }

// TrainGenotype starts a train run of the genotype of run id (a search).
func (l *Lab) TrainGenotype(id string) (RunInfo, error) {
	s, err := l.Snapshot(id)
	if err != nil {
		return RunInfo{}, err
	}
	g := s.Genotype
	if g == nil {
		g = s.Info.Spec.Genotype
	}
	if g == nil {
		return RunInfo{}, fmt.Errorf("run %s has no genotype yet", id)
	}
	return l.start(Spec{Kind: KindTrain, Parent: id, Preset: s.Info.Spec.Preset, Dataset: s.Info.Spec.Dataset,
		Seed: s.Info.Spec.Seed, Genotype: g}, nil, StartOptions{})
}

// Retrain starts a retrain of run parent with the given rule edits: the
// same genotype and training set-up, the parent's edits followed by these.
// The child records the parent and its own edits.
func (l *Lab) Retrain(parent string, edits []RuleEdit) (RunInfo, error) {
	spec, err := l.retrainSpec(parent, edits)
	if err != nil {
		return RunInfo{}, err
	}
	return l.start(spec, slices.Clone(edits), StartOptions{})
}

// retrainSpec is the spec of a retrain of run parent with edits.
func (l *Lab) retrainSpec(parent string, edits []RuleEdit) (Spec, error) {
	s, err := l.Snapshot(parent)
	if err != nil {
		return Spec{}, err
	}
	p := s.Info
	g := p.Spec.Genotype
	if p.Kind == KindSearch || g == nil {
		g = s.Genotype
	}
	if g == nil {
		return Spec{}, fmt.Errorf("run %s has no genotype to retrain", parent)
	}
	spec := Spec{Kind: KindRetrain, Parent: parent, Preset: p.Spec.Preset, Dataset: p.Spec.Dataset, Seed: p.Spec.Seed, Genotype: g}
	if p.Kind == KindTrain || p.Kind == KindRetrain {
		spec.Epochs, spec.BatchSize, spec.C, spec.Cells = p.Spec.Epochs, p.Spec.BatchSize, p.Spec.C, p.Spec.Cells
		spec.Subset, spec.LR = p.Spec.Subset, p.Spec.LR
		spec.Edits = slices.Clone(p.Spec.Edits)
	}
	spec.Edits = append(spec.Edits, edits...)
	return spec, nil
}

// Attack starts a robustness report of the model of run model.
func (l *Lab) Attack(spec AttackSpec) (RunInfo, error) {
	s, err := l.attackSpec(spec)
	if err != nil {
		return RunInfo{}, err
	}
	return l.start(s, nil, StartOptions{})
}

// attackSpec is the spec of a robustness report of spec.Model's model.
func (l *Lab) attackSpec(spec AttackSpec) (Spec, error) {
	m, ok := l.Run(spec.Model)
	if !ok {
		return Spec{}, fmt.Errorf("no run %q", spec.Model)
	}
	return Spec{Kind: KindAttack, Parent: spec.Model, Dataset: m.Spec.Dataset, Preset: m.Spec.Preset, Attack: &spec}, nil
}

func (l *Lab) start(spec Spec, edits []RuleEdit, o StartOptions) (RunInfo, error) {
	spec = spec.Clone()
	ex, err := l.executorFor(o.Executor)
	if err != nil {
		return RunInfo{}, fmt.Errorf("start %s run: %w", spec.Kind, err)
	}
	if !slices.Contains(Kinds, spec.Kind) {
		return RunInfo{}, fmt.Errorf("start run: unknown kind %q", spec.Kind)
	}
	if err := spec.Validate(); err != nil {
		return RunInfo{}, fmt.Errorf("start run: %w", err)
	}
	// A lab preset fills the spec; any other name is the backend's to
	// resolve (an engine preset such as "quick").
	if p, ok := PresetByName(spec.Preset); ok && p.Spec.Kind == spec.Kind {
		spec = p.Apply(spec)
	}
	// One spelling of a dataset in every record ("fashion" is stored as
	// "fashion-mnist"); a name the data package does not know is left to
	// the backend, which says what it accepts.
	if c, err := CanonicalDataset(spec.Dataset); err == nil && spec.Dataset != "" {
		spec.Dataset = c
	}
	if l.opts.Backend.Jobs[spec.Kind] == nil {
		return RunInfo{}, fmt.Errorf("start %s run: %w", spec.Kind, ErrUnavailable)
	}
	switch spec.Kind {
	case KindRetrain, KindAttack:
		if spec.Parent == "" {
			return RunInfo{}, fmt.Errorf("start %s run: no parent run", spec.Kind)
		}
	}
	if spec.Kind == KindAttack && spec.Attack == nil {
		return RunInfo{}, errors.New("start attack run: no attack spec")
	}
	// The run computes on the backend's device, and its record says so. A
	// spec that asks for another device is refused, not moved quietly.
	dev := l.opts.Backend.Device
	if ex != nil && ex.Device() != "" {
		dev = ex.Device() // the executor's nodes compute, not this process
	}
	if dev != "" {
		if spec.Device != "" && spec.Device != dev {
			return RunInfo{}, fmt.Errorf("start %s run: spec.device is %s, but this lab computes on %s (open the lab with --device %s)",
				spec.Kind, spec.Device, dev, spec.Device)
		}
		spec.Device = dev
	}
	if spec.Parent != "" && l.get(spec.Parent) == nil {
		return RunInfo{}, fmt.Errorf("start %s run: no parent run %q", spec.Kind, spec.Parent)
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return RunInfo{}, errors.New("start run: the lab is closed")
	}
	id := fmt.Sprintf("r%04d", l.nextID)
	l.nextID++
	l.mu.Unlock()

	info := RunInfo{ID: id, Kind: spec.Kind, Spec: spec, Status: StatusQueued, Parent: spec.Parent, Edits: edits, Created: l.opts.Now(),
		Lane: l.laneOf(spec), Sweep: o.Sweep}
	if ex != nil {
		// The executor queues it; the lab's lanes are for its own goroutines.
		info.Lane, info.Job = "", ExecJob{Executor: ex.Name()}
	}
	// Create the folder under a temporary name and rename it once run.json
	// is in it: a run folder always has its record.
	dir := l.RunDir(id)
	tmp := filepath.Join(l.opts.Dir, runsDir, ".new-"+id)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return RunInfo{}, fmt.Errorf("start run: %w", err)
	}
	if err := writeJSON(filepath.Join(tmp, FileRun), info); err != nil {
		os.RemoveAll(tmp)
		return RunInfo{}, fmt.Errorf("start run: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return RunInfo{}, fmt.Errorf("start run: %w", err)
	}
	r := &run{dir: dir, info: info}

	l.mu.Lock()
	l.runs[id] = r
	l.order = append(l.order, id)
	if ex == nil {
		l.enqueueLocked(id, info.Lane)
	}
	l.mu.Unlock()
	l.publishStatus(r)
	if ex != nil {
		// A submission that fails (no sbatch, a full queue, a partition
		// that does not exist) fails the run, resumable, with the
		// executor's words; the caller gets the record and the error.
		if err := l.submit(ex, r); err != nil {
			now, _ := l.Run(id)
			return now, err
		}
	}
	l.schedule()
	// The record as it is now: running if a slot was free, else queued
	// (the caller says which, with Ahead, instead of "started").
	if now, ok := l.Run(id); ok {
		return now, nil
	}
	return info.Clone(), nil
}

// enqueueLocked appends run id to its lane's queue; l.mu must be held.
func (l *Lab) enqueueLocked(id, lane string) {
	if lane == LaneLight {
		l.light = append(l.light, id)
		return
	}
	l.queue = append(l.queue, id)
}

// Stop interrupts a queued or running run. A running job's context is
// cancelled; the run becomes interrupted when the job returns.
func (l *Lab) Stop(id string) error {
	l.mu.Lock()
	r := l.runs[id]
	if r == nil {
		l.mu.Unlock()
		return fmt.Errorf("no run %q", id)
	}
	for _, q := range []*[]string{&l.queue, &l.light} {
		if i := slices.Index(*q, id); i >= 0 {
			*q = slices.Delete(*q, i, i+1)
			l.mu.Unlock()
			l.finish(r, StatusInterrupted, "stopped before it started")
			return nil
		}
	}
	l.mu.Unlock()
	r.mu.Lock()
	cancel, st, job := r.cancel, r.info.Status, r.info.Job
	r.mu.Unlock()
	if job.Executor != "" && st.Active() {
		return l.cancelRemote(r, job)
	}
	if st != StatusRunning || cancel == nil {
		return fmt.Errorf("run %s is %s, not running", id, st)
	}
	cancel()
	return nil
}

// Resume queues an interrupted or failed run again; its job runs with
// Job.Resume set.
func (l *Lab) Resume(id string) (RunInfo, error) {
	l.mu.Lock()
	r := l.runs[id]
	if r == nil {
		l.mu.Unlock()
		return RunInfo{}, fmt.Errorf("no run %q", id)
	}
	if l.closed {
		l.mu.Unlock()
		return RunInfo{}, errors.New("resume: the lab is closed")
	}
	r.mu.Lock()
	if !r.info.Status.Resumable() {
		st := r.info.Status
		r.mu.Unlock()
		l.mu.Unlock()
		return RunInfo{}, fmt.Errorf("run %s is %s: only interrupted or failed runs resume", id, st)
	}
	// It resumes where it ran if the lab has that executor (a Slurm run
	// is submitted again, to go on from its checkpoint), else on the
	// lab's goroutines.
	ex, _ := l.executorFor(r.info.Job.Executor)
	if r.info.Job.Executor == "" {
		ex = nil
	}
	if ex == nil && l.opts.Backend.Jobs[r.info.Kind] == nil {
		r.mu.Unlock()
		l.mu.Unlock()
		return RunInfo{}, fmt.Errorf("resume %s run: %w", r.info.Kind, ErrUnavailable)
	}
	// A damaged run.json loads as a failed run to show; it must not run.
	if err := r.info.Spec.Validate(); err != nil {
		r.mu.Unlock()
		l.mu.Unlock()
		return RunInfo{}, fmt.Errorf("resume %s: %s: %w", id, filepath.Join(r.dir, FileRun), err)
	}
	// The folder must be free: a job elsewhere may still hold it (Slurm
	// says it ended, but its node is cut off and the process lives on).
	// The lock is kept until the run is handed on (local: its job takes
	// it again; remote: the record is written before submission).
	lk, err := lockRun(r.dir)
	if err != nil {
		r.mu.Unlock()
		l.mu.Unlock()
		return RunInfo{}, fmt.Errorf("resume %s: %w", id, err)
	}
	moved := ""
	if r.info.Job.Executor != "" && ex == nil {
		moved = fmt.Sprintf("resumed on this lab's goroutines (it ran on %s before)", r.info.Job.Executor)
		r.info.Job = ExecJob{}
	}
	if ex != nil {
		r.info.Job = ExecJob{Executor: ex.Name()}
	}
	r.info.Status = StatusQueued
	r.info.Error = ""
	r.info.Finished = time.Time{}
	r.info.Resumes++
	r.resume = true
	r.dirty |= dirtyInfo
	// A resumed run computes on the lab's device of now, which may not be
	// the one it started on (the lab was reopened with another --device):
	// the record follows, and the log keeps the change.
	dev := l.opts.Backend.Device
	if ex != nil && ex.Device() != "" {
		dev = ex.Device()
	}
	if dev != "" && dev != r.info.Spec.Device {
		if old := r.info.Spec.Device; old != "" {
			moved = fmt.Sprintf("resumed on %s (it computed on %s before)", dev, old)
		}
		r.info.Spec.Device = dev
	}
	info := r.info.Clone()
	r.mu.Unlock()
	if ex == nil {
		l.enqueueLocked(id, info.Lane)
	}
	l.notifyLocked()
	l.mu.Unlock()
	if moved != "" {
		l.emit(r, Event{Kind: EventLog, Message: moved})
	}
	l.flush(r)
	lk.Release()
	l.publishStatus(r)
	if ex != nil {
		if err := l.submit(ex, r); err != nil {
			now, _ := l.Run(id)
			return now, err
		}
		now, _ := l.Run(id)
		return now, nil
	}
	l.schedule()
	return info, nil
}

// schedule starts queued runs while their lanes have free slots.
func (l *Lab) schedule() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.closed {
		var id string
		switch {
		case l.runningLight < l.opts.MaxLight && len(l.light) > 0:
			id, l.light = l.light[0], l.light[1:]
		case l.running < l.opts.MaxConcurrent && len(l.queue) > 0:
			id, l.queue = l.queue[0], l.queue[1:]
		default:
			return
		}
		r := l.runs[id]
		ctx, cancel := context.WithCancel(context.Background())
		r.mu.Lock()
		if r.info.Status != StatusQueued {
			r.mu.Unlock()
			cancel()
			continue
		}
		r.info.Status = StatusRunning
		if r.info.Started.IsZero() || r.resume {
			r.info.Started = l.opts.Now()
		}
		r.cancel = cancel
		resume := r.resume
		r.resume = false
		info := r.info.Clone()
		r.dirty |= dirtyInfo
		r.mu.Unlock()
		if info.Lane == LaneLight {
			l.runningLight++
		} else {
			l.running++
		}
		l.jobs.Add(1)
		l.notifyLocked()
		go l.execute(ctx, cancel, r, info, resume)
	}
}

// execute runs one job to its end.
func (l *Lab) execute(ctx context.Context, cancel context.CancelFunc, r *run, info RunInfo, resume bool) {
	defer l.jobs.Done()
	defer cancel()
	// The job holds its folder's lock until its end is written: a job
	// elsewhere (`bionas job run` on the same folder) must not write it
	// at the same time. RunJob holds it itself.
	var status Status
	var msg string
	if lk, err := lockRun(r.dir); err != nil {
		status, msg = StatusFailed, err.Error()
	} else {
		defer lk.Release()
		status, msg = l.runJob(ctx, r, info, resume)
	}
	l.mu.Lock()
	if info.Lane == LaneLight {
		l.runningLight--
	} else {
		l.running--
	}
	l.mu.Unlock()
	l.finish(r, status, msg)
	l.schedule()
}

// runJob runs a run's job to its end and returns the status it ends in.
func (l *Lab) runJob(ctx context.Context, r *run, info RunInfo, resume bool) (Status, string) {
	l.flush(r)
	l.publishStatus(r)
	j := &Job{ID: info.ID, Spec: info.Spec, Dir: r.dir, Resume: resume, lab: l, run: r}
	if info.Parent != "" {
		if p, ok := l.Run(info.Parent); ok {
			j.Parent = &p
			j.ParentDir = l.RunDir(p.ID)
		}
	}
	err := l.call(ctx, l.opts.Backend.Jobs[info.Kind], j)
	status, msg := StatusDone, ""
	switch {
	case err == nil:
	case ctx.Err() != nil:
		status, msg = StatusInterrupted, "stopped"
		if l.isClosed() {
			msg = "interrupted: the lab was closed"
		}
	default:
		status, msg = StatusFailed, err.Error()
	}
	return status, msg
}

// call runs fn, turning a panic into an error.
func (l *Lab) call(ctx context.Context, fn JobFunc, j *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job panicked: %v\n%s", p, debug.Stack())
		}
	}()
	if fn == nil {
		return fmt.Errorf("%s job: %w", j.Spec.Kind, ErrUnavailable)
	}
	return fn(ctx, j)
}

// finish sets a run's final status, persists it and tells the viewers.
func (l *Lab) finish(r *run, st Status, msg string) {
	r.mu.Lock()
	r.info.Status = st
	r.info.Error = msg
	r.info.Finished = l.opts.Now()
	r.cancel = nil
	r.dirty |= dirtyInfo
	r.mu.Unlock()
	l.flush(r)
	l.publishStatus(r)
	l.mu.Lock()
	l.notifyLocked()
	l.mu.Unlock()
}

func (l *Lab) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// notifyLocked wakes WaitRun callers; l.mu must be held.
func (l *Lab) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// WaitRun waits until run id is neither queued nor running, and returns
// its record.
func (l *Lab) WaitRun(ctx context.Context, id string) (RunInfo, error) {
	for {
		l.mu.Lock()
		r := l.runs[id]
		ch := l.changed
		l.mu.Unlock()
		if r == nil {
			return RunInfo{}, fmt.Errorf("no run %q", id)
		}
		r.mu.Lock()
		info := r.info.Clone()
		r.mu.Unlock()
		if !info.Status.Active() {
			return info, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return info, ctx.Err()
		}
	}
}

// Close interrupts the running jobs, waits for them to return, writes
// every run folder and releases the lab folder. Runs it interrupted are
// resumable next time.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := append(l.queue, l.light...)
	l.queue, l.light = nil, nil
	var cancels []context.CancelFunc
	for _, r := range l.runs {
		r.mu.Lock()
		if r.cancel != nil {
			cancels = append(cancels, r.cancel)
		}
		r.mu.Unlock()
	}
	l.mu.Unlock()
	for _, id := range queued {
		l.finish(l.get(id), StatusInterrupted, "interrupted: the lab was closed")
	}
	for _, c := range cancels {
		c()
	}
	l.jobs.Wait()
	// Executor runs go on without the lab (they belong to the cluster):
	// their records stay as they are, and the next Open follows them.
	if l.watchStop != nil {
		close(l.watchStop)
		<-l.watchDone
	}
	close(l.writerStop)
	<-l.writerDone
	var errs []error
	for _, r := range l.allRuns() {
		if err := l.flush(r); err != nil {
			errs = append(errs, err)
		}
	}
	l.release()
	return errors.Join(errs...)
}

func (l *Lab) allRuns() []*run {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*run, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, l.runs[id])
	}
	return out
}

// Layers returns the rule layers of run id's discrete network: those the
// job reported (a train or retrain run), or those the backend would build
// from the run's genotype (a search).
func (l *Lab) Layers(ctx context.Context, id string) ([]LayerInfo, error) {
	s, err := l.Snapshot(id)
	if err != nil {
		return nil, err
	}
	if s.Layers != nil {
		return s.Layers, nil
	}
	g := s.Info.Spec.Genotype
	if g == nil {
		g = s.Genotype
	}
	if g == nil {
		return nil, fmt.Errorf("run %s has no genotype yet", id)
	}
	if l.opts.Backend.Layers == nil {
		return nil, fmt.Errorf("list layers: %w", ErrUnavailable)
	}
	spec := s.Info.Spec.Clone()
	if s.Info.Kind == KindSearch {
		spec = Spec{Kind: KindTrain, Preset: spec.Preset, Dataset: spec.Dataset, Seed: spec.Seed}
	}
	return l.opts.Backend.Layers(ctx, *g, spec)
}

// NewStepper starts an attack stepper on one test image of the model of
// run spec.Model (a finished train or retrain run).
func (l *Lab) NewStepper(ctx context.Context, spec AttackSpec) (Stepper, error) {
	if l.opts.Backend.Stepper == nil {
		return nil, fmt.Errorf("attack stepper: %w", ErrUnavailable)
	}
	m, ok := l.Run(spec.Model)
	if !ok {
		return nil, fmt.Errorf("attack: no run %q", spec.Model)
	}
	if m.Kind != KindTrain && m.Kind != KindRetrain {
		return nil, fmt.Errorf("attack: run %s is a %s run; pick a trained model (a train or retrain run)", m.ID, m.Kind)
	}
	if m.Status != StatusDone {
		return nil, fmt.Errorf("attack: run %s is %s; its model is not trained yet", m.ID, m.Status)
	}
	return l.opts.Backend.Stepper(ctx, m, l.RunDir(m.ID), spec)
}
