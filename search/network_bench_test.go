package search

import (
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/nn"
)

// BenchmarkNetworkTrainStepMNIST times one training step (forward,
// backward, SGD) of the quick preset's discrete network on an MNIST-shaped
// batch of 64, with a DARTS-like mixed-rule genotype.
func BenchmarkNetworkTrainStepMNIST(b *testing.B) {
	gt, err := ParseGenotype("Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3:usf', 1), ('sep_conv_3x3:brsf', 0), ('skip_connect:usf', 1), ('dil_conv_3x3:frsf', 1), ('skip_connect:usf', 0), ('sep_conv_5x5:usf', 0), ('dil_conv_5x5:fa', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3:fa', 0), ('max_pool_3x3:fa', 1), ('skip_connect:brsf', 2), ('max_pool_3x3:fa', 1), ('max_pool_3x3:fa', 0), ('skip_connect:usf', 2), ('skip_connect:frsf', 2), ('avg_pool_3x3:fa', 1)], reduce_concat=[2, 3, 4, 5])")
	if err != nil {
		b.Fatal(err)
	}
	net, err := NewNetwork(NetworkConfig{C: 8, Layers: 5, Classes: 10, InChannels: 1, ImageSize: 28, Genotype: gt, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	opt := nn.NewSGD(net.Params(), nn.SGDConfig{LR: 0.05, Momentum: 0.9})
	rng := rand.New(rand.NewPCG(1, 1))
	x := nn.New(64, 1, 28, 28)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	y := make([]int, 64)
	for i := range y {
		y[i] = i % 10
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		opt.ZeroGrad()
		nn.TrainBatch(net, x, y, 0, nn.NewGraph(true, rng))
		opt.Step()
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}
