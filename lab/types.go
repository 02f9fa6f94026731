package lab

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// Kind is what a run does.
type Kind string

// The kinds of run.
const (
	KindSearch  Kind = "search"  // architecture search (DARTS, EG-NAS, random): alphas and a genotype
	KindTrain   Kind = "train"   // train the discrete network of a genotype from scratch
	KindRetrain Kind = "retrain" // train again with some layers' learning rules edited (a child run)
	KindAttack  Kind = "attack"  // robustness report of a trained model under attacks
)

// Kinds lists every kind in display order.
var Kinds = []Kind{KindSearch, KindTrain, KindRetrain, KindAttack}

// Status is where a run is in its life.
type Status string

// The statuses of a run.
const (
	StatusQueued      Status = "queued"      // waiting for a free job slot
	StatusRunning     Status = "running"     // its job is running
	StatusDone        Status = "done"        // its job returned without error
	StatusFailed      Status = "failed"      // its job returned an error (or panicked)
	StatusInterrupted Status = "interrupted" // stopped, or the process died while it ran; resumable
)

// Active reports whether the run is queued or running.
func (s Status) Active() bool { return s == StatusQueued || s == StatusRunning }

// Resumable reports whether Resume accepts a run in this status.
func (s Status) Resumable() bool { return s == StatusInterrupted || s == StatusFailed }

// Spec says what a run should do. Zero fields take the preset's value (or
// the backend's default when there is no preset), so Spec{Kind: KindSearch,
// Preset: "mnist-quick"} is a complete search.
type Spec struct {
	Kind   Kind   `json:"kind"`
	Preset string `json:"preset,omitempty"`
	// Parent is the run this one starts from: the search whose genotype a
	// train run trains, the run a retrain edits, the model an attack run
	// attacks.
	Parent string `json:"parent,omitempty"`

	Dataset string        `json:"dataset,omitempty"` // "mnist", "fashion-mnist", "cifar10", "synthetic", … (lab.Datasets)
	Method  search.Method `json:"method,omitempty"`  // search: darts, darts2, pcdarts, egnas, random
	Space   string        `json:"space,omitempty"`   // search: "bio", "bp", "hlpc", "lrnas"

	Epochs    int     `json:"epochs,omitempty"`
	BatchSize int     `json:"batch_size,omitempty"`
	C         int     `json:"c,omitempty"`      // initial channels
	Cells     int     `json:"cells,omitempty"`  // cells (search) or layers (train)
	Subset    int     `json:"subset,omitempty"` // use only the first Subset training images (0 = all)
	LR        float64 `json:"lr,omitempty"`
	Seed      uint64  `json:"seed,omitempty"`

	// Genotype, for a train run, is the architecture to train; empty means
	// the parent search's final genotype.
	Genotype *Genotype `json:"genotype,omitempty"`
	// Edits are the rule changes of a retrain, applied in order to the
	// network the parent trained (including the parent's own edits).
	Edits []RuleEdit `json:"edits,omitempty"`
	// Attack configures an attack run.
	Attack *AttackSpec `json:"attack,omitempty"`
	// Dynamics, for a train run, probes per-layer gradient variance,
	// feedback alignment and weight distributions at the start and after
	// every epoch, into dynamics.jsonl (the dynamics study).
	Dynamics bool `json:"dynamics,omitempty"`

	// Device is where the run computes ("cpu", "cuda:0"): the lab records
	// its backend's device here when the run starts and again when it
	// resumes (a resumed run computes on the lab's device of the moment,
	// and its log says so when that differs). Empty in run.json files
	// written before the lab recorded it, and for backends that name no
	// device (tests' fakes).
	Device string `json:"device,omitempty"`
}

// RuleEdit sets the learning rule of some layers of a discrete network.
// Selector is a full layer name ("cells.3.edge2.op.dw1"), an edge
// ("cell3.edge2": every conv of that edge), a cell ("cell3") or "all".
type RuleEdit struct {
	Selector string    `json:"selector"`
	Rule     rule.Rule `json:"rule"`
}

func (e RuleEdit) String() string { return e.Selector + "=" + string(e.Rule) }

