package lab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// layersGenotype has every kind of edge: convolutions, pools, skips (an
// identity in the normal cell, a factorized reduction on the reduce cell's
// input edges) and a Hebbian and a predictive-coding conv.
const layersGenotype = "Genotype(normal=[('sep_conv_3x3:fa', 0), ('max_pool_3x3:fa', 1), ('skip_connect:usf', 0), " +
	"('dil_conv_3x3:fa', 2), ('sep_conv_5x5:usf', 1), ('avg_pool_3x3:fa', 0), ('conv_3x3:hebb', 0), ('dil_conv_5x5:brsf', 4)], " +
	"normal_concat=[2, 3, 4, 5], reduce=[('skip_connect:fa', 0), ('sep_conv_3x3:fa', 1), ('skip_connect:usf', 2), " +
	"('max_pool_3x3:fa', 1), ('dil_conv_5x5:fa', 0), ('sep_conv_3x3:frsf', 3), ('conv_3x3:pc', 0), ('dil_conv_3x3:brsf', 4)], " +
	"reduce_concat=[2, 3, 4, 5])"

// TestEngineLayersSayWhereTheySit checks what the rule editor is told
// about each layer: its cell's kind, its edge as the genotype draws it,
// its part, and selectors that the engine accepts (the names a user reads
// are the names a user can type).
func TestEngineLayersSayWhereTheySit(t *testing.T) {
	g, err := search.ParseGenotype(layersGenotype)
	if err != nil {
		t.Fatal(err)
	}
	layers := lab.Engine(lab.EngineOptions{}).Layers
	ctx := context.Background()
	spec := lab.Spec{Kind: lab.KindTrain, Preset: "mnist-tiny", C: 4, Cells: 5}
	ls, err := layers(ctx, g, spec)
	if err != nil {
		t.Fatal(err)
	}
	cells := map[int]bool{}
	for _, l := range ls {
		if l.Cell < 0 {
			if l.Reduce || l.Edge != "" || l.FromTo != "" || l.Part != "" {
				t.Errorf("%s outside the cells: %+v", l.Name, l)
			}
			continue
		}
		cells[l.Cell] = l.Reduce
		if want := l.Cell == 5/3 || l.Cell == 2*5/3; l.Reduce != want {
			t.Errorf("%s: reduce %v, want %v", l.Name, l.Reduce, want)
		}
		if !strings.HasPrefix(l.Name, fmt.Sprintf("cells.%d.", l.Cell)) {
			t.Errorf("%s is in cell %d", l.Name, l.Cell)
		}
		if l.Edge == "" {
			if !strings.HasPrefix(l.Part, "pre") || l.FromTo != "" {
				t.Errorf("%s: a preprocessing layer with part %q, edge %q", l.Name, l.Part, l.FromTo)
			}
			continue
		}
		var ci, ei int
		if _, err := fmt.Sscanf(l.Edge, "cell%d.edge%d", &ci, &ei); err != nil || ci != l.Cell {
			t.Fatalf("%s: edge selector %q", l.Name, l.Edge)
		}
		cg := g.Normal
		if l.Reduce {
			cg = g.Reduce
		}
		e := cg.Edges[ei]
		if want := fmt.Sprintf("%d→%d", e.From, e.To); l.FromTo != want || l.Op != string(e.Op) {
			t.Errorf("%s: %s %s, want the genotype's edge %d: %s %s", l.Name, l.FromTo, l.Op, ei, want, e.Op)
		}
		if want := fmt.Sprintf("cells.%d.edge%d.op.%s", l.Cell, ei, l.Part); l.Name != want || l.Part == "" {
			t.Errorf("%s: part %q", l.Name, l.Part)
		}
		if e.Op.ParameterFree() && (e.Op != search.OpSkip || !l.Reduce || e.From >= 2) {
			t.Errorf("%s: a %s edge without parameters listed as a rule layer", l.Name, e.Op)
		}
	}
	if len(cells) != 5 {
		t.Fatalf("layers of %d cells, want 5", len(cells))
	}

	// Every selector shown (a layer's name, its edge, its cell) switches
	// that layer and is what a saved run.json edit says.
	for _, l := range ls {
		if !l.Rule.IsFeedback() {
			continue // hebb and pc layers: their rule is their kind
		}
		sels := []string{l.Name}
		if l.Edge != "" {
			sels = append(sels, l.Edge)
		}
		if l.Cell >= 0 {
			sels = append(sels, fmt.Sprintf("cell%d", l.Cell))
		}
		for _, sel := range sels {
			r := rule.DFA
			if l.Rule == r {
				r = rule.FRSF
			}
			s := spec
			s.Edits = []lab.RuleEdit{{Selector: sel, Rule: r}}
			got, err := layers(ctx, g, s)
			if err != nil {
				t.Fatalf("selector %q: %v", sel, err)
			}
			for _, x := range got {
				if x.Name == l.Name && x.Rule != r {
					t.Errorf("selector %q left %s on %s", sel, x.Rule, x.Name)
				}
			}
		}
	}
}

// TestEngineSearchReportsAlphasWithinTheFirstEpoch runs a tiny real search
// and watches the lab's bus: architecture weights arrive during epoch 0,
// after steps, not only at epoch boundaries.
func TestEngineSearchReportsAlphasWithinTheFirstEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a (tiny) supernet")
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sub := l.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bio",
		Epochs: 2, Subset: 64, BatchSize: 8, C: 2, Cells: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := l.WaitRun(ctx, info.ID); err != nil {
			t.Error(err)
		}
	}()
	var within []int
	collect := func() {
		for _, e := range sub.Drain().Events {
			if e.Kind == lab.EventAlphas && e.Alphas != nil && e.Alphas.Epoch == 0 && e.Alphas.Step > 0 {
				within = append(within, e.Alphas.Step)
			}
		}
	}
	for running := true; running; {
		select {
		case <-sub.C():
		case <-done:
			running = false
		}
		collect()
	}
	collect()
	if len(within) == 0 {
		t.Fatal("no alphas during epoch 0 after a step: the heatmap would wait for the epoch's end")
	}
	snap, err := l.Snapshot(info.ID)
	if err != nil || snap.Info.Status != lab.StatusDone || snap.Alphas == nil || snap.Alphas.Epoch != 2 {
		t.Fatalf("final snapshot: %v %+v", err, snap.Alphas)
	}
}
