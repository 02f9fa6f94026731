//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bionaslab/bionas/nn"
)

// ConvTiming is one convolution timed forward + backward (input and weight
// gradients), median milliseconds over the repetitions.
type ConvTiming struct {
	Name string `json:"name"`
	// EndToEndMS goes through nn.Conv2d with its weights and operands
	// resident on the device (the engine's path: graph, op dispatch,
	// kernels), until the weight gradient is read back.
	EndToEndMS float64 `json:"end_to_end_ms"`
	// KernelMS runs the same kernels on device-resident operands: what the
	// op costs once tensors live on the GPU.
	KernelMS float64 `json:"kernel_ms"`
	// CPUMS is nn.Conv2d on the CPU of the same machine.
	CPUMS float64 `json:"cpu_ms"`
}

// benchConvs are the conv shapes of the engine issue (nn/conv_bench_test.go,
// nn/testdata/torch_conv_ref.py): batch 64, 16 channels, 32×32.
var benchConvs = []struct {
	name string
	cfg  nn.Conv2dConfig
}{
	{"dense3x3", nn.Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Padding: 1}},
	{"depthwise3x3", nn.Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Padding: 1, Groups: 16}},
	{"depthwise5x5-dil2", nn.Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 5, Padding: 4, Dilation: 2, Groups: 16}},
	{"pointwise1x1", nn.Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 1}},
}

// BenchConvs times the engine's conv shapes on d and on the CPU.
func BenchConvs(d *Device, reps int) ([]ConvTiming, error) {
	var out []ConvTiming
	for _, bc := range benchConvs {
		t := ConvTiming{Name: bc.name}
		var err error
		if t.EndToEndMS, err = timeLayer(bc.cfg, d.Resident(), reps); err != nil {
			return out, err
		}
		if t.CPUMS, err = timeLayer(bc.cfg, nil, max(3, reps/4)); err != nil {
			return out, err
		}
		if t.KernelMS, err = d.timeConvKernels(bc.cfg, reps); err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

// timeLayer is the median of forward + backward of an nn.Conv2d at batch 64,
// 32×32 resident on dev (nil: the CPU), after two untimed runs; each run
// ends when the weight gradient is on the host (which waits for the
// device's queue).
func timeLayer(cfg nn.Conv2dConfig, dev nn.Device, reps int) (float64, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	c, err := nn.NewConv2d(cfg, rng)
	if err != nil {
		return 0, fmt.Errorf("bench conv %+v: %w", cfg, err)
	}
	x := nn.FromSlice(randn(rng, 64*cfg.In*32*32), 64, cfg.In, 32, 32)
	if dev != nil {
		if err := nn.MoveModule(c, dev); err != nil {
			return 0, err
		}
		x = nn.ToDevice(x, dev)
	}
	x.NeedsGrad = true
	var dy *nn.Tensor
	var ms []float64
	for i := range reps + 2 {
		start := time.Now()
		g := nn.NewGraph(true, nil)
		if _, err := guard(func() *nn.Tensor {
			out := c.Forward(g, x)
			if dy == nil {
				dy = nn.ToDevice(nn.FromSlice(randn(rng, out.Len()), out.Shape...), dev)
			}
			nn.CopyValues(out.Alias(true).GradTensor(), dy)
			g.BackwardSeeded()
			_ = c.W.GradValues()
			return nil
		}); err != nil {
			return 0, err
		}
		g.Release()
		if i >= 2 {
			ms = append(ms, float64(time.Since(start).Microseconds())/1e3)
		}
		x.ZeroGrad()
		c.W.ZeroGrad()
	}
	return median(ms), nil
}

// timeConvKernels times the forward and backward kernels of cfg at batch
// 64, 32×32 on operands already on the device.
func (d *Device) timeConvKernels(cfg nn.Conv2dConfig, reps int) (float64, error) {
	groups, dil := max(cfg.Groups, 1), max(cfg.Dilation, 1)
	s := nn.ConvShape{N: 64, C: cfg.In, H: 32, W: 32, O: cfg.Out, KH: cfg.Kernel, KW: cfg.Kernel,
		Stride: 1, Padding: cfg.Padding, Dilation: dil, Groups: groups}
	s.Ho = 32 + 2*cfg.Padding - dil*(cfg.Kernel-1)
	s.Wo = s.Ho
	var ms []float64
	err := d.do(func() error {
		rng := rand.New(rand.NewPCG(2, 2))
		wl := cfg.Out * cfg.In / groups * cfg.Kernel * cfg.Kernel
		var bufs []buf
		defer func() { d.release(bufs...) }()
		up := func(n int) (buf, error) {
			b, err := d.upload(randn(rng, n), n)
			if err == nil {
				bufs = append(bufs, b)
			}
			return b, err
		}
		sizes := []int{s.N * s.C * s.H * s.W, wl, s.N * s.O * s.Ho * s.Wo, s.N * s.O * s.Ho * s.Wo, s.N * s.C * s.H * s.W, wl}
		var b [6]buf // x, w, out, dy, dx, dw
		for i, n := range sizes {
			var err error
			if b[i], err = up(n); err != nil {
				return err
			}
		}
		for i := range reps + 2 {
			start := time.Now()
			if err := d.convForwardDev(s, b[0], b[1], b[2]); err != nil {
				return err
			}
			if err := d.convBackwardDev(s, b[0], b[3], b[1], b[4], b[5], true, true); err != nil {
				return err
			}
			if err := d.sync("conv kernels"); err != nil {
				return err
			}
			if i >= 2 {
				ms = append(ms, float64(time.Since(start).Microseconds())/1e3)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench conv kernels %+v: %w", s, err)
	}
	return median(ms), nil
}

// SgemmGFLOPS times a device-resident n×n×n GEMM and returns GFLOP/s.
func SgemmGFLOPS(d *Device, n, reps int) (float64, error) {
	var ms []float64
	err := d.do(func() error {
		rng := rand.New(rand.NewPCG(3, 3))
		var bs [3]buf
		for i := range bs {
			b, err := d.upload(randn(rng, n*n), n*n)
			if err != nil {
				return err
			}
			defer d.release(b)
			bs[i] = b
		}
		for i := range reps + 2 {
			start := time.Now()
			if err := d.gemm(gemm{m: n, n: n, k: n, alpha: 1, a: bs[0], lda: n, b: bs[1], ldb: n, c: bs[2], ldc: n, batch: 1}); err != nil {
				return err
			}
			if err := d.sync("sgemm"); err != nil {
				return err
			}
			if i >= 2 {
				ms = append(ms, float64(time.Since(start).Microseconds())/1e3)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench sgemm %d: %w", n, err)
	}
	return 2 * float64(n) * float64(n) * float64(n) / (median(ms) / 1e3) / 1e9, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
