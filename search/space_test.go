package search

import (
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

func TestSpacesPairsPerEdge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs int
		first string
		last  string
	}{
		{"bio", 32, "none:fa", "dil_conv_5x5:frsf"},
		{"bp", 8, "none:bp", "dil_conv_5x5:bp"},
		{"hlpc", 34, "none:fa", "conv_3x3:pc"},
		{"lrnas", 22, "none:bp", "dil_conv_5x5:fa"}, // LR-NAS' PRIMITIVES has 22 entries
	} {
		s, err := SpaceByName(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if s.Len() != tc.pairs || s.Pairs[0].String() != tc.first || s.Pairs[s.Len()-1].String() != tc.last {
			t.Errorf("%s: %d pairs from %s to %s, want %d from %s to %s", tc.name, s.Len(), s.Pairs[0], s.Pairs[s.Len()-1], tc.pairs, tc.first, tc.last)
		}
		// The supernet has one alpha per pair and edge.
		sn, err := NewSupernet(SupernetConfig{C: 4, Cells: 1, Steps: 1, Multiplier: 1, StemMultiplier: 1, Space: s})
		if err != nil {
			t.Fatal(err)
		}
		if got := sn.AlphaNormal.Shape; got[0] != 2 || got[1] != tc.pairs {
			t.Errorf("%s: alpha shape %v, want [2 %d]", tc.name, got, tc.pairs)
		}
	}
	lr := LRNASSpace()
	want := []string{"none:bp", "max_pool_3x3:bp", "avg_pool_3x3:bp", "skip_connect:usf", "skip_connect:frsf", "skip_connect:brsf",
		"sep_conv_3x3:usf", "sep_conv_3x3:brsf", "sep_conv_3x3:frsf", "sep_conv_3x3:fa"}
	for i, w := range want {
		if lr.Pairs[i].String() != w {
			t.Errorf("lrnas pair %d = %s, want %s (LR-NAS order)", i, lr.Pairs[i], w)
		}
	}
	if _, err := SpaceByName("nope"); err == nil {
		t.Errorf("SpaceByName(nope) gave no error")
	}
}

func TestParsePair(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Pair
		err  string
	}{
		{in: "sep_conv_3x3:fa", want: Pair{OpSep3, rule.FA}},
		{in: " SEP_CONV_5X5:BRSF ", want: Pair{OpSep5, rule.BRSF}},
		{in: "sep_conv_3x3", want: Pair{OpSep3, rule.BP}},
		{in: "sep_conv_3x3_u", want: Pair{OpSep3, rule.USF}},
		{in: "dil_conv_5x5_br", want: Pair{OpDil5, rule.BRSF}},
		{in: "dil_conv_3x3_fr", want: Pair{OpDil3, rule.FRSF}},
		{in: "sep_conv_5x5_fa", want: Pair{OpSep5, rule.FA}},
		{in: "skip_connect_f", want: Pair{OpSkip, rule.FRSF}},
		{in: "skip_connect_b", want: Pair{OpSkip, rule.BRSF}},
		{in: "hebbian_conv", want: Pair{OpConv3, rule.Hebb}},
		{in: "conv_3x3:pc", want: Pair{OpConv3, rule.PC}},
		{in: "max_pool_3x3:usf", want: Pair{OpMaxPool, rule.USF}},
		{in: "sep_conv_3x3:hebb", err: "needs a feedback rule"},
		{in: "skip_connect:pc", err: "needs a feedback rule"},
		{in: "conv_9x9:fa", err: "unknown operation"},
		{in: "sep_conv_3x3:xx", err: "unknown learning rule"},
		{in: "", err: "parse pair"},
	} {
		got, err := ParsePair(tc.in)
		switch {
		case tc.err != "" && (err == nil || !containsAll(err.Error(), tc.err)):
			t.Errorf("ParsePair(%q): error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParsePair(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if err == nil {
			if back, err := ParsePair(got.String()); err != nil || back != got {
				t.Errorf("ParsePair(%q.String()) = %v, %v", got, back, err)
			}
		}
	}
}

func TestNewSpace(t *testing.T) {
	s, err := NewSpace("mine", []Op{OpSep3, OpSkip}, []rule.Rule{rule.FA, rule.DFA})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sep_conv_3x3:fa", "sep_conv_3x3:dfa", "skip_connect:fa", "skip_connect:dfa"}
	for i, w := range want {
		if s.Names()[i] != w {
			t.Errorf("pair %d = %s, want %s (op-major order)", i, s.Names()[i], w)
		}
	}
	if len(s.Ops()) != 2 || len(s.Rules()) != 2 {
		t.Errorf("Ops %v, Rules %v", s.Ops(), s.Rules())
	}
	if s.Index(Pair{OpSkip, rule.DFA}) != 3 || s.Index(Pair{OpSkip, rule.BP}) != -1 {
		t.Errorf("Index is wrong")
	}
	for _, tc := range []struct {
		ops   []Op
		rules []rule.Rule
		err   string
	}{
		{nil, []rule.Rule{rule.FA}, "at least one"},
		{[]Op{OpSep3}, []rule.Rule{rule.FA, rule.Hebb}, "sep_conv_3x3:hebb"},
		{[]Op{OpSep3, OpSep3}, []rule.Rule{rule.FA}, "twice"},
		{[]Op{OpNone}, []rule.Rule{rule.FA}, "every pair is none"},
	} {
		if _, err := NewSpace("x", tc.ops, tc.rules); err == nil || !containsAll(err.Error(), tc.err, `"x"`) {
			t.Errorf("NewSpace(%v, %v): error %v, want one naming the space and saying %q", tc.ops, tc.rules, err, tc.err)
		}
	}
}

func TestRuleActs(t *testing.T) {
	// The rule of a pair matters only where the pair has parameters: the
	// discrete network builds none and the pools without convolutions,
	// skip as the identity at stride 1 and as a factorized reduction (two
	// 1×1 convolutions) at stride 2.
	for _, c := range []struct {
		op               Op
		stride1, stride2 bool
	}{
		{OpNone, false, false}, {OpMaxPool, false, false}, {OpAvgPool, false, false}, {OpSkip, false, true},
		{OpSep3, true, true}, {OpSep5, true, true}, {OpDil3, true, true}, {OpDil5, true, true}, {OpConv3, true, true},
	} {
		p := Pair{c.op, rule.FA}
		if got := p.RuleActs(1); got != c.stride1 {
			t.Errorf("%s at stride 1: %v", p, got)
		}
		if got := p.RuleActs(2); got != c.stride2 {
			t.Errorf("%s at stride 2: %v", p, got)
		}
	}
	skip := Edge{From: 1, To: 2, Op: OpSkip, Rule: rule.USF}
	if skip.RuleActs(false) || !skip.RuleActs(true) {
		t.Error("skip from input 1: the rule acts only in a reduction cell")
	}
	skip.From = 2
	if skip.RuleActs(true) {
		t.Error("skip from node 2 of a reduction cell is the identity")
	}
}
