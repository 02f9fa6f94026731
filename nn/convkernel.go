package nn

import (
	"fmt"
	"sync"

	"github.com/bionaslab/bionas/nn/cpu"
)

// convGeom is the geometry of one 2-D convolution: input N×C×H×W, weight
// O×(C/G)×KH×KW, stride S, zero padding P, dilation D, G groups, output
// N×O×Ho×Wo.
type convGeom struct {
	N, C, H, W int
	O, KH, KW  int
	S, P, D, G int
	Ho, Wo     int
}

func newConvGeom(xShape, wShape []int, s, p, d, g int) (convGeom, error) {
	if len(xShape) != 4 || len(wShape) != 4 {
		return convGeom{}, fmt.Errorf("conv: want 4-D input and weight, got %v and %v", xShape, wShape)
	}
	gm := convGeom{N: xShape[0], C: xShape[1], H: xShape[2], W: xShape[3],
		O: wShape[0], KH: wShape[2], KW: wShape[3], S: s, P: p, D: d, G: g}
	if g < 1 || gm.C%g != 0 || gm.O%g != 0 || wShape[1] != gm.C/g {
		return gm, fmt.Errorf("conv: input %v, weight %v and groups %d disagree (want weight (O, C/groups, kh, kw) with C and O divisible by groups)", xShape, wShape, g)
	}
	gm.Ho = (gm.H+2*p-d*(gm.KH-1)-1)/s + 1
	gm.Wo = (gm.W+2*p-d*(gm.KW-1)-1)/s + 1
	if gm.Ho <= 0 || gm.Wo <= 0 {
		return gm, fmt.Errorf("conv: input %dx%d too small for kernel %dx%d, dilation %d, padding %d", gm.H, gm.W, gm.KH, gm.KW, d, p)
	}
	return gm, nil
}

// depthwise reports the one-filter-per-channel case that gets direct loops.
func (gm convGeom) depthwise() bool { return gm.G == gm.C && gm.O == gm.C }

// pointwise reports a 1×1, stride-1, unpadded conv: a plain GEMM per image.
func (gm convGeom) pointwise() bool {
	return gm.KH == 1 && gm.KW == 1 && gm.S == 1 && gm.P == 0
}

// wide reports the stride-1 kernels that run on padded-width columns (see
// wideForward); pointwise and depthwise convs have faster paths of their own.
func (gm convGeom) wide() bool { return gm.S == 1 && !gm.pointwise() }

// bufPool recycles scratch buffers (im2col columns, padded planes) so the
// hot loops do not churn the garbage collector.
var bufPool sync.Pool

func getBuf(n int) []float32 {
	if b, ok := bufPool.Get().(*[]float32); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]float32, n)
}

func putBuf(b []float32) { bufPool.Put(&b) }

// convForward computes out = conv(x, w) (no bias) for the whole batch.
func convForward(gm convGeom, x, w, out []float32) {
	if gm.depthwise() {
		dwForward(gm, x, w, out)
		return
	}
	if gm.wide() {
		wideForward(gm, x, w, out)
		return
	}
	cg, og := gm.C/gm.G, gm.O/gm.G
	rows, cols := cg*gm.KH*gm.KW, gm.Ho*gm.Wo
	cpu.For(gm.N, 1, func(lo, hi int) {
		var col []float32
		if !gm.pointwise() {
			col = getBuf(rows * cols)
			defer putBuf(col)
		}
		for n := lo; n < hi; n++ {
			for g := 0; g < gm.G; g++ {
				xg := x[(n*gm.C+g*cg)*gm.H*gm.W:]
				b := xg
				if col != nil {
					im2col(gm, xg, col)
					b = col
				}
				cpu.Sgemm(false, false, og, cols, rows, 1, w[g*og*rows:], rows, b, cols, 0, out[(n*gm.O+g*og)*cols:], cols)
			}
		}
	})
}

