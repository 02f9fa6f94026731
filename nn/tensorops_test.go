package nn

import (
	"slices"
	"testing"
)

func TestTensorOpsGrad(t *testing.T) {
	a := randTensor(20, 1, 2, 3, 4, 4)
	b := randTensor(21, 1, 2, 3, 4, 4)
	c := randTensor(22, 1, 2, 3, 4, 4)
	w := randTensor(23, 1, 5)
	v := randTensor(24, 1, 3)
	x5 := randTensor(25, 1, 2, 3, 5, 5)
	other := randTensor(26, 1, 2, 5, 4, 4)
	small := randTensor(27, 1, 2, 1, 4, 4)
	for _, tc := range []struct {
		name   string
		f      func(g *Graph) *Tensor
		inputs []*Tensor
	}{
		{"Add", func(g *Graph) *Tensor { return g.Add(a, b) }, []*Tensor{a, b}},
		{"AddSelf", func(g *Graph) *Tensor { return g.Add(a, a) }, []*Tensor{a}},
		{"Sum", func(g *Graph) *Tensor { return g.Sum(a, b, c) }, []*Tensor{a, b, c}},
		{"Scale", func(g *Graph) *Tensor { return g.Scale(a, -1.7) }, []*Tensor{a}},
		{"ScaleBy", func(g *Graph) *Tensor { return g.ScaleBy(a, w, 3) }, []*Tensor{a, w}},
		{"ScaleBySoftmax", func(g *Graph) *Tensor {
			sw := g.Softmax(g.Reshape(w, 1, 5))
			return g.Add(g.ScaleBy(a, sw, 1), g.ScaleBy(b, sw, 4))
		}, []*Tensor{a, b, w}},
		{"Mul", func(g *Graph) *Tensor { return g.Mul(a, b) }, []*Tensor{a, b}},
		{"MulSelf", func(g *Graph) *Tensor { return g.Mul(a, a) }, []*Tensor{a}},
		{"MulChannel", func(g *Graph) *Tensor { return g.MulChannel(a, v) }, []*Tensor{a, v}},
		{"MulChannel2D", func(g *Graph) *Tensor { return g.MulChannel(g.GlobalAvgPool(a), v) }, []*Tensor{a, v}},
		{"AddChannel", func(g *Graph) *Tensor { return g.AddChannel(a, v) }, []*Tensor{a, v}},
		{"Concat1", func(g *Graph) *Tensor { return g.Concat(1, a, other, small) }, []*Tensor{a, other, small}},
		{"Concat0", func(g *Graph) *Tensor { return g.Concat(0, a, b) }, []*Tensor{a, b}},
		{"ConcatLast", func(g *Graph) *Tensor { return g.Concat(-1, a, b) }, []*Tensor{a, b}},
		{"SliceAxis1", func(g *Graph) *Tensor { return g.SliceAxis(other, 1, 1, 4) }, []*Tensor{other}},
		{"SliceAxis3", func(g *Graph) *Tensor { return g.SliceAxis(a, 3, 2, 4) }, []*Tensor{a}},
		{"Crop", func(g *Graph) *Tensor { return g.Crop(x5, 1, 1) }, []*Tensor{x5}},
		{"CropUneven", func(g *Graph) *Tensor { return g.Crop(x5, 2, 0) }, []*Tensor{x5}},
		{"Subsample2", func(g *Graph) *Tensor { return g.Subsample(x5, 2) }, []*Tensor{x5}},
		{"Subsample3", func(g *Graph) *Tensor { return g.Subsample(a, 3) }, []*Tensor{a}},
		{"ChannelShuffle", func(g *Graph) *Tensor { return g.ChannelShuffle(other, 5) }, []*Tensor{other}},
		{"ChannelShuffle2", func(g *Graph) *Tensor { return g.ChannelShuffle(g.Concat(1, a, c), 2) }, []*Tensor{a, c}},
		{"Reshape", func(g *Graph) *Tensor { return g.Mul(g.Reshape(a, 6, -1), g.Reshape(b, 6, 16)) }, []*Tensor{a, b}},
		{"Flatten", func(g *Graph) *Tensor { return g.Scale(g.Flatten(a), 2) }, []*Tensor{a}},
		{"Mean", func(g *Graph) *Tensor { return g.Mean(a) }, []*Tensor{a}},
		{"SumAll", func(g *Graph) *Tensor { return g.SumAll(a) }, []*Tensor{a}},
		{"Normalize", func(g *Graph) *Tensor {
			return g.Normalize(a, []float32{0.49, 0.48, 0.45}, []float32{0.25, 0.24, 0.26})
		}, []*Tensor{a}},
		{"ZeroThenScaleBy", func(g *Graph) *Tensor { return g.Add(g.ScaleBy(g.Zero(a, 2), w, 0), g.Subsample(b, 2)) }, []*Tensor{w, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGrad(t, tc.name, true, tc.f, tc.inputs...)
		})
	}
}

