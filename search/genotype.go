package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/bionaslab/bionas/nn/rule"
)

// Edge is one chosen connection of a cell: state To (2.. = intermediate
// nodes) receives pair (Op, Rule) applied to state From (0 and 1 are the
// cell's inputs, 2.. earlier nodes). JSON: {"from", "to", "op", "rule"}.
type Edge struct {
	From int       `json:"from"`
	To   int       `json:"to"`
	Op   Op        `json:"op"`
	Rule rule.Rule `json:"rule"`
}

// Pair returns the edge's (op, rule) pair.
func (e Edge) Pair() Pair { return Pair{e.Op, e.Rule} }

// CellGenotype is one cell type: its edges, two per node in node order
// (within a node, strongest first when derived), and the states whose
// channel concatenation is the cell output.
type CellGenotype struct {
	Edges  []Edge `json:"edges"`
	Concat []int  `json:"concat"`
}

// Steps is the number of intermediate nodes (two edges each).
func (c CellGenotype) Steps() int { return len(c.Edges) / 2 }

// Validate checks DARTS' shape: edges 2i and 2i+1 go to state i+2 from an
// earlier state, pairs are valid, and concat lists distinct states that
// exist.
func (c CellGenotype) Validate() error {
	if len(c.Edges) == 0 || len(c.Edges)%2 != 0 {
		return fmt.Errorf("want two edges per node, got %d edges", len(c.Edges))
	}
	if c.Steps() > MaxCellSteps {
		return fmt.Errorf("%d nodes, want at most %d", c.Steps(), MaxCellSteps)
	}
	for i, e := range c.Edges {
		to := 2 + i/2
		if e.To != to {
			return fmt.Errorf("edge %d goes to state %d, want %d (edges 2i, 2i+1 feed node i = state i+2)", i, e.To, to)
		}
		if e.From < 0 || e.From >= e.To {
			return fmt.Errorf("edge %d: from state %d, want 0..%d", i, e.From, e.To-1)
		}
		if err := e.Pair().Validate(); err != nil {
			return fmt.Errorf("edge %d: %w", i, err)
		}
	}
	if len(c.Concat) == 0 {
		return fmt.Errorf("empty concat")
	}
	n := 2 + c.Steps()
	seen := map[int]bool{}
	for _, s := range c.Concat {
		if s < 0 || s >= n || seen[s] {
			return fmt.Errorf("concat %v: want distinct states in 0..%d", c.Concat, n-1)
		}
		seen[s] = true
	}
	return nil
}

// MaxCellSteps bounds the nodes of a cell read from outside (DARTS uses
// 4): a genotype file of a few kilobytes must not describe a network that
// exhausts memory when built.
const MaxCellSteps = 64

// Genotype is a discrete architecture: a normal and a reduction cell.
type Genotype struct {
	Normal CellGenotype `json:"normal"`
	Reduce CellGenotype `json:"reduce"`
}

// Validate checks both cells.
func (g Genotype) Validate() error {
	if err := g.Normal.Validate(); err != nil {
		return fmt.Errorf("genotype: normal cell: %w", err)
	}
	if err := g.Reduce.Validate(); err != nil {
		return fmt.Errorf("genotype: reduce cell: %w", err)
	}
	return nil
}

// Equal reports whether two cells have the same edges and concat.
func (c CellGenotype) Equal(d CellGenotype) bool {
	return slices.Equal(c.Edges, d.Edges) && slices.Equal(c.Concat, d.Concat)
}

// Equal reports whether two genotypes are the same.
func (g Genotype) Equal(h Genotype) bool { return g.Normal.Equal(h.Normal) && g.Reduce.Equal(h.Reduce) }

// genotypeJSON has Genotype's fields without its methods (no recursion).
type genotypeJSON struct {
	Normal CellGenotype `json:"normal"`
	Reduce CellGenotype `json:"reduce"`
}

// Clone returns a deep copy (nil for nil).
func (g *Genotype) Clone() *Genotype {
	if g == nil {
		return nil
	}
	c := *g
	for _, cell := range []*CellGenotype{&c.Normal, &c.Reduce} {
		cell.Edges = slices.Clone(cell.Edges)
		cell.Concat = slices.Clone(cell.Concat)
	}
	return &c
}

