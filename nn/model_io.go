package nn

import (
	"encoding/json"
	"fmt"
	"os"
)

// Model is what SaveModel and LoadModel work on: a module whose rule
// layers can be listed (Sequential, the search package's networks).
type Model interface {
	Module
	RuleLayerer
}

// modelSidecar is the "meta" part of a model checkpoint's JSON sidecar:
// each rule layer's feedback state (rule, init, seed, brSF draw count) and
// the caller's own metadata.
type modelSidecar struct {
	Layers map[string]FeedbackState `json:"layers"`
	Extra  json.RawMessage          `json:"extra,omitempty"`
}

// SaveModel writes m's parameters and buffers (feedback matrices included)
// to path (safetensors) and its rules to the JSON sidecar beside it, both
// atomically. extra, if not nil, is stored as JSON under "extra".
func SaveModel(path string, m Model, extra any) error {
	sc := modelSidecar{Layers: map[string]FeedbackState{}}
	for _, l := range m.RuleLayers() {
		sc.Layers[l.LayerName()] = l.FeedbackState()
	}
	if extra != nil {
		b, err := json.Marshal(extra)
		if err != nil {
			return fmt.Errorf("save model %s: metadata: %w", path, err)
		}
		sc.Extra = b
	}
	return SaveCheckpoint(path, append(m.Params(), m.Buffers()...), sc)
}

// LoadModel restores a model saved by SaveModel into m, which must have the
// same architecture: first every layer's rule (so feedback buffers get their
// shapes), then all tensors. extra, if not nil, receives the saved metadata.
// Errors name the file and the layer or tensor at fault.
func LoadModel(path string, m Model, extra any) error {
	side := CheckpointSidecarPath(path)
	raw, err := os.ReadFile(side)
	if err != nil {
		return fmt.Errorf("load model %s: sidecar: %w", path, err)
	}
	var doc struct {
		Meta modelSidecar `json:"meta"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("load model %s: sidecar %s: %w", path, side, err)
	}
	layers := m.RuleLayers()
	if len(doc.Meta.Layers) != len(layers) {
		return fmt.Errorf("load model %s: sidecar lists %d rule layers, the model has %d", path, len(doc.Meta.Layers), len(layers))
	}
	for _, l := range layers {
		st, ok := doc.Meta.Layers[l.LayerName()]
		if !ok {
			return fmt.Errorf("load model %s: sidecar has no entry for layer %q", path, l.LayerName())
		}
		if err := l.RestoreFeedback(st); err != nil {
			return fmt.Errorf("load model %s: layer %q: %w", path, l.LayerName(), err)
		}
	}
	if err := LoadCheckpoint(path, append(m.Params(), m.Buffers()...), nil); err != nil {
		return err
	}
	if extra != nil && len(doc.Meta.Extra) > 0 {
		if err := json.Unmarshal(doc.Meta.Extra, extra); err != nil {
			return fmt.Errorf("load model %s: metadata: %w", path, err)
		}
	}
	return nil
}
