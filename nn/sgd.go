package nn

import (
	"fmt"
	"slices"
	"strings"
)

// SGDConfig configures stochastic gradient descent. The zero value is plain
// SGD with learning rate 0; DARTS uses {LR: 0.025, Momentum: 0.9,
// WeightDecay: 3e-4} (REFERENCE.md §2.3).
type SGDConfig struct {
	LR          float32
	Momentum    float32 // 0 disables the momentum buffer
	WeightDecay float32 // L2 penalty added to the gradient
	Nesterov    bool    // needs Momentum > 0
}

// SGD is PyTorch's torch.optim.SGD (dampening 0):
//
//	d = grad + wd·w
//	buf = d on the first step, else m·buf + d      (only when m > 0)
//	d = d + m·buf if nesterov, else d = buf         (only when m > 0)
//	w -= lr·d
//
// A parameter whose Grad is nil is skipped (no decay, no momentum), as in
// PyTorch. One whose Grad was zeroed is still stepped.
type SGD struct {
	cfg    SGDConfig
	params []Named
	bufs   [][]float32 // momentum buffers, nil until the first step
	dbufs  []*Tensor   // the momentum buffers of device parameters
	index  map[string]int
}

// NewSGD returns an optimizer over params. It panics on a negative setting,
// on Nesterov without momentum, and on duplicate or empty parameter names
// (the state is keyed by name).
func NewSGD(params []Named, cfg SGDConfig) *SGD {
	if cfg.LR < 0 || cfg.Momentum < 0 || cfg.WeightDecay < 0 {
		panic(fmt.Sprintf("nn.NewSGD: negative setting in %+v", cfg))
	}
	if cfg.Nesterov && cfg.Momentum == 0 {
		panic("nn.NewSGD: Nesterov needs Momentum > 0")
	}
	return &SGD{
		cfg:    cfg,
		params: slices.Clone(params),
		bufs:   make([][]float32, len(params)),
		dbufs:  make([]*Tensor, len(params)),
		index:  optIndexParams("nn.NewSGD", params),
	}
}

// optIndexParams maps names to positions, panicking on empty or repeated names.
func optIndexParams(op string, params []Named) map[string]int {
	idx := make(map[string]int, len(params))
	for i, p := range params {
		if p.Name == "" || p.T == nil {
			panic(fmt.Sprintf("%s: parameter %d has no name or no tensor", op, i))
		}
		if _, dup := idx[p.Name]; dup {
			panic(fmt.Sprintf("%s: duplicate parameter name %q", op, p.Name))
		}
		idx[p.Name] = i
	}
	return idx
}

// Step applies one update to every parameter that has a gradient.
func (o *SGD) Step() {
	lr, m, wd := o.cfg.LR, o.cfg.Momentum, o.cfg.WeightDecay
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
			panic(fmt.Sprintf("nn.SGD.Step: %s has %d gradients for %d values", p.Name, len(g), len(w)))
		}
		if m == 0 {
			for j := range w {
				w[j] -= lr * (g[j] + wd*w[j])
			}
			continue
		}
		buf := o.bufs[i]
		first := buf == nil
		if first {
			buf = make([]float32, len(w))
			o.bufs[i] = buf
		}
		for j := range w {
			d := g[j] + wd*w[j]
			if first {
				buf[j] = d
			} else {
				buf[j] = m*buf[j] + d
			}
			if o.cfg.Nesterov {
				d += m * buf[j]
			} else {
				d = buf[j]
			}
			w[j] -= lr * d
		}
	}
}

