package lab

import "github.com/bionaslab/bionas/data"

// Preset is a named starting point for a search. Its Spec fills the zero
// fields of a run's spec; Engine names the search package's preset ("quick"
// or "paper") that fills the rest (supernet size, schedule), and also sets
// up the trainings and retrainings of the genotypes the search finds.
type Preset struct {
	Name   string
	Title  string
	Note   string
	Engine string
	Spec   Spec
}

// DefaultPreset is the preset the TUI starts with one key.
const DefaultPreset = "mnist-quick"

// DefaultSeed is the seed of every preset, and of bionas search and
// bionas train without --seed: a search started from the TUI and the same
// search from the command line are the same run.
const DefaultSeed = 1

// DefaultDataset is the dataset of a run that names none, in the TUI and
// on the command line.
const DefaultDataset = "mnist"

// Datasets lists the datasets a spec may name, in their canonical
// spelling (data.Names); the aliases data accepts ("fashion" for
// "fashion-mnist", "cifar-10") work too, and CanonicalDataset turns them
// into this spelling.
func Datasets() []string { return data.Names() }

// CanonicalDataset is a dataset name in its canonical spelling
// ("fashion" → "fashion-mnist"); an unknown name is an error that lists
// the known ones.
func CanonicalDataset(name string) (string, error) { return data.CanonicalName(name) }

// Presets lists the presets in menu order. The first ones fit a 2-core CPU.
func Presets() []Preset {
	return []Preset{
		{Name: "mnist-quick", Title: "MNIST quick search", Engine: "quick",
			Note: "first-order DARTS over the bio space (8 ops × fa, usf, brsf, frsf), small supernet; minutes on 2 CPU cores",
			Spec: Spec{Kind: KindSearch, Dataset: DefaultDataset, Method: "darts", Space: "bio", Seed: DefaultSeed}},
		{Name: "mnist-tiny", Title: "MNIST tiny search", Engine: "quick",
			Note: "one epoch on 512 images with a 3-cell supernet of 4 channels: a smoke test that ends in about a minute",
			Spec: Spec{Kind: KindSearch, Dataset: DefaultDataset, Method: "darts", Space: "bio", Epochs: 1, Subset: 512, C: 4, Cells: 3, BatchSize: 32, Seed: DefaultSeed}},
		{Name: "fashion-quick", Title: "Fashion-MNIST quick search", Engine: "quick",
			Note: "as mnist-quick on Fashion-MNIST (fetch it first: bionas data fetch fashion-mnist)",
			Spec: Spec{Kind: KindSearch, Dataset: "fashion-mnist", Method: "darts", Space: "bio", Seed: DefaultSeed}},
		{Name: "mnist-egnas-quick", Title: "MNIST quick EG-NAS", Engine: "quick",
			Note: "EG-NAS (gradient + CMA-ES) over the bio space, small supernet",
			Spec: Spec{Kind: KindSearch, Dataset: DefaultDataset, Method: "egnas", Space: "bio", Seed: DefaultSeed}},
		{Name: "mnist-bp-quick", Title: "MNIST quick plain DARTS", Engine: "quick",
			Note: "the baseline: DARTS over the 8 ops with back-propagation only",
			Spec: Spec{Kind: KindSearch, Dataset: DefaultDataset, Method: "darts", Space: "bp", Seed: DefaultSeed}},
		{Name: "cifar10-paper", Title: "CIFAR-10 paper search", Engine: "paper",
			Note: "the paper's set-up (C16, 8 cells, 50 epochs): for a GPU box, not a laptop",
			Spec: Spec{Kind: KindSearch, Dataset: "cifar10", Method: "darts", Space: "bio", Seed: DefaultSeed}},
	}
}

// PresetByName finds a preset.
func PresetByName(name string) (Preset, bool) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Apply fills the zero fields of s from the preset (Kind excepted), and
// spells its dataset canonically ("fashion" → "fashion-mnist").
func (p Preset) Apply(s Spec) Spec {
	d := p.Spec
	if s.Dataset == "" {
		s.Dataset = d.Dataset
	}
	if c, err := data.CanonicalName(s.Dataset); err == nil {
		s.Dataset = c
	}
	if s.Method == "" {
		s.Method = d.Method
	}
	if s.Space == "" {
		s.Space = d.Space
	}
	if s.Epochs == 0 {
		s.Epochs = d.Epochs
	}
	if s.BatchSize == 0 {
		s.BatchSize = d.BatchSize
	}
	if s.C == 0 {
		s.C = d.C
	}
	if s.Cells == 0 {
		s.Cells = d.Cells
	}
	if s.Subset == 0 {
		s.Subset = d.Subset
	}
	if s.LR == 0 {
		s.LR = d.LR
	}
	if s.Seed == 0 {
		s.Seed = d.Seed
	}
	return s
}