// Metrics are the latest numbers of a run, as shown in the runs list.
type Metrics struct {
	Epoch        int     `json:"epoch"`
	Epochs       int     `json:"epochs,omitempty"`
	Step         int     `json:"step"`
	TotalSteps   int     `json:"total_steps,omitempty"`
	Loss         float64 `json:"loss,omitempty"`
	Acc          float64 `json:"acc,omitempty"`
	ValLoss      float64 `json:"val_loss,omitempty"`
	ValAcc       float64 `json:"val_acc,omitempty"`
	TestAcc      float64 `json:"test_acc,omitempty"`
	ImagesPerSec float64 `json:"images_per_sec,omitempty"`
	// RobustAcc is an attack run's worst-case robust accuracy.
	RobustAcc float64 `json:"robust_acc,omitempty"`
}

// Progress is the fraction of the run's steps done, in [0, 1].
func (m Metrics) Progress() float64 {
	if m.TotalSteps <= 0 {
		return 0
	}
	p := float64(m.Step) / float64(m.TotalSteps)
	return min(max(p, 0), 1)
}

// RunInfo is a run's record: the content of its run.json.
type RunInfo struct {
	ID     string `json:"id"`
	Kind   Kind   `json:"kind"`
	Spec   Spec   `json:"spec"`
	Status Status `json:"status"`
	// Parent is Spec.Parent, repeated at the top for readers of run.json.
	Parent string `json:"parent,omitempty"`
	// Edits are the edits this run made on top of its parent (a retrain);
	// Spec.Edits holds all of them, the parent's included.
	Edits []RuleEdit `json:"edits,omitempty"`
	Error string     `json:"error,omitempty"`

	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Resumes counts how many times the run was resumed.
	Resumes int `json:"resumes,omitempty"`

	Last Metrics `json:"last"`

	// Name is the user's name for the run (Rename); empty shows Title's
	// generated one.
	Name string `json:"name,omitempty"`
	// Note is the user's free-text note on the run (SetNote).
	Note string `json:"note,omitempty"`
	// Archived runs are kept with all their files but hidden from the
	// runs list unless the viewer asks for them (Archive).
	Archived bool `json:"archived,omitempty"`
	// Lane is the queue the run waits in: "" for the main lane (searches,
	// trainings, large reports), LaneLight for short jobs that must not
	// wait behind a training (small robustness reports).
	Lane string `json:"lane,omitempty"`
	// Job is the run's job on an executor other than the lab's own
	// goroutines (a Slurm job: its id, state, node); zero for a local run.
	Job ExecJob `json:"job,omitzero"`
	// Sweep names the sweep the run was started by (Lab.Sweep: "s0005",
	// after the sweep's first run), so that viewers group its runs.
	Sweep string `json:"sweep,omitempty"`
}

// Title is a short human name: the user's Name if the run has one, else
// "search mnist darts", "retrain of r0003".
func (r RunInfo) Title() string {
	if r.Name != "" {
		return r.Name
	}
	switch r.Kind {
	case KindRetrain:
		return "retrain of " + r.Parent
	case KindTrain:
		if r.Parent != "" {
			return "train " + r.Parent
		}
	case KindAttack:
		a := ""
		if r.Spec.Attack != nil {
			a = " " + r.Spec.Attack.Attack
		}
		return "attack" + a + " " + r.Parent
	}
	parts := []string{string(r.Kind)}
	for _, s := range []string{r.Spec.Dataset, string(r.Spec.Method)} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 1 && r.Spec.Preset != "" {
		parts = append(parts, r.Spec.Preset)
	}
	return strings.Join(parts, " ")
}

// Pair is column j's (operation, rule) pair, parsed from its name by the
// search package (a name this build does not know keeps its two parts as
// they are), so that panes group and colour columns by typed values.
func (a *Alphas) Pair(j int) search.Pair {
	if p, err := search.ParsePair(a.Pairs[j]); err == nil {
		return p
	}
	op, r, _ := strings.Cut(a.Pairs[j], ":")
	return search.Pair{Op: search.Op(op), Rule: rule.Rule(r)}
}

