package nn

import (
	"fmt"
	"math"
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
func (g *Graph) MaxPool2d(x *Tensor, k, stride, pad int) *Tensor {
	n, c, h, w, ho, wo := poolDims("MaxPool2d", x, k, stride, pad)
	y := New(n, c, ho, wo)
	rec := g.Records(x)
	var arg []int32 // index of each output's source within its plane
	if rec {
		arg = make([]int32, y.Len())
	}
	parRows(n*c, ho*wo*k*k, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := x.Data[p*h*w : (p+1)*h*w]
			for oy := range ho {
				y0 := oy*stride - pad
				ylo, yhi := max(y0, 0), min(y0+k, h)
				for ox := range wo {
					x0 := ox*stride - pad
					xlo, xhi := max(x0, 0), min(x0+k, w)
					best, bi := float32(math.Inf(-1)), -1
					for iy := ylo; iy < yhi; iy++ {
						for ix := xlo; ix < xhi; ix++ {
							// The first NaN wins and sticks (NaN > x is false).
							if v := xp[iy*w+ix]; bi < 0 || v > best || (v != v && best == best) {
								best, bi = v, iy*w+ix
							}
						}
					}
					o := (p*ho+oy)*wo + ox
					y.Data[o] = best
					if rec {
						arg[o] = int32(bi)
					}
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

// AvgPool2d averages k×k windows of an NCHW tensor. With countIncludePad
// the divisor is k·k; without (DARTS) it is the number of in-bounds pixels.
func (g *Graph) AvgPool2d(x *Tensor, k, stride, pad int, countIncludePad bool) *Tensor {
	n, c, h, w, ho, wo := poolDims("AvgPool2d", x, k, stride, pad)
	// Divisors depend only on the window position, so share them across planes.
	inv := make([]float32, ho*wo)
	for oy := range ho {
		y0 := oy*stride - pad
		for ox := range wo {
			x0 := ox*stride - pad
			cnt := k * k
			if !countIncludePad {
				cnt = (min(y0+k, h) - max(y0, 0)) * (min(x0+k, w) - max(x0, 0))
			}
			inv[oy*wo+ox] = 1 / float32(cnt)
		}
	}
	y := New(n, c, ho, wo)
	parRows(n*c, ho*wo*k*k, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := x.Data[p*h*w : (p+1)*h*w]
			for oy := range ho {
				y0 := oy*stride - pad
				ylo, yhi := max(y0, 0), min(y0+k, h)
				for ox := range wo {
					x0 := ox*stride - pad
					xlo, xhi := max(x0, 0), min(x0+k, w)
					var s float32
					for iy := ylo; iy < yhi; iy++ {
						for _, v := range xp[iy*w+xlo : iy*w+xhi] {
							s += v
						}
					}
					y.Data[(p*ho+oy)*wo+ox] = s * inv[oy*wo+ox]
				}
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(n*c, ho*wo*k*k, func(lo, hi int) {
				for p := lo; p < hi; p++ {
					dxp := dx[p*h*w : (p+1)*h*w]
					for oy := range ho {
						y0 := oy*stride - pad
						ylo, yhi := max(y0, 0), min(y0+k, h)
						for ox := range wo {
							x0 := ox*stride - pad
							xlo, xhi := max(x0, 0), min(x0+k, w)
							d := y.Grad[(p*ho+oy)*wo+ox] * inv[oy*wo+ox]
							for iy := ylo; iy < yhi; iy++ {
								row := dxp[iy*w+xlo : iy*w+xhi]
								for i := range row {
									row[i] += d
								}
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
	inv := 1 / float32(hw)
	y := New(n, c)
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
