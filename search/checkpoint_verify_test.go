package search

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
	"github.com/bionaslab/bionas/nn"
)

// folderFiles returns the names and contents of the files under dir.
func folderFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

// editCheckpointMeta rewrites the sidecar of the checkpoint at path with
// meta.field = value; keepDigest false also removes the digest (what an
// old sidecar, from before the digest, looks like).
func editCheckpointMeta(t testing.TB, path, field string, value any, keepDigest bool) {
	t.Helper()
	side := nn.CheckpointSidecarPath(path)
	b, err := os.ReadFile(side)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["meta"].(map[string]any)[field] = value
	if !keepDigest {
		delete(doc, "digest")
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(side, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResumeRefusesBadState: the crafted sidecars of issue 15 (an epoch
// before the first or after the last, a negative step, a history that
// disagrees) are refused before anything is built, with the sidecar's path
// and the field in the error, and the checkpoint folder is left as it was.
// Sidecars with a digest are caught by it; old ones without by the bounds.
func TestResumeRefusesBadState(t *testing.T) {
	train, val := algoData(64)
	base := t.TempDir()
	cfg := DARTSConfig{Supernet: algoSupernetCfg(t), Epochs: 2, BatchSize: 16, Seed: 1, RunControl: RunControl{CheckpointDir: base}}
	if _, err := DARTS(context.Background(), cfg, train, val); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		value any
		want  string // with the digest removed
	}{
		{"epoch", -1, "field meta.epoch is -1, want 0..2"},
		{"epoch", -5, "field meta.epoch is -5, want 0..2"},
		{"epoch", 99, "field meta.epoch is 99, want 0..2"},
		{"step", -3, "field meta.step is -3"},
		{"step", 1, "field meta.step is 1, fewer than the 2 epochs"},
		{"history", []any{}, "field meta.history has 0 records, want one per epoch done (2)"},
		{"kind", "mystery", `field meta.kind is "mystery"`},
	}
	for _, tc := range cases {
		for _, keepDigest := range []bool{true, false} {
			name := tc.field + "=" + strings.Trim(string(mustJSON(tc.value)), `"`)
			if !keepDigest {
				name += " old sidecar"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				for name, b := range folderFiles(t, base) {
					os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(b), 0o644)
				}
				// Only the newest pair: there is nothing to fall back to.
				os.Remove(filepath.Join(dir, ckptName(1)))
				os.Remove(filepath.Join(dir, nn.CheckpointSidecarPath(ckptName(1))))
				p := filepath.Join(dir, ckptName(2))
				editCheckpointMeta(t, p, tc.field, tc.value, keepDigest)
				before := folderFiles(t, dir)
				want := tc.want
				if keepDigest {
					want = "field digest"
				}
				_, _, err := ResumePoint(dir, 2)
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "ckpt-000002.json") {
					t.Fatalf("ResumePoint: %v, want an error naming ckpt-000002.json and %q", err, want)
				}
				c := cfg
				c.CheckpointDir, c.Resume = dir, true
				var events int
				c.Emit = func(Event) { events++ }
				allocguard.Check(t, "resume", 64<<20, func() { _, err = DARTS(context.Background(), c, train, val) })
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("DARTS resume: %v, want %q", err, want)
				}
				if events != 0 {
					t.Fatalf("a refused resume emitted %d events", events)
				}
				after := folderFiles(t, dir)
				if len(after) != len(before) {
					t.Fatalf("folder changed: %d files, was %d", len(after), len(before))
				}
				for k, v := range before {
					if after[k] != v {
						t.Fatalf("%s changed", k)
					}
				}
			})
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestCheckpointKeepsPrevious: each save keeps the pair before it, which a
// damaged newest pair falls back to.
func TestResumeFallsBackToPrevious(t *testing.T) {
	train, val := algoData(64)
	dir := t.TempDir()
	cfg := DARTSConfig{Supernet: algoSupernetCfg(t), Epochs: 3, BatchSize: 16, Seed: 1, RunControl: RunControl{CheckpointDir: dir}}
	ref, err := DARTS(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkpointEpochs(dir); len(got) != 2 || got[0] != 3 || got[1] != 2 {
		t.Fatalf("pairs kept: %v, want [3 2]", got)
	}
	editCheckpointMeta(t, filepath.Join(dir, ckptName(3)), "epoch", 99, true)
	rp, ok, err := ResumePoint(dir, 3)
	if err != nil || !ok || rp.Epoch != 2 || len(rp.Skipped) != 1 || !strings.Contains(rp.Skipped[0].Error(), "field digest") {
		t.Fatalf("ResumePoint: %+v %v %v", rp, ok, err)
	}
	cfg.Resume = true
	res, err := DARTS(context.Background(), cfg, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != 2 || res.Steps != ref.Steps || res.ValAcc != ref.ValAcc {
		t.Fatalf("fallback resume: at %d, %d steps, val acc %v; uninterrupted %d steps, %v", res.ResumedAt, res.Steps, res.ValAcc, ref.Steps, ref.ValAcc)
	}
}

// TestLatestPointer: LATEST must name a checkpoint file of this folder.
func TestLatestPointer(t *testing.T) {
	cases := []struct {
		content string
		ok      bool
	}{
		{"ckpt-000003.safetensors\n", true},
		{"../../etc/passwd", false},
		{"ckpt-3.safetensors", false},
		{"", false},
		{strings.Repeat("x", 1000), false},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, checkpointLatest), []byte(tc.content), 0o644)
		p, err := latestCheckpoint(dir)
		if (err == nil) != tc.ok {
			t.Errorf("LATEST %q: %q, %v", clipText(tc.content), p, err)
		}
		if err != nil && !strings.Contains(err.Error(), "LATEST") {
			t.Errorf("LATEST %q: error %v does not name the file", clipText(tc.content), err)
		}
	}
}

func FuzzCheckpointState(f *testing.F) {
	train, val := algoData(64)
	dir := f.TempDir()
	if _, err := DARTS(context.Background(), DARTSConfig{Supernet: algoSupernetCfg(f), Epochs: 1, BatchSize: 16, Seed: 1, RunControl: RunControl{CheckpointDir: dir}}, train, val); err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(dir, ckptName(1))
	side, _ := os.ReadFile(nn.CheckpointSidecarPath(p))
	f.Add(side, []byte(ckptName(1)+"\n"))
	f.Add(bytes.Replace(side, []byte(`"epoch": 1`), []byte(`"epoch": -5`), 1), []byte(ckptName(1)))
	f.Add(side, []byte("ckpt-000099.safetensors"))
	sidePath := nn.CheckpointSidecarPath(p)
	f.Fuzz(func(t *testing.T, sb, latest []byte) {
		if os.WriteFile(sidePath, sb, 0o644) != nil || os.WriteFile(filepath.Join(dir, checkpointLatest), latest, 0o644) != nil {
			t.Fatal("write")
		}
		var rp Resume
		var ok bool
		var err error
		allocguard.Check(t, "ResumePoint", 1<<20+16*uint64(len(sb)+len(latest)), func() { rp, ok, err = ResumePoint(dir, 4) })
		if err == nil && ok && (rp.Epoch < 0 || rp.Epoch > 4 || rp.Step < rp.Epoch) {
			t.Fatalf("accepted a state out of bounds: %+v", rp)
		}
	})
}
