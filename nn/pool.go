package nn

import (
	"fmt"

	"github.com/bionaslab/bionas/nn/cpu"
)

// poolDims checks a pooling configuration and returns the input and output
// sizes; output size is floor((H+2·pad−k)/stride)+1 as in PyTorch.
func poolDims(op string, x *Tensor, k, stride, pad int) (n, c, h, w, ho, wo int) {
	n, c, h, w = x.NCHW(op)
	// pad ≤ k/2 (PyTorch's rule) keeps every window on some real pixel.
	if k < 1 || stride < 1 || pad < 0 || 2*pad > k {
		panic(fmt.Sprintf("nn.%s: bad window k=%d stride=%d pad=%d (want k≥1, stride≥1, 0≤pad≤k/2) for shape %v", op, k, stride, pad, x.Shape))
	}
	if h+2*pad < k || w+2*pad < k {
		panic(fmt.Sprintf("nn.%s: window k=%d pad=%d larger than input of shape %v", op, k, pad, x.Shape))
	}
	return n, c, h, w, (h+2*pad-k)/stride + 1, (w+2*pad-k)/stride + 1
}

// MaxPool2d takes the maximum over k×k windows of an NCHW tensor; padding
// counts as −∞. The gradient goes to the first maximum of each window (in
// row-major order); NaN propagates as in PyTorch.
//
// Windows are separable: each plane is reduced along rows first (the k
// columns of every output column, for every input row), then along columns
// (k of those partial results). Ties and NaN resolve the same way in both
// passes, so the winner is the window's first maximum in row-major order,
// as a direct k×k scan would find it, with 2k instead of k² comparisons.
func (g *Graph) MaxPool2d(x *Tensor, k, stride, pad int) *Tensor {
	n, c, h, w, ho, wo := poolDims("MaxPool2d", x, k, stride, pad)
	if d := x.Device(); d != nil {
		return g.maxPoolDev(d, x, PoolShape{n, c, h, w, k, stride, pad, ho, wo})
	}
	y := g.AllocFull(n, c, ho, wo)
	rec := g.Records(x)
	var arg []int32 // index of each output's source within its plane, all written below
	if rec {
		if g.Arena != nil {
			arg = g.Arena.GetIndex(y.Len()) // 4 bytes per output, per step: lent like y
		} else {
			arg = make([]int32, y.Len())
		}
	}
	cols, rows := poolWindows(w, wo, k, stride, pad), poolWindows(h, ho, k, stride, pad)
	dartsWindow := isDARTSWindow(k, stride, pad, w)
	parRows(n*c, h*wo*k+ho*wo*k, func(lo, hi int) {
		hm := make([]float32, h*wo)
		hi32 := make([]int32, h*wo)
		noArg := make([]int32, ho*wo)
		for p := lo; p < hi; p++ {
			xp := x.Data[p*h*w : (p+1)*h*w]
			for iy := range h {
				row := xp[iy*w : (iy+1)*w]
				hr, ir := hm[iy*wo:(iy+1)*wo], hi32[iy*wo:(iy+1)*wo]
				base := int32(iy * w)
				lo, hi := 0, wo
				if dartsWindow {
					// DARTS' 3×3 stride-1 window: the interior columns
					// scan their three inputs as three vector merges of
					// shifted rows, in the scalar scan's order.
					lo, hi = 1, wo-1
					copy(hr[lo:hi], row[0:wo-2])
					for ox := lo; ox < hi; ox++ {
						ir[ox] = base + int32(ox-1)
					}
					cpu.MaxMergeIota(hr[lo:hi], ir[lo:hi], row[1:wo-1], base+1)
					cpu.MaxMergeIota(hr[lo:hi], ir[lo:hi], row[2:wo], base+2)
				}
				for ox, win := range cols {
					if ox >= lo && ox < hi && dartsWindow {
						continue
					}
					best, bi := row[win.lo], base+int32(win.lo)
					for ix := win.lo + 1; ix < win.hi; ix++ {
						best, bi = maxStep(best, bi, row[ix], base+int32(ix))
					}
					hr[ox], ir[ox] = best, bi
				}
			}
			yp := y.Data[p*ho*wo : (p+1)*ho*wo]
			ap := noArg
			if rec {
				ap = arg[p*ho*wo : (p+1)*ho*wo]
			}
			for oy, win := range rows {
				yr, ar := yp[oy*wo:(oy+1)*wo], ap[oy*wo:(oy+1)*wo]
				copy(yr, hm[win.lo*wo:(win.lo+1)*wo])
				copy(ar, hi32[win.lo*wo:(win.lo+1)*wo])
				for iy := win.lo + 1; iy < win.hi; iy++ {
					cpu.MaxMerge(yr, ar, hm[iy*wo:(iy+1)*wo], hi32[iy*wo:(iy+1)*wo])
				}
			}
		}
	})
	if rec {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, ho*wo, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					dxp := dx[p*h*w : (p+1)*h*w]
					for o := p * ho * wo; o < (p+1)*ho*wo; o++ {
						dxp[arg[o]] += y.Grad[o]
					}
				}
			})
		})
	}
	return y
}

// isDARTSWindow reports DARTS' 3×3, stride-1, pad-1 pooling window over
// rows of at least 3: its interior columns scan shifted rows as vectors.
func isDARTSWindow(k, stride, pad, w int) bool {
	return k == 3 && stride == 1 && pad == 1 && w >= 3
}