// Alphas is the architecture of a search at one moment: the softmax
// weights of every edge (rows) over every (op, rule) pair (columns), for
// the normal and the reduction cell.
type Alphas struct {
	// Pairs names the columns, e.g. "sep_conv_3x3:fa".
	Pairs []string `json:"pairs"`
	// Edges names the rows, e.g. "0→2" (cell inputs are states 0 and 1,
	// intermediate nodes 2…).
	Edges  []string    `json:"edges"`
	Normal [][]float32 `json:"normal"`
	Reduce [][]float32 `json:"reduce"`
	Epoch  int         `json:"epoch"`
	Step   int         `json:"step"`
}

// EdgeNames returns DARTS' flat edge order for a cell with the given number
// of intermediate nodes: node i (counted from 2) has inputs 0…i-1, so for
// steps=4 the 14 edges are 0→2, 1→2, 0→3, 1→3, 2→3, 0→4, ….
func EdgeNames(steps int) []string {
	var out []string
	for to := 2; to < steps+2; to++ {
		for from := range to {
			out = append(out, fmt.Sprintf("%d→%d", from, to))
		}
	}
	return out
}

// Genotype is a discrete architecture: the search package's own type (its
// JSON is the form every part of BioNAS shares, DESIGN.md), so that a
// run's genotype travels from the engine to the panes as one typed value.
type Genotype = search.Genotype

// CellGenotype is one cell of a Genotype.
type CellGenotype = search.CellGenotype

// GenotypeEdge is one edge of a cell: state From feeds node To through the
// pair (Op, Rule).
type GenotypeEdge = search.Edge

// LayerInfo is one rule-carrying layer of a discrete network, as the rule
// editor lists it. Cells count from 0 in every form: Cell 3 is layer name
// "cells.3.…" and selector "cell3"; edges count from 0 in the order of the
// genotype's cell ("cell3.edge2" is the third edge of the reduce cell's
// genotype when cell 3 is a reduction cell).
type LayerInfo struct {
	Name string `json:"name"` // full layer name, usable as a RuleEdit selector
	Cell int    `json:"cell"` // −1 for the stem and the classifier
	// Reduce marks the layers of a reduction cell.
	Reduce bool   `json:"reduce,omitempty"`
	Edge   string `json:"edge,omitempty"` // "cell3.edge2", the selector of the whole edge
	// FromTo is the edge as the genotype draws it, "0→2": from state 0
	// (0 and 1 are the cell's inputs, 2… its nodes) into node 2.
	FromTo string `json:"from_to,omitempty"`
	// Part is where the layer sits inside its edge's op ("dw1", "pw2",
	// "conv_1", "hebb") or its cell ("pre0.conv"); empty for the stem and
	// the heads, whose Name says it.
	Part  string    `json:"part,omitempty"`
	Op    string    `json:"op,omitempty"`
	Rule  rule.Rule `json:"rule"`
	Shape []int     `json:"shape,omitempty"`
}

// AttackSpec configures an attack: against the model of run Model, attack
// Attack ("fgsm", "pgd", …; "all" for a report of every one) with budget
// Eps (in pixel units of [0,1] images; 0: the attacks' default 8/255),
// gradients from Mode ("own": the model's own feedback path, "true": the
// true gradient; black-box attacks take none), on test image Image
// (stepper) or the first N test images (report, default 100). Steps, if
// set, is the iterations of every iterative attack: PGD, TPGD and APGD
// steps, One-Pixel generations, Square queries.
type AttackSpec struct {
	Model  string           `json:"model"`
	Attack string           `json:"attack"`
	Mode   attacks.GradMode `json:"mode"`
	// BothModes makes a report run its white-box attacks in both gradient
	// modes, own and true, whatever Mode says.
	BothModes bool    `json:"both_modes,omitempty"`
	Eps       float64 `json:"eps"`
	Steps     int     `json:"steps,omitempty"`
	Image     int     `json:"image,omitempty"`
	N         int     `json:"n,omitempty"`
	Seed      uint64  `json:"seed,omitempty"`
	// Settings are attack settings as bionas attack --set takes them
	// ("apgd.steps": "20", "onepixel.pixels": "3"), applied after Eps and
	// Steps.
	Settings map[string]string `json:"settings,omitempty"`
	// Surrogate is the run of a trained bp model that the transfer attack
	// crafts its adversarials on (required for "transfer").
	Surrogate string `json:"surrogate,omitempty"`
}

