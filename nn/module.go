package nn

import "github.com/bionaslab/bionas/nn/rule"

// Named is a tensor with the stable name under which optimizers, checkpoints
// and the UI know it, e.g. "cells.3.edge2.sep_conv_3x3:fa.dw1.weight".
type Named struct {
	Name string
	T    *Tensor
}

// Layer is anything that maps a tensor to a tensor.
type Layer interface {
	Forward(g *Graph, x *Tensor) *Tensor
}

// Module is a layer or container that owns state. Params lists the
// trainable tensors, Buffers the non-trainable state that a checkpoint must
// keep (BatchNorm running statistics, Hebbian weights). Names are full
// paths, unique within a model.
type Module interface {
	Params() []Named
	Buffers() []Named
}

// Tensors returns the bare tensors of a list of named tensors.
func Tensors(ns []Named) []*Tensor {
	ts := make([]*Tensor, len(ns))
	for i, n := range ns {
		ts[i] = n.T
	}
	return ts
}

// Join concatenates a name prefix and a suffix with a dot, skipping an
// empty prefix.
func Join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// ParamsOf gathers the parameters of several modules in order.
func ParamsOf(ms ...Module) []Named {
	var out []Named
	for _, m := range ms {
		if m != nil {
			out = append(out, m.Params()...)
		}
	}
	return out
}

// BuffersOf gathers the buffers of several modules in order.
func BuffersOf(ms ...Module) []Named {
	var out []Named
	for _, m := range ms {
		if m != nil {
			out = append(out, m.Buffers()...)
		}
	}
	return out
}

// RuleLayer is a parametric layer whose backward path follows a learning
// rule that can be read and changed in place (conv and linear layers).
type RuleLayer interface {
	Module
	Layer
	LayerName() string
	Rule() rule.Rule
	SetRule(rule.Rule) error
	FeedbackState() FeedbackState
	RestoreFeedback(FeedbackState) error
}

// RuleLayerer is implemented by containers that can list their rule layers
// in a stable order.
type RuleLayerer interface {
	RuleLayers() []RuleLayer
}

// SetAllRules switches every rule layer of m to r, keeping the weights.
func SetAllRules(m RuleLayerer, r rule.Rule) error {
	for _, l := range m.RuleLayers() {
		if err := l.SetRule(r); err != nil {
			return err
		}
	}
	return nil
}
