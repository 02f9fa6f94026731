package search

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// dynTestGenotype has every rule somewhere: fa, brsf, hebb and usf in the
// normal cell, pc, frsf (a stride-2 skip: FactorizedReduce), dfa and brsf
// in the reduction cell.
func dynTestGenotype() Genotype {
	return Genotype{
		Normal: CellGenotype{Edges: []Edge{
			{From: 0, To: 2, Op: OpSep3, Rule: rule.FA}, {From: 1, To: 2, Op: OpSkip, Rule: rule.BRSF},
			{From: 1, To: 3, Op: OpConv3, Rule: rule.Hebb}, {From: 2, To: 3, Op: OpDil3, Rule: rule.USF},
		}, Concat: []int{2, 3}},
		Reduce: CellGenotype{Edges: []Edge{
			{From: 0, To: 2, Op: OpConv3, Rule: rule.PC}, {From: 1, To: 2, Op: OpSkip, Rule: rule.FRSF},
			{From: 1, To: 3, Op: OpSep3, Rule: rule.DFA}, {From: 2, To: 3, Op: OpConv3, Rule: rule.BRSF},
		}, Concat: []int{2, 3}},
	}
}

func dynTestNet(t testing.TB, g Genotype, aux bool, size int) *Network {
	t.Helper()
	net, err := NewNetwork(NetworkConfig{C: 4, Layers: 3, Classes: 4, InChannels: 1, Auxiliary: aux, ImageSize: size,
		Genotype: g, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// allBP is dynTestGenotype's architecture with every feedback edge bp (hebb
// and pc edges become bp convolutions).
func allBP() Genotype {
	g := dynTestGenotype()
	for _, c := range []*CellGenotype{&g.Normal, &g.Reduce} {
		c.Edges = slices.Clone(c.Edges)
		for i := range c.Edges {
			c.Edges[i].Rule = rule.BP
		}
	}
	return g
}

// netState is everything of a network training reads, copied.
type netState struct {
	vals, grads map[string][]float32
	needs       map[string]bool
	draws       map[string]uint64
	dropPath    float32
}

func netSnapshot(net *Network) netState {
	s := netState{vals: map[string][]float32{}, grads: map[string][]float32{}, needs: map[string]bool{},
		draws: map[string]uint64{}, dropPath: net.DropPath()}
	for _, p := range append(net.Params(), net.Buffers()...) {
		s.vals[p.Name] = slices.Clone(p.T.Data)
		s.grads[p.Name] = slices.Clone(p.T.Grad)
		s.needs[p.Name] = p.T.NeedsGrad
	}
	for _, l := range net.RuleLayers() {
		s.draws[l.LayerName()] = nn.FeedbackOf(l).Draws
	}
	return s
}

// sameBits reports the first name whose values differ bit for bit.
func dynSameBits(a, b map[string][]float32) string {
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(va) != len(vb) || (va == nil) != (vb == nil) {
			return k
		}
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
				return k
			}
		}
	}
	if len(a) != len(b) {
		return "(a different set of tensors)"
	}
	return ""
}

func (s netState) diff(o netState) string {
	if k := dynSameBits(s.vals, o.vals); k != "" {
		return "values of " + k
	}
	if k := dynSameBits(s.grads, o.grads); k != "" {
		return "gradient of " + k
	}
	for k, v := range s.needs {
		if o.needs[k] != v {
			return "NeedsGrad of " + k
		}
	}
	for k, v := range s.draws {
		if o.draws[k] != v {
			return "brSF draws of " + k
		}
	}
	if s.dropPath != o.dropPath {
		return "drop path"
	}
	return ""
}

