//go:build cuda

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/cuda"
	"github.com/bionaslab/bionas/search"
)

// useOrSkip opens --device cuda for cmd as the command does, skipping
// without a GPU, and returns the device's copy counter.
func useOrSkip(t *testing.T, cmd string) (*deviceSpec, *cuda.Resident, string) {
	t.Helper()
	dev := &deviceSpec{CUDA: true}
	var stderr bytes.Buffer
	name, release, err := dev.use(cmd, &stderr)
	if errors.Is(err, cuda.ErrNoDevice) {
		t.Skipf("no CUDA device: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	if name != "cuda:0" {
		t.Fatalf("use: %q", name)
	}
	r, ok := dev.resident.(*cuda.Resident)
	if !ok {
		t.Fatalf("the opened device is a %T", dev.resident)
	}
	return dev, r, stderr.String()
}

// bionas tui and serve with --device cuda hand the device to the lab's
// engine: the lab says it computes there, and the attack stepper of the TUI
// drives its model on it (the device counts the copies). Its training job
// computes there too (lab's TestEngineOnDevice); here a model trained on
// the CPU is attacked, which keeps the emulator's share small.
func TestLabCommandsComputeOnDevice(t *testing.T) {
	for _, cmd := range []string{"tui", "serve"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			// A model to attack, trained on the CPU in the same lab folder.
			cpu := &deviceSpec{}
			lf := labFlags{dir: dir, jobs: 1}
			l, err := lf.open(cpu)
			if err != nil {
				t.Fatal(err)
			}
			geno, err := search.SampleGenotype(search.BioSpace(), 2, rand.New(rand.NewPCG(3, 3)))
			if err != nil {
				t.Fatal(err)
			}
			var g lab.Genotype
			if err := jsonRoundTrip(geno, &g); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			info, err := l.Start(lab.Spec{Kind: lab.KindTrain, Dataset: "synthetic", Genotype: &g, Epochs: 1, Subset: 16, BatchSize: 8, C: 2, Cells: 2, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if info, err = l.WaitRun(ctx, info.ID); err != nil || info.Status != lab.StatusDone || info.Spec.Device != "cpu" {
				t.Fatalf("train on the CPU: %s on %q %q %v", info.Status, info.Spec.Device, info.Error, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			dev, r, msg := useOrSkip(t, cmd)
			if !strings.Contains(msg, "compute on cuda:0") || strings.Contains(msg, "does not route") {
				t.Errorf("bionas %s --device cuda says %q", cmd, msg)
			}
			l, err = lf.open(dev)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Device() != "cuda:0" {
				t.Fatalf("lab of bionas %s --device cuda computes on %q", cmd, l.Device())
			}
			st, err := l.NewStepper(ctx, lab.AttackSpec{Model: info.ID, Attack: "fgsm", Mode: attacks.True, Eps: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			up0, down0 := r.Copies()
			if _, err := st.Step(ctx); err != nil {
				t.Fatal(err)
			}
			up, down := r.Copies()
			if up-up0 < 1 || down-down0 < 1 {
				t.Errorf("an attack step made %d uploads and %d downloads: it did not run on the device", up-up0, down-down0)
			}
		})
	}
}

// bionas attack --device cuda drives its models on the device (the device
// counts the copies of a forward pass) and reports what the CPU reports.
func TestAttackComputesOnDevice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := runAttack(ctx, []string{"prepare", "--data", "synthetic", "--rules", "fa", "--epochs", "1", "--width", "2", "--batch", "50", "--out", dir}, &out, &errb); err != nil {
		t.Fatalf("prepare: %v\n%s", err, errb.String())
	}
	model := filepath.Join(dir, "smallcnn-fa.safetensors")
	args := []string{"--model", model, "--data", "synthetic", "--n", "4", "--batch", "4", "--attack", "fgsm", "--grad", "true", "--json"}
	report := func(device string) (string, string) {
		var out, errb bytes.Buffer
		if err := runAttack(ctx, append([]string{"--device", device}, args...), &out, &errb); err != nil {
			t.Fatalf("attack --device %s: %v\n%s", device, err, errb.String())
		}
		return out.String(), errb.String()
	}
	onGPU, msg := report("cuda")
	onCPU, _ := report("cpu")
	if !strings.Contains(msg, "live on cuda:0") {
		t.Errorf("attack --device cuda says %q", msg)
	}
	type cell struct {
		Clean  float64 `json:"clean_accuracy"`
		Robust float64 `json:"robust_accuracy"`
		L2     float64 `json:"mean_l2"`
	}
	var g, c cell
	if json.Unmarshal([]byte(strings.SplitN(onGPU, "\n", 2)[0]), &g) != nil || json.Unmarshal([]byte(strings.SplitN(onCPU, "\n", 2)[0]), &c) != nil ||
		g.Clean != c.Clean || g.Robust != c.Robust || math.Abs(g.L2-c.L2) > 1e-4*max(1, c.L2) {
		t.Errorf("attack report on the device:\n%s\non the CPU:\n%s", onGPU, onCPU)
	}

	dev, r, _ := useOrSkip(t, "attack")
	loaded, err := attackRegistry().Load(model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dev.onDevice(loaded.Model)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tinyBatch(2, 1, 28)
	up0, down0 := r.Copies()
	m.Forward(nil, x)
	// Up go the images (and the normalisation's constants), down the logits.
	if up, down := r.Copies(); up-up0 < 1 || down-down0 != 1 {
		t.Errorf("a forward pass of the attacked model made %d uploads and %d downloads, want the images up and the logits down", up-up0, down-down0)
	}
}

// jsonRoundTrip converts v into out through JSON.
func jsonRoundTrip(v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// tinyBatch is n seeded c×size×size images in [0, 1] and their labels.
func tinyBatch(n, c, size int) (*nn.Tensor, []int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := nn.New(n, c, size, size)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	return x, y
}
