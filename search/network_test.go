package search

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

func testNetwork(t *testing.T, cfg NetworkConfig) *Network {
	t.Helper()
	if len(cfg.Genotype.Normal.Edges) == 0 {
		cfg.Genotype = testGenotype()
	}
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNetworkForwardBackwardAux(t *testing.T) {
	for _, tc := range []struct {
		name         string
		in, size     int
		auxW, auxFC  int // aux conv2 kernel, aux classifier inputs
		cfgImageSize int
	}{
		{"mnist", 1, 28, 1, 768, 0},
		{"cifar", 3, 32, 2, 768, 0},
		{"imagenet16", 3, 16, 1, 768, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNetwork(t, NetworkConfig{C: 4, Layers: 5, InChannels: tc.in, Auxiliary: true, DropPath: 0.2, ImageSize: tc.cfgImageSize, Seed: 1})
			x := testInput(1, 2, tc.in, tc.size, tc.size)
			g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
			logits, aux := n.ForwardAux(g, x)
			if !slices.Equal(logits.Shape, []int{2, 10}) || aux == nil || !slices.Equal(aux.Shape, []int{2, 10}) {
				t.Fatalf("logits %v, aux %v; want (2, 10) both", logits.Shape, aux)
			}
			if w := n.aux.conv2.W.Shape; w[2] != tc.auxW || n.aux.classifier.Cfg.In != tc.auxFC {
				t.Errorf("aux conv2 weight %v and classifier inputs %d, want kernel %d and %d inputs", w, n.aux.classifier.Cfg.In, tc.auxW, tc.auxFC)
			}
			labels := []int{3, 7}
			loss := g.Add(g.CrossEntropy(logits, labels, 0), g.Scale(g.CrossEntropy(aux, labels, 0), 0.4))
			g.Backward(loss)
			for _, p := range n.Params() {
				if p.T.Grad == nil {
					t.Errorf("%s got no gradient", p.Name)
				}
			}
			if x.Grad == nil {
				t.Errorf("no input gradient")
			}
			// No auxiliary output in evaluation, and Forward never gives one.
			if _, aux := n.ForwardAux(nil, x); aux != nil {
				t.Errorf("aux logits in evaluation")
			}
		})
	}
}

func TestNetworkDropPathOnlyInTraining(t *testing.T) {
	n := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Seed: 2})
	x := testInput(2, 4, 1, 8, 8)
	y0 := n.Forward(nil, x)
	n.SetDropPath(0.5)
	if n.DropPath() != 0.5 {
		t.Fatalf("DropPath() = %v", n.DropPath())
	}
	if y := n.Forward(nil, x); !slices.Equal(y.Data, y0.Data) {
		t.Errorf("drop path changed an evaluation forward")
	}
	train := func(p float32, seed uint64) []float32 {
		n.SetDropPath(p)
		return n.Forward(nn.NewGraph(true, rand.New(rand.NewPCG(seed, 0))), x).Data
	}
	if !slices.Equal(train(0, 1), train(0, 2)) {
		t.Errorf("training forwards without drop path differ")
	}
	if slices.Equal(train(0.5, 1), train(0.5, 2)) {
		t.Errorf("training forwards with drop path 0.5 and different seeds agree")
	}
	if !slices.Equal(train(0.5, 3), train(0.5, 3)) {
		t.Errorf("drop path is not reproducible from the graph's seed")
	}
}

