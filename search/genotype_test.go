package search

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// testGenotype is DARTS_V2 with rules mixed in.
func testGenotype() Genotype {
	e := func(from, to int, pair string) Edge {
		p, err := ParsePair(pair)
		if err != nil {
			panic(err)
		}
		return Edge{From: from, To: to, Op: p.Op, Rule: p.Rule}
	}
	return Genotype{
		Normal: CellGenotype{Edges: []Edge{
			e(0, 2, "sep_conv_3x3:fa"), e(1, 2, "sep_conv_3x3:usf"), e(0, 3, "sep_conv_3x3:brsf"), e(1, 3, "sep_conv_3x3:frsf"),
			e(1, 4, "sep_conv_3x3:fa"), e(0, 4, "skip_connect:usf"), e(0, 5, "skip_connect:fa"), e(2, 5, "dil_conv_3x3:frsf"),
		}, Concat: []int{2, 3, 4, 5}},
		Reduce: CellGenotype{Edges: []Edge{
			e(0, 2, "max_pool_3x3:fa"), e(1, 2, "max_pool_3x3:usf"), e(2, 3, "skip_connect:brsf"), e(1, 3, "max_pool_3x3:fa"),
			e(0, 4, "max_pool_3x3:frsf"), e(2, 4, "skip_connect:fa"), e(2, 5, "skip_connect:usf"), e(1, 5, "dil_conv_5x5:brsf"),
		}, Concat: []int{2, 3, 4, 5}},
	}
}

// edgeRows builds NumEdges(steps) rows of weights over space, all equal to
// base except the entries set.
func edgeRows(steps int, space Space, base float32, set map[[2]int]float32) [][]float32 {
	rows := make([][]float32, NumEdges(steps))
	for i := range rows {
		rows[i] = make([]float32, space.Len())
		for k := range rows[i] {
			rows[i][k] = base
		}
	}
	for ek, v := range set {
		rows[ek[0]][ek[1]] = v
	}
	return rows
}

