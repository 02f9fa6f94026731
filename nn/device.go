package nn

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
)

// A tensor's values live in one place: host memory (Tensor.Data, the
// default and what every CPU kernel reads) or the memory of a Device. Ops
// run where their inputs are: an op whose inputs are on a device computes
// there with the device's kernels and leaves its output and, in backward,
// the gradients there too. Nothing moves between host and device unless
// code asks for values (Tensor.Values, GradValues: losses, accuracies,
// snapshots, checkpoints) or moves a tensor (ToDevice, MoveTo, and the
// recorded transfers Graph.ToDevice and Graph.ToHost).
//
// A device tensor has nil Data and Grad; reading them is a bug that shows
// as an index out of range, never as stale values.

// Buffer is a device allocation of float32 values, made by a Device. Its
// contents are only reachable through the device's methods.
type Buffer interface{ Len() int }

// Device is memory plus the kernels that the ops of this package run on
// it. The CUDA device of package nn/cuda (built with -tags cuda) is one.
// Every method takes whole buffers and value counts; an error means the
// device failed (ops turn it into a panic naming the layer, because a
// forward or backward pass cannot go on without the result).
type Device interface {
	Name() string

	// Alloc returns n values, all zero. Release hands a buffer back (to a
	// cache, so a warm training step allocates nothing).
	Alloc(n int) (Buffer, error)
	Release(b Buffer)
	// Fill sets n values of b to v.
	Fill(b Buffer, v float32, n int) error
	// Upload copies src into dst from value off; Download the reverse.
	Upload(dst Buffer, off int, src []float32) error
	Download(dst []float32, src Buffer, off int) error

	// Conv writes out = conv(x, w), no bias. ConvBackward adds convᵀ(dy, b)
	// to dx (b is W or the rule's B) and the weight gradient dy ⋆ x to dw;
	// dx or dw may be nil.
	Conv(s ConvShape, x, w, out Buffer) error
	ConvBackward(s ConvShape, x, dy, b, dx, dw Buffer) error
	// Gemm is C = alpha·op(A)·op(B) + beta·C on row-major matrices.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Buffer, lda int, b Buffer, ldb int, beta float32, c Buffer, ldc int) error
	// Copy moves a strided block (see CopyView), adding when accumulate.
	Copy(v CopyView, dst, src Buffer, accumulate bool) error
	// Axpby is y = a·x + b·y over n values (b = 0 never reads y).
	Axpby(a float32, x Buffer, b float32, y Buffer, n int) error
	// ScaleAt is y = w[i]·x + beta·y: one α weight read where it lives.
	ScaleAt(w Buffer, i int, x Buffer, beta float32, y Buffer, n int) error
	// DotAt adds Σ x·y over n values to dst[i].
	DotAt(x, y Buffer, n int, dst Buffer, i int) error
	// MulRows is y (+)= x·mask[u] for rows u of size values.
	MulRows(x, mask Buffer, rows, size int, y Buffer, accumulate bool) error
	ReLU(x, y Buffer, n int) error
	// ReLUBackward adds dy to dx where y > 0.
	ReLUBackward(y, dy, dx Buffer, n int) error
	// AddBias adds b[c] to channel c of out (n, c, plane); BiasGrad adds
	// dy summed over batch and plane to db.
	AddBias(out, b Buffer, n, c, plane int) error
	BiasGrad(dy, db Buffer, n, c, plane int) error
	// MaxPool writes y and, per output, the plane index of its maximum
	// into arg (int32 values in a float32-sized buffer).
	MaxPool(p PoolShape, x, y, arg Buffer) error
	MaxPoolBackward(p PoolShape, dy, arg, dx Buffer) error
	AvgPool(p PoolShape, x, y Buffer, includePad bool) error
	AvgPoolBackward(p PoolShape, dy, dx Buffer, includePad bool) error
	// PlaneMean writes y[p] = mean of plane p of x; its backward adds
	// dy[p]/size to every value of plane p.
	PlaneMean(x, y Buffer, planes, size int) error
	PlaneMeanBackward(dy, dx Buffer, planes, size int) error
	// BatchNormStats writes the per-channel batch mean and biased variance
	// of x (n, c, plane); BatchNormRunning moves the running statistics by
	// momentum (the variance unbiased over m values); BatchNormApply writes
	// xhat (may be nil) and y = w·xhat + b (w, b may be nil), then max(y, 0)
	// when relu.
	BatchNormStats(x, mean, variance Buffer, n, c, plane int) error
	BatchNormRunning(mean, variance, runMean, runVar Buffer, c int, momentum float32, m int) error
	BatchNormApply(x, mean, variance, w, b, xhat, y Buffer, eps float32, n, c, plane int, relu bool) error
	// BatchNormBackward adds dx (through the batch statistics when train)
	// and Σdy·x̂ to dw, Σdy to db (each may be nil).
	BatchNormBackward(dy, xhat, variance, w, dx, dw, db Buffer, eps float32, train bool, n, c, plane int) error
	// SoftmaxCrossEntropy writes each row's smoothed cross-entropy to
	// losses (rows values) and gscale·(softmax − q) to dlogits.
	SoftmaxCrossEntropy(logits Buffer, labels []int32, rows, k int, smoothing, gscale float32, losses, dlogits Buffer) error
	// SGD is one step of SGDConfig's update on n values (momentum buffer
	// mom; first marks its first use).
	SGD(p, grad, mom Buffer, n int, lr, momentum, dampening, weightDecay float32, nesterov, first bool) error
	// Adam is one step of AdamConfig's update; bc1, bc2 are 1−β^t.
	Adam(p, grad, m, v Buffer, n int, lr, beta1, beta2, eps, weightDecay, bc1, bc2 float32) error
	// ChannelAffine is y (+)= x·k[c] + b[c] over (n, c, plane); b may be nil.
	ChannelAffine(x, k, b, y Buffer, n, c, plane int, accumulate bool) error
	// USF writes b = scale·Sign(w); RSF writes b = |r|·Sign(w).
	USF(w, b Buffer, scale float32, n int) error
	RSF(w, r, b Buffer, n int) error
	// Softmax writes the softmax of each row of (rows, k) x; its backward
	// adds y·(dy − Σ dy·y) to dx.
	Softmax(x, y Buffer, rows, k int) error
	SoftmaxBackward(y, dy, dx Buffer, rows, k int) error
	// DFATaps adds, for every (image, channel) plane of dx, the tap values
	// v[plane·KH·KW + tap] at the pixels each tap reaches (the transposed
	// convolution of a spatially constant error; s is the layer's shape).
	DFATaps(s ConvShape, v, dx Buffer) error
}

