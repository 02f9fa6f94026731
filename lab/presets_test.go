package lab_test

import (
	"slices"
	"testing"

	"github.com/bionaslab/bionas/lab"
)

// TestPresetDefaults: every preset uses the one default seed and spells
// its dataset canonically; Apply turns an alias into that spelling.
func TestPresetDefaults(t *testing.T) {
	for _, p := range lab.Presets() {
		if p.Spec.Seed != lab.DefaultSeed {
			t.Errorf("preset %s: seed %d, want lab.DefaultSeed (%d)", p.Name, p.Spec.Seed, lab.DefaultSeed)
		}
		c, err := lab.CanonicalDataset(p.Spec.Dataset)
		if err != nil || c != p.Spec.Dataset || !slices.Contains(lab.Datasets(), c) {
			t.Errorf("preset %s: dataset %q, canonically %q (%v)", p.Name, p.Spec.Dataset, c, err)
		}
	}
	if p, ok := lab.PresetByName(lab.DefaultPreset); !ok || p.Spec.Dataset != lab.DefaultDataset {
		t.Errorf("default preset %s: %+v", lab.DefaultPreset, p.Spec)
	}
	p, _ := lab.PresetByName("fashion-quick")
	for _, alias := range []string{"fashion", "Fashion_MNIST", "fashion-mnist", ""} {
		if got := p.Apply(lab.Spec{Kind: lab.KindSearch, Dataset: alias}).Dataset; got != "fashion-mnist" {
			t.Errorf("Apply(dataset %q) = %q, want fashion-mnist", alias, got)
		}
	}
	mq, _ := lab.PresetByName("mnist-quick")
	if got := mq.Apply(lab.Spec{Kind: lab.KindSearch, Dataset: "cifar-10"}).Dataset; got != "cifar10" {
		t.Errorf("Apply(dataset cifar-10) = %q", got)
	}
	if got := mq.Apply(lab.Spec{Kind: lab.KindSearch, Dataset: "nope"}).Dataset; got != "nope" {
		t.Errorf("Apply kept no unknown name: %q (Validate and the backend report it)", got)
	}
}
