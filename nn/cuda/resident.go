//go:build cuda

package cuda

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/bionaslab/bionas/nn"
)

// Resident is d as an nn.Device: tensors whose values live in d's memory
// for a whole training step, every op a kernel launch on device pointers.
// Unlike Device's own host-slice methods (ConvForward, Sgemm, …), nothing
// crosses to the host except what nn asks for by name (Upload, Download,
// SumSquares, the labels of a loss), and each of those is counted
// (Copies), so a test can prove a step makes no others.
type Resident struct {
	d        *Device
	up, down copies // host→device and device→host
}

// copies counts the copies made one way and the bytes they moved.
type copies struct{ n, bytes atomic.Int64 }

func (c *copies) add(values int) {
	c.n.Add(1)
	c.bytes.Add(int64(4 * values))
}

var _ nn.Device = (*Resident)(nil)

// Resident returns d's device-resident engine.
func (d *Device) Resident() *Resident { return &Resident{d: d} }

// Name is the device's name.
func (r *Resident) Name() string { return r.d.Name() }

// Copies returns how many host→device and device→host copies r has made.
func (r *Resident) Copies() (up, down int64) { return r.up.n.Load(), r.down.n.Load() }

// Memory returns the device's memory counters (see MemStats).
func (r *Resident) Memory() MemStats { return r.d.Memory() }

// ResetPeak starts a new peak measurement (see MemStats).
func (r *Resident) ResetPeak() { r.d.ResetPeak() }

// CopyBytes returns the bytes those copies moved.
func (r *Resident) CopyBytes() (up, down int64) { return r.up.bytes.Load(), r.down.bytes.Load() }

// Len makes buf an nn.Buffer.
func (b buf) Len() int { return b.n }

// bufOf unwraps an nn.Buffer (nil: a null pointer, the kernels' "absent").
func bufOf(b nn.Buffer) buf {
	if b == nil {
		return buf{}
	}
	return b.(buf)
}