// Image is a CHW image with values in [0, 1].
type Image struct {
	C   int       `json:"c"`
	H   int       `json:"h"`
	W   int       `json:"w"`
	Pix []float32 `json:"pix"`
}

// At returns channel c of pixel (y, x).
func (im Image) At(c, y, x int) float32 { return im.Pix[(c*im.H+y)*im.W+x] }

// AttackState is an attack stepper after some steps on one image. The
// adversarial image is where the attack's search stands (for APGD and
// Square, which return the clean image unless they fool the model, the
// point they are trying), so that every step shows what the attack does.
type AttackState struct {
	Spec    AttackSpec `json:"spec"`
	Step    int        `json:"step"`
	Steps   int        `json:"steps"`
	Done    bool       `json:"done"`
	Label   int        `json:"label"`
	Pred    int        `json:"pred"`     // the adversarial image's predicted class
	Success bool       `json:"success"`  // Pred != Label
	Classes []string   `json:"classes"`  // class names
	Probs   []float64  `json:"probs"`    // softmax on the adversarial image
	Clean   []float64  `json:"clean"`    // softmax on the clean image
	Losses  []float64  `json:"losses"`   // attack loss per step, Losses[0] on the clean image
	LInf    float64    `json:"linf"`     // ‖adv − clean‖∞
	CleanIm Image      `json:"clean_im"` // the test image
	AdvIm   Image      `json:"adv_im"`   // the adversarial image

	// Desc is the attack with its parameters ("PGD ε=0.3 α=2/255 10
	// steps").
	Desc string `json:"desc,omitempty"`
	// BlackBox marks an attack that takes no gradient of the model (it
	// only queries it): Mode means nothing to it.
	BlackBox bool `json:"black_box,omitempty"`
	// Budget is the L∞ budget in force (the attack's default when
	// Spec.Eps is 0), 0 for an L0 attack; PixelBudget is an L0 attack's
	// budget, the pixels it may set to any value (One-Pixel), else 0.
	Budget      float64 `json:"budget,omitempty"`
	PixelBudget int     `json:"pixel_budget,omitempty"`
	// Changed counts the pixels (positions, over all channels) where the
	// adversarial image differs from the clean one.
	Changed int `json:"changed"`
	// Queries counts the model evaluations spent (a gradient pass is one).
	Queries int `json:"queries,omitempty"`
	// Warning is set when the attack cannot use its budget (see
	// attacks.BudgetWarning).
	Warning string `json:"warning,omitempty"`
}

// Perturbation returns adv − clean mapped to [0, 1] (0.5 = unchanged),
// scaled so that ±ε spans the range (the budget in force, else Spec.Eps),
// or ±1 for an L0 attack, which sets pixels to any value.
func (s AttackState) Perturbation() Image {
	p := Image{C: s.CleanIm.C, H: s.CleanIm.H, W: s.CleanIm.W, Pix: make([]float32, len(s.CleanIm.Pix))}
	eps := float32(s.Budget)
	if eps <= 0 {
		eps = float32(s.Spec.Eps)
	}
	if eps <= 0 || s.PixelBudget > 0 {
		eps = 1
	}
	for i := range p.Pix {
		if i < len(s.AdvIm.Pix) {
			p.Pix[i] = min(max(0.5+0.5*(s.AdvIm.Pix[i]-s.CleanIm.Pix[i])/eps, 0), 1)
		}
	}
	return p
}

