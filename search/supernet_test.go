package search

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// tinySupernet is small enough for finite differences: 3 cells of 2 nodes.
func tinySupernet(t *testing.T, space Space, k int, recompute bool, seed uint64) *Supernet {
	t.Helper()
	s, err := NewSupernet(SupernetConfig{C: 4, Cells: 3, Classes: 3, InChannels: 2, Steps: 2, Multiplier: 2, StemMultiplier: 1,
		Space: space, PartialChannels: k, Recompute: recompute, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The analytic gradients of α (and of β with partial channels) match
// central finite differences of the training loss (bp pairs, so that the
// gradient is the true one; BN in training mode throughout).
func TestAlphaGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name      string
		k         int
		recompute bool
	}{{"darts", 1, false}, {"darts recompute", 1, true}, {"pc-darts", 2, true}, {"pc-darts taped", 2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := tinySupernet(t, BPSpace(), tc.k, tc.recompute, 5)
			rng := rand.New(rand.NewPCG(9, 9))
			for _, a := range s.Alphas() {
				for i := range a.T.Data {
					a.T.Data[i] = float32(rng.NormFloat64()) // away from the flat start
				}
			}
			x := testInput(10, 4, 2, 8, 8)
			x.NeedsGrad = false
			labels := []int{0, 1, 2, 1}
			loss := func(backward bool) float64 {
				g := nn.NewGraph(true, nil)
				logits := s.Forward(g, x)
				l := g.CrossEntropy(logits, labels, 0)
				if backward {
					g.Backward(l)
				}
				return float64(l.Data[0])
			}
			loss(true)
			for _, a := range s.Alphas() {
				if a.T.Grad == nil {
					t.Fatalf("%s got no gradient", a.Name)
				}
				// Check the two entries with the largest gradients.
				idx := make([]int, a.T.Len())
				for i := range idx {
					idx[i] = i
				}
				sort.Slice(idx, func(i, j int) bool { return math.Abs(float64(a.T.Grad[idx[i]])) > math.Abs(float64(a.T.Grad[idx[j]])) })
				for _, i := range idx[:2] {
					eps := float32(2e-3) // small: ReLU and max-pool kinks are near
					v := a.T.Data[i]
					a.T.Data[i] = v + eps
					lp := loss(false)
					a.T.Data[i] = v - eps
					lm := loss(false)
					a.T.Data[i] = v
					fd, an := (lp-lm)/float64(2*eps), float64(a.T.Grad[i])
					if math.Abs(fd-an) > 0.05*math.Abs(an)+2e-4 {
						t.Errorf("%s[%d]: analytic %.6f, finite difference %.6f", a.Name, i, an, fd)
					}
				}
			}
		})
	}
}

func TestSupernetSeedsAndNames(t *testing.T) {
	a := tinySupernet(t, BioSpace(), 1, false, 3)
	b := tinySupernet(t, BioSpace(), 1, false, 3)
	c := tinySupernet(t, BioSpace(), 1, false, 4)
	all := func(s *Supernet) []nn.Named { return append(append(s.Weights(), s.Buffers()...), s.Alphas()...) }
	na, nb, nc := all(a), all(b), all(c)
	same, differ := true, false
	for i := range na {
		same = same && na[i].Name == nb[i].Name && slices.Equal(na[i].T.Data, nb[i].T.Data)
		differ = differ || !slices.Equal(na[i].T.Data, nc[i].T.Data)
	}
	if !same {
		t.Errorf("the same seed built different supernets")
	}
	if !differ {
		t.Errorf("different seeds built the same supernet")
	}
	seen := map[string]bool{}
	for _, n := range na {
		if seen[n.Name] {
			t.Errorf("name %q repeats", n.Name)
		}
		seen[n.Name] = true
	}
	for _, want := range []string{
		"stem.conv.weight", "stem.bn.running_mean", "cells.0.pre0.conv.weight", "cells.2.pre0.conv_1.weight",
		"cells.0.edges.0.sep_conv_3x3:fa.dw1.weight", "cells.0.edges.4.dil_conv_5x5:frsf.pw.weight",
		"cells.1.edges.0.skip_connect:brsf.conv_2.weight", "cells.0.edges.0.max_pool_3x3.bn.running_var",
		"cells.0.edges.0.sep_conv_3x3:fa.dw1.feedback", "classifier.weight", "alpha_normal", "alpha_reduce",
	} {
		if !seen[want] {
			t.Errorf("no tensor named %q", want)
		}
	}
	if seen["beta_normal"] {
		t.Errorf("beta without partial channels")
	}
	if len(a.Params()) != len(a.Weights()) {
		t.Errorf("Params is not Weights")
	}
	for _, w := range a.Weights() {
		if strings.HasPrefix(w.Name, "alpha") || strings.HasPrefix(w.Name, "beta") {
			t.Errorf("architecture parameter %s among the weights", w.Name)
		}
	}
	if a.NumCells() != 3 || a.IsReduction(0) || !a.IsReduction(1) || !a.IsReduction(2) {
		t.Errorf("reductions at %v %v %v, want cells 1 and 2 of 3", a.IsReduction(0), a.IsReduction(1), a.IsReduction(2))
	}
	if NumEdges(4) != 14 || NumEdges(2) != 5 {
		t.Errorf("NumEdges(4) = %d, NumEdges(2) = %d", NumEdges(4), NumEdges(2))
	}
	for _, l := range a.RuleLayers() {
		if strings.Contains(l.LayerName(), "sep_conv_3x3:usf") && l.Rule() != rule.USF {
			t.Errorf("layer %s has rule %s", l.LayerName(), l.Rule())
		}
	}
}

