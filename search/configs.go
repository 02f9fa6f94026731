package search

import "github.com/bionaslab/bionas/nn"

// The blocks every run configuration shares. They are embedded (not
// named fields), so their settings read as the configuration's own
// (cfg.Momentum, cfg.Workers) and their JSON stays in the configuration's
// own object, in the same place as before the blocks existed
// (TestConfigJSONUnchanged).

// SGDSettings are the weights' SGD of a run: Momentum [0.9], WeightDecay
// [3e-4], Nesterov (used only with momentum) and GradClip [5], the bound
// on the global L2 norm of the weights' gradient.
type SGDSettings struct {
	Momentum    float32 `json:"momentum"`
	WeightDecay float32 `json:"weight_decay"`
	Nesterov    bool    `json:"nesterov"`
	GradClip    float32 `json:"grad_clip"`
}

func (s SGDSettings) withDefaults() SGDSettings {
	s.Momentum = orDefault(s.Momentum, 0.9)
	s.WeightDecay = orDefault(s.WeightDecay, 3e-4)
	s.GradClip = orDefault(s.GradClip, 5)
	return s
}

// sgd is the optimizer configuration at learning rate lr.
func (s SGDSettings) sgd(lr float32) nn.SGDConfig {
	return nn.SGDConfig{LR: lr, Momentum: s.Momentum, WeightDecay: s.WeightDecay, Nesterov: s.Nesterov && s.Momentum > 0}
}

// RunControl connects a run to its caller; none of it is part of what the
// run computes, so none of it is saved.
type RunControl struct {
	// EmitEvery [10] is the number of steps between "step" events.
	EmitEvery int `json:"-"`
	// AlphasEvery [EmitEvery] is the number of steps between the
	// "alphas" events a gradient search (DARTS, PC-DARTS) sends within an
	// epoch while its α move; negative: none within epochs (they still
	// come at each epoch's start and at the end). Reading α for an event
	// changes nothing the search computes.
	AlphasEvery int `json:"-"`
	// Workers [1] is the number of goroutines making batches.
	Workers int `json:"-"`
	// CheckpointDir, if set, receives a checkpoint after every epoch (or
	// sample); with Resume the run continues from the one found there (an
	// empty folder starts afresh).
	CheckpointDir string `json:"-"`
	Resume        bool   `json:"-"`
	// Emit receives the events; it must not block.
	Emit func(Event) `json:"-"`
	// Device, if set, holds the run's network for the whole run (weights,
	// α, activations, gradients, optimizer state): batches go up; losses,
	// accuracies, α for events and checkpoints come back. The network is
	// back on the host when the run returns. Nil is the CPU.
	Device nn.Device `json:"-"`
}

func (r RunControl) withDefaults() RunControl {
	r.EmitEvery = orDefault(r.EmitEvery, 10)
	r.AlphasEvery = orDefault(r.AlphasEvery, r.EmitEvery)
	r.Workers = orDefault(r.Workers, 1)
	return r
}

// orDefault is a configuration's reading of a setting: 0 means the
// default d, a negative value means 0 (for settings whose meaningful
// value may be 0), anything else is itself.
func orDefault[T int | float32 | float64](v, d T) T {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}
