package nn

import "testing"

// Pooling at the DARTS normal-cell shape of the supernet benchmark (batch
// 64, C=16, 32×32, 3×3 stride 1 pad 1), forward and backward.
func BenchmarkPoolDARTS(b *testing.B) {
	x := randTensor(1, 1, 64, 16, 32, 32)
	x.NeedsGrad = true
	dy := randTensor(2, 1, 64, 16, 32, 32).Data
	for _, tc := range []struct {
		name string
		f    func(g *Graph) *Tensor
	}{
		{"max", func(g *Graph) *Tensor { return g.MaxPool2d(x, 3, 1, 1) }},
		{"avg", func(g *Graph) *Tensor { return g.AvgPool2d(x, 3, 1, 1, false) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				g := NewGraph(true, nil)
				g.BackwardFrom(tc.f(g), dy)
				x.ZeroGrad()
			}
		})
	}
}
