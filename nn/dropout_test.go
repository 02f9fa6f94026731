package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDropoutGrad(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(g *Graph, x *Tensor, p float32) *Tensor
	}{
		{"Dropout", (*Graph).Dropout},
		{"DropPath", (*Graph).DropPath},
	} {
		x := randTensor(11, 1, 6, 2, 3, 3)
		// checkGrad builds a fresh graph per evaluation; fixing the seed
		// inside f gives every evaluation the same mask.
		checkGrad(t, tc.name, true, func(g *Graph) *Tensor {
			g.Rand = rand.New(rand.NewPCG(3, 3))
			return tc.op(g, x, 0.4)
		}, x)
	}
}

func TestDropoutIdentity(t *testing.T) {
	x := randTensor(12, 1, 4, 3)
	for name, y := range map[string]*Tensor{
		"nil graph":       (*Graph)(nil).Dropout(x, 0.5),
		"eval graph":      NewGraph(false, nil).Dropout(x, 0.5),
		"p = 0":           NewGraph(true, nil).Dropout(x, 0),
		"drop path eval":  NewGraph(false, nil).DropPath(x, 0.5),
		"drop path p = 0": NewGraph(true, nil).DropPath(x, 0),
		"drop path nil":   (*Graph)(nil).DropPath(x, 0.3),
	} {
		if y != x {
			t.Errorf("%s: not the identity", name)
		}
	}
	mustPanic(t, "p > 1", func() { (*Graph)(nil).Dropout(x, 1.5) })
	mustPanic(t, "p < 0", func() { NewGraph(true, nil).DropPath(x, -0.1) })
}

func TestDropoutValues(t *testing.T) {
	const p = 0.3
	x := New(70000) // big enough to split over cores
	for i := range x.Data {
		x.Data[i] = 2
	}
	y := NewGraph(true, rand.New(rand.NewPCG(1, 1))).Dropout(x, p)
	kept := 0
	for _, v := range y.Data {
		switch {
		case v == 0:
		case math.Abs(float64(v)-2/(1-p)) < 1e-5:
			kept++
		default:
			t.Fatalf("dropout value %v, want 0 or %v", v, 2/(1-p))
		}
	}
	if frac := float64(kept) / float64(x.Len()); math.Abs(frac-(1-p)) > 0.02 {
		t.Errorf("kept fraction %.3f, want about %.2f", frac, 1-p)
	}
	// The same seed gives the same mask.
	y2 := NewGraph(true, rand.New(rand.NewPCG(1, 1))).Dropout(x, p)
	nearSlice(t, "same seed", y2.Data, y.Data, 0)
	// p = 1 drops everything.
	nearSlice(t, "p = 1", NewGraph(true, nil).Dropout(x, 1).Data, New(70000).Data, 0)
}

func TestDropPathValues(t *testing.T) {
	const p = 0.5
	x := New(64, 2, 3, 3)
	for i := range x.Data {
		x.Data[i] = 1
	}
	y := NewGraph(true, rand.New(rand.NewPCG(4, 4))).DropPath(x, p)
	size := x.Len() / 64
	dropped := 0
	for s := range 64 {
		sample := y.Data[s*size : (s+1)*size]
		for _, v := range sample {
			if v != sample[0] {
				t.Fatalf("sample %d mixes kept and dropped values", s)
			}
		}
		switch sample[0] {
		case 0:
			dropped++
		case 1 / (1 - p):
		default:
			t.Fatalf("sample %d scaled by %v, want 0 or %v", s, sample[0], 1/(1-p))
		}
	}
	if dropped == 0 || dropped == 64 {
		t.Errorf("dropped %d of 64 samples at p = %v", dropped, p)
	}
}
