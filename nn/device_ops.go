package nn

import (
	"fmt"

	"github.com/bionaslab/bionas/nn/rule"
)

// This file holds the device side of the ops: each op of this package
// checks where its inputs live and, for device tensors, calls the function
// here, which queues the same computation on the device's kernels and
// records a backward that stays there. The CPU code of each op is left
// exactly as it was (one nil check in front).

// contiguous returns the strides of a contiguous block of dims.
func contiguous(dims [5]int) [5]int {
	var s [5]int
	acc := 1
	for k := 4; k >= 0; k-- {
		s[k] = acc
		acc *= dims[k]
	}
	return s
}

// view5 pads dims (outermost first) to five axes.
func view5(dims ...int) [5]int {
	var v [5]int
	for i := range v {
		v[i] = 1
	}
	copy(v[5-len(dims):], dims)
	return v
}

func strides5(st ...int) [5]int {
	var v [5]int
	copy(v[5-len(st):], st)
	return v
}

// gather records y = x seen through a strided view (src strides into x,
// y contiguous); backward scatters y's gradient back through the same view.
func (g *Graph) gatherDev(d Device, op string, x *Tensor, shape []int, dims, src [5]int, srcOff int) *Tensor {
	y := g.allocOn(d, shape...)
	v := CopyView{Dims: dims, DstStride: contiguous(dims), SrcStride: src, SrcOff: srcOff}
	mustDev(d, op, d.Copy(v, y.Buf(), x.Buf(), false))
	if g.Records(x) {
		g.Record(y, func() {
			back := CopyView{Dims: dims, DstStride: src, DstOff: srcOff, SrcStride: contiguous(dims)}
			mustDev(d, op+" backward", d.Copy(back, x.GradBufDev(), y.GradBufDev(), true))
		})
	}
	return y
}

func (g *Graph) addDev(d Device, xs []*Tensor) *Tensor {
	y := g.allocOn(d, xs[0].Shape...)
	n := y.Len()
	for _, x := range xs {
		mustDev(d, "nn.Sum", d.Axpby(1, x.Buf(), 1, y.Buf(), n))
	}
	if g.Records(xs...) {
		g.Record(y, func() {
			for _, x := range xs {
				if x.NeedsGrad {
					mustDev(d, "nn.Sum backward", d.Axpby(1, y.GradBufDev(), 1, x.GradBufDev(), n))
				}
			}
		})
	}
	return y
}

func (g *Graph) scaleDev(d Device, x *Tensor, s float32) *Tensor {
	y := g.allocOn(d, x.Shape...)
	n := y.Len()
	mustDev(d, "nn.Scale", d.Axpby(s, x.Buf(), 0, y.Buf(), n))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.Scale backward", d.Axpby(s, y.GradBufDev(), 1, x.GradBufDev(), n))
		})
	}
	return y
}

func (g *Graph) concatDev(d Device, axis int, shape []int, xs []*Tensor) *Tensor {
	outer, inner := numel(shape[:axis]), numel(shape[axis+1:])
	row := shape[axis] * inner
	y := g.allocOn(d, shape...)
	off := 0
	type part struct {
		x        *Tensor
		v        CopyView
		off, len int
	}
	parts := make([]part, len(xs))
	for i, x := range xs {
		chunk := x.Shape[axis] * inner
		v := CopyView{Dims: view5(outer, chunk), DstStride: strides5(row, 1), DstOff: off, SrcStride: strides5(chunk, 1)}
		mustDev(d, "nn.Concat", d.Copy(v, y.Buf(), x.Buf(), false))
		parts[i] = part{x, v, off, chunk}
		off += chunk
	}
	if g.Records(xs...) {
		g.Record(y, func() {
			for _, p := range parts {
				if !p.x.NeedsGrad {
					continue
				}
				back := CopyView{Dims: p.v.Dims, DstStride: p.v.SrcStride, SrcStride: p.v.DstStride, SrcOff: p.off}
				mustDev(d, "nn.Concat backward", d.Copy(back, p.x.GradBufDev(), y.GradBufDev(), true))
			}
		})
	}
	return y
}

func (g *Graph) reluDev(d Device, x *Tensor) *Tensor {
	y := g.allocOn(d, x.Shape...)
	n := y.Len()
	mustDev(d, "nn.ReLU", d.ReLU(x.Buf(), y.Buf(), n))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.ReLU backward", d.ReLUBackward(y.Buf(), y.GradBufDev(), x.GradBufDev(), n))
		})
	}
	return y
}

