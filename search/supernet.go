package search

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn"
)

// SupernetConfig describes a DARTS search network (REFERENCE.md §2.2). Zero
// values take the defaults in brackets, so SupernetConfig{} is usable.
type SupernetConfig struct {
	C              int   // channels of the first cells [16]
	Cells          int   // number of cells [8]; reductions at Cells/3 and 2·Cells/3
	Classes        int   // outputs [10]
	InChannels     int   // image channels [3]
	Steps          int   // intermediate nodes per cell [4]
	Multiplier     int   // nodes concatenated into the cell output [4]
	StemMultiplier int   // stem width = StemMultiplier·C [3]
	Space          Space // pairs per edge [BioSpace]
	// PartialChannels K > 1 turns on PC-DARTS (REFERENCE.md §5): partial
	// channels in every mixed op and β edge normalisation. 0 or 1 = off.
	PartialChannels int
	// NoEdgeNorm keeps partial channels without β edge normalisation, and
	// NoPoolBN drops the BatchNorm(affine=false) that DARTS and PC-DARTS
	// put after each pool of a mixed op: EG-NAS' supernet has neither
	// (REFERENCE.md §3.1; EGNASConfig sets both unless PCDartsSupernet).
	// Omitted from the JSON when false, so DARTS configurations read as
	// before.
	NoEdgeNorm bool `json:",omitempty"`
	NoPoolBN   bool `json:",omitempty"`
	// PerPairParamFree derives the genotype reading each copy of a shared
	// parameter-free op alone (DeriveOptions); by default their weights
	// are summed. Omitted from the JSON when false.
	PerPairParamFree bool `json:",omitempty"`
	// Recompute recomputes each mixed op in the backward pass instead of
	// keeping its pairs' activations (see MixedOp): about a third more
	// compute, a fraction of the memory.
	Recompute bool
	// Seed fixes the weights, the feedback matrices and the initial α and β.
	Seed uint64
}

// withDefaults fills zero fields.
func (c SupernetConfig) withDefaults() SupernetConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.C, 16)
	def(&c.Cells, 8)
	def(&c.Classes, 10)
	def(&c.InChannels, 3)
	def(&c.Steps, 4)
	def(&c.Multiplier, 4)
	def(&c.StemMultiplier, 3)
	if c.Space.Pairs == nil {
		c.Space = BioSpace()
	}
	if c.PartialChannels == 0 {
		c.PartialChannels = 1
	}
	return c
}

// NumEdges is the number of edges of a cell with the given number of
// intermediate nodes: node i has i+2 inputs (14 for 4 nodes).
func NumEdges(steps int) int { return steps * (steps + 3) / 2 }

// Supernet is the DARTS search network: a stem, Cells cells whose edges are
// mixed ops over the space, and a linear classifier on globally pooled
// features. All normal cells share AlphaNormal and all reduction cells
// AlphaReduce (edges × pairs, init 1e-3·N(0,1)). With partial channels
// (unless NoEdgeNorm), BetaNormal and BetaReduce (one value per edge, init
// 1e-3·N(0,1)) weight each node's inputs by their softmax over that node
// (nil otherwise).
//
// Edges are numbered node by node: node 0 reads states 0–1 (edges 0–1),
// node 1 states 0–2 (edges 2–4), node 2 edges 5–8, node 3 edges 9–13;
// states 0 and 1 are the cell's inputs. In a reduction cell the edges from
// states 0 and 1 have stride 2.
//
// Tensor names: "stem.conv.weight", "stem.bn.{weight,bias,running_*}",
// "cells.<i>.pre0|pre1.…", "cells.<i>.edges.<j>.<op>:<rule>.<layer>.weight"
// (pools: "cells.<i>.edges.<j>.<op>.bn.…", none with NoPoolBN),
// "classifier.{weight,bias}".
// The stem, the preprocessing and the classifier are bp with PyTorch's
// default init; every convolution of a pair carries the pair's rule.
type Supernet struct {
	Cfg   SupernetConfig
	Space Space

	AlphaNormal, AlphaReduce *nn.Tensor
	BetaNormal, BetaReduce   *nn.Tensor

	stemConv   *nn.Conv2d
	stemBN     *nn.BatchNorm2d
	cells      []*searchCell
	classifier *nn.Linear
	// steps lends the buffers of the step graphs' tensors (StepGraph). It
	// is not the mixed ops' pool: a step graph holds its buffers for the
	// whole step, the recomputations for one edge at a time, and sharing
	// would starve the latter. Its free list is what one step uses, so it
	// has no cap of its own.
	steps *nn.ArenaPool
}