// overwritesDx reports the convs whose convBackward can write dx instead
// of adding to it (its overwrite argument): the 1×1 ones, one GEMM per
// image with beta 0, and the depthwise ones, which write each input plane
// once.
func (gm convGeom) overwritesDx() bool { return gm.pointwise() || gm.depthwise() }

// convBackward accumulates the input gradient dx = convᵀ(dy, beff) (beff is
// W for back-propagation, or a rule's B) and the weight gradient
// dw += dy ⋆ x. Either of dx and dw may be nil. With overwrite (only where
// gm.overwritesDx()), dx's old values are ignored and replaced.
func convBackward(gm convGeom, x, dy, beff, dx, dw []float32, overwrite bool) {
	if overwrite && !gm.overwritesDx() {
		panic("nn: convBackward cannot overwrite dx for this geometry")
	}
	if gm.depthwise() {
		dwBackward(gm, x, dy, beff, dx, dw, overwrite)
		return
	}
	if gm.wide() {
		wideBackward(gm, x, dy, beff, dx, dw)
		return
	}
	cg, og := gm.C/gm.G, gm.O/gm.G
	rows, cols := cg*gm.KH*gm.KW, gm.Ho*gm.Wo
	nw := min(cpu.Workers(), gm.N)
	parts := make([][]float32, nw)
	used := cpu.ForWorker(gm.N, 1, func(wk, lo, hi int) {
		var col, dcol, pdw []float32
		if !gm.pointwise() {
			col = getBuf(rows * cols)
			dcol = getBuf(rows * cols)
			defer putBuf(col)
			defer putBuf(dcol)
		}
		if dw != nil {
			if wk == 0 {
				pdw = dw
			} else {
				pdw = make([]float32, len(dw))
				parts[wk] = pdw
			}
		}
		for n := lo; n < hi; n++ {
			// A 1×1 conv's weight gradient is dy·xᵀ summed over images:
			// dot products of rows in place (cpu.DotsAdd), a few images at
			// a time so their dy is still in cache for dx below.
			if pdw != nil && col == nil && (n-lo)%pointwiseChunk == 0 {
				segs := min(pointwiseChunk, hi-n)
				for g := 0; g < gm.G; g++ {
					cpu.DotsAdd(og, cg, cols, segs,
						dy[(n*gm.O+g*og)*cols:], cols, gm.O*cols,
						x[(n*gm.C+g*cg)*cols:], cols, gm.C*cols,
						pdw[g*og*rows:], rows)
				}
			}
			for g := 0; g < gm.G; g++ {
				off := (n*gm.C + g*cg) * gm.H * gm.W
				dyg := dy[(n*gm.O+g*og)*cols:]
				if pdw != nil && col != nil {
					im2col(gm, x[off:], col)
					cpu.Sgemm(false, true, og, rows, cols, 1, dyg, cols, col, cols, 1, pdw[g*og*rows:], rows)
				}
				if dx != nil {
					if col == nil {
						beta := float32(1)
						if overwrite {
							beta = 0
						}
						cpu.Sgemm(true, false, rows, cols, og, 1, beff[g*og*rows:], rows, dyg, cols, beta, dx[off:], cols)
						continue
					}
					cpu.Sgemm(true, false, rows, cols, og, 1, beff[g*og*rows:], rows, dyg, cols, 0, dcol, cols)
					col2im(gm, dcol, dx[off:])
				}
			}
		}
	})
	for wk := 1; wk < used; wk++ {
		if parts[wk] != nil {
			cpu.Add(dw, parts[wk])
		}
	}
}

// pointwiseChunk is how many images' 1×1 weight gradients are summed per
// cpu.DotsAdd call: two images' dy and x (4 × 64 KB at 16 channels of
// 32×32) stay in a core's L2 for the input gradient that follows.
const pointwiseChunk = 2

