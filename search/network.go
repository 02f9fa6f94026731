package search

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// NetworkConfig describes the discrete network built from a genotype
// (DARTS' NetworkCIFAR, REFERENCE.md §2.5). Zero values take the defaults
// in brackets.
type NetworkConfig struct {
	C          int // channels of the first cells [36]
	Layers     int // cells [20]; reductions at Layers/3 and 2·Layers/3
	Classes    int // outputs [10]
	InChannels int // image channels [3]
	// Auxiliary adds DARTS' auxiliary head on the output of cell
	// 2·Layers/3; ForwardAux returns its logits in training.
	Auxiliary bool
	// DropPath is the drop-path probability of training forwards (applied to
	// every edge output that is not an identity); SetDropPath changes it,
	// e.g. for the linear ramp of the DARTS schedule.
	DropPath float32
	Genotype Genotype
	// ImageSize is the input's height and width, which the auxiliary head's
	// pooling and 2×2 convolution are sized for [28 for one input channel
	// (MNIST), else 32 (CIFAR)]. Only the auxiliary head depends on it.
	ImageSize int
	// Seed fixes the weights and the feedback matrices.
	Seed uint64
}

func (c NetworkConfig) withDefaults() NetworkConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.C, 36)
	def(&c.Layers, 20)
	def(&c.Classes, 10)
	def(&c.InChannels, 3)
	if c.InChannels == 1 {
		def(&c.ImageSize, 28)
	}
	def(&c.ImageSize, 32)
	return c
}

// Network is the evaluation network of a genotype: a stem (conv 3×3 to
// 3·C channels, BN), Layers cells that instantiate only the genotype's
// edges, a global average pool and a linear classifier, and optionally
// DARTS' auxiliary head. BatchNorms are affine; pools have no BN; each
// edge's convolutions carry the edge's rule, everything else is bp with
// PyTorch's default init until OverrideRule changes it.
//
// Tensor and layer names: "stem.conv", "stem.bn", "cells.<i>.pre0|pre1.…",
// "cells.<i>.edge<j>.op.<layer>" (layers dw1, pw1, bn1, dw2, pw2, bn2 for
// sep convs; dw, pw, bn for dil convs; conv_1, conv_2, bn for a stride-2
// skip; conv|hebb|pc, bn for conv_3x3), "aux.conv1", "aux.bn1", "aux.conv2",
// "aux.bn2", "aux.classifier", "classifier". Edge j is the j-th edge of
// the cell type's genotype.
type Network struct {
	Cfg NetworkConfig

	stemConv   *nn.Conv2d
	stemBN     bnLayer
	cells      []*evalCell
	aux        *auxHead
	auxAfter   int // index of the cell whose output feeds the auxiliary head
	classifier *nn.Linear
	dropPath   float32
}

// evalCell is one cell of the network.
type evalCell struct {
	reduce     bool
	pre0, pre1 PairOp
	edges      []*evalEdge
	concat     []int
	steps      int
}

// evalEdge is one chosen edge and its layer.
type evalEdge struct {
	Edge
	op       PairOp
	identity bool
}

