package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// testInput returns an (n, c, h, w) tensor of N(0,1) values from seed,
// marked as needing gradients.
func testInput(seed uint64, n, c, h, w int) *nn.Tensor {
	rng := rand.New(rand.NewPCG(seed, 99))
	x := nn.New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	x.NeedsGrad = true
	return x
}

// testSeed returns a fixed gradient to back-propagate from an output.
func testSeed(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// testMaxDiff returns max |a−b| / (1 + max |b|) (0 for two nil slices).
func testMaxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / (1 + m)
}

// The engine's strided depthwise conv is the stride-1 conv subsampled,
// output and gradients, bit for bit (its kernel computes the same sums;
// the search once ran strided edges this way), for an FA layer.
func TestSubsampledDepthwiseEqualsStrided(t *testing.T) {
	for _, k := range []struct{ k, d int }{{3, 1}, {5, 1}, {3, 2}, {5, 2}} {
		t.Run(fmt.Sprintf("k%dd%d", k.k, k.d), func(t *testing.T) {
			pad := k.d * (k.k / 2)
			cfg := nn.Conv2dConfig{Name: "dw", In: 4, Out: 4, Kernel: k.k, Padding: pad, Dilation: k.d, Groups: 4, Rule: rule.FA, Seed: 5}
			cfg.Stride = 2
			s2 := nn.MustConv2d(cfg, rand.New(rand.NewPCG(1, 1)))
			cfg.Stride = 1
			s1 := nn.MustConv2d(cfg, rand.New(rand.NewPCG(1, 1)))
			x1 := testInput(6, 2, 4, 8, 8)
			x2 := x1.Clone()
			g1 := nn.NewGraph(true, nil)
			y1 := s2.Forward(g1, x1)
			seed := testSeed(y1.Len(), 8)
			g1.BackwardFrom(y1, seed)
			g2 := nn.NewGraph(true, nil)
			y2 := g2.Subsample(s1.Forward(g2, x2), 2)
			g2.BackwardFrom(y2, seed)
			if !slices.Equal(y1.Shape, y2.Shape) {
				t.Fatalf("shapes %v and %v", y1.Shape, y2.Shape)
			}
			for _, c := range []struct {
				what string
				a, b []float32
			}{{"output", y2.Data, y1.Data}, {"input gradient", x2.Grad, x1.Grad}, {"weight gradient", s1.W.Grad, s2.W.Grad}} {
				if !slices.Equal(c.a, c.b) {
					t.Errorf("%s differs by %.3g", c.what, testMaxDiff(c.a, c.b))
				}
			}
		})
	}
}

func TestPairOpShapesAndNames(t *testing.T) {
	for _, tc := range []struct {
		pair       string
		stride     int
		ruleLayers []string
	}{
		{"none:fa", 2, nil},
		{"max_pool_3x3:usf", 2, nil},
		{"avg_pool_3x3:fa", 1, nil},
		{"skip_connect:fa", 1, nil},
		{"skip_connect:brsf", 2, []string{"e.conv_1", "e.conv_2"}},
		{"sep_conv_3x3:fa", 2, []string{"e.dw1", "e.pw1", "e.dw2", "e.pw2"}},
		{"sep_conv_5x5:frsf", 1, []string{"e.dw1", "e.pw1", "e.dw2", "e.pw2"}},
		{"dil_conv_3x3:usf", 2, []string{"e.dw", "e.pw"}},
		{"dil_conv_5x5:bp", 1, []string{"e.dw", "e.pw"}},
		{"conv_3x3:fa", 2, []string{"e.conv"}},
		{"conv_3x3:hebb", 2, nil},
		{"conv_3x3:pc", 1, nil},
	} {
		t.Run(fmt.Sprintf("%s/s%d", tc.pair, tc.stride), func(t *testing.T) {
			p, err := ParsePair(tc.pair)
			if err != nil {
				t.Fatal(err)
			}
			op, err := NewPairOp(OpConfig{Name: "e", Pair: p, C: 4, Stride: tc.stride, PoolBN: true}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			x := testInput(1, 2, 4, 6, 6)
			g := nn.NewGraph(true, nil)
			y := op.Forward(g, x)
			want := []int{2, 4, 6 / tc.stride, 6 / tc.stride}
			if !slices.Equal(y.Shape, want) {
				t.Errorf("output shape %v, want %v", y.Shape, want)
			}
			var names []string
			for _, l := range op.RuleLayers() {
				names = append(names, l.LayerName())
				if l.Rule() != p.Rule {
					t.Errorf("layer %s has rule %s, want %s", l.LayerName(), l.Rule(), p.Rule)
				}
			}
			if !slices.Equal(names, tc.ruleLayers) {
				t.Errorf("rule layers %v, want %v", names, tc.ruleLayers)
			}
			if y.NeedsGrad {
				g.BackwardFrom(y, testSeed(y.Len(), 1))
				if x.Grad == nil && p.Op != OpNone {
					t.Errorf("no gradient reached the input")
				}
			}
		})
	}
}

func TestNewPairOpErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  OpConfig
		want string
	}{
		{OpConfig{Name: "e", Pair: Pair{OpSep3, rule.Hebb}, C: 4}, "needs a feedback rule"},
		{OpConfig{Name: "e", Pair: Pair{"conv_9x9", rule.FA}, C: 4}, "unknown operation"},
		{OpConfig{Name: "e", Pair: Pair{OpSep3, rule.FA}, C: 4, Stride: 3}, "stride"},
	} {
		_, err := NewPairOp(tc.cfg, rand.New(rand.NewPCG(1, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"e"`) {
			t.Errorf("NewPairOp(%v): error %v, want one naming the op and saying %q", tc.cfg.Pair, err, tc.want)
		}
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestPCConvLearnsAtInit: the predictive-coding pair, as the hlpc space
// builds it, gives its 3×3 convolution a gradient from the first step, at
// both strides. (With e = 1, one step and no gate the prediction is
// exactly x̃ — the input or its projection — so the conv weight's gradient
// would be exactly zero until e drifted: a skip-like op, not predictive
// coding.)
func TestPCConvLearnsAtInit(t *testing.T) {
	for _, stride := range []int{1, 2} {
		t.Run(fmt.Sprintf("s%d", stride), func(t *testing.T) {
			op, err := NewPairOp(OpConfig{Name: "e", Pair: Pair{OpConv3, rule.PC}, C: 4, Stride: stride}, rand.New(rand.NewPCG(3, 4)))
			if err != nil {
				t.Fatal(err)
			}
			var w *nn.Tensor
			for _, p := range op.Params() {
				if p.Name == "e.pc.conv.weight" {
					w = p.T
				}
			}
			if w == nil {
				t.Fatalf("no e.pc.conv.weight among %v", op.Params())
			}
			x := testInput(5, 2, 4, 6, 6)
			g := nn.NewGraph(true, nil)
			y := op.Forward(g, x)
			g.BackwardFrom(y, testSeed(y.Len(), 6))
			var n float64
			for _, v := range w.Grad {
				n += float64(v) * float64(v)
			}
			if !(n > 1e-12) {
				t.Fatalf("the conv weight's gradient at initialisation has squared norm %g: the op does not learn its conv", n)
			}
		})
	}
}