// TestTrainDynamicsLeavesTrainingUnchanged trains the same mixed network
// (fa, usf, brsf, frsf, dfa, hebb, pc; the classifier fa) with and without
// probes after every epoch, with drop path, cutout and input
// normalisation on: weights, buffers, brSF counters, losses and test
// accuracies must agree bit for bit.
func TestTrainDynamicsLeavesTrainingUnchanged(t *testing.T) {
	train, test := trainTestData(192, 8)
	run := func(dyn *DynamicsConfig) (*Network, *TrainResult, []Dynamics) {
		net := dynTestNet(t, dynTestGenotype(), false, 8)
		if err := net.OverrideRule("classifier", rule.FA); err != nil {
			t.Fatal(err)
		}
		var probes []Dynamics
		cfg := TrainConfig{Epochs: 2, BatchSize: 16, StepsPerEpoch: 4, LR: 0.05, DropPath: 0.2, Seed: 5,
			Augment: data.Augment{Cutout: 2}, Norm: &data.Norm{Mean: []float32{0.5}, Std: []float32{0.25}},
			Dynamics: dyn, OnDynamics: func(d Dynamics) { probes = append(probes, d) }}
		res, err := Train(context.Background(), net, cfg, train, test)
		if err != nil {
			t.Fatal(err)
		}
		return net, res, probes
	}
	plainNet, plain, none := run(nil)
	probedNet, probed, probes := run(&DynamicsConfig{Batches: 3, BatchSize: 16})
	if len(none) != 0 {
		t.Fatalf("%d probes without Dynamics", len(none))
	}
	if d := netSnapshot(plainNet).diff(netSnapshot(probedNet)); d != "" {
		t.Fatalf("probing changed the training: %s differs", d)
	}
	for i, h := range plain.History {
		p := probed.History[i]
		if h.Loss != p.Loss || h.Acc != p.Acc || h.TestLoss != p.TestLoss || h.TestAcc != p.TestAcc {
			t.Fatalf("epoch %d: %+v without probes, %+v with", i, h, p)
		}
	}
	if plain.TestAcc != probed.TestAcc || plain.Steps != probed.Steps {
		t.Fatalf("results differ: %+v vs %+v", plain, probed)
	}
	// Probes at initialisation and after each epoch, every layer reported.
	if len(probes) != 3 {
		t.Fatalf("%d probes, want 3 (epochs 0, 1, 2)", len(probes))
	}
	layers := probedNet.Layers()
	for i, d := range probes {
		if d.Epoch != i || d.Step != 4*i || d.Batches != 3 || d.BatchSize != 16 || len(d.Layers) != len(layers) {
			t.Fatalf("probe %d: epoch %d step %d, %d×%d batches, %d layers (want %d)", i, d.Epoch, d.Step, d.Batches, d.BatchSize, len(d.Layers), len(layers))
		}
		for j, l := range d.Layers {
			if l.Name != layers[j].Name || l.Rule != layers[j].Rule {
				t.Fatalf("probe %d layer %d: %s %s, want %s %s", i, j, l.Name, l.Rule, layers[j].Name, layers[j].Rule)
			}
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("probe %d does not encode: %v", i, err)
		}
	}
	// The weights moved between probes, so their statistics did.
	if probes[0].Layers[0].WStd == probes[2].Layers[0].WStd {
		t.Fatal("the stem's weight spread did not change over training")
	}
}

