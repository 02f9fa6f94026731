package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/bionaslab/bionas/nn"
)

// MixedOpConfig describes the mixed operation of one edge.
type MixedOpConfig struct {
	// Name is the path prefix of the edge, e.g. "cells.2.edges.5"; each pair's
	// tensors live under "<Name>.<op>:<rule>" ("<Name>.<op>" for pools,
	// which all rules share).
	Name   string
	Space  Space
	C      int // channels of the edge's input and output
	Stride int // 1, or 2 on the input edges of a reduction cell; 0 means 1
	// PartialChannels K > 1 sends only the first C/K channels through the
	// pairs (PC-DARTS, REFERENCE.md §5); 0 or 1 is off.
	PartialChannels int
	// NoPoolBN leaves the pools without the BatchNorm(affine=false) DARTS
	// puts after them (EG-NAS' mixed op).
	NoPoolBN bool
	// Recompute trades compute for memory: see MixedOp.
	Recompute bool
	// Classes is the network output size (dfa only).
	Classes int
}

// MixedOp is the DARTS mixed operation over a space of (op, rule) pairs:
//
//	out = Σ_k w_k · pair_k(x),   w = one row of softmax(α) (or given weights)
//
// Pairs that compute the same function are built and run once and weighted
// by the sum of their weights: none (never computed: it adds nothing),
// each pool (shared by all rules, with one BatchNorm unless NoPoolBN) and
// skip at stride 1 (the identity). Every other pair has its own
// parameters. The gradient of w_k is ⟨∂L/∂out, pair_k(x)⟩, the same for all
// pairs of a shared unit.
//
// With partial channels K (PC-DARTS), the pairs see the first C/K channels
// only; the other channels bypass the edge (through a 2×2 max pool at
// stride 2), and the concatenation [mixed, bypass] is channel-shuffled with
// K groups.
//
// # Recomputation
//
// With Recompute, a forward on a recording graph keeps no activation of
// the pairs: it runs each pair without a tape (in the graph's mode, so
// BatchNorm still uses the batch statistics) and keeps only the weighted
// sum. It records one closure which, when the backward reaches the edge,
// runs each pair again on a fresh local graph, back-propagates w_k·∂L/∂out
// into it, and adds the weights' gradients ⟨∂L/∂out, pair_k(x)⟩. Peak
// memory is then one pair's tape instead of every pair of every edge; the
// price is one more forward of the pairs.
//
// The two passes must compute the same function and leave the same state
// as a single recorded forward would:
//
//   - The first pass runs with a train-mode graph on which nothing records
//     (the input is detached and the pairs' parameters are marked as not
//     needing gradients for its duration). Layers draw feedback only when
//     they record, so brSF's B stream does not advance there; the
//     recomputation, a recording training forward, draws it once — the same
//     B, draw number and count as without Recompute.
//   - State that a training forward changes (BatchNorm running statistics,
//     Hebbian weights) is copied before the first pass and put back before
//     the recomputation, which then repeats the same update from the same
//     starting point: the state ends as after one forward, and the
//     recomputed outputs equal the first ones bit for bit.
//   - The recomputation keeps the outer graph's mode, TrueGradient,
//     WeightStep and random source, and hands dfa layers the outer graph's
//     output error.
//
// Outputs, weight gradients and alpha gradients are identical with and
// without Recompute (tested). A forward whose backward never runs leaves
// brSF streams one draw behind the Recompute-off behaviour.
type MixedOp struct {
	Name      string
	Space     Space
	C, Stride int
	// K is the partial-channel factor (1 = all channels).
	K         int
	Recompute bool

	units   []*mixUnit
	byPair  []*mixUnit // unit computing each pair (nil for none)
	anyReLU bool       // some unit starts with ReLU(x), computed once
	// arenas lend the recomputation's tensors (nn.Arena); a supernet gives
	// all its edges one pool.
	arenas *nn.ArenaPool
}

// mixUnit is one distinct computation of a mixed op and the pairs it serves.
type mixUnit struct {
	name     string
	pairs    []int
	op       PairOp
	relu     reluFirst // op as a consumer of ReLU(x), or nil
	identity bool
	params   []*nn.Tensor // the op's parameters, to silence them in the untaped pass
	state    []*nn.Tensor // buffers a training forward changes (not feedback matrices)
}

