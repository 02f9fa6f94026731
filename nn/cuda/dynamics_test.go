//go:build cuda

package cuda

import (
	"context"
	"math"
	"reflect"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// TestResidentTrainDynamics: a device retraining with dynamics probes (the
// network visits the host for each probe and goes back) ends with the
// very weights, buffers and history of the same retraining without
// probes, and its probe at initialisation is the CPU run's.
func TestResidentTrainDynamics(t *testing.T) {
	d := openOrSkip(t).Resident()
	ds := data.Synthetic(data.SyntheticConfig{N: 48, C: 3, H: 8, W: 8, Classes: 10, Seed: 4})
	run := func(dev nn.Device, dyn *search.DynamicsConfig) (*search.Network, *search.TrainResult, []search.Dynamics) {
		net := residentNet(t)
		var probes []search.Dynamics
		res, err := search.Train(context.Background(), net, search.TrainConfig{Epochs: 1, BatchSize: 8, StepsPerEpoch: 2,
			EvalLimit: 8, LR: 0.05, DropPath: 0.2, Seed: 3, RunControl: search.RunControl{Device: dev},
			Dynamics: dyn, OnDynamics: func(p search.Dynamics) { probes = append(probes, p) }}, ds, ds)
		if err != nil {
			t.Fatal(err)
		}
		return net, res, probes
	}
	dyn := &search.DynamicsConfig{Batches: 2, BatchSize: 8}
	plainNet, plain, _ := run(d, nil)
	probedNet, probed, probes := run(d, dyn)
	_, _, cpuProbes := run(nil, dyn)
	for _, h := range [][]search.EpochStats{plain.History, probed.History} {
		for i := range h {
			h[i].Seconds = 0 // the only field allowed to differ
		}
	}
	if !reflect.DeepEqual(plain.History, probed.History) {
		t.Fatalf("history with probes %+v, without %+v", probed.History, plain.History)
	}
	a, b := append(plainNet.Params(), plainNet.Buffers()...), append(probedNet.Params(), probedNet.Buffers()...)
	for i := range a {
		va, vb := a[i].T.Values(), b[i].T.Values()
		for j := range va {
			if math.Float32bits(va[j]) != math.Float32bits(vb[j]) {
				t.Fatalf("%s[%d]: %v without probes, %v with", a[i].Name, j, va[j], vb[j])
			}
		}
	}
	if len(probes) != 2 || len(cpuProbes) != 2 {
		t.Fatalf("%d device probes, %d cpu probes, want 2", len(probes), len(cpuProbes))
	}
	// At initialisation both runs probe the same network on the host.
	p0, c0 := probes[0], cpuProbes[0]
	for i, l := range p0.Layers {
		c := c0.Layers[i]
		same := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
		if l.Name != c.Name || !same(l.GradVar, c.GradVar) || !same(l.AngleBW, c.AngleBW) || !same(l.AngleGrad, c.AngleGrad) ||
			!same(l.Kurtosis, c.Kurtosis) {
			t.Fatalf("layer %s: device run's probe %+v, cpu run's %+v", l.Name, l, c)
		}
	}
}
