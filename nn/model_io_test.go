package nn

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

func TestSaveLoadModelKeepsRulesAndFeedback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	mk := func(seed uint64) *Sequential {
		m, err := NewSmallCNN(SmallCNNConfig{C: 1, H: 8, W: 8, Classes: 3, Width: 2, Rule: rule.FA}, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := mk(1)
	ls := a.RuleLayers()
	if err := ls[1].SetRule(rule.BRSF); err != nil {
		t.Fatal(err)
	}
	if err := ls[2].SetRule(rule.DFA); err != nil {
		t.Fatal(err)
	}
	x := randTensor(4, 1, 2, 1, 8, 8)
	// A few brSF draws, so the stream position must survive the round trip.
	for i := 0; i < 3; i++ {
		g := NewGraph(true, nil)
		out := a.Forward(g, x)
		g.SetOutput(out)
		g.BackwardFrom(out, randTensor(5, 1, out.Shape...).Data)
	}
	if err := SaveModel(path, a, map[string]string{"note": "hello"}); err != nil {
		t.Fatal(err)
	}
	b := mk(2) // different weights and seeds, all fa
	var extra map[string]string
	if err := LoadModel(path, b, &extra); err != nil {
		t.Fatal(err)
	}
	if extra["note"] != "hello" {
		t.Fatalf("metadata lost: %v", extra)
	}
	for i, l := range b.RuleLayers() {
		al := a.RuleLayers()[i]
		if l.Rule() != al.Rule() || !reflect.DeepEqual(l.FeedbackState(), al.FeedbackState()) {
			t.Fatalf("layer %s: state %+v, want %+v", l.LayerName(), l.FeedbackState(), al.FeedbackState())
		}
	}
	if !slices.Equal(a.Forward(nil, x).Data, b.Forward(nil, x).Data) {
		t.Fatal("restored model computes something else")
	}
	fa := a.RuleLayers()[0].(*Conv2d)
	fb := b.RuleLayers()[0].(*Conv2d)
	if !slices.Equal(fa.Feedback.B.Data, fb.Feedback.B.Data) {
		t.Fatal("fa feedback matrix not restored")
	}
	next := func(l RuleLayer) []float32 { return l.(*Conv2d).Feedback.Effective(l.(*Conv2d).W.Data, false) }
	if !slices.Equal(next(a.RuleLayers()[1]), next(b.RuleLayers()[1])) {
		t.Fatal("brsf stream position not restored")
	}

	// A truncated weights file fails with the file's name in the error.
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, raw[:len(raw)/2], 0o644)
	err := LoadModel(path, mk(3), nil)
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("truncated file: got %v", err)
	}
}