func TestNetworkOverrideRule(t *testing.T) {
	rulesOf := func(n *Network, prefix string) map[rule.Rule]int {
		m := map[rule.Rule]int{}
		for _, l := range n.RuleLayers() {
			if strings.HasPrefix(l.LayerName(), prefix) {
				m[l.Rule()]++
			}
		}
		return m
	}
	n := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Seed: 3})
	// Genotype rules are on the edges, bp elsewhere.
	if r := rulesOf(n, "cells.0.edge0.op"); r[rule.FA] != 4 || len(r) != 1 {
		t.Errorf("cell 0 edge 0 (sep_conv_3x3:fa) has rules %v", r)
	}
	if r := rulesOf(n, "stem"); r[rule.BP] != 1 {
		t.Errorf("stem rules %v", r)
	}
	w0 := slices.Clone(n.cells[0].edges[0].op.Params()[0].T.Data)
	for _, tc := range []struct {
		sel    string
		r      rule.Rule
		prefix string
		count  int
	}{
		{"cell0.edge0", rule.BRSF, "cells.0.edge0.", 4},
		{"cell0", rule.USF, "cells.0.", 2 + 4 + 4 + 4 + 4 + 4 + 2}, // pre0, pre1, 5 sep convs, 1 dil conv
		{"cells.1.edge7.op.dw", rule.FRSF, "cells.1.edge7.op.dw", 1},
		{"classifier", rule.FA, "classifier", 1},
		{"all", rule.DFA, "", len(n.RuleLayers())},
	} {
		if err := n.OverrideRule(tc.sel, tc.r); err != nil {
			t.Fatalf("OverrideRule(%q): %v", tc.sel, err)
		}
		if got := rulesOf(n, tc.prefix)[tc.r]; got != tc.count {
			t.Errorf("after OverrideRule(%q, %s): %d layers under %q have it, want %d", tc.sel, tc.r, got, tc.prefix, tc.count)
		}
	}
	if !slices.Equal(n.cells[0].edges[0].op.Params()[0].T.Data, w0) {
		t.Errorf("OverrideRule changed weights")
	}
	for _, tc := range []struct {
		sel  string
		r    rule.Rule
		want string
	}{
		{"cell9", rule.FA, `selector "cell9": no cell "9"`},
		{"cell0.edge8", rule.FA, `selector "cell0.edge8": no edge`},
		{"cell0.edgy", rule.FA, `selector "cell0.edgy"`},
		{"cell1.edge0", rule.FA, "max_pool_3x3:fa, which has no convolution"},
		{"bogus", rule.FA, `selector "bogus" matches no layer`},
		{"all", rule.Hebb, `"hebb" is not a rule a convolution can take`},
	} {
		if err := n.OverrideRule(tc.sel, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OverrideRule(%q, %s): error %v, want %q", tc.sel, tc.r, err, tc.want)
		}
	}
	// Hebbian and predictive-coding edges keep their kind and are listed.
	g := testGenotype()
	g.Normal.Edges[0].Op, g.Normal.Edges[0].Rule = OpConv3, rule.Hebb
	g.Normal.Edges[1].Op, g.Normal.Edges[1].Rule = OpConv3, rule.PC
	h := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Genotype: g, Seed: 3})
	if err := h.OverrideRule("all", rule.FA); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, li := range h.Layers() {
		if li.Cell == 0 && li.Edge <= 1 && li.Edge >= 0 {
			kinds = append(kinds, li.Name+"="+string(li.Rule))
			if li.Editable {
				t.Errorf("%s is editable", li.Name)
			}
		}
	}
	if want := []string{"cells.0.edge0.op.hebb=hebb", "cells.0.edge1.op.pc=pc"}; !slices.Equal(kinds, want) {
		t.Errorf("hebb/pc layers %v, want %v", kinds, want)
	}
	y := h.Forward(nn.NewGraph(true, nil), testInput(3, 2, 1, 8, 8))
	if !slices.Equal(y.Shape, []int{2, 10}) {
		t.Errorf("hebb/pc network output %v", y.Shape)
	}
}

func TestNetworkLayers(t *testing.T) {
	n := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Auxiliary: true, Seed: 4})
	ls := n.Layers()
	if len(ls) != len(n.RuleLayers()) {
		t.Errorf("%d layer infos for %d rule layers", len(ls), len(n.RuleLayers()))
	}
	byName := map[string]LayerInfo{}
	for _, l := range ls {
		byName[l.Name] = l
	}
	for name, want := range map[string]LayerInfo{
		"stem.conv":               {Cell: -1, Edge: -1, Rule: rule.BP, Shape: []int{12, 1, 3, 3}},
		"cells.0.pre1.conv":       {Cell: 0, Edge: -1, Rule: rule.BP, Shape: []int{4, 12, 1, 1}},
		"cells.0.edge1.op.dw2":    {Cell: 0, Edge: 1, Op: OpSep3, Rule: rule.USF, Shape: []int{4, 1, 3, 3}},
		"cells.1.edge7.op.pw":     {Cell: 1, Edge: 7, Op: OpDil5, Rule: rule.BRSF, Shape: []int{8, 8, 1, 1}},
		"cells.1.edge2.op.conv_1": {},
		"aux.conv2":               {Cell: -1, Edge: -1, Rule: rule.BP},
		"classifier":              {Cell: -1, Edge: -1, Rule: rule.BP, Shape: []int{10, 64}},
	} {
		got, ok := byName[name]
		switch {
		case name == "cells.1.edge2.op.conv_1":
			if ok {
				t.Errorf("a stride-1 skip (cell 1 edge 2 reads node 2) has a layer %s", name)
			}
		case !ok:
			t.Errorf("no layer %s", name)
		case got.Cell != want.Cell || got.Edge != want.Edge || got.Op != want.Op || got.Rule != want.Rule || !got.Editable ||
			(want.Shape != nil && !slices.Equal(got.Shape, want.Shape)):
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
}

func TestNetworkErrorsAndSeeds(t *testing.T) {
	bad := testGenotype()
	bad.Reduce.Concat = nil
	if _, err := NewNetwork(NetworkConfig{Genotype: bad}); err == nil || !strings.Contains(err.Error(), "reduce cell: empty concat") {
		t.Errorf("invalid genotype: error %v", err)
	}
	if _, err := NewNetwork(NetworkConfig{Genotype: testGenotype(), DropPath: 1}); err == nil || !strings.Contains(err.Error(), "drop-path") {
		t.Errorf("drop path 1: error %v", err)
	}
	a := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Seed: 7})
	b := testNetwork(t, NetworkConfig{C: 4, Layers: 3, InChannels: 1, Seed: 7})
	pa, pb := append(a.Params(), a.Buffers()...), append(b.Params(), b.Buffers()...)
	seen := map[string]bool{}
	for i := range pa {
		if pa[i].Name != pb[i].Name || !slices.Equal(pa[i].T.Data, pb[i].T.Data) {
			t.Fatalf("same seed, different %s", pa[i].Name)
		}
		if seen[pa[i].Name] {
			t.Errorf("name %q repeats", pa[i].Name)
		}
		seen[pa[i].Name] = true
	}
	if !seen["cells.0.edge0.op.dw1.weight"] || !seen["cells.1.edge7.op.bn.running_mean"] {
		t.Errorf("missing expected tensor names")
	}
}
