package search

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// Method is a search method: how the architecture is found.
type Method string

// The search methods.
const (
	MethodDARTS   Method = "darts"   // first-order DARTS
	MethodDARTS2  Method = "darts2"  // second-order (unrolled) DARTS
	MethodPCDARTS Method = "pcdarts" // PC-DARTS: partial channels, edge normalisation
	MethodEGNAS   Method = "egnas"   // EG-NAS: CMA-ES explorations of α
	MethodRandom  Method = "random"  // random search: sampled genotypes, briefly trained
)

// Methods lists the search methods.
func Methods() []Method {
	return []Method{MethodDARTS, MethodDARTS2, MethodPCDARTS, MethodEGNAS, MethodRandom}
}

// ParseMethod returns the method named s.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, 0, len(Methods()))
	for _, m := range Methods() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("search method %q: want one of %s", s, strings.Join(names, ", "))
}

// Overrides change a preset for one run; a zero field keeps the preset's
// value.
type Overrides struct {
	// Space is the space searched (zero: BioSpace()).
	Space Space
	// Epochs (random search: the number of samples), BatchSize and LR.
	Epochs    int
	BatchSize int
	LR        float32
	// C and Cells size the supernet (random search: each sample's network,
	// C and layers).
	C, Cells int
	// Recompute recomputes mixed ops in backward (see MixedOp).
	Recompute bool
	// Seed seeds the run (0 is a seed like any other).
	Seed uint64
	// Augment and Norm are the dataset's augmentation and normalisation.
	Augment data.Augment
	Norm    *data.Norm
}

// Hooks connect a run to its caller: where events go, where checkpoints
// live, where the work runs.
type Hooks struct {
	Emit          func(Event)
	CheckpointDir string
	Resume        bool
	Device        nn.Device
	// Workers is the number of goroutines making batches (0: the preset's).
	Workers int
	// AlphasEvery, if set, replaces the preset's RunControl.AlphasEvery:
	// the steps between "alphas" events within an epoch (negative: none
	// within epochs). A caller that writes every snapshot to disk may
	// want them less often than the step events.
	AlphasEvery int
}

// Halves are a search's data: the weights' half and the architecture's.
type Halves struct{ Train, Val data.Dataset }

// SplitForSearch takes the first images of ds (0 or more than there are:
// all) and splits them into the two halves of a search.
func SplitForSearch(ds data.Dataset, images int) Halves {
	if images > 0 && images < ds.Len() {
		idx := make([]int, images)
		for i := range idx {
			idx[i] = i
		}
		ds = data.Subset(ds, idx)
	}
	a, b := data.SearchSplit(ds)
	return Halves{Train: data.Subset(ds, a), Val: data.Subset(ds, b)}
}

// Plan is one run of a method: its complete configuration, which one of
// DARTS, EGNAS and Random holds.
type Plan struct {
	Method Method
	DARTS  *DARTSConfig
	EGNAS  *EGNASConfig
	Random *RandomConfig
}

