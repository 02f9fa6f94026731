package search

import (
	"strings"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
)

// TestGenotypeBounds: a short text must not describe a huge cell.
func TestGenotypeBounds(t *testing.T) {
	edges := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("('skip_connect', 0)")
		}
		return b.String()
	}
	cases := []struct {
		name, text, want string
	}{
		{"range of 10^9 states", "normal=[" + edges(2) + "], normal_concat=range(0, 1000000000), reduce=[" + edges(2) + "], reduce_concat=[2]",
			"range(0, 1000000000): want states 0 ≤ a ≤ b ≤ 66"},
		{"range from far below zero", "normal=[" + edges(2) + "], normal_concat=range(-9000000000000000000, 9000000000000000000), reduce=[" + edges(2) + "], reduce_concat=[2]",
			"want states 0 ≤ a ≤ b"},
		{"130 nodes", "normal=[" + edges(260) + "], normal_concat=[2], reduce=[" + edges(2) + "], reduce_concat=[2]",
			"130 nodes, want at most 64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			allocguard.Check(t, "ParseGenotype", 1<<20+64*uint64(len(tc.text)), func() { _, err = ParseGenotype(tc.text) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzGenotype parses JSON and text genotypes: whatever parses is valid,
// prints, and parses back to itself, in both forms.
func FuzzGenotype(f *testing.F) {
	g := Genotype{
		Normal: CellGenotype{Edges: []Edge{{0, 2, OpSep3, "fa"}, {1, 2, OpSkip, "bp"}, {0, 3, OpMaxPool, "bp"}, {2, 3, OpDil5, "usf"}}, Concat: []int{2, 3}},
		Reduce: CellGenotype{Edges: []Edge{{0, 2, OpAvgPool, "bp"}, {1, 2, OpConv3, "hebb"}}, Concat: []int{2}},
	}
	if err := g.Validate(); err != nil {
		f.Fatal(err)
	}
	j, _ := g.MarshalJSON()
	f.Add(string(j))
	f.Add(g.String())
	f.Add("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 3), reduce=[('max_pool_3x3', 0), ('skip_connect', 1)], reduce_concat=[2])")
	f.Add(`{"normal":{"edges":[],"concat":[]},"reduce":{"edges":[],"concat":[]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var got Genotype
		var err error
		allocguard.Check(t, "ParseGenotype", 1<<20+64*uint64(len(s)), func() { got, err = ParseGenotype(s) })
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("parsed an invalid genotype from %q: %v", s, err)
		}
		for _, form := range []func() string{got.String, func() string { b, _ := got.MarshalJSON(); return string(b) }} {
			back, err := ParseGenotype(form())
			if err != nil || !back.Equal(got) {
				t.Fatalf("%q → %q does not parse back: %v", s, form(), err)
			}
		}
	})
}
