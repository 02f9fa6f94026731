package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// supernetTrainer holds a supernet and its optimizers and takes the
// elementary steps of the searches.
type supernetTrainer struct {
	net      *Supernet
	space    Space
	weights  []nn.Named
	wTensors []*nn.Tensor
	alphas   []nn.Named
	wOpt     *nn.SGD
	aOpt     *nn.Adam
	norm     *data.Norm
	clip     float32
	seed     uint64
	// dev, if set, is where the supernet lives while the search runs
	// (searchLoop.run moves it there and back): each step's batch goes up
	// through its graph, which gives its memory back when the step ends.
	dev nn.Device
}

// graph is a recording training graph of the trainer (Supernet.StepGraph):
// Release it once the step's values have been read.
func (t *supernetTrainer) graph(r *rand.Rand) *nn.Graph { return t.net.StepGraph(r) }

func newSupernetTrainer(net *Supernet, space Space, norm *data.Norm, clip float32, seed uint64, sgd nn.SGDConfig) *supernetTrainer {
	t := &supernetTrainer{net: net, space: space, norm: norm, clip: clip, seed: seed}
	t.weights = net.Weights()
	t.wTensors = nn.Tensors(t.weights)
	t.alphas = net.Alphas()
	t.wOpt = nn.NewSGD(t.weights, sgd)
	return t
}

// forwardLoss runs the supernet on (x, y) on graph g and returns the logits
// and the mean cross-entropy.
func (t *supernetTrainer) forwardLoss(g *nn.Graph, x *nn.Tensor, y []int) (logits, loss *nn.Tensor) {
	if t.dev != nil {
		x = g.ToDevice(x, t.dev) // the batch: the step's one upload of data
	}
	logits = t.net.Forward(g, normalizeInput(g, x, t.norm))
	g.SetOutput(logits)
	return logits, g.CrossEntropy(logits, y, 0)
}

// weightStep is one SGD step of the weights on a training batch: CE,
// backward (the alphas are frozen meanwhile, so no α-gradient is computed),
// global-norm clipping, SGD. It returns the batch loss and the number of
// correct predictions.
func (t *supernetTrainer) weightStep(x *nn.Tensor, y []int, epoch, step int) (float64, int, error) {
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	defer namedSetNeedsGrad(t.alphas, true)
	g := t.graph(graphRand(t.seed, streamGraph, epoch, step))
	defer g.Release() // after the loss and accuracy are read
	// The one forward of a search in which Hebbian weights learn.
	g.WeightStep = true
	logits, loss := t.forwardLoss(g, x, y)
	g.Backward(loss)
	if t.clip > 0 {
		n := nn.ClipGradNorm(t.wTensors, t.clip)
		if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
			return 0, 0, fmt.Errorf("epoch %d step %d: weight gradient norm is %v (training diverged; lower the learning rate)", epoch, step, n)
		}
	}
	t.wOpt.Step()
	return float64(loss.Values()[0]), nn.Accuracy(logits, y), nil
}

// archStep is DARTS' first-order architecture step: ∇α L_val(w, α) on a
// batch of the arch half (weights frozen meanwhile), then Adam. Its graph
// is not a weight step's: Hebbian weights do not learn from the arch half
// (BatchNorm's running statistics do, as in DARTS, whose model is in
// training mode there).
func (t *supernetTrainer) archStep(x *nn.Tensor, y []int, epoch, step int) {
	namedZeroGrad(t.alphas)
	namedSetNeedsGrad(t.weights, false)
	g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step))
	defer g.Release()
	_, loss := t.forwardLoss(g, x, y)
	g.Backward(loss)
	namedSetNeedsGrad(t.weights, true)
	t.aOpt.Step()
}

