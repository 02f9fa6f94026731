package tui

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// rulesGenotype has convolutions, pools, skips (identity and factorized
// reduction) and a Hebbian and a predictive-coding conv.
const rulesGenotype = "Genotype(normal=[('sep_conv_3x3:fa', 0), ('max_pool_3x3:fa', 1), ('skip_connect:usf', 0), " +
	"('dil_conv_3x3:fa', 2), ('sep_conv_5x5:usf', 1), ('avg_pool_3x3:fa', 0), ('conv_3x3:hebb', 0), ('dil_conv_5x5:brsf', 4)], " +
	"normal_concat=[2, 3, 4, 5], reduce=[('skip_connect:fa', 0), ('sep_conv_3x3:fa', 1), ('skip_connect:usf', 2), " +
	"('max_pool_3x3:fa', 1), ('dil_conv_5x5:fa', 0), ('sep_conv_3x3:frsf', 3), ('conv_3x3:pc', 0), ('dil_conv_3x3:brsf', 4)], " +
	"reduce_concat=[2, 3, 4, 5])"

// engineLayers lists the layers the real engine gives a network of
// rulesGenotype (the mnist-tiny preset: 5 cells, 1 and 3 reductions),
// with edits applied.
func engineLayers(t *testing.T, edits ...lab.RuleEdit) []lab.LayerInfo {
	t.Helper()
	g, err := search.ParseGenotype(rulesGenotype)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := lab.Engine(lab.EngineOptions{}).Layers(context.Background(), g, lab.Spec{Kind: lab.KindTrain, Preset: "mnist-tiny", Edits: edits})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// rulesState is a session state whose selected run is a train run.
func rulesState() *state {
	return &state{st: NewStyles(nil), now: fixedNow, sel: "r0002", cur: &runData{Snapshot: lab.Snapshot{
		Info: lab.RunInfo{ID: "r0002", Kind: lab.KindTrain, Status: lab.StatusDone},
	}}}
}

func rulesPaneWith(t *testing.T, w, h int) *rulesPane {
	p := newRulesPane(rulesState())
	p.layers = engineLayers(t)
	p.SetSize(w, h)
	return p
}

func (p *rulesPane) find(t *testing.T, name string) int {
	t.Helper()
	i := slices.IndexFunc(p.layers, func(l lab.LayerInfo) bool { return l.Name == name })
	if i < 0 {
		t.Fatalf("no layer %s", name)
	}
	return i
}

func TestRulesTableNamesCellsEdgesAndSelectors(t *testing.T) {
	// Before: rows were bare layer names ("cells.1.edge1.op.dw1"), with
	// no cell kind, no edge as the genotype draws it, no selector.
	p := rulesPaneWith(t, 78, 40)
	p.cursor = p.find(t, "cells.1.edge1.op.dw1")
	v := p.View(true)
	for _, want := range []string{
		"cell   ", "edge", "part", "selector",
		"cell0 normal pre0  conv  conv", "cells.0.pre0",
		"cell0 normal 0→2   sep3  dw1", "cell0.edge0",
		"cell1 reduce 0→2   skip  conv_1", "cell1.edge0",
		"cell1 reduce 1→2   sep3  dw1", "cell1.edge1",
		"cell0 normal 0→5   conv3 hebb   hebb",
		"/83 cells.1.edge1.op.dw1 · cell 1 (reduce) · edge 1 = 1→2 sep_conv_3x3", "e: all of cell1.edge1",
		"←/→ bp fa dfa usf brsf frsf · hebb, pc layers: fixed kinds",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("no %q in\n%s", want, v)
		}
	}
	// Every line fits: nothing is cut.
	if strings.Contains(v, "…") {
		t.Errorf("a cut line:\n%s", v)
	}
}

