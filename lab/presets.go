package lab

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

// Presets lists the presets in menu order. The first ones fit a 2-core CPU.
func Presets() []Preset {
	return []Preset{
		{Name: "mnist-quick", Title: "MNIST quick search", Engine: "quick",
			Note: "first-order DARTS over the bio space (8 ops × fa, usf, brsf, frsf), small supernet; minutes on 2 CPU cores",
			Spec: Spec{Kind: KindSearch, Dataset: "mnist", Method: "darts", Space: "bio", Seed: 1}},
		{Name: "mnist-tiny", Title: "MNIST tiny search", Engine: "quick",
			Note: "one epoch on 512 images with a 3-cell supernet of 4 channels: a smoke test that ends in about a minute",
			Spec: Spec{Kind: KindSearch, Dataset: "mnist", Method: "darts", Space: "bio", Epochs: 1, Subset: 512, C: 4, Cells: 3, BatchSize: 32, Seed: 1}},
		{Name: "fashion-quick", Title: "Fashion-MNIST quick search", Engine: "quick",
			Note: "as mnist-quick on Fashion-MNIST (fetch it first: bionas data fetch fashion)",
			Spec: Spec{Kind: KindSearch, Dataset: "fashion", Method: "darts", Space: "bio", Seed: 1}},
		{Name: "mnist-egnas-quick", Title: "MNIST quick EG-NAS", Engine: "quick",
			Note: "EG-NAS (gradient + CMA-ES) over the bio space, small supernet",
			Spec: Spec{Kind: KindSearch, Dataset: "mnist", Method: "egnas", Space: "bio", Seed: 1}},
		{Name: "mnist-bp-quick", Title: "MNIST quick plain DARTS", Engine: "quick",
			Note: "the baseline: DARTS over the 8 ops with back-propagation only",
			Spec: Spec{Kind: KindSearch, Dataset: "mnist", Method: "darts", Space: "bp", Seed: 1}},
		{Name: "cifar10-paper", Title: "CIFAR-10 paper search", Engine: "paper",
			Note: "the paper's set-up (C16, 8 cells, 50 epochs): for a GPU box, not a laptop",
			Spec: Spec{Kind: KindSearch, Dataset: "cifar10", Method: "darts", Space: "bio", Seed: 2}},
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

// Apply fills the zero fields of s from the preset (Kind excepted).
func (p Preset) Apply(s Spec) Spec {
	d := p.Spec
	if s.Dataset == "" {
		s.Dataset = d.Dataset
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