// dropMaskDev applies a host-drawn mask (the same draws as the CPU, so a
// run is the same run on either side): one small copy of the mask.
func (g *Graph) dropMaskDev(d Device, x *Tensor, mask []float32, size int) *Tensor {
	y := g.allocOn(d, x.Shape...)
	m, done := g.uploadScratch(d, mask, "a drop mask")
	mustDev(d, "nn.DropPath", d.MulRows(x.Buf(), m, len(mask), size, y.Buf(), false))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.DropPath backward", d.MulRows(y.GradBufDev(), m, len(mask), size, x.GradBufDev(), true))
		})
	} else {
		done()
	}
	return y
}

func (g *Graph) maxPoolDev(d Device, x *Tensor, p PoolShape) *Tensor {
	y := g.allocOn(d, p.N, p.C, p.Ho, p.Wo)
	arg, done := g.scratch(d, y.Len(), "max pool indices")
	mustDev(d, "nn.MaxPool2d", d.MaxPool(p, x.Buf(), y.Buf(), arg))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.MaxPool2d backward", d.MaxPoolBackward(p, y.GradBufDev(), arg, x.GradBufDev()))
		})
	} else {
		done()
	}
	return y
}

func (g *Graph) avgPoolDev(d Device, x *Tensor, p PoolShape, incl bool) *Tensor {
	y := g.allocOn(d, p.N, p.C, p.Ho, p.Wo)
	mustDev(d, "nn.AvgPool2d", d.AvgPool(p, x.Buf(), y.Buf(), incl))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.AvgPool2d backward", d.AvgPoolBackward(p, y.GradBufDev(), x.GradBufDev(), incl))
		})
	}
	return y
}

func (g *Graph) globalAvgPoolDev(d Device, x *Tensor, n, c, hw int) *Tensor {
	y := g.allocOn(d, n, c)
	mustDev(d, "nn.GlobalAvgPool", d.PlaneMean(x.Buf(), y.Buf(), n*c, hw))
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.GlobalAvgPool backward", d.PlaneMeanBackward(y.GradBufDev(), x.GradBufDev(), n*c, hw))
		})
	}
	return y
}

// BatchNormOn is BatchNorm2d's forward on bn's device, followed by a ReLU
// when withReLU (the fused form the search space uses): batch statistics
// and the running-statistics update in training, the running statistics
// otherwise. It is exported for package search, whose own fused CPU kernel
// covers the host side.
func BatchNormOn(g *Graph, bn *BatchNorm2d, x *Tensor, withReLU bool) *Tensor {
	d := deviceOf("BatchNorm2d", x, bn.RunningMean)
	if d == nil {
		panic(fmt.Sprintf("nn.BatchNormOn %q: x is on the host", bn.Name))
	}
	train := g.Training()
	n, c, h, w := bn.InputDims(x, train)
	plane, m := h*w, n*h*w
	what := "nn.BatchNorm2d " + bn.Name
	mean, variance := bn.RunningMean.Buf(), bn.RunningVar.Buf()
	if train {
		var done1, done2 func()
		mean, done1 = g.scratch(d, c, "batch means")
		variance, done2 = g.scratch(d, c, "batch variances")
		defer done1()
		defer done2()
		mustDev(d, what, d.BatchNormStats(x.Buf(), mean, variance, n, c, plane))
		mustDev(d, what, d.BatchNormRunning(mean, variance, bn.RunningMean.Buf(), bn.RunningVar.Buf(), c, bn.Momentum, m))
	}
	var wb, bb Buffer
	if bn.Weight != nil {
		wb, bb = bn.Weight.Buf(), bn.Bias.Buf()
	}
	rec := g.Records(x, bn.Weight, bn.Bias)
	var xhat Buffer
	if rec {
		xhat, _ = g.scratch(d, x.Len(), "x̂")
	}
	y := g.allocOn(d, x.Shape...)
	mustDev(d, what, d.BatchNormApply(x.Buf(), mean, variance, wb, bb, xhat, y.Buf(), bn.Eps, n, c, plane, withReLU))
	if !rec {
		return y
	}
	g.Record(y, func() {
		var dx, dw, db Buffer
		if x.NeedsGrad {
			dx = x.GradBufDev()
		}
		if bn.Weight != nil && bn.Weight.NeedsGrad {
			dw = bn.Weight.GradBufDev()
		}
		if bn.Bias != nil && bn.Bias.NeedsGrad {
			db = bn.Bias.GradBufDev()
		}
		dy := y.GradBufDev()
		if withReLU {
			masked, _ := g.scratch(d, y.Len(), "masked gradient")
			mustDev(d, what+" backward", d.ReLUBackward(y.Buf(), dy, masked, y.Len()))
			dy = masked
		}
		mustDev(d, what+" backward", d.BatchNormBackward(dy, xhat, variance, wb, dx, dw, db, bn.Eps, train, n, c, plane))
	})
	return y
}

