package nn_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// mnistBatches serves fixed-order batches of real MNIST as engine tensors.
type mnistBatches struct {
	ds  data.Dataset
	buf []float32
}

func (m *mnistBatches) batch(idx []int) (*nn.Tensor, []int) {
	c, h, w := m.ds.Shape()
	x := nn.New(len(idx), c, h, w)
	y := make([]int, len(idx))
	per := c * h * w
	for i, j := range idx {
		y[i] = m.ds.Image(j, x.Data[i*per:(i+1)*per])
	}
	return x, y
}

// trainSmallCNN trains the demo CNN with one rule on the first steps·batch
// training images and returns its accuracy on the first nTest test images.
func trainSmallCNN(t testing.TB, r rule.Rule, steps, batch, nTest int) float64 {
	train, err := data.MNIST(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.MNIST(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 1))
	model, err := nn.NewSmallCNN(nn.SmallCNNConfig{C: 1, H: 28, W: 28, Classes: 10, Width: 8, Rule: r}, rng)
	if err != nil {
		t.Fatal(err)
	}
	opt := nn.NewSGD(model.Params(), nn.SGDConfig{LR: 0.05, Momentum: 0.9})
	tr := &mnistBatches{ds: train}
	perm := rng.Perm(train.Len())
	for s := 0; s < steps; s++ {
		x, y := tr.batch(perm[(s*batch)%len(perm) : (s*batch)%len(perm)+batch])
		opt.ZeroGrad()
		nn.TrainBatch(model, x, y, 0, nn.NewGraph(true, rng))
		opt.Step()
	}
	te := &mnistBatches{ds: test}
	next := 0
	return nn.Evaluate(model, func() (*nn.Tensor, []int, bool) {
		if next >= nTest {
			return nil, nil, false
		}
		idx := make([]int, 0, 500)
		for i := next; i < min(next+500, nTest); i++ {
			idx = append(idx, i)
		}
		next += len(idx)
		x, y := te.batch(idx)
		return x, y, true
	})
}

// TestSmallCNNLearnsMNISTWithEveryRule is the engine's end-to-end check: a
// small CNN on real MNIST gets well above chance (10%) with each rule in a
// few seconds of training.
func TestSmallCNNLearnsMNISTWithEveryRule(t *testing.T) {
	for _, r := range []rule.Rule{rule.BP, rule.FA, rule.DFA, rule.USF, rule.BRSF, rule.FRSF} {
		t.Run(string(r), func(t *testing.T) {
			acc := trainSmallCNN(t, r, 150, 64, 2000)
			t.Logf("%s: test accuracy %.2f%% after 150 steps", r, 100*acc)
			// DFA broadcasts one error to every position of every layer and
			// learns far more slowly here (biotorch's LeNet DFA error is
			// 54% on CIFAR-10); it only has to be clearly above chance.
			want := 0.70
			if r == rule.DFA {
				want = 0.30
			}
			if acc < want {
				t.Fatalf("%s: accuracy %.3f, want ≥ %.2f", r, acc, want)
			}
		})
	}
}
