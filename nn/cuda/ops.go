//go:build cuda

package cuda

import (
	"fmt"
)

// This file holds host-slice entry points to the kernels of pooling,
// BatchNorm, ReLU, softmax cross-entropy, elementwise ops, reductions and
// the feedback-rule B constructions: the device check compares each with
// its CPU op in package nn (training runs them through Resident).

// stage collects the device buffers of one host-slice op: what to upload,
// what to bring back after the kernels, and the first error (sticky, so an
// op reads as a straight list of steps).
type stage struct {
	d     *Device
	bufs  []buf
	fetch []func() error
	err   error
}

// staged runs f inside d.do, then waits for the kernels, copies the outputs
// back and frees every buffer.
func (d *Device) staged(what string, f func(s *stage)) error {
	err := d.do(func() error {
		s := &stage{d: d}
		defer func() { d.release(s.bufs...) }()
		f(s)
		if s.err != nil {
			return s.err
		}
		if err := d.sync(what); err != nil {
			return err
		}
		for _, get := range s.fetch {
			if err := get(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *stage) keep(b buf, err error) buf {
	if err != nil && s.err == nil {
		s.err = err
	}
	if err == nil {
		s.bufs = append(s.bufs, b)
	}
	return b
}

// in uploads h (nil h: a null pointer, for the kernels' optional operands).
func (s *stage) in(h []float32) buf {
	if s.err != nil || h == nil {
		return buf{}
	}
	return s.keep(s.d.upload(h, len(h)))
}

// inout uploads h and copies it back after the kernels (accumulating outputs).
func (s *stage) inout(h []float32) buf {
	b := s.in(h)
	if h != nil {
		s.fetch = append(s.fetch, func() error { return s.d.download(h, b) })
	}
	return b
}

// out allocates room for h and copies it back after the kernels.
func (s *stage) out(h []float32) buf {
	if s.err != nil {
		return buf{}
	}
	b := s.keep(s.d.alloc(len(h)))
	s.fetch = append(s.fetch, func() error { return s.d.download(h, b) })
	return b
}

func (s *stage) ints(h []int32) buf {
	if s.err != nil {
		return buf{}
	}
	return s.keep(s.d.uploadInts(h))
}

func (s *stage) intsOut(h []int32) buf {
	if s.err != nil {
		return buf{}
	}
	b := s.keep(s.d.alloc(len(h)))
	s.fetch = append(s.fetch, func() error { return s.d.downloadInts(h, b) })
	return b
}

// grid launches a grid-stride kernel over n values.
func (s *stage) grid(name string, n int, args ...any) {
	if s.err != nil {
		return
	}
	gr, bl := grid1(n)
	s.err = s.d.launch(name, gr, bl, args...)
}

// blocks launches a kernel with one 256-thread block per item.
func (s *stage) blocks(name string, items int, args ...any) {
	if s.err != nil {
		return
	}
	s.err = s.d.launch(name, dim3{items, 1, 1}, dim3{256, 1, 1}, args...)
}

// PoolShape is an NCHW pooling window: k×k, stride, zero padding.
type PoolShape struct{ N, C, H, W, K, Stride, Pad int }

// Out is the output size floor((H+2·pad−k)/stride)+1, as nn.
func (p PoolShape) Out() (ho, wo int) {
	return (p.H+2*p.Pad-p.K)/p.Stride + 1, (p.W+2*p.Pad-p.K)/p.Stride + 1
}

func (p PoolShape) args() []any {
	ho, wo := p.Out()
	return []any{p.N, p.C, p.H, p.W, p.K, p.Stride, p.Pad, ho, wo}
}

func (p PoolShape) outLen() int { ho, wo := p.Out(); return p.N * p.C * ho * wo }

// MaxPool2d is nn's MaxPool2d forward: y and, per output, the index of its
// source within its plane (the first maximum in row-major order).
func (d *Device) MaxPool2d(p PoolShape, x []float32) (y []float32, arg []int32, err error) {
	y, arg = make([]float32, p.outLen()), make([]int32, p.outLen())
	err = d.staged("max pool forward", func(s *stage) {
		s.grid("max_pool_forward", len(y), append([]any{s.in(x), s.out(y), s.intsOut(arg)}, p.args()...)...)
	})
	return y, arg, err
}

// MaxPool2dBackward adds dy to dx at each window's maximum.
func (d *Device) MaxPool2dBackward(p PoolShape, dy []float32, arg []int32, dx []float32) error {
	return d.staged("max pool backward", func(s *stage) {
		s.grid("max_pool_backward", len(dx), append([]any{s.in(dy), s.ints(arg), s.inout(dx)}, p.args()...)...)
	})
}

// AvgPool2d is nn's AvgPool2d forward; without includePad (DARTS) a
// window's divisor is its number of in-bounds pixels.
func (d *Device) AvgPool2d(p PoolShape, x []float32, includePad bool) ([]float32, error) {
	y := make([]float32, p.outLen())
	err := d.staged("avg pool forward", func(s *stage) {
		s.grid("avg_pool_forward", len(y), append(append([]any{s.in(x), s.out(y)}, p.args()...), includePad)...)
	})
	return y, err
}

// AvgPool2dBackward adds each window's dy/divisor to its pixels in dx.
func (d *Device) AvgPool2dBackward(p PoolShape, dy, dx []float32, includePad bool) error {
	return d.staged("avg pool backward", func(s *stage) {
		s.grid("avg_pool_backward", len(dx), append(append([]any{s.in(dy), s.inout(dx)}, p.args()...), includePad)...)
	})
}

// BatchNorm is the result of a training-mode BatchNorm2d forward: the output,
// the batch mean and biased variance per channel, and x̂ for backward.
type BatchNorm struct{ Y, Mean, Var, XHat []float32 }

// BatchNorm2dTrain normalises x (N, C, plane) with its batch statistics, as
// nn.BatchNorm2d in training (weight and bias nil: no affine).
func (d *Device) BatchNorm2dTrain(x, weight, bias []float32, n, c, plane int, eps float32) (BatchNorm, error) {
	r := BatchNorm{Y: make([]float32, len(x)), Mean: make([]float32, c), Var: make([]float32, c), XHat: make([]float32, len(x))}
	err := d.staged("batchnorm forward", func(s *stage) {
		gx, mean, vr := s.in(x), s.out(r.Mean), s.out(r.Var)
		s.blocks("bn_stats", c, gx, mean, vr, n, c, plane)
		s.grid("bn_apply", len(x), gx, mean, vr, s.in(weight), s.in(bias), s.out(r.XHat), s.out(r.Y), eps, n, c, plane)
	})
	return r, err
}

// BatchNorm2dBackward adds the gradients of a BatchNorm2d forward: dx
// through the batch statistics when train (else the affine map only), and
// Σdy·x̂ to dw, Σdy to db (each of dx, dw, db may be nil).
func (d *Device) BatchNorm2dBackward(dy, xhat, variance, weight, dx, dw, db []float32, n, c, plane int, eps float32, train bool) error {
	sdy, sdyx := make([]float32, c), make([]float32, c)
	err := d.staged("batchnorm backward", func(s *stage) {
		gdy, gxh := s.in(dy), s.in(xhat)
		gs, gsx := s.out(sdy), s.out(sdyx)
		s.blocks("bn_backward_reduce", c, gdy, gxh, gs, gsx, n, c, plane)
		if dx != nil {
			s.grid("bn_backward_input", len(dx), gdy, gxh, s.in(variance), s.in(weight), gs, gsx, s.inout(dx), eps, train, n, c, plane)
		}
	})
	if err != nil {
		return err
	}
	// The per-channel sums are C values: added on the host, as nn does.
	for i := range c {
		if dw != nil {
			dw[i] += sdyx[i]
		}
		if db != nil {
			db[i] += sdy[i]
		}
	}
	return nil
}

// ReLU returns max(x, 0).
func (d *Device) ReLU(x []float32) ([]float32, error) {
	y := make([]float32, len(x))
	err := d.staged("relu forward", func(s *stage) { s.grid("relu_forward", len(x), s.in(x), s.out(y), len(x)) })
	return y, err
}

// ReLUBackward adds dy to dx where y > 0.
func (d *Device) ReLUBackward(y, dy, dx []float32) error {
	return d.staged("relu backward", func(s *stage) {
		s.grid("relu_backward", len(y), s.in(y), s.in(dy), s.inout(dx), len(y))
	})
}

// Axpy adds a·x to y.
func (d *Device) Axpy(a float32, x, y []float32) error {
	return d.staged("axpy", func(s *stage) { s.grid("axpy", len(x), a, s.in(x), s.inout(y), len(x)) })
}

// Scale multiplies x by a in place.
func (d *Device) Scale(a float32, x []float32) error {
	return d.staged("scale", func(s *stage) { s.grid("scale", len(x), a, s.inout(x), len(x)) })
}

// AddBias adds b[c] to every value of channel c of out (N, C, plane).
func (d *Device) AddBias(out, b []float32, n, plane int) error {
	return d.staged("add bias", func(s *stage) {
		s.grid("add_bias", len(out), s.inout(out), s.in(b), n, len(b), plane)
	})
}

// ChannelSum adds Σ_{n,p} dy[n][c][p] to db[c] (the bias gradient).
func (d *Device) ChannelSum(dy, db []float32, n, plane int) error {
	return d.staged("channel sum", func(s *stage) {
		s.blocks("channel_sum_add", len(db), s.in(dy), s.inout(db), n, len(db), plane)
	})
}

// SoftmaxCrossEntropy returns nn.CrossEntropy's mean loss over rows of
// (rows, k) logits and its gradient (softmax − q)/rows.
func (d *Device) SoftmaxCrossEntropy(logits []float32, labels []int, k int, smoothing float32) (float32, []float32, error) {
	rows := len(labels)
	lab := make([]int32, rows)
	for i, l := range labels {
		lab[i] = int32(l)
	}
	loss, grad := make([]float32, rows), make([]float32, len(logits))
	err := d.staged("softmax cross-entropy", func(s *stage) {
		s.grid("softmax_xent", rows, s.in(logits), s.ints(lab), s.out(loss), s.out(grad), rows, k, smoothing, 1/float32(rows))
	})
	var sum float64
	for _, v := range loss {
		sum += float64(v)
	}
	return float32(sum / float64(rows)), grad, err
}

// USF returns the uSF feedback scale·sign(W).
func (d *Device) USF(w []float32, scale float32) ([]float32, error) {
	b := make([]float32, len(w))
	err := d.staged("usf feedback", func(s *stage) { s.grid("usf_b", len(w), s.in(w), s.out(b), scale, len(w)) })
	return b, err
}

// RSF returns |R|·sign(W): brSF's feedback for a fresh R, frSF's for its
// stored |R|.
func (d *Device) RSF(w, r []float32) ([]float32, error) {
	b := make([]float32, len(w))
	err := d.staged("rsf feedback", func(s *stage) { s.grid("rsf_b", len(w), s.in(w), s.in(r), s.out(b), len(w)) })
	return b, err
}
