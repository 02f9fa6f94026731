// Package nn is the engine: float32 NCHW tensors, ops with forward and
// backward side by side, parametric layers that each carry a feedback rule,
// optimizers, schedules, initialisers and safetensors I/O.
//
// Autograd is a tape: every op run on a recording *Graph appends a closure
// that, walked in reverse by Graph.Backward, turns the gradient of its output
// into gradients of its inputs. A nil *Graph runs ops for inference only.
package nn

import (
	"fmt"
	"slices"

	"github.com/bionaslab/bionas/nn/cpu"
)

// Tensor is a dense float32 array in row-major order; images are NCHW.
// Grad has the same length as Data once some gradient reached the tensor.
type Tensor struct {
	Shape []int
	Data  []float32
	Grad  []float32
	// NeedsGrad marks leaves whose gradient is wanted (parameters, attacked
	// inputs). Op outputs inherit it from their inputs on a recording graph.
	NeedsGrad bool

	arena *Arena // where Data came from and Grad will (Graph.Alloc)

	// store holds the values of a device tensor (Data is nil then) and
	// gstore its gradient; graph is the graph whose step memory they are.
	store, gstore *storage
	graph         *Graph
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, numel(shape))}
}

// FromSlice wraps data (not copied) as a tensor of the given shape.
// It panics if the sizes disagree.
func FromSlice(data []float32, shape ...int) *Tensor {
	if numel(shape) != len(data) {
		panic(fmt.Sprintf("nn.FromSlice: shape %v needs %d values, got %d", shape, numel(shape), len(data)))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Param returns a new zero tensor that needs gradients.
func Param(shape ...int) *Tensor {
	t := New(shape...)
	t.NeedsGrad = true
	return t
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	if t.store != nil {
		return numel(t.Shape)
	}
	return len(t.Data)
}

// Dim returns the size of axis i (negative counts from the end).
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone copies data and shape (not the gradient), on t's device.
func (t *Tensor) Clone() *Tensor {
	if t.store != nil {
		c := CloneOn(nil, t) // a device copy: never through the host
		c.Shape, c.NeedsGrad = slices.Clone(t.Shape), t.NeedsGrad
		return c
	}
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data), NeedsGrad: t.NeedsGrad}
}

// Detached returns a tensor sharing t's data but with no gradient link.
func (t *Tensor) Detached() *Tensor { return &Tensor{Shape: t.Shape, Data: t.Data, store: t.store} }

// ZeroGrad drops the accumulated gradient (keeping its storage).
func (t *Tensor) ZeroGrad() {
	cpu.ClearParallel(t.Grad)
	t.zeroGradDev()
}

// GradBuf returns t.Grad, allocating it zeroed on first use. Backward
// closures accumulate into it.
func (t *Tensor) GradBuf() []float32 {
	if t.Grad == nil {
		if t.arena != nil {
			t.Grad = t.arena.Get(len(t.Data))
		} else {
			t.Grad = make([]float32, len(t.Data))
		}
	}
	return t.Grad
}

// gradForWrite returns t's gradient buffer and whether this call made it.
// A buffer it makes is lent unzeroed from t's arena, so the caller must
// write every value of it (overwrite, not accumulate): the first backward
// op to reach an arena tensor saves the zeroing pass over it, which at
// batch scale is a memory pass as long as the op's own.
func (t *Tensor) gradForWrite() (grad []float32, fresh bool) {
	if t.Grad != nil {
		return t.Grad, false
	}
	if t.arena != nil {
		t.Grad = t.arena.get(len(t.Data), false)
	} else {
		t.Grad = make([]float32, len(t.Data))
	}
	return t.Grad, true
}

// NCHW returns the four dimensions of an image batch, panicking with the
// caller's op name if t is not 4-D.
func (t *Tensor) NCHW(op string) (n, c, h, w int) {
	if len(t.Shape) != 4 {
		panic(fmt.Sprintf("nn.%s: want an NCHW tensor, got shape %v", op, t.Shape))
	}
	return t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.Shape, b.Shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("nn: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}
