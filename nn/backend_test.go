package nn

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn/cpu"
	"github.com/bionaslab/bionas/nn/rule"
)

// countingBackend runs the CPU kernels and counts the calls, so the tests
// see that conv and linear layers route through Graph.Backend.
type countingBackend struct {
	conv, convBack, gemm int
	fail                 error
}

func (b *countingBackend) Name() string { return "counting" }

func (b *countingBackend) ConvForward(s ConvShape, x, w, out []float32) error {
	b.conv++
	if b.fail != nil {
		return b.fail
	}
	convForward(s.geom(), x, w, out)
	return nil
}

func (b *countingBackend) ConvBackward(s ConvShape, x, dy, bw, dx, dw []float32) error {
	b.convBack++
	convBackward(s.geom(), x, dy, bw, dx, dw)
	return nil
}

func (b *countingBackend) Sgemm(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) error {
	b.gemm++
	cpu.Sgemm(ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
	return nil
}

// TestBackendSeam: with a backend on the graph, every conv and linear
// kernel goes through it, and the results are those of the CPU path.
func TestBackendSeam(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    rule.Rule
	}{{"bp", rule.BP}, {"fa", rule.FA}, {"usf", rule.USF}, {"brsf", rule.BRSF}, {"frsf", rule.FRSF}, {"dfa", rule.DFA}} {
		var loss [2]float32
		var grads [2][][]float32
		var be countingBackend
		for side, b := range []Backend{nil, &be} {
			net, err := NewSmallCNN(SmallCNNConfig{C: 2, H: 8, W: 8, Classes: 4, Width: 4, Rule: tc.r}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			g := NewGraph(true, rand.New(rand.NewPCG(3, 4)))
			g.Backend = b
			loss[side], _ = TrainBatch(net, randTensor(5, 1, 3, 2, 8, 8), []int{0, 3, 1}, 0, g)
			for _, p := range net.Params() {
				grads[side] = append(grads[side], p.T.Grad)
			}
		}
		if loss[0] != loss[1] {
			t.Errorf("%s: loss %v with the backend, %v without", tc.name, loss[1], loss[0])
		}
		for i := range grads[0] {
			if !slices.Equal(grads[0][i], grads[1][i]) {
				t.Errorf("%s: gradient of parameter %d differs with the backend", tc.name, i)
			}
		}
		// 2 convs forward and backward, the linear layer's forward and its
		// weight and input gradients.
		if be.conv != 2 || be.convBack != 2 || be.gemm != 3 {
			t.Errorf("%s: backend calls conv=%d convBack=%d gemm=%d, want 2, 2, 3", tc.name, be.conv, be.convBack, be.gemm)
		}
	}
}

// A failing backend stops the forward with an error that names the layer
// and the backend.
func TestBackendFailureNamesLayer(t *testing.T) {
	c := MustConv2d(Conv2dConfig{Name: "stem", In: 2, Out: 3, Kernel: 3}, rand.New(rand.NewPCG(1, 1)))
	g := NewGraph(true, nil)
	boom := errors.New("device lost")
	g.Backend = &countingBackend{fail: boom}
	defer func() {
		err, ok := recover().(error)
		if !ok || !errors.Is(err, boom) || !strings.Contains(err.Error(), "stem") || !strings.Contains(err.Error(), "counting") {
			t.Errorf("panic %v: want an error wrapping %v naming the layer and backend", err, boom)
		}
	}()
	c.Forward(g, randTensor(1, 1, 1, 2, 5, 5))
	t.Error("Forward returned despite the failing backend")
}