// NewMixedOp builds the pairs of one edge, drawing weights from rng in the
// order of the space.
func NewMixedOp(cfg MixedOpConfig, rng *rand.Rand) (*MixedOp, error) {
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	k := max(cfg.PartialChannels, 1)
	if err := cfg.Space.Validate(); err != nil {
		return nil, fmt.Errorf("mixed op %q: %w", cfg.Name, err)
	}
	if cfg.C <= 0 || cfg.C%k != 0 {
		return nil, fmt.Errorf("mixed op %q: %d channels are not divisible by the partial-channel factor %d", cfg.Name, cfg.C, k)
	}
	m := &MixedOp{Name: cfg.Name, Space: cfg.Space, C: cfg.C, Stride: cfg.Stride, K: k, Recompute: cfg.Recompute,
		byPair: make([]*mixUnit, cfg.Space.Len()), arenas: &nn.ArenaPool{}}
	shared := map[Op]*mixUnit{}
	for i, p := range cfg.Space.Pairs {
		if p.Op == OpNone {
			continue
		}
		share := sharedParamFree(p.Op, cfg.Stride)
		if u := shared[p.Op]; share && u != nil {
			u.pairs = append(u.pairs, i)
			m.byPair[i] = u
			continue
		}
		name := nn.Join(cfg.Name, p.String())
		if share {
			name = nn.Join(cfg.Name, string(p.Op))
		}
		op, err := NewPairOp(OpConfig{Name: name, Pair: p, C: cfg.C / k, Stride: cfg.Stride, PoolBN: !cfg.NoPoolBN, Classes: cfg.Classes}, rng)
		if err != nil {
			return nil, fmt.Errorf("mixed op %q: %w", cfg.Name, err)
		}
		_, isID := op.(identityOp)
		u := &mixUnit{name: name, pairs: []int{i}, op: op, identity: isID, params: nn.Tensors(op.Params())}
		if rf, ok := op.(reluFirst); ok {
			u.relu = rf
			m.anyReLU = true
		}
		for _, b := range op.Buffers() {
			if !isFeedbackBuffer(b.Name) {
				u.state = append(u.state, b.T)
			}
		}
		if share {
			shared[p.Op] = u
		}
		m.units = append(m.units, u)
		m.byPair[i] = u
	}
	return m, nil
}

// sharedParamFree reports whether pairs with operation op are one
// computation whatever their rule on an edge of this stride: the pools,
// and skip at stride 1 (the identity). A mixed op computes them once, and
// genotypes are derived from the sum of their weights (DeriveWith).
func sharedParamFree(op Op, stride int) bool {
	return op == OpMaxPool || op == OpAvgPool || (op == OpSkip && stride == 1)
}

// isFeedbackBuffer reports a rule's B (fa, frsf, dfa): constant in forwards.
func isFeedbackBuffer(name string) bool {
	return name == "feedback" || len(name) > len(".feedback") && name[len(name)-len(".feedback"):] == ".feedback"
}

// PairOp returns the layer that computes pair k (nil for none). Pairs that
// share a computation return the same layer.
func (m *MixedOp) PairOp(k int) PairOp {
	if u := m.byPair[k]; u != nil {
		return u.op
	}
	return nil
}

// NumUnits is the number of distinct computations (PyTorch's reference
// has 20 per edge for the 32-pair bio space, none included).
func (m *MixedOp) NumUnits() int { return len(m.units) }

// Params lists the pairs' parameters, in the order of the space.
func (m *MixedOp) Params() []nn.Named {
	var ps []nn.Named
	for _, u := range m.units {
		ps = append(ps, u.op.Params()...)
	}
	return ps
}

// Buffers lists the pairs' buffers (BN statistics, feedback matrices,
// Hebbian weights).
func (m *MixedOp) Buffers() []nn.Named {
	var bs []nn.Named
	for _, u := range m.units {
		bs = append(bs, u.op.Buffers()...)
	}
	return bs
}

// RuleLayers lists the pairs' convolutions.
func (m *MixedOp) RuleLayers() []nn.RuleLayer {
	var rs []nn.RuleLayer
	for _, u := range m.units {
		rs = append(rs, u.op.RuleLayers()...)
	}
	return rs
}