func TestZeroShape(t *testing.T) {
	x := randTensor(30, 1, 2, 3, 5, 5)
	x.NeedsGrad = true
	g := NewGraph(true, nil)
	for _, tc := range []struct {
		stride int
		want   []int
	}{
		{1, []int{2, 3, 5, 5}}, {2, []int{2, 3, 3, 3}},
	} {
		y := g.Zero(x, tc.stride)
		if !slices.Equal(y.Shape, tc.want) {
			t.Errorf("Zero stride %d: shape %v, want %v", tc.stride, y.Shape, tc.want)
		}
		if y.NeedsGrad || slices.ContainsFunc(y.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("Zero stride %d: not a constant zero tensor", tc.stride)
		}
		// Its shape matches the other stride-s ops of a mixed op.
		if s := g.Subsample(x, tc.stride); !SameShape(s, y) {
			t.Errorf("Zero stride %d: shape %v, Subsample gives %v", tc.stride, y.Shape, s.Shape)
		}
	}
}

func TestChannelShuffleMapping(t *testing.T) {
	// 8 channels, 4 groups (C/g = 2): input c goes to (c mod 2)·4 + c div 2.
	const n, c, hw = 2, 8, 3
	x := New(n, c, 1, hw)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	y := (*Graph)(nil).ChannelShuffle(x, 4)
	dst := []int{0, 4, 1, 5, 2, 6, 3, 7}
	for b := range n {
		for ch := range c {
			// Reference: view (N, g, C/g, HW), swap axes 1 and 2.
			gi, j := ch/2, ch%2
			if dst[ch] != j*4+gi {
				t.Fatalf("table disagrees with the transpose at channel %d", ch)
			}
			got := y.Data[(b*c+dst[ch])*hw : (b*c+dst[ch]+1)*hw]
			want := x.Data[(b*c+ch)*hw : (b*c+ch+1)*hw]
			nearSlice(t, "shuffled plane", got, want, 0)
		}
	}
	mustPanic(t, "groups do not divide", func() { (*Graph)(nil).ChannelShuffle(x, 3) })
}

func TestTensorOpsValues(t *testing.T) {
	var g *Graph
	x := FromSlice([]float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}, 1, 1, 3, 3)
	nearSlice(t, "Crop", g.Crop(x, 1, 1).Data, []float32{5, 6, 8, 9}, 0)
	nearSlice(t, "Subsample", g.Subsample(x, 2).Data, []float32{1, 3, 7, 9}, 0)
	a := FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	b := FromSlice([]float32{5, 6}, 2, 1)
	cat := g.Concat(1, a, b)
	if !slices.Equal(cat.Shape, []int{2, 3}) {
		t.Errorf("Concat shape %v", cat.Shape)
	}
	nearSlice(t, "Concat", cat.Data, []float32{1, 2, 5, 3, 4, 6}, 0)
	nearSlice(t, "SliceAxis", g.SliceAxis(cat, 1, 1, 3).Data, []float32{2, 5, 4, 6}, 0)
	nearSlice(t, "MulChannel", g.MulChannel(a, FromSlice([]float32{10, -1}, 2)).Data, []float32{10, -2, 30, -4}, 0)
	nearSlice(t, "AddChannel", g.AddChannel(a, FromSlice([]float32{10, -1}, 2)).Data, []float32{11, 1, 13, 3}, 0)
	nearSlice(t, "Normalize", g.Normalize(a, []float32{1, 2}, []float32{2, 4}).Data, []float32{0, 0, 1, 0.5}, 0)
	nearSlice(t, "Mean", g.Mean(a).Data, []float32{2.5}, 0)
	nearSlice(t, "SumAll", g.SumAll(a).Data, []float32{10}, 0)
	r := g.Reshape(a, -1)
	if !slices.Equal(r.Shape, []int{4}) || &r.Data[0] != &a.Data[0] {
		t.Errorf("Reshape: shape %v, shares data %v", r.Shape, &r.Data[0] == &a.Data[0])
	}
	if f := g.Flatten(randTensor(1, 1, 2, 3, 4, 5)); !slices.Equal(f.Shape, []int{2, 60}) {
		t.Errorf("Flatten shape %v", f.Shape)
	}

	// ScaleBy: w.Grad[i] = Σ x·dy, and the other entries stay 0.
	gr := NewGraph(true, nil)
	w := Param(3)
	copy(w.Data, []float32{0.2, 0.5, 0.3})
	y := gr.ScaleBy(a, w, 1)
	nearSlice(t, "ScaleBy", y.Data, []float32{0.5, 1, 1.5, 2}, 0)
	gr.BackwardFrom(y, []float32{1, 1, 1, -1})
	nearSlice(t, "ScaleBy w grad", w.Grad, []float32{0, 2, 0}, 0)
}

