package search

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bionaslab/bionas/nn/rule"
)

// DARTSText is the genotype in the DARTS repository's own text form, as
// its train_search.py logs it and genotypes.py holds it:
//
//	Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))
//
// An edge trained with back-propagation (rule bp, the only rule DARTS
// knows) is written with its bare operation name, so that a bp-only
// genotype pastes into DARTS as it is; every other edge carries its rule
// as "op:rule". A concat of consecutive states is written range(a, b), as
// Python 3 prints it, any other as a list. ParseGenotype reads it back to
// the same genotype. String is the form with every rule spelled out.
func (g Genotype) DARTSText() string {
	var b strings.Builder
	cell := func(name string, c CellGenotype) {
		b.WriteString(name + "=[")
		for i, e := range c.Edges {
			if i > 0 {
				b.WriteString(", ")
			}
			op := e.Pair().String()
			if e.Rule == rule.BP {
				op = string(e.Op)
			}
			fmt.Fprintf(&b, "('%s', %d)", op, e.From)
		}
		b.WriteString("], " + name + "_concat=" + concatText(c.Concat))
	}
	b.WriteString("Genotype(")
	cell("normal", g.Normal)
	b.WriteString(", ")
	cell("reduce", g.Reduce)
	b.WriteString(")")
	return b.String()
}

// concatText is range(a, b) for consecutive ascending states, else the
// list [s, t, ...].
func concatText(states []int) string {
	run := len(states) > 0
	for i := 1; i < len(states) && run; i++ {
		run = states[i] == states[i-1]+1
	}
	if run {
		return fmt.Sprintf("range(%d, %d)", states[0], states[len(states)-1]+1)
	}
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = strconv.Itoa(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Dot is the genotype as a Graphviz digraph, one cluster per cell in the
// layout of DARTS' visualize.py: the cell inputs c_{k-2} and c_{k-1}
// (states 0 and 1), the intermediate nodes 0…n-1 (states 2…n+1) and the
// output c_{k}; each edge is labelled with its pair "op:rule", and the
// concatenated states feed c_{k} through unlabelled grey edges. Render it
// with `dot -Tsvg genotype.dot -o genotype.svg`.
func (g Genotype) Dot() string {
	var b strings.Builder
	b.WriteString("digraph genotype {\n")
	b.WriteString("\trankdir=LR;\n")
	b.WriteString("\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	dotCell(&b, "normal", "normal cell", g.Normal)
	dotCell(&b, "reduce", "reduction cell", g.Reduce)
	b.WriteString("}\n")
	return b.String()
}

// dotCell writes one cell's cluster; prefix keeps the two cells' node IDs
// apart.
func dotCell(b *strings.Builder, prefix, title string, c CellGenotype) {
	id := func(state int) string { return dotQuote(prefix + "_" + dotStateName(state)) }
	fmt.Fprintf(b, "\tsubgraph %s {\n", dotQuote("cluster_"+prefix))
	fmt.Fprintf(b, "\t\tlabel=%s;\n", dotQuote(title))
	fmt.Fprintf(b, "\t\t%s [label=%s, fillcolor=darkseagreen2];\n", id(0), dotQuote(dotStateName(0)))
	fmt.Fprintf(b, "\t\t%s [label=%s, fillcolor=darkseagreen2];\n", id(1), dotQuote(dotStateName(1)))
	steps := c.Steps()
	for s := 2; s < 2+steps; s++ {
		fmt.Fprintf(b, "\t\t%s [label=%s, fillcolor=lightblue];\n", id(s), dotQuote(dotStateName(s)))
	}
	out := dotQuote(prefix + "_c_{k}")
	fmt.Fprintf(b, "\t\t%s [label=%s, fillcolor=palegoldenrod];\n", out, dotQuote("c_{k}"))
	for _, e := range c.Edges {
		fmt.Fprintf(b, "\t\t%s -> %s [label=%s];\n", id(e.From), id(e.To), dotQuote(e.Pair().String()))
	}
	for _, s := range c.Concat {
		fmt.Fprintf(b, "\t\t%s -> %s [color=gray];\n", id(s), out)
	}
	b.WriteString("\t}\n")
}

// dotStateName is a state's node name: c_{k-2} and c_{k-1} for the cell
// inputs, 0… for the intermediate nodes (DARTS' numbering).
func dotStateName(state int) string {
	switch state {
	case 0:
		return "c_{k-2}"
	case 1:
		return "c_{k-1}"
	}
	return strconv.Itoa(state - 2)
}

// dotQuote is s as a DOT quoted string (only the quote and the backslash
// need escaping there).
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
