package search

import (
	"bufio"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bionaslab/bionas/nn"
)

// benchStep is one supernet training step as the PyTorch reference times it
// (../shared/bench/py/torch_darts.py): forward, cross-entropy, backward to
// the weights and the alphas, SGD step on the weights.
type benchStep struct {
	s   *Supernet
	x   *nn.Tensor
	y   []int
	opt *nn.SGD
}

func newBenchStep(tb testing.TB, cfg SupernetConfig, batch, h int) *benchStep {
	tb.Helper()
	s, err := NewSupernet(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	x := nn.New(batch, s.Cfg.InChannels, h, h)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(s.Cfg.Classes)
	}
	return &benchStep{s: s, x: x, y: y, opt: nn.NewSGD(s.Weights(), nn.SGDConfig{LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4})}
}

func (b *benchStep) run() float32 {
	g := nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
	logits := b.s.Forward(g, b.x)
	g.SetOutput(logits)
	loss := g.CrossEntropy(logits, b.y, 0)
	g.Backward(loss)
	b.opt.Step()
	b.opt.ZeroGrad()
	for _, a := range b.s.Alphas() {
		a.T.ZeroGrad()
	}
	return loss.Data[0]
}

// heapPeak samples the live heap (objects in use) while a benchmark runs.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// cpuTime is the process's user+system CPU time (0 where unavailable).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes, or 0
// where /proc is not available.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func benchmarkSupernetStep(b *testing.B, cfg SupernetConfig, batch, h int) {
	st := newBenchStep(b, cfg, batch, h)
	st.run() // warm-up: first-touch allocations, momentum buffers
	runtime.GC()
	hp := startHeapPeak()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		st.run()
	}
	el, cpuEl := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	peak := hp.end()
	b.ReportMetric(float64(el.Milliseconds())/float64(b.N), "ms/step")
	// CPU time tells how much work a step is when other processes share
	// the cores and the wall time is inflated.
	if cpuEl > 0 {
		b.ReportMetric(float64(cpuEl.Milliseconds())/float64(b.N), "cpu-ms/step")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if rss := peakRSS(); rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	}
}

// BenchmarkSupernetStep times one training step of the configuration of the
// PyTorch reference (../shared/bench/RESULTS.md §3c "×4 rules"): C=16, 5
// cells (reductions at 1 and 3), batch 64, 3×32×32, the 32-pair bio space,
// with recomputation. PyTorch CPU on the 2-core machine: ~21.8 s per step,
// 17.7 GiB peak RSS. Besides ms/step it reports the CPU time per step (which
// says how much work a step is when other processes share the cores), the
// peak live heap sampled every 20 ms and the process's peak RSS.
func BenchmarkSupernetStep(b *testing.B) {
	benchmarkSupernetStep(b, SupernetConfig{C: 16, Cells: 5, Classes: 10, InChannels: 3, Space: BioSpace(), Recompute: true, Seed: 1}, 64, 32)
}

// BenchmarkSupernetStepSmall is a quick version (a few seconds with its
// warm-up): C=8, 3 cells, batch 16, 1×28×28 (MNIST-shaped), bio space,
// recomputation.
func BenchmarkSupernetStepSmall(b *testing.B) {
	benchmarkSupernetStep(b, SupernetConfig{C: 8, Cells: 3, Classes: 10, InChannels: 1, Space: BioSpace(), Recompute: true, Seed: 1}, 16, 28)
}