// feedbackDev is the buffer a conv or linear layer's error goes down
// through on the device: W in true-gradient mode, else Feedback.Effective's
// B (W for bp, B for fa; built by a kernel for the sign rules; brSF's fresh
// |R| is drawn on the host stream, as on the CPU, and copied; nil for dfa).
func (g *Graph) feedbackDev(d Device, f *Feedback, w *Tensor, what string) Buffer {
	if g.TrueGradient {
		return w.Buf()
	}
	n, advance := w.Len(), g.Training()
	switch f.Rule {
	case rule.BP:
		return w.Buf()
	case rule.FA:
		return f.B.Buf()
	case rule.DFA:
		return nil
	case rule.USF:
		b, _ := g.scratch(d, n, "usf feedback")
		mustDev(d, what, d.USF(w.Buf(), b, f.Scale, n))
		return b
	case rule.FRSF:
		b, _ := g.scratch(d, n, "frsf feedback")
		mustDev(d, what, d.RSF(w.Buf(), f.B.Buf(), b, n))
		return b
	case rule.BRSF:
		rb, _ := g.uploadScratch(d, f.drawR(n, advance), "a brsf draw")
		b, _ := g.scratch(d, n, "brsf feedback")
		mustDev(d, what, d.RSF(w.Buf(), rb, b, n))
		return b
	}
	panic(fmt.Sprintf("%s: rule %q cannot run on %s", what, f.Rule, d.Name()))
}

// convDev is Conv2d.Forward on the device.
func (c *Conv2d) forwardDev(d Device, g *Graph, x *Tensor, gm convGeom) *Tensor {
	cfg := c.Cfg
	what := "nn.Conv2d " + cfg.Name
	s := gm.shape()
	out := g.allocOn(d, gm.N, gm.O, gm.Ho, gm.Wo)
	mustDev(d, what, d.Conv(s, x.Buf(), c.W.Buf(), out.Buf()))
	if c.Bias != nil {
		mustDev(d, what, d.AddBias(out.Buf(), c.Bias.Buf(), gm.N, gm.O, gm.Ho*gm.Wo))
	}
	if !g.Records(x, c.W, c.Bias) {
		return out
	}
	fb := c.Feedback
	beff := g.feedbackDev(d, fb, c.W, what)
	g.Record(out, func() {
		var dx, dw Buffer
		if x.NeedsGrad {
			dx = x.GradBufDev()
		}
		if c.W.NeedsGrad {
			dw = c.W.GradBufDev()
		}
		dy := out.GradBufDev()
		if fb.Rule == rule.DFA && !g.TrueGradient {
			mustDev(d, what+" backward", d.ConvBackward(s, x.Buf(), dy, nil, nil, dw))
			if dx != nil {
				classes := fb.B.Shape[0]
				e := g.outputErrorOn(d, "nn.Conv2d", cfg.Name, gm.N, classes)
				k := gm.C * gm.KH * gm.KW
				v, _ := g.scratch(d, gm.N*k, "dfa taps")
				mustDev(d, what+" dfa", d.Gemm(false, false, gm.N, k, classes, 1, e.Buf(), classes, fb.B.Buf(), k, 0, v, k))
				mustDev(d, what+" dfa", d.DFATaps(s, v, dx))
			}
		} else {
			mustDev(d, what+" backward", d.ConvBackward(s, x.Buf(), dy, beff, dx, dw))
		}
		if c.Bias != nil && c.Bias.NeedsGrad {
			mustDev(d, what+" bias gradient", d.BiasGrad(dy, c.Bias.GradBufDev(), gm.N, gm.O, gm.Ho*gm.Wo))
		}
	})
	return out
}