// CopyView is a strided block of up to 5 axes: for every index i of Dims,
// dst[DstOff + Σ iₖ·DstStride[k]] = src[SrcOff + Σ iₖ·SrcStride[k]]. The
// destination positions must be distinct (every view here is injective).
type CopyView struct {
	Dims                 [5]int
	DstStride, SrcStride [5]int
	DstOff, SrcOff       int
}

// Len is the number of values the view moves.
func (v CopyView) Len() int { return v.Dims[0] * v.Dims[1] * v.Dims[2] * v.Dims[3] * v.Dims[4] }

// PoolShape is an NCHW pooling window: K×K, stride, zero padding, and the
// output size.
type PoolShape struct{ N, C, H, W, K, Stride, Pad, Ho, Wo int }

// storage is one device allocation, shared by a tensor and its views
// (Reshape). cell is what frees it: once, by whoever comes first — the
// graph that lent it (Graph.Release) or the garbage collector.
type storage struct {
	dev  Device
	buf  Buffer
	cell *bufCell
}

type bufCell struct {
	dev   Device
	buf   Buffer
	freed atomic.Bool
}

func (c *bufCell) free() {
	if c.freed.CompareAndSwap(false, true) {
		c.dev.Release(c.buf)
	}
}

// newStorage allocates n zeroed values on d; an allocation that fails
// panics with what it was for.
func newStorage(d Device, n int, what string) *storage {
	b, err := d.Alloc(n)
	if err != nil {
		panic(fmt.Errorf("nn: allocate %d values for %s on %s: %w", n, what, d.Name(), err))
	}
	s := &storage{dev: d, buf: b, cell: &bufCell{dev: d, buf: b}}
	// Device memory is invisible to the collector: whatever no graph
	// releases goes back to the device when its last tensor is gone.
	runtime.AddCleanup(s, func(c *bufCell) { c.free() }, s.cell)
	return s
}

// Device is where t's values live: nil for host memory.
func (t *Tensor) Device() Device {
	if t.store == nil {
		return nil
	}
	return t.store.dev
}

// OnDevice reports whether t's values live on a device.
func (t *Tensor) OnDevice() bool { return t.store != nil }

// Buf is t's device buffer (nil for a host tensor); for Device
// implementations and code that calls their kernels directly.
func (t *Tensor) Buf() Buffer {
	if t.store == nil {
		return nil
	}
	return t.store.buf
}

// GradBufDev is t's device gradient buffer, allocated zeroed on first use
// (from the graph that made t, else on its own): the device twin of
// GradBuf.
func (t *Tensor) GradBufDev() Buffer {
	if t.gstore == nil {
		t.gstore = newStorage(t.store.dev, t.Len(), "a gradient")
		if t.graph != nil {
			t.graph.hold(t.gstore)
		}
	}
	return t.gstore.buf
}

