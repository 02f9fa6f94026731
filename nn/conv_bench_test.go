package nn

import (
	"math/rand/v2"
	"testing"
)

// Forward+backward of the convolution shapes PyTorch is measured on in
// ../shared/bench (batch 64, 16 channels, 32×32, input needs its gradient).
// nn/testdata/torch_conv_ref.py times the same cases in PyTorch;
// scripts/bench/compare_torch.py convs runs both, alternated.
func benchConv(b *testing.B, cfg Conv2dConfig) {
	c := MustConv2d(cfg, rand.New(rand.NewPCG(1, 1)))
	x := randTensor(1, 1, 64, 16, 32, 32)
	x.NeedsGrad = true
	var dy []float32
	// The step's tensors are lent by an arena, as in a supernet step (and as
	// PyTorch's caching allocator does), so the loop times the convolution,
	// not the kernel mapping fresh pages. Each iteration is what PyTorch's
	// loop (nn/testdata/torch_conv_ref.py) does: x gets a fresh gradient
	// (an arena view of x, as a step's activations have; PyTorch sets
	// x.grad = None) and dy is handed to the backward pass, not copied
	// (y.backward(gy)); a conv's backward only reads it, so it is reused.
	pool := &ArenaPool{}
	step := func() {
		g := NewGraph(true, nil)
		g.Arena = pool.NewArena()
		out := c.Forward(g, g.Arena.View(x))
		if dy == nil {
			dy = randTensor(2, 1, out.Shape...).Data
		}
		g.BackwardWith(out, dy)
		g.Release()
		c.W.ZeroGrad()
	}
	// Three untimed warm-up steps, as the PyTorch script discards three:
	// the first fills the arena (fresh pages), which at -benchtime 20x
	// would otherwise weigh on the mean.
	for range 3 {
		step()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
}

func BenchmarkConvDense3x3(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Padding: 1})
}

func BenchmarkConvDepthwise3x3(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Padding: 1, Groups: 16})
}

func BenchmarkConvDepthwise3x3Dil2(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Padding: 2, Dilation: 2, Groups: 16})
}

func BenchmarkConvDepthwise5x5(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 5, Padding: 2, Groups: 16})
}

func BenchmarkConvDepthwise5x5Dil2(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 5, Padding: 4, Dilation: 2, Groups: 16})
}

func BenchmarkConvPointwise(b *testing.B) {
	benchConv(b, Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 1})
}
