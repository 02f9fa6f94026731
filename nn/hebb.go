package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/cpu"
)

// HebbConfig describes a Hebbian convolution. Zero Stride/Dilation mean 1;
// zero LR means 1e-4, the paper's hebbian_scale.
type HebbConfig struct {
	Name                      string
	In, Out, Kernel           int
	Stride, Padding, Dilation int
	LR                        float32
	// Normalize rescales every filter to unit L2 norm after each update
	// (the paper's "optional normalisation" against weight growth).
	Normalize bool
	Init      Init
}

// HebbConv2d is the paper's Hebbian convolution (appendix 7.3.1) in the
// intended form of REFERENCE.md: in every forward of a weight step
// (Graph.LocalUpdates: a training graph marked WeightStep), with patches P
// (one row per output position, C·k² columns) and responses Y = conv(x)
// (one row per position, Out columns), both L2-normalised row by row, the
// weights move by ΔW = LR·(Pᵀ·Y)ᵀ — laid out as (Out, C, k, k), i.e.
// transposed, not the reference code's raw reshape — and are clamped to
// [−1, 1]. The output is the convolution with the updated weights. It
// starts from its initialised weights (not zeros), never learns from
// gradients, and passes the error down to its input exactly (through Wᵀ).
//
// REFERENCE.md updates "only in training forwards"; we narrow that to the
// forwards of weight steps, so that a search's architecture step (a
// training-mode forward on the validation half), evaluations and EG-NAS'
// candidate scoring never move the Hebbian weights: only the data the
// weights are trained on does, as for every other weight.
type HebbConv2d struct {
	Cfg HebbConfig
	W   *Tensor
}

// NewHebbConv2d builds a Hebbian convolution with weights drawn from rng.
func NewHebbConv2d(cfg HebbConfig, rng *rand.Rand) (*HebbConv2d, error) {
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	if cfg.Dilation == 0 {
		cfg.Dilation = 1
	}
	if cfg.LR == 0 {
		cfg.LR = 1e-4
	}
	if cfg.Init == "" {
		cfg.Init = Xavier
	}
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.Kernel <= 0 {
		return nil, fmt.Errorf("hebbian conv %q: bad shape in=%d out=%d kernel=%d", cfg.Name, cfg.In, cfg.Out, cfg.Kernel)
	}
	h := &HebbConv2d{Cfg: cfg, W: New(cfg.Out, cfg.In, cfg.Kernel, cfg.Kernel)}
	fi, fo := Fans(h.W.Shape)
	if cfg.Init == Kaiming {
		KaimingUniform(h.W, fi, rng)
	} else {
		XavierUniform(h.W, fi, fo, rng)
	}
	return h, nil
}

// LayerName is the layer's path in its model.
func (h *HebbConv2d) LayerName() string { return h.Cfg.Name }

// Params is empty: Hebbian weights do not follow gradients.
func (h *HebbConv2d) Params() []Named { return nil }

// Buffers hold the Hebbian weights, which a checkpoint must keep.
func (h *HebbConv2d) Buffers() []Named { return []Named{{Join(h.Cfg.Name, "weight"), h.W}} }

// Forward applies the Hebbian update (weight steps only, see
// Graph.LocalUpdates) then the convolution.
func (h *HebbConv2d) Forward(g *Graph, x *Tensor) *Tensor {
	noDevice("HebbConv2d "+h.Cfg.Name+" (rule hebb)", x, h.W)
	g.tapInput(h.Cfg.Name, x)
	gm, err := newConvGeom(x.Shape, h.W.Shape, h.Cfg.Stride, h.Cfg.Padding, h.Cfg.Dilation, 1)
	if err != nil {
		panic(fmt.Sprintf("nn.HebbConv2d %q: %v", h.Cfg.Name, err))
	}
	out := g.Alloc(gm.N, gm.O, gm.Ho, gm.Wo)
	if g.LocalUpdates() {
		convForward(gm, x.Data, h.W.Data, out.Data)
		h.update(gm, x.Data, out.Data)
	}
	convForward(gm, x.Data, h.W.Data, out.Data)
	if !g.Records(x) {
		return out
	}
	w := append([]float32(nil), h.W.Data...) // the weights this output used
	g.Record(out, func() {
		convBackward(gm, x.Data, out.Grad, w, x.GradBuf(), nil, false)
	})
	return out
}

// update applies ΔW = LR·Σ_positions ŷ·p̂ᵀ to the weights.
func (h *HebbConv2d) update(gm convGeom, x, y []float32) {
	rows, cols := gm.C*gm.KH*gm.KW, gm.Ho*gm.Wo
	delta := make([]float32, len(h.W.Data))
	parts := make([][]float32, cpu.Workers())
	used := cpu.ForWorker(gm.N, 1, func(wk, lo, hi int) {
		acc := delta
		if wk > 0 {
			acc = make([]float32, len(delta))
			parts[wk] = acc
		}
		col := getBuf(rows * cols)
		yn := getBuf(gm.O * cols)
		defer putBuf(col)
		defer putBuf(yn)
		for n := lo; n < hi; n++ {
			im2col(gm, x[n*gm.C*gm.H*gm.W:], col)
			normalizeColumns(col, rows, cols)
			copy(yn, y[n*gm.O*cols:(n+1)*gm.O*cols])
			normalizeColumns(yn, gm.O, cols)
			cpu.Sgemm(false, true, gm.O, rows, cols, 1, yn, cols, col, cols, 1, acc, rows)
		}
	})
	for wk := 1; wk < used; wk++ {
		cpu.Add(delta, parts[wk])
	}
	w := h.W.Data
	for i := range w {
		w[i] = min(1, max(-1, w[i]+h.Cfg.LR*delta[i]))
	}
	if h.Cfg.Normalize {
		for o := 0; o < gm.O; o++ {
			f := w[o*rows : (o+1)*rows]
			var s float64
			for _, v := range f {
				s += float64(v) * float64(v)
			}
			if s > 0 {
				cpu.Scal(float32(1/math.Sqrt(s)), f)
			}
		}
	}
}

// normalizeColumns scales every column of a rows×cols matrix to unit L2
// norm (columns that are all zero stay zero), as F.normalize with eps 1e-12.
func normalizeColumns(m []float32, rows, cols int) {
	norms := make([]float64, cols)
	for r := 0; r < rows; r++ {
		for c, v := range m[r*cols : (r+1)*cols] {
			norms[c] += float64(v) * float64(v)
		}
	}
	inv := make([]float32, cols)
	for c, s := range norms {
		inv[c] = float32(1 / math.Max(math.Sqrt(s), 1e-12))
	}
	for r := 0; r < rows; r++ {
		row := m[r*cols : (r+1)*cols]
		for c := range row {
			row[c] *= inv[c]
		}
	}
}
