package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/bionaslab/bionas/nn/cpu"
)

// parWork is the number of elements a worker must get before a loop is
// split over cores; below it a goroutine costs more than the arithmetic.
const parWork = 1 << 15

// parElems runs fn over [0, n) elements, split over cores when n is large.
func parElems(n int, fn func(lo, hi int)) { cpu.For(n, parWork, fn) }

// parRows runs fn over [0, n) rows (planes, channels) of size elements each.
func parRows(n, size int, fn func(lo, hi int)) {
	cpu.For(n, max(1, parWork/max(size, 1)), fn)
}

// parDot returns Σ a[i]·b[i] in float64, split over cores when long.
func parDot(a, b []float32) float64 {
	part := make([]float64, cpu.Workers())
	used := cpu.ForWorker(len(a), parWork, func(wk, lo, hi int) {
		var s float64
		for i := lo; i < hi; i++ {
			s += float64(a[i]) * float64(b[i])
		}
		part[wk] = s
	})
	var s float64
	for _, v := range part[:used] {
		s += v
	}
	return s
}

// mustSameShape panics, naming op, unless a and b have one shape.
func mustSameShape(op string, a, b *Tensor) {
	if !SameShape(a, b) {
		panic(fmt.Sprintf("nn.%s: shapes %v and %v differ", op, a.Shape, b.Shape))
	}
}

// channelDims splits x (rank ≥ 2, channels on axis 1) into batch, channels
// and the size of one channel plane, so channel ops serve NC and NCHW alike.
func channelDims(op string, x *Tensor) (n, c, inner int) {
	if len(x.Shape) < 2 {
		panic(fmt.Sprintf("nn.%s: want a tensor with a channel axis (N,C,...), got shape %v", op, x.Shape))
	}
	return x.Shape[0], x.Shape[1], numel(x.Shape[2:])
}

// normAxis turns a possibly negative axis into an index, panicking if out of range.
func normAxis(op string, axis int, shape []int) int {
	if axis < 0 {
		axis += len(shape)
	}
	if axis < 0 || axis >= len(shape) {
		panic(fmt.Sprintf("nn.%s: axis out of range for shape %v", op, shape))
	}
	return axis
}

// Add returns a + b (same shapes).
func (g *Graph) Add(a, b *Tensor) *Tensor {
	mustSameShape("Add", a, b)
	if d := deviceOf("Add", a, b); d != nil {
		return g.addDev(d, []*Tensor{a, b})
	}
	y := g.Alloc(a.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = a.Data[i] + b.Data[i]
		}
	})
	if g.Records(a, b) {
		g.Record(y, func() {
			for _, x := range []*Tensor{a, b} {
				if x.NeedsGrad {
					accumulate(x.GradBuf(), y.Grad)
				}
			}
		})
	}
	return y
}

// accumulate adds src into dst.
func accumulate(dst, src []float32) {
	parElems(len(dst), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] += src[i]
		}
	})
}

// Sum returns the elementwise sum of one or more tensors of one shape
// (a DARTS node summing its incoming edges).
func (g *Graph) Sum(xs ...*Tensor) *Tensor { return g.sum(false, xs) }

// SumOwned is Sum for inputs that nothing else consumes (a cell node's
// incoming edges): each input's gradient is the sum's own, so it is shared
// with the sum instead of copied into a buffer of its own. The inputs'
// backward closures must only read their gradients.
func (g *Graph) SumOwned(xs ...*Tensor) *Tensor { return g.sum(true, xs) }

func (g *Graph) sum(owned bool, xs []*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("nn.Sum: no inputs")
	}
	for _, x := range xs[1:] {
		mustSameShape("Sum", xs[0], x)
	}
	if d := deviceOf("Sum", xs...); d != nil {
		return g.addDev(d, xs)
	}
	y := g.Alloc(xs[0].Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for _, x := range xs {
			cpu.Add(y.Data[lo:hi], x.Data[lo:hi]) // (0 + x0) + x1 + …, as before
		}
	})
	if g.Records(xs...) {
		g.Record(y, func() {
			for i, x := range xs {
				if !x.NeedsGrad {
					continue
				}
				if owned && y.Grad != nil && x.Grad == nil && !slices.Contains(xs[:i], x) && !slices.Contains(xs[i+1:], x) {
					x.Grad = y.Grad
					continue
				}
				accumulate(x.GradBuf(), y.Grad)
			}
		})
	}
	return y
}

