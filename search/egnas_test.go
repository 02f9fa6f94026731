package search

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/optimize"

	"github.com/bionaslab/bionas/nn"
)

func TestCompoundFitness(t *testing.T) {
	for _, c := range []struct {
		name                     string
		ce, acc, ori, sim, w, fx float64
	}{
		{"more accurate: similarity penalised", 1.2, 50, 40, 0.5, 0.4, 1.2 + 0.2},
		{"as accurate: similarity penalised", 1.2, 40, 40, 0.5, 0.4, 1.4},
		{"less accurate: similarity rewarded", 1.2, 30, 40, 0.5, 0.4, 1.0},
		{"weight zero: plain CE", 0.7, 10, 90, 0.9, 0, 0.7},
		{"identical architecture, less accurate", 2, 0, 1, 1, 0.4, 1.6},
	} {
		if got := CompoundFitness(c.ce, c.acc, c.ori, c.sim, c.w); math.Abs(got-c.fx) > 1e-12 {
			t.Errorf("%s: fitness %v, want %v", c.name, got, c.fx)
		}
	}
}

func TestArchSimilarity(t *testing.T) {
	for _, c := range []struct {
		name         string
		softN, softR [][]float32
		cand         []float64
		want         float64
	}{
		// normal: cos([1,0],[2,0]) = 1 → 1; reduce: cos([.6,.8],[0,1]) = .8 → .9.
		{"hand case", [][]float32{{1, 0}}, [][]float32{{0.6, 0.8}}, []float64{2, 0, 0, 1}, (1 + 0.9) / 2},
		// Opposite directions give 0, orthogonal 1/2.
		{"opposite", [][]float32{{1, 0}}, [][]float32{{0, 1}}, []float64{-3, 0, 0, -1}, 0},
		{"orthogonal", [][]float32{{1, 0}}, [][]float32{{0, 1}}, []float64{0, 5, 7, 0}, 0.5},
		// Two edges are averaged: normal (1 + 0)/2 ... per cell then halved.
		{"two edges", [][]float32{{1, 0}, {1, 0}}, [][]float32{{1, 0}, {1, 0}},
			[]float64{1, 0, -1, 0, 1, 0, 1, 0}, (0.5 + 1) / 2},
		{"zero row counts as cosine 0", [][]float32{{1, 0}}, [][]float32{{1, 0}}, []float64{0, 0, 1, 0}, (0.5 + 1) / 2},
	} {
		if got := ArchSimilarity(c.softN, c.softR, c.cand); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s: S = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCandidateWeights(t *testing.T) {
	c := []float64{3, 4, 0, 0, 0, 0, -1, 0}
	n, r := CandidateWeights(c, 2, 2)
	// Row [3,4] normalised to [.6,.8], softmax.
	e0 := math.Exp(0.6) / (math.Exp(0.6) + math.Exp(0.8))
	if math.Abs(float64(n[0][0])-e0) > 1e-6 || math.Abs(float64(n[0][0]+n[0][1])-1) > 1e-6 {
		t.Fatalf("row 0: %v, want [%v, %v]", n[0], e0, 1-e0)
	}
	if n[1][0] != 0.5 || n[1][1] != 0.5 || r[0][0] != 0.5 {
		t.Fatalf("zero rows must give uniform weights: %v %v", n[1], r[0])
	}
	e1 := math.Exp(-1) / (math.Exp(-1) + 1)
	if math.Abs(float64(r[1][0])-e1) > 1e-6 {
		t.Fatalf("row [-1, 0]: %v, want %v", r[1], e1)
	}
	// Scale invariance: the row is L2-normalised first.
	n2, _ := CandidateWeights([]float64{30, 40, 0, 0, 0, 0, -1, 0}, 2, 2)
	if n2[0][0] != n[0][0] {
		t.Fatalf("not scale invariant: %v vs %v", n2[0], n[0])
	}
}

func TestExploreSigma(t *testing.T) {
	for _, c := range []struct {
		epoch int
		want  float64
	}{{0, 1}, {1, 0.5}, {15, 1.0 / 16}, {49, 0.02}, {1000, 0.02}} {
		if got := ExploreSigma(c.epoch, 0.02); got != c.want {
			t.Errorf("σ(%d) = %v, want %v", c.epoch, got, c.want)
		}
	}
}

func TestRunCMAGenerations(t *testing.T) {
	// A sphere: each generation evaluates Population candidates; the mean
	// moves towards the optimum; the same seed gives the same samples and
	// another seed others.
	run := func(seed uint64, gens int) (xs [][]float64, best float64) {
		cma := &optimize.CmaEsChol{Population: 10, InitStepSize: 0.5, Src: rand.NewPCG(seed, 0)}
		best = math.Inf(1)
		err := runCMAGenerations(context.Background(), cma, []float64{3, -2, 1}, gens, func(x []float64) float64 {
			xs = append(xs, slices.Clone(x))
			f := x[0]*x[0] + x[1]*x[1] + x[2]*x[2]
			best = math.Min(best, f)
			return f
		})
		if err != nil {
			t.Fatal(err)
		}
		return xs, best
	}
	a, bestA := run(1, 3)
	if len(a) != 30 {
		t.Fatalf("%d evaluations for 3 generations of 10", len(a))
	}
	b, _ := run(1, 3)
	c, _ := run(2, 3)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("same seed, different samples")
	}
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Fatal("different seeds, same samples")
	}
	_, bestLong := run(1, 40)
	if !(bestLong < bestA) || bestLong > 0.5 {
		t.Fatalf("no progress on a sphere: best %v after 3 generations, %v after 40", bestA, bestLong)
	}
	// Cancellation stops after the current generation.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := runCMAGenerations(ctx, &optimize.CmaEsChol{Population: 6, Src: rand.NewPCG(1, 1)}, []float64{1, 1}, 100, func(x []float64) float64 {
		n++
		if n == 3 {
			cancel()
		}
		return x[0]
	})
	if err == nil || n != 3 {
		t.Fatalf("cancelled run: err %v after %d evaluations", err, n)
	}
}