// StepGraph returns a recording training graph for one step whose tensors
// are lent by the supernet's buffer pool (nn.Arena): step after step reuses
// the same, already mapped memory instead of faulting in fresh pages.
// Release it once the step's values have been read.
func (s *Supernet) StepGraph(r *rand.Rand) *nn.Graph {
	g := nn.NewGraph(true, r)
	g.Arena = s.steps.NewArena()
	return g
}

// searchCell is one cell of the supernet.
type searchCell struct {
	reduce     bool
	pre0, pre1 PairOp
	edges      []*MixedOp
	steps, mul int
}

// NewSupernet builds a supernet; the same config (seed included) builds the
// same network.
func NewSupernet(cfg SupernetConfig) (*Supernet, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Space.Validate(); err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	switch {
	case cfg.C < 1 || cfg.Cells < 1 || cfg.Classes < 1 || cfg.InChannels < 1 || cfg.StemMultiplier < 1:
		return nil, fmt.Errorf("supernet: C %d, cells %d, classes %d, input channels %d and stem multiplier %d must be positive",
			cfg.C, cfg.Cells, cfg.Classes, cfg.InChannels, cfg.StemMultiplier)
	case cfg.Steps < 1 || cfg.Multiplier < 1 || cfg.Multiplier > cfg.Steps:
		return nil, fmt.Errorf("supernet: want 1 ≤ multiplier (%d) ≤ steps (%d)", cfg.Multiplier, cfg.Steps)
	case cfg.PartialChannels < 1:
		return nil, fmt.Errorf("supernet: partial-channel factor %d must be 0, 1 or more", cfg.PartialChannels)
	case cfg.C%(2*cfg.PartialChannels) != 0:
		return nil, fmt.Errorf("supernet: C %d must be divisible by 2·K = %d (reductions halve channels in pairs; partial channels use C/K)",
			cfg.C, 2*cfg.PartialChannels)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	s := &Supernet{Cfg: cfg, Space: cfg.Space}
	cs := cfg.StemMultiplier * cfg.C
	var err error
	s.stemConv, err = nn.NewConv2d(nn.Conv2dConfig{Name: "stem.conv", In: cfg.InChannels, Out: cs, Kernel: 3, Padding: 1,
		Init: nn.Kaiming, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, fmt.Errorf("supernet: stem: %w", err)
	}
	s.stemBN = nn.NewBatchNorm2d("stem.bn", cs, true)
	cpp, cp, cur := cs, cs, cfg.C
	reducePrev := false
	for i := range cfg.Cells {
		reduce := i == cfg.Cells/3 || i == 2*cfg.Cells/3
		if reduce {
			cur *= 2
		}
		cell, err := newSearchCell(fmt.Sprintf("cells.%d", i), cfg, cpp, cp, cur, reduce, reducePrev, rng)
		if err != nil {
			return nil, fmt.Errorf("supernet: %w", err)
		}
		s.cells = append(s.cells, cell)
		reducePrev = reduce
		cpp, cp = cp, cfg.Multiplier*cur
	}
	// The mixed ops' recomputations share one pool of buffers (see
	// MixedOp): edge after edge reuses the same, cache-warm memory.
	arenas := &nn.ArenaPool{}
	s.steps = &nn.ArenaPool{Limit: math.MaxInt64}
	for _, cell := range s.cells {
		for _, m := range cell.edges {
			m.arenas = arenas
		}
	}
	s.classifier, err = nn.NewLinear(nn.LinearConfig{Name: "classifier", In: cp, Out: cfg.Classes, Bias: true, Init: nn.Kaiming, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, fmt.Errorf("supernet: classifier: %w", err)
	}
	arng := rand.New(rand.NewPCG(cfg.Seed, 0xa1fa))
	e, p := NumEdges(cfg.Steps), cfg.Space.Len()
	s.AlphaNormal, s.AlphaReduce = randnParam(arng, e, p), randnParam(arng, e, p)
	if cfg.PartialChannels > 1 && !cfg.NoEdgeNorm {
		s.BetaNormal, s.BetaReduce = randnParam(arng, e), randnParam(arng, e)
	}
	return s, nil
}

// randnParam returns a tensor needing gradients filled with 1e-3·N(0,1).
func randnParam(rng *rand.Rand, shape ...int) *nn.Tensor {
	t := nn.Param(shape...)
	for i := range t.Data {
		t.Data[i] = float32(1e-3 * rng.NormFloat64())
	}
	return t
}

func newSearchCell(name string, cfg SupernetConfig, cpp, cp, c int, reduce, reducePrev bool, rng *rand.Rand) (*searchCell, error) {
	cell := &searchCell{reduce: reduce, steps: cfg.Steps, mul: cfg.Multiplier}
	var err error
	if cell.pre0, err = newPreprocess(nn.Join(name, "pre0"), cpp, c, reducePrev, false, cfg.Classes, rng); err != nil {
		return nil, fmt.Errorf("%s: pre0: %w", name, err)
	}
	if cell.pre1, err = newPreprocess(nn.Join(name, "pre1"), cp, c, false, false, cfg.Classes, rng); err != nil {
		return nil, fmt.Errorf("%s: pre1: %w", name, err)
	}
	for i := range cfg.Steps {
		for j := range i + 2 {
			stride := 1
			if reduce && j < 2 {
				stride = 2
			}
			m, err := NewMixedOp(MixedOpConfig{Name: fmt.Sprintf("%s.edges.%d", name, len(cell.edges)), Space: cfg.Space, C: c,
				Stride: stride, PartialChannels: cfg.PartialChannels, NoPoolBN: cfg.NoPoolBN, Recompute: cfg.Recompute, Classes: cfg.Classes}, rng)
			if err != nil {
				return nil, err
			}
			cell.edges = append(cell.edges, m)
		}
	}
	return cell, nil
}

// forward runs the cell; w holds the mixing weights (edges × pairs) and
// beta, if not nil, the node-normalised edge weights (1 × edges).
func (c *searchCell) forward(g *nn.Graph, s0, s1, w, beta *nn.Tensor) *nn.Tensor {
	states := []*nn.Tensor{c.pre0.Forward(g, s0), c.pre1.Forward(g, s1)}
	off := 0
	for i := range c.steps {
		ins := make([]*nn.Tensor, i+2)
		for j := range ins {
			e := off + j
			ins[j] = c.edges[e].Forward(g, states[j], w, e)
			if beta != nil {
				ins[j] = g.ScaleBy(ins[j], beta, e)
			}
		}
		off += i + 2
		// The edges' outputs feed this node only (SumOwned).
		states = append(states, g.SumOwned(ins...))
	}
	return g.Concat(1, states[len(states)-c.mul:]...)
}

// Forward returns the logits (N × classes) of x (N, InChannels, H, W),
// mixing with softmax(α) (and β when partial channels are on). H and W must
// stay even at each reduction. Mark the logits with g.SetOutput before
// Backward if some layer uses dfa.
func (s *Supernet) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	return s.ForwardWithWeights(g, x, g.Softmax(s.AlphaNormal), g.Softmax(s.AlphaReduce))
}

// ForwardWithWeights is Forward with the mixing weights given directly
// (edges × pairs each; EG-NAS samples them). Gradients flow into them when
// they need gradients; β is still applied when the supernet has it.
func (s *Supernet) ForwardWithWeights(g *nn.Graph, x, wNormal, wReduce *nn.Tensor) *nn.Tensor {
	e, p := NumEdges(s.Cfg.Steps), s.Space.Len()
	for _, w := range []*nn.Tensor{wNormal, wReduce} {
		if len(w.Shape) != 2 || w.Shape[0] != e || w.Shape[1] != p {
			panic(fmt.Sprintf("search.Supernet: mixing weights have shape %v, want (%d, %d)", w.Shape, e, p))
		}
	}
	var bN, bR *nn.Tensor
	if s.BetaNormal != nil {
		bN, bR = nodeSoftmax(g, s.BetaNormal, s.Cfg.Steps), nodeSoftmax(g, s.BetaReduce, s.Cfg.Steps)
	}
	s0 := nn.BatchNormReLU(g, s.stemBN, s.stemConv.Forward(g, x), false)
	s1 := s0
	for _, c := range s.cells {
		w, b := wNormal, bN
		if c.reduce {
			w, b = wReduce, bR
		}
		s0, s1 = s1, c.forward(g, s0, s1, w, b)
	}
	return s.classifier.Forward(g, g.GlobalAvgPool(s1))
}

// nodeSoftmax returns softmax of beta over each node's incoming edges, as a
// (1 × edges) tensor on the graph (PC-DARTS edge normalisation).
func nodeSoftmax(g *nn.Graph, beta *nn.Tensor, steps int) *nn.Tensor {
	b := g.Reshape(beta, 1, beta.Len())
	parts := make([]*nn.Tensor, 0, steps)
	off := 0
	for i := range steps {
		parts = append(parts, g.Softmax(g.SliceAxis(b, 1, off, off+i+2)))
		off += i + 2
	}
	return g.Concat(1, parts...)
}

// Weights lists the network weights (not α or β), with their names.
func (s *Supernet) Weights() []nn.Named {
	ps := nn.ParamsOf(s.stemConv, s.stemBN)
	for _, c := range s.cells {
		ps = append(ps, nn.ParamsOf(c.pre0, c.pre1)...)
		for _, m := range c.edges {
			ps = append(ps, m.Params()...)
		}
	}
	return append(ps, s.classifier.Params()...)
}

// Params is Weights, for nn.Module: α and β are not network parameters
// (not in the weight optimizer, not in gradient clipping).
func (s *Supernet) Params() []nn.Named { return s.Weights() }

// Buffers lists BN statistics, feedback matrices and Hebbian weights.
func (s *Supernet) Buffers() []nn.Named {
	bs := nn.BuffersOf(s.stemConv, s.stemBN)
	for _, c := range s.cells {
		bs = append(bs, nn.BuffersOf(c.pre0, c.pre1)...)
		for _, m := range c.edges {
			bs = append(bs, m.Buffers()...)
		}
	}
	return append(bs, s.classifier.Buffers()...)
}

// Alphas lists the architecture parameters: "alpha_normal", "alpha_reduce",
// and with edge normalisation "beta_normal", "beta_reduce".
func (s *Supernet) Alphas() []nn.Named {
	as := []nn.Named{{Name: "alpha_normal", T: s.AlphaNormal}, {Name: "alpha_reduce", T: s.AlphaReduce}}
	if s.BetaNormal != nil {
		as = append(as, nn.Named{Name: "beta_normal", T: s.BetaNormal}, nn.Named{Name: "beta_reduce", T: s.BetaReduce})
	}
	return as
}

// RuleLayers lists every convolution and linear layer that carries a rule:
// the stem, each cell's preprocessing and pairs, the classifier.
func (s *Supernet) RuleLayers() []nn.RuleLayer {
	rs := []nn.RuleLayer{s.stemConv}
	for _, c := range s.cells {
		rs = append(rs, c.pre0.RuleLayers()...)
		rs = append(rs, c.pre1.RuleLayers()...)
		for _, m := range c.edges {
			rs = append(rs, m.RuleLayers()...)
		}
	}
	return append(rs, s.classifier)
}

// Edge returns the mixed op of edge e of cell i (for inspection and tests).
func (s *Supernet) Edge(cell, e int) *MixedOp { return s.cells[cell].edges[e] }

// NumCells is the number of cells; IsReduction tells their kind.
func (s *Supernet) NumCells() int { return len(s.cells) }

// IsReduction reports whether cell i is a reduction cell.
func (s *Supernet) IsReduction(i int) bool { return s.cells[i].reduce }

// AlphaSoftmax returns softmax(α) per edge (rows) and pair (columns) for
// both cell types — what heatmaps show. It does not include β.
func (s *Supernet) AlphaSoftmax() (normal, reduce [][]float32) {
	return softmaxRows(s.AlphaNormal), softmaxRows(s.AlphaReduce)
}

// EdgeWeights returns the weights the genotype is derived from:
// softmax(α), multiplied for each edge by its node's softmax(β) when the
// supernet has β (PC-DARTS, REFERENCE.md §5).
func (s *Supernet) EdgeWeights() (normal, reduce [][]float32) {
	normal, reduce = s.AlphaSoftmax()
	if s.BetaNormal != nil {
		normal = ApplyEdgeNormalization(normal, s.BetaNormal.Values(), s.Cfg.Steps)
		reduce = ApplyEdgeNormalization(reduce, s.BetaReduce.Values(), s.Cfg.Steps)
	}
	return normal, reduce
}

// Genotype derives the current genotype (REFERENCE.md §2.4, §5): top-2
// inputs per node, strongest pair that is not none, rule kept, concat of the
// last Multiplier nodes; shared parameter-free copies summed unless
// Cfg.PerPairParamFree (see DeriveWith).
func (s *Supernet) Genotype() Genotype {
	n, r := s.EdgeWeights()
	g, err := deriveGenotype(n, r, s.Space, s.Cfg.Steps, s.Cfg.Multiplier, DeriveOptions{PerPairParamFree: s.Cfg.PerPairParamFree})
	if err != nil {
		panic(fmt.Sprintf("search.Supernet.Genotype: %v", err)) // shapes are ours: a bug
	}
	return g
}

// softmaxRows returns the row-wise softmax of a 2-D tensor as rows,
// computed on the host (a device supernet's α come down once), so that a
// genotype is derived by the same code wherever the search ran.
func softmaxRows(t *nn.Tensor) [][]float32 {
	vals, k := t.Values(), t.Shape[1]
	out := make([][]float32, t.Shape[0])
	for i := range out {
		out[i] = make([]float32, k)
		nn.SoftmaxRow(out[i], vals[i*k:(i+1)*k])
	}
	return out
}

// MoveTo puts the supernet's weights, buffers and architecture parameters
// (α, β) on d (nil: the host): where a device-resident search keeps them.
func (s *Supernet) MoveTo(d nn.Device) error {
	if err := nn.MoveModule(s, d); err != nil {
		return err
	}
	for _, a := range s.Alphas() {
		if err := a.T.MoveTo(d); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	return nil
}

// ApplyEdgeNormalization multiplies each edge's row of w by softmax(beta)
// over the edges of its node (PC-DARTS' edge normalisation), returning new
// rows. It panics if the sizes disagree with steps.
func ApplyEdgeNormalization(w [][]float32, beta []float32, steps int) [][]float32 {
	if len(w) != NumEdges(steps) || len(beta) != len(w) {
		panic(fmt.Sprintf("search.ApplyEdgeNormalization: %d rows and %d betas for %d steps (want %d each)", len(w), len(beta), steps, NumEdges(steps)))
	}
	out := make([][]float32, len(w))
	off := 0
	for i := range steps {
		n := i + 2
		seg := beta[off : off+n]
		mx := seg[0]
		for _, v := range seg {
			mx = max(mx, v)
		}
		var z float64
		for _, v := range seg {
			z += math.Exp(float64(v - mx))
		}
		for j := range n {
			b := float32(math.Exp(float64(seg[j]-mx)) / z)
			row := make([]float32, len(w[off+j]))
			for k, v := range w[off+j] {
				row[k] = v * b
			}
			out[off+j] = row
		}
		off += n
	}
	return out
}

// The supernet is an nn.Model: nn.SaveModel and nn.LoadModel checkpoint it.
var _ nn.Model = (*Supernet)(nil)
