package search

import (
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestDeriveSumsSharedParamFreeCopies: in the bio space a pool (and skip
// at stride 1) appears once per rule label but is one computation whose
// weight in the supernet is the sum of its copies' weights. The default
// reading ranks edges and ops by that sum, and labels the op bp (it has
// no rule: pooling and the identity are exact); DeriveOptions
// PerPairParamFree reads each copy alone, as the reference codes do.
// Here the two readings pick different ops and different edges, and a
// skip from a reduction cell's input (stride 2, a factorized reduction
// with its own rule per copy) is not summed.
func TestDeriveSumsSharedParamFreeCopies(t *testing.T) {
	space := BioSpace()
	idx := func(op Op, r rule.Rule) int { return space.Index(Pair{op, r}) }
	set := map[[2]int]float32{}
	all := func(edge int, op Op, v float32) {
		for _, r := range BioRules() {
			set[[2]int{edge, idx(op, r)}] = v
		}
	}
	// Node 0 (edges 0, 1 from states 0, 1).
	set[[2]int{0, idx(OpSep3, rule.FA)}] = 0.30
	all(0, OpMaxPool, 0.12) // 4 × 0.12 = 0.48 > 0.30
	set[[2]int{1, idx(OpDil3, rule.USF)}] = 0.35
	// Node 1 (edges 2, 3, 4 from states 0, 1, 2).
	set[[2]int{2, idx(OpSep5, rule.BRSF)}] = 0.40
	all(3, OpSkip, 0.15) // 0.60 summed at stride 1; 0.15 per copy
	all(4, OpAvgPool, 0.11)
	set[[2]int{4, idx(OpSep3, rule.FRSF)}] = 0.20
	w := edgeRows(2, space, 0.01, set)

	e := func(from, to int, op Op, r rule.Rule) Edge { return Edge{From: from, To: to, Op: op, Rule: r} }
	summedNormal := []Edge{
		e(0, 2, OpMaxPool, rule.BP), e(1, 2, OpDil3, rule.USF),
		e(1, 3, OpSkip, rule.BP), e(2, 3, OpAvgPool, rule.BP),
	}
	summedReduce := []Edge{
		e(0, 2, OpMaxPool, rule.BP), e(1, 2, OpDil3, rule.USF),
		e(2, 3, OpAvgPool, rule.BP), e(0, 3, OpSep5, rule.BRSF),
	}
	perPair := []Edge{
		e(1, 2, OpDil3, rule.USF), e(0, 2, OpSep3, rule.FA),
		e(0, 3, OpSep5, rule.BRSF), e(2, 3, OpSep3, rule.FRSF),
	}
	check := func(what string, got CellGenotype, want []Edge) {
		t.Helper()
		if len(got.Edges) != len(want) {
			t.Fatalf("%s: %d edges, want %d", what, len(got.Edges), len(want))
		}
		for i := range want {
			if got.Edges[i] != want[i] {
				t.Errorf("%s: edge %d = %+v, want %+v", what, i, got.Edges[i], want[i])
			}
		}
	}
	def := Derive(w, w, space, 2)
	check("default, normal", def.Normal, summedNormal)
	check("default, reduce", def.Reduce, summedReduce)
	if err := def.Validate(); err != nil {
		t.Errorf("the summed genotype is invalid: %v", err)
	}
	if back, err := ParseGenotype(def.String()); err != nil || !back.Equal(def) {
		t.Errorf("the summed genotype does not read back from its text form: %v, %v", back, err)
	}
	pp, err := DeriveWith(w, w, space, 2, DeriveOptions{PerPairParamFree: true})
	if err != nil {
		t.Fatal(err)
	}
	check("per pair, normal", pp.Normal, perPair)
	check("per pair, reduce", pp.Reduce, perPair)
	sum, err := DeriveWith(w, w, space, 2, DeriveOptions{})
	if err != nil || !sum.Equal(def) {
		t.Errorf("DeriveWith with zero options = %v, %v; want Derive's %v", sum, err, def)
	}
}

// TestSupernetGenotypeReading: a supernet derives with the summed reading
// unless SupernetConfig.PerPairParamFree. At initialisation (α ≈ 0) the
// summed reading sees every pool at four times a convolution's weight.
func TestSupernetGenotypeReading(t *testing.T) {
	for _, perPair := range []bool{false, true} {
		net, err := NewSupernet(SupernetConfig{C: 4, Cells: 3, Steps: 2, Multiplier: 2, StemMultiplier: 1, Classes: 3, InChannels: 1,
			Space: BioSpace(), PerPairParamFree: perPair, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		n, r := net.EdgeWeights()
		want, err := DeriveWith(n, r, net.Space, 2, DeriveOptions{PerPairParamFree: perPair})
		if err != nil {
			t.Fatal(err)
		}
		other, _ := DeriveWith(n, r, net.Space, 2, DeriveOptions{PerPairParamFree: !perPair})
		got := net.Genotype()
		if !got.Equal(want) || got.Equal(other) {
			t.Errorf("per pair %v: supernet genotype %v, want %v (the other reading: %v)", perPair, got, want, other)
		}
		if !perPair {
			for _, e := range got.Normal.Edges {
				if e.Op.ParameterFree() && e.Rule != rule.BP {
					t.Errorf("summed reading labels %s %s, want bp", e.Op, e.Rule)
				}
			}
		}
	}
}
