package lab_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// tinyModel opens a lab on the real engine and trains a tiny network of a
// genotype sampled from the bio space (mixed rules: bp, fa, usf, brsf, …)
// on 32 synthetic images; it returns the lab and the train run.
func tinyModel(t *testing.T) (*lab.Lab, lab.RunInfo) {
	t.Helper()
	if testing.Short() {
		t.Skip("trains a (tiny) network")
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g, err := search.SampleGenotype(search.BioSpace(), 4, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.Start(lab.Spec{Kind: lab.KindTrain, Preset: "mnist-tiny", Dataset: "synthetic", Genotype: &g,
		Epochs: 3, Subset: 256, BatchSize: 16, C: 4, Cells: 2, Seed: 3, LR: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	return l, waitDone(t, l, info)
}

// waitDone waits for a run and fails the test unless it ends done.
func waitDone(t *testing.T, l *lab.Lab, info lab.RunInfo) lab.RunInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := l.WaitRun(ctx, info.ID)
	if err != nil || got.Status != lab.StatusDone {
		t.Fatalf("%s %s: %s %q %v", info.ID, info.Kind, got.Status, got.Error, err)
	}
	return got
}