// forwardDev is Linear.Forward on the device.
func (l *Linear) forwardDev(d Device, g *Graph, x *Tensor) *Tensor {
	in, o := l.Cfg.In, l.Cfg.Out
	n := x.Shape[0]
	what := "nn.Linear " + l.Cfg.Name
	out := g.allocOn(d, n, o)
	mustDev(d, what, d.Gemm(false, true, n, o, in, 1, x.Buf(), in, l.W.Buf(), in, 0, out.Buf(), o))
	if l.Bias != nil {
		mustDev(d, what, d.AddBias(out.Buf(), l.Bias.Buf(), n, o, 1))
	}
	if !g.Records(x, l.W, l.Bias) {
		return out
	}
	fb := l.Feedback
	beff := g.feedbackDev(d, fb, l.W, what)
	g.Record(out, func() {
		dy := out.GradBufDev()
		if l.W.NeedsGrad {
			mustDev(d, what+" weight gradient", d.Gemm(true, false, o, in, n, 1, dy, o, x.Buf(), in, 1, l.W.GradBufDev(), in))
		}
		if l.Bias != nil && l.Bias.NeedsGrad {
			mustDev(d, what+" bias gradient", d.BiasGrad(dy, l.Bias.GradBufDev(), n, o, 1))
		}
		if !x.NeedsGrad {
			return
		}
		if fb.Rule == rule.DFA && !g.TrueGradient {
			classes := fb.B.Shape[0]
			e := g.outputErrorOn(d, "nn.Linear", l.Cfg.Name, n, classes)
			mustDev(d, what+" dfa", d.Gemm(false, false, n, in, classes, 1, e.Buf(), classes, fb.B.Buf(), in, 1, x.GradBufDev(), in))
			return
		}
		mustDev(d, what+" backward", d.Gemm(false, false, n, in, o, 1, dy, o, beff, in, 1, x.GradBufDev(), in))
	})
	return out
}

// outputErrorOn is the dfa layer's global error, OutputError, as a tensor
// on d, checked as the CPU layers check it (marked, n × classes). A model
// driven through OnDevice has its logits marked on the host (the attacks'
// oracle marks what it is given), so their error goes up once per layer
// that asks.
func (g *Graph) outputErrorOn(d Device, kind, layer string, n, classes int) *Tensor {
	e := dfaOutputError(g, kind, layer, n, classes)
	if e.Device() == d {
		return e
	}
	buf, _ := g.uploadScratch(d, e.Values(), "the output error")
	return &Tensor{Shape: e.Shape, store: &storage{dev: d, buf: buf}}
}

// crossEntropyDev is CrossEntropy on the device. The loss stays there
// (a [1] tensor; Values reads it); the gradient (softmax − q)/N is
// computed in the forward and scaled by the loss's gradient in backward,
// which is read where it lives.
func (g *Graph) crossEntropyDev(d Device, logits *Tensor, labels []int, smoothing float32) *Tensor {
	rows, k := logits.Shape[0], logits.Len()/logits.Shape[0]
	lab := make([]int32, rows)
	for i, l := range labels {
		lab[i] = int32(l)
	}
	losses := g.allocOn(d, rows)
	dlogits, done := g.scratch(d, logits.Len(), "logit gradients")
	mustDev(d, "nn.CrossEntropy", d.SoftmaxCrossEntropy(logits.Buf(), lab, rows, k, smoothing, 1/float32(rows), losses.Buf(), dlogits))
	y := g.Mean(losses) // losses needs no gradient: nothing is recorded
	if g.Records(logits) {
		g.Record(y, func() {
			mustDev(d, "nn.CrossEntropy backward", d.ScaleAt(y.GradBufDev(), 0, dlogits, 1, logits.GradBufDev(), logits.Len()))
		})
	} else {
		done()
	}
	return y
}

// normalizeDev is Normalize on the device: the per-channel constants are
// a 2·C copy per call.
func (g *Graph) normalizeDev(d Device, x *Tensor, n, c, inner int, mean, inv []float32) *Tensor {
	y := g.allocOn(d, x.Shape...)
	shift := make([]float32, c)
	for i := range c {
		shift[i] = -mean[i] * inv[i]
	}
	// y = x·k + shift, laid out as (n·c) rows scaled per channel.
	k, done1 := g.uploadScratch(d, inv, "normalisation scales")
	b, done2 := g.uploadScratch(d, shift, "normalisation shifts")
	mustDev(d, "nn.Normalize", d.ChannelAffine(x.Buf(), k, b, y.Buf(), n, c, inner, false))
	done2()
	if g.Records(x) {
		g.Record(y, func() {
			mustDev(d, "nn.Normalize backward", d.ChannelAffine(y.GradBufDev(), k, nil, x.GradBufDev(), n, c, inner, true))
		})
	} else {
		done1()
	}
	return y
}

// sumSquaresOn returns Σ g² over the gradients of ts on d, summed there
// and read back as one value.
func sumSquaresOn(d Device, ts []*Tensor) float64 {
	acc, done := (*Graph)(nil).scratch(d, 1, "a gradient norm")
	defer done()
	for _, t := range ts {
		if t.gstore != nil {
			mustDev(d, "gradient norm", d.DotAt(t.gstore.buf, t.gstore.buf, t.Len(), acc, 0))
		}
	}
	var v [1]float32
	mustDev(d, "gradient norm", d.Download(v[:], acc, 0))
	return float64(v[0])
}
