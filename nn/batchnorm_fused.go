package nn

import (
	"math"

	"github.com/bionaslab/bionas/nn/cpu"
)

// BatchNormReLU is BatchNorm2d's forward and backward (PyTorch semantics:
// batch mean and biased variance in training, running statistics moved by
// Momentum towards the batch mean and the unbiased variance; running
// statistics in evaluation), followed by ReLU when withReLU. It exists
// // because BatchNorm was a quarter of a supernet step: the two-pass form
// (batchNormTwoPass, kept as the tests' oracle) sums in one float64 chain
// per channel (latency-bound), makes three passes and stores x̂. This one
// works plane by plane in blocks that stay in L1 with the vector kernels
// of nn/cpu (Σx and Σx² as dot products, y = a·x + b as two AXPYs), and
// recomputes x̂ from x in the backward pass instead of storing it. Where a
// channel's mean dominates its spread (mean² > 16·var) the raw sums would
// cancel, so it falls back to sums of centred values. The results agree
// with the two-pass form to float32 rounding (tested). On a device it is
// BatchNormOn.
func BatchNormReLU(g *Graph, bn *BatchNorm2d, x *Tensor, withReLU bool) *Tensor {
	if x.OnDevice() {
		return BatchNormOn(g, bn, x, withReLU)
	}
	train := g.Training()
	n, c, h, w := bn.InputDims(x, train)
	hw, m := h*w, n*h*w
	ones := make([]float32, min(hw, bnBlock))
	for i := range ones {
		ones[i] = 1
	}
	off := func(b, ch int) int { return (b*c + ch) * hw }
	mean, invstd := make([]float32, c), make([]float32, c)
	centred := make([]bool, c) // channels whose sums need centring
	if train {
		vars := make([]float64, c)
		cpu.For(c, 1, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var s, ss float64
				for b := range n {
					ps, pss := sumsPlane(x.Data[off(b, ch):off(b, ch)+hw], ones)
					s, ss = s+ps, ss+pss
				}
				mu := s / float64(m)
				v := ss/float64(m) - mu*mu
				if mu*mu > 16*v {
					centred[ch] = true
					shift := float32(mu)
					s, ss = 0, 0
					for b := range n {
						ps, pss := sumShifted(x.Data[off(b, ch):off(b, ch)+hw], shift)
						s, ss = s+ps, ss+pss
					}
					d := s / float64(m)
					mu, v = float64(shift)+d, ss/float64(m)-d*d
				}
				vars[ch] = max(v, 0)
				mean[ch] = float32(mu)
				invstd[ch] = float32(1 / math.Sqrt(vars[ch]+float64(bn.Eps)))
			}
		})
		mom := float64(bn.Momentum)
		for ch := range c {
			rm, rv := &bn.RunningMean.Data[ch], &bn.RunningVar.Data[ch]
			*rm = float32((1-mom)*float64(*rm) + mom*float64(mean[ch]))
			*rv = float32((1-mom)*float64(*rv) + mom*vars[ch]*float64(m)/float64(m-1))
		}
	} else {
		copy(mean, bn.RunningMean.Data)
		for ch, v := range bn.RunningVar.Data {
			invstd[ch] = float32(1 / math.Sqrt(float64(v)+float64(bn.Eps)))
			centred[ch] = float64(mean[ch])*float64(mean[ch]) > 16*float64(v)
		}
	}
	scale, shift := make([]float32, c), make([]float32, c)
	for ch := range c {
		wt, bias := float32(1), float32(0)
		if bn.Weight != nil {
			wt, bias = bn.Weight.Data[ch], bn.Bias.Data[ch]
		}
		scale[ch] = wt * invstd[ch]
		shift[ch] = bias - mean[ch]*scale[ch]
	}
	y := g.AllocFull(x.Shape...) // cpu.Affine writes every plane
	cpu.For(n*c, max(1, parWork/max(hw, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % c
			cpu.Affine(y.Data[p*hw:(p+1)*hw], x.Data[p*hw:(p+1)*hw], scale[ch], shift[ch], withReLU)
		}
	})
	if !g.Records(x, bn.Weight, bn.Bias) {
		return y
	}
	g.Record(y, func() {
		var dx, dw, db []float32
		fresh := false // dx lent unzeroed: every plane below overwrites its values
		if x.NeedsGrad {
			dx, fresh = x.gradForWrite()
		}
		if bn.Weight != nil && bn.Weight.NeedsGrad {
			dw = bn.Weight.GradBuf()
		}
		if bn.Bias != nil && bn.Bias.NeedsGrad {
			db = bn.Bias.GradBuf()
		}
		cpu.For(c, 1, func(lo, hi int) {
			var tmp []float32 // dy masked by the ReLU, one block at a time
			if withReLU {
				tmp = make([]float32, len(ones))
			}
			for ch := lo; ch < hi; ch++ {
				var sdy, sdyx float64 // Σ dy and Σ dy·(x − mean) over the channel
				for b := range n {
					o := off(b, ch)
					s, sx := sumGrad(x.Data[o:o+hw], y.Data[o:o+hw], y.Grad[o:o+hw], ones, tmp, mean[ch], centred[ch])
					sdy, sdyx = sdy+s, sdyx+sx
				}
				if dw != nil {
					dw[ch] += float32(sdyx * float64(invstd[ch]))
				}
				if db != nil {
					db[ch] += float32(sdy)
				}
				if dx == nil {
					continue
				}
				// Training: dx = w·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)); evaluation: w·σ⁻¹·dy.
				k := scale[ch]
				var kx, k0 float32
				if train {
					kx = float32(float64(k) * sdyx / float64(m) * float64(invstd[ch]) * float64(invstd[ch]))
					k0 = float32(float64(k) * sdy / float64(m))
				}
				for b := range n {
					o := off(b, ch)
					gradPlane(x.Data[o:o+hw], y.Data[o:o+hw], y.Grad[o:o+hw], dx[o:o+hw], ones, tmp, mean[ch], k, kx, k0, centred[ch], fresh)
				}
			}
		})
	})
	return y
}