// im2col lays out the receptive fields of one group of one image (cg
// channels starting at x) as a (cg·KH·KW) × (Ho·Wo) matrix.
func im2col(gm convGeom, x, col []float32) {
	cg := gm.C / gm.G
	cols := gm.Ho * gm.Wo
	r := 0
	for c := 0; c < cg; c++ {
		plane := x[c*gm.H*gm.W : (c+1)*gm.H*gm.W]
		for a := 0; a < gm.KH; a++ {
			for b := 0; b < gm.KW; b++ {
				dst := col[r*cols : (r+1)*cols]
				r++
				jlo, jhi := validRange(gm.Wo, gm.W, gm.S, b*gm.D-gm.P)
				for i := 0; i < gm.Ho; i++ {
					row := dst[i*gm.Wo : (i+1)*gm.Wo]
					ih := i*gm.S - gm.P + a*gm.D
					if ih < 0 || ih >= gm.H || jlo >= jhi {
						clear(row)
						continue
					}
					src := plane[ih*gm.W:]
					clear(row[:jlo])
					clear(row[jhi:])
					off := b*gm.D - gm.P
					switch gm.S {
					case 1:
						copy(row[jlo:jhi], src[jlo+off:jhi+off])
						continue
					case 2:
						cpu.EveryOther(row[jlo:jhi], src[2*jlo+off:])
						continue
					}
					for j := jlo; j < jhi; j++ {
						row[j] = src[j*gm.S+off]
					}
				}
			}
		}
	}
}

// col2im adds the columns back onto the image they were taken from.
func col2im(gm convGeom, col, x []float32) {
	cg := gm.C / gm.G
	cols := gm.Ho * gm.Wo
	r := 0
	for c := 0; c < cg; c++ {
		plane := x[c*gm.H*gm.W : (c+1)*gm.H*gm.W]
		for a := 0; a < gm.KH; a++ {
			for b := 0; b < gm.KW; b++ {
				src := col[r*cols : (r+1)*cols]
				r++
				jlo, jhi := validRange(gm.Wo, gm.W, gm.S, b*gm.D-gm.P)
				if jlo >= jhi {
					continue
				}
				off := b*gm.D - gm.P
				for i := 0; i < gm.Ho; i++ {
					ih := i*gm.S - gm.P + a*gm.D
					if ih < 0 || ih >= gm.H {
						continue
					}
					row := src[i*gm.Wo:]
					dst := plane[ih*gm.W:]
					if gm.S == 1 {
						cpu.Add(dst[jlo+off:jhi+off], row[jlo:jhi])
						continue
					}
					for j := jlo; j < jhi; j++ {
						dst[j*gm.S+off] += row[j]
					}
				}
			}
		}
	}
}