func TestTensorOpsPanics(t *testing.T) {
	var g *Graph
	for name, f := range map[string]func(){
		"Add shapes":      func() { g.Add(New(2, 3), New(3, 2)) },
		"Sum shapes":      func() { g.Sum(New(2), New(2), New(3)) },
		"Sum none":        func() { g.Sum() },
		"Mul shapes":      func() { g.Mul(New(2, 3), New(6)) },
		"MulChannel len":  func() { g.MulChannel(New(2, 3, 4, 4), New(4)) },
		"AddChannel len":  func() { g.AddChannel(New(2, 3, 4, 4), New(2)) },
		"Concat dims":     func() { g.Concat(1, New(2, 3, 4, 4), New(2, 3, 5, 4)) },
		"Concat axis":     func() { g.Concat(4, New(2, 3, 4, 4)) },
		"SliceAxis range": func() { g.SliceAxis(New(2, 3), 1, 2, 4) },
		"Crop range":      func() { g.Crop(New(1, 1, 2, 2), 2, 0) },
		"Reshape size":    func() { g.Reshape(New(2, 3), 4, 2) },
		"Reshape two -1":  func() { g.Reshape(New(2, 3), -1, -1) },
		"ScaleBy index":   func() { g.ScaleBy(New(2), New(3), 3) },
		"Normalize len":   func() { g.Normalize(New(1, 3, 2, 2), []float32{0, 0}, []float32{1, 1}) },
	} {
		mustPanic(t, name, f)
	}
}

// TestOpsParallelGrad runs the ops on tensors large enough to be split over
// cores, so the parallel loops (and, under -race, their sharing) are checked.
func TestOpsParallelGrad(t *testing.T) {
	// Max pooling alone on distinct values: piecewise linear, no ties.
	d := distinctTensor(40, 4, 16, 32, 32)
	checkGrad(t, "parallel max pool", true, func(g *Graph) *Tensor { return g.MaxPool2d(d, 3, 2, 1) }, d)

	// A smooth chain after a kink-free ReLU on x.
	x := awayFromZero(randTensor(41, 1, 4, 16, 32, 32), 0.05)
	v := randTensor(42, 1, 16)
	w := randTensor(43, 1, 3)
	bn := NewBatchNorm2d("bn", 16, true)
	checkGrad(t, "parallel chain", true, func(g *Graph) *Tensor {
		h := g.Sigmoid(g.AddChannel(g.MulChannel(g.ReLU(x), v), v))
		h = bn.Forward(g, h)
		p := g.Sum(g.ScaleBy(g.AvgPool2d(h, 3, 2, 1, false), w, 0), g.ScaleBy(g.Subsample(h, 2), w, 1),
			g.Crop(g.AvgPool2d(h, 2, 2, 0, true), 0, 0))
		p = g.ChannelShuffle(g.Concat(1, p, g.Tanh(p)), 4)
		return g.Add(g.Mul(p, p), g.Scale(g.Normalize(p, make([]float32, 32), slices.Repeat([]float32{2}, 32)), 3))
	}, x, v, w, bn.Weight, bn.Bias)
}

// TestSumOwnedSharesTheGradient: SumOwned gives the same values and
// gradients as Sum, sharing the sum's gradient with inputs that have none
// yet, and still adds for an input given twice or one that already has a
// gradient.
func TestSumOwnedSharesTheGradient(t *testing.T) {
	mk := func(seed uint64) *Tensor {
		x := randTensor(seed, 1, 2, 3, 4, 4)
		x.NeedsGrad = true
		return x
	}
	for _, c := range []struct {
		name  string
		build func(a, b, d *Tensor) []*Tensor
	}{
		{"distinct", func(a, b, d *Tensor) []*Tensor { return []*Tensor{a, b, d} }},
		{"twice", func(a, b, d *Tensor) []*Tensor { return []*Tensor{a, a, d} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got, want [][]float32
			var gotY, wantY []float32
			for _, owned := range []bool{false, true} {
				a, b, d := mk(1), mk(2), mk(3)
				xs := c.build(a, b, d)
				g := NewGraph(true, nil)
				var y *Tensor
				if owned {
					y = g.SumOwned(xs...)
				} else {
					y = g.Sum(xs...)
				}
				seed := randTensor(4, 1, y.Shape...).Data
				g.BackwardFrom(y, seed)
				var grads [][]float32
				for i, x := range []*Tensor{a, b, d} {
					grads = append(grads, append([]float32(nil), x.Grad...))
					if owned && c.name == "distinct" && &x.Grad[0] != &y.Grad[0] {
						t.Errorf("input %d does not share the sum's gradient", i)
					}
				}
				if owned {
					got, gotY = grads, y.Data
				} else {
					want, wantY = grads, y.Data
				}
			}
			if !slices.Equal(gotY, wantY) {
				t.Fatal("SumOwned's values differ from Sum's")
			}
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("input %d: SumOwned's gradient differs from Sum's", i)
				}
			}
		})
	}
}
