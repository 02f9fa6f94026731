package search

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bionaslab/bionas/nn"
)

// Bounds of a network described by a file (a model sidecar's ModelMeta).
// They are far above anything this lab trains (DARTS' evaluation network
// is C 36, 20 layers) and far below what would exhaust memory when the
// network is built before its weights are loaded.
const (
	MaxNetworkC          = 1024
	MaxNetworkLayers     = 256
	MaxNetworkClasses    = 100_000
	MaxNetworkInChannels = 64
	MaxNetworkImageSize  = 4096
)

// Validate checks the sizes of the network m describes (after the
// defaults NewNetwork applies) against the Max* bounds and its genotype,
// so that a crafted sidecar is refused before anything is built. Errors
// name the field (c, layers, classes, in_channels, image_size, genotype).
func (m ModelMeta) Validate() error {
	cfg := NetworkConfig{C: m.C, Layers: m.Layers, Classes: m.Classes, InChannels: m.InChannels, ImageSize: m.ImageSize}.withDefaults()
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"c", cfg.C, MaxNetworkC},
		{"layers", cfg.Layers, MaxNetworkLayers},
		{"classes", cfg.Classes, MaxNetworkClasses},
		{"in_channels", cfg.InChannels, MaxNetworkInChannels},
		{"image_size", cfg.ImageSize, MaxNetworkImageSize},
	} {
		if f.v < 1 || f.v > f.limit {
			return fmt.Errorf("field %s is %d, want 1..%d", f.name, f.v, f.limit)
		}
	}
	if cfg.C%2 != 0 {
		return fmt.Errorf("field c is %d, want an even number", cfg.C)
	}
	if err := m.Genotype.Validate(); err != nil {
		return fmt.Errorf("field genotype: %w", err)
	}
	return nil
}

// CheckModelFile verifies a network saved with its ModelMeta (by `bionas
// train` or the lab) before it is built: the checkpoint as a whole
// (nn.VerifyCheckpoint), the ModelMeta under meta.extra within bounds
// (Validate), and the sizes it gives agreeing with the tensors the file
// holds (the stem's channels, the classes, the number of cells, the
// auxiliary head). A sidecar edited to claim a network of 10^8 channels is
// refused here, naming the file and the field, instead of running out of
// memory while the network is built.
func CheckModelFile(path string) (ModelMeta, error) {
	info, err := nn.VerifyCheckpoint(path)
	if err != nil {
		return ModelMeta{}, err
	}
	fail := func(format string, a ...any) (ModelMeta, error) {
		return ModelMeta{}, fmt.Errorf("model %s: sidecar %s: "+format, append([]any{path, info.Sidecar}, a...)...)
	}
	var doc struct {
		Extra json.RawMessage `json:"extra"`
	}
	if err := json.Unmarshal(info.Meta, &doc); err != nil || len(doc.Extra) == 0 {
		return fail("no field meta.extra (the network's description)")
	}
	var m ModelMeta
	if err := json.Unmarshal(doc.Extra, &m); err != nil {
		return fail("field meta.extra: %v", err)
	}
	if err := m.Validate(); err != nil {
		return fail("meta.extra.%v", err)
	}
	cfg := NetworkConfig{C: m.C, Layers: m.Layers, Classes: m.Classes, InChannels: m.InChannels, ImageSize: m.ImageSize}.withDefaults()
	if got, want := info.Tensors["stem.conv.weight"], []int{3 * cfg.C, cfg.InChannels, 3, 3}; !slices.Equal(got, want) {
		return fail("fields meta.extra.c %d and in_channels %d give a stem of shape %v, the file's stem.conv.weight is %v", cfg.C, cfg.InChannels, want, got)
	}
	if got := info.Tensors["classifier.weight"]; len(got) != 2 || got[0] != cfg.Classes {
		return fail("field meta.extra.classes is %d, the file's classifier.weight is %v", cfg.Classes, got)
	}
	cells, aux := 0, false
	for name := range info.Tensors {
		if rest, ok := strings.CutPrefix(name, "cells."); ok {
			i, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
			if err == nil && i+1 > cells {
				cells = i + 1
			}
		}
		aux = aux || strings.HasPrefix(name, "aux.")
	}
	if cells != cfg.Layers {
		return fail("field meta.extra.layers is %d, the file holds %d cells", cfg.Layers, cells)
	}
	// Every edge of the genotype that would get weights when built must
	// have them in the file: a genotype edited to put convolutions where
	// the file has none would build weights the file does not back.
	for i := range cfg.Layers {
		reduce := i == cfg.Layers/3 || i == 2*cfg.Layers/3
		cg, cell := m.Genotype.Normal, "normal"
		if reduce {
			cg, cell = m.Genotype.Reduce, "reduce"
		}
		for j, e := range cg.Edges {
			if hasTensorPrefix(info.Tensors, fmt.Sprintf("cells.%d.edge%d.", i, j)) {
				continue
			}
			weightless := e.Op == OpNone || e.Op == OpMaxPool || e.Op == OpAvgPool || (e.Op == OpSkip && !(reduce && e.From < 2))
			if !weightless {
				return fail("field meta.extra.genotype: %s edge %d is %s, which has weights, but the file has none for cells.%d.edge%d",
					cell, j, e.Op, i, j)
			}
		}
	}
	if aux != m.Auxiliary {
		return fail("field meta.extra.auxiliary is %v, the file %s an auxiliary head", m.Auxiliary, map[bool]string{true: "holds", false: "has no"}[aux])
	}
	return m, nil
}

func hasTensorPrefix(ts map[string][]int, prefix string) bool {
	for name := range ts {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}
