//go:build cuda

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/cuda"
	"github.com/bionaslab/bionas/search"
)

// supernetTolerance bounds the relative error of a whole supernet step's
// gradients: hundreds of ops, each within cuda.Tolerance, summed in other
// orders than the CPU's.
const supernetTolerance = 1e-3

// dartsV2 is DARTS' CIFAR-10 genotype (all bp), the network of the
// retraining step the device check times.
const dartsV2 = `Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
	('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6),
	reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0),
	('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))`

// deviceStep is one training step of a model, on the CPU or resident on a
// device: step(i) runs forward and backward (the graph's memory goes back
// when it returns) and returns the loss; update completes it with SGD.
type deviceStep struct {
	step   func(i int) float32
	update func()
	grads  func() [][]float32 // every parameter's (and α's) gradient, on the host
}

// batchOf draws a seeded input batch of images and labels.
func batchOf(seed uint64, batch, c, size, classes int) (*nn.Tensor, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := nn.New(batch, c, size, size)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(classes)
	}
	return x, y
}

// residentStep makes the deviceStep of model (its weights are params, and
// extra tensors such as α also get gradients) on dev (nil: the CPU): the
// model moves there once, each step uploads the batch and reads the loss.
// lossOf builds the forward and the loss on g (marking the logits).
func residentStep(model nn.Module, lossOf func(g *nn.Graph, x *nn.Tensor, y []int) *nn.Tensor, params, extra []nn.Named,
	dev nn.Device, seed uint64, x *nn.Tensor, y []int) (deviceStep, error) {
	if dev != nil {
		if err := nn.MoveModule(model, dev); err != nil {
			return deviceStep{}, err
		}
		for _, e := range extra {
			if err := e.T.MoveTo(dev); err != nil {
				return deviceStep{}, err
			}
		}
	}
	opt := nn.NewSGD(params, nn.SGDConfig{LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4})
	step := func(i int) float32 {
		g := nn.NewGraph(true, rand.New(rand.NewPCG(seed, uint64(i))))
		defer g.Release()
		in := x
		if dev != nil {
			in = g.ToDevice(x, dev)
		}
		loss := lossOf(g, in, y)
		g.Backward(loss)
		nn.ClipGradNorm(nn.Tensors(params), 5)
		return loss.Values()[0]
	}
	update := func() {
		opt.Step()
		opt.ZeroGrad()
		for _, e := range extra {
			e.T.ZeroGrad()
		}
	}
	grads := func() [][]float32 {
		var gs [][]float32
		for _, p := range append(slices.Clone(params), extra...) {
			gs = append(gs, slices.Clone(p.T.GradValues()))
		}
		return gs
	}
	return deviceStep{step: step, update: update, grads: grads}, nil
}

// supernetStep builds the supernet of `bionas bench supernet` (by default
// 5 cells, C=16, 3×32×32) over space (bio: 32 pairs; bp: DARTS' 8 ops)
// and returns its training step on dev (nil: the CPU), mixed ops
// recomputed as the searches run them.
func supernetStep(dev nn.Device, o deviceRunOptions, batch int, spaceName string) (deviceStep, error) {
	space, err := search.SpaceByName(spaceName)
	if err != nil {
		return deviceStep{}, err
	}
	net, err := search.NewSupernet(search.SupernetConfig{C: o.C, Cells: o.Cells, Classes: 10, InChannels: 3, Space: space,
		Seed: o.Seed, Recompute: o.Recompute})
	if err != nil {
		return deviceStep{}, fmt.Errorf("supernet: %w", err)
	}
	x, y := batchOf(o.Seed, batch, 3, o.Size, 10)
	lossOf := func(g *nn.Graph, x *nn.Tensor, y []int) *nn.Tensor {
		logits := net.Forward(g, x)
		g.SetOutput(logits)
		return g.CrossEntropy(logits, y, 0)
	}
	return residentStep(net, lossOf, net.Weights(), net.Alphas(), dev, o.Seed, x, y)
}

// retrainStep is a DARTS CIFAR-10 retraining step: the DARTS_V2 network
// at C=36, 20 cells, drop path 0.2, 3×32×32, loss CE + 0.4·CE of the
// auxiliary head (as search.Train), on dev.
func retrainStep(dev nn.Device, o deviceRunOptions, batch int) (deviceStep, error) {
	gt, err := search.ParseGenotype(dartsV2)
	if err != nil {
		return deviceStep{}, err
	}
	net, err := search.NewNetwork(search.NetworkConfig{C: 36, Layers: 20, Classes: 10, InChannels: 3, ImageSize: 32,
		Auxiliary: true, DropPath: 0.2, Genotype: gt, Seed: o.Seed})
	if err != nil {
		return deviceStep{}, fmt.Errorf("retrain network: %w", err)
	}
	x, y := batchOf(o.Seed, batch, 3, 32, 10)
	lossOf := func(g *nn.Graph, x *nn.Tensor, y []int) *nn.Tensor {
		logits, aux := net.ForwardAux(g, x)
		g.SetOutput(logits)
		return g.Add(g.CrossEntropy(logits, y, 0), g.Scale(g.CrossEntropy(aux, y, 0), 0.4))
	}
	return residentStep(net, lossOf, net.Params(), nil, dev, o.Seed, x, y)
}