func TestExploreUpdate(t *testing.T) {
	// One exploration: Samples·Population·Generations fitness evaluations,
	// and α moves by exactly StepSize·W* (rows of W* are softmaxes: each
	// row of the update sums to StepSize).
	train, val := algoData(64)
	cfg := EGNASConfig{Supernet: algoSupernetCfg(t), BatchSize: 16, ArchBatch: 16, Samples: 2, Population: 5, Generations: 2, Seed: 3}
	cfg = cfg.withDefaults()
	cfg.Supernet = supernetForData(cfg.Supernet, train)
	net, err := NewSupernet(cfg.Supernet)
	if err != nil {
		t.Fatal(err)
	}
	tr := newSupernetTrainer(net, cfg.Supernet.Space, nil, 5, cfg.Seed, nn.SGDConfig{LR: 0.1})
	edges, pairs := net.AlphaNormal.Shape[0], net.AlphaNormal.Shape[1]
	ex := &explorer{cfg: cfg, t: tr, val: val, prev: nn.New(2 * edges * pairs), edges: edges, pairs: pairs}
	before := namedData(tr.alphas)
	if err := ex.explore(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if ex.last.Evals != 2*5*2 {
		t.Fatalf("%d fitness evaluations, want 20", ex.last.Evals)
	}
	if ex.last.Sigma != 0.25 || ex.last.Chosen < 0 || len(ex.last.Acc) != 2 {
		t.Fatalf("exploration record %+v", ex.last)
	}
	for i, a := range []*nn.Tensor{net.AlphaNormal, net.AlphaReduce} {
		for e := range edges {
			var sum float64
			for p := range pairs {
				d := float64(a.Data[e*pairs+p] - before[i][e*pairs+p])
				if d <= 0 {
					t.Fatalf("α row %d moved by %v: W* is a softmax, every entry grows", e, d)
				}
				sum += d
			}
			if math.Abs(sum-0.1) > 1e-5 {
				t.Fatalf("row %d of the update sums to %v, want 0.1", e, sum)
			}
		}
	}
	_ = train
}
