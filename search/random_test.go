package search

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

func TestSampleGenotype(t *testing.T) {
	space := algoSpace(t)
	seen := map[string]bool{}
	for i := range 50 {
		g, err := SampleGenotype(space, 4, rand.New(rand.NewPCG(9, uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []CellGenotype{g.Normal, g.Reduce} {
			if len(c.Edges) != 8 || len(c.Concat) != 4 {
				t.Fatalf("cell %+v", c)
			}
			for n := 0; n < 4; n++ {
				a, b := c.Edges[2*n], c.Edges[2*n+1]
				if a.From >= b.From {
					t.Fatalf("node %d: inputs %d, %d not distinct and increasing", n, a.From, b.From)
				}
				for _, e := range []Edge{a, b} {
					if e.Op == OpNone || space.Index(e.Pair()) < 0 {
						t.Fatalf("edge %+v not a non-none pair of the space", e)
					}
				}
			}
		}
		seen[g.String()] = true
	}
	if len(seen) < 45 {
		t.Fatalf("only %d distinct genotypes in 50 draws", len(seen))
	}
	// Same source, same genotype.
	a, _ := SampleGenotype(space, 4, rand.New(rand.NewPCG(1, 2)))
	b, _ := SampleGenotype(space, 4, rand.New(rand.NewPCG(1, 2)))
	if !a.Equal(b) {
		t.Fatal("not deterministic")
	}
	none, _ := NewSpace("none", []Op{OpNone}, []rule.Rule{rule.FA})
	if _, err := SampleGenotype(none, 4, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Fatal("a space of none only must be refused")
	}
}

// countOp is a fake score: how many edges use op (more is better).
func countOp(g Genotype, op Op) int {
	n := 0
	for _, e := range append(append([]Edge(nil), g.Normal.Edges...), g.Reduce.Edges...) {
		if e.Op == op {
			n++
		}
	}
	return n
}

func TestRandomSearchPicksBest(t *testing.T) {
	train, val := algoData(32)
	score := func(_ context.Context, g Genotype, _ int) (float64, float64, error) {
		n := countOp(g, OpSep3)
		return 1 / float64(1+n), float64(n) / 16, nil
	}
	cfg := RandomConfig{Space: algoSpace(t), Samples: 12, Seed: 4, Evaluate: score}
	res, err := RandomSearch(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != 12 {
		t.Fatalf("%d samples", len(res.Samples))
	}
	bestN := -1
	for _, s := range res.Samples {
		bestN = max(bestN, countOp(s.Genotype, OpSep3))
	}
	if countOp(res.Genotype, OpSep3) != bestN || res.ValAcc != float64(bestN)/16 {
		t.Fatalf("picked a genotype with %d sep convs (acc %v), the best has %d", countOp(res.Genotype, OpSep3), res.ValAcc, bestN)
	}

	// Interrupted after 5 samples and resumed: the same samples, the same winner.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	c2 := cfg
	c2.CheckpointDir = dir
	c2.Emit = func(e Event) {
		if e.Kind == EventEpoch && e.Epoch == 4 {
			cancel()
		}
	}
	if _, err := RandomSearch(ctx, c2, train, val); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	c2.Emit, c2.Resume = nil, true
	calls := 0
	c2.Evaluate = func(ctx context.Context, g Genotype, i int) (float64, float64, error) {
		calls++
		return score(ctx, g, i)
	}
	res2, err := RandomSearch(context.Background(), c2, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 7 || res2.ResumedAt != 5 || !res2.Genotype.Equal(res.Genotype) || len(res2.Samples) != 12 {
		t.Fatalf("resume: %d evaluations, resumed at %d, same winner %v, %d samples", calls, res2.ResumedAt, res2.Genotype.Equal(res.Genotype), len(res2.Samples))
	}
	for i := range res.Samples {
		if !res.Samples[i].Genotype.Equal(res2.Samples[i].Genotype) {
			t.Fatalf("sample %d differs after resume", i)
		}
	}
}

func TestBestSample(t *testing.T) {
	for _, c := range []struct {
		name string
		s    []RandomSample
		want int
	}{
		{"empty", nil, -1},
		{"highest accuracy", []RandomSample{{ValAcc: 0.5}, {ValAcc: 0.9}, {ValAcc: 0.7}}, 1},
		{"tie: lower loss", []RandomSample{{ValAcc: 0.9, ValLoss: 0.5}, {ValAcc: 0.9, ValLoss: 0.3}}, 1},
		{"full tie: earlier", []RandomSample{{ValAcc: 0.9, ValLoss: 0.3}, {ValAcc: 0.9, ValLoss: 0.3}}, 0},
	} {
		if got := BestSample(c.s); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
