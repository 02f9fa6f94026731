package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestAdamDefaults(t *testing.T) {
	got := AdamConfig{}.Defaults()
	want := AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	if got != want {
		t.Errorf("Defaults() = %+v, want %+v", got, want)
	}
	darts := AdamConfig{LR: 3e-4, Beta1: 0.5, Beta2: 0.999, WeightDecay: 1e-3}
	if got := NewAdam(nil, darts).Config(); got.Beta1 != 0.5 || got.LR != 3e-4 || got.WeightDecay != 1e-3 || got.Eps != 1e-8 {
		t.Errorf("DARTS config became %+v", got)
	}
}

// TestAdamHandComputed: Adam's first step moves a weight by lr·g/(|g|+eps),
// i.e. by lr against the gradient's sign, whatever the betas.
func TestAdamHandComputed(t *testing.T) {
	w := Param(2)
	w.Data[0], w.Data[1] = 1, -2
	w.Grad = []float32{0.5, -3}
	opt := NewAdam([]Named{{"w", w}}, AdamConfig{LR: 0.1, Beta1: 0.5})
	opt.Step()
	if math.Abs(float64(w.Data[0])-0.9) > 1e-6 || math.Abs(float64(w.Data[1])+1.9) > 1e-6 {
		t.Errorf("after one step w = %v, want [0.9 -1.9]", w.Data)
	}
}

// adamRef is PyTorch's Adam (L2 weight decay, bias correction) in float64.
func adamRef(w []float64, grads [][]float64, c AdamConfig) []float64 {
	c = c.Defaults()
	lr, b1, b2, eps, wd := float64(c.LR), float64(c.Beta1), float64(c.Beta2), float64(c.Eps), float64(c.WeightDecay)
	w = append([]float64(nil), w...)
	m, v := make([]float64, len(w)), make([]float64, len(w))
	for t, g := range grads {
		step := float64(t + 1)
		for j := range w {
			gj := g[j] + wd*w[j]
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			mhat := m[j] / (1 - math.Pow(b1, step))
			vhat := v[j] / (1 - math.Pow(b2, step))
			w[j] -= lr * mhat / (math.Sqrt(vhat) + eps)
		}
	}
	return w
}

func TestAdamAgainstReference(t *testing.T) {
	cfgs := map[string]AdamConfig{
		"defaults": {},
		"darts":    {LR: 3e-4, Beta1: 0.5, Beta2: 0.999, WeightDecay: 1e-3},
		"big":      {LR: 0.1, Beta1: 0.8, Beta2: 0.9, Eps: 1e-3, WeightDecay: 0.1},
	}
	for name, cfg := range cfgs {
		rng := rand.New(rand.NewPCG(5, 6))
		w := Param(14, 8) // an alpha tensor
		w64 := make([]float64, w.Len())
		for i := range w.Data {
			w.Data[i] = float32(1e-3 * rng.NormFloat64())
			w64[i] = float64(w.Data[i])
		}
		skip := Param(1)
		opt := NewAdam([]Named{{"alpha", w}, {"skip", skip}}, cfg)
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
		want := adamRef(w64, grads, cfg)
		scale := 3 * float64(cfg.Defaults().LR)
		for i := range want {
			if math.Abs(float64(w.Data[i])-want[i]) > 1e-5*scale+1e-7 {
				t.Errorf("%s: w[%d] = %v, want %v", name, i, w.Data[i], want[i])
			}
		}
		st := opt.State()
		if len(st) != 3 || st[0].Name != "alpha.step" || st[0].T.Data[0] != 3 {
			t.Errorf("%s: State() = %v, want alpha.step=3, exp_avg, exp_avg_sq only", name, stNames(st))
		}
	}
}

func TestAdamStateRoundTrip(t *testing.T) {
	cfg := AdamConfig{LR: 0.01, Beta1: 0.5}
	a := randTensor(1, 1, 2, 3)
	a.Grad = randTensor(2, 1, 2, 3).Data
	opt := NewAdam([]Named{{"a", a}}, cfg)
	opt.Step()
	opt.Step()
	a2 := a.Clone()
	a2.Grad = a.Grad
	opt2 := NewAdam([]Named{{"a", a2}}, cfg)
	if err := opt2.LoadState(opt.State()); err != nil {
		t.Fatal(err)
	}
	opt.Step()
	opt2.Step()
	for i := range a.Data {
		if a.Data[i] != a2.Data[i] {
			t.Fatalf("a[%d] = %v after resume, want %v", i, a2.Data[i], a.Data[i])
		}
	}

	st := opt.State()
	bad := []struct {
		state []Named
		want  []string
	}{
		{[]Named{st[0], st[1]}, []string{`"a.exp_avg_sq"`, "missing"}},
		{[]Named{st[0], {"a.exp_avg", New(3, 2)}, st[2]}, []string{`"a.exp_avg"`, "[3 2]", "[2 3]"}},
		{[]Named{{"a.step", FromSlice([]float32{1.5}, 1)}, st[1], st[2]}, []string{`"a.step"`}},
		{[]Named{{"b.step", New(1)}}, []string{`"b.step"`}},
		{append(opt.State(), st[1]), []string{"duplicate", `"a.exp_avg"`}},
	}
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
}