// TestProbeDynamicsAngles checks AngleBW and AngleGrad on the same
// architecture with one rule everywhere (every conv and linear layer,
// stem and classifier included).
func TestProbeDynamicsAngles(t *testing.T) {
	ds, _ := trainTestData(64, 8)
	signAngle := func(w []float32, mag func(i int) float32) float64 {
		// acos of the cosine between mag·sign(w) and w, independently of
		// nn.AngleDeg.
		var dot, nb, nw float64
		for i, v := range w {
			b := float64(mag(i) * nn.Sign(v))
			dot += b * float64(v)
			nb += b * b
			nw += float64(v) * float64(v)
		}
		return math.Acos(min(1, dot/math.Sqrt(nb*nw))) * 180 / math.Pi
	}
	for _, tc := range []struct {
		rule rule.Rule
		// wantBW is the expected AngleBW of a layer (NaN: absent).
		wantBW func(l nn.RuleLayer, w []float32) float64
		// gradPositive: AngleGrad must be clearly above 0 (else within 1e-6 of 0).
		gradPositive bool
	}{
		{rule.BP, func(nn.RuleLayer, []float32) float64 { return 0 }, false},
		{rule.USF, func(_ nn.RuleLayer, w []float32) float64 { return signAngle(w, func(int) float32 { return 1 }) }, true},
		{rule.FRSF, func(l nn.RuleLayer, w []float32) float64 {
			b := nn.FeedbackOf(l).B.Data
			return signAngle(w, func(i int) float32 { return b[i] })
		}, true},
		{rule.BRSF, func(l nn.RuleLayer, w []float32) float64 {
			// R is the next draw of the layer's stream, (Seed, Draws+1),
			// with the layer's init distribution (xavier here: biotorch's
			// for every rule; kaiming for the stem and the classifier).
			f := nn.FeedbackOf(l)
			r := nn.New(len(w))
			fi, fo := nn.Fans(l.Params()[0].T.Shape)
			rng := rand.New(rand.NewPCG(f.Seed, f.Draws+1))
			if f.Init == nn.Kaiming {
				nn.KaimingUniform(r, fi, rng)
			} else {
				nn.XavierUniform(r, fi, fo, rng)
			}
			return signAngle(w, func(i int) float32 { return float32(math.Abs(float64(r.Data[i]))) })
		}, true},
		{rule.FA, func(l nn.RuleLayer, w []float32) float64 {
			b := nn.FeedbackOf(l).B.Data
			var dot, nb, nw float64
			for i, v := range w {
				dot += float64(b[i]) * float64(v)
				nb += float64(b[i]) * float64(b[i])
				nw += float64(v) * float64(v)
			}
			return math.Acos(dot/math.Sqrt(nb*nw)) * 180 / math.Pi
		}, true},
		{rule.DFA, func(nn.RuleLayer, []float32) float64 { return math.NaN() }, true},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			net := dynTestNet(t, allBP(), false, 8)
			if err := net.OverrideRule("all", tc.rule); err != nil {
				t.Fatal(err)
			}
			before := netSnapshot(net)
			d, err := ProbeDynamics(context.Background(), net, ds, DynamicsConfig{Batches: 2, BatchSize: 16}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := before.diff(netSnapshot(net)); diff != "" {
				t.Fatalf("the probe changed the network: %s", diff)
			}
			rls := map[string]nn.RuleLayer{}
			for _, l := range net.RuleLayers() {
				rls[l.LayerName()] = l
			}
			for _, l := range d.Layers {
				rl := rls[l.Name]
				if rl == nil {
					t.Fatalf("layer %s is not a rule layer", l.Name)
				}
				want := tc.wantBW(rl, rl.Params()[0].T.Data)
				switch {
				case math.IsNaN(want) != math.IsNaN(l.AngleBW):
					t.Fatalf("%s: AngleBW %v, want %v", l.Name, l.AngleBW, want)
				case tc.rule == rule.BP && l.AngleBW != 0:
					t.Fatalf("%s: AngleBW %v for bp, want exactly 0", l.Name, l.AngleBW)
				case !math.IsNaN(want) && math.Abs(l.AngleBW-want) > 1e-6:
					t.Fatalf("%s: AngleBW %.9f, want %.9f", l.Name, l.AngleBW, want)
				}
				if math.IsNaN(l.AngleGrad) {
					t.Fatalf("%s: no AngleGrad", l.Name)
				}
				if tc.gradPositive {
					// The classifier's input gradient under dfa is its own
					// B's projection of the output error, the others all
					// pass through at least one feedback matrix.
					if !(l.AngleGrad > 1) {
						t.Fatalf("%s: AngleGrad %v under %s, want clearly above 0", l.Name, l.AngleGrad, tc.rule)
					}
				} else if math.Abs(l.AngleGrad) > 1e-6 {
					t.Fatalf("%s: AngleGrad %v under bp, want 0", l.Name, l.AngleGrad)
				}
			}
		})
	}
}

