package search

import (
	"strings"
	"testing"
)

func TestGenotypeDARTSText(t *testing.T) {
	dartsV2 := `Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))`
	mixed := testGenotype()
	mixed.Normal.Edges[1].Rule = "bp"
	mixed.Reduce.Concat = []int{2, 4, 5}
	for _, tc := range []struct {
		name string
		g    Genotype
		want string
	}{
		// Python 3 DARTS prints DARTS_V2 exactly so: all bp, bare names.
		{"DARTS_V2", mustParse(t, dartsV2), dartsV2},
		{"rules", mixed, `Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3:brsf', 0), ('sep_conv_3x3:frsf', 1), ('sep_conv_3x3:fa', 1), ('skip_connect:usf', 0), ('skip_connect:fa', 0), ('dil_conv_3x3:frsf', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3:fa', 0), ('max_pool_3x3:usf', 1), ('skip_connect:brsf', 2), ('max_pool_3x3:fa', 1), ('max_pool_3x3:frsf', 0), ('skip_connect:fa', 2), ('skip_connect:usf', 2), ('dil_conv_5x5:brsf', 1)], reduce_concat=[2, 4, 5])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.g.DARTSText()
			if got != tc.want {
				t.Fatalf("DARTSText:\n got %s\nwant %s", got, tc.want)
			}
			back, err := ParseGenotype(got)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Equal(tc.g) {
				t.Errorf("round trip changed the genotype:\n%v\n%v", tc.g, back)
			}
		})
	}
}

func mustParse(t *testing.T, s string) Genotype {
	t.Helper()
	g, err := ParseGenotype(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGenotypeDot(t *testing.T) {
	g := testGenotype()
	d := g.Dot()
	for _, want := range []string{
		"digraph genotype {\n",
		"\tsubgraph \"cluster_normal\" {\n",
		"\t\t\"normal_c_{k-2}\" [label=\"c_{k-2}\", fillcolor=darkseagreen2];\n",
		"\t\t\"normal_3\" [label=\"3\", fillcolor=lightblue];\n",
		"\t\t\"normal_c_{k}\" [label=\"c_{k}\", fillcolor=palegoldenrod];\n",
		// normal edge 1: state 1 (c_{k-1}) feeds node 0 through sep_conv_3x3:usf.
		"\t\t\"normal_c_{k-1}\" -> \"normal_0\" [label=\"sep_conv_3x3:usf\"];\n",
		// reduce edge 7: node 3 reads c_{k-1}.
		"\t\t\"reduce_c_{k-1}\" -> \"reduce_3\" [label=\"dil_conv_5x5:brsf\"];\n",
		"\t\t\"reduce_3\" -> \"reduce_c_{k}\" [color=gray];\n",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("dot lacks %q:\n%s", want, d)
		}
	}
	if n := strings.Count(d, " -> "); n != 8+4+8+4 {
		t.Errorf("%d edges, want 24 (8 per cell + 4 concat edges each)", n)
	}
	if !strings.HasSuffix(d, "\t}\n}\n") {
		t.Errorf("dot does not close its graph:\n%s", d)
	}
}
