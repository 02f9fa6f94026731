package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// testWeights returns a (rows × p) tensor of softmax rows of N(0,1) logits.
func testWeights(seed uint64, rows, p int) *nn.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	a := nn.New(rows, p)
	for i := range a.Data {
		a.Data[i] = float32(rng.NormFloat64())
	}
	w := (*nn.Graph)(nil).Softmax(a)
	w.NeedsGrad = true
	return w
}

func testMixedOp(t *testing.T, space Space, c, stride, k int, recompute bool) *MixedOp {
	t.Helper()
	m, err := NewMixedOp(MixedOpConfig{Name: "e", Space: space, C: c, Stride: stride, PartialChannels: k, Recompute: recompute, Classes: 10},
		rand.New(rand.NewPCG(11, 12)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The mixed op's output is Σ_k w_k·pair_k(x), each pair computed on its
// own (in training mode for the feedback spaces; in evaluation for hlpc,
// whose Hebbian layer would change its weights in a weight step's forward).
func TestMixedOpIsWeightedSumOfPairs(t *testing.T) {
	for _, tc := range []struct {
		space  Space
		stride int
		train  bool
	}{
		{BioSpace(), 1, true}, {BioSpace(), 2, true}, {BPSpace(), 2, false}, {HLPCSpace(), 1, false}, {LRNASSpace(), 2, true},
	} {
		t.Run(fmt.Sprintf("%s/s%d", tc.space.Name, tc.stride), func(t *testing.T) {
			m := testMixedOp(t, tc.space, 4, tc.stride, 1, false)
			x := testInput(1, 2, 4, 6, 6)
			w := testWeights(2, 3, tc.space.Len())
			graph := func() *nn.Graph {
				if tc.train {
					return nn.NewGraph(true, nil)
				}
				return nil
			}
			got := m.Forward(graph(), x, w, 1)
			want := nn.New(got.Shape...)
			for k := range tc.space.Pairs {
				op := m.PairOp(k)
				if op == nil {
					if tc.space.Pairs[k].Op != OpNone {
						t.Fatalf("pair %s has no op", tc.space.Pairs[k])
					}
					continue
				}
				y := op.Forward(graph(), x)
				for i, v := range y.Data {
					want.Data[i] += w.Data[tc.space.Len()+k] * v
				}
			}
			if d := testMaxDiff(got.Data, want.Data); d > 1e-6 {
				t.Errorf("mixed output differs from the weighted sum of pairs by %.3g", d)
			}
		})
	}
}

// Parameter-free pairs are computed once for all rules, and that shared
// computation equals a pair built on its own; all pairs of a shared unit
// get the same weight gradient.
func TestSharedParameterFreePairs(t *testing.T) {
	space := BioSpace()
	idx := func(op Op, r rule.Rule) int { return space.Index(Pair{op, r}) }
	for _, stride := range []int{1, 2} {
		m := testMixedOp(t, space, 4, stride, 1, false)
		wantUnits := 16 + 2 + 1 // convs, pools, identity
		if stride == 2 {
			wantUnits = 16 + 2 + 4 // one FactorizedReduce per rule
		}
		if m.NumUnits() != wantUnits {
			t.Errorf("stride %d: %d distinct computations, want %d", stride, m.NumUnits(), wantUnits)
		}
		for _, op := range []Op{OpMaxPool, OpAvgPool, OpSkip} {
			a, b := m.PairOp(idx(op, rule.FA)), m.PairOp(idx(op, rule.FRSF))
			shared := a == b
			if want := op != OpSkip || stride == 1; shared != want {
				t.Errorf("stride %d: %s shared across rules = %v, want %v", stride, op, shared, want)
			}
		}
		// The shared max pool (with its BN) equals one built separately.
		sep, err := NewPairOp(OpConfig{Name: "p", Pair: Pair{OpMaxPool, rule.USF}, C: 4, Stride: stride, PoolBN: true}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		x := testInput(4, 2, 4, 6, 6)
		y1 := m.PairOp(idx(OpMaxPool, rule.USF)).Forward(nn.NewGraph(true, nil), x)
		y2 := sep.Forward(nn.NewGraph(true, nil), x)
		if !slices.Equal(y1.Data, y2.Data) {
			t.Errorf("stride %d: shared max pool differs from a separate one", stride)
		}
		if stride == 1 {
			if y := m.PairOp(idx(OpSkip, rule.BRSF)).Forward(nil, x); y != x {
				t.Errorf("stride-1 skip is not the identity (a new tensor)")
			}
		}
		// Weight gradients: every rule of a shared unit gets ⟨dout, y⟩.
		w := testWeights(5, 1, space.Len())
		g := nn.NewGraph(true, nil)
		out := m.Forward(g, x, w, 0)
		g.BackwardFrom(out, testSeed(out.Len(), 6))
		for _, op := range []Op{OpMaxPool, OpAvgPool, OpNone} {
			g0 := w.Grad[idx(op, rule.FA)]
			for _, r := range BioRules() {
				if w.Grad[idx(op, r)] != g0 {
					t.Errorf("stride %d: %s:%s weight gradient %v, want %v like %s:fa", stride, op, r, w.Grad[idx(op, r)], g0, op)
				}
			}
			if op == OpNone && g0 != 0 {
				t.Errorf("none has weight gradient %v, want 0", g0)
			}
		}
	}
}

// With partial channels (K = 2, C = 4) the first two channels go through
// the pairs, the other two bypass (max-pooled 2×2 at stride 2), and the
// channel shuffle interleaves them: out = [mixed0, bypass0, mixed1, bypass1].
func TestPartialChannels(t *testing.T) {
	for _, stride := range []int{1, 2} {
		m := testMixedOp(t, BPSpace(), 4, stride, 2, false)
		x := testInput(7, 2, 4, 6, 6)
		w := testWeights(8, 1, BPSpace().Len())
		out := m.Forward(nil, x, w, 0)
		ref := testMixedOp(t, BPSpace(), 2, stride, 1, false) // same seed: same pair weights on C/K channels
		xa := (*nn.Graph)(nil).SliceAxis(x, 1, 0, 2)
		mixed := ref.Forward(nil, xa, w, 0)
		bypass := (*nn.Graph)(nil).SliceAxis(x, 1, 2, 4)
		if stride == 2 {
			bypass = (*nn.Graph)(nil).MaxPool2d(bypass, 2, 2, 0)
		}
		plane := out.Len() / (out.Shape[0] * out.Shape[1])
		for b := range 2 {
			for c, src := range []struct {
				t  *nn.Tensor
				ch int
			}{{mixed, 0}, {bypass, 0}, {mixed, 1}, {bypass, 1}} {
				got := out.Data[(b*4+c)*plane : (b*4+c+1)*plane]
				want := src.t.Data[(b*2+src.ch)*plane : (b*2+src.ch+1)*plane]
				if d := testMaxDiff(got, want); d > 1e-6 {
					t.Errorf("stride %d: output channel %d differs from its source by %.3g", stride, c, d)
				}
			}
		}
	}
}

// Recompute on and off give identical outputs, weight gradients, alpha
// gradients and state (BN running statistics, brSF draw counts, Hebbian
// weights), step after step — bit for bit.
func TestRecomputeMatchesTapedForward(t *testing.T) {
	brsf, err := NewSpace("brsf", DARTSOps(), []rule.Rule{rule.BRSF})
	if err != nil {
		t.Fatal(err)
	}
	dfa, err := NewSpace("dfa", []Op{OpNone, OpSkip, OpSep3, OpDil3}, []rule.Rule{rule.DFA, rule.FA})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		space Space
		k     int
	}{{BPSpace(), 1}, {brsf, 1}, {dfa, 1}, {HLPCSpace(), 1}, {brsf, 2}} {
		t.Run(fmt.Sprintf("%s/K%d", tc.space.Name, tc.k), func(t *testing.T) {
			build := func(recompute bool) *Supernet {
				s, err := NewSupernet(SupernetConfig{C: 4, Cells: 3, Classes: 3, InChannels: 2, Steps: 2, Multiplier: 2, StemMultiplier: 1,
					Space: tc.space, PartialChannels: tc.k, Recompute: recompute, Seed: 21})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			a, b := build(false), build(true)
			x := testInput(22, 3, 2, 8, 8)
			x.NeedsGrad = false
			labels := []int{0, 2, 1}
			for step := range 2 {
				var logits [2]*nn.Tensor
				for i, s := range []*Supernet{a, b} {
					for _, p := range append(s.Weights(), s.Alphas()...) {
						p.T.ZeroGrad()
					}
					g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
					g.WeightStep = true // Hebbian weights learn: their recomputation is checked too
					logits[i] = s.Forward(g, x)
					g.SetOutput(logits[i])
					g.Backward(g.CrossEntropy(logits[i], labels, 0))
				}
				if !slices.Equal(logits[0].Data, logits[1].Data) {
					t.Fatalf("step %d: logits differ: %v vs %v", step, logits[0].Data, logits[1].Data)
				}
				compare := func(what string, xs, ys []nn.Named, grad bool) {
					for i := range xs {
						u, v := xs[i].T.Data, ys[i].T.Data
						if grad {
							u, v = xs[i].T.Grad, ys[i].T.Grad
						}
						if !slices.Equal(u, v) {
							t.Errorf("step %d: %s %s differs (max diff %.3g)", step, what, xs[i].Name, testMaxDiff(u, v))
						}
					}
				}
				compare("gradient of", a.Weights(), b.Weights(), true)
				compare("gradient of", a.Alphas(), b.Alphas(), true)
				compare("buffer", a.Buffers(), b.Buffers(), false)
				for i, l := range a.RuleLayers() {
					if sa, sb := l.FeedbackState(), b.RuleLayers()[i].FeedbackState(); sa.Draws != sb.Draws {
						t.Errorf("step %d: %s made %d brSF draws with recompute, %d without", step, l.LayerName(), sb.Draws, sa.Draws)
					}
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

func TestMixedOpErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  MixedOpConfig
		want string
	}{
		{MixedOpConfig{Name: "e", Space: Space{Name: "empty"}, C: 4}, "no pairs"},
		{MixedOpConfig{Name: "e", Space: BPSpace(), C: 6, PartialChannels: 4}, "divisible"},
		{MixedOpConfig{Name: "e", Space: Space{Name: "x", Pairs: []Pair{{OpNone, rule.FA}}}, C: 4}, "every pair is none"},
	} {
		_, err := NewMixedOp(tc.cfg, rand.New(rand.NewPCG(1, 1)))
		if err == nil || !containsAll(err.Error(), tc.want, `"e"`) {
			t.Errorf("NewMixedOp: error %v, want one naming the op and saying %q", err, tc.want)
		}
	}
}
