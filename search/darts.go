package search

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// DARTSConfig configures DARTS (REFERENCE.md §2.3), first order or second
// order (Unrolled), and PC-DARTS through Supernet.PartialChannels = 4 (with
// ArchLR 6e-4, ArchWarmup 15, LR 0.1, LRMin < 0 for PC-DARTS' own
// settings, §5). A zero field means DARTS' default, given in brackets, so
// DARTSConfig{} is usable as is; for the float settings whose meaningful
// value may be 0, a negative value means 0.
type DARTSConfig struct {
	// Supernet is the network searched (its zero value: DARTS' C=16, 8
	// cells, over the space given; a zero Space means BioSpace()).
	Supernet SupernetConfig `json:"supernet"`
	// Unrolled selects the second-order (unrolled) architecture gradient.
	Unrolled bool `json:"unrolled"`
	// Epochs [50] and BatchSize [64] (both halves use the same size).
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR [0.025] is the weight learning rate at epoch 0, annealed by a
	// cosine per epoch to LRMin [0.001].
	LR    float32 `json:"lr"`
	LRMin float32 `json:"lr_min"`
	// SGDSettings are the weights' SGD and gradient clipping.
	SGDSettings
	// ArchLR [3e-4], ArchWeightDecay [1e-3], ArchBeta1 [0.5] and
	// ArchBeta2 [0.999] configure the architecture's Adam.
	ArchLR          float32 `json:"arch_lr"`
	ArchWeightDecay float32 `json:"arch_weight_decay"`
	ArchBeta1       float32 `json:"arch_beta1"`
	ArchBeta2       float32 `json:"arch_beta2"`
	// ArchWarmup [0] is the number of epochs that train the weights only
	// before architecture steps start (PC-DARTS: 15).
	ArchWarmup int `json:"arch_warmup"`
	// Augment is the training augmentation, applied to both halves as in
	// DARTS; Norm, if set, normalises the inputs inside the forward pass.
	Augment data.Augment `json:"augment"`
	Norm    *data.Norm   `json:"norm,omitempty"`
	// Seed seeds everything (supernet initialisation included when
	// Supernet.Seed is 0).
	Seed uint64 `json:"seed"`
	// RunControl: events, workers, checkpoints, the device (the supernet
	// and both optimizers' state live there).
	RunControl
}

func (c DARTSConfig) withDefaults() DARTSConfig {
	c.Supernet = supernetDefaults(c.Supernet, c.Seed)
	c.Epochs = orDefault(c.Epochs, 50)
	c.BatchSize = orDefault(c.BatchSize, 64)
	c.LR = orDefault(c.LR, 0.025)
	c.LRMin = orDefault(c.LRMin, 0.001)
	c.SGDSettings = c.SGDSettings.withDefaults()
	c.ArchLR = orDefault(c.ArchLR, 3e-4)
	c.ArchWeightDecay = orDefault(c.ArchWeightDecay, 1e-3)
	c.ArchBeta1 = orDefault(c.ArchBeta1, 0.5)
	c.ArchBeta2 = orDefault(c.ArchBeta2, 0.999)
	c.RunControl = c.RunControl.withDefaults()
	return c
}

// supernetDefaults fills a supernet configuration's space and seed.
func supernetDefaults(s SupernetConfig, seed uint64) SupernetConfig {
	if len(s.Space.Pairs) == 0 {
		s.Space = BioSpace()
	}
	if s.Seed == 0 {
		s.Seed = deriveSeed(seed, streamNetwork)
	}
	return s
}

// supernetForData sets the classes and input channels from the data when
// they are not given.
func supernetForData(s SupernetConfig, ds data.Dataset) SupernetConfig {
	if s.Classes == 0 {
		s.Classes = ds.Classes()
	}
	if s.InChannels == 0 {
		s.InChannels, _, _ = ds.Shape()
	}
	return s
}

