//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/cpu"
	"github.com/bionaslab/bionas/nn/rule"
)

// Tolerance is the largest relative error the device check accepts (float32).
const Tolerance = 1e-4

// CheckResult is one comparison of a device op with its CPU op in package nn.
type CheckResult struct {
	Op     string  `json:"op"`
	Rule   string  `json:"rule,omitempty"`
	Part   string  `json:"part"` // forward, dx, dw, db, loss…
	RelErr float64 `json:"rel_err"`
	Pass   bool    `json:"pass"`
}

// RelErr is max|got−want| / max|want| (0 when both are all zero): an error
// relative to the tensor's scale, so values near zero do not blow it up.
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
		if math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
			return math.Inf(1)
		}
	}
	if diff == 0 {
		return 0
	}
	if scale == 0 {
		return math.Inf(1)
	}
	return diff / scale
}

// convCase is one convolution the check runs for every rule.
type convCase struct {
	Name                                    string
	N, C, H, O, K, Stride, Pad, Dil, Groups int
}

// convCases cover every path of the backend: dense (im2col + GEMM), strided,
// dilated, grouped, pointwise (GEMM on the image), strided 1×1
// (FactorizedReduce), depthwise (direct loops) plain, strided and dilated.
var convCases = []convCase{
	{"dense3x3", 3, 8, 11, 12, 3, 1, 1, 1, 1},
	{"dense3x3-s2", 3, 8, 11, 12, 3, 2, 1, 1, 1},
	{"dilated3x3-d2", 2, 6, 13, 10, 3, 1, 2, 2, 1},
	{"grouped3x3-g4", 2, 8, 10, 8, 3, 1, 1, 1, 4},
	{"pointwise1x1", 3, 16, 9, 24, 1, 1, 0, 1, 1},
	{"reduce1x1-s2", 2, 8, 10, 8, 1, 2, 0, 1, 1},
	{"depthwise3x3", 3, 8, 12, 8, 3, 1, 1, 1, 8},
	{"depthwise5x5-s2", 2, 6, 13, 6, 5, 2, 2, 1, 6},
	{"depthwise5x5-d2", 2, 6, 13, 6, 5, 1, 4, 2, 6},
	{"stem3x3-bigger", 4, 3, 32, 48, 3, 1, 1, 1, 1},
}

// convRules are the feedback rules a single conv layer can follow on its
// own (dfa needs a network output; Check runs it in the network case).
var convRules = []rule.Rule{rule.BP, rule.FA, rule.USF, rule.BRSF, rule.FRSF}

// Check runs every device op and rule on seeded random inputs, on d and on
// the CPU, and returns one result per compared tensor. An error means the
// device failed; a mismatch is a result with Pass false.
func Check(d *Device, seed uint64) ([]CheckResult, error) {
	var res []CheckResult
	add := func(op string, r rule.Rule, part string, got, want []float32) {
		e := RelErr(got, want)
		res = append(res, CheckResult{Op: op, Rule: string(r), Part: part, RelErr: e, Pass: e <= Tolerance})
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	steps := []func() error{
		func() error { return checkSgemm(d, rng, add) },
		func() error { return checkConvs(d, seed, add) },
		func() error { return checkNetworks(d, seed, add) },
		func() error { return checkFeedback(d, seed, add) },
		func() error { return checkPools(d, rng, add) },
		func() error { return checkBatchNorm(d, rng, add) },
		func() error { return checkElementwise(d, rng, add) },
		func() error { return checkLoss(d, rng, add) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return res, err
		}
	}
	return res, nil
}

type addFunc func(op string, r rule.Rule, part string, got, want []float32)

func randn(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// checkSgemm compares the GEMM with cpu.Sgemm for every transpose pair, on
// sizes that are not multiples of the 64×64 tile, with beta 0 and 0.5.
func checkSgemm(d *Device, rng *rand.Rand, add addFunc) error {
	m, n, k := 67, 45, 131
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, beta := range []float32{0, 0.5} {
				lda, ldb := k, n
				if ta {
					lda = m
				}
				if tb {
					ldb = k
				}
				a, b, c := randn(rng, m*k), randn(rng, k*n), randn(rng, m*n)
				want := append([]float32(nil), c...)
				cpu.Sgemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, want, n)
				if err := d.Sgemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c, n); err != nil {
					return err
				}
				add(fmt.Sprintf("sgemm ta=%v tb=%v beta=%v", ta, tb, beta), "", "C", c, want)
			}
		}
	}
	return nil
}