// HasGrad reports whether a gradient has reached t, on either side.
func (t *Tensor) HasGrad() bool { return t.Grad != nil || t.gstore != nil }

// Values returns t's values on the host: Data itself for a host tensor,
// else a copy read from the device (one download).
func (t *Tensor) Values() []float32 {
	if t.store == nil {
		return t.Data
	}
	return t.download(t.store, "tensor")
}

// GradValues returns t's gradient on the host (nil if none reached it):
// Grad itself for a host tensor, else a copy read from the device.
func (t *Tensor) GradValues() []float32 {
	if t.store == nil || t.gstore == nil {
		return t.Grad
	}
	return t.download(t.gstore, "gradient")
}

// download reads s, one of t's device allocations, into a fresh slice.
func (t *Tensor) download(s *storage, what string) []float32 {
	h := make([]float32, t.Len())
	if err := s.dev.Download(h, s.buf, 0); err != nil {
		panic(fmt.Errorf("nn: read %s %v from %s: %w", what, t.Shape, s.dev.Name(), err))
	}
	return h
}

// ToDevice returns a copy of t on d (d nil: on the host). The copy has no
// gradient and keeps NeedsGrad.
func ToDevice(t *Tensor, d Device) *Tensor {
	out := &Tensor{Shape: slices.Clone(t.Shape), NeedsGrad: t.NeedsGrad}
	vals := t.Values()
	if d == nil {
		if t.store == nil {
			vals = slices.Clone(vals) // Values is Data itself on the host
		}
		out.Data = vals
		return out
	}
	out.store = newStorage(d, t.Len(), "a tensor copy")
	if err := d.Upload(out.store.buf, 0, vals); err != nil {
		panic(fmt.Errorf("nn: copy tensor %v to %s: %w", t.Shape, d.Name(), err))
	}
	return out
}

// MoveTo moves t's values and gradient to d (nil: the host) in place, for
// parameters and buffers that must live where the model computes.
func (t *Tensor) MoveTo(d Device) error {
	if t.Device() == d {
		return nil
	}
	vals, grad := t.Values(), t.GradValues() // host slices t gives up, or fresh copies
	t.store, t.gstore, t.Data, t.Grad, t.graph = nil, nil, nil, nil, nil
	if d == nil {
		t.Data, t.Grad = vals, grad
		return nil
	}
	t.store = newStorage(d, len(vals), "a parameter")
	if err := d.Upload(t.store.buf, 0, vals); err != nil {
		return fmt.Errorf("move tensor %v to %s: %w", t.Shape, d.Name(), err)
	}
	if grad != nil {
		t.gstore = newStorage(d, len(grad), "a gradient")
		if err := d.Upload(t.gstore.buf, 0, grad); err != nil {
			return fmt.Errorf("move gradient %v to %s: %w", t.Shape, d.Name(), err)
		}
	}
	return nil
}