func TestRulesEditsUseTheCLISelectors(t *testing.T) {
	// Edits say the widest selector that means exactly them, and that
	// selector, applied by the engine, gives the network the pane shows.
	// Before: one edit per layer name, always.
	for _, c := range []struct {
		name string
		do   func(p *rulesPane)
		want []lab.RuleEdit
	}{
		{"one layer", func(p *rulesPane) {
			p.cursor = p.find(t, "cells.1.edge1.op.pw1")
			p.Update(keys("right")[0]) // fa → dfa
		}, []lab.RuleEdit{{Selector: "cells.1.edge1.op.pw1", Rule: rule.DFA}}},
		{"an edge", func(p *rulesPane) {
			p.cursor = p.find(t, "cells.1.edge1.op.pw1")
			p.Update(keys("right")[0])
			p.Update(keys("e")[0])
		}, []lab.RuleEdit{{Selector: "cell1.edge1", Rule: rule.DFA}}},
		{"a cell", func(p *rulesPane) {
			for _, l := range p.layers {
				if l.Cell == 3 {
					p.set(l, rule.USF)
				}
			}
		}, []lab.RuleEdit{{Selector: "cell3", Rule: rule.USF}}},
		{"two edges and a layer", func(p *rulesPane) {
			for _, l := range p.layers {
				if l.Edge == "cell0.edge0" || l.Edge == "cell4.edge3" || l.Name == "classifier" {
					p.set(l, rule.BRSF)
				}
			}
		}, []lab.RuleEdit{{Selector: "cell0.edge0", Rule: rule.BRSF}, {Selector: "cell4.edge3", Rule: rule.BRSF}, {Selector: "classifier", Rule: rule.BRSF}}},
		{"all (hebb and pc stay)", func(p *rulesPane) {
			p.Update(keys("right")[0]) // the stem: bp → fa
			p.Update(keys("a")[0])
		}, []lab.RuleEdit{{Selector: "all", Rule: rule.FA}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := rulesPaneWith(t, 100, 30)
			c.do(p)
			got := p.edits()
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("edits %v, want %v", got, c.want)
			}
			applied := engineLayers(t, got...)
			for i, l := range applied {
				if want := p.rule(p.layers[i]); l.Rule != want {
					t.Errorf("%s: the engine applied %s, the pane shows %s", l.Name, l.Rule, want)
				}
			}
		})
	}
}

func TestRulesCycleOffersWhatTheLayerTakes(t *testing.T) {
	// A conv or linear layer takes every feedback rule, and ←/→ visits
	// exactly those; a Hebbian or predictive-coding layer takes none.
	p := rulesPaneWith(t, 100, 30)
	p.cursor = p.find(t, "cells.0.edge0.op.dw1")
	var seen []rule.Rule
	for range rule.Feedback {
		seen = append(seen, p.rule(p.layers[p.cursor]))
		p.Update(keys("right")[0])
	}
	slices.Sort(seen)
	want := slices.Clone(rule.Feedback)
	slices.Sort(want)
	if !slices.Equal(seen, want) || p.rule(p.layers[p.cursor]) != rule.FA {
		t.Fatalf("→ visits %v, want %v and back to fa", seen, want)
	}
	for _, name := range []string{"cells.0.edge6.op.hebb", "cells.1.edge6.op.pc"} {
		p.cursor = p.find(t, name)
		p.Update(keys("right")[0])
		if _, ok := p.pending[name]; ok {
			t.Errorf("%s took a rule", name)
		}
		if !strings.Contains(p.View(true), "is this layer's kind: no other rule") {
			t.Errorf("%s: the pane does not say why", name)
		}
		// Nor do the others take its kind: a and e on it change nothing.
		p.Update(keys("a")[0])
		p.Update(keys("e")[0])
		for n, r := range p.pending {
			if !r.IsFeedback() {
				t.Errorf("a or e on %s gave %s the rule %s", name, n, r)
			}
		}
	}
}

func TestGenotypeShowsNoRuleWhereNoneActs(t *testing.T) {
	// Before: "max_pool_3x3 fa", "skip_connect usf" (an identity), and fa
	// in the legend for a genotype whose only fa edges are pools.
	g, err := search.ParseGenotype("Genotype(normal=[('max_pool_3x3:fa', 0), ('skip_connect:usf', 1), ('sep_conv_3x3:brsf', 0), ('avg_pool_3x3:fa', 2)], " +
		"normal_concat=[2, 3], reduce=[('skip_connect:frsf', 0), ('max_pool_3x3:fa', 1), ('skip_connect:fa', 2), ('dil_conv_3x3:usf', 0)], reduce_concat=[2, 3])")
	if err != nil {
		t.Fatal(err)
	}
	s := rulesState()
	s.cur.Genotype = &g
	p := newGenotypePane(s)
	p.SetSize(100, 30)
	v := p.View(true)
	for _, want := range []string{"max_pool_3x3", "skip_connect", "sep_conv_3x3 brsf", "avg_pool_3x3",
		"skip_connect frsf", "dil_conv_3x3 usf", "no rule: parameter-free op"} {
		if !strings.Contains(v, want) {
			t.Errorf("no %q in\n%s", want, v)
		}
	}
	for _, bad := range []string{"max_pool_3x3 fa", "skip_connect usf", "skip_connect fa", "avg_pool_3x3 fa", "feedback alignment"} {
		if strings.Contains(v, bad) {
			t.Errorf("%q in\n%s", bad, v)
		}
	}
}