// TestProbeDynamicsGradVarAndWeights recomputes a probe's gradient
// statistics and weight distributions directly on a small mixed network
// with an auxiliary head (whose layers the probe's loss leaves out).
func TestProbeDynamicsGradVarAndWeights(t *testing.T) {
	const m, bs, bins = 3, 8, 9
	ds, _ := trainTestData(m*bs+5, 32)
	net := dynTestNet(t, dynTestGenotype(), true, 32)
	net.SetDropPath(0.3) // the probe turns it off
	norm := &data.Norm{Mean: []float32{0.4}, Std: []float32{0.3}}
	d, err := ProbeDynamics(context.Background(), net, ds, DynamicsConfig{Batches: m, BatchSize: bs, Bins: bins}, norm)
	if err != nil {
		t.Fatal(err)
	}
	if d.Batches != m {
		t.Fatalf("%d batches, want %d", d.Batches, m)
	}
	// The direct computation: the same batches, training-mode forwards
	// without drop path, the weight gradients kept.
	net.SetDropPath(0)
	layers, err := probeLayers(net)
	if err != nil {
		t.Fatal(err)
	}
	grads := make([][][]float32, len(layers)) // layer, batch, element
	for b := range m {
		x := make([]float32, bs*32*32)
		y := make([]int, bs)
		for k := range bs {
			y[k] = ds.Image(b*bs+k, x[k*32*32:])
		}
		for _, p := range net.Params() {
			p.T.Grad = nil
		}
		g := nn.NewGraph(true, nil)
		logits := net.Forward(g, normalizeInput(g, nn.FromSlice(x, bs, 1, 32, 32), norm))
		g.SetOutput(logits)
		g.Backward(g.CrossEntropy(logits, y, 0))
		for i, l := range layers {
			grads[i] = append(grads[i], slices.Clone(l.w.Grad))
		}
	}
	sawAux, sawHebb := false, false
	for i, l := range layers {
		got := d.Layers[i]
		if grads[i][0] == nil {
			// No gradient: Hebbian weights and the auxiliary head.
			if !math.IsNaN(got.GradVar) || !math.IsNaN(got.GradMean2) {
				t.Fatalf("%s: GradVar %v, GradMean2 %v for a weight without gradient", l.info.Name, got.GradVar, got.GradMean2)
			}
			sawAux = sawAux || strings.HasPrefix(l.info.Name, "aux.")
			sawHebb = sawHebb || l.info.Rule == rule.Hebb
			continue
		}
		var v, g2 float64
		for j := range grads[i][0] {
			col := make([]float64, m)
			for b := range m {
				col[b] = float64(grads[i][b][j])
			}
			mu, sd := stat.MeanStdDev(col, nil)
			v += sd * sd
			g2 += mu * mu
		}
		n := float64(len(grads[i][0]))
		if !dynCloseRel(got.GradVar, v/n, 1e-9) || !dynCloseRel(got.GradMean2, g2/n, 1e-9) {
			t.Fatalf("%s (%s): GradVar %g GradMean2 %g, direct %g %g", l.info.Name, l.info.Rule, got.GradVar, got.GradMean2, v/n, g2/n)
		}
		if !(got.GradVar > 0) {
			t.Fatalf("%s: GradVar %v", l.info.Name, got.GradVar)
		}
	}
	if !sawAux || !sawHebb {
		t.Fatalf("the test network lacks an auxiliary head (%v) or a Hebbian layer (%v)", sawAux, sawHebb)
	}
	// Weight distributions.
	for i, l := range layers {
		got := d.Layers[i]
		w := make([]float64, l.w.Len())
		maxAbs := 0.0
		for j, v := range l.w.Data {
			w[j] = float64(v)
			maxAbs = math.Max(maxAbs, math.Abs(w[j]))
		}
		mu, sd := stat.MeanStdDev(w, nil)
		if got.Kurtosis != stat.ExKurtosis(w, nil) || got.WMean != mu || got.WStd != sd {
			t.Fatalf("%s: mean %v std %v kurtosis %v, gonum says %v %v %v", l.info.Name, got.WMean, got.WStd, got.Kurtosis, mu, sd, stat.ExKurtosis(w, nil))
		}
		sum := 0
		for _, c := range got.Hist {
			sum += c
		}
		if len(got.Hist) != bins || sum != len(w) || got.Hi != maxAbs || got.Lo != -maxAbs {
			t.Fatalf("%s: %d bins summing to %d over [%v, %v], want %d bins, %d weights, ±%v", l.info.Name, len(got.Hist), sum, got.Lo, got.Hi, bins, len(w), maxAbs)
		}
	}
	// JSON: undefined quantities are absent, and come back as NaN.
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Dynamics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for i, l := range d.Layers {
		r := back.Layers[i]
		for _, q := range [][2]float64{{l.GradVar, r.GradVar}, {l.GradMean2, r.GradMean2}, {l.AngleBW, r.AngleBW},
			{l.AngleGrad, r.AngleGrad}, {l.WMean, r.WMean}, {l.WStd, r.WStd}, {l.Kurtosis, r.Kurtosis}} {
			if q[0] != q[1] && !(math.IsNaN(q[0]) && math.IsNaN(q[1])) {
				t.Fatalf("%s does not round-trip through JSON: %v became %v", l.Name, q[0], q[1])
			}
		}
	}
	if !strings.Contains(string(b), `"name":"cells.0.edge2.op.hebb","rule":"hebb","angle_grad"`) {
		t.Fatalf("the Hebbian layer's JSON should have no gradient variance nor B angle: %s", b)
	}
}

