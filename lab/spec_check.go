package lab

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/bionaslab/bionas/search"
)

// Bounds of a Spec read from outside (run.json, a preset form). They are
// far above anything a preset asks for and far below what would exhaust
// memory or time when the run's network is built: a run.json edited to
// C = 10^8 must be refused, not resumed.
const (
	MaxSpecEpochs    = 10_000
	MaxSpecBatchSize = 65_536
	MaxSpecC         = 1024
	MaxSpecCells     = 256
	MaxSpecSubset    = 100_000_000
	MaxSpecEdits     = 10_000
	MaxSpecLR        = 100
	MaxSpecGenoEdges = 128 // 64 nodes of two edges, search.MaxCellSteps
	MaxAttackSteps   = 100_000
	MaxAttackImages  = 1_000_000
	MaxSpecDevice    = 64 // bytes of a device name
)

// Validate checks the spec's kind and sizes; errors name the field
// ("spec.c is 100000000, want 0..1024"). Zero fields are valid: they take
// the preset's value.
func (s Spec) Validate() error {
	if !slices.Contains(Kinds, s.Kind) {
		return fmt.Errorf("spec.kind is %q, want one of %v", clip(string(s.Kind)), Kinds)
	}
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"epochs", s.Epochs, MaxSpecEpochs},
		{"batch_size", s.BatchSize, MaxSpecBatchSize},
		{"c", s.C, MaxSpecC},
		{"cells", s.Cells, MaxSpecCells},
		{"subset", s.Subset, MaxSpecSubset},
	} {
		if f.v < 0 || f.v > f.limit {
			return fmt.Errorf("spec.%s is %d, want 0..%d", f.name, f.v, f.limit)
		}
	}
	if s.Method != "" {
		if _, err := search.ParseMethod(string(s.Method)); err != nil {
			return fmt.Errorf("spec.method is %q: want one of %v", clip(string(s.Method)), search.Methods())
		}
	}
	if len(s.Device) > MaxSpecDevice || !printable(s.Device) {
		return fmt.Errorf("spec.device is %q, want a device name such as cpu or cuda:0", clip(s.Device))
	}
	if !(s.LR >= 0 && s.LR <= MaxSpecLR) { // NaN fails too
		return fmt.Errorf("spec.lr is %v, want 0..%d", s.LR, MaxSpecLR)
	}
	if len(s.Edits) > MaxSpecEdits {
		return fmt.Errorf("spec.edits has %d edits, want at most %d", len(s.Edits), MaxSpecEdits)
	}
	if g := s.Genotype; g != nil {
		for name, c := range map[string]CellGenotype{"normal": g.Normal, "reduce": g.Reduce} {
			if len(c.Edges) > MaxSpecGenoEdges || len(c.Concat) > MaxSpecGenoEdges {
				return fmt.Errorf("spec.genotype.%s has %d edges and %d concatenated states, want at most %d each",
					name, len(c.Edges), len(c.Concat), MaxSpecGenoEdges)
			}
		}
	}
	if a := s.Attack; a != nil {
		switch {
		case !(a.Eps >= 0 && a.Eps <= 1):
			return fmt.Errorf("spec.attack.eps is %v, want 0..1 (pixels are in [0, 1])", a.Eps)
		case a.Steps < 0 || a.Steps > MaxAttackSteps:
			return fmt.Errorf("spec.attack.steps is %d, want 0..%d", a.Steps, MaxAttackSteps)
		case a.N < 0 || a.N > MaxAttackImages:
			return fmt.Errorf("spec.attack.n is %d, want 0..%d", a.N, MaxAttackImages)
		case a.Image < 0:
			return fmt.Errorf("spec.attack.image is %d, want ≥ 0", a.Image)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// (a device name is shown in a terminal).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