// Rules returns the distinct rules the genotype uses, in order of first use.
func (g Genotype) Rules() []rule.Rule {
	var out []rule.Rule
	for _, c := range []CellGenotype{g.Normal, g.Reduce} {
		for _, e := range c.Edges {
			if !slices.Contains(out, e.Rule) {
				out = append(out, e.Rule)
			}
		}
	}
	return out
}

// MarshalJSON writes {"normal": {...}, "reduce": {...}}.
func (g Genotype) MarshalJSON() ([]byte, error) { return json.Marshal(genotypeJSON(g)) }

// UnmarshalJSON reads what MarshalJSON writes, rejecting unknown fields and
// invalid genotypes.
func (g *Genotype) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v genotypeJSON
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("genotype JSON: %w", err)
	}
	if err := Genotype(v).Validate(); err != nil {
		return err
	}
	*g = Genotype(v)
	return nil
}

// String is DARTS' text form, the pairs written "op:rule":
//
//	Genotype(normal=[('sep_conv_3x3:fa', 1), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])
func (g Genotype) String() string {
	var b strings.Builder
	cell := func(name string, c CellGenotype) {
		b.WriteString(name + "=[")
		for i, e := range c.Edges {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "('%s', %d)", e.Pair(), e.From)
		}
		b.WriteString("], " + name + "_concat=[")
		for i, s := range c.Concat {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(s))
		}
		b.WriteString("]")
	}
	b.WriteString("Genotype(")
	cell("normal", g.Normal)
	b.WriteString(", ")
	cell("reduce", g.Reduce)
	b.WriteString(")")
	return b.String()
}

// ParseGenotype reads a genotype from JSON (starting with "{") or from the
// DARTS text form. The text form accepts "op:rule", bare DARTS names (rule
// bp) and LR-NAS names for the pairs, quotes ' or ", concat as a list or
// range(a, b), and an optional "Genotype(...)" wrapper. The result is
// validated.
func ParseGenotype(s string) (Genotype, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var g Genotype
		if err := json.Unmarshal([]byte(s), &g); err != nil {
			return Genotype{}, fmt.Errorf("parse genotype: %w", err)
		}
		return g, nil
	}
	g, err := parseGenotypeText(s)
	if err != nil {
		return Genotype{}, fmt.Errorf("parse genotype: %w", err)
	}
	if err := g.Validate(); err != nil {
		return Genotype{}, fmt.Errorf("parse genotype: %w", err)
	}
	return g, nil
}

// parseGenotypeText parses name=value fields of the DARTS text form.
func parseGenotypeText(s string) (Genotype, error) {
	if rest, ok := strings.CutPrefix(s, "Genotype"); ok {
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
			return Genotype{}, fmt.Errorf("want Genotype(...)")
		}
		s = rest[1 : len(rest)-1]
	}
	p := &textParser{s: s}
	var g Genotype
	got := map[string]bool{}
	for {
		p.space()
		if p.done() {
			break
		}
		name := p.ident()
		if name == "" {
			return Genotype{}, p.errorf("want a field name")
		}
		if got[name] {
			return Genotype{}, p.errorf("field %s given twice", name)
		}
		got[name] = true
		if err := p.expect('='); err != nil {
			return Genotype{}, err
		}
		var err error
		switch name {
		case "normal":
			g.Normal.Edges, err = p.edges()
		case "reduce":
			g.Reduce.Edges, err = p.edges()
		case "normal_concat":
			g.Normal.Concat, err = p.concat()
		case "reduce_concat":
			g.Reduce.Concat, err = p.concat()
		default:
			return Genotype{}, p.errorf("unknown field %q (want normal, normal_concat, reduce, reduce_concat)", name)
		}
		if err != nil {
			return Genotype{}, err
		}
		p.space()
		if !p.done() {
			if err := p.expect(','); err != nil {
				return Genotype{}, err
			}
		}
	}
	for _, f := range []string{"normal", "normal_concat", "reduce", "reduce_concat"} {
		if !got[f] {
			return Genotype{}, fmt.Errorf("missing field %s", f)
		}
	}
	return g, nil
}

// textParser is a cursor over the DARTS text form.
type textParser struct {
	s   string
	pos int
}

func (p *textParser) done() bool { return p.pos >= len(p.s) }

func (p *textParser) errorf(format string, a ...any) error {
	return fmt.Errorf("at offset %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *textParser) space() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *textParser) peek() byte {
	p.space()
	if p.done() {
		return 0
	}
	return p.s[p.pos]
}

func (p *textParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("want %q", c)
	}
	p.pos++
	return nil
}