// NewPlan configures method from preset p, changed by o and connected by
// h. The command line and the lab both start their searches here, so a
// setting means the same wherever it is given.
func NewPlan(method Method, p Preset, o Overrides, h Hooks) (Plan, error) {
	space := o.Space
	if len(space.Pairs) == 0 {
		space = BioSpace()
	}
	pl := Plan{Method: method}
	switch method {
	case MethodDARTS, MethodDARTS2, MethodPCDARTS:
		cfg := p.DARTS
		switch method {
		case MethodDARTS2:
			cfg = p.DARTS2
			cfg.Unrolled = true
		case MethodPCDARTS:
			cfg = p.PCDARTS
		}
		cfg.Supernet = overrideSupernet(cfg.Supernet, space, o)
		cfg.Epochs = cmp.Or(o.Epochs, cfg.Epochs)
		cfg.BatchSize = cmp.Or(o.BatchSize, cfg.BatchSize)
		cfg.LR = cmp.Or(o.LR, cfg.LR)
		cfg.Augment, cfg.Norm, cfg.Seed = o.Augment, o.Norm, o.Seed
		cfg.RunControl = h.control(cfg.RunControl)
		pl.DARTS = &cfg
	case MethodEGNAS:
		cfg := p.EGNAS
		cfg.Supernet = overrideSupernet(cfg.Supernet, space, o)
		cfg.Epochs = cmp.Or(o.Epochs, cfg.Epochs)
		cfg.BatchSize = cmp.Or(o.BatchSize, cfg.BatchSize)
		cfg.LR = cmp.Or(o.LR, cfg.LR)
		cfg.Augment, cfg.Norm, cfg.Seed = o.Augment, o.Norm, o.Seed
		cfg.RunControl = h.control(cfg.RunControl)
		pl.EGNAS = &cfg
	case MethodRandom:
		cfg := p.Random
		cfg.Space = space
		cfg.Samples = cmp.Or(o.Epochs, cfg.Samples)
		cfg.Network.C = cmp.Or(o.C, cfg.Network.C)
		cfg.Network.Layers = cmp.Or(o.Cells, cfg.Network.Layers)
		cfg.Train.BatchSize = cmp.Or(o.BatchSize, cfg.Train.BatchSize)
		cfg.Train.LR = cmp.Or(o.LR, cfg.Train.LR)
		cfg.Train.Augment, cfg.Train.Norm, cfg.Seed = o.Augment, o.Norm, o.Seed
		// Random search checkpoints after each sample itself; each sample's
		// training runs on the device with the hooks' workers.
		cfg.Train.Workers = cmp.Or(h.Workers, cfg.Train.Workers)
		cfg.Train.Device = h.Device
		cfg.CheckpointDir, cfg.Resume, cfg.Emit = h.CheckpointDir, h.Resume, h.Emit
		pl.Random = &cfg
	default:
		_, err := ParseMethod(string(method))
		return Plan{}, err
	}
	return pl, nil
}

// control is a run control block connected by h: its events, checkpoints
// and device, and its workers when h names a number.
func (h Hooks) control(rc RunControl) RunControl {
	rc.Workers = cmp.Or(h.Workers, rc.Workers)
	rc.AlphasEvery = cmp.Or(h.AlphasEvery, rc.AlphasEvery)
	rc.CheckpointDir, rc.Resume, rc.Emit, rc.Device = h.CheckpointDir, h.Resume, h.Emit, h.Device
	return rc
}

// overrideSupernet applies the space, size and recomputation of o.
func overrideSupernet(s SupernetConfig, space Space, o Overrides) SupernetConfig {
	s.Space = space
	s.C = cmp.Or(o.C, s.C)
	s.Cells = cmp.Or(o.Cells, s.Cells)
	s.Recompute = s.Recompute || o.Recompute
	return s
}

// Config is the plan's configuration as the JSON of a run's config.json:
// its key ("darts" for the three DARTS methods, "egnas", "random") and
// value.
func (pl Plan) Config() (key string, cfg any) {
	switch {
	case pl.DARTS != nil:
		return "darts", pl.DARTS
	case pl.EGNAS != nil:
		return "egnas", pl.EGNAS
	default:
		return "random", pl.Random
	}
}

// Run runs the plan on the halves.
func (pl Plan) Run(ctx context.Context, d Halves) (*Result, error) {
	switch {
	case pl.DARTS != nil:
		return DARTS(ctx, *pl.DARTS, d.Train, d.Val)
	case pl.EGNAS != nil:
		return EGNAS(ctx, *pl.EGNAS, d.Train, d.Val)
	case pl.Random != nil:
		return RandomSearch(ctx, *pl.Random, d.Train, d.Val)
	}
	return nil, fmt.Errorf("search: an empty plan (make it with NewPlan)")
}

// Run runs method on d with preset p changed by o and connected by h: the
// one entry point of every search.
func Run(ctx context.Context, method Method, p Preset, o Overrides, d Halves, h Hooks) (*Result, error) {
	pl, err := NewPlan(method, p, o, h)
	if err != nil {
		return nil, err
	}
	return pl.Run(ctx, d)
}