// MoveModule moves every parameter and buffer of m to d (nil: the host).
func MoveModule(m Module, d Device) error {
	for _, list := range [][]Named{m.Params(), m.Buffers()} {
		for _, p := range list {
			if err := p.T.MoveTo(d); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
	}
	return nil
}

// zeroGradDev clears a device gradient.
func (t *Tensor) zeroGradDev() {
	if t.gstore != nil {
		mustDev(t.store.dev, "zero a gradient", t.store.dev.Fill(t.gstore.buf, 0, t.Len()))
	}
}

// deviceOf returns the device that ops on ts run on: the one their values
// live on (nil: the host). Inputs on different devices are a bug in the
// caller, reported with the op's name.
func deviceOf(op string, ts ...*Tensor) Device {
	var d Device
	first := true
	for _, t := range ts {
		if t == nil {
			continue
		}
		td := t.Device()
		if first {
			d, first = td, false
			continue
		}
		if td != d {
			panic(fmt.Sprintf("nn.%s: inputs on %s and %s; move them to one device first (nn.ToDevice, Graph.ToDevice)", op, devName(d), devName(td)))
		}
	}
	return d
}

func devName(d Device) string {
	if d == nil {
		return "cpu"
	}
	return d.Name()
}

// noDevice panics, naming the op, when an op without device kernels gets
// a device tensor: it never runs on the CPU behind the caller's back.
func noDevice(op string, ts ...*Tensor) {
	for _, t := range ts {
		if t != nil && t.store != nil {
			panic(fmt.Sprintf("nn.%s has no kernels for %s; run this model on the cpu (--device cpu)", op, t.store.dev.Name()))
		}
	}
}

// mustDev turns a device failure into a panic naming what failed.
func mustDev(d Device, what string, err error) {
	if err != nil {
		panic(fmt.Errorf("%s on %s: %w", what, d.Name(), err))
	}
}

// allocOn returns an output tensor of shape on d, from g's step memory
// when g is not nil (Graph.Release gives it back).
func (g *Graph) allocOn(d Device, shape ...int) *Tensor {
	t := &Tensor{Shape: slices.Clone(shape)}
	t.store = newStorage(d, numel(shape), "an op output")
	if g != nil {
		g.hold(t.store)
		t.graph = g
	}
	return t
}

// scratch returns n zeroed values on d for one op: held until g is
// released when g records, else freed by done once the op's kernels are
// queued (the device runs them in order, so a later borrower cannot
// overtake them).
func (g *Graph) scratch(d Device, n int, what string) (b Buffer, done func()) {
	s := newStorage(d, n, what)
	if g != nil {
		g.hold(s)
		return s.buf, func() {}
	}
	// done keeps s reachable until the caller's kernels are queued.
	return s.buf, func() { s.cell.free() }
}

// hold records s as step memory of g.
func (g *Graph) hold(s *storage) {
	// The storage itself, not only its cell: scratch that a recorded
	// backward still needs has no tensor to keep it reachable, and the
	// collector's cleanup must not free it before Release.
	g.mu.Lock()
	g.held = append(g.held, s)
	g.mu.Unlock()
}

// Release hands the device memory of every tensor this graph's ops made
// (outputs, gradients, scratch) back to its device, and the host buffers
// its Arena lent back to their pool. Call it once a step's values have been
// read; the graph's tensors are dead afterwards.
func (g *Graph) Release() {
	if g == nil {
		return
	}
	if g.Arena != nil {
		g.Arena.Reset()
	}
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.mu.Unlock()
	for _, s := range held {
		s.cell.free()
	}
}

// uploadScratch copies h to fresh device memory for one op (random masks,
// brSF draws): an explicit host→device copy; done as for scratch.
func (g *Graph) uploadScratch(d Device, h []float32, what string) (Buffer, func()) {
	b, done := g.scratch(d, len(h), what)
	mustDev(d, "copy "+what, d.Upload(b, 0, h))
	return b, done
}

// ToDevice moves x to d as a recorded op: its gradient comes back to x's
// side in backward. A model whose weights live on d takes host batches
// through it (nn.OnDevice).
func (g *Graph) ToDevice(x *Tensor, d Device) *Tensor {
	if x.Device() == d {
		return x
	}
	y := ToDevice(x, d)
	y.NeedsGrad = false
	if g != nil {
		if y.store != nil {
			g.hold(y.store)
			y.graph = g
		}
		if g.Records(x) {
			g.Record(y, func() {
				dy := y.GradValues()
				if x.store == nil {
					accumulate(x.GradBuf(), dy)
					return
				}
				tmp := ToDevice(FromSlice(dy, y.Shape...), x.store.dev)
				mustDev(x.store.dev, "ToDevice backward", x.store.dev.Axpby(1, tmp.store.buf, 1, x.GradBufDev(), x.Len()))
			})
		}
	}
	return y
}

// ToHost is ToDevice(x, nil).
func (g *Graph) ToHost(x *Tensor) *Tensor { return g.ToDevice(x, nil) }

// Drive moves the parameters and buffers of m to d and returns m wrapped
// by OnDevice, so that code working on host tensors (attacks) drives it
// there; with d nil it returns m itself.
func Drive(m interface {
	Layer
	Module
}, d Device) (Layer, error) {
	if d == nil {
		return m, nil
	}
	if err := MoveModule(m, d); err != nil {
		return nil, err
	}
	return OnDevice(m, d), nil
}

// OnDevice wraps a layer whose parameters live on d so that it takes and
// returns host tensors: the input goes to d, the output comes back, and
// gradients follow both ways. Attacks drive device models through it. The
// wrapper is a Module with l's parameters and buffers when l is one.
func OnDevice(l Layer, d Device) Layer { return &onDevice{l: l, d: d} }

type onDevice struct {
	l Layer
	d Device
}

func (o *onDevice) Forward(g *Graph, x *Tensor) *Tensor {
	if g == nil {
		// Inference: the device memory goes back as soon as the output is home.
		g = NewInference()
		defer g.Release()
	}
	return g.ToHost(o.l.Forward(g, g.ToDevice(x, o.d)))
}

func (o *onDevice) Params() []Named {
	if m, ok := o.l.(Module); ok {
		return m.Params()
	}
	return nil
}

func (o *onDevice) Buffers() []Named {
	if m, ok := o.l.(Module); ok {
		return m.Buffers()
	}
	return nil
}
