package search

import (
	"context"
	"math"
	"reflect"
	"testing"
)

// TestDARTSAlphasWithinEpochs checks that a DARTS search reports α while
// they move, from the first epoch on (every AlphasEvery steps, as the
// steps left them), and none during the arch warm-up, when they do not move.
func TestDARTSAlphasWithinEpochs(t *testing.T) {
	train, val := algoData(128) // 64 training images: 4 steps of 16 per epoch
	type got struct{ epoch, step int }
	var alphas []got
	var last *AlphaSnapshot
	cfg := DARTSConfig{
		Supernet: algoSupernetCfg(t), Epochs: 3, BatchSize: 16, LR: 0.1, ArchLR: 3e-3, ArchWarmup: 1, Seed: 5,
		RunControl: RunControl{EmitEvery: 2, Emit: func(e Event) {
			if e.Kind == EventAlphas {
				alphas = append(alphas, got{e.Epoch, e.Step})
				if e.Alphas == nil || len(e.Alphas.Normal) == 0 || e.TotalSteps != 12 {
					t.Errorf("alphas event %+v", e)
				}
				last = e.Alphas
			}
		}},
	}
	res, err := DARTS(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 0 is the warm-up (α fixed): its start only. Epochs 1 and 2:
	// their start, then every 2 steps. Then the end.
	want := []got{{0, 0}, {1, 4}, {1, 6}, {1, 8}, {2, 8}, {2, 10}, {2, 12}, {3, 12}}
	if !reflect.DeepEqual(alphas, want) {
		t.Fatalf("alphas events (epoch, step) %v, want %v", alphas, want)
	}
	if !reflect.DeepEqual(last, res.Alphas) {
		t.Fatal("the last alphas event is not the result's alphas")
	}
}

// TestDARTSAlphasEventsChangeNothing runs the same search three times:
// without a callback, with α reported only at epoch starts, and with α
// reported after every step. The results (α, genotype, history) must be
// bit for bit the same: reading α for a viewer must not change the search.
func TestDARTSAlphasEventsChangeNothing(t *testing.T) {
	train, val := algoData(128)
	run := func(emit func(Event), every int) *Result {
		t.Helper()
		cfg := DARTSConfig{Supernet: algoSupernetCfg(t), Epochs: 2, BatchSize: 16, LR: 0.1, ArchLR: 3e-3, Seed: 7,
			RunControl: RunControl{EmitEvery: 1, AlphasEvery: every, Emit: emit}}
		res, err := DARTS(context.Background(), cfg, train, val)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var n int
	count := func(e Event) {
		if e.Kind == EventAlphas {
			n++
		}
	}
	quiet := run(nil, 0)
	epochs := run(count, -1)
	if n != 3 {
		t.Fatalf("AlphasEvery −1: %d alphas events, want 3 (two epoch starts and the end)", n)
	}
	n = 0
	every := run(count, 1)
	if n != 3+8 {
		t.Fatalf("AlphasEvery 1: %d alphas events, want 11", n)
	}
	for name, r := range map[string]*Result{"epoch starts only": epochs, "every step": every} {
		if !sameBits(quiet.Alphas.RawNormal, r.Alphas.RawNormal) || !sameBits(quiet.Alphas.RawReduce, r.Alphas.RawReduce) {
			t.Errorf("%s: final α differ from a search without events", name)
		}
		if !reflect.DeepEqual(quiet.Genotype, r.Genotype) {
			t.Errorf("%s: genotype %v, want %v", name, r.Genotype, quiet.Genotype)
		}
		for i := range quiet.History {
			a, b := quiet.History[i], r.History[i]
			if a.Loss != b.Loss || a.ValLoss != b.ValLoss || a.ValAcc != b.ValAcc {
				t.Errorf("%s: epoch %d: loss %v val %v/%v, want %v %v/%v", name, i, b.Loss, b.ValLoss, b.ValAcc, a.Loss, a.ValLoss, a.ValAcc)
			}
		}
	}
}

// sameBits reports whether two matrices hold the same float32 bits.
func sameBits(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
				return false
			}
		}
	}
	return true
}

func TestHooksAlphasEvery(t *testing.T) {
	// A caller can ask for fewer alphas events than step events (or none
	// within epochs) without touching the preset.
	p, err := PresetByName("quick")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ hook, want int }{{0, 1}, {5, 5}, {-1, 0}} {
		pl, err := NewPlan(MethodDARTS, p, Overrides{}, Hooks{AlphasEvery: c.hook, Emit: func(Event) {}})
		if err != nil {
			t.Fatal(err)
		}
		if got := pl.DARTS.RunControl.withDefaults().AlphasEvery; got != c.want {
			t.Errorf("Hooks.AlphasEvery %d: %d, want %d", c.hook, got, c.want)
		}
	}
}
