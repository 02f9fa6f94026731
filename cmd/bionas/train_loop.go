package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// trainable is a model the step loop can train: a layer with parameters.
type trainable interface {
	nn.Layer
	Params() []nn.Named
}

// stepTraining is the plain training loop of the commands' small CNNs
// (bionas demo, attack prepare): a fixed number of SGD steps over shuffled
// batches, the learning rate set per step by Schedule (nil: SGD.LR
// throughout), gradient clipping when Clip > 0, and a progress line every
// Every steps (and at the last).
type stepTraining struct {
	Steps, Batch int
	Seed         uint64
	Rng          *rand.Rand // the graphs' random source
	SGD          nn.SGDConfig
	Schedule     nn.Schedule
	Clip         float32
	Label        string
	Every        int
}

// run trains model on train and returns the last batch's loss and the
// time the steps took.
func (c stepTraining) run(ctx context.Context, model trainable, train data.Dataset, stderr io.Writer) (float32, time.Duration, error) {
	opt := nn.NewSGD(model.Params(), c.SGD)
	loader := data.NewLoader(train, data.LoaderConfig{BatchSize: c.Batch, Shuffle: true, Seed: c.Seed, DropLast: true})
	defer loader.Close()
	start := time.Now()
	var loss float32
	for s := 0; s < c.Steps; {
		b, ok := loader.Next(ctx)
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if !ok {
			continue // end of an epoch
		}
		if c.Schedule != nil {
			opt.SetLR(c.Schedule.LR(s))
		}
		opt.ZeroGrad()
		loss, _ = nn.TrainBatch(model, nn.FromSlice(b.X, b.N, b.C, b.H, b.W), b.Y, 0, nn.NewGraph(true, c.Rng))
		if c.Clip > 0 {
			nn.ClipGradNorm(nn.Tensors(model.Params()), c.Clip)
		}
		opt.Step()
		loader.Release(b)
		s++
		if s%max(c.Every, 1) == 0 || s == c.Steps {
			progress(stderr, c.Label, s, c.Steps, start, fmt.Sprintf("loss %.3f", loss))
		}
	}
	return loss, time.Since(start), nil
}
