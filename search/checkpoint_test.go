package search

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// resumeCase runs one search method with a checkpoint folder and an event
// callback.
type resumeCase struct {
	name string
	run  func(ctx context.Context, dir string, resume bool, emit func(Event), train, val data.Dataset) (*Result, error)
}

func resumeCases(t *testing.T) []resumeCase {
	// brsf is in the space so that the feedback draw counters matter.
	sn := algoSupernetCfg(t, rule.FA, rule.BRSF)
	darts := func(unrolled bool, pc int) func(context.Context, string, bool, func(Event), data.Dataset, data.Dataset) (*Result, error) {
		return func(ctx context.Context, dir string, resume bool, emit func(Event), train, val data.Dataset) (*Result, error) {
			s := sn
			s.PartialChannels = pc
			if pc > 1 {
				s.C = 8
			}
			return DARTS(ctx, DARTSConfig{
				Supernet:   s,
				Unrolled:   unrolled,
				Epochs:     3,
				BatchSize:  16,
				LR:         0.05,
				ArchLR:     3e-3,
				Seed:       11,
				Augment:    data.Augment{CropPad: 1},
				RunControl: RunControl{EmitEvery: 1, CheckpointDir: dir, Resume: resume, Emit: emit},
			}, train, val)
		}
	}
	return []resumeCase{
		{"darts", darts(false, 0)},
		{"darts2", darts(true, 0)},
		{"pcdarts", darts(false, 4)},
		{"egnas", func(ctx context.Context, dir string, resume bool, emit func(Event), train, val data.Dataset) (*Result, error) {
			return EGNAS(ctx, EGNASConfig{
				Supernet:    sn,
				Epochs:      3,
				BatchSize:   16,
				ArchBatch:   16,
				LR:          0.05,
				Warmup:      1,
				Samples:     2,
				Population:  4,
				Generations: 2,
				PopMomentum: 0.5,
				Seed:        11,
				RunControl:  RunControl{EmitEvery: 1, CheckpointDir: dir, Resume: resume, Emit: emit},
			}, train, val)
		}},
	}
}

// readTensors reads every tensor of the newest checkpoint in dir.
func readTensors(t *testing.T, dir string) map[string]*nn.Tensor {
	t.Helper()
	p, err := latestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := nn.ReadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestResumeMatchesUninterrupted(t *testing.T) {
	train, val := algoData(64) // 32 + 32 images: 2 steps per epoch
	for _, tc := range resumeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			ref := t.TempDir()
			full, err := tc.run(context.Background(), ref, false, nil, train, val)
			if err != nil {
				t.Fatal(err)
			}
			want := readTensors(t, ref)

			// Interruptions: right after epoch 0's checkpoint (a clean
			// stop), and in the middle of epoch 1 (as a SIGKILL would:
			// that epoch's partial work is lost).
			stops := []struct {
				name string
				stop func(e Event) bool
			}{
				{"after-epoch-0", func(e Event) bool { return e.Kind == EventEpoch && e.Epoch == 0 }},
				{"mid-epoch-1", func(e Event) bool { return e.Kind == EventStep && e.Epoch == 1 && e.Step == 3 }},
			}
			for _, s := range stops {
				dir := t.TempDir()
				ctx, cancel := context.WithCancel(context.Background())
				_, err := tc.run(ctx, dir, false, func(e Event) {
					if s.stop(e) {
						cancel()
					}
				}, train, val)
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("%s: interrupted run returned %v, want context.Canceled", s.name, err)
				}
				var events []Event
				res, err := tc.run(context.Background(), dir, true, func(e Event) { events = append(events, e) }, train, val)
				if err != nil {
					t.Fatalf("%s: resume: %v", s.name, err)
				}
				if res.ResumedAt != 1 {
					t.Fatalf("%s: resumed at epoch %d, want 1", s.name, res.ResumedAt)
				}
				if res.Steps != full.Steps || len(res.History) != len(full.History) {
					t.Fatalf("%s: %d steps and %d epochs, uninterrupted %d and %d", s.name, res.Steps, len(res.History), full.Steps, len(full.History))
				}
				if events[0].Epoch != 1 || events[0].Step != 2 {
					t.Fatalf("%s: first event after resume at epoch %d step %d, want 1 and 2", s.name, events[0].Epoch, events[0].Step)
				}
				if !res.Genotype.Equal(full.Genotype) {
					t.Fatalf("%s: genotype\n%v\nuninterrupted\n%v", s.name, res.Genotype, full.Genotype)
				}
				got := readTensors(t, dir)
				if len(got) != len(want) {
					t.Fatalf("%s: %d tensors, uninterrupted %d", s.name, len(got), len(want))
				}
				for name, w := range want {
					g, ok := got[name]
					if !ok {
						t.Fatalf("%s: tensor %s missing", s.name, name)
					}
					if !slices.Equal(g.Data, w.Data) {
						t.Fatalf("%s: tensor %s differs from the uninterrupted run", s.name, name)
					}
				}
				for i := range full.History {
					if res.History[i].ValAcc != full.History[i].ValAcc || res.History[i].Loss != full.History[i].Loss {
						t.Fatalf("%s: epoch %d history %+v, uninterrupted %+v", s.name, i, res.History[i], full.History[i])
					}
				}
			}
		})
	}
}

