package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// Bounds of a SmallCNN described by a sidecar (the demo models are 1×28×28
// with width 16).
const (
	maxSmallCNNChannels = 64
	maxSmallCNNSide     = 4096
	maxSmallCNNWidth    = 4096
	maxSmallCNNClasses  = 100_000
)

// checkAttackModel verifies a checkpoint before `bionas attack` builds the
// network its sidecar describes: the pair as a whole (the digest over
// tensors and meta), then the sizes in the spec against sane bounds and
// against the tensors the file holds. The registry builds the network
// before it loads any weight, so a sidecar claiming 10^8 channels must be
// refused here, with the file and the field, not by running out of memory.
// Kinds it does not know are left to the registry, which refuses them.
func checkAttackModel(path string) error {
	info, err := nn.VerifyCheckpoint(path)
	if err != nil {
		return err
	}
	spec, err := attacks.ReadSpec(path)
	if err != nil {
		return err
	}
	switch spec.Kind {
	case search.ModelKind:
		_, err := search.CheckModelFile(path)
		return err
	case attacks.KindSmallCNN:
		return checkSmallCNN(path, info, spec)
	}
	return nil
}

// checkSmallCNN checks a SmallCNN spec (see nn.NewSmallCNN) against the
// file's conv1 and fc weights.
func checkSmallCNN(path string, info nn.CheckpointInfo, spec attacks.ModelSpec) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("model %s: sidecar %s: "+format, append([]any{path, info.Sidecar}, a...)...)
	}
	var cfg nn.SmallCNNConfig
	if err := json.Unmarshal(spec.Config, &cfg); err != nil {
		return fail("field meta.extra.config: %v", err)
	}
	if cfg.Width == 0 {
		cfg.Width = 16 // nn.NewSmallCNN's default
	}
	for _, f := range []struct {
		name          string
		v, low, limit int
	}{
		{"C", cfg.C, 1, maxSmallCNNChannels},
		{"H", cfg.H, 4, maxSmallCNNSide},
		{"W", cfg.W, 4, maxSmallCNNSide},
		{"Width", cfg.Width, 1, maxSmallCNNWidth},
		{"Classes", cfg.Classes, 1, maxSmallCNNClasses},
	} {
		if f.v < f.low || f.v > f.limit {
			return fail("field meta.extra.config.%s is %d, want %d..%d", f.name, f.v, f.low, f.limit)
		}
	}
	if got, want := info.Tensors["conv1.weight"], []int{cfg.Width, cfg.C, 3, 3}; !slices.Equal(got, want) {
		return fail("fields meta.extra.config.C %d and Width %d give conv1 weights of shape %v, the file's conv1.weight is %v", cfg.C, cfg.Width, want, got)
	}
	if got, want := info.Tensors["fc.weight"], []int{cfg.Classes, 2 * cfg.Width * (cfg.H / 4) * (cfg.W / 4)}; !slices.Equal(got, want) {
		return fail("fields meta.extra.config.H %d, W %d and Classes %d give fc weights of shape %v, the file's fc.weight is %v", cfg.H, cfg.W, cfg.Classes, want, got)
	}
	return nil
}