// checkConvs runs nn.Conv2d forward and backward on two identical layers,
// one on the CPU and one resident on d (weights, input, output and
// gradients in device memory), for every case
// and rule: output, input gradient (through the rule's B) and the true
// weight gradient, plus the bias gradient.
func checkConvs(d *Device, seed uint64, add addFunc) error {
	for ci, cc := range convCases {
		for _, r := range convRules {
			cfg := nn.Conv2dConfig{Name: cc.Name, In: cc.C, Out: cc.O, Kernel: cc.K, Stride: cc.Stride,
				Padding: cc.Pad, Dilation: cc.Dil, Groups: cc.Groups, Bias: true, Rule: r}
			var outs [2]*nn.Tensor
			var xs [2]*nn.Tensor
			var layers [2]*nn.Conv2d
			rng := rand.New(rand.NewPCG(seed, uint64(100+ci)))
			x := randn(rng, cc.N*cc.C*cc.H*cc.H)
			var dy []float32
			for side, dev := range []nn.Device{nil, d.Resident()} {
				// Same seed, same layer: brsf draws the same R on both sides.
				l, err := nn.NewConv2d(cfg, rand.New(rand.NewPCG(seed, uint64(ci))))
				if err != nil {
					return fmt.Errorf("check %s: %w", cc.Name, err)
				}
				xt := nn.FromSlice(append([]float32(nil), x...), cc.N, cc.C, cc.H, cc.H)
				if dev != nil {
					if err := nn.MoveModule(l, dev); err != nil {
						return fmt.Errorf("check %s: %w", cc.Name, err)
					}
					xt = nn.ToDevice(xt, dev)
				}
				xt.NeedsGrad = true
				g := nn.NewGraph(true, rand.New(rand.NewPCG(seed, 9)))
				out, err := guard(func() *nn.Tensor { return l.Forward(g, xt) })
				if err != nil {
					return err
				}
				if dy == nil {
					dy = randn(rng, out.Len())
				}
				if _, err := guard(func() *nn.Tensor { g.BackwardFrom(out, dy); return nil }); err != nil {
					return err
				}
				outs[side], xs[side], layers[side] = out, xt, l
			}
			add("conv "+cc.Name, r, "forward", outs[1].Values(), outs[0].Data)
			add("conv "+cc.Name, r, "dx", xs[1].GradValues(), xs[0].Grad)
			add("conv "+cc.Name, r, "dw", layers[1].W.GradValues(), layers[0].W.Grad)
			add("conv "+cc.Name, r, "db", layers[1].Bias.GradValues(), layers[0].Bias.Grad)
		}
	}
	return nil
}

// guard turns a backend panic (nn layers cannot return errors) back into
// an error.
func guard(f func() *nn.Tensor) (t *nn.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", p)
		}
	}()
	return f(), nil
}

// networkRules are the rules of the network case: every conv/linear rule,
// dfa included (it needs the network output). hebb and pc are layers of
// their own whose kernels still run on the CPU.
var networkRules = []rule.Rule{rule.BP, rule.FA, rule.DFA, rule.USF, rule.BRSF, rule.FRSF}

// checkNetworks runs one training batch of nn's small CNN (conv, ReLU, max
// pool, conv, ReLU, max pool, linear, cross-entropy) per rule on the CPU
// and resident on d, and compares the loss and every parameter gradient.
func checkNetworks(d *Device, seed uint64, add addFunc) error {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := randn(rng, 8*3*16*16)
	labels := make([]int, 8)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	for _, r := range networkRules {
		var loss [2]float32
		var grads [2][][]float32
		for side, dev := range []nn.Device{nil, d.Resident()} {
			net, err := nn.NewSmallCNN(nn.SmallCNNConfig{C: 3, H: 16, W: 16, Classes: 10, Width: 8, Rule: r},
				rand.New(rand.NewPCG(seed, 4)))
			if err != nil {
				return fmt.Errorf("check small CNN %s: %w", r, err)
			}
			xt := nn.FromSlice(append([]float32(nil), x...), 8, 3, 16, 16)
			if dev != nil {
				if err := nn.MoveModule(net, dev); err != nil {
					return fmt.Errorf("check small CNN %s: %w", r, err)
				}
				xt = nn.ToDevice(xt, dev)
			}
			g := nn.NewGraph(true, rand.New(rand.NewPCG(seed, 5)))
			if _, err := guard(func() *nn.Tensor {
				loss[side], _ = nn.TrainBatch(net, xt, labels, 0.1, g)
				return nil
			}); err != nil {
				return err
			}
			for _, p := range net.Params() {
				grads[side] = append(grads[side], p.T.GradValues())
			}
			g.Release()
		}
		add("smallcnn step", r, "loss", loss[1:], loss[:1])
		for i := range grads[0] {
			add("smallcnn step", r, fmt.Sprintf("grad %d", i), grads[1][i], grads[0][i])
		}
	}
	return nil
}

