package nn

import (
	"math"
	"testing"
)

func TestSoftmaxGrad(t *testing.T) {
	x := randTensor(6, 2, 4, 5)
	checkGrad(t, "Softmax", true, func(g *Graph) *Tensor { return g.Softmax(x) }, x)
	checkGrad(t, "LogSoftmax", true, func(g *Graph) *Tensor { return g.LogSoftmax(x) }, x)
}

func TestSoftmaxValues(t *testing.T) {
	// Large logits must not overflow.
	x := FromSlice([]float32{1000, 1001, 1002, 0, 0, 0}, 2, 3)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	z := e[0] + e[1] + e[2]
	third := float32(1.0 / 3)
	nearSlice(t, "softmax", (*Graph)(nil).Softmax(x).Data,
		[]float32{float32(e[0] / z), float32(e[1] / z), float32(e[2] / z), third, third, third}, 1e-6)
	l := math.Log(z)
	lt := float32(-math.Log(3))
	nearSlice(t, "log softmax", (*Graph)(nil).LogSoftmax(x).Data,
		[]float32{float32(-2 - l), float32(-1 - l), float32(-l), lt, lt, lt}, 1e-5)
	mustPanic(t, "softmax 3-D", func() { (*Graph)(nil).Softmax(New(2, 3, 4)) })
}

func TestCrossEntropyGrad(t *testing.T) {
	labels := []int{2, 0, 4, 1}
	for _, s := range []float32{0, 0.1} {
		x := randTensor(7, 2, 4, 5)
		checkGrad(t, "CrossEntropy", true, func(g *Graph) *Tensor { return g.CrossEntropy(x, labels, s) }, x)
	}
}

func TestCrossEntropyValues(t *testing.T) {
	logits := FromSlice([]float32{1, 2, 3, 1, 1, 1}, 2, 3)
	labels := []int{2, 0}
	for _, tc := range []struct {
		s    float32
		want float32
	}{
		// Row 0: lse = 3 + log(1+e⁻¹+e⁻²); q = (s/3, s/3, 1−s+s/3). Row 1: log 3.
		{0, 0.75310913},
		{0.1, 0.80310913},
	} {
		y := (*Graph)(nil).CrossEntropy(logits, labels, tc.s)
		if len(y.Shape) != 1 || y.Shape[0] != 1 {
			t.Errorf("shape %v, want [1]", y.Shape)
		}
		nearSlice(t, "cross entropy", y.Data, []float32{tc.want}, 1e-6)
	}
	nearSlice(t, "per sample", CrossEntropyPerSample(logits, labels), []float32{0.40760596, 1.09861229}, 1e-6)
	mustPanic(t, "label range", func() { (*Graph)(nil).CrossEntropy(logits, []int{3, 0}, 0) })
	mustPanic(t, "label count", func() { CrossEntropyPerSample(logits, []int{1}) })
}

func TestKLDivergence(t *testing.T) {
	p := (*Graph)(nil).Softmax(randTensor(8, 1, 3, 4))
	p.Data[5] = 0 // a zero term contributes nothing
	logits := randTensor(9, 1.5, 3, 4)
	checkGrad(t, "KLDivergence", true, func(g *Graph) *Tensor { return g.KLDivergence(p, logits) }, logits)
	if p.Grad != nil {
		t.Error("KLDivergence sent a gradient to the constant p")
	}

	// KL = 0 when softmax(logits) = p (logits = log p + a row constant).
	q := (*Graph)(nil).Softmax(randTensor(10, 1, 2, 5))
	same := New(2, 5)
	for i, v := range q.Data {
		same.Data[i] = float32(math.Log(float64(v))) + float32(i/5)*3
	}
	nearSlice(t, "KL(p‖p)", (*Graph)(nil).KLDivergence(q, same).Data, []float32{0}, 1e-6)

	// p = (½, ½, 0) against uniform logits: 2·½·log(½ / ⅓) = log 1.5.
	kl := (*Graph)(nil).KLDivergence(FromSlice([]float32{0.5, 0.5, 0}, 1, 3), New(1, 3))
	nearSlice(t, "KL value", kl.Data, []float32{float32(math.Log(1.5))}, 1e-6)
	mustPanic(t, "KL shapes", func() { (*Graph)(nil).KLDivergence(New(2, 3), New(3, 2)) })
}

func TestAccuracyArgmax(t *testing.T) {
	logits := FromSlice([]float32{
		0.1, 0.9, 0.0,
		2, 2, 1, // tie: the first wins
		-1, -3, -0.5,
	}, 3, 3)
	got := Argmax(logits)
	want := []int{1, 0, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Argmax = %v, want %v", got, want)
		}
	}
	if c := Accuracy(logits, []int{1, 1, 2}); c != 2 {
		t.Errorf("Accuracy = %d, want 2", c)
	}
}
