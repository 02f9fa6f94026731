package search

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
	"github.com/bionaslab/bionas/nn"
)

// savedNetwork saves a small trained-network checkpoint with its
// ModelMeta and returns its path and meta.
func savedNetwork(t testing.TB, dir string) (string, ModelMeta) {
	t.Helper()
	geno, err := SampleGenotype(BioSpace(), 4, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NetworkConfig{C: 4, Layers: 3, Classes: 10, InChannels: 1, ImageSize: 28, Genotype: geno, Seed: 7}
	net, err := NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	meta := ModelMeta{Kind: ModelKind, Genotype: geno, C: cfg.C, Layers: cfg.Layers, Classes: cfg.Classes,
		InChannels: cfg.InChannels, ImageSize: cfg.ImageSize}
	path := filepath.Join(dir, "model.safetensors")
	if err := nn.SaveModel(path, net, meta); err != nil {
		t.Fatal(err)
	}
	return path, meta
}

// withoutDigest returns the sidecar with its meta.extra replaced and no
// digest (a sidecar from before the digest, or one edited by hand).
func withoutDigest(t testing.TB, side []byte, extra any) []byte {
	var doc map[string]any
	if err := json.Unmarshal(side, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "digest")
	doc["meta"].(map[string]any)["extra"] = extra
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

func TestCheckModelFile(t *testing.T) {
	dir := t.TempDir()
	path, meta := savedNetwork(t, dir)
	side, _ := os.ReadFile(nn.CheckpointSidecarPath(path))
	if _, err := CheckModelFile(path); err != nil {
		t.Fatalf("a saved network: %v", err)
	}
	convAll := meta
	convAll.Genotype.Normal.Edges = append([]Edge(nil), meta.Genotype.Normal.Edges...)
	for i := range convAll.Genotype.Normal.Edges {
		convAll.Genotype.Normal.Edges[i].Op = OpSep5
	}
	set := func(f func(m *ModelMeta)) ModelMeta { m := meta; f(&m); return m }
	cases := []struct {
		name  string
		extra ModelMeta
		want  string
	}{
		{"c 10^8", set(func(m *ModelMeta) { m.C = 100000000 }), "meta.extra.field c is 100000000, want 1..1024"},
		{"layers 10^9", set(func(m *ModelMeta) { m.Layers = 1000000000 }), "field layers is 1000000000, want 1..256"},
		{"odd c", set(func(m *ModelMeta) { m.C = 5 }), "field c is 5, want an even number"},
		{"c not the file's", set(func(m *ModelMeta) { m.C = 16 }), "the file's stem.conv.weight is [12 1 3 3]"},
		{"classes", set(func(m *ModelMeta) { m.Classes = 1000 }), "field meta.extra.classes is 1000"},
		{"layers", set(func(m *ModelMeta) { m.Layers = 4 }), "field meta.extra.layers is 4, the file holds 3 cells"},
		{"auxiliary", set(func(m *ModelMeta) { m.Auxiliary = true }), "field meta.extra.auxiliary is true"},
		{"genotype with more weights", convAll, "is sep_conv_5x5, which has weights, but the file has none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(nn.CheckpointSidecarPath(path), withoutDigest(t, side, tc.extra), 0o644)
			_, err := CheckModelFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "model.json") {
				t.Fatalf("error %v, want one naming model.json and %q", err, tc.want)
			}
		})
	}
}

// FuzzModelMeta fuzzes the ModelMeta in a network checkpoint's sidecar
// (meta.extra; the sidecar carries no digest, as an old or hand-edited one
// would, so that the checks behind the digest are reached): whatever
// CheckModelFile accepts builds and loads within a few times the file's
// size.
func FuzzModelMeta(f *testing.F) {
	dir := f.TempDir()
	path, meta := savedNetwork(f, dir)
	side, _ := os.ReadFile(nn.CheckpointSidecarPath(path))
	tensors, _ := os.ReadFile(path)
	// The sidecar with a placeholder where the fuzzed extra goes.
	template := withoutDigest(f, side, "\x00EXTRA")
	hole := []byte(`"\u0000EXTRA"`)
	if !bytes.Contains(template, hole) {
		f.Fatalf("no placeholder in %s", template)
	}
	extra := func(m ModelMeta) []byte { b, _ := json.Marshal(m); return b }
	f.Add(extra(meta))
	big := meta
	big.C = 100000000
	f.Add(extra(big))
	big = meta
	big.Layers = 1000000000
	f.Add(extra(big))
	f.Add([]byte(`{"c":4,"layers":3,"classes":10,"in_channels":1,"genotype":{}}`))
	sidePath := nn.CheckpointSidecarPath(path)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if os.WriteFile(sidePath, bytes.Replace(template, hole, raw, 1), 0o644) != nil {
			t.Fatal("write")
		}
		var m ModelMeta
		var err error
		allocguard.Check(t, "CheckModelFile", 1<<20+16*uint64(len(template)+len(raw)+len(tensors)), func() { m, err = CheckModelFile(path) })
		if err != nil {
			return
		}
		allocguard.Check(t, "build and load", 16<<20+64*uint64(len(tensors)), func() {
			net, err := NewNetwork(NetworkConfig{C: m.C, Layers: m.Layers, Classes: m.Classes, InChannels: m.InChannels,
				ImageSize: m.ImageSize, Auxiliary: m.Auxiliary, Genotype: m.Genotype, Seed: 1})
			if err == nil {
				nn.LoadModel(path, net, nil)
			}
		})
	})
}
