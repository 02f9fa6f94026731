package search

import (
	"fmt"
	"strings"
)

// Preset is a named bundle of search and retraining settings, for the CLI
// and the lab. Dataset-specific parts (augmentation, normalisation, the
// number of classes and channels) are filled in by the caller from the
// dataset; a preset fixes sizes and hyperparameters.
type Preset struct {
	Name        string `json:"name"`
	Description string `json:"description"`

	// SearchImages is how many training images a search uses, the first
	// ones of the training set (0 = all); they are split into the weight
	// and architecture halves by data.SearchSplit.
	SearchImages int `json:"search_images"`
	// DARTS is used by the darts method, DARTS2 by darts2 (Unrolled set by
	// the caller), PCDARTS by pcdarts, EGNAS by egnas, Random by random.
	DARTS   DARTSConfig  `json:"darts"`
	DARTS2  DARTSConfig  `json:"darts2"`
	PCDARTS DARTSConfig  `json:"pcdarts"`
	EGNAS   EGNASConfig  `json:"egnas"`
	Random  RandomConfig `json:"random"`
	// SearchCutout turns on cutout in the search's augmentation (off in
	// the references).
	SearchCutout bool `json:"search_cutout"`

	// TrainImages and TestImages limit the retraining's training and test
	// sets (0 = all).
	TrainImages int `json:"train_images"`
	TestImages  int `json:"test_images"`
	// Network is the discrete network's shape (C, Layers, Auxiliary; the
	// genotype, classes and channels come from the caller) and Train its
	// training.
	Network NetworkConfig `json:"network"`
	Train   TrainConfig   `json:"train"`
	// TrainCutout turns on cutout (DARTS' evaluation uses it).
	TrainCutout bool `json:"train_cutout"`
}

// PresetNames lists the presets PresetByName knows.
func PresetNames() []string { return []string{"quick", "paper"} }

// PresetByName returns a preset:
//
//   - "quick": sized for a 2-core CPU and MNIST. The search fits in about
//     ten minutes: a small supernet (C=4, 5 cells, 3 nodes; C=8 with
//     partial channels for pcdarts and egnas) on 1,280 images (640 for the
//     weights, 640 for the architecture), batch 32, 4 epochs (darts2: 2),
//     a 10× architecture learning rate to make up for the short search. The retraining preset (C=8, 5 layers, no
//     auxiliary head, no cutout, no drop path, batch 64, SGD lr 0.05
//     cosine to 0, 2 epochs over the full 60,000 images) takes about 18
//     minutes on 2 cores; it aims at 99.0 % test accuracy (a quick-search
//     genotype reached 98.0 % after 2 epochs of 24,000 images).
//   - "paper": the paper's hyperparameters. Supernet (Table 6): SGD
//     (Nesterov, momentum 0.9, weight decay 3e-4) lr 0.1 cosine to 0,
//     50 epochs, batch 256, C=16, 4 nodes, 5 cells; DARTS' architecture
//     optimizer (Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3, §2.3);
//     PC-DARTS' arch lr 6e-4 and 15 warm-up epochs (§5); EG-NAS'
//     exploration (15 warm-up epochs, 3 samples, population 50, step 0.1,
//     fitness weight 0.4, §3.2). Retraining (§3.4, CIFAR-10 setting):
//     C=36, 20 layers, auxiliary head weight 0.4, cutout, drop path 0.2
//     (0.3 for EG-NAS genotypes: set Train.DropPath), batch 96, lr 0.025
//     cosine to 0, momentum 0.9, weight decay 3e-4, grad clip 5, 600
//     epochs.
func PresetByName(name string) (Preset, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "quick":
		return quickPreset(), nil
	case "paper":
		return paperPreset(), nil
	}
	return Preset{}, fmt.Errorf("unknown preset %q: want one of %s", name, strings.Join(PresetNames(), ", "))
}