// Forward mixes the pairs on x (N, C, H, W) with the weights in row `row`
// of w (rows × pairs, e.g. softmax(α) of a cell type; gradients flow into w
// when it needs them). The output is (N, C, H/stride, W/stride).
func (m *MixedOp) Forward(g *nn.Graph, x, w *nn.Tensor, row int) *nn.Tensor {
	p := m.Space.Len()
	if len(w.Shape) != 2 || w.Shape[1] != p || row < 0 || row >= w.Shape[0] {
		panic(fmt.Sprintf("search.MixedOp %q: want weights (rows, %d) and a row inside, got shape %v and row %d", m.Name, p, w.Shape, row))
	}
	if _, c, _, _ := x.NCHW("MixedOp"); c != m.C {
		panic(fmt.Sprintf("search.MixedOp %q: built for %d channels, got shape %v", m.Name, m.C, x.Shape))
	}
	if m.K == 1 {
		return m.mix(g, x, w, row)
	}
	cp := m.C / m.K
	xa, xb := g.SliceAxis(x, 1, 0, cp), g.SliceAxis(x, 1, cp, m.C)
	ya := m.mix(g, xa, w, row)
	if m.Stride == 2 {
		xb = g.MaxPool2d(xb, 2, 2, 0)
	}
	return g.ChannelShuffle(g.Concat(1, ya, xb), m.K)
}

// mix returns Σ_u s_u·unit_u(x) with s_u the summed weights of unit u.
func (m *MixedOp) mix(g *nn.Graph, x, w *nn.Tensor, row int) *nn.Tensor {
	p := m.Space.Len()
	if x.OnDevice() {
		if m.Recompute && g != nil {
			return m.mixRecomputeDevice(g, x, w, row)
		}
		return m.mixDevice(g, x, w, row)
	}
	wr := w.Data[row*p : (row+1)*p]
	scales := make([]float32, len(m.units))
	for i, u := range m.units {
		for _, k := range u.pairs {
			scales[i] += wr[k]
		}
	}
	if m.Recompute && g != nil {
		// Even when neither x nor w needs a gradient the pairs' parameters
		// may: recording with the closure keeps memory bounded either way.
		return m.mixRecompute(g, x, w, row, scales)
	}
	ys := make([]*nn.Tensor, len(m.units))
	out := g.Zero(x, m.Stride)
	rec := g.Records(w)
	r := m.reluOf(g, x)
	for i, u := range m.units {
		if u.identity {
			ys[i] = u.forward(g, x, r)
		} else {
			v := recordViews(g, x, r)
			ys[i] = u.forward(g, v.x, v.r)
		}
		mustShape(m, u, ys[i], out)
		nn.AxpyPar(scales[i], ys[i].Data, out.Data)
		rec = rec || g.Records(ys[i])
	}
	if !rec {
		return out
	}
	g.Record(out, func() {
		for i, y := range ys {
			m.addWeightGrad(w, row, i, y.Data, out.Grad)
			if y.NeedsGrad {
				nn.AxpyPar(scales[i], out.Grad, y.GradBuf())
			}
		}
	})
	return out
}

// mixDevice is mix for an input on a device without recomputation: every
// unit runs there, taped, and the weights are read where they live
// (nn.Graph.WeightedSum).
func (m *MixedOp) mixDevice(g *nn.Graph, x, w *nn.Tensor, row int) *nn.Tensor {
	p := m.Space.Len()
	ys := make([]*nn.Tensor, len(m.units))
	idx := make([][]int, len(m.units))
	n, c, h, wd := x.NCHW("MixedOp")
	want := &nn.Tensor{Shape: []int{n, c, (h + m.Stride - 1) / m.Stride, (wd + m.Stride - 1) / m.Stride}}
	r := m.reluOf(g, x)
	for i, u := range m.units {
		ys[i] = u.forward(g, x, r)
		mustShape(m, u, ys[i], want)
		for _, k := range u.pairs {
			idx[i] = append(idx[i], row*p+k)
		}
	}
	return g.WeightedSum(ys, w, idx)
}

