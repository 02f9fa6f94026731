package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bionaslab/bionas/data"
)

// RandomConfig configures random search, the baseline the paper reports:
// Samples genotypes drawn uniformly from the space (SampleGenotype), each
// trained briefly on the training half and scored by its accuracy on the
// validation half; the best one wins. A zero field means the default in
// brackets.
type RandomConfig struct {
	// Space is the space sampled [BioSpace()]; Steps [4] the nodes per cell.
	Space Space `json:"space"`
	Steps int   `json:"steps"`
	// Samples [10] is the number of genotypes tried.
	Samples int `json:"samples"`
	// Network is the template of each sample's network (C, Layers,
	// Auxiliary, DropPath; Classes and InChannels default to the data's);
	// its Genotype and Seed are set per sample.
	Network NetworkConfig `json:"network"`
	// Train is each sample's brief training (its Seed, Emit, CheckpointDir
	// and Resume are set per sample).
	Train TrainConfig `json:"train"`
	// Seed draws the genotypes and seeds each sample's network and training.
	Seed uint64 `json:"seed"`
	// Evaluate, if set, replaces the train-and-validate scoring of a sample
	// (for tests, or a cheaper proxy): it returns the validation loss and
	// accuracy of genotype g.
	Evaluate func(ctx context.Context, g Genotype, sample int) (valLoss, valAcc float64, err error) `json:"-"`
	// CheckpointDir, Resume and Emit are as in DARTSConfig; the checkpoint
	// is written after each sample.
	CheckpointDir string      `json:"-"`
	Resume        bool        `json:"-"`
	Emit          func(Event) `json:"-"`
}

// RandomSample is one evaluated genotype of random search.
type RandomSample struct {
	Index    int      `json:"index"`
	Genotype Genotype `json:"genotype"`
	ValLoss  float64  `json:"val_loss"`
	ValAcc   float64  `json:"val_acc"`
	Seconds  float64  `json:"seconds"`
}

// SampleGenotype draws a genotype uniformly: for each node of each cell, two
// distinct input states among the earlier ones, and for each edge a pair
// drawn uniformly among the space's pairs that are not none. Edges within a
// node are in increasing order of input. Concat is every intermediate node.
func SampleGenotype(space Space, steps int, rng *rand.Rand) (Genotype, error) {
	var pairs []Pair
	for _, p := range space.Pairs {
		if p.Op != OpNone {
			pairs = append(pairs, p)
		}
	}
	if len(pairs) == 0 {
		return Genotype{}, fmt.Errorf("sample genotype: space %q has no pair other than none", space.Name)
	}
	if steps < 1 {
		return Genotype{}, fmt.Errorf("sample genotype: %d steps, want at least 1", steps)
	}
	cell := func() CellGenotype {
		var c CellGenotype
		for i := range steps {
			to := i + 2
			a := rng.IntN(to)
			b := rng.IntN(to - 1)
			if b >= a {
				b++
			}
			if b < a {
				a, b = b, a
			}
			for _, from := range []int{a, b} {
				p := pairs[rng.IntN(len(pairs))]
				c.Edges = append(c.Edges, Edge{From: from, To: to, Op: p.Op, Rule: p.Rule})
			}
			c.Concat = append(c.Concat, to)
		}
		return c
	}
	g := Genotype{Normal: cell(), Reduce: cell()}
	return g, g.Validate()
}