// Scale returns s·x.
func (g *Graph) Scale(x *Tensor, s float32) *Tensor {
	if d := x.Device(); d != nil {
		return g.scaleDev(d, x, s)
	}
	y := g.Alloc(x.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = s * x.Data[i]
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					dx[i] += s * y.Grad[i]
				}
			})
		})
	}
	return y
}

// ScaleBy returns x·w.Data[i], with gradients to x and to w.Data[i]
// (Σ x·dy): a mixed op weighting an op's output by one softmax(α) entry.
func (g *Graph) ScaleBy(x, w *Tensor, i int) *Tensor {
	if i < 0 || i >= w.Len() {
		panic(fmt.Sprintf("nn.ScaleBy: index %d out of range for weights of shape %v", i, w.Shape))
	}
	if x.OnDevice() || w.OnDevice() {
		// One unit of a weighted sum: the weight is read on the device.
		return g.WeightedSum([]*Tensor{x}, w, [][]int{{i}})
	}
	s := w.Data[i]
	y := g.Alloc(x.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			y.Data[j] = s * x.Data[j]
		}
	})
	if g.Records(x, w) {
		g.Record(y, func() {
			if w.NeedsGrad {
				w.GradBuf()[i] += float32(parDot(x.Data, y.Grad))
			}
			if x.NeedsGrad {
				dx := x.GradBuf()
				parElems(len(dx), func(lo, hi int) {
					for j := lo; j < hi; j++ {
						dx[j] += s * y.Grad[j]
					}
				})
			}
		})
	}
	return y
}

// Mul returns the elementwise product a⊙b (same shapes).
func (g *Graph) Mul(a, b *Tensor) *Tensor {
	mustSameShape("Mul", a, b)
	noDevice("Mul", a, b)
	y := g.Alloc(a.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = a.Data[i] * b.Data[i]
		}
	})
	if g.Records(a, b) {
		g.Record(y, func() {
			// Both gradients in one pass, so a == b (x²) stays correct.
			var da, db []float32
			if a.NeedsGrad {
				da = a.GradBuf()
			}
			if b.NeedsGrad {
				db = b.GradBuf()
			}
			parElems(y.Len(), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					dy := y.Grad[i]
					if da != nil {
						da[i] += dy * b.Data[i]
					}
					if db != nil {
						db[i] += dy * a.Data[i]
					}
				}
			})
		})
	}
	return y
}

// MulChannel returns x (N,C,...) times v (C values) broadcast over channels,
// with gradients to both.
func (g *Graph) MulChannel(x, v *Tensor) *Tensor {
	noDevice("MulChannel", x, v)
	n, c, inner := channelDims("MulChannel", x)
	if v.Len() != c {
		panic(fmt.Sprintf("nn.MulChannel: x of shape %v needs %d channel values, v has shape %v", x.Shape, c, v.Shape))
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, inner, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			s := v.Data[p%c]
			xs, ys := x.Data[p*inner:(p+1)*inner], y.Data[p*inner:(p+1)*inner]
			for i, xv := range xs {
				ys[i] = s * xv
			}
		}
	})
	if g.Records(x, v) {
		g.Record(y, func() {
			var dx, dv []float32
			if x.NeedsGrad {
				dx = x.GradBuf()
			}
			if v.NeedsGrad {
				dv = v.GradBuf()
			}
			// Split over channels: each worker owns dv[c] and its planes.
			parRows(c, n*inner, func(lo, hi int) {
				for ch := lo; ch < hi; ch++ {
					s := v.Data[ch]
					var acc float64
					for b := range n {
						off := (b*c + ch) * inner
						dys := y.Grad[off : off+inner]
						if dx != nil {
							for i, d := range dys {
								dx[off+i] += s * d
							}
						}
						if dv != nil {
							for i, d := range dys {
								acc += float64(d) * float64(x.Data[off+i])
							}
						}
					}
					if dv != nil {
						dv[ch] += float32(acc)
					}
				}
			})
		})
	}
	return y
}