// deviceCheck is `bionas device check`: every op and rule on the GPU against
// the CPU, then a supernet step on both (loss and every gradient compared),
// then one full-size supernet step on the GPU. It fails if anything is off.
func deviceCheck(ctx context.Context, d *cuda.Device, o deviceRunOptions, stdout, stderr io.Writer) error {
	emit := jsonLines(stdout)
	start := time.Now()
	res, err := cuda.Check(d, o.Seed)
	if err != nil {
		return fmt.Errorf("device check: %w", err)
	}
	fails := 0
	if !o.JSON {
		fmt.Fprintf(stdout, "device check on %s: GPU vs CPU, relative error max|gpu−cpu|/max|cpu| ≤ %.0e\n", d.Name(), cuda.Tolerance)
		fmt.Fprintf(stdout, "%-40s %-5s %-9s %10s  %s\n", "op", "rule", "part", "rel err", "result")
	}
	for _, r := range res {
		if !r.Pass {
			fails++
		}
		if o.JSON {
			if err := emit(struct {
				Kind string `json:"kind"`
				cuda.CheckResult
			}{"op", r}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%-40s %-5s %-9s %10.2e  %s\n", r.Op, r.Rule, r.Part, r.RelErr, passWord(r.Pass))
	}
	fmt.Fprintf(stderr, "device check: %d op comparisons in %.1f s\n", len(res), time.Since(start).Seconds())
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("device check: %w", err)
	}

	if !o.Supernet {
		if fails > 0 {
			return fmt.Errorf("device check: %d comparison(s) failed", fails)
		}
		fmt.Fprintf(stderr, "device check: all %d op comparisons pass (supernet steps skipped)\n", len(res))
		return nil
	}
	// The supernet step, CPU and GPU (resident) from the same initial state.
	const cmpBatch = 8
	var loss [2]float32
	var grads [2][][]float32
	for side, dev := range []nn.Device{nil, d.Resident()} {
		st, err := supernetStep(dev, o, cmpBatch, "bio")
		if err != nil {
			return fmt.Errorf("device check: %w", err)
		}
		if err := guardStep(func() { loss[side] = st.step(0); grads[side] = st.grads(); st.update() }); err != nil {
			return fmt.Errorf("device check: supernet step on %s: %w", sideName(side, d), err)
		}
	}
	lossErr := cuda.RelErr(loss[1:], loss[:1])
	var gradErr float64
	for i := range grads[0] {
		gradErr = max(gradErr, cuda.RelErr(grads[1][i], grads[0][i]))
	}
	stepOK := lossErr <= cuda.Tolerance && gradErr <= supernetTolerance
	if !stepOK {
		fails++
	}

	// One full-size step on the GPU alone: it runs, and its loss is finite.
	st, err := supernetStep(d.Resident(), o, o.Batch, "bio")
	if err != nil {
		return fmt.Errorf("device check: %w", err)
	}
	t0 := time.Now()
	var full float32
	if err := guardStep(func() { full = st.step(0); st.update() }); err != nil {
		return fmt.Errorf("device check: full supernet step on %s: %w", d.Name(), err)
	}
	fullMs := float64(time.Since(t0).Microseconds()) / 1e3
	fullOK := !math.IsNaN(float64(full)) && !math.IsInf(float64(full), 0)
	if !fullOK {
		fails++
	}
	sum := struct {
		Kind           string  `json:"kind"`
		Device         string  `json:"device"`
		Ops            int     `json:"op_comparisons"`
		Failed         int     `json:"failed"`
		StepLossRelErr float64 `json:"supernet_loss_rel_err"`
		StepGradRelErr float64 `json:"supernet_grad_rel_err"`
		StepPass       bool    `json:"supernet_step_pass"`
		FullBatch      int     `json:"full_step_batch"`
		FullLoss       float32 `json:"full_step_loss"`
		FullMs         float64 `json:"full_step_ms"`
		Pass           bool    `json:"pass"`
	}{"summary", d.Name(), len(res), fails, lossErr, gradErr, stepOK, o.Batch, full, fullMs, fails == 0}
	if o.JSON {
		if err := emit(sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "supernet step (bio space, %d cells, C=%d, %d×%d, batch %d) GPU vs CPU: loss rel err %.2e (≤ %.0e), max grad rel err %.2e (≤ %.0e): %s\n",
			o.Cells, o.C, o.Size, o.Size, cmpBatch, lossErr, cuda.Tolerance, gradErr, supernetTolerance, passWord(stepOK))
		fmt.Fprintf(stdout, "full supernet step on the GPU (batch %d): loss %.4f in %.0f ms: %s\n", o.Batch, full, fullMs, passWord(fullOK))
		fmt.Fprintf(stdout, "device check: %d failure(s) in %d comparisons + 2 supernet steps\n", fails, len(res))
	}
	if fails > 0 {
		return fmt.Errorf("device check: %d comparison(s) failed", fails)
	}
	return nil
}

// deviceBench is `bionas device bench`: the engine's conv shapes (through
// nn.Conv2d, and the bare kernels), a 512³ GEMM, then whole training steps
// resident on the GPU, with their time and peak device memory: the
// supernet step over 32 pairs (also on this machine's CPU) and over
// DARTS' 8 ops, and a DARTS CIFAR-10 retraining step.
func deviceBench(ctx context.Context, d *cuda.Device, o deviceRunOptions, stdout, stderr io.Writer) error {
	emit := jsonLines(stdout)
	convs, err := cuda.BenchConvs(d, 20)
	if err != nil {
		return fmt.Errorf("device bench: %w", err)
	}
	for _, c := range convs {
		if o.JSON {
			if err := emit(struct {
				Kind string `json:"kind"`
				cuda.ConvTiming
			}{"conv", c}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "conv %-18s fwd+bwd  end-to-end %8.3f ms  kernels %8.3f ms  cpu %8.3f ms\n", c.Name, c.EndToEndMS, c.KernelMS, c.CPUMS)
	}
	gf, err := cuda.SgemmGFLOPS(d, 512, 20)
	if err != nil {
		return fmt.Errorf("device bench: %w", err)
	}
	if o.JSON {
		if err := emit(map[string]any{"kind": "sgemm", "n": 512, "gflops": gf}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "sgemm 512³ on the device: %.0f GFLOP/s\n", gf)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("device bench: %w", err)
	}
	r := d.Resident()
	// timeSteps runs steps+1 steps of mk's model (the first warms the
	// caches and the device's buffer pool) and returns the times of the
	// others and the peak device memory of one step.
	timeSteps := func(name string, dev nn.Device, steps int, mk func(nn.Device) (deviceStep, error)) ([]float64, int64, error) {
		st, err := mk(dev)
		if err != nil {
			return nil, 0, err
		}
		var ms []float64
		var peak int64
		for i := range steps + 1 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			if dev != nil {
				r.ResetPeak()
			}
			t0 := time.Now()
			if err := guardStep(func() { st.step(i); st.update() }); err != nil {
				return nil, 0, err
			}
			if i > 0 {
				ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
			}
			if dev != nil {
				peak = max(peak, r.Memory().Peak)
			}
			fmt.Fprintf(stderr, "device bench: %s step %d/%d on %s: %.0f ms\n", name, i, steps, devName(dev), float64(time.Since(t0).Microseconds())/1e3)
		}
		return ms, peak, nil
	}
	type stepCase struct {
		kind, space string
		batch       int
		cpu         bool // also time one step on this machine's CPU
		mk          func(nn.Device) (deviceStep, error)
	}
	cases := []stepCase{
		{"supernet", "bio", o.Batch, true, func(dev nn.Device) (deviceStep, error) { return supernetStep(dev, o, o.Batch, "bio") }},
		{"supernet", "bp", o.Batch, false, func(dev nn.Device) (deviceStep, error) { return supernetStep(dev, o, o.Batch, "bp") }},
		{"retrain", "darts_v2", o.RetrainBatch, false, func(dev nn.Device) (deviceStep, error) { return retrainStep(dev, o, o.RetrainBatch) }},
	}
	for _, c := range cases {
		gpu, peak, err := timeSteps(c.kind+" "+c.space, r, max(o.Steps, 1), c.mk)
		if err != nil {
			return fmt.Errorf("device bench: %s %s on %s: %w", c.kind, c.space, d.Name(), err)
		}
		var cpu []float64
		if c.cpu {
			if cpu, _, err = timeSteps(c.kind+" "+c.space, nil, 1, c.mk); err != nil {
				return fmt.Errorf("device bench: %s %s on the CPU: %w", c.kind, c.space, err)
			}
		}
		row := map[string]any{"kind": c.kind, "space": c.space, "batch": c.batch, "recompute": o.Recompute && c.kind == "supernet",
			"gpu_ms_per_step": median(gpu), "gpu_ms_all": gpu, "gpu_peak_bytes": peak}
		if cpu != nil {
			row["cpu_ms_per_step"] = median(cpu)
		}
		if o.JSON {
			if err := emit(row); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s step (%s, batch %d): GPU %.1f ms (median of %d), peak %.1f MiB", c.kind, c.space, c.batch, median(gpu), len(gpu), float64(peak)/(1<<20))
		if cpu != nil {
			fmt.Fprintf(stdout, ", CPU %.0f ms", median(cpu))
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func devName(d nn.Device) string {
	if d == nil {
		return "the CPU"
	}
	return d.Name()
}

// guardStep turns a backend panic (layers cannot return errors) into an error.
func guardStep(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}

func sideName(side int, d *cuda.Device) string {
	if side == 0 {
		return "the CPU"
	}
	return d.Name()
}

func passWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// jsonLines returns a function that writes each value as one JSON line on w.
func jsonLines(w io.Writer) func(v any) error {
	return func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
}
