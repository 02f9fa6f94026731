package nn

import (
	"math"
	"testing"
)

func TestBatchNormGrad(t *testing.T) {
	for _, tc := range []struct {
		name   string
		train  bool
		affine bool
	}{
		{"train_affine", true, true},
		{"train_plain", true, false},
		{"eval_affine", false, true},
		{"eval_plain", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bn := NewBatchNorm2d("bn", 3, tc.affine)
			// Non-trivial running statistics and affine parameters.
			copy(bn.RunningMean.Data, []float32{0.3, -0.2, 0.1})
			copy(bn.RunningVar.Data, []float32{0.5, 2, 1.5})
			x := randTensor(5, 1.5, 2, 3, 3, 4)
			for i := range x.Data {
				x.Data[i] += float32(i%3) * 0.5 // shift the channel means
			}
			inputs := []*Tensor{x}
			if tc.affine {
				copy(bn.Weight.Data, []float32{1.5, -0.7, 0.9})
				copy(bn.Bias.Data, []float32{0.2, 0.1, -0.3})
				inputs = append(inputs, bn.Weight, bn.Bias)
			}
			checkGrad(t, tc.name, tc.train, func(g *Graph) *Tensor { return bn.Forward(g, x) }, inputs...)
		})
	}
}

func TestBatchNormRunningStats(t *testing.T) {
	bn := NewBatchNorm2d("cells.0.bn", 2, false)
	// Channel 0 holds 1,2 | 3,4; channel 1 holds 0,0 | 2,−2.
	x := FromSlice([]float32{1, 2, 0, 0, 3, 4, 2, -2}, 2, 2, 1, 2)
	y := bn.Forward(NewGraph(true, nil), x)
	// Batch: mean (2.5, 0), biased var (1.25, 2), unbiased (5/3, 8/3).
	nearSlice(t, "running mean", bn.RunningMean.Data, []float32{0.25, 0}, 1e-6)
	nearSlice(t, "running var", bn.RunningVar.Data, []float32{0.9 + 0.1*5.0/3, 0.9 + 0.1*8.0/3}, 1e-6)
	s0, s1 := float32(1/math.Sqrt(1.25+1e-5)), float32(1/math.Sqrt(2+1e-5))
	nearSlice(t, "train output", y.Data, []float32{-1.5 * s0, -0.5 * s0, 0, 0, 0.5 * s0, 1.5 * s0, 2 * s1, -2 * s1}, 1e-5)

	// Evaluation (and a nil graph) use the running statistics and leave them alone.
	rm, rv := bn.RunningMean.Clone(), bn.RunningVar.Clone()
	for _, g := range []*Graph{nil, NewGraph(false, nil)} {
		y := bn.Forward(g, x)
		want := make([]float32, x.Len())
		for i, v := range x.Data {
			c := (i / 2) % 2
			want[i] = (v - rm.Data[c]) / float32(math.Sqrt(float64(rv.Data[c])+1e-5))
		}
		nearSlice(t, "eval output", y.Data, want, 1e-5)
		nearSlice(t, "eval running mean", bn.RunningMean.Data, rm.Data, 0)
		nearSlice(t, "eval running var", bn.RunningVar.Data, rv.Data, 0)
	}
}

func TestBatchNormModule(t *testing.T) {
	bn := NewBatchNorm2d("stem.bn", 4, true)
	if bn.Eps != 1e-5 || bn.Momentum != 0.1 {
		t.Errorf("eps %v momentum %v, want 1e-5 and 0.1", bn.Eps, bn.Momentum)
	}
	nearSlice(t, "weight", bn.Weight.Data, []float32{1, 1, 1, 1}, 0)
	nearSlice(t, "bias", bn.Bias.Data, []float32{0, 0, 0, 0}, 0)
	nearSlice(t, "running var", bn.RunningVar.Data, []float32{1, 1, 1, 1}, 0)
	var names []string
	for _, n := range append(bn.Params(), bn.Buffers()...) {
		names = append(names, n.Name)
	}
	want := []string{"stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean", "stem.bn.running_var"}
	if len(names) != len(want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("names %v, want %v", names, want)
		}
	}
	if !bn.Weight.NeedsGrad || !bn.Bias.NeedsGrad || bn.RunningMean.NeedsGrad {
		t.Error("weight and bias must need gradients, buffers must not")
	}
	plain := NewBatchNorm2d("", 2, false)
	if len(plain.Params()) != 0 || plain.Buffers()[0].Name != "running_mean" {
		t.Errorf("non-affine: params %v, buffers %v", plain.Params(), plain.Buffers())
	}
	mustPanic(t, "wrong channels", func() { bn.Forward(nil, New(1, 3, 2, 2)) })
	mustPanic(t, "one value per channel", func() { bn.Forward(NewGraph(true, nil), New(1, 4, 1, 1)) })
}