// checkFeedback compares the B-construction kernels with nn.Feedback:
// usf = scale·sign(W), frsf = |R|·sign(W) with the stored |R|, brsf with
// this step's R.
func checkFeedback(d *Device, seed uint64, add addFunc) error {
	for _, r := range []rule.Rule{rule.USF, rule.FRSF, rule.BRSF} {
		l, err := nn.NewConv2d(nn.Conv2dConfig{Name: "fb", In: 8, Out: 16, Kernel: 3, Rule: r}, rand.New(rand.NewPCG(seed, 6)))
		if err != nil {
			return fmt.Errorf("check feedback %s: %w", r, err)
		}
		w := l.W.Data
		w[0] = 0 // sign(0) = 0
		want := append([]float32(nil), l.Feedback.Effective(w, false)...)
		var got []float32
		switch r {
		case rule.USF:
			got, err = d.USF(w, l.Feedback.Scale)
		case rule.FRSF:
			got, err = d.RSF(w, l.Feedback.B.Data)
		case rule.BRSF:
			// |R| is B's magnitude for an all-positive W; advance=false keeps
			// the draw the same as want's.
			ones := make([]float32, len(w))
			for i := range ones {
				ones[i] = 1
			}
			got, err = d.RSF(w, l.Feedback.Effective(ones, false))
		}
		if err != nil {
			return err
		}
		add("feedback B", r, "B", got, want)
	}
	return nil
}

// checkPools compares max and average pooling (DARTS' 3×3 windows, stride 1
// and 2, average with and without the padding counted) forward and backward.
func checkPools(d *Device, rng *rand.Rand, add addFunc) error {
	for _, st := range []int{1, 2} {
		p := PoolShape{N: 2, C: 5, H: 11, W: 11, K: 3, Stride: st, Pad: 1}
		x := randn(rng, p.N*p.C*p.H*p.W)
		for _, kind := range []string{"max", "avg", "avg-include-pad"} {
			xt := nn.FromSlice(append([]float32(nil), x...), p.N, p.C, p.H, p.W)
			xt.NeedsGrad = true
			g := nn.NewGraph(true, nil)
			var y *nn.Tensor
			if kind == "max" {
				y = g.MaxPool2d(xt, p.K, p.Stride, p.Pad)
			} else {
				y = g.AvgPool2d(xt, p.K, p.Stride, p.Pad, kind == "avg-include-pad")
			}
			dy := randn(rng, y.Len())
			g.BackwardFrom(y, dy)
			dx := make([]float32, len(x))
			var got []float32
			var err error
			if kind == "max" {
				var arg []int32
				if got, arg, err = d.MaxPool2d(p, x); err == nil {
					err = d.MaxPool2dBackward(p, dy, arg, dx)
				}
			} else if got, err = d.AvgPool2d(p, x, kind == "avg-include-pad"); err == nil {
				err = d.AvgPool2dBackward(p, dy, dx, kind == "avg-include-pad")
			}
			if err != nil {
				return err
			}
			op := fmt.Sprintf("pool %s 3x3 s%d", kind, st)
			add(op, "", "forward", got, y.Data)
			add(op, "", "dx", dx, xt.Grad)
		}
	}
	return nil
}