// RandomSearch runs random search: sample i's genotype and seeds come from
// (Seed, i) alone, so the run can resume after any finished sample.
// Events: per sample a "genotype" event, the sample's training events
// (Sample set), and an "epoch" event with Epoch = sample index and the
// sample's ValLoss and ValAcc; finally "done" with the best genotype.
func RandomSearch(ctx context.Context, cfg RandomConfig, train, val data.Dataset) (*Result, error) {
	if len(cfg.Space.Pairs) == 0 {
		cfg.Space = BioSpace()
	}
	cfg.Steps = orDefault(cfg.Steps, 4)
	cfg.Samples = orDefault(cfg.Samples, 10)
	if cfg.Network.Classes == 0 {
		cfg.Network.Classes = train.Classes()
	}
	c, h, _ := train.Shape()
	if cfg.Network.InChannels == 0 {
		cfg.Network.InChannels = c
	}
	if cfg.Network.ImageSize == 0 {
		cfg.Network.ImageSize = h
	}
	emit := newEmitter(cfg.Emit, "random")
	conf, err := configJSON(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &Result{Method: "random"}
	first := 0
	if cfg.Resume && cfg.CheckpointDir != "" {
		st, err := loadCheckpoint(cfg.CheckpointDir, "random", conf, checkpointParts{})
		switch {
		case err == nil:
			if err := json.Unmarshal(st.Extra, &res.Samples); err != nil && len(st.Extra) > 0 {
				return nil, fmt.Errorf("random: resume: samples: %w", err)
			}
			first, res.History, res.ResumedAt = st.Epoch, st.History, st.Epoch
		case isNoCheckpoint(err):
		default:
			return nil, fmt.Errorf("random: %w", err)
		}
	}
	evalFn := cfg.Evaluate
	if evalFn == nil {
		evalFn = func(ctx context.Context, g Genotype, i int) (float64, float64, error) {
			ncfg := cfg.Network
			ncfg.Genotype = g
			ncfg.Seed = deriveSeed(cfg.Seed, streamNetwork, uint64(i))
			net, err := NewNetwork(ncfg)
			if err != nil {
				return 0, 0, err
			}
			tcfg := cfg.Train
			tcfg.Seed = deriveSeed(cfg.Seed, streamSample, uint64(i))
			tcfg.CheckpointDir, tcfg.Resume = "", false
			tcfg.Emit = func(e Event) {
				if e.Kind == EventStep {
					e.Sample = i
					e.Method = "random"
					emit(e)
				}
			}
			r, err := Train(ctx, net, tcfg, train, val)
			if err != nil {
				return 0, 0, err
			}
			return r.TestLoss, r.TestAcc, nil
		}
	}
	for i := first; i < cfg.Samples; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		g, err := SampleGenotype(cfg.Space, cfg.Steps, rand.New(rand.NewPCG(deriveSeed(cfg.Seed, streamSample), uint64(i))))
		if err != nil {
			return nil, fmt.Errorf("random: %w", err)
		}
		gc := g
		emit(Event{Kind: EventGenotype, Epoch: i, Epochs: cfg.Samples, Sample: i, Genotype: &gc})
		vl, va, err := evalFn(ctx, g, i)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("random: sample %d: %w", i, err)
		}
		s := RandomSample{Index: i, Genotype: g, ValLoss: vl, ValAcc: va, Seconds: time.Since(t0).Seconds()}
		res.Samples = append(res.Samples, s)
		res.History = append(res.History, EpochStats{Epoch: i, ValLoss: vl, ValAcc: va, Genotype: &gc, Seconds: time.Since(start).Seconds()})
		emit(Event{Kind: EventEpoch, Epoch: i, Epochs: cfg.Samples, Sample: i, ValLoss: vl, ValAcc: va,
			Seconds: time.Since(start).Seconds()})
		if cfg.CheckpointDir != "" {
			extra, err := json.Marshal(res.Samples)
			if err != nil {
				return nil, fmt.Errorf("random: %w", err)
			}
			st := ckptState{Kind: "random", Config: conf, Epoch: i + 1, History: res.History, Extra: extra}
			if err := saveCheckpoint(cfg.CheckpointDir, checkpointParts{}, st); err != nil {
				return nil, fmt.Errorf("random: %w", err)
			}
		}
	}
	best := BestSample(res.Samples)
	if best < 0 {
		return nil, fmt.Errorf("random: no sample evaluated")
	}
	b := res.Samples[best]
	res.Genotype, res.ValLoss, res.ValAcc = b.Genotype, b.ValLoss, b.ValAcc
	res.Epochs, res.Steps = cfg.Samples, len(res.Samples)
	res.Seconds = time.Since(start).Seconds()
	g := b.Genotype
	emit(Event{Kind: EventDone, Epoch: cfg.Samples, Epochs: cfg.Samples, Sample: best, ValLoss: b.ValLoss, ValAcc: b.ValAcc,
		Genotype: &g, Seconds: res.Seconds})
	return res, nil
}

// BestSample returns the index in samples of the most accurate one (ties:
// lower loss, then earlier), or −1 for none.
func BestSample(samples []RandomSample) int {
	best := -1
	for i, s := range samples {
		if best < 0 || s.ValAcc > samples[best].ValAcc ||
			(s.ValAcc == samples[best].ValAcc && s.ValLoss < samples[best].ValLoss) {
			best = i
		}
	}
	return best
}