// validRange returns the output columns j in [lo, hi) whose input column
// j·s + off lies inside [0, w).
func validRange(wo, w, s, off int) (lo, hi int) {
	lo = 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi = wo
	if last := (w - 1 - off); last < 0 {
		return lo, lo
	} else if h := last/s + 1; h < hi {
		hi = h
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// dwForward is depthwise convolution by direct loops over (image, channel)
// planes. Each plane is zero-padded once; at stride 1 every output row of
// Wp columns (the columns beyond Wo are scratch) is one run of cpu.Taps, so
// all kernel taps of an output vector are summed in registers. At stride S
// each output row is a Taps run over the needed input row's full width,
// sampled every S columns: the same sums, with the rows in between skipped.
func dwForward(gm convGeom, x, w, out []float32) {
	if gm.square() && gm.S == 1 {
		dwForwardPlanes(gm, x, w, out)
		return
	}
	k2 := gm.KH * gm.KW
	hp, wp := gm.H+2*gm.P, gm.W+2*gm.P
	planeIn, planeOut := gm.H*gm.W, gm.Ho*gm.Wo
	cpu.For(gm.N*gm.C, 4, func(lo, hi int) {
		xp := getBuf(hp * wp)
		ow := getBuf(gm.Ho * wp)
		defer putBuf(xp)
		defer putBuf(ow)
		clear(xp)
		L := (gm.Ho-1)*wp + gm.Wo
		wf := (gm.Wo-1)*gm.S + 1 // stride-1 columns an output row spans
		offs := gm.tapOffsets(wp)
		for q := lo; q < hi; q++ {
			c := q % gm.C
			wc := w[c*k2 : (c+1)*k2]
			pad(gm, x[q*planeIn:], xp, hp, wp)
			dst := out[q*planeOut : (q+1)*planeOut]
			if gm.S == 1 {
				cpu.Taps(ow[:L], xp, offs, wc)
				cpu.CopyRows(dst, gm.Wo, ow, wp, gm.Ho, gm.Wo)
				continue
			}
			row := ow[:wf]
			for i := range gm.Ho {
				cpu.Taps(row, xp[i*gm.S*wp:], offs, wc)
				d := dst[i*gm.Wo : (i+1)*gm.Wo]
				if gm.S == 2 {
					cpu.EveryOther(d, row)
					continue
				}
				for j := range d {
					d[j] = row[j*gm.S]
				}
			}
		}
	})
}

// square reports a k×k kernel (cpu.DepthwisePlane's case).
func (gm convGeom) square() bool { return gm.KH == gm.KW }

// same reports a square kernel padded to keep the size at stride 1
// (2P = D·(k−1)). Its input gradient is a convolution of dy (at stride S
// spread out, zeros between) zero-padded by P with the kernel flipped and
// its in and out channels swapped (flippedKernel): a forward-shaped
// convolution instead of a scatter of columns or taps.
func (gm convGeom) same() bool { return gm.square() && 2*gm.P == gm.D*(gm.KH-1) }

// flippedKernel returns the weights of that convolution: per group, a
// (C/G) × (O/G) × k² tensor with flipped[c][o] the spatial reverse of
// w[o][c]. For a depthwise convolution it is each channel's kernel
// reversed.
func (gm convGeom) flippedKernel(w []float32) []float32 {
	cg, og, k2 := gm.C/gm.G, gm.O/gm.G, gm.KH*gm.KW
	flip := make([]float32, len(w))
	for g := 0; g < gm.G; g++ {
		for o := 0; o < og; o++ {
			for c := 0; c < cg; c++ {
				src := w[((g*og+o)*cg+c)*k2:]
				dst := flip[((g*cg+c)*og+o)*k2:]
				for t := 0; t < k2; t++ {
					dst[k2-1-t] = src[t]
				}
			}
		}
	}
	return flip
}

// dwForwardPlanes is dwForward at stride 1 with a square kernel: each
// padded plane goes through cpu.DepthwisePlane, which writes the output
// rows in place.
func dwForwardPlanes(gm convGeom, x, w, out []float32) {
	k, k2 := gm.KH, gm.KH*gm.KW
	hp, wp := gm.H+2*gm.P, gm.W+2*gm.P
	planeIn, planeOut := gm.H*gm.W, gm.Ho*gm.Wo
	cpu.For(gm.N*gm.C, 4, func(lo, hi int) {
		xp := getBuf(hp * wp)
		defer putBuf(xp)
		clear(xp)
		for q := lo; q < hi; q++ {
			c := q % gm.C
			pad(gm, x[q*planeIn:], xp, hp, wp)
			cpu.DepthwisePlane(out[q*planeOut:(q+1)*planeOut], gm.Wo, xp, wp, w[c*k2:(c+1)*k2], k, gm.D, gm.Ho, gm.Wo, false)
		}
	})
}

// tapOffsets returns where each kernel tap (a, b), in the weights' order,
// starts in a plane of width wp: a·D·wp + b·D.
func (gm convGeom) tapOffsets(wp int) []int {
	offs := make([]int, 0, gm.KH*gm.KW)
	for a := range gm.KH {
		for b := range gm.KW {
			offs = append(offs, a*gm.D*wp+b*gm.D)
		}
	}
	return offs
}

// pad copies one H×W plane into the centre of an hp×wp buffer whose border
// the caller zeroed once: the copies never touch the border, so a worker
// clears its buffer once, not once per plane.
func pad(gm convGeom, src, dst []float32, hp, wp int) {
	cpu.CopyRows(dst[gm.P*wp+gm.P:], wp, src, gm.W, gm.H, gm.W)
}

// dwBackward accumulates the depthwise input gradient (through beff) and
// weight gradient; with overwrite it stores dx instead, since each input
// plane is computed once. Work is split over channels so that each worker
// owns whole rows of dw and no reduction is needed.
//
// Both are tap kernels over padded-width planes, on the output gradient at
// stride-1 resolution (at stride S, dy spread onto every S-th row and
// column with zeros between, which is what a strided convolution's
// gradient is). The weight gradient of tap t is the dot product of dy with
// the padded input shifted by its offset s_t. The input gradient, a scatter
// dxp[q+s_t] += b_t·dy[q], is computed as the gather dxp[q] =
// Σ_t b_t·dy[q−s_t] from a copy of dy with M = max s_t zeros in front
// (offsets M−s_t ≥ 0); the scratch columns and the zeros after the last row
// supply the taps that fall outside dy.
func dwBackward(gm convGeom, x, dy, beff, dx, dw []float32, overwrite bool) {
	k2 := gm.KH * gm.KW
	hp, wp := gm.H+2*gm.P, gm.W+2*gm.P
	// The stride-1 output size, over which the taps run.
	h1, w1 := hp-gm.D*(gm.KH-1), wp-gm.D*(gm.KW-1)
	planeIn, planeOut := gm.H*gm.W, gm.Ho*gm.Wo
	var flip []float32
	if dx != nil && gm.same() {
		flip = gm.flippedKernel(beff)
	}
	cpu.For(gm.C, 1, func(clo, chi int) {
		offs := gm.tapOffsets(wp)
		m := offs[len(offs)-1]
		// dxw holds rows P..P+H−1 of the padded input gradient from
		// column P on (q0 in the padded plane), lx values.
		q0, lx := gm.P*wp+gm.P, (gm.H-1)*wp+gm.W
		back := make([]int, len(offs))
		for t, s := range offs {
			back[t] = q0 + m - s
		}
		xp, dyz, dxw := getBuf(hp*wp), getBuf(m+hp*wp+wp), getBuf(lx)
		defer putBuf(xp)
		defer putBuf(dyz)
		defer putBuf(dxw)
		// Borders of xp, the front zeros, the scratch columns (and at
		// stride S the skipped rows and columns) and the tail of dyz are
		// never written below, so they stay zero for every plane.
		clear(xp)
		clear(dyz)
		L := (h1-1)*wp + w1
		dyw := dyz[m:]
		for c := clo; c < chi; c++ {
			for n := 0; n < gm.N; n++ {
				q := n*gm.C + c
				xq, dyq := x[q*planeIn:(q+1)*planeIn], dy[q*planeOut:(q+1)*planeOut]
				if gm.S == 1 {
					cpu.CopyRows(dyw, wp, dyq, gm.Wo, gm.Ho, gm.Wo)
				} else {
					for i := range gm.Ho {
						r := dyw[i*gm.S*wp:]
						for j, v := range dyq[i*gm.Wo : (i+1)*gm.Wo] {
							r[j*gm.S] = v
						}
					}
				}
				if dw != nil {
					pad(gm, xq, xp, hp, wp)
					if gm.square() {
						// dyz has the zero rows above and below dy that
						// the register-blocked kernel reads (m ≥ (k−1)·D·wp).
						cpu.DepthwiseWeightGrad(dw[c*k2:(c+1)*k2], dyz, m, xp, wp, gm.KH, gm.D, h1, w1)
					} else {
						cpu.DotTaps(dw[c*k2:(c+1)*k2], dyw[:L], xp, offs)
					}
				}
				if flip != nil {
					// dyz from m−(P·wp+P) on is dy padded by P (gm.same).
					cpu.DepthwisePlane(dx[q*planeIn:(q+1)*planeIn], gm.W, dyz[m-q0:], wp, flip[c*k2:(c+1)*k2], gm.KH, gm.D, gm.H, gm.W, !overwrite)
				} else if dx != nil {
					cpu.Taps(dxw, dyz, back, beff[c*k2:(c+1)*k2])
					if overwrite {
						cpu.CopyRows(dx[q*planeIn:(q+1)*planeIn], gm.W, dxw, wp, gm.H, gm.W)
					} else {
						cpu.AddRows(dx[q*planeIn:(q+1)*planeIn], gm.W, dxw, wp, gm.H, gm.W)
					}
				}
			}
		}
	})
}

// Stride-1 convolution on "padded-width" columns. Each input plane is
// zero-padded once to Hp×Wp; the output is computed Ho rows of Wp columns
// wide, the last Wp−Wo of each row being scratch. Then the im2col row of
// tap (a, b) is one contiguous slice of the padded plane starting at
// a·D·Wp + b·D, so building columns (and scattering them back) is one
// memmove per row instead of one per output row, at the price of ~Wp/Wo
// extra GEMM columns.
type wideGeom struct {
	hp, wp, plane, lw, tail, rows int
}

func (gm convGeom) wideGeom() wideGeom {
	hp, wp := gm.H+2*gm.P, gm.W+2*gm.P
	return wideGeom{hp: hp, wp: wp, plane: hp * wp, lw: gm.Ho * wp,
		tail: gm.D * (gm.KW - 1), rows: gm.C / gm.G * gm.KH * gm.KW}
}

// padPlanes zero-pads cg consecutive planes of x into xp (which has a zero
// tail so the scratch columns of the last plane stay in bounds).
func padPlanes(gm convGeom, wg wideGeom, x, xp []float32, cg int) {
	clear(xp)
	for c := 0; c < cg; c++ {
		cpu.CopyRows(xp[c*wg.plane+gm.P*wg.wp+gm.P:], wg.wp, x[c*gm.H*gm.W:], gm.W, gm.H, gm.W)
	}
}

// wideOffsets returns where each column row (c, a, b), c < cg, starts in
// the padded planes: the row offsets of the implicit GEMM (cpu.SgemmRows)
// that reads the columns in place instead of copying them out (wideCols).
func wideOffsets(gm convGeom, wg wideGeom, cg int) []int {
	offs := make([]int, 0, cg*gm.KH*gm.KW)
	for c := 0; c < cg; c++ {
		for a := 0; a < gm.KH; a++ {
			for b := 0; b < gm.KW; b++ {
				offs = append(offs, c*wg.plane+a*gm.D*wg.wp+b*gm.D)
			}
		}
	}
	return offs
}

func wideCols(gm convGeom, wg wideGeom, xp, col []float32, cg int) {
	r := 0
	for c := 0; c < cg; c++ {
		for a := 0; a < gm.KH; a++ {
			for b := 0; b < gm.KW; b++ {
				s := c*wg.plane + a*gm.D*wg.wp + b*gm.D
				copy(col[r*wg.lw:(r+1)*wg.lw], xp[s:s+wg.lw])
				r++
			}
		}
	}
}

func wideForward(gm convGeom, x, w, out []float32) {
	wg := gm.wideGeom()
	cg, og := gm.C/gm.G, gm.O/gm.G
	offs := wideOffsets(gm, wg, cg)
	cpu.For(gm.N, 1, func(lo, hi int) {
		xp := getBuf(cg*wg.plane + wg.tail)
		ow := getBuf(og * wg.lw)
		defer putBuf(xp)
		defer putBuf(ow)
		for n := lo; n < hi; n++ {
			for g := 0; g < gm.G; g++ {
				padPlanes(gm, wg, x[(n*gm.C+g*cg)*gm.H*gm.W:], xp, cg)
				cpu.SgemmRows(og, wg.lw, wg.rows, 1, w[g*og*wg.rows:], wg.rows, xp, offs, 0, ow, wg.lw)
				dst := out[(n*gm.O+g*og)*gm.Ho*gm.Wo:]
				for o := 0; o < og; o++ {
					cpu.CopyRows(dst[o*gm.Ho*gm.Wo:], gm.Wo, ow[o*wg.lw:], wg.wp, gm.Ho, gm.Wo)
				}
			}
		}
	})
}

func wideBackward(gm convGeom, x, dy, beff, dx, dw []float32) {
	wg := gm.wideGeom()
	cg, og := gm.C/gm.G, gm.O/gm.G
	// A "same" convolution's input gradient (gm.same) is a cg × (og·k²)
	// by (og·k²) × columns GEMM, the forward's shape, instead of (cg·k²)
	// columns of k = og scattered back one row at a time.
	var flip []float32
	var offs []int
	k2 := gm.KH * gm.KW
	if dx != nil && gm.same() {
		flip = gm.flippedKernel(beff)
		offs = wideOffsets(gm, wg, og)
	}
	parts := make([][]float32, cpu.Workers())
	used := cpu.ForWorker(gm.N, 1, func(wk, lo, hi int) {
		xp := getBuf(max(cg, og)*wg.plane + wg.tail)
		col := getBuf(wg.rows * wg.lw)
		dyw := getBuf(max(cg, og) * wg.lw)
		defer putBuf(xp)
		defer putBuf(col)
		defer putBuf(dyw)
		pdw := dw
		if dw != nil && wk > 0 {
			pdw = make([]float32, len(dw))
			parts[wk] = pdw
		}
		for n := lo; n < hi; n++ {
			for g := 0; g < gm.G; g++ {
				off := (n*gm.C + g*cg) * gm.H * gm.W
				src := dy[(n*gm.O+g*og)*gm.Ho*gm.Wo:]
				clear(dyw)
				for o := 0; o < og; o++ {
					cpu.CopyRows(dyw[o*wg.lw:], wg.wp, src[o*gm.Ho*gm.Wo:], gm.Wo, gm.Ho, gm.Wo)
				}
				if pdw != nil {
					padPlanes(gm, wg, x[off:], xp, cg)
					wideCols(gm, wg, xp, col, cg)
					cpu.Sgemm(false, true, og, wg.rows, wg.lw, 1, dyw, wg.lw, col, wg.lw, 1, pdw[g*og*wg.rows:], wg.rows)
				}
				if dx == nil {
					continue
				}
				if flip != nil {
					// xp: dy padded, its columns read in place; dyw: the
					// input gradient at padded width (dy's copy is spent).
					padPlanes(gm, wg, src, xp, og)
					ow := dyw[:cg*wg.lw]
					cpu.SgemmRows(cg, wg.lw, og*k2, 1, flip[g*cg*og*k2:], og*k2, xp, offs, 0, ow, wg.lw)
					for c := 0; c < cg; c++ {
						cpu.AddRows(dx[off+c*gm.H*gm.W:], gm.W, ow[c*wg.lw:], wg.wp, gm.H, gm.W)
					}
					continue
				}
				// col now holds the column gradient; xp the padded input gradient.
				cpu.Sgemm(true, false, wg.rows, wg.lw, og, 1, beff[g*og*wg.rows:], wg.rows, dyw, wg.lw, 0, col, wg.lw)
				clear(xp)
				r := 0
				for c := 0; c < cg; c++ {
					for a := 0; a < gm.KH; a++ {
						for b := 0; b < gm.KW; b++ {
							s := c*wg.plane + a*gm.D*wg.wp + b*gm.D
							cpu.Add(xp[s:s+wg.lw], col[r*wg.lw:(r+1)*wg.lw])
							r++
						}
					}
				}
				for c := 0; c < cg; c++ {
					cpu.AddRows(dx[off+c*gm.H*gm.W:], gm.W, xp[c*wg.plane+gm.P*wg.wp+gm.P:], wg.wp, gm.H, gm.W)
				}
			}
		}
	})
	for wk := 1; wk < used; wk++ {
		if parts[wk] != nil {
			cpu.Add(dw, parts[wk])
		}
	}
}