func quickPreset() Preset {
	// Measured: `bionas search --preset quick` (darts, bio space, MNIST)
	// took 6 min 5 s with GOMAXPROCS=2 (80 iterations of ≈ 4.5 s and 4
	// evaluations); an unrolled iteration costs about 2.6× a first-order
	// one, hence 2 epochs for darts2.
	net := SupernetConfig{C: 4, Cells: 5, Steps: 3, Multiplier: 3}
	pc := SupernetConfig{C: 8, Cells: 5, Steps: 3, Multiplier: 3, PartialChannels: 4}
	const epochs, batch = 4, 32
	return Preset{
		Name:         "quick",
		Description:  "fits a 2-core CPU: search ≈ 10 min, retraining ≈ 20 min on MNIST",
		SearchImages: 1280,
		DARTS: DARTSConfig{
			Supernet:   net,
			Epochs:     epochs,
			BatchSize:  batch,
			LR:         0.05,
			LRMin:      0.001,
			ArchLR:     3e-3,
			RunControl: RunControl{EmitEvery: 1},
		},
		DARTS2: DARTSConfig{
			Supernet:   net,
			Epochs:     2,
			BatchSize:  batch,
			LR:         0.05,
			LRMin:      0.001,
			ArchLR:     3e-3,
			RunControl: RunControl{EmitEvery: 1},
		},
		PCDARTS: DARTSConfig{
			Supernet:   pc,
			Epochs:     epochs,
			BatchSize:  batch,
			LR:         0.05,
			LRMin:      -1,
			ArchLR:     6e-3,
			ArchWarmup: 1,
			RunControl: RunControl{EmitEvery: 1},
		},
		EGNAS: EGNASConfig{
			Supernet:    pc,
			Epochs:      epochs,
			BatchSize:   batch,
			ArchBatch:   batch,
			LR:          0.05,
			LRMin:       -1,
			Warmup:      1,
			Samples:     2,
			Population:  8,
			Generations: 2,
			RunControl:  RunControl{EmitEvery: 1},
		},
		Random: RandomConfig{
			Steps:   3,
			Samples: 16,
			Network: NetworkConfig{C: 4, Layers: 5},
			Train: TrainConfig{
				Epochs:        1,
				BatchSize:     batch,
				LR:            0.05,
				DropPath:      -1,
				StepsPerEpoch: 60,
				EvalLimit:     640,
				RunControl:    RunControl{EmitEvery: 5},
			},
		},
		// Measured (16-core machine limited to 4–8 threads): this network
		// trains at ≈ 210 images/s on 4 threads, so ≈ 110 on 2 cores, ≈ 9
		// minutes per MNIST epoch. Underfitting, not overfitting, limits a
		// 2-epoch run, so no cutout and no drop path.
		// Measured on the 2-core dev machine (2026-11-27), retraining the quick
		// DARTS genotype on all of MNIST: 2 epochs gave 98.39 % in 11 min 48 s,
		// 3 epochs 99.07 % in 16 min 27 s (≈ 180 images/s).
		Network: NetworkConfig{C: 8, Layers: 5},
		Train: TrainConfig{
			Epochs:     3,
			BatchSize:  64,
			LR:         0.05,
			DropPath:   -1,
			RunControl: RunControl{EmitEvery: 10},
		},
		TrainCutout: false,
	}
}

func withPC(c SupernetConfig) SupernetConfig {
	c.PartialChannels = 4
	return c
}

func paperPreset() Preset {
	net := SupernetConfig{C: 16, Cells: 5, Steps: 4}
	const epochs, batch = 50, 256
	return Preset{
		Name:        "paper",
		Description: "the paper's hyperparameters (Table 6 for the supernet, §3.4 for retraining); days on a CPU",
		DARTS: DARTSConfig{
			Supernet:    net,
			Epochs:      epochs,
			BatchSize:   batch,
			LR:          0.1,
			LRMin:       -1,
			SGDSettings: SGDSettings{Nesterov: true},
		},
		DARTS2: DARTSConfig{
			Supernet:    net,
			Epochs:      epochs,
			BatchSize:   batch,
			LR:          0.1,
			LRMin:       -1,
			SGDSettings: SGDSettings{Nesterov: true},
		},
		PCDARTS: DARTSConfig{
			Supernet:    withPC(net),
			Epochs:      epochs,
			BatchSize:   batch,
			LR:          0.1,
			LRMin:       -1,
			ArchLR:      6e-4,
			ArchWarmup:  15,
			SGDSettings: SGDSettings{Nesterov: true},
		},
		EGNAS: EGNASConfig{
			Supernet:    withPC(net),
			Epochs:      epochs,
			BatchSize:   batch,
			LR:          0.1,
			LRMin:       -1,
			SGDSettings: SGDSettings{Nesterov: true},
		},
		Random: RandomConfig{
			Samples: 24,
			Network: NetworkConfig{C: 16, Layers: 8},
			Train:   TrainConfig{Epochs: 10, BatchSize: 96},
		},
		Network:     NetworkConfig{C: 36, Layers: 20, Auxiliary: true},
		Train:       TrainConfig{Epochs: 600, BatchSize: 96, LR: 0.025, DropPath: 0.2},
		TrainCutout: true,
	}
}
