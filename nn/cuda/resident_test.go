//go:build cuda

package cuda

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// These tests run whole steps with every tensor resident on the device and
// compare them with the same steps on the CPU: a retraining step of a
// discrete network (every conv rule, drop path, label smoothing, gradient
// clipping, SGD with momentum), a supernet step (α gradients included) and
// a PGD step. On -tags cuda,cudaemu they run in CI on the emulator.

// residentGenotype uses every rule that has device kernels.
const residentGenotype = "Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3:usf', 1), ('sep_conv_3x3:brsf', 0), ('skip_connect:usf', 1), ('dil_conv_3x3:frsf', 1), ('skip_connect:usf', 0), ('sep_conv_5x5:dfa', 0), ('dil_conv_5x5:bp', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3:fa', 0), ('avg_pool_3x3:fa', 1), ('skip_connect:brsf', 2), ('max_pool_3x3:fa', 1), ('conv_3x3:bp', 0), ('skip_connect:usf', 2), ('skip_connect:frsf', 2), ('avg_pool_3x3:fa', 1)], reduce_concat=[2, 3, 4, 5])"

func residentNet(t *testing.T) *search.Network {
	t.Helper()
	gt, err := search.ParseGenotype(residentGenotype)
	if err != nil {
		t.Fatal(err)
	}
	net, err := search.NewNetwork(search.NetworkConfig{C: 4, Layers: 3, Classes: 10, InChannels: 3, ImageSize: 8, Genotype: gt, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	net.SetDropPath(0.2)
	return net
}

func batch(seed uint64, n, c, h, w, classes int) (*nn.Tensor, []int) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := nn.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(classes)
	}
	return x, y
}

// stepResult is what one training step produced, read back to the host.
type stepResult struct {
	loss   float32
	grads  map[string][]float32
	params map[string][]float32
}

// trainStep runs one step of search.Train's shape on net (on d if d is not
// nil): forward with drop path, smoothed cross-entropy, backward, clipping,
// SGD with momentum. It returns the loss, the gradients before the update
// and the parameters after it.
func trainStep(t *testing.T, net *search.Network, d nn.Device, opt *nn.SGD, x *nn.Tensor, y []int) stepResult {
	t.Helper()
	params := net.Params()
	for _, p := range params {
		p.T.ZeroGrad()
	}
	g := nn.NewGraph(true, rand.New(rand.NewPCG(5, 5)))
	defer g.Release()
	in := x
	if d != nil {
		in = g.ToDevice(x, d)
	}
	logits := net.Forward(g, in)
	g.SetOutput(logits)
	loss := g.CrossEntropy(logits, y, 0.1)
	g.Backward(loss)
	res := stepResult{loss: loss.Values()[0], grads: map[string][]float32{}, params: map[string][]float32{}}
	for _, p := range params {
		res.grads[p.Name] = append([]float32(nil), p.T.GradValues()...)
	}
	nn.ClipGradNorm(nn.Tensors(params), 5)
	opt.Step()
	for _, p := range params {
		res.params[p.Name] = append([]float32(nil), p.T.Values()...)
	}
	_ = nn.Accuracy(logits, y)
	return res
}

func compareSteps(t *testing.T, what string, got, want stepResult) {
	t.Helper()
	if e := RelErr([]float32{got.loss}, []float32{want.loss}); e > Tolerance {
		t.Errorf("%s: loss %v on the device, %v on the cpu (relative error %.3g)", what, got.loss, want.loss, e)
	}
	for name, w := range want.grads {
		if len(w) == 0 && len(got.grads[name]) == 0 {
			continue
		}
		if e := RelErr(got.grads[name], w); e > Tolerance {
			t.Errorf("%s: gradient of %s: relative error %.3g", what, name, e)
		}
	}
	for name, w := range want.params {
		if e := RelErr(got.params[name], w); e > Tolerance {
			t.Errorf("%s: %s after the update: relative error %.3g", what, name, e)
		}
	}
}

func TestResidentTrainStepMatchesCPU(t *testing.T) {
	d := openOrSkip(t).Resident()
	cpuNet, devNet := residentNet(t), residentNet(t)
	if err := nn.MoveModule(devNet, d); err != nil {
		t.Fatal(err)
	}
	cfg := nn.SGDConfig{LR: 0.05, Momentum: 0.9, WeightDecay: 3e-4}
	cpuOpt, devOpt := nn.NewSGD(cpuNet.Params(), cfg), nn.NewSGD(devNet.Params(), cfg)
	// Two steps: the second uses the momentum buffers and advanced brSF draws.
	for step := range 2 {
		x, y := batch(uint64(step+1), 4, 3, 8, 8, 10)
		want := trainStep(t, cpuNet, nil, cpuOpt, x, y)
		up0, down0 := d.Copies()
		got := trainStep(t, devNet, d, devOpt, x, y)
		up, down := d.Copies()
		t.Logf("step %d: loss %.6f (cpu %.6f); copies up %d, down %d (gradients and parameters read back for the comparison)", step, got.loss, want.loss, up-up0, down-down0)
		compareSteps(t, "train step", got, want)
	}
	// Evaluation mode (running statistics) on the device equals the cpu's.
	x, _ := batch(9, 4, 3, 8, 8, 10)
	want := cpuNet.Forward(nil, x).Values()
	got := nn.OnDevice(devNet, d).Forward(nil, x).Values()
	if e := RelErr(got, want); e > Tolerance {
		t.Errorf("evaluation logits: relative error %.3g", e)
	}
}