// stepDev is Step for a parameter on a device: one kernel, the momentum
// buffer kept there (a loaded state goes up on first use).
func (o *SGD) stepDev(d Device, i int, p Named) {
	if p.T.gstore == nil {
		return
	}
	var mom Buffer
	first := false
	if o.cfg.Momentum != 0 {
		if o.dbufs[i] == nil {
			if o.bufs[i] != nil {
				o.dbufs[i] = ToDevice(FromSlice(o.bufs[i], p.T.Shape...), d)
				o.bufs[i] = nil
			} else {
				o.dbufs[i] = ToDevice(New(p.T.Shape...), d)
				first = true
			}
		}
		mom = o.dbufs[i].Buf()
	}
	c := o.cfg
	mustDev(d, "nn.SGD.Step "+p.Name, d.SGD(p.T.Buf(), p.T.gstore.buf, mom, p.T.Len(), c.LR, c.Momentum, 0, c.WeightDecay, c.Nesterov, first))
}

// momentum returns parameter i's momentum buffer on the host, or nil.
func (o *SGD) momentum(i int) []float32 {
	if o.dbufs[i] != nil {
		return o.dbufs[i].Values()
	}
	return o.bufs[i]
}

// SetLR changes the learning rate (schedules call it once per epoch).
func (o *SGD) SetLR(lr float32) { o.cfg.LR = lr }

// LR returns the current learning rate.
func (o *SGD) LR() float32 { return o.cfg.LR }

// Config returns the current settings.
func (o *SGD) Config() SGDConfig { return o.cfg }

// ZeroGrad zeroes the gradients of the optimizer's parameters.
func (o *SGD) ZeroGrad() {
	for _, p := range o.params {
		p.T.ZeroGrad()
	}
}

// MomentumBuffer returns the momentum buffer of the parameter named name
// (shared, not copied), or nil if it has none yet. Second-order DARTS reads
// it for the virtual step w' = w − ξ·(m·buf + ∇w + wd·w).
func (o *SGD) MomentumBuffer(name string) []float32 {
	i, ok := o.index[name]
	if !ok {
		return nil
	}
	return o.momentum(i)
}

// MomentumTensor is MomentumBuffer as a tensor where the buffer lives (on
// the parameter's device once it has stepped there), or nil.
func (o *SGD) MomentumTensor(name string) *Tensor {
	i, ok := o.index[name]
	switch {
	case !ok:
		return nil
	case o.dbufs[i] != nil:
		return o.dbufs[i]
	case o.bufs[i] != nil:
		return FromSlice(o.bufs[i], o.params[i].T.Shape...)
	}
	return nil
}

// State returns copies of the momentum buffers that exist, named
// "<param name>.momentum_buffer", in parameter order.
func (o *SGD) State() []Named {
	var out []Named
	for i, p := range o.params {
		if b := o.momentum(i); b != nil {
			out = append(out, Named{p.Name + ".momentum_buffer", FromSlice(slices.Clone(b), p.T.Shape...)})
		}
	}
	return out
}

// LoadState replaces the optimizer state with state (as returned by State).
// Parameters absent from state start without a buffer, as if never stepped.
// Nothing changes if an error is returned.
func (o *SGD) LoadState(state []Named) error {
	bufs := make([][]float32, len(o.params))
	for _, s := range state {
		name, ok := strings.CutSuffix(s.Name, ".momentum_buffer")
		i, known := o.index[name]
		if !ok || !known {
			return fmt.Errorf("load SGD state: unexpected tensor %q", s.Name)
		}
		if o.cfg.Momentum == 0 {
			return fmt.Errorf("load SGD state: tensor %q: optimizer has no momentum", s.Name)
		}
		if err := optCheckShape("SGD", s, o.params[i].T.Shape); err != nil {
			return err
		}
		if bufs[i] != nil {
			return fmt.Errorf("load SGD state: duplicate tensor %q", s.Name)
		}
		bufs[i] = slices.Clone(s.T.Data)
	}
	o.bufs = bufs
	clear(o.dbufs)
	return nil
}

func optCheckShape(opt string, s Named, want []int) error {
	if s.T == nil {
		return fmt.Errorf("load %s state: tensor %q is nil", opt, s.Name)
	}
	if !slices.Equal(s.T.Shape, want) || len(s.T.Data) != numel(want) {
		return fmt.Errorf("load %s state: tensor %q has shape %v, want %v", opt, s.Name, s.T.Shape, want)
	}
	return nil
}
