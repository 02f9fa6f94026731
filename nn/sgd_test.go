package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSGDHandComputed pins three PyTorch SGD steps on one weight w=1 with a
// constant gradient 0.5 and lr 0.1, worked out by hand.
func TestSGDHandComputed(t *testing.T) {
	tests := []struct {
		name string
		cfg  SGDConfig
		want [3]float64
	}{
		// w -= 0.1·0.5
		{"plain", SGDConfig{LR: 0.1}, [3]float64{0.95, 0.9, 0.85}},
		// d = 0.5 + 0.1·w: 0.6, 0.594, 0.58806
		{"wd", SGDConfig{LR: 0.1, WeightDecay: 0.1}, [3]float64{0.94, 0.8806, 0.821794}},
		// buf = 0.5, 0.95, 1.355
		{"momentum", SGDConfig{LR: 0.1, Momentum: 0.9}, [3]float64{0.95, 0.855, 0.7195}},
		// d = 0.5 + 0.9·buf: 0.95, 1.355, 1.7195
		{"nesterov", SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true}, [3]float64{0.905, 0.7695, 0.59755}},
	}
	for _, tc := range tests {
		w := Param(1)
		w.Data[0] = 1
		opt := NewSGD([]Named{{"w", w}}, tc.cfg)
		for s := range 3 {
			w.Grad = []float32{0.5}
			opt.Step()
			if got := float64(w.Data[0]); math.Abs(got-tc.want[s]) > 1e-6 {
				t.Errorf("%s: step %d: w = %.7f, want %.7f", tc.name, s+1, got, tc.want[s])
			}
		}
	}
}

// sgdRef is PyTorch's SGD in float64 over one tensor and a gradient per step.
func sgdRef(w []float64, grads [][]float64, cfg SGDConfig) []float64 {
	lr, m, wd := float64(cfg.LR), float64(cfg.Momentum), float64(cfg.WeightDecay)
	w = append([]float64(nil), w...)
	var buf []float64
	for _, g := range grads {
		first := buf == nil
		if first {
			buf = make([]float64, len(w))
		}
		for j := range w {
			d := g[j] + wd*w[j]
			if m != 0 {
				if first {
					buf[j] = d
				} else {
					buf[j] = m*buf[j] + d
				}
				if cfg.Nesterov {
					d += m * buf[j]
				} else {
					d = buf[j]
				}
			}
			w[j] -= lr * d
		}
	}
	return w
}

func TestSGDAgainstReference(t *testing.T) {
	cfgs := map[string]SGDConfig{
		"plain":       {LR: 0.05},
		"wd":          {LR: 0.05, WeightDecay: 3e-4},
		"darts":       {LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4},
		"nesterov+wd": {LR: 0.05, Momentum: 0.9, WeightDecay: 1e-2, Nesterov: true},
	}
	for name, cfg := range cfgs {
		rng := rand.New(rand.NewPCG(3, 4))
		w := Param(2, 3)
		w64 := make([]float64, w.Len())
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64())
			w64[i] = float64(w.Data[i])
		}
		skip := Param(2) // never gets a gradient: must not move
		skip.Data[0] = 1
		opt := NewSGD([]Named{{"w", w}, {"skip", skip}}, cfg)
		var grads [][]float64
		for range 3 {
			g := make([]float64, w.Len())
			w.Grad = make([]float32, w.Len())
			for i := range g {
				w.Grad[i] = float32(rng.NormFloat64())
				g[i] = float64(w.Grad[i])
			}
			grads = append(grads, g)
			opt.Step()
		}
		want := sgdRef(w64, grads, cfg)
		for i := range want {
			if math.Abs(float64(w.Data[i])-want[i]) > 1e-5 {
				t.Errorf("%s: w[%d] = %v, want %v", name, i, w.Data[i], want[i])
			}
		}
		if skip.Data[0] != 1 || opt.MomentumBuffer("skip") != nil {
			t.Errorf("%s: parameter with nil Grad was stepped", name)
		}
	}
}

func TestSGDStateRoundTrip(t *testing.T) {
	cfg := SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-3}
	a, b := randTensor(1, 1, 3, 2), randTensor(2, 1, 4)
	a.Grad, b.Grad = randTensor(3, 1, 3, 2).Data, randTensor(4, 1, 4).Data
	opt := NewSGD([]Named{{"a", a}, {"b", b}}, cfg)
	opt.Step()
	opt.Step()
	st := opt.State()
	if len(st) != 2 || st[0].Name != "a.momentum_buffer" || st[1].Name != "b.momentum_buffer" {
		t.Fatalf("State names: %v", stNames(st))
	}
	// A fresh optimizer loaded with the state continues identically.
	a2, b2 := a.Clone(), b.Clone()
	a2.Grad, b2.Grad = a.Grad, b.Grad
	opt2 := NewSGD([]Named{{"a", a2}, {"b", b2}}, cfg)
	if err := opt2.LoadState(st); err != nil {
		t.Fatal(err)
	}
	st[0].T.Data[0] = 1e9 // State must be a copy
	opt.Step()
	opt2.Step()
	for i := range a.Data {
		if a.Data[i] != a2.Data[i] {
			t.Fatalf("a[%d]: %v after resume, want %v", i, a2.Data[i], a.Data[i])
		}
	}
	opt.ZeroGrad()
	if a.Grad[0] != 0 || b.Grad[3] != 0 {
		t.Error("ZeroGrad left gradients")
	}
	opt.SetLR(0.5)
	if opt.LR() != 0.5 {
		t.Errorf("LR() = %v after SetLR(0.5)", opt.LR())
	}

	bad := []struct {
		state []Named
		want  []string
	}{
		{[]Named{{"a.momentum_buffer", New(2, 3)}}, []string{`"a.momentum_buffer"`, "[2 3]", "[3 2]"}},
		{[]Named{{"c.momentum_buffer", New(4)}}, []string{`"c.momentum_buffer"`}},
		{[]Named{{"a.velocity", New(3, 2)}}, []string{`"a.velocity"`}},
	}
	before := opt2.MomentumBuffer("a")[0]
	for _, tc := range bad {
		err := opt2.LoadState(tc.state)
		if err == nil {
			t.Errorf("LoadState(%v): no error", stNames(tc.state))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("LoadState error %q does not mention %s", err, w)
			}
		}
	}
	if opt2.MomentumBuffer("a")[0] != before {
		t.Error("failed LoadState changed the state")
	}
}

func TestSGDNoMomentumHasNoState(t *testing.T) {
	w := Param(2)
	w.Grad = []float32{1, 1}
	opt := NewSGD([]Named{{"w", w}}, SGDConfig{LR: 0.1})
	opt.Step()
	if st := opt.State(); len(st) != 0 {
		t.Errorf("State() = %v, want none without momentum", stNames(st))
	}
}

func stNames(ns []Named) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}