// NewNetwork builds the network of cfg.Genotype.
func NewNetwork(cfg NetworkConfig) (*Network, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Genotype.Validate(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if cfg.C < 1 || cfg.C%2 != 0 || cfg.Layers < 1 || cfg.Classes < 1 || cfg.InChannels < 1 || cfg.ImageSize < 1 {
		return nil, fmt.Errorf("network: C %d (even), layers %d, classes %d, input channels %d and image size %d must be positive",
			cfg.C, cfg.Layers, cfg.Classes, cfg.InChannels, cfg.ImageSize)
	}
	if !(cfg.DropPath >= 0 && cfg.DropPath < 1) {
		return nil, fmt.Errorf("network: drop-path probability %v outside [0, 1)", cfg.DropPath)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	n := &Network{Cfg: cfg, dropPath: cfg.DropPath, auxAfter: -1}
	cs := 3 * cfg.C
	var err error
	n.stemConv, err = nn.NewConv2d(nn.Conv2dConfig{Name: "stem.conv", In: cfg.InChannels, Out: cs, Kernel: 3, Padding: 1,
		Init: nn.Kaiming, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, fmt.Errorf("network: stem: %w", err)
	}
	n.stemBN = newBN("stem.bn", cs, true, false)
	cpp, cp, cur := cs, cs, cfg.C
	size := cfg.ImageSize
	reducePrev := false
	for i := range cfg.Layers {
		reduce := i == cfg.Layers/3 || i == 2*cfg.Layers/3
		cg := cfg.Genotype.Normal
		if reduce {
			cur *= 2
			cg = cfg.Genotype.Reduce
			size = (size + 1) / 2
		}
		cell, err := newEvalCell(fmt.Sprintf("cells.%d", i), cfg, cg, cpp, cp, cur, reduce, reducePrev, rng)
		if err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		n.cells = append(n.cells, cell)
		reducePrev = reduce
		cpp, cp = cp, len(cg.Concat)*cur
		if cfg.Auxiliary && i == 2*cfg.Layers/3 {
			if n.aux, err = newAuxHead("aux", cp, size, cfg.Classes, rng); err != nil {
				return nil, fmt.Errorf("network: %w", err)
			}
			n.auxAfter = i
		}
	}
	n.classifier, err = nn.NewLinear(nn.LinearConfig{Name: "classifier", In: cp, Out: cfg.Classes, Bias: true, Init: nn.Kaiming, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, fmt.Errorf("network: classifier: %w", err)
	}
	return n, nil
}

func newEvalCell(name string, cfg NetworkConfig, cg CellGenotype, cpp, cp, c int, reduce, reducePrev bool, rng *rand.Rand) (*evalCell, error) {
	cell := &evalCell{reduce: reduce, concat: cg.Concat, steps: cg.Steps()}
	var err error
	if cell.pre0, err = newPreprocess(nn.Join(name, "pre0"), cpp, c, reducePrev, true, cfg.Classes, rng); err != nil {
		return nil, fmt.Errorf("%s: pre0: %w", name, err)
	}
	if cell.pre1, err = newPreprocess(nn.Join(name, "pre1"), cp, c, false, true, cfg.Classes, rng); err != nil {
		return nil, fmt.Errorf("%s: pre1: %w", name, err)
	}
	for j, e := range cg.Edges {
		stride := 1
		if reduce && e.From < 2 {
			stride = 2
		}
		op, err := NewPairOp(OpConfig{Name: fmt.Sprintf("%s.edge%d.op", name, j), Pair: e.Pair(), C: c, Stride: stride,
			Affine: true, Classes: cfg.Classes}, rng)
		if err != nil {
			return nil, fmt.Errorf("%s: edge %d: %w", name, j, err)
		}
		_, id := op.(identityOp)
		cell.edges = append(cell.edges, &evalEdge{Edge: e, op: op, identity: id})
	}
	return cell, nil
}

func (c *evalCell) forward(g *nn.Graph, s0, s1 *nn.Tensor, dropPath float32) *nn.Tensor {
	states := []*nn.Tensor{c.pre0.Forward(g, s0), c.pre1.Forward(g, s1)}
	for i := range c.steps {
		var ins []*nn.Tensor
		for _, e := range c.edges[2*i : 2*i+2] {
			h := e.op.Forward(g, states[e.From])
			if !e.identity && dropPath > 0 {
				h = g.DropPath(h, dropPath) // a no-op outside training
			}
			ins = append(ins, h)
		}
		states = append(states, g.Sum(ins...))
	}
	out := make([]*nn.Tensor, len(c.concat))
	for i, s := range c.concat {
		out[i] = states[s]
	}
	return g.Concat(1, out...)
}

// auxHead is DARTS' AuxiliaryHeadCIFAR: ReLU → AvgPool 5×5 stride 3
// (count_include_pad=False) → conv 1×1 → BN → ReLU → conv 2×2 → BN → ReLU →
// linear. For feature maps smaller than DARTS' 8×8 the pool and the
// second convolution shrink to fit (7×7 MNIST maps: pool 5×5 → 1×1, conv
// 1×1); the layers' shapes say so.
type auxHead struct {
	pool, size   int // pool kernel, input size
	conv1, conv2 *nn.Conv2d
	bn1, bn2     bnLayer
	classifier   *nn.Linear
}

func newAuxHead(name string, c, size, classes int, rng *rand.Rand) (*auxHead, error) {
	pool := min(5, size)
	pooled := (size-pool)/3 + 1
	k2 := min(2, pooled)
	final := pooled - k2 + 1
	conv := func(sub string, in, out, k int) (*nn.Conv2d, error) {
		return nn.NewConv2d(nn.Conv2dConfig{Name: nn.Join(name, sub), In: in, Out: out, Kernel: k, Init: nn.Kaiming, Classes: classes}, rng)
	}
	c1, err := conv("conv1", c, 128, 1)
	if err != nil {
		return nil, fmt.Errorf("aux head: %w", err)
	}
	c2, err := conv("conv2", 128, 768, k2)
	if err != nil {
		return nil, fmt.Errorf("aux head: %w", err)
	}
	fc, err := nn.NewLinear(nn.LinearConfig{Name: nn.Join(name, "classifier"), In: 768 * final * final, Out: classes, Bias: true,
		Init: nn.Kaiming, Classes: classes}, rng)
	if err != nil {
		return nil, fmt.Errorf("aux head: %w", err)
	}
	return &auxHead{pool: pool, size: size, conv1: c1, conv2: c2, classifier: fc,
		bn1: newBN(nn.Join(name, "bn1"), 128, true, true), bn2: newBN(nn.Join(name, "bn2"), 768, true, true)}, nil
}

func (a *auxHead) forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	if _, _, h, w := x.NCHW("auxiliary head"); h != a.size || w != a.size {
		panic(fmt.Sprintf("search: auxiliary head built for %d×%d features, got shape %v (set NetworkConfig.ImageSize to the input size)", a.size, a.size, x.Shape))
	}
	y := g.AvgPool2d(g.ReLU(x), a.pool, 3, 0, false)
	y = a.bn1.Forward(g, a.conv1.Forward(g, y))
	y = a.bn2.Forward(g, a.conv2.Forward(g, y))
	return a.classifier.Forward(g, y)
}

func (a *auxHead) modules() []nn.Module {
	return []nn.Module{a.conv1, a.bn1, a.conv2, a.bn2, a.classifier}
}

// Forward returns the logits (N × classes) of x (N, InChannels, H, W).
func (n *Network) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	logits, _ := n.forward(g, x, false)
	return logits
}

// ForwardAux returns the logits and, in training with the auxiliary head,
// the auxiliary logits (nil otherwise). DARTS' loss is CE + 0.4·CE_aux.
func (n *Network) ForwardAux(g *nn.Graph, x *nn.Tensor) (logits, aux *nn.Tensor) {
	return n.forward(g, x, true)
}

func (n *Network) forward(g *nn.Graph, x *nn.Tensor, wantAux bool) (logits, aux *nn.Tensor) {
	s0 := n.stemBN.Forward(g, n.stemConv.Forward(g, x))
	s1 := s0
	p := float32(0)
	if g.Training() {
		p = n.dropPath
	}
	for i, c := range n.cells {
		s0, s1 = s1, c.forward(g, s0, s1, p)
		if wantAux && i == n.auxAfter && n.aux != nil && g.Training() {
			aux = n.aux.forward(g, s1)
		}
	}
	return n.classifier.Forward(g, g.GlobalAvgPool(s1)), aux
}

// SetDropPath sets the drop-path probability of later training forwards.
func (n *Network) SetDropPath(p float32) {
	if !(p >= 0 && p < 1) {
		panic(fmt.Sprintf("search.Network.SetDropPath: probability %v outside [0, 1)", p))
	}
	n.dropPath = p
}

// DropPath is the current drop-path probability.
func (n *Network) DropPath() float32 { return n.dropPath }

// modules lists the network's parts in their fixed order.
func (n *Network) modules() []nn.Module {
	ms := []nn.Module{n.stemConv, n.stemBN}
	for _, c := range n.cells {
		ms = append(ms, c.pre0, c.pre1)
		for _, e := range c.edges {
			ms = append(ms, e.op)
		}
	}
	if n.aux != nil {
		ms = append(ms, n.aux.modules()...)
	}
	return append(ms, n.classifier)
}

// Params lists the trainable tensors.
func (n *Network) Params() []nn.Named { return nn.ParamsOf(n.modules()...) }

// Buffers lists BN statistics, feedback matrices and Hebbian weights.
func (n *Network) Buffers() []nn.Named { return nn.BuffersOf(n.modules()...) }

// RuleLayers lists every convolution and linear layer that carries a rule,
// in a fixed order (stem, cells, auxiliary head, classifier).
func (n *Network) RuleLayers() []nn.RuleLayer {
	var rs []nn.RuleLayer
	for _, m := range n.modules() {
		switch v := m.(type) {
		case nn.RuleLayer:
			rs = append(rs, v)
		case nn.RuleLayerer:
			rs = append(rs, v.RuleLayers()...)
		}
	}
	return rs
}

// The network is an nn.Model: nn.SaveModel and nn.LoadModel checkpoint it.
var _ nn.Model = (*Network)(nil)

// LayerInfo describes one layer for the rule editor.
type LayerInfo struct {
	Name string // e.g. "cells.3.edge2.op.dw1"
	Cell int    // cell index, −1 outside the cells (stem, heads)
	// Reduce is set for the layers of a reduction cell (whose edges come
	// from the genotype's reduce cell).
	Reduce bool
	Edge   int // edge index in the cell's genotype, −1 for the preprocessing and outside cells
	// From and To are the edge's states (0 and 1 the cell's inputs, 2… its
	// nodes), as the genotype names the edge; −1 outside edges.
	From, To int
	Op       Op        // the edge's operation ("" outside edges)
	Rule     rule.Rule // the layer's current rule (hebb or pc for those kinds)
	// Shape is the weight's shape.
	Shape []int
	// Editable is false for Hebbian and predictive-coding layers, whose
	// rule is their kind and which OverrideRule leaves alone.
	Editable bool
}

// Layers lists the network's rule layers (and its Hebbian and
// predictive-coding layers) in order, with where they sit.
func (n *Network) Layers() []LayerInfo {
	var out []LayerInfo
	// where is a layer's place: its cell and edge (−1s outside them).
	type where struct {
		cell, edge, from, to int
		reduce               bool
		op                   Op
	}
	outside := where{cell: -1, edge: -1, from: -1, to: -1}
	add := func(at where, m nn.Module, fixed rule.Rule) {
		li := func(name string, r rule.Rule, shape []int, editable bool) LayerInfo {
			return LayerInfo{Name: name, Cell: at.cell, Reduce: at.reduce, Edge: at.edge, From: at.from, To: at.to, Op: at.op,
				Rule: r, Shape: append([]int(nil), shape...), Editable: editable}
		}
		if fixed != "" {
			// A Hebbian or predictive-coding layer: "<op>.hebb" or "<op>.pc",
			// described by its (main) weight.
			for _, w := range append(m.Params(), m.Buffers()...) {
				for _, suffix := range []string{".hebb.weight", ".pc.conv.weight"} {
					if base, ok := strings.CutSuffix(w.Name, suffix); ok {
						out = append(out, li(base+"."+string(fixed), fixed, w.T.Shape, false))
						return
					}
				}
			}
			return
		}
		var rls []nn.RuleLayer
		switch v := m.(type) {
		case nn.RuleLayer:
			rls = []nn.RuleLayer{v}
		case nn.RuleLayerer:
			rls = v.RuleLayers()
		}
		for _, l := range rls {
			out = append(out, li(l.LayerName(), l.Rule(), l.Params()[0].T.Shape, true))
		}
	}
	add(outside, n.stemConv, "")
	for i, c := range n.cells {
		pre := where{cell: i, edge: -1, from: -1, to: -1, reduce: c.reduce}
		add(pre, c.pre0, "")
		add(pre, c.pre1, "")
		for j, e := range c.edges {
			var fixed rule.Rule
			if e.Rule == rule.Hebb || e.Rule == rule.PC {
				fixed = e.Rule
			}
			add(where{cell: i, edge: j, from: e.From, to: e.To, reduce: c.reduce, op: e.Op}, e.op, fixed)
		}
	}
	if n.aux != nil {
		for _, m := range n.aux.modules() {
			add(outside, m, "")
		}
	}
	add(outside, n.classifier, "")
	return out
}

// OverrideRule switches layers to rule r (a feedback rule: bp, fa, dfa,
// usf, brsf, frsf), keeping their weights. The selector is one of:
//
//   - "all": every rule layer, stem and heads included (the "same network
//     trained with one rule everywhere" of the paper's comparison);
//   - "cell3": every rule layer of cell 3, preprocessing included;
//   - "cell3.edge2": every convolution of edge 2 of cell 3 (an error if that
//     edge has none: none, pools, stride-1 skip, hebb and pc edges);
//   - a layer name or a dotted prefix of layer names, e.g.
//     "cells.3.edge2.op.dw1", "cells.3.pre0", "stem", "aux", "classifier".
//
// Hebbian and predictive-coding layers are never switched: their rule is
// their kind. Errors name the selector; on error nothing is changed.
func (n *Network) OverrideRule(selector string, r rule.Rule) error {
	if !r.IsFeedback() {
		return fmt.Errorf("override rule %q for %q: %q is not a rule a convolution can take (want bp, fa, dfa, usf, brsf, frsf)", r, selector, r)
	}
	layers, err := n.selectLayers(strings.TrimSpace(selector))
	if err != nil {
		return fmt.Errorf("override rule %q: %w", r, err)
	}
	old := make([]rule.Rule, len(layers))
	for i, l := range layers {
		old[i] = l.Rule()
		if err := l.SetRule(r); err != nil {
			for j := range i { // put back what was already switched
				_ = layers[j].SetRule(old[j])
			}
			return fmt.Errorf("override rule %q for %q: layer %s: %w", r, selector, l.LayerName(), err)
		}
	}
	return nil
}

// selectLayers resolves an OverrideRule selector.
func (n *Network) selectLayers(sel string) ([]nn.RuleLayer, error) {
	all := n.RuleLayers()
	if sel == "all" {
		return all, nil
	}
	if rest, ok := strings.CutPrefix(sel, "cell"); ok && !strings.HasPrefix(rest, "s") {
		cellPart, edgePart, hasEdge := strings.Cut(rest, ".")
		ci, err := strconv.Atoi(cellPart)
		if err != nil || ci < 0 || ci >= len(n.cells) {
			return nil, fmt.Errorf("selector %q: no cell %q (want cell0..cell%d)", sel, cellPart, len(n.cells)-1)
		}
		prefix := fmt.Sprintf("cells.%d", ci)
		if hasEdge {
			es, ok := strings.CutPrefix(edgePart, "edge")
			ei, err := strconv.Atoi(es)
			if !ok || err != nil || ei < 0 || ei >= len(n.cells[ci].edges) {
				return nil, fmt.Errorf("selector %q: no edge %q in cell %d (want edge0..edge%d)", sel, edgePart, ci, len(n.cells[ci].edges)-1)
			}
			e := n.cells[ci].edges[ei]
			ls := e.op.RuleLayers()
			if len(ls) == 0 {
				return nil, fmt.Errorf("selector %q: edge %d of cell %d is %s, which has no convolution to take a rule", sel, ei, ci, e.Pair())
			}
			return ls, nil
		}
		return layersUnder(all, prefix), nil
	}
	if ls := layersUnder(all, sel); len(ls) > 0 {
		return ls, nil
	}
	example := "cells.0.pre0.conv"
	if len(all) > 0 {
		example = all[len(all)/2].LayerName()
	}
	return nil, fmt.Errorf("selector %q matches no layer (want all, cellN, cellN.edgeM, or a layer name such as %q)", sel, example)
}

// layersUnder returns the layers named prefix or prefix.something.
func layersUnder(ls []nn.RuleLayer, prefix string) []nn.RuleLayer {
	var out []nn.RuleLayer
	for _, l := range ls {
		if name := l.LayerName(); name == prefix || strings.HasPrefix(name, prefix+".") {
			out = append(out, l)
		}
	}
	return out
}