// AddChannel returns x (N,C,...) plus v (C values) broadcast over channels,
// with gradients to both.
func (g *Graph) AddChannel(x, v *Tensor) *Tensor {
	noDevice("AddChannel", x, v)
	n, c, inner := channelDims("AddChannel", x)
	if v.Len() != c {
		panic(fmt.Sprintf("nn.AddChannel: x of shape %v needs %d channel values, v has shape %v", x.Shape, c, v.Shape))
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, inner, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			s := v.Data[p%c]
			xs, ys := x.Data[p*inner:(p+1)*inner], y.Data[p*inner:(p+1)*inner]
			for i, xv := range xs {
				ys[i] = xv + s
			}
		}
	})
	if g.Records(x, v) {
		g.Record(y, func() {
			if x.NeedsGrad {
				accumulate(x.GradBuf(), y.Grad)
			}
			if v.NeedsGrad {
				dv := v.GradBuf()
				parRows(c, n*inner, func(lo, hi int) {
					for ch := lo; ch < hi; ch++ {
						var acc float64
						for b := range n {
							off := (b*c + ch) * inner
							for _, d := range y.Grad[off : off+inner] {
								acc += float64(d)
							}
						}
						dv[ch] += float32(acc)
					}
				})
			}
		})
	}
	return y
}

// Concat joins tensors along axis (negative counts from the end); all other
// dimensions must agree. Axis 1 concatenates NCHW channels.
func (g *Graph) Concat(axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		panic("nn.Concat: no inputs")
	}
	axis = normAxis("Concat", axis, xs[0].Shape)
	shape := slices.Clone(xs[0].Shape)
	shape[axis] = 0
	for _, x := range xs {
		ok := len(x.Shape) == len(shape)
		for d := 0; ok && d < len(shape); d++ {
			ok = d == axis || x.Shape[d] == shape[d]
		}
		if !ok {
			panic(fmt.Sprintf("nn.Concat: shape %v does not match %v off axis %d", x.Shape, xs[0].Shape, axis))
		}
		shape[axis] += x.Shape[axis]
	}
	if d := deviceOf("Concat", xs...); d != nil {
		return g.concatDev(d, axis, shape, xs)
	}
	outer, inner := numel(shape[:axis]), numel(shape[axis+1:])
	row := shape[axis] * inner
	y := g.Alloc(shape...)
	off := 0
	for _, x := range xs {
		chunk := x.Shape[axis] * inner
		for o := range outer {
			copy(y.Data[o*row+off:o*row+off+chunk], x.Data[o*chunk:(o+1)*chunk])
		}
		off += chunk
	}
	if g.Records(xs...) {
		g.Record(y, func() {
			off := 0
			for _, x := range xs {
				chunk := x.Shape[axis] * inner
				if x.NeedsGrad {
					dx := x.GradBuf()
					for o := range outer {
						src := y.Grad[o*row+off : o*row+off+chunk]
						for i, d := range src {
							dx[o*chunk+i] += d
						}
					}
				}
				off += chunk
			}
		})
	}
	return y
}

// SliceAxis returns x restricted to [lo, hi) along axis (a copy).
func (g *Graph) SliceAxis(x *Tensor, axis, lo, hi int) *Tensor {
	axis = normAxis("SliceAxis", axis, x.Shape)
	if lo < 0 || hi > x.Shape[axis] || lo > hi {
		panic(fmt.Sprintf("nn.SliceAxis: range [%d, %d) out of bounds for axis %d of shape %v", lo, hi, axis, x.Shape))
	}
	shape := slices.Clone(x.Shape)
	shape[axis] = hi - lo
	outer, inner := numel(shape[:axis]), numel(shape[axis+1:])
	row, chunk, start := x.Shape[axis]*inner, (hi-lo)*inner, lo*inner
	if d := x.Device(); d != nil {
		return g.gatherDev(d, "nn.SliceAxis", x, shape, view5(outer, chunk), strides5(row, 1), start)
	}
	y := g.Alloc(shape...)
	for o := range outer {
		copy(y.Data[o*chunk:(o+1)*chunk], x.Data[o*row+start:o*row+start+chunk])
	}
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			for o := range outer {
				dst := dx[o*row+start : o*row+start+chunk]
				for i, d := range y.Grad[o*chunk : (o+1)*chunk] {
					dst[i] += d
				}
			}
		})
	}
	return y
}

