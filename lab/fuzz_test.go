package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
)

// Fuzz targets of the lab's readers of outside bytes: run.json, metrics.jsonl
// and specs (which presets fill). Each must return, never panic, and
// allocate in proportion to its input. Seeds are what the lab writes.

func fuzzAllocLimit(n int) uint64 { return 1<<20 + 32*uint64(n) }

func fuzzRunInfo() RunInfo {
	g := &Genotype{Normal: CellGenotype{Edges: []GenotypeEdge{{From: 0, To: 2, Op: "sep_conv_3x3", Rule: "fa"}}, Concat: []int{2}}}
	return RunInfo{ID: "r0001", Kind: KindTrain, Status: StatusInterrupted, Parent: "r0000",
		Spec: Spec{Kind: KindTrain, Preset: DefaultPreset, Epochs: 3, C: 16, Cells: 8, Genotype: g, Edits: []RuleEdit{{"cell3", "fa"}}},
		Last: Metrics{Epoch: 1, Step: 20, TotalSteps: 60, Loss: 1.5}}
}

func FuzzRunJSON(f *testing.F) {
	b, _ := json.MarshalIndent(fuzzRunInfo(), "", "  ")
	f.Add(b)
	f.Add([]byte(`{"id":"r0001","kind":"search","spec":{"kind":"search","c":100000000},"status":"running"}`))
	f.Add([]byte(`{"id":`))
	f.Add([]byte(`{"id":"r0002","kind":"train","spec":{"kind":"train","device":"cuda:0\u001b[2J"},"status":"done"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if os.WriteFile(filepath.Join(dir, FileRun), raw, 0o644) != nil {
			t.Fatal("write")
		}
		var info RunInfo
		var ok bool
		var err error
		allocguard.Check(t, "readRunInfo", fuzzAllocLimit(len(raw)), func() { info, ok, err = readRunInfo(dir) })
		if err == nil && ok {
			if err := info.Spec.Validate(); err != nil {
				t.Fatalf("accepted an invalid spec: %v", err)
			}
			info.Clone() // what the lab does with every loaded run
		}
	})
}

func FuzzMetrics(f *testing.F) {
	var lines []byte
	for _, e := range []Event{{Kind: "step", Step: 1, Loss: 2.3}, {Kind: "epoch", Epoch: 0, ValAcc: 0.5}} {
		b, _ := json.Marshal(e)
		lines = append(append(lines, b...), '\n')
	}
	f.Add(lines)
	f.Add(append(lines, []byte(`{"kind":"step","ste`)...))
	f.Add([]byte("\n\n{}\n"))
	path := filepath.Join(f.TempDir(), FileMetrics)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if os.WriteFile(path, raw, 0o644) != nil {
			t.Fatal("write")
		}
		allocguard.Check(t, "readMetrics", fuzzAllocLimit(len(raw)), func() { readMetrics(path) })
	})
}

func FuzzSpec(f *testing.F) {
	for _, p := range Presets() {
		b, _ := json.Marshal(p.Spec)
		f.Add(b, p.Name)
	}
	b, _ := json.Marshal(fuzzRunInfo().Spec)
	f.Add(b, "")
	f.Add([]byte(`{"kind":"attack","attack":{"eps":0.3,"steps":10,"n":100}}`), "mnist-quick")
	f.Add([]byte(`{"kind":"train","device":"cuda:0"}`), "")
	f.Fuzz(func(t *testing.T, raw []byte, preset string) {
		var s Spec
		if json.Unmarshal(raw, &s) != nil || s.Validate() != nil {
			return
		}
		// A preset fills zero fields with its own valid values: what
		// was valid stays valid.
		if p, ok := PresetByName(preset); ok {
			if err := p.Apply(s).Validate(); err != nil {
				t.Fatalf("preset %s made a valid spec invalid: %v", preset, err)
			}
		}
		c := s.Clone()
		if err := c.Validate(); err != nil {
			t.Fatalf("clone of a valid spec is invalid: %v", err)
		}
	})
}
