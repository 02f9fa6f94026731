package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// convCase is one convolution configuration used across the tests.
type convCase struct {
	name                     string
	n, c, h, w, o, k         int
	stride, pad, dil, groups int
	bias                     bool
}

var convCases = []convCase{
	{"dense3x3", 2, 3, 7, 6, 4, 3, 1, 1, 1, 1, true},
	{"dense3x3-s2", 2, 3, 8, 7, 4, 3, 2, 1, 1, 1, false},
	{"dense3x3-d2", 2, 2, 8, 8, 3, 3, 1, 2, 2, 1, false},
	{"grouped", 2, 4, 6, 6, 6, 3, 1, 1, 1, 2, true},
	{"depthwise3x3", 2, 3, 7, 9, 3, 3, 1, 1, 1, 3, false},
	{"depthwise5x5-d2", 2, 2, 11, 10, 2, 5, 1, 4, 2, 2, false},
	{"depthwise3x3-s2", 2, 3, 8, 9, 3, 3, 2, 1, 1, 3, false},
	{"depthwise5x5-s2-d2", 1, 2, 12, 12, 2, 5, 2, 4, 2, 2, false},
	{"depthwise3x3-pad2", 2, 3, 7, 8, 3, 3, 1, 2, 1, 3, false}, // not "same": the tap-gather input gradient
	{"pointwise", 3, 5, 4, 5, 6, 1, 1, 0, 1, 1, true},
	{"pointwise-s2", 2, 4, 6, 6, 2, 1, 2, 0, 1, 1, false},
	{"nopad", 2, 2, 6, 5, 3, 3, 1, 0, 1, 1, false},
}

