package nn

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
	"github.com/bionaslab/bionas/nn/rule"
)

// editSidecar rewrites the JSON sidecar of path with edit applied to its
// decoded object.
func editSidecar(t *testing.T, path string, edit func(doc map[string]any)) {
	t.Helper()
	side := CheckpointSidecarPath(path)
	b, err := os.ReadFile(side)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(side, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointDigestCoversMeta(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(doc map[string]any)
		wantErr  string // "" = loads
		verified bool
	}{
		{"as saved", nil, "", true},
		// editSidecar re-encodes: keys sorted, another indentation.
		{"reformatted", func(map[string]any) {}, "", true},
		{"meta.epoch edited", func(d map[string]any) { d["meta"].(map[string]any)["epoch"] = -1 }, "field digest", false},
		{"meta removed", func(d map[string]any) { delete(d, "meta") }, "field digest", false},
		{"digest edited", func(d map[string]any) { d["digest"] = strings.Repeat("0", 64) }, "field digest is 0000", false},
		{"sha256 edited", func(d map[string]any) { d["sha256"] = strings.Repeat("0", 64) }, "field sha256 is 0000", false},
		// A sidecar from before the digest: it loads, and says its meta
		// was not verified, so callers apply their own bounds.
		{"old sidecar without digest", func(d map[string]any) { delete(d, "digest") }, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.safetensors")
			if err := SaveCheckpoint(path, ckptModel(1), ckptMeta{Epoch: 3, Acc: 0.5}); err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				editSidecar(t, path, tc.edit)
			}
			info, err := VerifyCheckpoint(path)
			dst := ckptModel(2)
			before := slices.Clone(dst[0].T.Data)
			var meta ckptMeta
			lerr := LoadCheckpoint(path, dst, &meta)
			if tc.wantErr == "" {
				if err != nil || lerr != nil {
					t.Fatalf("verify: %v, load: %v", err, lerr)
				}
				if info.MetaVerified != tc.verified || meta.Epoch != 3 {
					t.Fatalf("MetaVerified %v, want %v; meta %+v", info.MetaVerified, tc.verified, meta)
				}
				return
			}
			for _, e := range []error{err, lerr} {
				if !errors.Is(e, ErrCheckpointDigest) || !strings.Contains(e.Error(), tc.wantErr) || !strings.Contains(e.Error(), "c.json") {
					t.Fatalf("error %v, want ErrCheckpointDigest naming c.json and %q", e, tc.wantErr)
				}
			}
			if !slices.Equal(dst[0].T.Data, before) {
				t.Fatal("a refused checkpoint changed the tensors")
			}
		})
	}
}

// TestLoadModelRefusesEditedSidecar: a model whose sidecar was edited is
// refused before any layer's rule changes.
func TestLoadModelRefusesEditedSidecar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	mk := func(seed uint64) *Sequential {
		m, err := NewSmallCNN(SmallCNNConfig{C: 1, H: 8, W: 8, Classes: 3, Width: 2, Rule: rule.FA}, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := SaveModel(path, mk(1), map[string]any{"c": 4}); err != nil {
		t.Fatal(err)
	}
	editSidecar(t, path, func(d map[string]any) { d["meta"].(map[string]any)["extra"] = map[string]any{"c": 100000000} })
	m := mk(2)
	for _, l := range m.RuleLayers() {
		l.SetRule(rule.USF)
	}
	err := LoadModel(path, m, nil)
	if !errors.Is(err, ErrCheckpointDigest) || !strings.Contains(err.Error(), "model.json") {
		t.Fatalf("edited sidecar: %v", err)
	}
	for _, l := range m.RuleLayers() {
		if l.Rule() != rule.USF {
			t.Fatalf("layer %s: rule %s restored from a refused sidecar", l.LayerName(), l.Rule())
		}
	}
}

// fuzzCheckpointSeeds returns the two files of a real checkpoint.
func fuzzCheckpointSeeds(f *testing.F) (tensors, sidecar []byte) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.safetensors")
	if err := SaveCheckpoint(path, ckptModel(1), ckptMeta{Epoch: 3}); err != nil {
		f.Fatal(err)
	}
	tensors, _ = os.ReadFile(path)
	sidecar, _ = os.ReadFile(CheckpointSidecarPath(path))
	return tensors, sidecar
}

