package nn

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// AdamConfig configures Adam. A zero field means PyTorch's default:
// LR 1e-3, Beta1 0.9, Beta2 0.999, Eps 1e-8, WeightDecay 0; so
// AdamConfig{} is usable as is, and DARTS' architecture optimizer is
// AdamConfig{LR: 3e-4, Beta1: 0.5, Beta2: 0.999, WeightDecay: 1e-3}.
//
// Because zero means default, an exact Beta1 (or Beta2, Eps) of 0 cannot be
// written; use math.SmallestNonzeroFloat32, which gives the same updates in
// float32 arithmetic.
type AdamConfig struct {
	LR          float32
	Beta1       float32
	Beta2       float32
	Eps         float32
	WeightDecay float32 // L2 penalty added to the gradient (not AdamW)
}

// Defaults returns c with its zero fields replaced by PyTorch's defaults.
func (c AdamConfig) Defaults() AdamConfig {
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	return c
}

// Adam is PyTorch's torch.optim.Adam (amsgrad off). Per parameter, with
// step t counted from 1:
//
//	g = grad + wd·w
//	m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²
//	w -= lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps)
//
// Each parameter keeps its own step count, so one skipped because its Grad
// is nil does not advance, as in PyTorch.
type Adam struct {
	cfg    AdamConfig
	params []Named
	state  []adamState
	index  map[string]int
}

type adamState struct {
	step int
	m, v []float32 // nil until the first step
	// dm, dv hold m and v for a parameter on a device (m, v then nil).
	dm, dv *Tensor
}

// NewAdam returns an optimizer over params with cfg.Defaults(). It panics on
// settings outside PyTorch's accepted ranges and on duplicate or empty
// parameter names.
func NewAdam(params []Named, cfg AdamConfig) *Adam {
	cfg = cfg.Defaults()
	if cfg.LR < 0 || cfg.Eps < 0 || cfg.WeightDecay < 0 ||
		cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 {
		panic(fmt.Sprintf("nn.NewAdam: invalid setting in %+v", cfg))
	}
	return &Adam{
		cfg:    cfg,
		params: slices.Clone(params),
		state:  make([]adamState, len(params)),
		index:  optIndexParams("nn.NewAdam", params),
	}
}

// Step applies one update to every parameter that has a gradient.
func (o *Adam) Step() {
	c := o.cfg
	for i, p := range o.params {
		if d := p.T.Device(); d != nil {
			o.stepDev(d, i, p)
			continue
		}
		w, g := p.T.Data, p.T.Grad
		if g == nil {
			continue
		}
		if len(g) != len(w) {
			panic(fmt.Sprintf("nn.Adam.Step: %s has %d gradients for %d values", p.Name, len(g), len(w)))
		}
		s := &o.state[i]
		if s.m == nil {
			s.m = make([]float32, len(w))
			s.v = make([]float32, len(w))
		}
		s.step++
		// PyTorch computes the bias corrections in float64 (Python floats).
		bc1 := 1 - math.Pow(float64(c.Beta1), float64(s.step))
		bc2 := 1 - math.Pow(float64(c.Beta2), float64(s.step))
		stepSize := float32(float64(c.LR) / bc1)
		bc2Sqrt := float32(math.Sqrt(bc2))
		m, v := s.m, s.v
		for j := range w {
			gj := g[j] + c.WeightDecay*w[j]
			m[j] += (1 - c.Beta1) * (gj - m[j]) // lerp, as PyTorch
			v[j] = c.Beta2*v[j] + (1-c.Beta2)*gj*gj
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + c.Eps
			w[j] -= stepSize * (m[j] / denom)
		}
	}
}

// stepDev is Step for a parameter on a device: the moments live there
// (a loaded state goes up on first use).
func (o *Adam) stepDev(d Device, i int, p Named) {
	if p.T.gstore == nil {
		return
	}
	c := o.cfg
	s := &o.state[i]
	if s.dm == nil {
		if s.m == nil {
			s.m, s.v = make([]float32, p.T.Len()), make([]float32, p.T.Len())
		}
		s.dm, s.dv = ToDevice(FromSlice(s.m, p.T.Shape...), d), ToDevice(FromSlice(s.v, p.T.Shape...), d)
		s.m, s.v = nil, nil
	}
	s.step++
	bc1 := 1 - math.Pow(float64(c.Beta1), float64(s.step))
	bc2 := 1 - math.Pow(float64(c.Beta2), float64(s.step))
	mustDev(d, "nn.Adam.Step "+p.Name, d.Adam(p.T.Buf(), p.T.gstore.buf, s.dm.Buf(), s.dv.Buf(), p.T.Len(),
		c.LR, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, float32(bc1), float32(bc2)))
}

