//go:build cuda

package cuda

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// The searches on a device-resident supernet: each method runs the same
// steps on the CPU and on the device (search.DARTSConfig.Device,
// EGNASConfig.Device) and must reach the same alphas and validation loss.
// The space is small (every kind of unit: none, a pool, skip, a separable
// conv with a kernel-built B and one with a drawn B) so that the emulator
// runs each search in seconds.

func searchSpace(t *testing.T) search.Space {
	t.Helper()
	s, err := search.NewSpace("resident", []search.Op{search.OpNone, search.OpMaxPool, search.OpSkip, search.OpSep3},
		[]rule.Rule{rule.USF, rule.BRSF})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func searchNet(t *testing.T, recompute bool, k int) search.SupernetConfig {
	return search.SupernetConfig{C: 4, Cells: 3, Steps: 1, Multiplier: 1, StemMultiplier: 1, Space: searchSpace(t),
		Recompute: recompute, PartialChannels: k}
}

// searchData is 16 synthetic 3×8×8 images of 4 classes, split in halves.
func searchData(t *testing.T) (train, val data.Dataset) {
	t.Helper()
	ds := data.Synthetic(data.SyntheticConfig{N: 16, C: 3, H: 8, W: 8, Classes: 4, Seed: 5})
	ti, vi := data.SearchSplit(ds)
	return data.Subset(ds, ti), data.Subset(ds, vi)
}

// compareResults checks alphas (raw) and the validation loss.
func compareResults(t *testing.T, what string, got, want *search.Result) {
	t.Helper()
	if e := RelErr([]float32{float32(got.ValLoss)}, []float32{float32(want.ValLoss)}); e > Tolerance {
		t.Errorf("%s: validation loss %v on the device, %v on the cpu", what, got.ValLoss, want.ValLoss)
	}
	flat := func(r *search.Result) []float32 {
		var out []float32
		for _, rows := range [][][]float32{r.Alphas.RawNormal, r.Alphas.RawReduce} {
			for _, row := range rows {
				out = append(out, row...)
			}
		}
		return out
	}
	if e := RelErr(flat(got), flat(want)); e > Tolerance {
		t.Errorf("%s: alphas after the search: relative error %.3g", what, e)
	}
	if got.Genotype.String() != want.Genotype.String() {
		t.Errorf("%s: genotype %s on the device, %s on the cpu", what, got.Genotype, want.Genotype)
	}
}

// ranOn runs f and fails t unless f copied to and from d (a run that
// never touched the device would not); it returns the copies made.
func ranOn(t *testing.T, d *Resident, what string, f func()) (up, down int64) {
	t.Helper()
	up0, down0 := d.Copies()
	f()
	up, down = d.Copies()
	up, down = up-up0, down-down0
	if up == 0 || down == 0 {
		t.Errorf("%s: the device run made %d uploads and %d downloads: it did not run there", what, up, down)
	}
	return up, down
}

func TestResidentDARTSMatchesCPU(t *testing.T) {
	d := openOrSkip(t).Resident()
	train, val := searchData(t)
	for _, tc := range []struct {
		name      string
		unrolled  bool
		recompute bool
		k         int
	}{
		{"darts", false, false, 1},
		{"darts2", true, false, 1},
		{"pcdarts recompute", false, true, 2},
	} {
		run := func(dev nn.Device) *search.Result {
			cfg := search.DARTSConfig{
				Supernet:   searchNet(t, tc.recompute, tc.k),
				Unrolled:   tc.unrolled,
				Epochs:     1,
				BatchSize:  4,
				ArchLR:     0.05,
				Seed:       9,
				RunControl: search.RunControl{Device: dev},
			}
			res, err := search.DARTS(context.Background(), cfg, train, val)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			return res
		}
		want := run(nil)
		var got *search.Result
		up, down := ranOn(t, d, tc.name, func() { got = run(d) })
		t.Logf("%s: val loss %.6f (cpu %.6f), %d uploads, %d downloads", tc.name, got.ValLoss, want.ValLoss, up, down)
		compareResults(t, tc.name, got, want)
	}
}

func TestResidentEGNASMatchesCPU(t *testing.T) {
	d := openOrSkip(t).Resident()
	train, val := searchData(t)
	run := func(dev nn.Device) *search.Result {
		cfg := search.EGNASConfig{
			Supernet:    searchNet(t, true, 1),
			Epochs:      1,
			BatchSize:   4,
			ArchBatch:   4,
			Warmup:      -1,
			Samples:     1,
			Population:  3,
			Generations: 1,
			Seed:        4,
			RunControl:  search.RunControl{Device: dev},
		}
		res, err := search.EGNAS(context.Background(), cfg, train, val)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := run(nil)
	var got *search.Result
	ranOn(t, d, "egnas", func() { got = run(d) })
	compareResults(t, "egnas", got, want)
}

// deviceSupernet builds the small test supernet (4 classes, 3 channels)
// and moves its weights, buffers and alphas to d.
func deviceSupernet(t *testing.T, d nn.Device, recompute bool) *search.Supernet {
	t.Helper()
	cfg := searchNet(t, recompute, 1)
	cfg.Classes, cfg.InChannels, cfg.Seed = 4, 3, 3
	s, err := search.NewSupernet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MoveTo(d); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResidentRecomputeMatchesTaped: on the device, a supernet step with
// recomputation gives the loss and every weight and α gradient of the
// taped step, and leaves the BatchNorm running statistics the same.
func TestResidentRecomputeMatchesTaped(t *testing.T) {
	d := openOrSkip(t).Resident()
	x, y := batch(4, 4, 3, 8, 8, 4)
	step := func(recompute bool) (float32, map[string][]float32) {
		s := deviceSupernet(t, d, recompute)
		g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
		defer g.Release()
		logits := s.Forward(g, g.ToDevice(x, d))
		g.SetOutput(logits)
		loss := g.CrossEntropy(logits, y, 0)
		g.Backward(loss)
		out := map[string][]float32{}
		for _, p := range append(append(s.Params(), s.Alphas()...), s.Buffers()...) {
			if v := p.T.GradValues(); v != nil {
				out[p.Name+" grad"] = v
			}
			out[p.Name] = p.T.Values()
		}
		return loss.Values()[0], out
	}
	wantLoss, want := step(false)
	gotLoss, got := step(true)
	if e := RelErr([]float32{gotLoss}, []float32{wantLoss}); e > Tolerance {
		t.Errorf("loss %v with recomputation, %v taped", gotLoss, wantLoss)
	}
	for name, w := range want {
		if e := RelErr(got[name], w); e > Tolerance {
			t.Errorf("%s: relative error %.3g between recomputed and taped", name, e)
		}
	}
	t.Logf("recomputed vs taped on the device: %d tensors compared", len(want))
}

// TestResidentSupernetWarmStep: once warm, a supernet step with
// recomputation (forward, backward, clipping, SGD) gets all its device
// memory from the cache: no driver allocation.
func TestResidentSupernetWarmStep(t *testing.T) {
	d := openOrSkip(t).Resident()
	s := deviceSupernet(t, d, true)
	opt := nn.NewSGD(s.Weights(), nn.SGDConfig{LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4})
	x, y := batch(4, 4, 3, 8, 8, 4)
	step := func(i int) {
		opt.ZeroGrad()
		g := nn.NewGraph(true, rand.New(rand.NewPCG(1, uint64(i))))
		defer g.Release()
		logits := s.Forward(g, g.ToDevice(x, d))
		g.SetOutput(logits)
		g.Backward(g.CrossEntropy(logits, y, 0))
		nn.ClipGradNorm(nn.Tensors(s.Weights()), 5)
		opt.Step()
	}
	step(0)
	step(1)
	m0 := d.Memory()
	d.ResetPeak()
	step(2)
	m := d.Memory()
	if m.Mallocs != m0.Mallocs {
		t.Errorf("a warm supernet step asked the driver for memory %d times (want 0)", m.Mallocs-m0.Mallocs)
	}
	t.Logf("warm supernet step: %d driver allocations in all, %d bytes reserved, peak in use %d bytes (weights and state: %d)", m.Mallocs, m.Reserved, m.Peak, m0.InUse)
}

// TestResidentRefusesHebbAndPC: a search over a space with hebb or pc
// pairs, or a training of a genotype using them, is refused before it
// starts on a device, naming the layer and the rule.
func TestResidentRefusesHebbAndPC(t *testing.T) {
	d := openOrSkip(t).Resident()
	train, val := searchData(t)
	space, err := search.NewSpace("hp", []search.Op{search.OpConv3}, []rule.Rule{rule.Hebb, rule.PC})
	if err != nil {
		t.Fatal(err)
	}
	cfg := search.DARTSConfig{
		Supernet:   search.SupernetConfig{C: 4, Cells: 3, Steps: 1, Multiplier: 1, StemMultiplier: 1, Space: space},
		Epochs:     1,
		BatchSize:  4,
		Seed:       1,
		RunControl: search.RunControl{Device: d},
	}
	_, err = search.DARTS(context.Background(), cfg, train, val)
	if err == nil || !strings.Contains(err.Error(), "has no kernels for "+d.Name()) {
		t.Errorf("DARTS over hebb/pc on the device: error %v, want one naming the layer and the device", err)
	}
	gt, err := search.ParseGenotype("Genotype(normal=[('conv_3x3:hebb', 0), ('skip_connect:bp', 1)], normal_concat=[2], reduce=[('conv_3x3:pc', 0), ('skip_connect:bp', 1)], reduce_concat=[2])")
	if err != nil {
		t.Fatal(err)
	}
	net, err := search.NewNetwork(search.NetworkConfig{C: 4, Layers: 3, Classes: 4, InChannels: 3, ImageSize: 8, Genotype: gt, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = search.Train(context.Background(), net, search.TrainConfig{Epochs: 1, BatchSize: 4, RunControl: search.RunControl{Device: d}}, train, val)
	if err == nil || !strings.Contains(err.Error(), "(rule hebb) has no kernels for "+d.Name()) {
		t.Errorf("Train of a hebb genotype on the device: error %v, want one naming the layer and the device", err)
	}
}

// TestResidentSearchResumes: a device search stopped after its first epoch
// (its checkpoint written from device tensors) and resumed on the device
// ends where an uninterrupted CPU search ends.
func TestResidentSearchResumes(t *testing.T) {
	d := openOrSkip(t).Resident()
	train, val := searchData(t)
	cfg := func(dev nn.Device, dir string) search.DARTSConfig {
		return search.DARTSConfig{
			Supernet:   searchNet(t, true, 1),
			Epochs:     2,
			BatchSize:  8,
			ArchLR:     0.05,
			Seed:       9,
			RunControl: search.RunControl{Device: dev, CheckpointDir: dir},
		}
	}
	want, err := search.DARTS(context.Background(), cfg(nil, ""), train, val)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	first := cfg(d, dir)
	first.Emit = func(e search.Event) {
		if e.Kind == search.EventEpoch {
			cancel() // after epoch 0's event; its checkpoint is still written
		}
	}
	if _, err := search.DARTS(ctx, first, train, val); err == nil {
		t.Fatal("the stopped search returned no error")
	}
	again := cfg(d, dir)
	again.Resume = true
	got, err := search.DARTS(context.Background(), again, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if got.ResumedAt != 1 {
		t.Errorf("resumed at epoch %d, want 1", got.ResumedAt)
	}
	compareResults(t, "darts resumed on the device", got, want)
}