func dynCloseRel(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

func TestProbeDynamicsErrors(t *testing.T) {
	ds, _ := trainTestData(40, 8)
	net := dynTestNet(t, dynTestGenotype(), false, 8)
	for _, tc := range []struct {
		cfg  DynamicsConfig
		want string
	}{
		{DynamicsConfig{Batches: 1}, "batches 1"},
		{DynamicsConfig{Every: -1}, "every -1"},
		{DynamicsConfig{BatchSize: 32}, "fewer than 2 batches of 32"},
	} {
		if _, err := ProbeDynamics(context.Background(), net, ds, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", tc.cfg, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := netSnapshot(net)
	if _, err := ProbeDynamics(ctx, net, ds, DynamicsConfig{Batches: 2, BatchSize: 8}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: %v", err)
	}
	if diff := before.diff(netSnapshot(net)); diff != "" {
		t.Fatalf("a cancelled probe changed the network: %s", diff)
	}
	// Train refuses a bad probe configuration up front.
	train, test := trainTestData(64, 8)
	if _, err := Train(context.Background(), net, TrainConfig{Epochs: 1, BatchSize: 16, Dynamics: &DynamicsConfig{Batches: 1}}, train, test); err == nil {
		t.Fatal("Train accepted a probe of one batch")
	}
}

// TestProbeDynamicsCost measures one probe (M = 8, batch 64) of the quick
// preset's retraining network (C = 8, 5 cells, MNIST-sized inputs) against
// M training steps; run with BIONAS_PROBE_COST=1 -v. It reports, it does
// not judge: no timing is asserted.
func TestProbeDynamicsCost(t *testing.T) {
	if os.Getenv("BIONAS_PROBE_COST") == "" {
		t.Skip("set BIONAS_PROBE_COST=1 to measure the probe's cost")
	}
	p := quickPreset()
	g := dynTestGenotype()
	ncfg := p.Network
	ncfg.Genotype, ncfg.InChannels, ncfg.Classes, ncfg.Seed = g, 1, 10, 1
	net, err := NewNetwork(ncfg)
	if err != nil {
		t.Fatal(err)
	}
	ds := data.Synthetic(data.SyntheticConfig{N: 8 * 64, C: 1, H: 28, W: 28, Classes: 10, Seed: 1})
	start := time.Now()
	if _, err := ProbeDynamics(context.Background(), net, ds, DynamicsConfig{Batches: 8, BatchSize: 64}, nil); err != nil {
		t.Fatal(err)
	}
	probe := time.Since(start)
	res, err := Train(context.Background(), net, TrainConfig{Epochs: 1, BatchSize: 64, StepsPerEpoch: 8, EvalLimit: 64, LR: 0.05, DropPath: -1}, ds, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("probe M=8 × 64: %v; 8 training steps of 64 (+ evaluating 64 images): %.1fs (%d steps)", probe.Round(time.Millisecond), res.Seconds, res.Steps)
}

// TestTrainDynamicsResumes: probing is not part of a checkpoint's
// fingerprint, so a run checkpointed without probes resumes with them
// (here at its end: nothing left to train, nothing to probe).
func TestTrainDynamicsResumes(t *testing.T) {
	train, test := trainTestData(64, 8)
	dir := t.TempDir()
	cfg := TrainConfig{Epochs: 1, BatchSize: 16, StepsPerEpoch: 2, Seed: 4, RunControl: RunControl{CheckpointDir: dir}}
	first, err := Train(context.Background(), dynTestNet(t, dynTestGenotype(), false, 8), cfg, train, test)
	if err != nil {
		t.Fatal(err)
	}
	probes := 0
	cfg.Resume, cfg.Dynamics, cfg.OnDynamics = true, &DynamicsConfig{Batches: 2, BatchSize: 16}, func(Dynamics) { probes++ }
	again, err := Train(context.Background(), dynTestNet(t, dynTestGenotype(), false, 8), cfg, train, test)
	if err != nil {
		t.Fatal(err)
	}
	if again.ResumedAt != 1 || again.TestAcc != first.TestAcc || probes != 0 {
		t.Fatalf("resumed at %d, accuracy %v (first run %v), %d probes", again.ResumedAt, again.TestAcc, first.TestAcc, probes)
	}
}