// SetLR changes the learning rate.
func (o *Adam) SetLR(lr float32) { o.cfg.LR = lr }

// LR returns the current learning rate.
func (o *Adam) LR() float32 { return o.cfg.LR }

// Config returns the settings in use (defaults filled in).
func (o *Adam) Config() AdamConfig { return o.cfg }

// ZeroGrad zeroes the gradients of the optimizer's parameters.
func (o *Adam) ZeroGrad() {
	for _, p := range o.params {
		p.T.ZeroGrad()
	}
}

// State returns copies of the state of every parameter stepped at least
// once: "<name>.step" (shape [1], the step count as float32, exact up to
// 2²⁴), "<name>.exp_avg" and "<name>.exp_avg_sq" (the parameter's shape).
func (o *Adam) State() []Named {
	var out []Named
	for i, p := range o.params {
		s := o.state[i]
		m, v := s.m, s.v
		if s.dm != nil {
			m, v = s.dm.Values(), s.dv.Values()
		}
		if m == nil {
			continue
		}
		out = append(out,
			Named{p.Name + ".step", FromSlice([]float32{float32(s.step)}, 1)},
			Named{p.Name + ".exp_avg", FromSlice(slices.Clone(m), p.T.Shape...)},
			Named{p.Name + ".exp_avg_sq", FromSlice(slices.Clone(v), p.T.Shape...)},
		)
	}
	return out
}

// LoadState replaces the optimizer state with state (as returned by State).
// A parameter's three tensors must come together; parameters absent from
// state start afresh. Nothing changes if an error is returned.
func (o *Adam) LoadState(state []Named) error {
	type parts struct{ step, m, v *Tensor }
	got := make([]parts, len(o.params))
	for _, s := range state {
		var name, kind string
		for _, k := range []string{".step", ".exp_avg_sq", ".exp_avg"} {
			if n, ok := strings.CutSuffix(s.Name, k); ok {
				name, kind = n, k
				break
			}
		}
		i, known := o.index[name]
		if kind == "" || !known {
			return fmt.Errorf("load Adam state: unexpected tensor %q", s.Name)
		}
		want := o.params[i].T.Shape
		slot := &got[i].m
		switch kind {
		case ".step":
			want, slot = []int{1}, &got[i].step
			if s.T != nil && len(s.T.Data) == 1 {
				want = s.T.Shape // accept a 0-d step as PyTorch stores it
			}
		case ".exp_avg_sq":
			slot = &got[i].v
		}
		if err := optCheckShape("Adam", s, want); err != nil {
			return err
		}
		if *slot != nil {
			return fmt.Errorf("load Adam state: duplicate tensor %q", s.Name)
		}
		*slot = s.T
	}
	st := make([]adamState, len(o.params))
	for i, g := range got {
		n := o.params[i].Name
		switch {
		case g.step == nil && g.m == nil && g.v == nil:
			continue
		case g.step == nil:
			return fmt.Errorf("load Adam state: missing tensor %q (shape [1])", n+".step")
		case g.m == nil:
			return fmt.Errorf("load Adam state: missing tensor %q (shape %v)", n+".exp_avg", o.params[i].T.Shape)
		case g.v == nil:
			return fmt.Errorf("load Adam state: missing tensor %q (shape %v)", n+".exp_avg_sq", o.params[i].T.Shape)
		}
		step := g.step.Data[0]
		if step < 1 || step > math.MaxInt32 || step != float32(math.Trunc(float64(step))) {
			return fmt.Errorf("load Adam state: tensor %q: step %v is not a positive integer", n+".step", step)
		}
		st[i] = adamState{step: int(step), m: slices.Clone(g.m.Data), v: slices.Clone(g.v.Data)}
	}
	o.state = st
	return nil
}