// fuzzAllocLimit is what a reader may allocate for n bytes of input: a
// fixed cost plus a few times n (never the sizes the bytes claim).
func fuzzAllocLimit(n int) uint64 { return 1<<20 + 16*uint64(n) }

func FuzzSafetensors(f *testing.F) {
	tensors, _ := fuzzCheckpointSeeds(f)
	f.Add(tensors)
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[1073741824,4],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ts map[string]*Tensor
		var err error
		allocguard.Check(t, "decodeSafetensors", fuzzAllocLimit(len(b)), func() { ts, _, err = decodeSafetensors("fuzz.safetensors", b) })
		if err != nil {
			return
		}
		// What was read writes back and reads again the same.
		var named []Named
		for n, x := range ts {
			named = append(named, Named{n, x})
		}
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, named, nil); err != nil {
			t.Fatalf("accepted tensors do not write back: %v", err)
		}
		again, _, err := decodeSafetensors("again", buf.Bytes())
		if err != nil || len(again) != len(ts) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzCheckpointSidecar(f *testing.F) {
	tensors, sidecar := fuzzCheckpointSeeds(f)
	f.Add(tensors, sidecar)
	f.Add(tensors, bytes.Replace(sidecar, []byte(`"epoch": 3`), []byte(`"epoch": -5`), 1))
	f.Add(tensors, []byte(`{"format":"bionas-checkpoint/1","tensors":{}}`))
	dir := f.TempDir()
	path := filepath.Join(dir, "c.safetensors")
	f.Fuzz(func(t *testing.T, tb, sb []byte) {
		if os.WriteFile(path, tb, 0o644) != nil || os.WriteFile(CheckpointSidecarPath(path), sb, 0o644) != nil {
			t.Fatal("write")
		}
		var info CheckpointInfo
		var err error
		allocguard.Check(t, "VerifyCheckpoint", fuzzAllocLimit(len(tb)+len(sb)), func() { info, err = VerifyCheckpoint(path) })
		if err != nil {
			return
		}
		// A verified pair loads into tensors of its own shapes.
		var into []Named
		for name, shape := range info.Tensors {
			into = append(into, Named{name, New(shape...)})
		}
		var meta any
		if err := LoadCheckpoint(path, into, &meta); err != nil && !strings.Contains(err.Error(), "meta") {
			t.Fatalf("verified checkpoint does not load: %v", err)
		}
	})
}

func FuzzModelSidecar(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	mk := func() *Sequential {
		m, err := NewSmallCNN(SmallCNNConfig{C: 1, H: 8, W: 8, Classes: 3, Width: 2, Rule: rule.FA}, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			f.Fatal(err)
		}
		return m
	}
	if err := SaveModel(path, mk(), map[string]any{"c": 4, "layers": 8}); err != nil {
		f.Fatal(err)
	}
	tensors, _ := os.ReadFile(path)
	sidecar, _ := os.ReadFile(CheckpointSidecarPath(path))
	f.Add(sidecar)
	f.Add(bytes.Replace(sidecar, []byte(`"c":4`), []byte(`"c":100000000`), 1))
	f.Add(bytes.Replace(sidecar, []byte(`"rule": "fa"`), []byte(`"rule": "pc"`), 1))
	f.Fuzz(func(t *testing.T, sb []byte) {
		if os.WriteFile(path, tensors, 0o644) != nil || os.WriteFile(CheckpointSidecarPath(path), sb, 0o644) != nil {
			t.Fatal("write")
		}
		var extra map[string]any
		// The network is built by the test; the sidecar must not make
		// LoadModel allocate beyond the model's own size.
		m := mk()
		allocguard.Check(t, "LoadModel", fuzzAllocLimit(len(sb)+4*len(tensors)), func() { _ = LoadModel(path, m, &extra) })
	})
}