// DARTS searches with DARTS (first or second order) or PC-DARTS: it trains
// the supernet's weights on train and its architecture on val (the two
// halves of data.SearchSplit), epoch after epoch, and returns the derived
// genotype. Each iteration takes an architecture step on a batch of val,
// then a weight step on a batch of train; the weight learning rate follows
// a cosine per epoch. Per epoch it emits the genotype derived before the
// epoch's training (as DARTS logs it) and the alphas, then "step" events,
// then the epoch's validation loss and accuracy on val.
//
// It returns ctx.Err() when cancelled; with a CheckpointDir the last
// finished epoch is saved and a later call with Resume continues from it.
func DARTS(ctx context.Context, cfg DARTSConfig, train, val data.Dataset) (*Result, error) {
	cfg = cfg.withDefaults()
	cfg.Supernet = supernetForData(cfg.Supernet, train)
	method := "darts"
	switch {
	case cfg.Supernet.PartialChannels > 1:
		method = "pcdarts"
	case cfg.Unrolled:
		method = "darts2"
	}
	if cfg.Unrolled && cfg.Supernet.PartialChannels > 1 {
		method = "pcdarts2"
	}
	emit := newEmitter(cfg.Emit, method)
	net, err := NewSupernet(cfg.Supernet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	t := newSupernetTrainer(net, cfg.Supernet.Space, cfg.Norm, cfg.GradClip, cfg.Seed, cfg.sgd(cfg.LR))
	t.dev = cfg.Device
	t.aOpt = nn.NewAdam(t.alphas, nn.AdamConfig{
		LR: cfg.ArchLR, Beta1: cfg.ArchBeta1, Beta2: cfg.ArchBeta2, WeightDecay: cfg.ArchWeightDecay,
	})
	conf, err := configJSON(cfg)
	if err != nil {
		return nil, err
	}
	loop := &searchLoop{
		kind: "darts", method: method, t: t, train: train, val: val, emit: emit,
		epochs: cfg.Epochs, batch: cfg.BatchSize, seed: cfg.Seed,
		sched:   nn.Cosine{Base: cfg.LR, Min: cfg.LRMin, Epochs: cfg.Epochs},
		augment: cfg.Augment, norm: cfg.Norm, workers: cfg.Workers, emitEvery: cfg.EmitEvery,
		ckptDir: cfg.CheckpointDir, resume: cfg.Resume, config: conf,
	}
	var vl *data.Loader
	if cfg.Emit != nil {
		// α move with every step from the warm-up's end: viewers see them
		// move within the epoch, not only at its start.
		loop.alphasEvery = cfg.AlphasEvery
		loop.alphasMove = func(epoch int) bool { return epoch >= cfg.ArchWarmup }
	}
	loop.beginEpoch = func(ctx context.Context, epoch, _ int) error {
		if epoch >= cfg.ArchWarmup {
			vl = loop.loader(val, streamValLoader, epoch)
		}
		return nil
	}
	loop.endEpoch = func() {
		if vl != nil {
			vl.Close()
			vl = nil
		}
	}
	loop.step = func(ctx context.Context, epoch, step int, xt *nn.Tensor, yt []int) (float64, int, error) {
		if vl != nil {
			vb, ok := vl.Next(ctx)
			if !ok { // the arch half is exhausted: its next epoch starts
				if err := ctx.Err(); err != nil {
					return 0, 0, err
				}
				if vb, ok = vl.Next(ctx); !ok {
					if err := ctx.Err(); err != nil {
						return 0, 0, err
					}
					return 0, 0, fmt.Errorf("%s: the validation half yields no batch", method)
				}
			}
			xv := nn.FromSlice(vb.X, vb.N, vb.C, vb.H, vb.W)
			switch {
			case cfg.Unrolled && t.dev != nil:
				err = t.archStepUnrolledDev(xt, yt, xv, vb.Y, epoch, step)
			case cfg.Unrolled:
				err = t.archStepUnrolled(xt, yt, xv, vb.Y, epoch, step)
			default:
				t.archStep(xv, vb.Y, epoch, step)
			}
			vl.Release(vb)
			if err != nil {
				return 0, 0, err
			}
		}
		return t.weightStep(xt, yt, epoch, step)
	}
	return loop.run(ctx)
}