func (p *textParser) ident() string {
	p.space()
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == '_' || unicode.IsLetter(rune(p.s[p.pos])) || unicode.IsDigit(rune(p.s[p.pos]))) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *textParser) int() (int, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.s) && (unicode.IsDigit(rune(p.s[p.pos])) || (p.pos == start && p.s[p.pos] == '-')) {
		p.pos++
	}
	v, err := strconv.Atoi(p.s[start:p.pos])
	if err != nil {
		return 0, p.errorf("want an integer")
	}
	return v, nil
}

func (p *textParser) quoted() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a quoted operation name")
	}
	p.pos++
	end := strings.IndexByte(p.s[p.pos:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	v := p.s[p.pos : p.pos+end]
	p.pos += end + 1
	return v, nil
}

// edges parses [('op:rule', from), ...]; edge i goes to state 2 + i/2.
func (p *textParser) edges() ([]Edge, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var es []Edge
	for p.peek() != ']' {
		if len(es) > 0 {
			if err := p.expect(','); err != nil {
				return nil, err
			}
			if p.peek() == ']' { // trailing comma
				break
			}
		}
		if err := p.expect('('); err != nil {
			return nil, err
		}
		name, err := p.quoted()
		if err != nil {
			return nil, err
		}
		pair, err := ParsePair(name)
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		from, err := p.int()
		if err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		es = append(es, Edge{From: from, To: 2 + len(es)/2, Op: pair.Op, Rule: pair.Rule})
	}
	p.pos++
	return es, nil
}

// concat parses [2, 3, 4, 5] or range(a, b).
func (p *textParser) concat() ([]int, error) {
	if p.peek() == 'r' {
		if p.ident() != "range" {
			return nil, p.errorf("want range(a, b) or a list")
		}
		if err := p.expect('('); err != nil {
			return nil, err
		}
		a, err := p.int()
		if err != nil {
			return nil, err
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		b, err := p.int()
		if err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		// A cell has at most MaxCellSteps+2 states: a wider range is
		// refused before it becomes a slice.
		if a < 0 || b < a || b > MaxCellSteps+2 {
			return nil, p.errorf("range(%d, %d): want states 0 ≤ a ≤ b ≤ %d", a, b, MaxCellSteps+2)
		}
		var out []int
		for v := a; v < b; v++ {
			out = append(out, v)
		}
		return out, nil
	}
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var out []int
	for p.peek() != ']' {
		if len(out) > 0 {
			if err := p.expect(','); err != nil {
				return nil, err
			}
			if p.peek() == ']' {
				break
			}
		}
		v, err := p.int()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	p.pos++
	return out, nil
}

// Derive returns the DARTS genotype (REFERENCE.md §2.4) of mixing weights
// given per edge (rows, NumEdges(steps) of them) and pair (columns, in the
// order of space): normally softmax(α) as Supernet.AlphaSoftmax returns it,
// times the node softmax of β for PC-DARTS (Supernet.EdgeWeights). For each
// node, an edge's strength is its largest weight over pairs that are not
// none; the two strongest edges are kept (ties keep the lower input), in
// order of strength, each with its strongest pair that is not none (ties
// keep the lower index), rule included. The copies of a shared
// parameter-free op count as one op weighing their sum, labelled bp (see
// DeriveWith, which also offers the per-pair reading). Every node is
// concatenated. It panics if the shapes disagree; TryDerive returns an
// error instead.
func Derive(alphaNormal, alphaReduce [][]float32, space Space, steps int) Genotype {
	g, err := TryDerive(alphaNormal, alphaReduce, space, steps)
	if err != nil {
		panic(fmt.Sprintf("search.Derive: %v", err))
	}
	return g
}

// DeriveOptions choose how a genotype is read from mixing weights.
type DeriveOptions struct {
	// PerPairParamFree reads every pair alone, also the copies of a shared
	// parameter-free op (a pool under each rule label, skip at stride 1),
	// as the reference codes do (DARTS, LR-NAS): in the bio space one copy
	// then stands for about a quarter of the op's real weight. By default
	// the copies' weights are summed (see DeriveWith).
	PerPairParamFree bool `json:"per_pair_param_free,omitempty"`
}

// DeriveWith is TryDerive with options. By default (zero options) the
// pairs that a mixed op computes once — the copies of max_pool_3x3 and
// avg_pool_3x3 under every rule, and of skip_connect on stride-1 edges
// (every edge of a normal cell, the edges from nodes of a reduction cell)
// — count as one op whose weight is the sum of theirs, the weight the
// supernet really gives it. Edges are ranked and ops chosen with those
// sums. Such an op, when chosen, is labelled bp: it has no learning rule
// (pooling and the identity are exact), and bp is the label the genotype
// format and the DARTS text form give a plain op ('max_pool_3x3' reads as
// max_pool_3x3:bp). On stride-2 edges skip_connect is a factorized
// reduction whose convolutions carry the pair's rule: its copies stay
// apart and keep their rule. none is never chosen, as in Derive.
func DeriveWith(alphaNormal, alphaReduce [][]float32, space Space, steps int, opt DeriveOptions) (Genotype, error) {
	return deriveGenotype(alphaNormal, alphaReduce, space, steps, steps, opt)
}

// TryDerive is Derive returning an error for malformed input.
func TryDerive(alphaNormal, alphaReduce [][]float32, space Space, steps int) (Genotype, error) {
	return deriveGenotype(alphaNormal, alphaReduce, space, steps, steps, DeriveOptions{})
}

// deriveGenotype is DeriveWith concatenating the last `mul` nodes.
func deriveGenotype(wn, wr [][]float32, space Space, steps, mul int, opt DeriveOptions) (Genotype, error) {
	if err := space.Validate(); err != nil {
		return Genotype{}, fmt.Errorf("derive genotype: %w", err)
	}
	if steps < 1 || mul < 1 || mul > steps {
		return Genotype{}, fmt.Errorf("derive genotype: want 1 ≤ concat nodes (%d) ≤ steps (%d)", mul, steps)
	}
	n, err := deriveCell(wn, space, steps, mul, false, opt)
	if err != nil {
		return Genotype{}, fmt.Errorf("derive genotype: normal cell: %w", err)
	}
	r, err := deriveCell(wr, space, steps, mul, true, opt)
	if err != nil {
		return Genotype{}, fmt.Errorf("derive genotype: reduce cell: %w", err)
	}
	return Genotype{Normal: n, Reduce: r}, nil
}

// deriveCell derives one cell; in a reduction cell (reduce) the edges
// from states 0 and 1 have stride 2.
func deriveCell(w [][]float32, space Space, steps, mul int, reduce bool, opt DeriveOptions) (CellGenotype, error) {
	if len(w) != NumEdges(steps) {
		return CellGenotype{}, fmt.Errorf("%d edges of weights, want %d for %d nodes", len(w), NumEdges(steps), steps)
	}
	var c CellGenotype
	off := 0
	for i := range steps {
		n := i + 2
		best := make([]int, n)
		shared := make([]bool, n) // best[j] stands for all copies of its op
		strength := make([]float64, n)
		for j := range n {
			row := w[off+j]
			if len(row) != space.Len() {
				return CellGenotype{}, fmt.Errorf("edge %d has %d weights, want %d (one per pair)", off+j, len(row), space.Len())
			}
			stride := 1
			if reduce && j < 2 {
				stride = 2
			}
			best[j], strength[j] = -1, math.Inf(-1)
			summed := map[Op]bool{}
			for k, v := range row {
				op := space.Pairs[k].Op
				if op == OpNone {
					continue
				}
				fv, sh := float64(v), !opt.PerPairParamFree && sharedParamFree(op, stride)
				if sh {
					if summed[op] {
						continue // counted with its first copy
					}
					summed[op] = true
					fv = 0
					for k2, v2 := range row {
						if space.Pairs[k2].Op == op {
							fv += float64(v2)
						}
					}
				}
				if math.IsNaN(fv) {
					fv = math.Inf(-1) // a diverged weight never wins
				}
				if best[j] < 0 || fv > strength[j] {
					best[j], shared[j], strength[j] = k, sh, fv
				}
			}
		}
		order := make([]int, n)
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return strength[order[a]] > strength[order[b]] })
		for _, j := range order[:2] {
			p := space.Pairs[best[j]]
			if shared[j] {
				p.Rule = rule.BP // no rule of its own: see DeriveWith
			}
			c.Edges = append(c.Edges, Edge{From: j, To: i + 2, Op: p.Op, Rule: p.Rule})
		}
		off += n
	}
	for s := 2 + steps - mul; s < 2+steps; s++ {
		c.Concat = append(c.Concat, s)
	}
	return c, nil
}