// bnBlock is the block length of the BatchNorm kernels: three blocks of
// float32 (x, dy, dx) fit in L1 together.
const bnBlock = 1024

// sumsPlane returns Σx and Σx² over a plane, by blocks.
func sumsPlane(p, ones []float32) (s, ss float64) {
	for len(p) > 0 {
		blk := p[:min(len(p), bnBlock)]
		p = p[len(blk):]
		s += float64(cpu.Dot(blk, ones[:len(blk)]))
		ss += float64(cpu.Dot(blk, blk))
	}
	return s, ss
}

// sumShifted returns Σ(v − shift) and Σ(v − shift)² over p.
func sumShifted(p []float32, shift float32) (s, ss float64) {
	for len(p) > 0 {
		blk := p[:min(len(p), bnBlock)]
		p = p[len(blk):]
		var a0, a1, a2, a3, q0, q1, q2, q3 float32
		i := 0
		for ; i+4 <= len(blk); i += 4 {
			v := blk[i : i+4 : i+4]
			d0, d1, d2, d3 := v[0]-shift, v[1]-shift, v[2]-shift, v[3]-shift
			a0, a1, a2, a3 = a0+d0, a1+d1, a2+d2, a3+d3
			q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
		}
		for ; i < len(blk); i++ {
			d := blk[i] - shift
			a0, q0 = a0+d, q0+d*d
		}
		s += float64((a0 + a1) + (a2 + a3))
		ss += float64((q0 + q1) + (q2 + q3))
	}
	return s, ss
}

// maskedGrad returns dy, or dy masked by y > 0 (written into tmp) when tmp
// is not nil (a BN followed by ReLU).
func maskedGrad(y, dy, tmp []float32) []float32 {
	if tmp == nil {
		return dy
	}
	tmp = tmp[:len(dy)]
	y = y[:len(dy)]
	for i, d := range dy {
		tmp[i] = cpu.ReLUGrad(y[i], d)
	}
	return tmp
}

// sumGrad returns Σ dy and Σ dy·(x − mean) over one plane (dy masked by
// y > 0 when tmp is given); centred computes (x − mean) explicitly.
func sumGrad(x, y, dy, ones, tmp []float32, mean float32, centred bool) (s, sx float64) {
	for len(x) > 0 {
		nb := min(len(x), bnBlock)
		if !centred {
			bs, bsx := cpu.BNGradSums(y[:nb], dy[:nb], x[:nb], tmp != nil)
			s += float64(bs)
			sx += float64(bsx) - float64(mean)*float64(bs)
			x, y, dy = x[nb:], y[nb:], dy[nb:]
			continue
		}
		d := maskedGrad(y[:nb], dy[:nb], tmp)
		s += float64(cpu.Dot(d, ones[:nb]))
		var q0, q1 float32
		i := 0
		for ; i+2 <= nb; i += 2 {
			q0, q1 = q0+d[i]*(x[i]-mean), q1+d[i+1]*(x[i+1]-mean)
		}
		for ; i < nb; i++ {
			q0 += d[i] * (x[i] - mean)
		}
		sx += float64(q0 + q1)
		x, y, dy = x[nb:], y[nb:], dy[nb:]
	}
	return s, sx
}

// gradPlane adds k·dy − kx·(x − mean) − k0 to dx (dy masked by y > 0 when
// tmp is given), or with overwrite stores it; centred computes (x − mean)
// explicitly.
func gradPlane(x, y, dy, dx, ones, tmp []float32, mean, k, kx, k0 float32, centred, overwrite bool) {
	if !centred {
		cpu.BNGradApply(dx[:len(x)], y[:len(x)], dy[:len(x)], x, tmp != nil, overwrite, k, kx, kx*mean-k0)
		return
	}
	for len(x) > 0 {
		nb := min(len(x), bnBlock)
		d := maskedGrad(y[:nb], dy[:nb], tmp)
		out := dx[:nb]
		if overwrite {
			clear(out)
		}
		for i, v := range x[:nb] {
			out[i] += k*d[i] - kx*(v-mean) - k0
		}
		x, y, dy, dx = x[nb:], y[nb:], dy[nb:], dx[nb:]
	}
}