// mixRecompute is mix without keeping the pairs' tapes (see MixedOp).
//
// The units are independent, so both passes run them concurrently, one
// unit per core (unitsInParallel): an edge's units are many small ops whose
// kernels alone cannot keep every core busy. Everything a unit writes is its
// own (parameters, state, the gradient views of x and ReLU(x)); what they
// share is summed afterwards in a fixed order, so the result does not depend
// on scheduling and equals the taped forward bit for bit.
func (m *MixedOp) mixRecompute(g *nn.Graph, x, w *nn.Tensor, row int, scales []float32) *nn.Tensor {
	train := g.Training()
	xd := &nn.Tensor{Shape: x.Shape, Data: x.Data}
	out := g.Zero(x, m.Stride) // step memory: lent when g has an arena
	saved := make([][][]float32, len(m.units))
	ys := make([]*nn.Tensor, len(m.units))
	arenas := make([]*nn.Arena, len(m.units))
	// The untaped pass: graphs in g's mode on which nothing records, their
	// tensors lent by an arena per unit and given back once mixed.
	quiet := func(a *nn.Arena) *nn.Graph {
		q := nn.NewGraph(train, g.Rand)
		q.TrueGradient, q.WeightStep, q.Arena = g.TrueGradient, g.WeightStep, a
		return q
	}
	// ReLU(x) is shared by every unit and dropped once all are mixed.
	ra := m.arenas.NewArena()
	defer ra.Reset()
	rd := m.reluOf(quiet(ra), xd)
	// Outputs are mixed in unit order as soon as they are ready, so that a
	// unit's memory goes back to the pool early and the sum has a fixed
	// order whatever the scheduling.
	var mu sync.Mutex
	mixed := 0
	unitsInParallel(len(m.units), func(i int) {
		u := m.units[i]
		if train {
			saved[i] = snapshot(u.state)
		}
		a := m.arenas.NewArena()
		y := silenced(u.params, func() *nn.Tensor { return u.forward(quiet(a), xd, rd) })
		mustShape(m, u, y, out)
		mu.Lock()
		defer mu.Unlock()
		ys[i], arenas[i] = y, a
		for ; mixed < len(m.units) && ys[mixed] != nil; mixed++ {
			nn.AxpyPar(scales[mixed], ys[mixed].Data, out.Data)
			ys[mixed] = nil
			arenas[mixed].Reset()
		}
	})
	g.Record(out, func() {
		// Identity units first, in order, then the others in reverse: the
		// order in which a taped forward's backward adds into x.Grad, so both
		// modes give the same bits.
		var xl *nn.Tensor
		if x.NeedsGrad {
			xl = &nn.Tensor{Shape: x.Shape, Data: x.Data, Grad: x.GradBuf(), NeedsGrad: true}
		} else {
			xl = &nn.Tensor{Shape: x.Shape, Data: x.Data}
		}
		for i, u := range m.units {
			if u.identity {
				m.addWeightGrad(w, row, i, x.Data, out.Grad)
				if x.NeedsGrad {
					nn.AxpyPar(scales[i], out.Grad, xl.Grad)
				}
			}
		}
		local := func() *nn.Graph {
			lg := nn.NewGraph(train, g.Rand)
			lg.TrueGradient, lg.WeightStep = g.TrueGradient, g.WeightStep
			if e := g.OutputError(); e != nil {
				// dfa layers read the network's output error from their graph.
				lg.SetOutput(&nn.Tensor{Shape: e.Shape, Data: e.Data, Grad: e.Data})
			}
			return lg
		}
		// ReLU(x) on a graph of its own, back-propagated once all units
		// have added their gradients into it (a taped forward records it
		// first, so its backward comes last there too).
		// Its tensors and the units' private gradient views are lent
		// (nn.Arena.View) and given back once summed into x's.
		rg := local()
		rg.Arena = m.arenas.NewArena()
		defer rg.Arena.Reset()
		rl := m.reluOf(rg, xl)
		va := make([]*nn.Arena, len(m.units))
		views := make([]unitViews, len(m.units))
		dots := make([]float64, len(m.units))
		unitsInParallel(len(m.units), func(j int) {
			i := len(m.units) - 1 - j // the costly late units start first
			u := m.units[i]
			if u.identity {
				return
			}
			restore(u.state, saved[i])
			saved[i] = nil
			lg := local()
			// Everything the unit's graph makes is dead once its backward
			// has run; the views' gradients (lent by va[i]) live on until
			// they are added into x's and r's below.
			lg.Arena = m.arenas.NewArena()
			defer lg.Arena.Reset()
			va[i] = m.arenas.NewArena()
			views[i] = newUnitViews(xl, rl, va[i])
			y := u.forward(lg, views[i].x, views[i].r)
			if !y.NeedsGrad {
				// Nothing in the pair needs a gradient.
				if w.NeedsGrad {
					dots[i] = nn.Dot64(y.Data, out.Grad)
				}
				return
			}
			// The seed (written whole) and ⟨y, dout⟩ in one pass over dout.
			seed := lg.Arena.GetFull(len(out.Grad))
			d := nn.ScaleDot64(seed, scales[i], out.Grad, y.Data)
			if w.NeedsGrad {
				dots[i] = d
			}
			lg.BackwardWith(y, seed)
		})
		for i := len(m.units) - 1; i >= 0; i-- {
			if m.units[i].identity {
				continue
			}
			m.addDot(w, row, i, dots[i])
			views[i].addInto(xl, rl)
			va[i].Reset()
		}
		if rl != nil && rl.Grad != nil {
			rg.BackwardSeeded() // rl.Grad holds the units' sum already
		}
	})
	return out
}