func (cc convCase) layer(t *testing.T, r rule.Rule) *Conv2d {
	t.Helper()
	c, err := NewConv2d(Conv2dConfig{Name: cc.name, In: cc.c, Out: cc.o, Kernel: cc.k, Stride: cc.stride,
		Padding: cc.pad, Dilation: cc.dil, Groups: cc.groups, Bias: cc.bias, Rule: r, Classes: 5}, rand.New(rand.NewPCG(11, 3)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// naiveConv is the textbook definition, accumulated in float64.
func naiveConv(gm convGeom, x, w []float32) []float32 {
	out := make([]float32, gm.N*gm.O*gm.Ho*gm.Wo)
	cg, og := gm.C/gm.G, gm.O/gm.G
	for n := 0; n < gm.N; n++ {
		for o := 0; o < gm.O; o++ {
			g := o / og
			for i := 0; i < gm.Ho; i++ {
				for j := 0; j < gm.Wo; j++ {
					var s float64
					for ci := 0; ci < cg; ci++ {
						c := g*cg + ci
						for a := 0; a < gm.KH; a++ {
							for b := 0; b < gm.KW; b++ {
								ih, iw := i*gm.S-gm.P+a*gm.D, j*gm.S-gm.P+b*gm.D
								if ih < 0 || iw < 0 || ih >= gm.H || iw >= gm.W {
									continue
								}
								s += float64(x[((n*gm.C+c)*gm.H+ih)*gm.W+iw]) * float64(w[((o*cg+ci)*gm.KH+a)*gm.KW+b])
							}
						}
					}
					out[((n*gm.O+o)*gm.Ho+i)*gm.Wo+j] = float32(s)
				}
			}
		}
	}
	return out
}

// naiveConvInputGrad is the transposed convolution of dy with weights b.
func naiveConvInputGrad(gm convGeom, dy, b []float32) []float32 {
	dx := make([]float64, gm.N*gm.C*gm.H*gm.W)
	cg, og := gm.C/gm.G, gm.O/gm.G
	for n := 0; n < gm.N; n++ {
		for o := 0; o < gm.O; o++ {
			g := o / og
			for i := 0; i < gm.Ho; i++ {
				for j := 0; j < gm.Wo; j++ {
					d := float64(dy[((n*gm.O+o)*gm.Ho+i)*gm.Wo+j])
					for ci := 0; ci < cg; ci++ {
						c := g*cg + ci
						for a := 0; a < gm.KH; a++ {
							for bb := 0; bb < gm.KW; bb++ {
								ih, iw := i*gm.S-gm.P+a*gm.D, j*gm.S-gm.P+bb*gm.D
								if ih < 0 || iw < 0 || ih >= gm.H || iw >= gm.W {
									continue
								}
								dx[((n*gm.C+c)*gm.H+ih)*gm.W+iw] += d * float64(b[((o*cg+ci)*gm.KH+a)*gm.KW+bb])
							}
						}
					}
				}
			}
		}
	}
	out := make([]float32, len(dx))
	for i, v := range dx {
		out[i] = float32(v)
	}
	return out
}

func assertClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestConvForwardMatchesDefinition(t *testing.T) {
	for _, cc := range convCases {
		t.Run(cc.name, func(t *testing.T) {
			c := cc.layer(t, rule.BP)
			x := randTensor(1, 1, cc.n, cc.c, cc.h, cc.w)
			y := c.Forward(nil, x)
			gm, _ := newConvGeom(x.Shape, c.W.Shape, cc.stride, cc.pad, cc.dil, cc.groups)
			want := naiveConv(gm, x.Data, c.W.Data)
			if c.Bias != nil {
				addBias(want, c.Bias.Data, gm.N, gm.Ho*gm.Wo)
			}
			if !slices.Equal(y.Shape, []int{cc.n, cc.o, gm.Ho, gm.Wo}) {
				t.Fatalf("shape %v", y.Shape)
			}
			assertClose(t, "forward", y.Data, want, 1e-4)
		})
	}
}

func TestConvGradientsFiniteDifference(t *testing.T) {
	for _, cc := range convCases {
		t.Run(cc.name, func(t *testing.T) {
			c := cc.layer(t, rule.BP)
			x := randTensor(2, 1, cc.n, cc.c, cc.h, cc.w)
			if c.Bias != nil {
				for i := range c.Bias.Data {
					c.Bias.Data[i] = 0.1 * float32(i)
				}
			}
			inputs := []*Tensor{x, c.W}
			if c.Bias != nil {
				inputs = append(inputs, c.Bias)
			}
			checkGrad(t, cc.name, true, func(g *Graph) *Tensor { return c.Forward(g, x) }, inputs...)
		})
	}
}

func TestLinearGradientsFiniteDifference(t *testing.T) {
	l := MustLinear(LinearConfig{Name: "fc", In: 7, Out: 4, Bias: true}, rand.New(rand.NewPCG(1, 1)))
	x := randTensor(3, 1, 5, 7)
	checkGrad(t, "linear", true, func(g *Graph) *Tensor { return l.Forward(g, x) }, x, l.W, l.Bias)
}

// backwardOnce runs one training forward of layer on x and backward of a
// fixed upstream gradient dy, returning the gradients of x and W.
func backwardOnce(layer Layer, w *Tensor, x *Tensor, dy func(out *Tensor) []float32) (dx, dw []float32) {
	x.Grad, w.Grad = nil, nil
	x.NeedsGrad = true
	g := NewGraph(true, nil)
	out := layer.Forward(g, x)
	g.BackwardFrom(out, dy(out))
	return slices.Clone(x.Grad), slices.Clone(w.Grad)
}

func fixedDy(out *Tensor) []float32 { return randTensor(99, 1, out.Shape...).Data }

// TestFeedbackRulesConv checks acceptance line 2 on convolutions: the weight
// gradient is the bp one, the input gradient is the transposed conv with B,
// and B keeps each rule's invariants.
func TestFeedbackRulesConv(t *testing.T) {
	for _, cc := range convCases {
		for _, r := range []rule.Rule{rule.FA, rule.USF, rule.BRSF, rule.FRSF} {
			t.Run(cc.name+"/"+string(r), func(t *testing.T) {
				c := cc.layer(t, r)
				x := randTensor(5, 1, cc.n, cc.c, cc.h, cc.w)
				gm, _ := newConvGeom(x.Shape, c.W.Shape, cc.stride, cc.pad, cc.dil, cc.groups)
				before := *c.Feedback
				dx, dw := backwardOnce(c, c.W, x, fixedDy)
				// The B this step used, rebuilt from the state before the step.
				beff := before.Effective(c.W.Data, false)
				if r == rule.BRSF && c.Feedback.Draws != before.Draws+1 {
					t.Fatalf("brsf did not advance its stream: draws %d -> %d", before.Draws, c.Feedback.Draws)
				}
				out := c.Forward(nil, x)
				assertClose(t, "input gradient = convᵀ with B", dx, naiveConvInputGrad(gm, fixedDy(out), beff), 1e-4)
				// Same layer switched to bp: the weight gradient must not change.
				if err := c.SetRule(rule.BP); err != nil {
					t.Fatal(err)
				}
				_, dwBP := backwardOnce(c, c.W, x, fixedDy)
				assertClose(t, "weight gradient = bp's", dw, dwBP, 1e-5)
				checkInvariants(t, r, c.W.Data, beff, c.Feedback)
			})
		}
	}
}

func checkInvariants(t *testing.T, r rule.Rule, w, beff []float32, f *Feedback) {
	t.Helper()
	if r.SignConcordant() {
		for i := range w {
			if Sign(beff[i]) != Sign(w[i]) {
				t.Fatalf("%s: Sign(B)[%d]=%v but Sign(W)=%v", r, i, Sign(beff[i]), Sign(w[i]))
			}
		}
	}
	if r == rule.USF {
		for i := range w {
			if w[i] != 0 && math.Abs(float64(beff[i])) != float64(f.Scale) {
				t.Fatalf("usf: |B| = %g, want scale %g", beff[i], f.Scale)
			}
		}
	}
}

func TestFeedbackMagnitudesOverSteps(t *testing.T) {
	cc := convCases[0]
	x := randTensor(5, 1, cc.n, cc.c, cc.h, cc.w)
	for _, r := range []rule.Rule{rule.FA, rule.BRSF, rule.FRSF, rule.USF} {
		c := cc.layer(t, r)
		var prev []float32
		var fixedB []float32
		if c.Feedback.B != nil {
			fixedB = slices.Clone(c.Feedback.B.Data)
		}
		for step := 0; step < 3; step++ {
			state := *c.Feedback
			backwardOnce(c, c.W, x, fixedDy)
			mags := slices.Clone(state.Effective(c.W.Data, false))
			for i := range mags {
				mags[i] = float32(math.Abs(float64(mags[i])))
			}
			// An optimizer step changes W (and so its signs) between updates.
			for i := range c.W.Data {
				c.W.Data[i] -= 0.05 * c.W.Grad[i]
			}
			if prev != nil {
				same := slices.Equal(prev, mags)
				switch r {
				case rule.BRSF:
					if same {
						t.Fatalf("brsf: |B| did not change between updates")
					}
				case rule.FRSF, rule.USF, rule.FA:
					if !same {
						t.Fatalf("%s: |B| changed between updates", r)
					}
				}
			}
			prev = mags
		}
		if fixedB != nil && !slices.Equal(fixedB, c.Feedback.B.Data) {
			t.Fatalf("%s: stored B changed during training", r)
		}
	}
}

func TestUSFScaleIsXavierStd(t *testing.T) {
	c := MustConv2d(Conv2dConfig{Name: "c", In: 16, Out: 16, Kernel: 3, Groups: 16, Rule: rule.USF}, rand.New(rand.NewPCG(1, 2)))
	want := math.Sqrt(2.0 / float64(9+16*9)) // depthwise: fan_in = k², fan_out = C·k²
	if math.Abs(float64(c.Feedback.Scale)-want) > 1e-6 {
		t.Fatalf("usf scale %g, want %g", c.Feedback.Scale, want)
	}
}

// TestDFA checks that a dfa layer's input gradient is the network output
// error sent through B, and its weight gradient the true local one.
func TestDFA(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	conv := MustConv2d(Conv2dConfig{Name: "conv", In: 2, Out: 3, Kernel: 3, Padding: 1, Stride: 2, Rule: rule.DFA, Classes: 4}, rng)
	fc := MustLinear(LinearConfig{Name: "fc", In: 3 * 4 * 4, Out: 4, Rule: rule.DFA, Classes: 4}, rng)
	x := randTensor(8, 1, 2, 2, 8, 8)
	x.NeedsGrad = true
	g := NewGraph(true, nil)
	h := conv.Forward(g, x)
	logits := fc.Forward(g, h)
	g.SetOutput(logits)
	e := randTensor(12, 1, 2, 4).Data
	g.BackwardFrom(logits, e)

	// fc: input gradient = e·B_fc.
	wantH := make([]float32, h.Len())
	for n := 0; n < 2; n++ {
		for i := 0; i < 48; i++ {
			var s float32
			for k := 0; k < 4; k++ {
				s += e[n*4+k] * fc.Feedback.B.Data[k*48+i]
			}
			wantH[n*48+i] = s
		}
	}
	assertClose(t, "fc input gradient", h.Grad, wantH, 1e-5)

	// conv: input gradient = convᵀ(broadcast e, B_conv).
	gm, _ := newConvGeom(x.Shape, []int{4, 2, 3, 3}, 2, 1, 1, 1)
	eb := make([]float32, 2*4*gm.Ho*gm.Wo)
	for n := 0; n < 2; n++ {
		for k := 0; k < 4; k++ {
			for p := 0; p < gm.Ho*gm.Wo; p++ {
				eb[(n*4+k)*gm.Ho*gm.Wo+p] = e[n*4+k]
			}
		}
	}
	assertClose(t, "conv input gradient", x.Grad, naiveConvInputGrad(gm, eb, conv.Feedback.B.Data), 1e-4)

	// Weight gradients are the true local ones given what reached the outputs.
	dwBP := make([]float32, conv.W.Len())
	gmW, _ := newConvGeom(x.Shape, conv.W.Shape, 2, 1, 1, 1)
	convBackward(gmW, x.Data, h.Grad, conv.W.Data, nil, dwBP, false)
	assertClose(t, "conv weight gradient", conv.W.Grad, dwBP, 1e-5)
}

func TestSetRuleKeepsWeights(t *testing.T) {
	c := convCases[0].layer(t, rule.BP)
	w := slices.Clone(c.W.Data)
	for _, r := range rule.Feedback {
		if err := c.SetRule(r); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(w, c.W.Data) || c.Rule() != r {
			t.Fatalf("SetRule(%s) changed the weights or did not take", r)
		}
	}
	if err := c.SetRule(rule.Hebb); err == nil {
		t.Fatal("SetRule(hebb) on a plain conv should fail")
	}
}

func TestTrueGradientIgnoresRule(t *testing.T) {
	cc := convCases[0]
	x := randTensor(5, 1, cc.n, cc.c, cc.h, cc.w)
	c := cc.layer(t, rule.FA)
	x.NeedsGrad = true
	g := NewGraph(false, nil)
	g.TrueGradient = true
	out := c.Forward(g, x)
	g.BackwardFrom(out, fixedDy(out))
	gm, _ := newConvGeom(x.Shape, c.W.Shape, cc.stride, cc.pad, cc.dil, cc.groups)
	assertClose(t, "true gradient", x.Grad, naiveConvInputGrad(gm, fixedDy(out), c.W.Data), 1e-4)
}

func TestFactorizedReduce(t *testing.T) {
	f, err := NewFactorizedReduce("fr", 3, 4, true, rule.BP, 0, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(6, 1, 2, 3, 6, 8)
	// Keep inputs away from ReLU's kink for the finite differences.
	for i, v := range x.Data {
		if math.Abs(float64(v)) < 0.05 {
			x.Data[i] = 0.3
		}
	}
	y := f.Forward(nil, x)
	if !slices.Equal(y.Shape, []int{2, 4, 3, 4}) {
		t.Fatalf("shape %v, want [2 4 3 4]", y.Shape)
	}
	inputs := append([]*Tensor{x}, Tensors(f.Params())...)
	checkGrad(t, "factorized reduce", true, func(g *Graph) *Tensor { return f.Forward(g, x) }, inputs...)
	if _, err := NewFactorizedReduce("odd", 3, 5, true, rule.BP, 0, rand.New(rand.NewPCG(2, 2))); err == nil {
		t.Fatal("odd output channels accepted")
	}
}

// TestFeedbackRulesLinear is TestFeedbackRulesConv for linear layers: the
// weight and bias gradients are bp's, the input gradient is dy·B with the B
// the step used, and B keeps each rule's invariants.
func TestFeedbackRulesLinear(t *testing.T) {
	for _, r := range []rule.Rule{rule.FA, rule.USF, rule.BRSF, rule.FRSF} {
		t.Run(string(r), func(t *testing.T) {
			l := MustLinear(LinearConfig{Name: "fc", In: 7, Out: 4, Bias: true, Rule: r}, rand.New(rand.NewPCG(5, 6)))
			x := randTensor(8, 1, 3, 7)
			before := *l.Feedback
			dx, dw := backwardOnce(l, l.W, x, fixedDy)
			db := slices.Clone(l.Bias.Grad)
			beff := before.Effective(l.W.Data, false)
			dy := fixedDy(l.Forward(nil, x))
			want := make([]float32, x.Len())
			for n := 0; n < 3; n++ {
				for i := 0; i < 7; i++ {
					var s float64
					for o := 0; o < 4; o++ {
						s += float64(dy[n*4+o]) * float64(beff[o*7+i])
					}
					want[n*7+i] = float32(s)
				}
			}
			assertClose(t, "input gradient = dy·B", dx, want, 1e-5)
			if r == rule.BRSF && l.Feedback.Draws != before.Draws+1 {
				t.Fatalf("brsf did not advance its stream")
			}
			l.Bias.Grad = nil
			if err := l.SetRule(rule.BP); err != nil {
				t.Fatal(err)
			}
			_, dwBP := backwardOnce(l, l.W, x, fixedDy)
			assertClose(t, "weight gradient = bp's", dw, dwBP, 1e-6)
			assertClose(t, "bias gradient = bp's", db, l.Bias.Grad, 1e-6)
			checkInvariants(t, r, l.W.Data, beff, l.Feedback)
		})
	}
}

// A conv's input gradient lent unzeroed by an arena (gradForWrite) comes
// out as if it had started at zero: the 1×1 conv overwrites it, the others
// clear it first, and a second consumer of the same input adds to what the
// first wrote. The pool's free buffer is filled with NaN, so a value left
// unwritten shows.
func TestConvInputGradientOnAStaleArenaBuffer(t *testing.T) {
	for _, cfg := range []Conv2dConfig{
		{Name: "pw", In: 4, Out: 6, Kernel: 1},
		{Name: "pw-groups", In: 4, Out: 6, Kernel: 1, Groups: 2},
		{Name: "dense", In: 4, Out: 6, Kernel: 3, Padding: 1},
		{Name: "strided", In: 4, Out: 6, Kernel: 1, Stride: 2},
		{Name: "depthwise", In: 4, Out: 4, Kernel: 3, Padding: 1, Groups: 4},
	} {
		t.Run(cfg.Name, func(t *testing.T) {
			c := MustConv2d(cfg, rand.New(rand.NewPCG(3, 3)))
			x := randTensor(4, 1, 2, 4, 7, 7)
			x.NeedsGrad = true
			// Two consumers of the input, each getting the same seed: twice
			// one consumer's gradient.
			run := func(g *Graph, xin *Tensor, consumers int) []float32 {
				out := c.Forward(g, xin)
				if consumers == 2 {
					out = g.Add(out, c.Forward(g, xin))
				}
				g.BackwardFrom(out, randTensor(5, 1, out.Shape...).Data)
				return slices.Clone(xin.Grad)
			}
			want := run(NewGraph(true, nil), x, 1)
			for i := range want {
				want[i] *= 2
			}

			// Every buffer the step could be lent is stale.
			pool := &ArenaPool{}
			stale := pool.NewArena()
			bufs := map[*float32]bool{}
			for range 8 {
				buf := stale.Get(x.Len())
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
				bufs[&buf[0]] = true
			}
			stale.Reset()
			g := NewGraph(true, nil)
			g.Arena = pool.NewArena()
			v := g.Arena.View(x)
			got := run(g, v, 2)
			if !bufs[&v.Grad[0]] {
				t.Fatal("the view's gradient is not one of the stale buffers")
			}
			for i := range want {
				if !(math.Abs(float64(got[i]-want[i])) <= 1e-5*(1+math.Abs(float64(want[i])))) { // NaN fails
					t.Fatalf("dx[%d] = %v on a stale buffer, %v on a fresh one", i, got[i], want[i])
				}
			}
		})
	}
}
