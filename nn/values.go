package nn

import "fmt"

// Value arithmetic outside any graph, where a tensor's values live: the
// host loops for host tensors, one device kernel each for device tensors.
// Searches use them for what is not a forward op (second-order DARTS'
// virtual step, state snapshots around a recomputation), so that a
// device-resident supernet never comes home for them.

// Alias returns a leaf tensor that shares t's values and, when grad is
// set, t's gradient (allocated zeroed on t first): a graph that takes the
// alias as an input adds its gradient straight into t's. The alias has no
// graph of its own, so a fresh graph treats it as a leaf.
func (t *Tensor) Alias(grad bool) *Tensor {
	a := &Tensor{Shape: t.Shape, Data: t.Data, store: t.store, NeedsGrad: grad}
	if !grad {
		return a
	}
	if t.store != nil {
		t.GradBufDev()
		a.gstore = t.gstore
		return a
	}
	a.Grad = t.GradBuf()
	return a
}

// GradTensor returns a tensor whose values are t's gradient (shared, not
// copied), or nil when no gradient has reached t.
func (t *Tensor) GradTensor() *Tensor {
	if t.store != nil {
		if t.gstore == nil {
			return nil
		}
		return &Tensor{Shape: t.Shape, store: t.gstore}
	}
	if t.Grad == nil {
		return nil
	}
	return &Tensor{Shape: t.Shape, Data: t.Grad}
}

// CloneOn returns a copy of t's values on t's own device (a device copy,
// never through the host), as step memory of g when g is not nil.
func CloneOn(g *Graph, t *Tensor) *Tensor {
	d := t.Device()
	if d == nil {
		out := g.Alloc(t.Shape...)
		copy(out.Data, t.Data)
		return out
	}
	out := g.allocOn(d, t.Shape...)
	out.graph = nil // a copy of values, not an op output
	mustDev(d, "nn.CloneOn", d.Axpby(1, t.store.buf, 0, out.store.buf, t.Len()))
	return out
}

// CopyValues writes src's values into dst (same device, same size).
func CopyValues(dst, src *Tensor) {
	if dst.Len() != src.Len() {
		panic(fmt.Sprintf("nn.CopyValues: %v into %v", src.Shape, dst.Shape))
	}
	if d := deviceOf("CopyValues", dst, src); d != nil {
		mustDev(d, "nn.CopyValues", d.Axpby(1, src.store.buf, 0, dst.store.buf, dst.Len()))
		return
	}
	copy(dst.Data, src.Data)
}

// Axpby sets y = a·x + b·y over the values of x and y (same device, same
// size); x may be nil when a is 0.
func Axpby(a float32, x *Tensor, b float32, y *Tensor) {
	if x != nil && x.Len() != y.Len() {
		panic(fmt.Sprintf("nn.Axpby: x %v and y %v", x.Shape, y.Shape))
	}
	if d := deviceOf("Axpby", x, y); d != nil {
		var xb Buffer
		if x != nil {
			xb = x.store.buf
		}
		mustDev(d, "nn.Axpby", d.Axpby(a, xb, b, y.store.buf, y.Len()))
		return
	}
	for i := range y.Data {
		v := b * y.Data[i]
		if b == 0 {
			v = 0
		}
		if x != nil && a != 0 {
			v += a * x.Data[i]
		}
		y.Data[i] = v
	}
}

// GradSumSquares returns Σ g² over the gradients of ts (nil tensors and
// tensors without a gradient count 0): summed where they live, one value
// read back from a device.
func GradSumSquares(ts []*Tensor) float64 {
	var sum float64
	var dev Device
	var onDev []*Tensor
	for _, t := range ts {
		if t == nil {
			continue
		}
		if d := t.Device(); d != nil {
			dev = d
			onDev = append(onDev, t)
			continue
		}
		for _, g := range t.Grad {
			sum += float64(g) * float64(g)
		}
	}
	if dev != nil {
		sum += sumSquaresOn(dev, onDev)
	}
	return sum
}

// AxpyAt adds w[k]·x to y, with the weight read where w lives (on a
// device it never comes to the host): a mixed op's α-weighted sum, one
// unit at a time.
func AxpyAt(w *Tensor, k int, x, y *Tensor) {
	if x.Len() != y.Len() || k < 0 || k >= w.Len() {
		panic(fmt.Sprintf("nn.AxpyAt: weight %d of %v, x %v, y %v", k, w.Shape, x.Shape, y.Shape))
	}
	if d := deviceOf("AxpyAt", w, x, y); d != nil {
		mustDev(d, "nn.AxpyAt", d.ScaleAt(w.store.buf, k, x.store.buf, 1, y.store.buf, y.Len()))
		return
	}
	a := w.Data[k]
	for i, v := range x.Data {
		y.Data[i] += a * v
	}
}

// DotAt adds Σ x·y to dst[k], summed where the tensors live: the α
// gradient ⟨∂L/∂out, unit(x)⟩ of a mixed op.
func DotAt(x, y, dst *Tensor, k int) {
	if x.Len() != y.Len() || k < 0 || k >= dst.Len() {
		panic(fmt.Sprintf("nn.DotAt: x %v, y %v, value %d of %v", x.Shape, y.Shape, k, dst.Shape))
	}
	if d := deviceOf("DotAt", x, y, dst); d != nil {
		mustDev(d, "nn.DotAt", d.DotAt(x.store.buf, y.store.buf, x.Len(), dst.store.buf, k))
		return
	}
	dst.Data[k] += float32(parDot(x.Data, y.Data))
}