// archStepUnrolled is DARTS' second-order architecture step
// (REFERENCE.md §2.3), with ξ the current weight learning rate:
//
//	w' = w − ξ·(m·buf + ∇w L_train(w, α) + wd·w)
//	dα = ∇α L_val(w', α) − ξ·[∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)] / (2ε)
//	w± = w ± ε·∇w' L_val(w', α),  ε = 0.01 / ‖∇w' L_val(w', α)‖₂
//
// then Adam on dα. buf is the weight optimizer's momentum buffer (0 before
// the first step); the virtual step is plain momentum SGD even when the
// weight optimizer uses Nesterov (as in the reference, which never does). The weights are left as they were; so are the buffers
// (BatchNorm running statistics, Hebbian weights): each of the four virtual
// forwards starts from the buffers as they were before the step, and the
// step restores them at the end. (The reference builds the unrolled model
// as a fresh copy, so its forwards do not touch the model's buffers; ours
// do not either.)
func (t *supernetTrainer) archStepUnrolled(xt *nn.Tensor, yt []int, xv *nn.Tensor, yv []int, epoch, step int) error {
	xi := t.wOpt.LR()
	oc := t.wOpt.Config()
	w0 := namedData(t.weights)
	buffers := t.net.Buffers()
	b0 := namedData(buffers)
	defer namedRestore(buffers, b0)
	defer namedRestore(t.weights, w0)

	// 1. ∇w L_train(w) and the virtual step.
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step, 1))
	_, loss := t.forwardLoss(g, xt, yt)
	g.Backward(loss)
	g.Release()
	namedSetNeedsGrad(t.alphas, true)
	for _, p := range t.weights {
		w, gr := p.T.Data, p.T.Grad
		buf := t.wOpt.MomentumBuffer(p.Name)
		for j := range w {
			d := oc.WeightDecay * w[j]
			if gr != nil {
				d += gr[j]
			}
			if buf != nil {
				d += oc.Momentum * buf[j]
			}
			w[j] -= xi * d
		}
	}

	// 2. ∇α and ∇w' of L_val at w'.
	namedRestore(buffers, b0)
	namedZeroGrad(t.weights)
	namedZeroGrad(t.alphas)
	g = t.graph(graphRand(t.seed, streamArchGraph, epoch, step, 2))
	_, loss = t.forwardLoss(g, xv, yv)
	g.Backward(loss)
	g.Release()
	dAlpha := namedGrads(t.alphas)
	v := namedGrads(t.weights)
	var norm float64
	for _, vs := range v {
		for _, x := range vs {
			norm += float64(x) * float64(x)
		}
	}
	norm = math.Sqrt(norm)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("epoch %d step %d: unrolled validation gradient norm is %v (training diverged)", epoch, step, norm)
	}

	// 3. Finite-difference Hessian-vector product around w.
	if norm > 0 {
		eps := float32(0.01 / norm)
		grads := make([][][]float32, 2)
		for k, sgn := range []float32{1, -1} {
			for i, p := range t.weights {
				w := p.T.Data
				for j := range w {
					w[j] = w0[i][j] + sgn*eps*v[i][j]
				}
			}
			namedRestore(buffers, b0)
			namedZeroGrad(t.alphas)
			namedSetNeedsGrad(t.weights, false)
			g = t.graph(graphRand(t.seed, streamArchGraph, epoch, step, uint64(3+k)))
			_, loss = t.forwardLoss(g, xt, yt)
			g.Backward(loss)
			g.Release()
			namedSetNeedsGrad(t.weights, true)
			grads[k] = namedGrads(t.alphas)
		}
		scale := xi / (2 * eps)
		for i := range dAlpha {
			for j := range dAlpha[i] {
				dAlpha[i][j] -= scale * (grads[0][i][j] - grads[1][i][j])
			}
		}
	}
	for i, a := range t.alphas {
		copy(a.T.GradBuf(), dAlpha[i])
	}
	t.aOpt.Step()
	return nil
}

// normalizeInput normalises x per channel inside the graph when norm is set.
func normalizeInput(g *nn.Graph, x *nn.Tensor, norm *data.Norm) *nn.Tensor {
	if norm == nil {
		return x
	}
	c := x.Dim(1)
	return g.Normalize(x, perChannelNorm(norm.Mean, c), perChannelNorm(norm.Std, c))
}

func perChannelNorm(v []float32, c int) []float32 {
	if len(v) == c {
		return v
	}
	out := make([]float32, c)
	for i := range out {
		out[i] = v[0]
	}
	return out
}

func namedSetNeedsGrad(ns []nn.Named, v bool) {
	for _, n := range ns {
		n.T.NeedsGrad = v
	}
}

func namedZeroGrad(ns []nn.Named) {
	for _, n := range ns {
		n.T.ZeroGrad()
	}
}

func namedData(ns []nn.Named) [][]float32 {
	out := make([][]float32, len(ns))
	for i, n := range ns {
		out[i] = slices.Clone(n.T.Data)
	}
	return out
}

func namedRestore(ns []nn.Named, d [][]float32) {
	for i, n := range ns {
		copy(n.T.Data, d[i])
	}
}

func namedGrads(ns []nn.Named) [][]float32 {
	out := make([][]float32, len(ns))
	for i, n := range ns {
		if n.T.Grad == nil {
			out[i] = make([]float32, len(n.T.Data))
		} else {
			out[i] = slices.Clone(n.T.Grad)
		}
	}
	return out
}