func TestDeriveHandSetAlphas(t *testing.T) {
	space := BioSpace()
	p := func(s string) int {
		pr, err := ParsePair(s)
		if err != nil {
			t.Fatal(err)
		}
		return space.Index(pr)
	}
	// Node 0 (edges 0, 1): edge 1 is stronger (0.5) than edge 0 (0.4): order
	// by strength puts state 1 first. Edge 0's none (0.9) is ignored.
	// Node 1 (edges 2–4): all three tie at 0.3 → the two lower inputs (0,
	// 1) in index order; within edge 2 two pairs tie → the lower index wins.
	// Node 2 (edges 5–8): edge 8 (state 3) has the largest weight, on a
	// brsf pair whose rule is kept; edge 6 second.
	// Node 3 (edges 9–13): only none is large on edge 9; edges 12 and 13.
	w := edgeRows(2+2, space, 0.01, map[[2]int]float32{
		{0, p("none:fa")}: 0.9, {0, p("sep_conv_3x3:usf")}: 0.4,
		{1, p("dil_conv_5x5:frsf")}: 0.5,
		{2, p("max_pool_3x3:usf")}:  0.3, {2, p("max_pool_3x3:fa")}: 0.3,
		{3, p("skip_connect:brsf")}: 0.3,
		{4, p("avg_pool_3x3:fa")}:   0.3,
		{8, p("sep_conv_5x5:brsf")}: 0.8, {6, p("dil_conv_3x3:fa")}: 0.6, {5, p("sep_conv_3x3:fa")}: 0.2,
		{9, p("none:usf")}: 0.99, {12, p("sep_conv_3x3:frsf")}: 0.7, {13, p("skip_connect:usf")}: 0.75,
	})
	// The per-pair reading (each copy of a pool or skip alone, rule label
	// kept); TestDeriveSumsSharedParamFreeCopies tests the default one.
	g, err := DeriveWith(w, w, space, 4, DeriveOptions{PerPairParamFree: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Edge{
		{1, 2, OpDil5, rule.FRSF}, {0, 2, OpSep3, rule.USF},
		{0, 3, OpMaxPool, rule.FA}, {1, 3, OpSkip, rule.BRSF},
		{3, 4, OpSep5, rule.BRSF}, {1, 4, OpDil3, rule.FA},
		{4, 5, OpSkip, rule.USF}, {3, 5, OpSep3, rule.FRSF},
	}
	for i, e := range want {
		if g.Normal.Edges[i] != e {
			t.Errorf("edge %d = %+v, want %+v", i, g.Normal.Edges[i], e)
		}
	}
	if !g.Normal.Equal(g.Reduce) {
		t.Errorf("same weights gave different cells")
	}
	if got := g.Normal.Concat; len(got) != 4 || got[0] != 2 || got[3] != 5 {
		t.Errorf("concat %v, want [2 3 4 5]", got)
	}
	if err := g.Validate(); err != nil {
		t.Errorf("derived genotype invalid: %v", err)
	}
	if _, err := TryDerive(w[:3], w, space, 4); err == nil || !strings.Contains(err.Error(), "normal cell") {
		t.Errorf("TryDerive with 3 rows: error %v, want one naming the normal cell", err)
	}
}

func TestGenotypeJSONRoundTrip(t *testing.T) {
	g := testGenotype()
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `{"from":0,"to":2,"op":"sep_conv_3x3","rule":"fa"}`) {
		t.Errorf("JSON edge form: %s", b)
	}
	var back Genotype
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(g) {
		t.Errorf("round trip changed the genotype:\n%v\n%v", g, back)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) {
		t.Errorf("JSON not stable:\n%s\n%s", b, b2)
	}
	viaParse, err := ParseGenotype(string(b))
	if err != nil || !viaParse.Equal(g) {
		t.Errorf("ParseGenotype(JSON) = %v, %v", viaParse, err)
	}
	for _, bad := range []string{
		`{"normal":{"edges":[],"concat":[2]},"reduce":{"edges":[],"concat":[2]}}`,
		`{"normal":{"edges":[{"from":0,"to":2,"op":"sep_conv_3x3","rule":"fa"},{"from":2,"to":2,"op":"sep_conv_3x3","rule":"fa"}],"concat":[2]},"reduce":{"edges":[],"concat":[2]}}`,
		`{"normal":{"edges":[{"from":0,"to":2,"op":"sep_conv_3x3","rule":"hebb"},{"from":1,"to":2,"op":"sep_conv_3x3","rule":"fa"}],"concat":[2]},"reduce":{"edges":[],"concat":[2]}}`,
		`{"normal":{}, "reduce":{}, "extra": 1}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) accepted an invalid genotype", bad)
		}
	}
}

func TestGenotypeTextRoundTrip(t *testing.T) {
	g := testGenotype()
	s := g.String()
	if !strings.HasPrefix(s, "Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3:usf', 1), ") ||
		!strings.Contains(s, "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3:fa', 0)") ||
		!strings.HasSuffix(s, "reduce_concat=[2, 3, 4, 5])") {
		t.Errorf("text form: %s", s)
	}
	back, err := ParseGenotype(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(g) {
		t.Errorf("text round trip changed the genotype:\n%v\n%v", g, back)
	}
}

func TestParseGenotypeReferenceForms(t *testing.T) {
	// DARTS_V2 as DARTS prints it (Python 3 range), bare names = bp.
	darts := `Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
		('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6),
		reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0),
		('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))`
	g, err := ParseGenotype(darts)
	if err != nil {
		t.Fatal(err)
	}
	if e := g.Normal.Edges[7]; e != (Edge{2, 5, OpDil3, rule.BP}) {
		t.Errorf("DARTS_V2 normal edge 7 = %+v", e)
	}
	// LR-NAS' BIODARTS, with its rule suffixes and double quotes.
	bio := `Genotype(normal=[("skip_connect_f", 0), ("skip_connect_f", 1), ("sep_conv_3x3_fr", 1), ("sep_conv_3x3_u", 2),
		("sep_conv_3x3_u", 0), ("skip_connect_f", 1), ("sep_conv_3x3_fr", 1), ("max_pool_3x3", 0)], normal_concat=[2, 3, 4, 5],
		reduce=[("max_pool_3x3", 0), ("skip_connect_u", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 0),
		("max_pool_3x3", 1), ("max_pool_3x3", 0), ("dil_conv_5x5_u", 3)], reduce_concat=[2, 3, 4, 5])`
	g, err = ParseGenotype(bio)
	if err != nil {
		t.Fatal(err)
	}
	if e := g.Reduce.Edges[7]; e != (Edge{3, 5, OpDil5, rule.USF}) {
		t.Errorf("BIODARTS reduce edge 7 = %+v", e)
	}
	for _, tc := range []struct{ in, err string }{
		{"Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], reduce_concat=[2])", "two edges per node"},
		{"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 3)], normal_concat=[2], reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "from state 3"},
		{"Genotype(normal=[('warp_drive', 0), ('sep_conv_3x3', 1)], normal_concat=[2])", "warp_drive"},
		{"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2])", "missing field reduce"},
		{"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2, 9], reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], reduce_concat=[2])", "concat"},
		{"Genotype(normal=[('sep_conv_3x3', 0) ('sep_conv_3x3', 1)])", "want ','"},
		{"{not json", "parse genotype"},
	} {
		if _, err := ParseGenotype(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseGenotype(%.40q…): error %v, want %q", tc.in, err, tc.err)
		}
	}
}
