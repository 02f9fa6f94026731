package search

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// algoSpace is a small space for the algorithm tests: 4 ops × {fa, usf}
// (deterministic rules, so a gradient can be recomputed exactly).
func algoSpace(t testing.TB, rules ...rule.Rule) Space {
	t.Helper()
	if len(rules) == 0 {
		rules = []rule.Rule{rule.FA, rule.USF}
	}
	s, err := NewSpace("algo", []Op{OpNone, OpMaxPool, OpSkip, OpSep3}, rules)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// algoSupernetCfg is a tiny supernet: C=4, 3 cells (two reductions), 2
// nodes.
func algoSupernetCfg(t testing.TB, rules ...rule.Rule) SupernetConfig {
	return SupernetConfig{C: 4, Cells: 3, Steps: 2, Multiplier: 2, StemMultiplier: 2, Space: algoSpace(t, rules...), Classes: 4, InChannels: 1}
}

// algoData is an easy synthetic task: 4 classes of 8×8 images, split in
// halves.
func algoData(n int) (train, val data.Dataset) {
	ds := data.Synthetic(data.SyntheticConfig{N: n, C: 1, H: 8, W: 8, Classes: 4, Seed: 3, Noise: 0.05})
	a, b := data.SearchSplit(ds)
	return data.Subset(ds, a), data.Subset(ds, b)
}

// algoBatch returns the first batch of ds.
func algoBatch(t testing.TB, ds data.Dataset, n int) (*nn.Tensor, []int) {
	t.Helper()
	l := data.NewLoader(ds, data.LoaderConfig{BatchSize: n})
	defer l.Close()
	b, ok := l.Next(context.Background())
	if !ok {
		t.Fatal("no batch")
	}
	x := nn.FromSlice(append([]float32(nil), b.X...), b.N, b.C, b.H, b.W)
	return x, append([]int(nil), b.Y...)
}

func algoTrainer(t testing.TB, cfg SupernetConfig, lr float32) *supernetTrainer {
	t.Helper()
	net, err := NewSupernet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := newSupernetTrainer(net, cfg.Space, nil, 5, 1, nn.SGDConfig{LR: lr, Momentum: 0.9, WeightDecay: 3e-4})
	tr.aOpt = nn.NewAdam(tr.alphas, nn.AdamConfig{LR: 3e-4, Beta1: 0.5, Beta2: 0.999, WeightDecay: 1e-3})
	return tr
}

// gradsAt returns the gradients of the training-mode loss on (x, y) with
// respect to ns.
func gradsAt(tr *supernetTrainer, ns []nn.Named, x *nn.Tensor, y []int) [][]float32 {
	namedZeroGrad(tr.weights)
	namedZeroGrad(tr.alphas)
	g := nn.NewGraph(true, nil)
	_, loss := tr.forwardLoss(g, x, y)
	g.Backward(loss)
	out := namedGrads(ns)
	namedZeroGrad(tr.weights)
	namedZeroGrad(tr.alphas)
	return out
}

func TestDARTSArchStepDirection(t *testing.T) {
	// Adam's first step moves each α by −lr·(g+wd·α)/|g+wd·α| (up to eps):
	// against the gradient of the validation loss, by lr.
	train, val := algoData(64)
	tr := algoTrainer(t, algoSupernetCfg(t), 0.025)
	xv, yv := algoBatch(t, val, 16)
	before := namedData(tr.alphas)
	wBefore := namedData(tr.weights)
	grad := gradsAt(tr, tr.alphas, xv, yv)
	tr.archStep(xv, yv, 0, 0)
	checked := 0
	for i, a := range tr.alphas {
		for j, v := range a.T.Data {
			d := float64(grad[i][j]) + 1e-3*float64(before[i][j])
			if math.Abs(d) < 1e-5 {
				continue
			}
			want := before[i][j] - float32(3e-4*math.Copysign(1, d))
			if math.Abs(float64(v-want)) > 1e-7 {
				t.Fatalf("%s[%d]: α moved from %v to %v, want %v (gradient %v)", a.Name, j, before[i][j], v, want, d)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d alphas had a usable gradient", checked)
	}
	for i, w := range tr.weights {
		for j, v := range w.T.Data {
			if v != wBefore[i][j] {
				t.Fatalf("architecture step changed weight %s", w.Name)
			}
		}
	}
	_ = train
}

func TestDARTSWeightStepDirection(t *testing.T) {
	// The first SGD step is w ← w − lr·(clip(g) + wd·w); α must not move.
	train, _ := algoData(64)
	const lr = 0.05
	tr := algoTrainer(t, algoSupernetCfg(t), lr)
	x, y := algoBatch(t, train, 16)
	before := namedData(tr.weights)
	aBefore := namedData(tr.alphas)
	grad := gradsAt(tr, tr.weights, x, y)
	var norm float64
	for _, g := range grad {
		for _, v := range g {
			norm += float64(v) * float64(v)
		}
	}
	norm = math.Sqrt(norm)
	coef := 1.0
	if c := 5 / (norm + 1e-6); c < 1 {
		coef = c
	}
	loss0, _, err := tr.weightStep(x, y, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, w := range tr.weights {
		for j, v := range w.T.Data {
			want := float64(before[i][j]) - lr*(coef*float64(grad[i][j])+3e-4*float64(before[i][j]))
			if math.Abs(float64(v)-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("%s[%d] = %v, want %v", w.Name, j, v, want)
			}
			if v != before[i][j] {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("no weight moved")
	}
	for i, a := range tr.alphas {
		for j, v := range a.T.Data {
			if v != aBefore[i][j] {
				t.Fatalf("weight step changed %s", a.Name)
			}
		}
	}
	// A few more steps on the same batch lower its loss.
	var loss float64
	for s := 1; s <= 5; s++ {
		if loss, _, err = tr.weightStep(x, y, 0, s); err != nil {
			t.Fatal(err)
		}
	}
	if !(loss < loss0) {
		t.Fatalf("loss went from %v to %v after 6 weight steps on one batch", loss0, loss)
	}
}

func TestDARTSUnrolledStep(t *testing.T) {
	train, val := algoData(64)
	xt, yt := algoBatch(t, train, 16)
	xv, yv := algoBatch(t, val, 16)
	cfg := algoSupernetCfg(t)

	first := algoTrainer(t, cfg, 0.1)
	second := algoTrainer(t, cfg, 0.1)
	// Give both the same momentum buffer (one identical weight step).
	for _, tr := range []*supernetTrainer{first, second} {
		if _, _, err := tr.weightStep(xt, yt, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	w0 := namedData(second.weights)
	b0 := namedData(second.net.Buffers())
	first.archStep(xv, yv, 0, 1)
	if err := second.archStepUnrolled(xt, yt, xv, yv, 0, 1); err != nil {
		t.Fatal(err)
	}
	differ := false
	for i, a := range second.alphas {
		for j, v := range a.T.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s[%d] = %v", a.Name, j, v)
			}
			if v != first.alphas[i].T.Data[j] {
				differ = true
			}
		}
	}
	if !differ {
		t.Fatal("the second-order step gave the same alphas as the first-order one")
	}
	for i, w := range second.weights {
		for j, v := range w.T.Data {
			if v != w0[i][j] {
				t.Fatalf("unrolled step left weight %s changed", w.Name)
			}
		}
	}
	for i, b := range second.net.Buffers() {
		for j, v := range b.T.Data {
			if v != b0[i][j] {
				t.Fatalf("unrolled step left buffer %s changed", b.Name)
			}
		}
	}

	// With ξ = 0 the unrolled gradient is the first-order one.
	a, b := algoTrainer(t, cfg, 0), algoTrainer(t, cfg, 0)
	a.archStep(xv, yv, 0, 0)
	if err := b.archStepUnrolled(xt, yt, xv, yv, 0, 0); err != nil {
		t.Fatal(err)
	}
	for i := range a.alphas {
		for j, v := range a.alphas[i].T.Data {
			if d := math.Abs(float64(v - b.alphas[i].T.Data[j])); d > 1e-7 {
				t.Fatalf("ξ=0: %s[%d] first order %v, unrolled %v", a.alphas[i].Name, j, v, b.alphas[i].T.Data[j])
			}
		}
	}
}

func TestDARTSLearnsEasyTask(t *testing.T) {
	// A short search on an easy task: the supernet fits it, events arrive
	// in order, a valid genotype comes out.
	train, val := algoData(256)
	var kinds []string
	var steps int
	cfg := DARTSConfig{
		Supernet:  algoSupernetCfg(t),
		Epochs:    3,
		BatchSize: 16,
		LR:        0.1,
		ArchLR:    3e-3,
		Seed:      5,
		RunControl: RunControl{EmitEvery: 4, Emit: func(e Event) {
			kinds = append(kinds, e.Kind)
			if e.Kind == EventStep {
				steps = e.Step
				if e.TotalSteps != 3*8 || e.LR <= 0 || e.Loss <= 0 {
					t.Errorf("bad step event %+v", e)
				}
			}
		}},
	}
	res, err := DARTS(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 24 || steps != 24 {
		t.Fatalf("steps: result %d, events %d, want 24", res.Steps, steps)
	}
	if err := res.Genotype.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 3 {
		t.Fatalf("history has %d epochs", len(res.History))
	}
	if res.ValAcc < 0.6 {
		t.Errorf("validation accuracy %.3f after 3 epochs on an easy task", res.ValAcc)
	}
	if kinds[0] != EventGenotype || kinds[1] != EventAlphas || kinds[len(kinds)-1] != EventDone {
		t.Errorf("event order %v", kinds)
	}
	// α moved away from its 1e-3 initialisation.
	var maxAbs float64
	for _, row := range res.Alphas.RawNormal {
		for _, v := range row {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		}
	}
	if maxAbs < 1e-2 {
		t.Errorf("alphas barely moved: max |α| = %v", maxAbs)
	}
}

func TestDARTSStepsWithRecompute(t *testing.T) {
	// The steps freeze the weights (or the alphas) while they run; with
	// per-edge recomputation the results must stay those of the plain
	// supernet.
	train, val := algoData(64)
	xt, yt := algoBatch(t, train, 16)
	xv, yv := algoBatch(t, val, 16)
	for _, unrolled := range []bool{false, true} {
		cfg := algoSupernetCfg(t)
		plain := algoTrainer(t, cfg, 0.05)
		cfg.Recompute = true
		rec := algoTrainer(t, cfg, 0.05)
		for _, tr := range []*supernetTrainer{plain, rec} {
			for s := range 2 {
				var err error
				if unrolled {
					err = tr.archStepUnrolled(xt, yt, xv, yv, 0, s)
				} else {
					tr.archStep(xv, yv, 0, s)
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := tr.weightStep(xt, yt, 0, s); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, pair := range [][2][]nn.Named{{plain.alphas, rec.alphas}, {plain.weights, rec.weights}} {
			for i, a := range pair[0] {
				for j, v := range a.T.Data {
					w := pair[1][i].T.Data[j]
					if math.Abs(float64(v-w)) > 1e-5*(1+math.Abs(float64(v))) {
						t.Fatalf("unrolled=%v: %s[%d] = %v without recompute, %v with", unrolled, a.Name, j, v, w)
					}
				}
			}
		}
	}
}
