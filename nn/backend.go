package nn

import (
	"fmt"

	"github.com/bionaslab/bionas/nn/cpu"
)

// Backend runs the heavy kernels of convolution and linear layers somewhere
// other than this package's CPU code: the CUDA backend of package nn/cuda
// (built with -tags cuda). A Graph carries at most one (Graph.Backend); nil
// means the CPU. Only the ops that dominate a training step go through it,
// so the seam stays three methods wide; everything else (pooling, BatchNorm,
// activations, losses, optimizers) runs on the CPU whatever the backend.
//
// Every slice is host memory in this package's layouts (NCHW, row-major);
// a backend may stage it to and from a device on each call. Shapes are
// checked by the callers, so an error means the device failed.
type Backend interface {
	// Name says where the kernels run, e.g. "cuda:0 (NVIDIA H100)".
	Name() string
	// ConvForward writes out = conv(x, w), no bias, for the whole batch.
	ConvForward(s ConvShape, x, w, out []float32) error
	// ConvBackward adds the input gradient convᵀ(dy, b) to dx, where b is W
	// for back-propagation or the rule's feedback B, and the true weight
	// gradient dy ⋆ x to dw. Either of dx and dw may be nil.
	ConvBackward(s ConvShape, x, dy, b, dx, dw []float32) error
	// Sgemm is C = alpha·op(A)·op(B) + beta·C on row-major matrices, as
	// cpu.Sgemm (op(A) is m×k, op(B) is k×n).
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error
}

// ConvShape is the geometry of one convolution as a Backend sees it: input
// N×C×H×W, weight O×(C/Groups)×KH×KW, output N×O×Ho×Wo.
type ConvShape struct {
	N, C, H, W                        int
	O, KH, KW                         int
	Stride, Padding, Dilation, Groups int
	Ho, Wo                            int
}

func (gm convGeom) shape() ConvShape {
	return ConvShape{N: gm.N, C: gm.C, H: gm.H, W: gm.W, O: gm.O, KH: gm.KH, KW: gm.KW,
		Stride: gm.S, Padding: gm.P, Dilation: gm.D, Groups: gm.G, Ho: gm.Ho, Wo: gm.Wo}
}

// backendOf is g's backend, nil for a nil graph (inference runs on the CPU).
func backendOf(g *Graph) Backend {
	if g == nil {
		return nil
	}
	return g.Backend
}

// mustBackend turns a device failure into a panic naming the layer: layer
// forwards and backward closures cannot return errors, and a failed device
// leaves no correct result to continue with.
func mustBackend(b Backend, layer layerRef, err error) {
	if err != nil {
		panic(fmt.Errorf("%s %s on %s: %w", layer.kind, layer.name, b.Name(), err))
	}
}

// layerRef names a layer for a device failure. It is formatted only when
// one happens, so the hot path builds no string.
type layerRef struct{ kind, name string }

// convForwardOn is convForward on g's backend, or on the CPU.
func convForwardOn(g *Graph, layer layerRef, gm convGeom, x, w, out []float32) {
	if b := backendOf(g); b != nil {
		mustBackend(b, layer, b.ConvForward(gm.shape(), x, w, out))
		return
	}
	convForward(gm, x, w, out)
}

// convBackwardOn is convBackward on g's backend, or on the CPU.
func convBackwardOn(g *Graph, layer layerRef, gm convGeom, x, dy, beff, dx, dw []float32) {
	if b := backendOf(g); b != nil {
		mustBackend(b, layer, b.ConvBackward(gm.shape(), x, dy, beff, dx, dw))
		return
	}
	convBackward(gm, x, dy, beff, dx, dw)
}

// sgemmOn is cpu.SgemmParallel on g's backend, or on the CPU.
func sgemmOn(g *Graph, layer layerRef, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if be := backendOf(g); be != nil {
		mustBackend(be, layer, be.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
		return
	}
	cpu.SgemmParallel(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// geom is the kernel geometry of a backend's shape.
func (s ConvShape) geom() convGeom {
	return convGeom{N: s.N, C: s.C, H: s.H, W: s.W, O: s.O, KH: s.KH, KW: s.KW,
		S: s.Stride, P: s.Padding, D: s.Dilation, G: s.Groups, Ho: s.Ho, Wo: s.Wo}
}

// CPU is this package's own kernels as a Backend: what a graph without a
// backend runs, as a value, for code that wraps or compares backends (a
// device check's reference, tests that watch the seam).
type CPU struct{}

// Name is "cpu".
func (CPU) Name() string { return "cpu" }

// ConvForward runs the CPU convolution.
func (CPU) ConvForward(s ConvShape, x, w, out []float32) error {
	convForward(s.geom(), x, w, out)
	return nil
}

// ConvBackward runs the CPU convolution backward.
func (CPU) ConvBackward(s ConvShape, x, dy, b, dx, dw []float32) error {
	convBackward(s.geom(), x, dy, b, dx, dw)
	return nil
}

// Sgemm runs the CPU GEMM on every core.
func (CPU) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	cpu.SgemmParallel(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}
