package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/rule"
)

// SmallCNNConfig describes the demo network: two conv–ReLU–maxpool stages
// and a linear classifier. Zero Width means 16.
type SmallCNNConfig struct {
	C, H, W, Classes int
	Width            int
	Rule             rule.Rule
	Init             Init
}

// NewSmallCNN builds conv3×3(C→w) → ReLU → maxpool2 → conv3×3(w→2w) → ReLU
// → maxpool2 → linear(2w·H/4·W/4 → classes), every conv and linear layer
// carrying cfg.Rule. It is the network of the engine's MNIST checks and of
// `bionas demo`.
func NewSmallCNN(cfg SmallCNNConfig, rng *rand.Rand) (*Sequential, error) {
	if cfg.Width == 0 {
		cfg.Width = 16
	}
	if cfg.C <= 0 || cfg.H < 4 || cfg.W < 4 || cfg.Classes <= 0 {
		return nil, fmt.Errorf("small CNN: bad input %d×%d×%d or classes %d", cfg.C, cfg.H, cfg.W, cfg.Classes)
	}
	w := cfg.Width
	c1, err := NewConv2d(Conv2dConfig{Name: "conv1", In: cfg.C, Out: w, Kernel: 3, Padding: 1, Bias: true, Rule: cfg.Rule, Init: cfg.Init, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, err
	}
	c2, err := NewConv2d(Conv2dConfig{Name: "conv2", In: w, Out: 2 * w, Kernel: 3, Padding: 1, Bias: true, Rule: cfg.Rule, Init: cfg.Init, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, err
	}
	fc, err := NewLinear(LinearConfig{Name: "fc", In: 2 * w * (cfg.H / 4) * (cfg.W / 4), Out: cfg.Classes, Bias: true, Rule: cfg.Rule, Init: cfg.Init, Classes: cfg.Classes}, rng)
	if err != nil {
		return nil, err
	}
	relu := LayerFunc(func(g *Graph, x *Tensor) *Tensor { return g.ReLU(x) })
	pool := LayerFunc(func(g *Graph, x *Tensor) *Tensor { return g.MaxPool2d(x, 2, 2, 0) })
	return &Sequential{Layers: []Layer{c1, relu, pool, c2, relu, pool, fc}}, nil
}