// checkBatchNorm compares BatchNorm2d in training (batch statistics),
// affine and not, forward and backward.
func checkBatchNorm(d *Device, rng *rand.Rand, add addFunc) error {
	n, c, h := 4, 6, 7
	for _, affine := range []bool{false, true} {
		bn := nn.NewBatchNorm2d("bn", c, affine)
		var w, b []float32
		if affine {
			copy(bn.Weight.Data, randn(rng, c))
			copy(bn.Bias.Data, randn(rng, c))
			w, b = bn.Weight.Data, bn.Bias.Data
		}
		x := randn(rng, n*c*h*h)
		for i := range x {
			x[i] = 3*x[i] + 1 // a mean and scale away from 0 and 1
		}
		xt := nn.FromSlice(append([]float32(nil), x...), n, c, h, h)
		xt.NeedsGrad = true
		g := nn.NewGraph(true, nil)
		y := bn.Forward(g, xt)
		dy := randn(rng, y.Len())
		g.BackwardFrom(y, dy)
		r, err := d.BatchNorm2dTrain(x, w, b, n, c, h*h, bn.Eps)
		if err != nil {
			return err
		}
		dx := make([]float32, len(x))
		var dw, db []float32
		if affine {
			dw, db = make([]float32, c), make([]float32, c)
		}
		if err := d.BatchNorm2dBackward(dy, r.XHat, r.Var, w, dx, dw, db, n, c, h*h, bn.Eps, true); err != nil {
			return err
		}
		op := fmt.Sprintf("batchnorm2d train affine=%v", affine)
		add(op, "", "forward", r.Y, y.Data)
		add(op, "", "dx", dx, xt.Grad)
		if affine {
			add(op, "", "dw", dw, bn.Weight.Grad)
			add(op, "", "db", db, bn.Bias.Grad)
		}
	}
	return nil
}

// checkElementwise compares ReLU, axpy, scale, bias add and the channel sum
// with nn or plain loops.
func checkElementwise(d *Device, rng *rand.Rand, add addFunc) error {
	n, c, plane := 3, 7, 25
	x := randn(rng, n*c*plane)
	x[0] = 0
	xt := nn.FromSlice(append([]float32(nil), x...), n, c, 5, 5)
	xt.NeedsGrad = true
	g := nn.NewGraph(true, nil)
	y := g.ReLU(xt)
	dy := randn(rng, y.Len())
	g.BackwardFrom(y, dy)
	gy, err := d.ReLU(x)
	if err != nil {
		return err
	}
	dx := make([]float32, len(x))
	if err := d.ReLUBackward(gy, dy, dx); err != nil {
		return err
	}
	add("relu", "", "forward", gy, y.Data)
	add("relu", "", "dx", dx, xt.Grad)

	yv := randn(rng, len(x))
	want := append([]float32(nil), yv...)
	for i := range want {
		want[i] += 0.7 * x[i]
	}
	if err := d.Axpy(0.7, x, yv); err != nil {
		return err
	}
	add("axpy", "", "y", yv, want)

	s := append([]float32(nil), x...)
	for i := range want {
		want[i] = -1.3 * x[i]
	}
	if err := d.Scale(-1.3, s); err != nil {
		return err
	}
	add("scale", "", "x", s, want)

	bias := randn(rng, c)
	out := append([]float32(nil), x...)
	for i := range want {
		want[i] = x[i] + bias[(i/plane)%c]
	}
	if err := d.AddBias(out, bias, n, plane); err != nil {
		return err
	}
	add("bias add", "", "forward", out, want)

	db, wantDB := make([]float32, c), make([]float32, c)
	for i, v := range x {
		wantDB[(i/plane)%c] += v
	}
	if err := d.ChannelSum(x, db, n, plane); err != nil {
		return err
	}
	add("channel sum", "", "db", db, wantDB)
	return nil
}

// checkLoss compares softmax cross-entropy (with and without label
// smoothing), loss and gradient.
func checkLoss(d *Device, rng *rand.Rand, add addFunc) error {
	rows, k := 16, 10
	for _, sm := range []float32{0, 0.1} {
		z := randn(rng, rows*k)
		for i := range z {
			z[i] *= 3
		}
		labels := make([]int, rows)
		for i := range labels {
			labels[i] = rng.IntN(k)
		}
		zt := nn.FromSlice(append([]float32(nil), z...), rows, k)
		zt.NeedsGrad = true
		g := nn.NewGraph(true, nil)
		l := g.CrossEntropy(zt, labels, sm)
		g.Backward(l)
		loss, grad, err := d.SoftmaxCrossEntropy(z, labels, k, sm)
		if err != nil {
			return err
		}
		op := fmt.Sprintf("softmax cross-entropy smoothing=%v", sm)
		add(op, "", "loss", []float32{loss}, l.Data)
		add(op, "", "dlogits", grad, zt.Grad)
	}
	return nil
}