// maxStep is one comparison of the max pool scan: v (from source index i)
// replaces the best so far if it is larger, or if it is the first NaN. (A
// branch-free version with bit masks measured slower.)
func maxStep(best float32, bi int32, v float32, i int32) (float32, int32) {
	if v > best || (v != v && best == best) {
		return v, i
	}
	return best, bi
}

// window is the in-bounds input range [lo, hi) of one output position
// along one axis.
type window struct{ lo, hi int }

// poolWindows returns the input range of each of the out positions of a
// pooling window of size k along an axis of n inputs.
func poolWindows(n, out, k, stride, pad int) []window {
	ws := make([]window, out)
	for o := range ws {
		s := o*stride - pad
		ws[o] = window{max(s, 0), min(s+k, n)}
	}
	return ws
}

// AvgPool2d averages k×k windows of an NCHW tensor. With countIncludePad
// the divisor is k·k; without (DARTS) it is the number of in-bounds pixels.
// Like MaxPool2d it sums rows first, then columns, and its backward spreads
// the gradient the same way in reverse.
func (g *Graph) AvgPool2d(x *Tensor, k, stride, pad int, countIncludePad bool) *Tensor {
	n, c, h, w, ho, wo := poolDims("AvgPool2d", x, k, stride, pad)
	if d := x.Device(); d != nil {
		return g.avgPoolDev(d, x, PoolShape{n, c, h, w, k, stride, pad, ho, wo}, countIncludePad)
	}
	cols, rows := poolWindows(w, wo, k, stride, pad), poolWindows(h, ho, k, stride, pad)
	// Divisors depend only on the window position, so share them across planes.
	inv := make([]float32, ho*wo)
	for oy, ry := range rows {
		for ox, rx := range cols {
			cnt := k * k
			if !countIncludePad {
				cnt = (ry.hi - ry.lo) * (rx.hi - rx.lo)
			}
			inv[oy*wo+ox] = 1 / float32(cnt)
		}
	}
	y := g.AllocFull(n, c, ho, wo)
	dartsWindow := isDARTSWindow(k, stride, pad, w)
	parRows(n*c, h*wo*k+ho*wo*k, func(lo, hi int) {
		hs := make([]float32, h*wo)
		for p := lo; p < hi; p++ {
			xp := x.Data[p*h*w : (p+1)*h*w]
			for iy := range h {
				row := xp[iy*w : (iy+1)*w]
				if dartsWindow {
					// Interior columns: three vector adds of shifted rows,
					// in the scalar sum's order ((a+b)+c).
					hr := hs[iy*wo+1 : iy*wo+wo-1]
					copy(hr, row[0:w-2])
					cpu.Add(hr, row[1:w-1])
					cpu.Add(hr, row[2:w])
				}
				for ox, win := range cols {
					if dartsWindow && ox > 0 && ox < wo-1 {
						continue
					}
					var s float32
					for _, v := range row[win.lo:win.hi] {
						s += v
					}
					hs[iy*wo+ox] = s
				}
			}
			yp := y.Data[p*ho*wo : (p+1)*ho*wo]
			for oy, win := range rows {
				yr := yp[oy*wo : (oy+1)*wo]
				copy(yr, hs[win.lo*wo:(win.lo+1)*wo])
				for iy := win.lo + 1; iy < win.hi; iy++ {
					cpu.Add(yr, hs[iy*wo:(iy+1)*wo])
				}
				for ox, iv := range inv[oy*wo : (oy+1)*wo] {
					yr[ox] *= iv
				}
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, h*wo*k+ho*wo*k, func(lo, hi int) {
				// vs[iy, ox] gathers the scaled output gradients of every
				// window row covering input row iy; then each input pixel takes
				// the vs of every window column covering it.
				vs := make([]float32, h*wo)
				d := make([]float32, wo)
				for p := lo; p < hi; p++ {
					clear(vs)
					gp := y.Grad[p*ho*wo : (p+1)*ho*wo]
					for oy, win := range rows {
						for ox := range d {
							d[ox] = gp[oy*wo+ox] * inv[oy*wo+ox]
						}
						for iy := win.lo; iy < win.hi; iy++ {
							cpu.Add(vs[iy*wo:(iy+1)*wo], d)
						}
					}
					dxp := dx[p*h*w : (p+1)*h*w]
					for iy := range h {
						row, vr := dxp[iy*w:(iy+1)*w], vs[iy*wo:(iy+1)*wo]
						for ox, win := range cols {
							v := vr[ox]
							for ix := win.lo; ix < win.hi; ix++ {
								row[ix] += v
							}
						}
					}
				}
			})
		})
	}
	return y
}

// GlobalAvgPool averages each channel plane: (N,C,H,W) → (N,C).
func (g *Graph) GlobalAvgPool(x *Tensor) *Tensor {
	n, c, h, w := x.NCHW("GlobalAvgPool")
	hw := h * w
	if hw == 0 {
		panic(fmt.Sprintf("nn.GlobalAvgPool: empty planes in shape %v", x.Shape))
	}
	if d := x.Device(); d != nil {
		return g.globalAvgPoolDev(d, x, n, c, hw)
	}
	inv := 1 / float32(hw)
	y := g.Alloc(n, c)
	parRows(n*c, hw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var s float32
			for _, v := range x.Data[p*hw : (p+1)*hw] {
				s += v
			}
			y.Data[p] = s * inv
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, hw, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					d := y.Grad[p] * inv
					row := dx[p*hw : (p+1)*hw]
					for i := range row {
						row[i] += d
					}
				}
			})
		})
	}
	return y
}