// archStepUnrolledDev is archStepUnrolled for a supernet on a device: the
// same steps, with the snapshots, the virtual step and the finite
// differences computed where the tensors live (nn.Axpby, nn.CloneOn). One
// value comes back: ‖∇w' L_val‖, which sets ε. A momentum buffer that has
// not gone up yet (a resumed run before its first weight step) is used
// from the host, as nn.SGD would upload it.
func (t *supernetTrainer) archStepUnrolledDev(xt *nn.Tensor, yt []int, xv *nn.Tensor, yv []int, epoch, step int) error {
	xi := t.wOpt.LR()
	oc := t.wOpt.Config()
	keep := nn.NewInference() // holds the snapshots until the step ends
	defer keep.Release()
	clones := func(ts []*nn.Tensor) []*nn.Tensor {
		out := make([]*nn.Tensor, len(ts))
		for i, x := range ts {
			out[i] = nn.CloneOn(keep, x)
		}
		return out
	}
	// gradClones copies the gradients (zeros where none reached a tensor,
	// without giving it one: as namedGrads on the host).
	gradClones := func(ns []nn.Named) []*nn.Tensor {
		out := make([]*nn.Tensor, len(ns))
		for i, n := range ns {
			if g := n.T.GradTensor(); g != nil {
				out[i] = nn.CloneOn(keep, g)
			} else {
				out[i] = nn.CloneOn(keep, n.T)
				nn.Axpby(0, nil, 0, out[i])
			}
		}
		return out
	}
	restoreAll := func(dst, src []*nn.Tensor) {
		for i := range dst {
			nn.CopyValues(dst[i], src[i])
		}
	}
	wts := nn.Tensors(t.weights)
	bufs := nn.Tensors(t.net.Buffers())
	w0, b0 := clones(wts), clones(bufs)
	defer restoreAll(bufs, b0)
	defer restoreAll(wts, w0)
	run := func(part uint64, x *nn.Tensor, y []int) {
		g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step, part))
		defer g.Release()
		_, loss := t.forwardLoss(g, x, y)
		g.Backward(loss)
	}

	// 1. ∇w L_train(w) and the virtual step w −= ξ·(wd·w + ∇w + m·buf).
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	run(1, xt, yt)
	namedSetNeedsGrad(t.alphas, true)
	for _, p := range t.weights {
		if gr := p.T.GradTensor(); gr != nil {
			nn.Axpby(-xi, gr, 1-xi*oc.WeightDecay, p.T)
		} else {
			nn.Axpby(0, nil, 1-xi*oc.WeightDecay, p.T)
		}
		if buf := t.wOpt.MomentumTensor(p.Name); buf != nil {
			if buf.Device() != p.T.Device() {
				buf = nn.ToDevice(buf, p.T.Device())
			}
			nn.Axpby(-xi*oc.Momentum, buf, 1, p.T)
		}
	}

	// 2. ∇α and ∇w' of L_val at w'.
	restoreAll(bufs, b0)
	namedZeroGrad(t.weights)
	namedZeroGrad(t.alphas)
	run(2, xv, yv)
	dAlpha := gradClones(t.alphas)
	v := gradClones(t.weights)
	norm := math.Sqrt(nn.GradSumSquares(wts))
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("epoch %d step %d: unrolled validation gradient norm is %v (training diverged)", epoch, step, norm)
	}

	// 3. Finite-difference Hessian-vector product around w.
	if norm > 0 {
		eps := float32(0.01 / norm)
		scale := xi / (2 * eps)
		for k, sgn := range []float32{1, -1} {
			for i, w := range wts {
				nn.CopyValues(w, w0[i])
				nn.Axpby(sgn*eps, v[i], 1, w)
			}
			restoreAll(bufs, b0)
			namedZeroGrad(t.alphas)
			namedSetNeedsGrad(t.weights, false)
			run(uint64(3+k), xt, yt)
			namedSetNeedsGrad(t.weights, true)
			for i, a := range t.alphas {
				if g := a.T.GradTensor(); g != nil {
					nn.Axpby(-sgn*scale, g, 1, dAlpha[i])
				}
			}
		}
	}
	for i, a := range t.alphas {
		nn.CopyValues(a.T.Alias(true).GradTensor(), dAlpha[i]) // Alias(true) gives α a gradient, as GradBuf on the host
	}
	t.aOpt.Step()
	return nil
}
