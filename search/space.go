package search

import (
	"fmt"
	"strings"

	"github.com/bionaslab/bionas/nn/rule"
)

// Op names a DARTS primitive (REFERENCE.md §2.1) or one of the extra
// convolutions of the HL-PC space.
type Op string

// The operations. The first eight are DARTS' PRIMITIVES in their order.
const (
	OpNone    Op = "none"
	OpMaxPool Op = "max_pool_3x3"
	OpAvgPool Op = "avg_pool_3x3"
	OpSkip    Op = "skip_connect"
	OpSep3    Op = "sep_conv_3x3"
	OpSep5    Op = "sep_conv_5x5"
	OpDil3    Op = "dil_conv_3x3"
	OpDil5    Op = "dil_conv_5x5"
	// OpConv3 is ReLU → conv 3×3 → BN; with the hebb and pc rules the
	// convolution is a Hebbian or predictive-coding one.
	OpConv3 Op = "conv_3x3"
)

// DARTSOps returns DARTS' eight primitives in their canonical order (a
// fresh slice each call: there is no shared mutable list).
func DARTSOps() []Op {
	return []Op{OpNone, OpMaxPool, OpAvgPool, OpSkip, OpSep3, OpSep5, OpDil3, OpDil5}
}

// AllOps returns every operation this package can build.
func AllOps() []Op { return append(DARTSOps(), OpConv3) }