// Crop returns x[:, :, top:, left:] of an NCHW tensor (FactorizedReduce's
// one-pixel shift).
func (g *Graph) Crop(x *Tensor, top, left int) *Tensor {
	n, c, h, w := x.NCHW("Crop")
	if top < 0 || left < 0 || top >= h || left >= w {
		panic(fmt.Sprintf("nn.Crop: offset (%d, %d) out of range for shape %v", top, left, x.Shape))
	}
	ho, wo := h-top, w-left
	if d := x.Device(); d != nil {
		return g.gatherDev(d, "nn.Crop", x, []int{n, c, ho, wo}, view5(n*c, ho, wo), strides5(h*w, w, 1), top*w+left)
	}
	y := g.Alloc(n, c, ho, wo)
	parRows(n*c, ho*wo, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			for i := range ho {
				src := x.Data[p*h*w+(i+top)*w+left:]
				copy(y.Data[p*ho*wo+i*wo:p*ho*wo+(i+1)*wo], src[:wo])
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, ho*wo, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					for i := range ho {
						dst := dx[p*h*w+(i+top)*w+left:]
						for j, d := range y.Grad[p*ho*wo+i*wo : p*ho*wo+(i+1)*wo] {
							dst[j] += d
						}
					}
				}
			})
		})
	}
	return y
}

// subsampledSize is the length of range(0, n, s): ceil(n/s).
func subsampledSize(n, s int) int { return (n + s - 1) / s }

// Subsample returns x[:, :, ::s, ::s] of an NCHW tensor.
func (g *Graph) Subsample(x *Tensor, s int) *Tensor {
	n, c, h, w := x.NCHW("Subsample")
	if s < 1 {
		panic(fmt.Sprintf("nn.Subsample: step %d < 1 for shape %v", s, x.Shape))
	}
	ho, wo := subsampledSize(h, s), subsampledSize(w, s)
	if d := x.Device(); d != nil {
		return g.gatherDev(d, "nn.Subsample", x, []int{n, c, ho, wo}, view5(n*c, ho, wo), strides5(h*w, s*w, s), 0)
	}
	y := g.AllocFull(n, c, ho, wo)
	parRows(n*c, ho*wo, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			for i := range ho {
				for j := range wo {
					y.Data[(p*ho+i)*wo+j] = x.Data[(p*h+i*s)*w+j*s]
				}
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, ho*wo, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					for i := range ho {
						for j := range wo {
							dx[(p*h+i*s)*w+j*s] += y.Grad[(p*ho+i)*wo+j]
						}
					}
				}
			})
		})
	}
	return y
}

// Zero is DARTS' none op: zeros shaped like x at stride 1, like
// x[:, :, ::stride, ::stride] otherwise. Nothing is recorded, since no
// gradient flows through a constant.
func (g *Graph) Zero(x *Tensor, stride int) *Tensor {
	if stride < 1 {
		panic(fmt.Sprintf("nn.Zero: stride %d < 1 for shape %v", stride, x.Shape))
	}
	shape := x.Shape
	if stride != 1 {
		n, c, h, w := x.NCHW("Zero")
		shape = []int{n, c, subsampledSize(h, stride), subsampledSize(w, stride)}
	}
	if d := x.Device(); d != nil {
		return g.allocOn(d, shape...)
	}
	return g.Alloc(shape...)
}

// ChannelShuffle interleaves channel groups as PC-DARTS does (view as
// N, groups, C/groups, ... and swap the two group axes): input channel c goes
// to output channel (c mod C/groups)·groups + c div (C/groups).
func (g *Graph) ChannelShuffle(x *Tensor, groups int) *Tensor {
	n, c, inner := channelDims("ChannelShuffle", x)
	if groups < 1 || c%groups != 0 {
		panic(fmt.Sprintf("nn.ChannelShuffle: %d groups do not divide the channels of shape %v", groups, x.Shape))
	}
	per := c / groups
	dst := func(ch int) int { return (ch%per)*groups + ch/per }
	if d := x.Device(); d != nil {
		// Output channel pi·groups+gi holds input channel gi·per+pi.
		return g.gatherDev(d, "nn.ChannelShuffle", x, x.Shape, view5(n, per, groups, inner), strides5(c*inner, inner, per*inner, 1), 0)
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, inner, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			b, ch := p/c, p%c
			o := (b*c + dst(ch)) * inner
			copy(y.Data[o:o+inner], x.Data[p*inner:(p+1)*inner])
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, inner, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					b, ch := p/c, p%c
					o := (b*c + dst(ch)) * inner
					for i, d := range y.Grad[o : o+inner] {
						dx[p*inner+i] += d
					}
				}
			})
		})
	}
	return y
}

