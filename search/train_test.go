package search

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn/rule"
)

// trainTestGenotype is a small fixed genotype with mixed rules.
func trainTestGenotype() Genotype {
	cell := func(a, b rule.Rule) CellGenotype {
		return CellGenotype{Edges: []Edge{
			{From: 0, To: 2, Op: OpSep3, Rule: a}, {From: 1, To: 2, Op: OpSkip, Rule: b},
			{From: 1, To: 3, Op: OpSep3, Rule: b}, {From: 2, To: 3, Op: OpMaxPool, Rule: a},
		}, Concat: []int{2, 3}}
	}
	return Genotype{Normal: cell(rule.USF, rule.BRSF), Reduce: cell(rule.FRSF, rule.USF)}
}

func trainTestData(n, hw int) (train, test data.Dataset) {
	cfg := data.SyntheticConfig{N: n, C: 1, H: hw, W: hw, Classes: 4, Seed: 3, Noise: 0.05}
	train = data.Synthetic(cfg)
	cfg.N, cfg.Stream = n/2, 1
	return train, data.Synthetic(cfg)
}

func trainTestNet(t testing.TB, aux bool) *Network {
	t.Helper()
	net, err := NewNetwork(NetworkConfig{C: 4, Layers: 3, Classes: 4, InChannels: 1, Auxiliary: aux, ImageSize: 32,
		Genotype: trainTestGenotype(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return net
}

func TestTrainLearnsEasyTask(t *testing.T) {
	train, test := trainTestData(512, 8)
	var epochs []Event
	var done *Event
	cfg := TrainConfig{
		Epochs:    3,
		BatchSize: 32,
		LR:        0.05,
		DropPath:  0.1,
		Augment:   data.Augment{Cutout: 2},
		Norm:      &data.Norm{Mean: []float32{0.5}, Std: []float32{0.25}},
		Seed:      1,
		RunControl: RunControl{EmitEvery: 8, Emit: func(e Event) {
			switch e.Kind {
			case EventEpoch:
				epochs = append(epochs, e)
			case EventDone:
				done = &e
			}
		}},
	}
	res, err := Train(context.Background(), trainTestNet(t, false), cfg, train, test)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3*16 || len(res.History) != 3 || len(epochs) != 3 || done == nil {
		t.Fatalf("%d steps, %d epochs of history, %d epoch events, done %v", res.Steps, len(res.History), len(epochs), done)
	}
	if res.TestAcc < 0.9 {
		t.Fatalf("test accuracy %.3f on an easy task (history %+v)", res.TestAcc, res.History)
	}
	if epochs[2].TestAcc != res.TestAcc || done.TestAcc != res.TestAcc {
		t.Fatalf("events disagree with the result: %v %v %v", epochs[2].TestAcc, done.TestAcc, res.TestAcc)
	}
	// The cosine schedule: epoch 0 at LR, decreasing.
	if res.History[0].LR != float64(float32(0.05)) || !(res.History[1].LR < res.History[0].LR) || !(res.History[2].LR < res.History[1].LR) {
		t.Fatalf("learning rates %v %v %v", res.History[0].LR, res.History[1].LR, res.History[2].LR)
	}
}

func TestTrainAuxiliaryAndLimits(t *testing.T) {
	// 32×32 images so that the auxiliary head (after cell 2 of 3, an 8×8
	// map) fits; two steps per epoch, 20 test images.
	train, test := trainTestData(128, 32)
	res, err := Train(context.Background(), trainTestNet(t, true), TrainConfig{Epochs: 2, BatchSize: 16, StepsPerEpoch: 2,
		EvalLimit: 20, LabelSmoothing: 0.1, Seed: 2}, train, test)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 4 {
		t.Fatalf("%d steps, want 4", res.Steps)
	}
	if _, err := Train(context.Background(), trainTestNet(t, false), TrainConfig{Schedule: "step"}, train, test); err == nil {
		t.Fatal("unknown schedule accepted")
	}
}

func TestTrainResume(t *testing.T) {
	train, test := trainTestData(128, 8)
	cfg := func(dir string, resume bool, emit func(Event)) TrainConfig {
		return TrainConfig{
			Epochs:     3,
			BatchSize:  32,
			LR:         0.05,
			DropPath:   0.3,
			Augment:    data.Augment{Cutout: 3, CropPad: 1},
			Seed:       9,
			RunControl: RunControl{EmitEvery: 1, CheckpointDir: dir, Resume: resume, Emit: emit},
		}
	}
	ref := t.TempDir()
	full, err := Train(context.Background(), trainTestNet(t, false), cfg(ref, false, nil), train, test)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Train(ctx, trainTestNet(t, false), cfg(dir, false, func(e Event) {
		if e.Kind == EventStep && e.Step == 6 { // in epoch 1
			cancel()
		}
	}), train, test)
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted training returned %v", err)
	}
	res, err := Train(context.Background(), trainTestNet(t, false), cfg(dir, true, nil), train, test)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != 1 || res.Steps != full.Steps || res.TestAcc != full.TestAcc {
		t.Fatalf("resumed at %d: %d steps, acc %v; uninterrupted %d steps, acc %v", res.ResumedAt, res.Steps, res.TestAcc, full.Steps, full.TestAcc)
	}
	a, b := readTensors(t, ref), readTensors(t, dir)
	for name, x := range a {
		if y, ok := b[name]; !ok || !slices.Equal(x.Data, y.Data) {
			t.Fatalf("tensor %s differs after resume", name)
		}
	}
	// Another rule for a layer is another run: refused.
	net := trainTestNet(t, false)
	if err := net.OverrideRule("all", rule.FA); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(context.Background(), net, cfg(dir, true, nil), train, test); err == nil {
		t.Fatal("resume with other rules accepted")
	}
}