// AttackRow is one attack in one gradient mode in a robustness report.
type AttackRow struct {
	Attack string `json:"attack"`
	// Label is the attack with its parameters ("PGD ε=0.3 α=2/255 10
	// steps").
	Label string `json:"label,omitempty"`
	// Mode is own, true, or black-box (no gradient: BlackBox).
	Mode     string `json:"mode"`
	BlackBox bool   `json:"black_box,omitempty"`
	// Eps is the L∞ budget (0 for One-Pixel); Budget says it in words
	// ("ε 0.3", "1 pixel").
	Eps    float64 `json:"eps"`
	Budget string  `json:"budget,omitempty"`
	// N is the number of images attacked; Done, in a row under way, those
	// whose batches are finished.
	N    int `json:"n,omitempty"`
	Done int `json:"done,omitempty"`
	// RobustAcc is the fraction of the N images classified correctly
	// after the attack.
	RobustAcc float64 `json:"robust_acc"`
	// Warning is set when the attack cannot use its budget (see
	// attacks.BudgetWarning).
	Warning string `json:"warning,omitempty"`
	// MaxLInf is the largest perturbation made, MeanQueries the model
	// evaluations per image.
	MaxLInf     float64 `json:"max_linf,omitempty"`
	MeanQueries float64 `json:"mean_queries,omitempty"`
}

// AttackReport is the result (or the progress) of an attack run: the
// model's clean accuracy, one row per attack and gradient mode (white-box
// attacks in each mode asked for, black-box ones once), each on the same
// N images, and the pointwise worst case. Table lays it out as every view
// shows it.
type AttackReport struct {
	Model   string `json:"model"`
	Dataset string `json:"dataset,omitempty"`
	// N is the number of images each row attacks (attack.json files
	// written before Total existed held the total here; they are read
	// back in today's terms).
	N int `json:"n"`
	// Total counts the run's image units (an image attacked by one row),
	// N × rows; Done those done so far.
	Total int `json:"total"`
	Done  int `json:"done"`
	// Seed and BatchSize are what the numbers depend on besides the model
	// and the attacks (`bionas attack --seed --batch` reproduces them).
	Seed      uint64  `json:"seed"`
	BatchSize int     `json:"batch_size,omitempty"`
	CleanAcc  float64 `json:"clean_acc"`
	// Rows are the finished rows, Pending those still to run (the first
	// may be under way).
	Rows    []AttackRow `json:"rows"`
	Pending []AttackRow `json:"pending,omitempty"`
	// WorstCase is the pointwise worst case over the rows: an image counts
	// as robust only if it is classified correctly clean and every attack
	// failed on it. While Pending is not empty, over the rows so far.
	WorstCase float64 `json:"worst_case"`
}

// Clone returns a deep copy.
func (a *Alphas) Clone() *Alphas {
	if a == nil {
		return nil
	}
	c := *a
	c.Pairs = slices.Clone(a.Pairs)
	c.Edges = slices.Clone(a.Edges)
	c.Normal = clone2D(a.Normal)
	c.Reduce = clone2D(a.Reduce)
	return &c
}

// Clone returns a deep copy.
func (im Image) Clone() Image { im.Pix = slices.Clone(im.Pix); return im }

// Clone returns a deep copy.
func (s *AttackState) Clone() *AttackState {
	if s == nil {
		return nil
	}
	c := *s
	c.Classes = slices.Clone(s.Classes)
	c.Probs = slices.Clone(s.Probs)
	c.Clean = slices.Clone(s.Clean)
	c.Losses = slices.Clone(s.Losses)
	c.CleanIm = s.CleanIm.Clone()
	c.AdvIm = s.AdvIm.Clone()
	return &c
}

// Clone returns a deep copy.
func (r *AttackReport) Clone() *AttackReport {
	if r == nil {
		return nil
	}
	c := *r
	c.Rows = slices.Clone(r.Rows)
	c.Pending = slices.Clone(r.Pending)
	return &c
}

func clone2D(m [][]float32) [][]float32 {
	if m == nil {
		return nil
	}
	out := make([][]float32, len(m))
	for i, row := range m {
		out[i] = slices.Clone(row)
	}
	return out
}

// Clone returns a deep copy of the spec.
func (s Spec) Clone() Spec {
	s.Genotype = s.Genotype.Clone()
	s.Edits = slices.Clone(s.Edits)
	if s.Attack != nil {
		a := *s.Attack
		a.Settings = maps.Clone(a.Settings)
		s.Attack = &a
	}
	return s
}

// Clone returns a deep copy of the record.
func (r RunInfo) Clone() RunInfo {
	r.Spec = r.Spec.Clone()
	r.Edits = slices.Clone(r.Edits)
	return r
}
