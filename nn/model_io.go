package nn

import (
	"encoding/json"
	"fmt"
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
// same architecture. The checkpoint is verified as a whole first
// (VerifyCheckpoint), so nothing of m changes for a pair that does not
// match; then every layer's rule is restored (so feedback buffers get
// their shapes), then all tensors. extra, if not nil, receives the saved
// metadata. Errors name the file and the layer or tensor at fault.
func LoadModel(path string, m Model, extra any) error {
	info, file, err := readCheckpoint(path)
	if err != nil {
		return fmt.Errorf("load model %s: %w", path, err)
	}
	var meta modelSidecar
	if len(info.Meta) == 0 {
		return fmt.Errorf("load model %s: sidecar %s: no field meta (not a model checkpoint)", path, info.Sidecar)
	}
	if err := json.Unmarshal(info.Meta, &meta); err != nil {
		return fmt.Errorf("load model %s: sidecar %s: field meta: %w", path, info.Sidecar, err)
	}
	layers := m.RuleLayers()
	if len(meta.Layers) != len(layers) {
		return fmt.Errorf("load model %s: sidecar field meta.layers lists %d rule layers, the model has %d", path, len(meta.Layers), len(layers))
	}
	for _, l := range layers {
		if _, ok := meta.Layers[l.LayerName()]; !ok {
			return fmt.Errorf("load model %s: sidecar field meta.layers has no entry for layer %q", path, l.LayerName())
		}
	}
	for _, l := range layers {
		if err := l.RestoreFeedback(meta.Layers[l.LayerName()]); err != nil {
			return fmt.Errorf("load model %s: layer %q: %w", path, l.LayerName(), err)
		}
	}
	if err := loadVerified(info, file, append(m.Params(), m.Buffers()...), nil); err != nil {
		return err
	}
	if extra != nil && len(meta.Extra) > 0 {
		if err := json.Unmarshal(meta.Extra, extra); err != nil {
			return fmt.Errorf("load model %s: metadata: %w", path, err)
		}
	}
	return nil
}
