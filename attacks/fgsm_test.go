package attacks

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn"
)

// TestFGSMMatchesAnalyticStep checks FGSM against the closed form on
// softmax regression z = x·Wᵀ + b: ∂CE_mean/∂x = (softmax(z) − onehot)·W / N,
// so x_adv = clip(x + ε·nn.Sign((p − onehot)·W), 0, 1), exactly; targeted, the
// step goes the other way along the gradient of the CE to the target.
func TestFGSMMatchesAnalyticStep(t *testing.T) {
	const n, c, h, w, k = 6, 2, 3, 3, 5
	in := c * h * w
	tests := []struct {
		name   string
		eps    float64
		target bool
		mode   GradMode
	}{
		{"untargeted eps 8/255", 8.0 / 255, false, Own},
		{"untargeted eps 0.35 true", 0.35, false, True},
		{"targeted eps 0.1", 0.1, true, Own},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := linearModel(in, k, uint64(ti+1))
			x := randomImages(n, c, h, w, uint64(ti+10))
			y := []int{0, 1, 2, 3, 4, 0}
			cfg := FGSMConfig{Eps: tt.eps}
			lab := y
			if tt.target {
				lab = []int{3, 3, 0, 1, 2, 4}
				cfg.Target = Targeting{Mode: TargetFixed, Classes: lab}
			}
			// analytic gradient of mean CE to lab
			z := m.Forward(nil, x)
			p := softmaxRows(z)
			g := make([]float64, n*in)
			for r := range n {
				for j := range in {
					var s float64
					for q := range k {
						d := float64(p[r*k+q])
						if q == lab[r] {
							d--
						}
						s += d * float64(m.W.Data[q*in+j])
					}
					g[r*in+j] = s / n
				}
			}
			_, got, err := InputGradient(m, x, lab, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			for i := range g {
				if math.Abs(float64(got[i])-g[i]) > 1e-6 {
					t.Fatalf("gradient[%d] = %v, analytic %v", i, got[i], g[i])
				}
			}
			a, err := NewFGSM(m, x, y, cfg, Options{Grad: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			adv, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			dir := 1.0
			if tt.target {
				dir = -1
			}
			for i, v := range adv.Data {
				s := 0.0
				switch {
				case g[i] > 0:
					s = 1
				case g[i] < 0:
					s = -1
				}
				want := min(max(x.Data[i]+float32(tt.eps)*float32(dir*s), 0), 1)
				if v != want {
					t.Fatalf("x_adv[%d] = %v, want %v (x %v, grad %v)", i, v, want, x.Data[i], g[i])
				}
			}
			st := a.State()
			if !st.Done || st.Iter != 1 || st.Iters != 1 {
				t.Fatalf("state after Run: done %v iter %d/%d", st.Done, st.Iter, st.Iters)
			}
			checkInvariants(t, tt.name, x, st, tt.eps)
			wantQ := 2
			if tt.target {
				wantQ = 3 // the clean pass that chooses targets
			}
			if q := st.MaxQueries(); q != wantQ {
				t.Fatalf("queries %d, want %d", q, wantQ)
			}
		})
	}
}

// TestFGSMRaisesLoss: on a trained CNN the step increases the mean CE.
func TestFGSMRaisesLoss(t *testing.T) {
	m := tinyCNN(t, "bp", 1)
	x, y := synthBatch(32, 1)
	before := meanOf(nn.CrossEntropyPerSample(m.Forward(nil, x), y))
	a, err := NewFGSM(m, x, y, FGSMConfig{Eps: 0.1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := a.State().MeanLoss(); !(after > before) {
		t.Fatalf("mean CE %v after FGSM, %v before", after, before)
	}
}

// TestFGSMOnASaturatedModel: scaling a softmax regression's weights by 10⁵
// saturates its softmax, so the float32 CE gradient vanishes; FGSM must
// still step along the limit direction nn.Sign(W_r − W_y), r the runner-up
// class, instead of reporting the model robust.
func TestFGSMOnASaturatedModel(t *testing.T) {
	const n, in, k = 5, 16, 4
	m := linearModel(in, k, 3)
	clear(m.Bias.Data)
	for i := range m.W.Data {
		m.W.Data[i] *= 1e5
	}
	x := randomImages(n, 1, 4, 4, 4)
	z := m.Forward(nil, x)
	y := nn.Argmax(z)
	a, err := NewFGSM(m, x, y, FGSMConfig{Eps: 0.1}, Options{Grad: True})
	if err != nil {
		t.Fatal(err)
	}
	adv, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for r := range n {
		row := z.Data[r*k : (r+1)*k]
		ru := -1
		for c := range k {
			if c != y[r] && (ru < 0 || row[c] > row[ru]) {
				ru = c
			}
		}
		for j := range in {
			d := m.W.Data[ru*in+j] - m.W.Data[y[r]*in+j]
			want := min(max(x.Data[r*in+j]+0.1*nn.Sign(d), 0), 1)
			if adv.Data[r*in+j] != want {
				t.Fatalf("image %d pixel %d: %v, want %v", r, j, adv.Data[r*in+j], want)
			}
		}
	}
}