// mixRecomputeDevice is mixRecompute for an input on a device, with the
// same two passes and the same state discipline (see MixedOp), the units
// one after the other: the device runs each unit's kernels in order, and
// each unit's memory goes back to the device's cache as soon as it is
// mixed (forward) or back-propagated (backward), so a step holds one
// unit's tape at a time. The α weights and their gradients stay on the
// device (nn.AxpyAt, nn.DotAt).
func (m *MixedOp) mixRecomputeDevice(g *nn.Graph, x, w *nn.Tensor, row int) *nn.Tensor {
	train := g.Training()
	p := m.Space.Len()
	out := g.Zero(x, m.Stride)
	saved := make([][]*nn.Tensor, len(m.units))
	newGraph := func() *nn.Graph {
		q := nn.NewGraph(train, g.Rand)
		q.TrueGradient, q.WeightStep = g.TrueGradient, g.WeightStep
		return q
	}
	// The untaped pass: nothing needs a gradient (a detached input,
	// silenced parameters), so nothing records.
	xd := x.Alias(false)
	rq := newGraph()
	rd := m.reluOf(rq, xd)
	for i, u := range m.units {
		if train {
			saved[i] = make([]*nn.Tensor, len(u.state))
			for j, st := range u.state {
				saved[i][j] = nn.CloneOn(g, st) // step memory: freed with g
			}
		}
		q := newGraph()
		y := silenced(u.params, func() *nn.Tensor { return u.forward(q, xd, rd) })
		mustShape(m, u, y, out)
		for _, k := range u.pairs {
			nn.AxpyAt(w, row*p+k, y, out)
		}
		q.Release()
	}
	rq.Release()
	g.Record(out, func() {
		dout := out.GradTensor()
		var wg *nn.Tensor
		if w.NeedsGrad {
			wg = w.Alias(true).GradTensor()
		}
		xl := x.Alias(x.NeedsGrad)
		// Identity units first, then the others in reverse (the order of a
		// taped forward's backward, as on the CPU).
		for _, u := range m.units {
			if !u.identity {
				continue
			}
			for _, k := range u.pairs {
				if wg != nil {
					nn.DotAt(x, dout, wg, row*p+k)
				}
				if x.NeedsGrad {
					nn.AxpyAt(w, row*p+k, dout, xl.GradTensor())
				}
			}
		}
		rg := newGraph()
		rg.ShareOutput(g)
		defer rg.Release()
		rl := m.reluOf(rg, xl)
		for i := len(m.units) - 1; i >= 0; i-- {
			u := m.units[i]
			if u.identity {
				continue
			}
			for j, st := range u.state {
				nn.CopyValues(st, saved[i][j])
			}
			lg := newGraph()
			lg.ShareOutput(g)
			y := u.forward(lg, xl, rl)
			for _, k := range u.pairs {
				if wg != nil {
					nn.DotAt(y, dout, wg, row*p+k)
				}
				if y.NeedsGrad {
					nn.AxpyAt(w, row*p+k, dout, y.Alias(true).GradTensor())
				}
			}
			if y.NeedsGrad {
				lg.BackwardSeeded()
			}
			lg.Release()
		}
		if rl != nil && rl.HasGrad() {
			rg.BackwardSeeded()
		}
	})
	return out
}

// unitViews are one unit's private handles on the edge input x and on
// ReLU(x): they share the data but gather the unit's gradient apart, so
// that units can run at once and their gradients be added in a fixed order.
type unitViews struct{ x, r *nn.Tensor }

func newUnitViews(x, r *nn.Tensor, a *nn.Arena) unitViews {
	return unitViews{x: gradView(x, a), r: gradView(r, a)}
}