// ParseOp reads an operation name (any case, spaces trimmed).
func ParseOp(s string) (Op, error) {
	o := Op(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range AllOps() {
		if o == k {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown operation %q: want one of %s", s, opNames(AllOps()))
}

// Valid reports whether o is a known operation.
func (o Op) Valid() bool {
	for _, k := range AllOps() {
		if o == k {
			return true
		}
	}
	return false
}

// ParameterFree reports whether o has no convolution of its own at
// stride 1 (none, the pools and skip): such pairs compute the same function
// whatever their rule, so a mixed op computes them once.
func (o Op) ParameterFree() bool {
	return o == OpNone || o == OpMaxPool || o == OpAvgPool || o == OpSkip
}

// RuleActs reports whether the pair's rule changes what it computes at
// this stride: not for none and the pools (no parameters, the rule is
// only a label) nor for skip at stride 1 (the identity); yes for skip at
// stride 2 (a factorized reduction, two 1×1 convolutions) and for every
// convolution.
func (p Pair) RuleActs(stride int) bool {
	if p.Op == OpSkip {
		return stride > 1
	}
	return !p.Op.ParameterFree()
}

// RuleActs reports whether the edge's rule changes what a network of the
// genotype computes in a normal (reduce false) or a reduction cell, whose
// edges from the cell's inputs (0 and 1) have stride 2 (see Pair.RuleActs).
func (e Edge) RuleActs(reduce bool) bool {
	stride := 1
	if reduce && e.From < 2 {
		stride = 2
	}
	return e.Pair().RuleActs(stride)
}

// String returns the canonical name.
func (o Op) String() string { return string(o) }

func opNames(ops []Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// Pair is one choice of an edge: an operation and the learning rule of its
// convolutions. For none and the pools the rule is only a label; for skip
// it matters only at stride 2 (see the package doc).
type Pair struct {
	Op   Op        `json:"op"`
	Rule rule.Rule `json:"rule"`
}

// String is "op:rule", e.g. "sep_conv_3x3:fa".
func (p Pair) String() string { return string(p.Op) + ":" + string(p.Rule) }

// Validate checks that the operation is known and can carry the rule:
// sep/dil convolutions and skip need a feedback rule (bp, fa, dfa, usf,
// brsf, frsf); hebb and pc are convolutions of their own and pair only
// with conv_3x3 (or label a parameter-free op).
func (p Pair) Validate() error {
	if !p.Op.Valid() {
		return fmt.Errorf("pair %s: unknown operation %q: want one of %s", p, p.Op, opNames(AllOps()))
	}
	if !knownRule(p.Rule) {
		return fmt.Errorf("pair %s: unknown rule %q: want one of bp, fa, dfa, usf, brsf, frsf, hebb, pc", p, p.Rule)
	}
	switch {
	case p.Op == OpConv3:
		return nil
	case p.Op == OpSkip || !p.Op.ParameterFree():
		if !p.Rule.IsFeedback() {
			return fmt.Errorf("pair %s: %s needs a feedback rule (bp, fa, dfa, usf, brsf, frsf); %s pairs only with %s", p, p.Op, p.Rule, OpConv3)
		}
	}
	return nil
}

// knownRule reports whether r is exactly one of the canonical rule names.
func knownRule(r rule.Rule) bool {
	for _, k := range rule.All {
		if r == k {
			return true
		}
	}
	return false
}

// lrnasSuffix is one rule suffix of LR-NAS primitive names (REFERENCE.md
// §6.1).
type lrnasSuffix struct {
	suffix string
	r      rule.Rule
}

// lrnasSuffixes lists them, longest first so "_br" wins over "_b";
// skip_connect_f and _b are frSF and brSF.
func lrnasSuffixes() []lrnasSuffix {
	return []lrnasSuffix{{"_br", rule.BRSF}, {"_fr", rule.FRSF}, {"_fa", rule.FA}, {"_u", rule.USF}, {"_f", rule.FRSF}, {"_b", rule.BRSF}}
}

// ParsePair reads "op:rule" (the canonical form). It also accepts a bare
// DARTS name ("sep_conv_3x3", meaning rule bp), LR-NAS names
// ("sep_conv_3x3_u", "dil_conv_5x5_br", "skip_connect_f", …) and
// "hebbian_conv", so published genotypes can be pasted as they are.
func ParsePair(s string) (Pair, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "hebbian_conv" {
		return Pair{OpConv3, rule.Hebb}, nil
	}
	var p Pair
	if op, r, ok := strings.Cut(t, ":"); ok {
		o, err := ParseOp(op)
		if err != nil {
			return Pair{}, fmt.Errorf("parse pair %q: %w", s, err)
		}
		rr, err := rule.Parse(r)
		if err != nil {
			return Pair{}, fmt.Errorf("parse pair %q: %w", s, err)
		}
		p = Pair{o, rr}
	} else if o, err := ParseOp(t); err == nil {
		p = Pair{o, rule.BP}
	} else {
		found := false
		for _, sf := range lrnasSuffixes() {
			if base, ok := strings.CutSuffix(t, sf.suffix); ok {
				if o, err := ParseOp(base); err == nil {
					p, found = Pair{o, sf.r}, true
					break
				}
			}
		}
		if !found {
			return Pair{}, fmt.Errorf("parse pair %q: want op:rule (e.g. sep_conv_3x3:fa), a DARTS op name or an LR-NAS name: %w", s, err)
		}
	}
	if err := p.Validate(); err != nil {
		return Pair{}, fmt.Errorf("parse pair %q: %w", s, err)
	}
	return p, nil
}

// Space is the list of pairs every edge mixes; the index of a pair is its
// column in the alpha matrices.
type Space struct {
	Name  string `json:"name"`
	Pairs []Pair `json:"pairs"`
}

// Len is the number of pairs (alphas per edge).
func (s Space) Len() int { return len(s.Pairs) }

// Index returns the position of p in the space, or −1.
func (s Space) Index(p Pair) int {
	for i, q := range s.Pairs {
		if q == p {
			return i
		}
	}
	return -1
}

// Validate checks that the space has at least one pair that is not none,
// that every pair is valid and that no pair repeats.
func (s Space) Validate() error {
	if len(s.Pairs) == 0 {
		return fmt.Errorf("space %q: no pairs", s.Name)
	}
	seen := map[Pair]bool{}
	some := false
	for i, p := range s.Pairs {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("space %q: pair %d: %w", s.Name, i, err)
		}
		if seen[p] {
			return fmt.Errorf("space %q: pair %s appears twice", s.Name, p)
		}
		seen[p] = true
		some = some || p.Op != OpNone
	}
	if !some {
		return fmt.Errorf("space %q: every pair is none; a genotype needs some other operation", s.Name)
	}
	return nil
}

// Ops returns the distinct operations of the space in first-seen order.
func (s Space) Ops() []Op {
	var ops []Op
	seen := map[Op]bool{}
	for _, p := range s.Pairs {
		if !seen[p.Op] {
			seen[p.Op] = true
			ops = append(ops, p.Op)
		}
	}
	return ops
}

// Rules returns the distinct rules of the space in first-seen order.
func (s Space) Rules() []rule.Rule {
	var rs []rule.Rule
	seen := map[rule.Rule]bool{}
	for _, p := range s.Pairs {
		if !seen[p.Rule] {
			seen[p.Rule] = true
			rs = append(rs, p.Rule)
		}
	}
	return rs
}

// Names returns the pairs' "op:rule" names, the column labels of a heatmap.
func (s Space) Names() []string {
	out := make([]string, len(s.Pairs))
	for i, p := range s.Pairs {
		out[i] = p.String()
	}
	return out
}

// NewSpace returns the cross product ops × rules, operation-major (all rules
// of the first op, then the next op), validated. name labels the space.
func NewSpace(name string, ops []Op, rules []rule.Rule) (Space, error) {
	if len(ops) == 0 || len(rules) == 0 {
		return Space{}, fmt.Errorf("space %q: need at least one operation and one rule, got %d and %d", name, len(ops), len(rules))
	}
	s := Space{Name: name}
	for _, o := range ops {
		for _, r := range rules {
			s.Pairs = append(s.Pairs, Pair{o, r})
		}
	}
	if err := s.Validate(); err != nil {
		return Space{}, err
	}
	return s, nil
}

// mustSpace is NewSpace for spaces fixed in code.
func mustSpace(name string, ops []Op, rules []rule.Rule) Space {
	s, err := NewSpace(name, ops, rules)
	if err != nil {
		panic(err)
	}
	return s
}

// BioRules are the four rules of the paper's space.
func BioRules() []rule.Rule { return []rule.Rule{rule.FA, rule.USF, rule.BRSF, rule.FRSF} }

// BioSpace is the paper's complete space: DARTS' eight operations × {fa,
// usf, brsf, frsf} = 32 pairs. For none and the pools the rule is a label
// only (the four copies are computed once); skip's rule acts at stride 2.
func BioSpace() Space { return mustSpace("bio", DARTSOps(), BioRules()) }

// BPSpace is plain DARTS: the eight operations with back-propagation.
func BPSpace() Space { return mustSpace("bp", DARTSOps(), []rule.Rule{rule.BP}) }

// HLPCSpace is BioSpace plus a Hebbian and a predictive-coding 3×3
// convolution (34 pairs).
func HLPCSpace() Space {
	s := BioSpace()
	s.Name = "hlpc"
	s.Pairs = append(s.Pairs, Pair{OpConv3, rule.Hebb}, Pair{OpConv3, rule.PC})
	return s
}

// LRNASSpace is the space of the LR-NAS code (imanehmz/LR-NAS,
// BioNAS-DARTS/genotypes.py PRIMITIVES; REFERENCE.md §6.1), in its order:
// none, max_pool_3x3, avg_pool_3x3 (labelled bp), skip_connect × {usf, frsf,
// brsf} (LR-NAS' _u, _f, _b), then each of sep_conv_3x3, sep_conv_5x5,
// dil_conv_3x3, dil_conv_5x5 × {usf, brsf, frsf, fa}: 22 pairs (REFERENCE.md
// says "21 ops" but lists, as the code has, 22). Unlike LR-NAS, stride-2
// skips do use their rule.
func LRNASSpace() Space {
	s := Space{Name: "lrnas", Pairs: []Pair{
		{OpNone, rule.BP}, {OpMaxPool, rule.BP}, {OpAvgPool, rule.BP},
		{OpSkip, rule.USF}, {OpSkip, rule.FRSF}, {OpSkip, rule.BRSF},
	}}
	for _, o := range []Op{OpSep3, OpSep5, OpDil3, OpDil5} {
		for _, r := range []rule.Rule{rule.USF, rule.BRSF, rule.FRSF, rule.FA} {
			s.Pairs = append(s.Pairs, Pair{o, r})
		}
	}
	return s
}

// SpaceNames lists the names SpaceByName knows.
func SpaceNames() []string { return []string{"bio", "bp", "hlpc", "lrnas"} }

// SpaceByName returns a named space: "bio", "bp", "hlpc" or "lrnas".
func SpaceByName(name string) (Space, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "bio":
		return BioSpace(), nil
	case "bp", "darts":
		return BPSpace(), nil
	case "hlpc":
		return HLPCSpace(), nil
	case "lrnas":
		return LRNASSpace(), nil
	}
	return Space{}, fmt.Errorf("unknown search space %q: want one of %s", name, strings.Join(SpaceNames(), ", "))
}