// nn.SaveModel / LoadModel checkpoint a supernet (names are unique).
func TestSupernetSaveLoad(t *testing.T) {
	a := tinySupernet(t, BioSpace(), 1, false, 3)
	g := nn.NewGraph(true, nil)
	x := testInput(1, 2, 2, 8, 8)
	a.Forward(g, x) // move BN statistics and brSF draws
	path := filepath.Join(t.TempDir(), "super.safetensors")
	if err := nn.SaveModel(path, a, nil); err != nil {
		t.Fatal(err)
	}
	b := tinySupernet(t, BioSpace(), 1, false, 99)
	if err := nn.LoadModel(path, b, nil); err != nil {
		t.Fatal(err)
	}
	for i, al := range a.Alphas() { // α is not part of the model file
		copy(b.Alphas()[i].T.Data, al.T.Data)
	}
	pa, pb := append(a.Weights(), a.Buffers()...), append(b.Weights(), b.Buffers()...)
	for i := range pa {
		if !slices.Equal(pa[i].T.Data, pb[i].T.Data) {
			t.Fatalf("%s differs after load", pa[i].Name)
		}
	}
	ya, yb := a.Forward(nil, x), b.Forward(nil, x)
	if !slices.Equal(ya.Data, yb.Data) {
		t.Errorf("loaded supernet computes something else")
	}
}

func TestForwardWithWeights(t *testing.T) {
	s := tinySupernet(t, BioSpace(), 1, false, 3)
	x := testInput(2, 2, 2, 8, 8)
	y1 := s.Forward(nil, x)
	wn, wr := (*nn.Graph)(nil).Softmax(s.AlphaNormal), (*nn.Graph)(nil).Softmax(s.AlphaReduce)
	y2 := s.ForwardWithWeights(nil, x, wn, wr)
	if !slices.Equal(y1.Data, y2.Data) {
		t.Errorf("ForwardWithWeights(softmax α) differs from Forward")
	}
	wn.NeedsGrad, wr.NeedsGrad = true, true
	g := nn.NewGraph(true, nil)
	y := s.ForwardWithWeights(g, x, wn, wr)
	g.Backward(g.CrossEntropy(y, []int{0, 1}, 0))
	if wn.Grad == nil || wr.Grad == nil || s.AlphaNormal.Grad != nil {
		t.Errorf("gradients: given weights %v %v, alpha %v", wn.Grad != nil, wr.Grad != nil, s.AlphaNormal.Grad != nil)
	}
}

// With partial channels the genotype is derived from softmax(α) times the
// node softmax of β: β can move the choice of inputs.
func TestGenotypeMultipliesBeta(t *testing.T) {
	s := tinySupernet(t, BPSpace(), 2, false, 3)
	sep3 := s.Space.Index(Pair{OpSep3, rule.BP})
	skip := s.Space.Index(Pair{OpSkip, rule.BP})
	for _, a := range []*nn.Tensor{s.AlphaNormal, s.AlphaReduce} {
		clear(a.Data)
	}
	// Node 1 (edges 2, 3, 4): by α alone edges 2 and 3 win (sep3 strong on
	// both, edge 3 strongest); β on node 1 favours edges 4 and 2.
	p := s.Space.Len()
	s.AlphaNormal.Data[2*p+sep3] = 3
	s.AlphaNormal.Data[3*p+sep3] = 3.5
	s.AlphaNormal.Data[4*p+skip] = 2.5
	clear(s.BetaNormal.Data)
	s.BetaNormal.Data[2], s.BetaNormal.Data[3], s.BetaNormal.Data[4] = 1, -3, 2
	alphaOnly, _ := s.AlphaSoftmax()
	gAlpha := Derive(alphaOnly, alphaOnly, s.Space, 2)
	if e := gAlpha.Normal.Edges[2:4]; e[0].From != 1 || e[1].From != 0 {
		t.Fatalf("α alone picks %+v, want inputs 1 then 0", e)
	}
	g := s.Genotype()
	e := g.Normal.Edges[2:4]
	if e[0] != (Edge{2, 3, OpSkip, rule.BP}) || e[1] != (Edge{0, 3, OpSep3, rule.BP}) {
		t.Errorf("with β node 1 = %+v, want skip from 2 then sep3 from 0", e)
	}
	nw, _ := s.EdgeWeights()
	want := alphaOnly[4][skip] * float32(math.Exp(2)/(math.Exp(1)+math.Exp(-3)+math.Exp(2)))
	if math.Abs(float64(nw[4][skip]-want)) > 1e-6 {
		t.Errorf("edge weight %v, want softmax(α)·softmax(β) = %v", nw[4][skip], want)
	}
	if len(s.Alphas()) != 4 || s.Alphas()[2].Name != "beta_normal" {
		t.Errorf("Alphas() = %v, want alpha_normal, alpha_reduce, beta_normal, beta_reduce", len(s.Alphas()))
	}
}

func TestSupernetConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  SupernetConfig
		want string
	}{
		{SupernetConfig{Multiplier: 5}, "multiplier"},
		{SupernetConfig{C: 6, PartialChannels: 4}, "divisible"},
		{SupernetConfig{C: -1}, "positive"},
		{SupernetConfig{Space: Space{Name: "none", Pairs: []Pair{}}}, "no pairs"},
	} {
		if _, err := NewSupernet(tc.cfg); err == nil || !containsAll(err.Error(), "supernet", tc.want) {
			t.Errorf("NewSupernet(%+v): error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