// Reshape returns x viewed with a new shape (one dimension may be -1, to be
// inferred). The data is shared; the gradient passes through unchanged.
func (g *Graph) Reshape(x *Tensor, shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(fmt.Sprintf("nn.Reshape: bad target shape %v for shape %v", shape, x.Shape))
		default:
			known *= d
		}
	}
	if infer >= 0 && known > 0 && x.Len()%known == 0 {
		shape[infer] = x.Len() / known
	}
	if (infer >= 0 && shape[infer] < 0) || numel(shape) != x.Len() {
		panic(fmt.Sprintf("nn.Reshape: cannot view shape %v as %v", x.Shape, shape))
	}
	y := &Tensor{Shape: shape, Data: x.Data, store: x.store, graph: g}
	if d := x.Device(); d != nil {
		if g.Records(x) {
			g.Record(y, func() {
				mustDev(d, "nn.Reshape backward", d.Axpby(1, y.GradBufDev(), 1, x.GradBufDev(), x.Len()))
			})
		}
		return y
	}
	if g.Records(x) {
		g.Record(y, func() { accumulate(x.GradBuf(), y.Grad) })
	}
	return y
}

// Flatten views x as (N, rest).
func (g *Graph) Flatten(x *Tensor) *Tensor {
	if len(x.Shape) < 1 {
		panic(fmt.Sprintf("nn.Flatten: want a batch axis, got shape %v", x.Shape))
	}
	return g.Reshape(x, x.Shape[0], numel(x.Shape[1:]))
}

// SumAll returns Σ x as a tensor of shape [1].
func (g *Graph) SumAll(x *Tensor) *Tensor {
	return g.reduceAll(x, 1)
}

// Mean returns the mean of x as a tensor of shape [1].
func (g *Graph) Mean(x *Tensor) *Tensor {
	if x.Len() == 0 {
		panic(fmt.Sprintf("nn.Mean: empty tensor of shape %v", x.Shape))
	}
	return g.reduceAll(x, 1/float64(x.Len()))
}

// reduceAll returns scale·Σ x as a scalar tensor.
func (g *Graph) reduceAll(x *Tensor, scale float64) *Tensor {
	if d := x.Device(); d != nil {
		// scale·Σx as a dot product with a constant vector, which backward
		// reuses: dx += dy·scale.
		n := x.Len()
		ones, done := g.scratch(d, n, "a constant vector")
		mustDev(d, "nn.Mean", d.Fill(ones, float32(scale), n))
		y := g.allocOn(d, 1)
		mustDev(d, "nn.Mean", d.DotAt(x.Buf(), ones, n, y.Buf(), 0))
		if !g.Records(x) {
			done()
			return y
		}
		g.Record(y, func() {
			mustDev(d, "nn.Mean backward", d.ScaleAt(y.GradBufDev(), 0, ones, 1, x.GradBufDev(), n))
		})
		return y
	}
	part := make([]float64, cpu.Workers())
	used := cpu.ForWorker(x.Len(), parWork, func(wk, lo, hi int) {
		var s float64
		for _, v := range x.Data[lo:hi] {
			s += float64(v)
		}
		part[wk] = s
	})
	var s float64
	for _, v := range part[:used] {
		s += v
	}
	y := g.Alloc(1)
	y.Data[0] = float32(s * scale)
	if g.Records(x) {
		g.Record(y, func() {
			d := float32(float64(y.Grad[0]) * scale)
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					dx[i] += d
				}
			})
		})
	}
	return y
}

// Normalize returns (x − mean[c]) / std[c] per channel of x (N,C,...), with
// a gradient to x only. Models normalise inside, so attacks work in [0,1]
// pixels.
func (g *Graph) Normalize(x *Tensor, mean, std []float32) *Tensor {
	n, c, inner := channelDims("Normalize", x)
	if len(mean) != c || len(std) != c {
		panic(fmt.Sprintf("nn.Normalize: x of shape %v needs %d means and stds, got %d and %d", x.Shape, c, len(mean), len(std)))
	}
	inv := make([]float32, c)
	for i, s := range std {
		if s == 0 || math.IsNaN(float64(s)) {
			panic(fmt.Sprintf("nn.Normalize: std[%d] = %v", i, s))
		}
		inv[i] = 1 / s
	}
	if d := x.Device(); d != nil {
		return g.normalizeDev(d, x, n, c, inner, mean, inv)
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, inner, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			m, k := mean[p%c], inv[p%c]
			for i := p * inner; i < (p+1)*inner; i++ {
				y.Data[i] = (x.Data[i] - m) * k
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, inner, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					k := inv[p%c]
					for i := p * inner; i < (p+1)*inner; i++ {
						dx[i] += y.Grad[i] * k
					}
				}
			})
		})
	}
	return y
}
