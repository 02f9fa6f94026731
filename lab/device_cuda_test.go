//go:build cuda

package lab_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/cuda"
	"github.com/bionaslab/bionas/search"
)

// These tests run the lab's engine on the CUDA device (with -tags
// cuda,cudaemu: the kernel source on the CPU emulator) and prove that its
// jobs and the attack stepper compute there: the device counts every copy
// between host and device, and the numbers equal the CPU engine's. Sizes
// are tiny (C=2, two layers, 16 synthetic 8×8 images, one epoch): the
// emulator is slow.

// tinyGenotype uses only rules with device kernels.
const tinyGenotype = "Genotype(normal=[('sep_conv_3x3:fa', 0), ('skip_connect:usf', 1), ('dil_conv_3x3:frsf', 0), ('avg_pool_3x3:brsf', 2)], normal_concat=[2, 3], " +
	"reduce=[('max_pool_3x3:fa', 0), ('conv_3x3:bp', 1), ('skip_connect:dfa', 2), ('sep_conv_3x3:fa', 1)], reduce_concat=[2, 3])"

// openDevice opens GPU 0's resident engine, skipping without a GPU.
func openDevice(t *testing.T) *cuda.Resident {
	t.Helper()
	d, err := cuda.Open(0)
	if errors.Is(err, cuda.ErrNoDevice) {
		t.Skipf("no CUDA device: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d.Resident()
}

func labGenotype(t *testing.T, s string) *lab.Genotype {
	t.Helper()
	g, err := search.ParseGenotype(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(g)
	var out lab.Genotype
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// tinyData is every dataset as 8×8 synthetic images: 32 to train on
// (specs take a subset), 16 to test on.
func tinyData(_ string, train bool) (data.Dataset, error) {
	if train {
		return data.Synthetic(data.SyntheticConfig{N: 32, H: 8, W: 8, Seed: 5}), nil
	}
	return data.Synthetic(data.SyntheticConfig{N: 16, H: 8, W: 8, Seed: 5, Stream: 1}), nil
}

// openEngineLab opens a lab on the engine with opts and tinyData (the lab
// closes when the test ends).
func openEngineLab(t *testing.T, opts lab.EngineOptions) *lab.Lab {
	t.Helper()
	opts.Workers, opts.Data = 1, tinyData
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(opts), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// runTo returns a function that waits for a started run to end in status
// want: runTo(t, l, want)(l.Start(spec)).
func runTo(t *testing.T, l *lab.Lab, want lab.Status) func(lab.RunInfo, error) lab.RunInfo {
	return func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		got, err := l.WaitRun(ctx, info.ID)
		if err != nil || got.Status != want {
			t.Fatalf("%s %s: %s %q (%v), want %s", info.ID, info.Kind, got.Status, got.Error, err, want)
		}
		return got
	}
}

// trainResult reads a train run's result.json.
func trainResult(t *testing.T, l *lab.Lab, id string) search.TrainResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.RunDir(id), "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r search.TrainResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-4*max(1, math.Abs(b)) }

func maxDiff[T float32 | float64](a, b []T) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestEngineOnDevice runs a train job, the attack stepper, an attack run
// and a search on the device, and a train job whose network has a rule
// without device kernels.
func TestEngineOnDevice(t *testing.T) {
	start := time.Now()
	d := openDevice(t)
	gpu := openEngineLab(t, lab.EngineOptions{Device: d})
	cpu := openEngineLab(t, lab.EngineOptions{})
	if gpu.Device() != "cuda:0" || cpu.Device() != "cpu" {
		t.Fatalf("lab devices %q and %q, want cuda:0 and cpu", gpu.Device(), cpu.Device())
	}
	spec := lab.Spec{Kind: lab.KindTrain, Dataset: "synthetic", Genotype: labGenotype(t, tinyGenotype),
		Epochs: 1, Subset: 16, BatchSize: 8, C: 2, Cells: 2, Seed: 3}

	// Train: the network lives on the device; its losses equal the CPU's.
	up0, down0 := d.Copies()
	tr := runTo(t, gpu, lab.StatusDone)(gpu.Start(spec))
	up, down := d.Copies()
	t.Logf("train on %s: %d uploads, %d downloads, %v", tr.Spec.Device, up-up0, down-down0, time.Since(start))
	if tr.Spec.Device != "cuda:0" {
		t.Errorf("train run records device %q, want cuda:0", tr.Spec.Device)
	}
	// At least the parameters and the two training batches go up, and the
	// two steps' losses come down.
	if up-up0 < 4 || down-down0 < 2 {
		t.Errorf("train made %d uploads and %d downloads: it did not compute on the device", up-up0, down-down0)
	}
	ref := runTo(t, cpu, lab.StatusDone)(cpu.Start(spec))
	if ref.Spec.Device != "cpu" {
		t.Errorf("CPU train run records device %q", ref.Spec.Device)
	}
	g, c := trainResult(t, gpu, tr.ID), trainResult(t, cpu, ref.ID)
	if len(g.History) != 1 || len(c.History) != 1 {
		t.Fatalf("histories %d and %d epochs", len(g.History), len(c.History))
	}
	if !near(g.History[0].Loss, c.History[0].Loss) || !near(g.TestLoss, c.TestLoss) || !near(g.TestAcc, c.TestAcc) {
		t.Errorf("device vs CPU: train loss %.6f / %.6f, test loss %.6f / %.6f, test acc %.4f / %.4f",
			g.History[0].Loss, c.History[0].Loss, g.TestLoss, c.TestLoss, g.TestAcc, c.TestAcc)
	}

	// The attack stepper on the device-trained model: its forward and
	// gradient passes run on the device, and give what the CPU engine's
	// stepper gives on the same model folder.
	ctx := context.Background()
	as := lab.AttackSpec{Model: tr.ID, Attack: "pgd", Mode: attacks.True, Eps: 0.1, Steps: 2, Image: 1, Seed: 1}
	st, err := gpu.NewStepper(ctx, as)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref2, err := lab.Engine(lab.EngineOptions{Data: tinyData}).Stepper(ctx, tr, gpu.RunDir(tr.ID), as)
	if err != nil {
		t.Fatal(err)
	}
	defer ref2.Close()
	up0, down0 = d.Copies()
	s1, err := st.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up, down = d.Copies()
	t.Logf("attack step: %d uploads, %d downloads", up-up0, down-down0)
	if up-up0 < 1 || down-down0 < 1 {
		t.Errorf("an attack step made %d uploads and %d downloads: it did not compute on the device", up-up0, down-down0)
	}
	r1, err := ref2.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Step != 1 || maxDiff(s1.Clean, r1.Clean) > 1e-4 || maxDiff(s1.Probs, r1.Probs) > 1e-4 || maxDiff(s1.AdvIm.Pix, r1.AdvIm.Pix) > 1e-4 {
		t.Errorf("attack step on the device vs the CPU: clean %.2g, probs %.2g, adversarial image %.2g apart",
			maxDiff(s1.Clean, r1.Clean), maxDiff(s1.Probs, r1.Probs), maxDiff(s1.AdvIm.Pix, r1.AdvIm.Pix))
	}

	// A robustness report on the device.
	up0, _ = d.Copies()
	rep := runTo(t, gpu, lab.StatusDone)(gpu.Attack(lab.AttackSpec{Model: tr.ID, Attack: "fgsm", Mode: attacks.Own, Eps: 0.1, N: 4}))
	up, _ = d.Copies()
	if rep.Spec.Device != "cuda:0" || up-up0 < 2 {
		t.Errorf("attack run on %q made %d uploads", rep.Spec.Device, up-up0)
	}

	// A network with a rule that has no device kernels fails its run with
	// the op's message; the lab (and this process) go on.
	hs := spec
	hs.Genotype = labGenotype(t, strings.Replace(tinyGenotype, "conv_3x3:bp", "conv_3x3:hebb", 1))
	hebb := runTo(t, gpu, lab.StatusFailed)(gpu.Start(hs))
	if !strings.Contains(hebb.Error, "has no kernels for cuda:0") || strings.Contains(hebb.Error, "panicked") {
		t.Errorf("hebb on the device: error %q, want the op's no-kernels message", hebb.Error)
	}

	// A search keeps its supernet on the device, and ends on the CPU's
	// architecture.
	ss := lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bp",
		Epochs: 1, Subset: 16, BatchSize: 8, C: 2, Cells: 2, Seed: 3}
	up0, down0 = d.Copies()
	srch := runTo(t, gpu, lab.StatusDone)(gpu.Start(ss))
	up, down = d.Copies()
	t.Logf("search: %d uploads, %d downloads; all in %v", up-up0, down-down0, time.Since(start))
	if srch.Spec.Device != "cuda:0" || up-up0 < 4 || down-down0 < 2 {
		t.Errorf("search on %q made %d uploads and %d downloads: it did not compute on the device", srch.Spec.Device, up-up0, down-down0)
	}
	cs := runTo(t, cpu, lab.StatusDone)(cpu.Start(ss))
	ga, _ := gpu.Snapshot(srch.ID)
	ca, _ := cpu.Snapshot(cs.ID)
	if ga.Alphas == nil || ca.Alphas == nil || len(ga.Alphas.Normal) != len(ca.Alphas.Normal) {
		t.Fatalf("search alphas: device %v, CPU %v", ga.Alphas != nil, ca.Alphas != nil)
	}
	var diff float64
	for i := range ga.Alphas.Normal {
		diff = max(diff, maxDiff(ga.Alphas.Normal[i], ca.Alphas.Normal[i]), maxDiff(ga.Alphas.Reduce[i], ca.Alphas.Reduce[i]))
	}
	if diff > 1e-4 || ga.GenotypeText != ca.GenotypeText {
		t.Errorf("search on the device vs the CPU: alphas %.2g apart, genotypes\n%s\n%s", diff, ga.GenotypeText, ca.GenotypeText)
	}
}
