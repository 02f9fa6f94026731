package search

import (
	"context"
	"slices"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// hebbSupernetCfg is a tiny supernet over a space with a Hebbian pair.
func hebbSupernetCfg(recompute bool) SupernetConfig {
	space := Space{Name: "hebb", Pairs: []Pair{{OpSkip, rule.FA}, {OpConv3, rule.FA}, {OpConv3, rule.Hebb}}}
	return SupernetConfig{C: 4, Cells: 3, Steps: 2, Multiplier: 2, StemMultiplier: 2, Space: space, Classes: 4, InChannels: 1, Recompute: recompute}
}

// hebbWeights returns a copy of every Hebbian weight of the supernet.
func hebbWeights(t *testing.T, net *Supernet) [][]float32 {
	t.Helper()
	var out [][]float32
	for _, b := range net.Buffers() {
		if containsAll(b.Name, ":hebb.hebb.weight") {
			out = append(out, slices.Clone(b.T.Data))
		}
	}
	if len(out) == 0 {
		t.Fatal("no Hebbian weights in the supernet")
	}
	return out
}

// TestHebbianOnlyInWeightSteps: Hebbian weights move in weight steps only.
// A first- or second-order architecture step, an evaluation and an EG-NAS
// exploration (candidate scoring) leave them bit-identical, with and
// without recomputation; a weight step changes every one of them.
func TestHebbianOnlyInWeightSteps(t *testing.T) {
	train, val := algoData(64)
	for _, recompute := range []bool{false, true} {
		tr := algoTrainer(t, hebbSupernetCfg(recompute), 0.025)
		xt, yt := algoBatch(t, train, 8)
		xv, yv := algoBatch(t, val, 8)
		h0 := hebbWeights(t, tr.net)
		same := func(what string) {
			t.Helper()
			if !slices.EqualFunc(h0, hebbWeights(t, tr.net), slices.Equal) {
				t.Fatalf("recompute %v: %s changed the Hebbian weights", recompute, what)
			}
		}
		tr.archStep(xv, yv, 0, 0)
		same("a first-order architecture step")
		if err := tr.archStepUnrolled(xt, yt, xv, yv, 0, 1); err != nil {
			t.Fatal(err)
		}
		same("a second-order architecture step")
		tr.net.Forward(nil, xv)
		tr.net.Forward(nn.NewInference(), xv)
		same("an evaluation forward")
		cfg := EGNASConfig{Supernet: hebbSupernetCfg(recompute), BatchSize: 8, ArchBatch: 8, Samples: 1, Population: 3, Generations: 1, Seed: 2}.withDefaults()
		edges, pairs := tr.net.AlphaNormal.Shape[0], tr.net.AlphaNormal.Shape[1]
		ex := &explorer{cfg: cfg, t: tr, val: val, prev: nn.New(2 * edges * pairs), edges: edges, pairs: pairs}
		if err := ex.explore(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		same("an EG-NAS exploration")
		if _, _, err := tr.weightStep(xt, yt, 0, 2); err != nil {
			t.Fatal(err)
		}
		for i, w := range hebbWeights(t, tr.net) {
			if slices.Equal(w, h0[i]) {
				t.Fatalf("recompute %v: a weight step left Hebbian weight %d unchanged", recompute, i)
			}
		}
	}
}

// TestTrainHebbianLearns: retraining a network with a Hebbian edge moves
// its Hebbian weights (Train's steps are weight steps); evaluating it does
// not.
func TestTrainHebbianLearns(t *testing.T) {
	g := trainTestGenotype()
	g.Normal.Edges[0].Op, g.Normal.Edges[0].Rule = OpConv3, rule.Hebb
	net, err := NewNetwork(NetworkConfig{C: 4, Layers: 3, Classes: 4, InChannels: 1, Genotype: g, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var w *nn.Tensor
	for _, b := range net.Buffers() {
		if containsAll(b.Name, "hebb.weight") {
			w = b.T
		}
	}
	if w == nil {
		t.Fatal("no Hebbian weight in the network")
	}
	w0 := slices.Clone(w.Data)
	train, test := trainTestData(32, 8)
	if _, err := Train(context.Background(), net, TrainConfig{Epochs: 1, BatchSize: 16, StepsPerEpoch: 1, EvalLimit: 16, Seed: 1}, train, test); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(w0, w.Data) {
		t.Fatal("a training step left the Hebbian weights unchanged")
	}
	w1 := slices.Clone(w.Data)
	net.Forward(nil, testInput(1, 2, 1, 8, 8))
	if !slices.Equal(w1, w.Data) {
		t.Fatal("an evaluation forward changed the Hebbian weights")
	}
}
