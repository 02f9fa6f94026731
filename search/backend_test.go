package search

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/bionaslab/bionas/nn"
)

// watchedBackend runs the CPU kernels and counts the calls (concurrently:
// a mixed op's units run on several goroutines).
type watchedBackend struct {
	nn.CPU
	calls atomic.Int64
}

func (b *watchedBackend) ConvForward(s nn.ConvShape, x, w, out []float32) error {
	b.calls.Add(1)
	return b.CPU.ConvForward(s, x, w, out)
}

func (b *watchedBackend) ConvBackward(s nn.ConvShape, x, dy, bw, dx, dw []float32) error {
	b.calls.Add(1)
	return b.CPU.ConvBackward(s, x, dy, bw, dx, dw)
}

func (b *watchedBackend) Sgemm(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) error {
	b.calls.Add(1)
	return b.CPU.Sgemm(ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
}

// A backend given to DARTS (with recomputation, so also the mixed ops'
// own graphs), EG-NAS or Train carries every training step's convolutions
// and linear layers, and a backend that computes what the CPU computes
// leaves the results unchanged bit for bit.
func TestSearchAndTrainRouteThroughBackend(t *testing.T) {
	train, val := algoData(64)
	for _, tc := range []struct {
		name string
		run  func(be nn.Backend) (any, error)
	}{
		{"darts-recompute", func(be nn.Backend) (any, error) {
			sc := algoSupernetCfg(t)
			sc.Recompute = true
			r, err := DARTS(context.Background(), DARTSConfig{Supernet: sc, Epochs: 1, BatchSize: 16, LR: 0.1, ArchLR: 3e-3, Seed: 5, Backend: be}, train, val)
			if err != nil {
				return nil, err
			}
			return r.Alphas, nil
		}},
		{"egnas", func(be nn.Backend) (any, error) {
			r, err := EGNAS(context.Background(), EGNASConfig{Supernet: algoSupernetCfg(t), Epochs: 1, BatchSize: 16, ArchBatch: 16, Samples: 2,
				Population: 5, Generations: 1, Seed: 3, Backend: be}, train, val)
			if err != nil {
				return nil, err
			}
			return r.Alphas, nil
		}},
		{"train", func(be nn.Backend) (any, error) {
			tr, te := trainTestData(64, 8)
			r, err := Train(context.Background(), trainTestNet(t, false), TrainConfig{Epochs: 1, BatchSize: 16, LR: 0.05, Seed: 1, Backend: be}, tr, te)
			if err != nil {
				return nil, err
			}
			return [2]float64{r.TestLoss, r.TestAcc}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := tc.run(nil)
			if err != nil {
				t.Fatal(err)
			}
			be := &watchedBackend{}
			routed, err := tc.run(be)
			if err != nil {
				t.Fatal(err)
			}
			if be.calls.Load() == 0 {
				t.Fatal("the backend was never called")
			}
			if !reflect.DeepEqual(plain, routed) {
				t.Errorf("results differ with the backend:\n%+v\n%+v", plain, routed)
			}
		})
	}
}
