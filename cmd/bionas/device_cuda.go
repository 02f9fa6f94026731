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

// supernetStep builds the supernet of `bionas bench supernet` (bio space;
// by default 5 cells, C=16, 3×32×32) and returns one training step on backend be (nil:
// the CPU) and the SGD update that completes it (momentum 0.9, weight decay
// 3e-4, as the bench). Recompute is off: its mixed ops build graphs of their
// own, which do not carry the backend.
func supernetStep(be nn.Backend, o deviceRunOptions, batch int) (*search.Supernet, func(i int) float32, func(), error) {
	seed := o.Seed
	space, err := search.SpaceByName("bio")
	if err != nil {
		return nil, nil, nil, err
	}
	net, err := search.NewSupernet(search.SupernetConfig{C: o.C, Cells: o.Cells, Classes: 10, InChannels: 3, Space: space, Seed: seed})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("supernet: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	x := nn.New(batch, 3, o.Size, o.Size)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	step := func(i int) float32 {
		g := nn.NewGraph(true, rand.New(rand.NewPCG(seed, uint64(i))))
		g.Backend = be
		logits := net.Forward(g, x)
		g.SetOutput(logits)
		loss := g.CrossEntropy(logits, y, 0)
		g.Backward(loss)
		return loss.Data[0]
	}
	opt := nn.NewSGD(net.Weights(), nn.SGDConfig{LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4})
	update := func() {
		opt.Step()
		opt.ZeroGrad()
		for _, a := range net.Alphas() {
			a.T.ZeroGrad()
		}
	}
	return net, step, update, nil
}

// supernetGrads copies the gradients of every weight and alpha of net (the
// update clears them in place).
func supernetGrads(net *search.Supernet) [][]float32 {
	var gs [][]float32
	for _, w := range net.Weights() {
		gs = append(gs, slices.Clone(w.T.Grad))
	}
	for _, a := range net.Alphas() {
		gs = append(gs, slices.Clone(a.T.Grad))
	}
	return gs
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
	// The supernet step, CPU and GPU from the same initial state.
	const cmpBatch = 8
	var loss [2]float32
	var grads [2][][]float32
	for side, be := range []nn.Backend{nil, d} {
		net, step, update, err := supernetStep(be, o, cmpBatch)
		if err != nil {
			return fmt.Errorf("device check: %w", err)
		}
		if err := guardStep(func() { loss[side] = step(0) }); err != nil {
			return fmt.Errorf("device check: supernet step on %s: %w", sideName(side, d), err)
		}
		grads[side] = supernetGrads(net)
		if err := guardStep(update); err != nil {
			return fmt.Errorf("device check: SGD update: %w", err)
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
	_, step, update, err := supernetStep(d, o, o.Batch)
	if err != nil {
		return fmt.Errorf("device check: %w", err)
	}
	t0 := time.Now()
	var full float32
	if err := guardStep(func() { full = step(0); update() }); err != nil {
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
// nn.Conv2d with host staging, and the bare kernels), a 512³ GEMM, and the
// supernet step on the GPU and on this machine's CPU.
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
	timeSteps := func(be nn.Backend, steps int) ([]float64, error) {
		_, step, update, err := supernetStep(be, o, o.Batch)
		if err != nil {
			return nil, err
		}
		var ms []float64
		for i := range steps + 1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t0 := time.Now()
			if err := guardStep(func() { step(i); update() }); err != nil {
				return nil, err
			}
			if i > 0 { // the first step warms caches and the device's buffer pool
				ms = append(ms, float64(time.Since(t0).Microseconds())/1e3)
			}
			fmt.Fprintf(stderr, "device bench: supernet step %d/%d on %s: %.0f ms\n", i, steps, sideName(boolInt(be != nil), d), float64(time.Since(t0).Microseconds())/1e3)
		}
		return ms, nil
	}
	gpu, err := timeSteps(d, max(o.Steps, 1))
	if err != nil {
		return fmt.Errorf("device bench: supernet on %s: %w", d.Name(), err)
	}
	cpu, err := timeSteps(nil, 1)
	if err != nil {
		return fmt.Errorf("device bench: supernet on the CPU: %w", err)
	}
	if o.JSON {
		return emit(map[string]any{"kind": "supernet", "batch": o.Batch, "gpu_ms_per_step": median(gpu), "gpu_ms_all": gpu, "cpu_ms_per_step": median(cpu)})
	}
	fmt.Fprintf(stdout, "supernet step (bio space, %d cells, C=%d, %d×%d, batch %d): GPU backend %.0f ms (median of %d), CPU %.0f ms\n",
		o.Cells, o.C, o.Size, o.Size, o.Batch, median(gpu), len(gpu), median(cpu))
	return nil
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

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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
