package search

import (
	"strings"
	"testing"
	"time"
)

func TestPresets(t *testing.T) {
	for _, name := range PresetNames() {
		p, err := PresetByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != name {
			t.Errorf("preset %q is named %q", name, p.Name)
		}
		for method, c := range map[string]DARTSConfig{"darts": p.DARTS, "darts2": p.DARTS2, "pcdarts": p.PCDARTS} {
			d := c.withDefaults()
			if d.Epochs <= 0 || d.BatchSize <= 0 || d.LR <= 0 || d.Supernet.C <= 0 {
				t.Errorf("%s/%s: incomplete config %+v", name, method, d)
			}
			if (method == "pcdarts") != (c.Supernet.PartialChannels > 1) {
				t.Errorf("%s/%s: partial channels %d", name, method, c.Supernet.PartialChannels)
			}
		}
		if e := p.EGNAS.withDefaults(); e.Population < 2 || e.Samples < 1 || e.Generations < 1 || e.FitnessWeight != 0.4 {
			t.Errorf("%s/egnas: %+v", name, e)
		}
		if p.Network.C <= 0 || p.Network.Layers <= 0 || p.Train.Epochs <= 0 {
			t.Errorf("%s: retraining %+v %+v", name, p.Network, p.Train)
		}
	}
	paper, _ := PresetByName("paper")
	if d := paper.DARTS.withDefaults(); d.Epochs != 50 || d.BatchSize != 256 || d.LR != 0.1 || d.LRMin != 0 || !d.Nesterov ||
		d.Supernet.C != 16 || d.Supernet.Cells != 5 || d.Momentum != 0.9 || d.WeightDecay != 3e-4 || d.ArchLR != 3e-4 {
		t.Errorf("paper DARTS settings are not Table 6's: %+v", d)
	}
	if tr := paper.Train.withDefaults(); tr.Epochs != 600 || tr.BatchSize != 96 || tr.LR != 0.025 || tr.AuxWeight != 0.4 ||
		tr.DropPath != 0.2 || tr.GradClip != 5 || paper.Network.C != 36 || paper.Network.Layers != 20 || !paper.Network.Auxiliary {
		t.Errorf("paper retraining settings are not §3.4's: %+v %+v", tr, paper.Network)
	}
	if _, err := PresetByName("huge"); err == nil || !strings.Contains(err.Error(), "quick, paper") {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestDropEmitterNeverBlocks(t *testing.T) {
	ch := make(chan Event, 2)
	emit := DropEmitter(ch)
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			emit(Event{Kind: EventStep, Step: i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("DropEmitter blocked on a full channel")
	}
	if len(ch) != 2 || (<-ch).Step != 0 {
		t.Fatal("the first events should have been kept")
	}
}
