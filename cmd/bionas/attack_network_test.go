package main

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// TestAttackRegistryLoadsSearchNetworks checks that a network trained from
// a genotype, saved as `bionas train` saves it, comes back through the
// attack registry behind its normalisation and computes the same logits.
func TestAttackRegistryLoadsSearchNetworks(t *testing.T) {
	geno, err := search.SampleGenotype(search.BioSpace(), 4, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := search.NetworkConfig{C: 4, Layers: 3, Classes: 10, InChannels: 1, ImageSize: 28, Genotype: geno, Seed: 7}
	net, err := search.NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	norm := data.DefaultNorm("mnist")
	path := filepath.Join(t.TempDir(), "model.safetensors")
	meta := search.ModelMeta{Kind: search.ModelKind, Genotype: geno, C: cfg.C, Layers: cfg.Layers, Classes: cfg.Classes,
		InChannels: cfg.InChannels, ImageSize: cfg.ImageSize, Norm: norm, Dataset: "mnist"}
	if err := nn.SaveModel(path, net, meta); err != nil {
		t.Fatal(err)
	}
	loaded, err := attackRegistry().Load(path)
	if err != nil {
		t.Fatal(err)
	}
	x := nn.New(2, 1, 28, 28)
	for i := range x.Data {
		x.Data[i] = float32(i%97) / 97
	}
	got := loaded.Model.Forward(nil, x)
	direct := net.Forward(nil, (*nn.Graph)(nil).Normalize(x, norm.Mean, norm.Std))
	if !slices.Equal(got.Data, direct.Data) {
		t.Fatalf("reloaded network computes %v, want %v", got.Data[:5], direct.Data[:5])
	}
}
