package attacks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// Test fixtures: tiny networks on tiny synthetic images, so that the whole
// package tests in seconds on two shared cores.

const (
	tC, tH, tW, tK = 1, 12, 12, 4
)

// synthBatch returns n synthetic test images (1×12×12, 4 classes).
func synthBatch(n int, stream uint64) (*nn.Tensor, []int) {
	ds := data.Synthetic(data.SyntheticConfig{N: n, C: tC, H: tH, W: tW, Classes: tK, Seed: 3, Stream: stream})
	return LoadImages(ds, n)
}

// tinyCNN builds a SmallCNN of width 4 with rule r (behind a normalisation,
// as real models are) and trains it for a few steps on synthetic images, so
// that it classifies most of them and attacks have something to break.
func tinyCNN(t testing.TB, r rule.Rule, seed uint64) Network {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	cnn, err := nn.NewSmallCNN(nn.SmallCNNConfig{C: tC, H: tH, W: tW, Classes: tK, Width: 4, Rule: r}, rng)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Normalized(cnn, []float32{0.5}, []float32{0.25})
	if err != nil {
		t.Fatal(err)
	}
	x, y := synthBatch(256, 0)
	opt := nn.NewSGD(net.Params(), nn.SGDConfig{LR: 0.01, Momentum: 0.9})
	for s := range 40 {
		lo := (s * 32) % 256
		idx := make([]int, 32)
		for i := range idx {
			idx[i] = lo + i
		}
		opt.ZeroGrad()
		nn.TrainBatch(net, gatherRows(x, idx), y[lo:lo+32], 0, nn.NewGraph(true, rng))
		opt.Step()
	}
	return net
}

// linearModel is softmax regression: an nn.Linear with bias on the
// flattened image, no hidden layer.
func linearModel(in, k int, seed uint64) *nn.Linear {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := nn.MustLinear(nn.LinearConfig{Name: "fc", In: in, Out: k, Bias: true}, rng)
	for i := range l.Bias.Data {
		l.Bias.Data[i] = float32(rng.NormFloat64() * 0.3)
	}
	return l
}

// randomImages returns n images of shape c×h×w with uniform pixels.
func randomImages(n, c, h, w int, seed uint64) *nn.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := nn.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	return x
}

// probsOf returns softmax(m(x)) rows.
func probsOf(m Model, x *nn.Tensor) ([]float32, int) {
	logits := m.Forward(nil, x)
	return softmaxRows(logits), logits.Shape[1]
}

// checkInvariants asserts what every state of every attack must satisfy:
// pixels in [0,1], L∞ within eps (if eps > 0), and norms that match.
func checkInvariants(t *testing.T, where string, x *nn.Tensor, st *State, eps float64) {
	t.Helper()
	per := x.Len() / x.Shape[0]
	for i, v := range st.Adv.Data {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("%s: pixel %d = %v outside [0,1]", where, i, v)
		}
		if eps > 0 {
			if d := math.Abs(float64(v - x.Data[i])); d > eps+1e-6 {
				t.Fatalf("%s: image %d pixel %d moved %v > ε %v", where, i/per, i%per, d, eps)
			}
		}
	}
	for i, li := range st.LInf {
		if eps > 0 && float64(li) > eps+1e-6 {
			t.Fatalf("%s: reported L∞ %v of image %d > ε %v", where, li, i, eps)
		}
	}
}
