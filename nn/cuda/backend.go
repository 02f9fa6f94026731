//go:build cuda

package cuda

import (
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// gemm queues C_z = alpha·op(A_z)·op(B_z) + beta·C_z for z in [0, batch),
// with X_z = X + (z / inner)·sx0 + (z % inner)·sx1 (offsets in values).
type gemm struct {
	ta, tb        bool
	m, n, k       int
	alpha, beta   float32
	a, b, c       buf
	aOff, bOff    int // first-value offsets into a, b, c
	cOff          int
	lda, ldb, ldc int
	sa0, sa1      int
	sb0, sb1      int
	sc0, sc1      int
	batch, inner  int
}

// run launches the tiled kernel: 64×64 tiles of C, one z slice per grid z.
func (d *Device) gemm(g gemm) error {
	if g.m == 0 || g.n == 0 || g.batch == 0 {
		return nil
	}
	if g.inner == 0 {
		g.inner = 1
	}
	if g.batch > 65535 {
		return fmt.Errorf("sgemm: batch %d over the grid limit 65535", g.batch)
	}
	grid := dim3{(g.n + 63) / 64, (g.m + 63) / 64, g.batch}
	return d.launch("sgemm", grid, dim3{16, 16, 1},
		g.ta, g.tb, g.m, g.n, g.k, g.alpha,
		g.a.at(g.aOff), g.lda, g.sa0, g.sa1,
		g.b.at(g.bOff), g.ldb, g.sb0, g.sb1,
		g.beta, g.c.at(g.cOff), g.ldc, g.sc0, g.sc1, g.inner)
}

// Sgemm is C = alpha·op(A)·op(B) + beta·C on row-major host matrices.
func (d *Device) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if m == 0 || n == 0 {
		return nil
	}
	// Only the spans the matrices cover travel.
	rowsA, rowsB := m, k
	if transA {
		rowsA = k
	}
	if transB {
		rowsB = n
	}
	la, lb, lc := span(rowsA, lda, a), span(rowsB, ldb, b), span(m, ldc, c)
	err := d.do(func() error {
		da, err := d.upload(a[:la], la)
		if err != nil {
			return err
		}
		defer d.release(da)
		db, err := d.upload(b[:lb], lb)
		if err != nil {
			return err
		}
		defer d.release(db)
		var host []float32
		if beta != 0 {
			host = c[:lc] // beta·C needs C; beta = 0 never reads it
		}
		dc, err := d.upload(host, lc)
		if err != nil {
			return err
		}
		defer d.release(dc)
		if err := d.gemm(gemm{ta: transA, tb: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
			a: da, b: db, c: dc, lda: lda, ldb: ldb, ldc: ldc, batch: 1}); err != nil {
			return err
		}
		if err := d.sync("sgemm"); err != nil {
			return err
		}
		if ldc == n {
			return d.download(c[:lc], dc)
		}
		// A strided C: bring back the span, keep the gaps' host values.
		tmp := make([]float32, lc)
		if err := d.download(tmp, dc); err != nil {
			return err
		}
		for i := range m {
			copy(c[i*ldc:i*ldc+n], tmp[i*ldc:i*ldc+n])
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sgemm %dx%dx%d: %w", m, n, k, err)
	}
	return nil
}

// span is the number of values a rows×ld row-major matrix covers in s (the
// last row may be short).
func span(rows, ld int, s []float32) int {
	return min(len(s), rows*ld)
}

// geom is the shared geometry argument list of the conv kernels.
func geom(s nn.ConvShape) []any {
	return []any{s.N, s.C, s.H, s.W, s.KH, s.KW, s.Stride, s.Padding, s.Dilation, s.Ho, s.Wo}
}

func depthwise(s nn.ConvShape) bool { return s.Groups == s.C && s.O == s.C }

func pointwise(s nn.ConvShape) bool {
	return s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.Padding == 0
}

// ConvForward writes out = conv(x, w), staging the operands through the
// device.
func (d *Device) ConvForward(s nn.ConvShape, x, w, out []float32) error {
	err := d.do(func() error {
		gx, err := d.upload(x, len(x))
		if err != nil {
			return err
		}
		defer d.release(gx)
		gw, err := d.upload(w, len(w))
		if err != nil {
			return err
		}
		defer d.release(gw)
		gout, err := d.upload(nil, len(out))
		if err != nil {
			return err
		}
		defer d.release(gout)
		if err := d.convForwardDev(s, gx, gw, gout); err != nil {
			return err
		}
		if err := d.sync("conv forward"); err != nil {
			return err
		}
		return d.download(out, gout)
	})
	if err != nil {
		return fmt.Errorf("conv forward %+v: %w", s, err)
	}
	return nil
}

// convForwardDev queues out = conv(x, w) on device operands: direct loops
// for depthwise, else im2col and one batched GEMM over every (image, group).
func (d *Device) convForwardDev(s nn.ConvShape, x, w, out buf) error {
	if depthwise(s) {
		gr, bl := grid1(s.N * s.O * s.Ho * s.Wo)
		return d.launch("dw_forward", gr, bl, append([]any{x, w, out}, geom(s)...)...)
	}
	col, release, err := d.columns(s, x)
	if err != nil {
		return err
	}
	defer release()
	cg, og := s.C/s.Groups, s.O/s.Groups
	rows, cols := cg*s.KH*s.KW, s.Ho*s.Wo
	return d.gemm(gemm{m: og, n: cols, k: rows, alpha: 1, a: w, lda: rows, sa1: og * rows,
		b: col, ldb: cols, sb0: s.Groups * rows * cols, sb1: rows * cols,
		c: out, ldc: cols, sc0: s.O * cols, sc1: og * cols,
		batch: s.N * s.Groups, inner: s.Groups})
}

// convBackwardDev queues the gradients of ConvBackward on device operands.
func (d *Device) convBackwardDev(s nn.ConvShape, x, dy, b, dx, dw buf, wantDX, wantDW bool) error {
	if !depthwise(s) {
		return d.denseBackward(s, x, dy, b, dx, dw, wantDX, wantDW)
	}
	if wantDW {
		if err := d.launch("dw_backward_weight", dim3{s.C * s.KH * s.KW, 1, 1}, dim3{256, 1, 1},
			append([]any{x, dy, dw}, geom(s)...)...); err != nil {
			return err
		}
	}
	if wantDX {
		gr, bl := grid1(s.N * s.C * s.H * s.W)
		return d.launch("dw_backward_input", gr, bl, append([]any{dy, b, dx}, geom(s)...)...)
	}
	return nil
}

// columns returns the im2col matrix of the device image x (x itself for a
// pointwise conv, whose columns are the image) and how to release it.
func (d *Device) columns(s nn.ConvShape, x buf) (buf, func(), error) {
	if pointwise(s) {
		return x, func() {}, nil
	}
	n := s.N * s.C * s.KH * s.KW * s.Ho * s.Wo
	col, err := d.alloc(n)
	if err != nil {
		return buf{}, nil, err
	}
	gr, bl := grid1(n)
	if err := d.launch("im2col", gr, bl, append([]any{x, col}, geom(s)...)...); err != nil {
		d.release(col)
		return buf{}, nil, err
	}
	return col, func() { d.release(col) }, nil
}

// ConvBackward adds convᵀ(dy, b) to dx and dy ⋆ x to dw (either may be nil).
func (d *Device) ConvBackward(s nn.ConvShape, x, dy, b, dx, dw []float32) error {
	if dx == nil && dw == nil {
		return nil
	}
	err := d.do(func() error {
		gdy, err := d.upload(dy, len(dy))
		if err != nil {
			return err
		}
		defer d.release(gdy)
		var gx, gb, gdx, gdw buf
		if dw != nil {
			if gx, err = d.upload(x, len(x)); err != nil {
				return err
			}
			defer d.release(gx)
			if gdw, err = d.upload(dw, len(dw)); err != nil {
				return err
			}
			defer d.release(gdw)
		}
		if dx != nil {
			if gb, err = d.upload(b, len(b)); err != nil {
				return err
			}
			defer d.release(gb)
			if gdx, err = d.upload(dx, len(dx)); err != nil {
				return err
			}
			defer d.release(gdx)
		}
		if err := d.convBackwardDev(s, gx, gdy, gb, gdx, gdw, dx != nil, dw != nil); err != nil {
			return err
		}
		if err := d.sync("conv backward"); err != nil {
			return err
		}
		if dw != nil {
			if err := d.download(dw, gdw); err != nil {
				return err
			}
		}
		if dx != nil {
			return d.download(dx, gdx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("conv backward %+v: %w", s, err)
	}
	return nil
}

// denseBackward is the GEMM path of ConvBackward for device operands.
// dW: per-image products dy[n,g]·col[n,g]ᵀ into scratch, then summed over
// the batch (no atomics, a fixed order). dX: dcol[n,g] = B[g]ᵀ·dy[n,g],
// then col2im adds it onto dx (pointwise: straight into dx, beta = 1).
func (d *Device) denseBackward(s nn.ConvShape, x, dy, b, dx, dw buf, wantDX, wantDW bool) error {
	cg, og := s.C/s.Groups, s.O/s.Groups
	rows, cols := cg*s.KH*s.KW, s.Ho*s.Wo
	if wantDW {
		col, release, err := d.columns(s, x)
		if err != nil {
			return err
		}
		defer release()
		per := s.O * rows
		scratch, err := d.alloc(s.N * per)
		if err != nil {
			return err
		}
		defer d.release(scratch)
		if err := d.gemm(gemm{tb: true, m: og, n: rows, k: cols, alpha: 1,
			a: dy, lda: cols, sa0: s.O * cols, sa1: og * cols,
			b: col, ldb: cols, sb0: s.Groups * rows * cols, sb1: rows * cols,
			c: scratch, ldc: rows, sc0: per, sc1: og * rows,
			batch: s.N * s.Groups, inner: s.Groups}); err != nil {
			return err
		}
		gr, bl := grid1(per)
		if err := d.launch("sum_batch_add", gr, bl, scratch, dw, s.N, per); err != nil {
			return err
		}
	}
	if !wantDX {
		return nil
	}
	g := gemm{ta: true, m: rows, n: cols, k: og, alpha: 1,
		a: b, lda: rows, sa1: og * rows,
		b: dy, ldb: cols, sb0: s.O * cols, sb1: og * cols,
		ldc: cols, sc0: s.Groups * rows * cols, sc1: rows * cols,
		batch: s.N * s.Groups, inner: s.Groups}
	if pointwise(s) {
		g.c, g.beta = dx, 1
		return d.gemm(g)
	}
	n := s.N * s.C * s.KH * s.KW * s.Ho * s.Wo
	dcol, err := d.alloc(n)
	if err != nil {
		return err
	}
	defer d.release(dcol)
	g.c = dcol
	if err := d.gemm(g); err != nil {
		return err
	}
	gr, bl := grid1(s.N * s.C * s.H * s.W)
	return d.launch("col2im_add", gr, bl, append([]any{dcol, dx}, geom(s)...)...)
}