// gradView is a tensor sharing t's data with a gradient of its own (nil
// for nil), lent by a when a is not nil.
func gradView(t *nn.Tensor, a *nn.Arena) *nn.Tensor {
	if t == nil {
		return nil
	}
	if a != nil {
		return a.View(t)
	}
	return &nn.Tensor{Shape: t.Shape, Data: t.Data, NeedsGrad: t.NeedsGrad}
}

// addInto adds the views' gradients into x's and r's.
func (v unitViews) addInto(x, r *nn.Tensor) {
	if v.x != nil && v.x.Grad != nil {
		nn.AddPar(x.GradBuf(), v.x.Grad)
	}
	if v.r != nil && v.r.Grad != nil {
		nn.AddPar(r.GradBuf(), v.r.Grad)
	}
}

// recordViews returns the unit's views of x and r on a recording graph:
// each records one closure adding its gradient into the original, which
// runs right after the unit's own backward. The taped forward uses them so
// that x.Grad is built by the same sums, in the same order, as
// mixRecompute's.
func recordViews(g *nn.Graph, x, r *nn.Tensor) unitViews {
	v := newUnitViews(x, r, nil)
	for _, p := range [][2]*nn.Tensor{{x, v.x}, {r, v.r}} {
		src, view := p[0], p[1]
		if view == nil || !g.Records(src) {
			continue
		}
		g.Record(view, func() { nn.AddPar(src.GradBuf(), view.Grad) })
	}
	return v
}

// unitsInParallel runs fn(0..n-1) on every core, handing out indices in
// order as workers free up (nn.ForEach).
func unitsInParallel(n int, fn func(i int)) { nn.ForEach(n, fn) }

// reluOf returns ReLU(x) when some unit consumes it, else nil.
func (m *MixedOp) reluOf(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	if !m.anyReLU {
		return nil
	}
	return g.ReLU(x)
}

// forward runs the unit on x, or on r = ReLU(x) if it starts with ReLU.
func (u *mixUnit) forward(g *nn.Graph, x, r *nn.Tensor) *nn.Tensor {
	if u.relu != nil {
		return u.relu.forwardRelued(g, r)
	}
	return u.op.Forward(g, x)
}

// addWeightGrad adds ⟨dout, y⟩ to the gradient of every weight of unit i.
func (m *MixedOp) addWeightGrad(w *nn.Tensor, row, i int, y, dout []float32) {
	if !w.NeedsGrad {
		return
	}
	m.addDot(w, row, i, nn.Dot64(y, dout))
}

// addDot adds d to the gradient of every weight of unit i.
func (m *MixedOp) addDot(w *nn.Tensor, row, i int, d float64) {
	if !w.NeedsGrad {
		return
	}
	grad := w.GradBuf()
	p := m.Space.Len()
	for _, k := range m.units[i].pairs {
		grad[row*p+k] += float32(d)
	}
}

// zeros returns the zero output of the edge for input x (the shape of
// none, which is also every pair's output shape).

// mustShape panics if a pair's output does not have the edge's shape.
func mustShape(m *MixedOp, u *mixUnit, y, out *nn.Tensor) {
	if !slices.Equal(y.Shape, out.Shape) {
		panic(fmt.Sprintf("search.MixedOp %q: pair %s gave shape %v, want %v (odd spatial size at a reduction?)", m.Name, u.name, y.Shape, out.Shape))
	}
}

// silenced runs f with the tensors marked as not needing gradients, so no
// layer records (nor draws brSF feedback) on a graph in training mode.
func silenced(ts []*nn.Tensor, f func() *nn.Tensor) *nn.Tensor {
	was := make([]bool, len(ts))
	for i, t := range ts {
		was[i], t.NeedsGrad = t.NeedsGrad, false
	}
	defer func() {
		for i, t := range ts {
			t.NeedsGrad = was[i]
		}
	}()
	return f()
}

// snapshot copies the data of some tensors.
func snapshot(ts []*nn.Tensor) [][]float32 {
	if len(ts) == 0 {
		return nil
	}
	out := make([][]float32, len(ts))
	for i, t := range ts {
		out[i] = slices.Clone(t.Data)
	}
	return out
}

// restore copies a snapshot back (no-op for a nil snapshot).
func restore(ts []*nn.Tensor, saved [][]float32) {
	for i, d := range saved {
		copy(ts[i].Data, d)
	}
}
