package nn

// LayerFunc adapts a parameter-free step (ReLU, pooling, flattening) to
// the Layer interface.
type LayerFunc func(g *Graph, x *Tensor) *Tensor

// Forward calls f.
func (f LayerFunc) Forward(g *Graph, x *Tensor) *Tensor { return f(g, x) }

// Sequential runs its layers one after another.
type Sequential struct {
	Layers []Layer
}

// Forward feeds x through every layer in order.
func (s *Sequential) Forward(g *Graph, x *Tensor) *Tensor {
	for _, l := range s.Layers {
		x = l.Forward(g, x)
	}
	return x
}

// Params gathers the parameters of every layer that has some.
func (s *Sequential) Params() []Named {
	var ps []Named
	for _, l := range s.Layers {
		if m, ok := l.(Module); ok {
			ps = append(ps, m.Params()...)
		}
	}
	return ps
}

// Buffers gathers the buffers of every layer that has some.
func (s *Sequential) Buffers() []Named {
	var bs []Named
	for _, l := range s.Layers {
		if m, ok := l.(Module); ok {
			bs = append(bs, m.Buffers()...)
		}
	}
	return bs
}

// RuleLayers lists the layers that carry a learning rule, in order,
// descending into nested containers.
func (s *Sequential) RuleLayers() []RuleLayer {
	var rs []RuleLayer
	for _, l := range s.Layers {
		switch v := l.(type) {
		case RuleLayer:
			rs = append(rs, v)
		case RuleLayerer:
			rs = append(rs, v.RuleLayers()...)
		}
	}
	return rs
}