func TestCheckpointFolder(t *testing.T) {
	train, val := algoData(64)
	dir := t.TempDir()
	cfg := DARTSConfig{Supernet: algoSupernetCfg(t), Epochs: 2, BatchSize: 16, Seed: 1, RunControl: RunControl{CheckpointDir: dir}}
	if _, err := DARTS(context.Background(), cfg, train, val); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	var base []string
	for _, n := range names {
		base = append(base, filepath.Base(n))
	}
	// The newest pair and the one before it (the fallback).
	want := []string{"LATEST", "ckpt-000001.json", "ckpt-000001.safetensors", "ckpt-000002.json", "ckpt-000002.safetensors"}
	if !slices.Equal(base, want) {
		t.Fatalf("folder holds %v, want %v", base, want)
	}
	if !HasCheckpoint(dir) || HasCheckpoint(t.TempDir()) {
		t.Fatal("HasCheckpoint is wrong")
	}

	// Resuming a finished run does nothing more and returns its result.
	cfg.Resume = true
	res, err := DARTS(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != 2 || res.Steps != 4 {
		t.Fatalf("resumed a finished run at %d with %d steps", res.ResumedAt, res.Steps)
	}

	// Another configuration is refused, naming the field.
	other := cfg
	other.LR = 0.5
	_, err = DARTS(context.Background(), other, train, val)
	if err == nil || !strings.Contains(err.Error(), "lr: saved 0.025, now 0.5") {
		t.Fatalf("resume with another lr: %v", err)
	}
	// Another kind is refused.
	_, err = EGNAS(context.Background(), EGNASConfig{Supernet: algoSupernetCfg(t), BatchSize: 16, RunControl: RunControl{CheckpointDir: dir, Resume: true}}, train, val)
	if err == nil || !strings.Contains(err.Error(), `"darts" run`) {
		t.Fatalf("resume of a darts checkpoint by egnas: %v", err)
	}
	// A corrupted safetensors file is detected, and the resume falls back
	// to the pair before it.
	p, _ := latestCheckpoint(dir)
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 0xff
	os.WriteFile(p, b, 0o644)
	rp, ok, err := ResumePoint(dir, 2)
	if err != nil || !ok || rp.Epoch != 1 || len(rp.Skipped) != 1 || !strings.Contains(rp.Skipped[0].Error(), "field sha256") {
		t.Fatalf("resume point after corrupting the newest pair: %+v, %v, %v", rp, ok, err)
	}
	res, err = DARTS(context.Background(), cfg, train, val)
	if err != nil || res.ResumedAt != 1 || res.Steps != 4 {
		t.Fatalf("resume from the previous pair: %+v, %v", res, err)
	}
	// With both pairs corrupted, the resume fails naming each.
	for _, e := range []int{1, 2} {
		p := filepath.Join(dir, ckptName(e))
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	_, err = DARTS(context.Background(), cfg, train, val)
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "ckpt-000001.json") ||
		!strings.Contains(err.Error(), "ckpt-000002.json") {
		t.Fatalf("resume from corrupted checkpoints: %v", err)
	}
}

func TestDeriveSeed(t *testing.T) {
	seen := map[uint64]string{}
	for _, c := range []struct {
		name  string
		seed  uint64
		parts []uint64
	}{
		{"a", 1, nil}, {"b", 2, nil}, {"c", 1, []uint64{0}}, {"d", 1, []uint64{1}},
		{"e", 1, []uint64{0, 1}}, {"f", 1, []uint64{1, 0}}, {"g", 1, []uint64{streamValLoader, 0}},
		{"h", 1, []uint64{streamGraph, 0}}, {"i", 0, nil}, {"j", 0, []uint64{0}},
	} {
		s := deriveSeed(c.seed, c.parts...)
		if s != deriveSeed(c.seed, c.parts...) {
			t.Fatalf("%s: not deterministic", c.name)
		}
		if o, dup := seen[s]; dup {
			t.Fatalf("%s and %s collide", c.name, o)
		}
		seen[s] = c.name
	}
}