// run launches one kernel inside the device's context.
func (r *Resident) run(what string, launch func() error) error {
	if err := r.d.do(launch); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// grid is a grid-stride kernel over n values.
func (r *Resident) grid(name string, n int, args ...any) error {
	return r.run(name, func() error {
		gr, bl := grid1(n)
		return r.d.launch(name, gr, bl, args...)
	})
}

// block is a kernel of one 256-thread block per item.
func (r *Resident) block(name string, items int, args ...any) error {
	return r.run(name, func() error {
		return r.d.launch(name, dim3{max(items, 1), 1, 1}, dim3{256, 1, 1}, args...)
	})
}

// Alloc returns n zeroed values from the device's cache.
func (r *Resident) Alloc(n int) (nn.Buffer, error) {
	var b buf
	err := r.d.do(func() error {
		var err error
		if b, err = r.d.alloc(n); err != nil {
			return err
		}
		gr, bl := grid1(b.n)
		return r.d.launch("fill", gr, bl, b, float32(0), b.n)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Release hands b back to the cache; kernels already queued on it finish
// first (one stream).
func (r *Resident) Release(b nn.Buffer) {
	_ = r.d.do(func() error { r.d.release(bufOf(b)); return nil })
}

// Fill sets n values of b to v.
func (r *Resident) Fill(b nn.Buffer, v float32, n int) error {
	return r.grid("fill", n, bufOf(b), v, n)
}

// Upload copies src into dst from value off.
func (r *Resident) Upload(dst nn.Buffer, off int, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	b, err := within(dst, off, len(src), "upload")
	if err != nil {
		return err
	}
	r.up.add(len(src))
	return r.d.do(func() error {
		return r.d.drv.htod(b.at(off), unsafe.Pointer(&src[0]), int64(4*len(src)))
	})
}

// Download copies values of src from off into dst (waiting for the kernels
// queued before it).
func (r *Resident) Download(dst []float32, src nn.Buffer, off int) error {
	if len(dst) == 0 {
		return nil
	}
	b, err := within(src, off, len(dst), "download")
	if err != nil {
		return err
	}
	r.down.add(len(dst))
	return r.d.do(func() error {
		if err := r.d.sync("download"); err != nil {
			return err
		}
		return r.d.drv.dtoh(unsafe.Pointer(&dst[0]), b.at(off), int64(4*len(dst)))
	})
}

// within unwraps b and checks that n values from off lie inside it.
func within(b nn.Buffer, off, n int, what string) (buf, error) {
	d := bufOf(b)
	if off < 0 || off+n > d.n {
		return buf{}, fmt.Errorf("%s %d values at %d: the buffer holds %d", what, n, off, d.n)
	}
	return d, nil
}

// Conv is out = conv(x, w).
func (r *Resident) Conv(s nn.ConvShape, x, w, out nn.Buffer) error {
	return r.run("conv forward", func() error { return r.d.convForwardDev(s, bufOf(x), bufOf(w), bufOf(out)) })
}

// ConvBackward adds convᵀ(dy, b) to dx and dy ⋆ x to dw.
func (r *Resident) ConvBackward(s nn.ConvShape, x, dy, b, dx, dw nn.Buffer) error {
	if dx == nil && dw == nil {
		return nil
	}
	return r.run("conv backward", func() error {
		return r.d.convBackwardDev(s, bufOf(x), bufOf(dy), bufOf(b), bufOf(dx), bufOf(dw), dx != nil, dw != nil)
	})
}

// Gemm is C = alpha·op(A)·op(B) + beta·C.
func (r *Resident) Gemm(ta, tb bool, m, n, k int, alpha float32, a nn.Buffer, lda int, b nn.Buffer, ldb int, beta float32, c nn.Buffer, ldc int) error {
	return r.run("gemm", func() error {
		return r.d.gemm(gemm{ta: ta, tb: tb, m: m, n: n, k: k, alpha: alpha, beta: beta,
			a: bufOf(a), b: bufOf(b), c: bufOf(c), lda: lda, ldb: ldb, ldc: ldc, batch: 1})
	})
}

// Copy moves a strided block.
func (r *Resident) Copy(v nn.CopyView, dst, src nn.Buffer, accumulate bool) error {
	args := []any{bufOf(dst), bufOf(src)}
	for _, d := range v.Dims {
		args = append(args, d)
	}
	for _, s := range v.DstStride {
		args = append(args, s)
	}
	for _, s := range v.SrcStride {
		args = append(args, s)
	}
	args = append(args, v.DstOff, v.SrcOff, accumulate)
	return r.grid("copy5", v.Len(), args...)
}

// Axpby is y = a·x + b·y.
func (r *Resident) Axpby(a float32, x nn.Buffer, b float32, y nn.Buffer, n int) error {
	return r.grid("axpby", n, a, bufOf(x), b, bufOf(y), n)
}

// ScaleAt is y = w[i]·x + beta·y.
func (r *Resident) ScaleAt(w nn.Buffer, i int, x nn.Buffer, beta float32, y nn.Buffer, n int) error {
	return r.grid("scale_at", n, bufOf(w), i, bufOf(x), beta, bufOf(y), n)
}

// DotAt adds Σ x·y to dst[i].
func (r *Resident) DotAt(x, y nn.Buffer, n int, dst nn.Buffer, i int) error {
	return r.block("dot_at", 1, bufOf(x), bufOf(y), n, bufOf(dst), i)
}

// MulRows is y (+)= x·mask[u].
func (r *Resident) MulRows(x, mask nn.Buffer, rows, size int, y nn.Buffer, accumulate bool) error {
	return r.grid("mul_rows", rows*size, bufOf(x), bufOf(mask), rows, size, bufOf(y), accumulate)
}

// ReLU is y = max(x, 0).
func (r *Resident) ReLU(x, y nn.Buffer, n int) error {
	return r.grid("relu_forward", n, bufOf(x), bufOf(y), n)
}

// ReLUBackward adds dy to dx where y > 0.
func (r *Resident) ReLUBackward(y, dy, dx nn.Buffer, n int) error {
	return r.grid("relu_backward", n, bufOf(y), bufOf(dy), bufOf(dx), n)
}

// AddBias adds b[c] to channel c.
func (r *Resident) AddBias(out, b nn.Buffer, n, c, plane int) error {
	return r.grid("add_bias", n*c*plane, bufOf(out), bufOf(b), n, c, plane)
}

// BiasGrad adds the channel sums of dy to db.
func (r *Resident) BiasGrad(dy, db nn.Buffer, n, c, plane int) error {
	return r.block("channel_sum_add", c, bufOf(dy), bufOf(db), n, c, plane)
}

func poolArgs(p nn.PoolShape) []any {
	return []any{p.N, p.C, p.H, p.W, p.K, p.Stride, p.Pad, p.Ho, p.Wo}
}

// MaxPool writes y and the index of each window's maximum.
func (r *Resident) MaxPool(p nn.PoolShape, x, y, arg nn.Buffer) error {
	return r.grid("max_pool_forward", p.N*p.C*p.Ho*p.Wo, append([]any{bufOf(x), bufOf(y), bufOf(arg)}, poolArgs(p)...)...)
}

// MaxPoolBackward adds dy at each window's maximum.
func (r *Resident) MaxPoolBackward(p nn.PoolShape, dy, arg, dx nn.Buffer) error {
	return r.grid("max_pool_backward", p.N*p.C*p.H*p.W, append([]any{bufOf(dy), bufOf(arg), bufOf(dx)}, poolArgs(p)...)...)
}

// AvgPool averages the windows.
func (r *Resident) AvgPool(p nn.PoolShape, x, y nn.Buffer, incl bool) error {
	return r.grid("avg_pool_forward", p.N*p.C*p.Ho*p.Wo, append(append([]any{bufOf(x), bufOf(y)}, poolArgs(p)...), incl)...)
}

// AvgPoolBackward spreads each window's gradient.
func (r *Resident) AvgPoolBackward(p nn.PoolShape, dy, dx nn.Buffer, incl bool) error {
	return r.grid("avg_pool_backward", p.N*p.C*p.H*p.W, append(append([]any{bufOf(dy), bufOf(dx)}, poolArgs(p)...), incl)...)
}

// PlaneMean is global average pooling.
func (r *Resident) PlaneMean(x, y nn.Buffer, planes, size int) error {
	return r.grid("plane_mean", planes, bufOf(x), bufOf(y), planes, size)
}

// PlaneMeanBackward spreads dy[p]/size over plane p.
func (r *Resident) PlaneMeanBackward(dy, dx nn.Buffer, planes, size int) error {
	return r.grid("plane_mean_backward", planes*size, bufOf(dy), bufOf(dx), planes, size)
}

// BatchNormStats writes the batch mean and biased variance.
func (r *Resident) BatchNormStats(x, mean, variance nn.Buffer, n, c, plane int) error {
	return r.block("bn_stats", c, bufOf(x), bufOf(mean), bufOf(variance), n, c, plane)
}

// BatchNormRunning moves the running statistics.
func (r *Resident) BatchNormRunning(mean, variance, runMean, runVar nn.Buffer, c int, momentum float32, m int) error {
	return r.grid("bn_running", c, bufOf(mean), bufOf(variance), bufOf(runMean), bufOf(runVar), c, momentum, m)
}

// BatchNormApply normalises (and rectifies, when relu).
func (r *Resident) BatchNormApply(x, mean, variance, w, b, xhat, y nn.Buffer, eps float32, n, c, plane int, relu bool) error {
	return r.grid("bn_apply_relu", n*c*plane, bufOf(x), bufOf(mean), bufOf(variance), bufOf(w), bufOf(b), bufOf(xhat), bufOf(y), eps, n, c, plane, relu)
}

// BatchNormBackward adds the input and parameter gradients.
func (r *Resident) BatchNormBackward(dy, xhat, variance, w, dx, dw, db nn.Buffer, eps float32, train bool, n, c, plane int) error {
	return r.run("batchnorm backward", func() error {
		sums, err := r.d.alloc(2 * c)
		if err != nil {
			return err
		}
		defer r.d.release(sums)
		sdy, sdyx := sums, buf{sums.ptr + uintptr(4*c), c}
		if err := r.d.launch("bn_backward_reduce", dim3{c, 1, 1}, dim3{256, 1, 1}, bufOf(dy), bufOf(xhat), sdy, sdyx, n, c, plane); err != nil {
			return err
		}
		if dw != nil || db != nil {
			gr, bl := grid1(c)
			if err := r.d.launch("bn_param_grads", gr, bl, sdy, sdyx, bufOf(dw), bufOf(db), c); err != nil {
				return err
			}
		}
		if dx == nil {
			return nil
		}
		gr, bl := grid1(n * c * plane)
		return r.d.launch("bn_backward_input", gr, bl, bufOf(dy), bufOf(xhat), bufOf(variance), bufOf(w), sdy, sdyx, bufOf(dx), eps, train, n, c, plane)
	})
}

// SoftmaxCrossEntropy writes per-row losses and the logits' gradient. The
// labels are the one upload (counted) of a loss.
func (r *Resident) SoftmaxCrossEntropy(logits nn.Buffer, labels []int32, rows, k int, smoothing, gscale float32, losses, dlogits nn.Buffer) error {
	r.up.add(len(labels))
	return r.run("softmax cross-entropy", func() error {
		lab, err := r.d.uploadInts(labels)
		if err != nil {
			return err
		}
		defer r.d.release(lab)
		gr, bl := grid1(rows)
		return r.d.launch("softmax_xent", gr, bl, bufOf(logits), lab, bufOf(losses), bufOf(dlogits), rows, k, smoothing, gscale)
	})
}

// SGD is one SGD update.
func (r *Resident) SGD(p, grad, mom nn.Buffer, n int, lr, momentum, dampening, weightDecay float32, nesterov, first bool) error {
	if dampening != 0 {
		return fmt.Errorf("sgd: dampening %v is not supported", dampening)
	}
	return r.grid("sgd_step", n, bufOf(p), bufOf(grad), bufOf(mom), n, lr, momentum, weightDecay, nesterov, first)
}

// Adam is one Adam update.
func (r *Resident) Adam(p, grad, m, v nn.Buffer, n int, lr, beta1, beta2, eps, weightDecay, bc1, bc2 float32) error {
	return r.grid("adam_step", n, bufOf(p), bufOf(grad), bufOf(m), bufOf(v), n, lr, beta1, beta2, eps, weightDecay, bc1, bc2)
}

// ChannelAffine is y (+)= x·k[c] + b[c].
func (r *Resident) ChannelAffine(x, k, b, y nn.Buffer, n, c, plane int, accumulate bool) error {
	return r.grid("channel_affine", n*c*plane, bufOf(x), bufOf(k), bufOf(b), bufOf(y), n, c, plane, accumulate)
}

// USF writes scale·sign(w).
func (r *Resident) USF(w, b nn.Buffer, scale float32, n int) error {
	return r.grid("usf_b", n, bufOf(w), bufOf(b), scale, n)
}

// RSF writes |r|·sign(w).
func (r *Resident) RSF(w, rr, b nn.Buffer, n int) error {
	return r.grid("rsf_b", n, bufOf(w), bufOf(rr), bufOf(b), n)
}

// Softmax writes the softmax of each row.
func (r *Resident) Softmax(x, y nn.Buffer, rows, k int) error {
	return r.grid("softmax_rows", rows, bufOf(x), bufOf(y), rows, k)
}

// SoftmaxBackward adds y·(dy − Σdy·y) to dx per row.
func (r *Resident) SoftmaxBackward(y, dy, dx nn.Buffer, rows, k int) error {
	return r.grid("softmax_rows_backward", rows, bufOf(y), bufOf(dy), bufOf(dx), rows, k)
}

// DFATaps adds the broadcast taps of a dfa conv's error.
func (r *Resident) DFATaps(s nn.ConvShape, v, dx nn.Buffer) error {
	return r.grid("dfa_taps", s.N*s.C*s.H*s.W, append([]any{bufOf(v), bufOf(dx)}, geom(s)...)...)
}