// TestResidentStepCopies counts the host↔device copies of a training step
// as search.Train runs it: only the batch and its labels go up, the drop
// path masks and brSF draws (host random streams, so the run is the same
// run on either side) go up, and only the loss, the logits (accuracy) and
// the gradient norm come down.
func TestResidentStepCopies(t *testing.T) {
	d := openOrSkip(t).Resident()
	net := residentNet(t)
	if err := nn.MoveModule(net, d); err != nil {
		t.Fatal(err)
	}
	params := net.Params()
	opt := nn.NewSGD(params, nn.SGDConfig{LR: 0.05, Momentum: 0.9})
	brsf, drops := 0, 0
	for _, l := range net.RuleLayers() {
		if l.Rule() == "brsf" {
			brsf++
		}
	}
	step := func() {
		x, y := batch(1, 4, 3, 8, 8, 10)
		for _, p := range params {
			p.T.ZeroGrad()
		}
		g := nn.NewGraph(true, rand.New(rand.NewPCG(5, 5)))
		defer g.Release()
		logits := net.Forward(g, g.ToDevice(x, d))
		g.SetOutput(logits)
		loss := g.CrossEntropy(logits, y, 0)
		g.Backward(loss)
		nn.ClipGradNorm(nn.Tensors(params), 5)
		opt.Step()
		_ = loss.Values()
		_ = nn.Accuracy(logits, y)
	}
	step() // warm: momentum buffers are made on the first step
	up0, down0 := d.Copies()
	step()
	up, down := d.Copies()
	// Drop path is applied per non-identity edge of each cell in training.
	drops = int(up-up0) - 2 - brsf
	t.Logf("one step: %d uploads (batch, labels, %d brsf draws, %d drop-path masks), %d downloads", up-up0, brsf, drops, down-down0)
	if down-down0 != 3 {
		t.Errorf("a step made %d device→host copies, want 3 (loss, logits, gradient norm)", down-down0)
	}
	if drops < 0 || drops > 3*8 {
		t.Errorf("a step made %d uploads: want batch + labels + %d brsf draws + at most one drop mask per edge", up-up0, brsf)
	}
	// Without drop path, the uploads are exactly the batch, the labels and
	// the brSF draws.
	// They also ask the driver for no memory: the cache serves a warm step.
	// (With drop path, a step that drops more edges than any before it
	// needs a few more mask buffers once.)
	net.SetDropPath(0)
	up0, _ = d.Copies()
	m0 := d.Memory()
	step()
	up, _ = d.Copies()
	if m := d.Memory(); m.Mallocs != m0.Mallocs {
		t.Errorf("a warm step asked the driver for memory %d times (want 0: the cache serves it)", m.Mallocs-m0.Mallocs)
	}
	if int(up-up0) != 2+brsf {
		t.Errorf("without drop path a step made %d uploads, want %d (batch, labels, %d brsf draws)", up-up0, 2+brsf, brsf)
	}
}

func TestResidentSupernetStepMatchesCPU(t *testing.T) {
	d := openOrSkip(t).Resident()
	build := func() *search.Supernet {
		s, err := search.NewSupernet(search.SupernetConfig{C: 4, Cells: 3, Classes: 10, InChannels: 3, Steps: 1, Multiplier: 1, StemMultiplier: 1, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cpuNet, devNet := build(), build()
	if err := devNet.MoveTo(d); err != nil {
		t.Fatal(err)
	}
	x, y := batch(4, 4, 3, 8, 8, 10)
	run := func(s *search.Supernet, dev nn.Device) (float32, map[string][]float32) {
		g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
		defer g.Release()
		in := x
		if dev != nil {
			in = g.ToDevice(x, dev)
		}
		logits := s.Forward(g, in)
		g.SetOutput(logits)
		loss := g.CrossEntropy(logits, y, 0)
		g.Backward(loss)
		grads := map[string][]float32{}
		for _, p := range append(s.Params(), s.Alphas()...) {
			grads[p.Name] = p.T.GradValues()
		}
		return loss.Values()[0], grads
	}
	wantLoss, want := run(cpuNet, nil)
	gotLoss, got := run(devNet, d)
	if e := RelErr([]float32{gotLoss}, []float32{wantLoss}); e > Tolerance {
		t.Errorf("supernet loss %v on the device, %v on the cpu", gotLoss, wantLoss)
	}
	checked := 0
	for name, w := range want {
		if len(w) == 0 {
			continue
		}
		checked++
		if e := RelErr(got[name], w); e > Tolerance {
			t.Errorf("supernet gradient of %s: relative error %.3g", name, e)
		}
	}
	t.Logf("supernet step: loss %.6f, %d gradients compared (α included)", gotLoss, checked)
}

func TestResidentPGDStepMatchesCPU(t *testing.T) {
	d := openOrSkip(t).Resident()
	cpuNet, devNet := residentNet(t), residentNet(t)
	if err := nn.MoveModule(devNet, d); err != nil {
		t.Fatal(err)
	}
	x, y := batch(6, 4, 3, 8, 8, 10)
	for _, mode := range []attacks.GradMode{attacks.Own, attacks.True} {
		adv := func(m attacks.Model) []float32 {
			a, err := attacks.PGDConfig{Eps: 0.1, Alpha: 0.02, Steps: 2}.Start(m, x, y, attacks.Options{Grad: mode, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			out, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return append([]float32(nil), out.Data...)
		}
		want := adv(cpuNet)
		got := adv(nn.OnDevice(devNet, d))
		if e := RelErr(got, want); e > Tolerance {
			t.Errorf("pgd (%s gradient): attacked input differs, relative error %.3g", mode, e)
		}
	}
}
