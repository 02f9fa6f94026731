package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bionaslab/bionas/nn"
)

// ErrUnavailable is returned for work the lab's backend cannot do (no job
// for a kind, no attack stepper).
var ErrUnavailable = errors.New("not available in this build")

// JobFunc does a run's work. It runs in its own goroutine; ctx is
// cancelled by Lab.Stop and Lab.Close, and the job should then return
// promptly (returning ctx.Err() or an error wrapping it marks the run
// interrupted). It reports through j.Emit.
type JobFunc func(ctx context.Context, j *Job) error

// Stepper is an attack on one image that advances one iteration per Step.
// Steps run on the caller's goroutine: a viewer calls them from its own
// background command, never from its render loop.
type Stepper interface {
	// State is the attack as it stands (after zero or more steps).
	State() AttackState
	// Step does one iteration and returns the new state; after the last
	// iteration it returns the final state with Done set.
	Step(ctx context.Context) (AttackState, error)
	// Close releases the model and data.
	Close() error
}

// Backend is the work a lab can do. A nil field means the lab cannot do
// that kind of work and says so (ErrUnavailable) instead of pretending.
type Backend struct {
	// Name says what the backend is ("search", "fake"): shown in the UI.
	Name string
	// Jobs maps each kind of run to the function that does it.
	Jobs map[Kind]JobFunc
	// Layers lists the rule layers of the discrete network that a run of
	// the given spec (a train of genotype g, with spec.Edits applied)
	// would build.
	Layers func(ctx context.Context, g Genotype, spec Spec) ([]LayerInfo, error)
	// Stepper starts an attack on one test image of the model of run
	// spec.Model, whose record and folder are given.
	Stepper func(ctx context.Context, model RunInfo, modelDir string, spec AttackSpec) (Stepper, error)
	// Attacks names the attacks the stepper and attack runs know.
	Attacks []string
	// Device is where the jobs and the stepper compute ("cpu", "cuda:0"):
	// recorded in every run's Spec.Device and shown by viewers. Empty for
	// a backend that does not say (tests' fakes).
	Device string
}

// Job is a running run as its JobFunc sees it.
type Job struct {
	// ID is the run's ID; Spec its spec (the job's own copy).
	ID   string
	Spec Spec
	// Dir is the run folder: the job may keep its own files there
	// (checkpoints under Dir/ckpt, model.safetensors).
	Dir string
	// Resume is set when the run is being resumed after an interruption.
	Resume bool
	// Parent is the parent run's record and ParentDir its folder (nil and
	// "" without a parent).
	Parent    *RunInfo
	ParentDir string

	lab *Lab
	run *run
}

// Emit reports an event. It never blocks on a viewer and does no disk I/O:
// the lab copies what it needs, updates the run's record and hands the
// event to the bus; a writer goroutine persists it later. Run, Seq and (if
// zero) Time are filled in.
func (j *Job) Emit(e Event) { j.lab.emit(j.run, e) }

// Logf emits a log line.
func (j *Job) Logf(format string, args ...any) {
	j.Emit(Event{Kind: EventLog, Message: fmt.Sprintf(format, args...)})
}

// WriteFile writes a file of the run folder atomically.
func (j *Job) WriteFile(name string, data []byte) error {
	return nn.WriteFileAtomic(filepath.Join(j.Dir, name), data)
}
