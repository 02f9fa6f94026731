package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// The PyTorch CPU reference of the supernet step
// (../shared/bench/RESULTS.md §3c, "×4 rules", 3×32×32, 2 threads), used
// when no same-run figure is given (--torch-ms): the dev VMs drift, so a
// ratio worth quoting comes from PyTorch timed in the same run
// (scripts/bench/compare_torch.py supernet).
const (
	benchRefStepMs  = 21800.0
	benchRefPeakGiB = 17.7
	benchTargetTime = 0.4 // ≤ 0.4× PyTorch's step time
	benchTargetGiB  = 2.0 // ≤ 2 GiB peak
)

// benchReport is the JSON line of `bionas bench supernet --json`.
type benchReport struct {
	Kind         string    `json:"kind"` // "summary"
	Bench        string    `json:"bench"`
	C            int       `json:"c"`
	Cells        int       `json:"cells"`
	Batch        int       `json:"batch"`
	Input        [3]int    `json:"input"`
	Space        string    `json:"space"`
	Pairs        int       `json:"pairs"`
	Recompute    bool      `json:"recompute"`
	Params       int       `json:"params"`
	Steps        int       `json:"steps"`
	MsPerStep    float64   `json:"ms_per_step"`
	MsAll        []float64 `json:"ms_all"`
	ImagesPerSec float64   `json:"images_per_sec"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
	PeakRSSGiB   float64   `json:"peak_rss_gib"`
	RefMs        float64   `json:"ref_ms_per_step"`
	RefGiB       float64   `json:"ref_peak_gib"`
	TimeRatio    float64   `json:"time_ratio"`
	MemRatio     float64   `json:"mem_ratio"`
	MeetsTime    bool      `json:"meets_time_target"`
	MeetsMemory  bool      `json:"meets_memory_target"`
	GOMAXPROCS   int       `json:"gomaxprocs"`
	// FaultsPerStep is the median number of minor page faults of a timed
	// step: memory the step maps afresh instead of reusing.
	FaultsPerStep float64 `json:"faults_per_step"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: bionas bench supernet [flags]   (bionas bench supernet --help for its flags)")
			return flag.ErrHelp
		}
		return fmt.Errorf("bench: name a benchmark: supernet (bionas bench supernet [flags])")
	}
	if args[0] != "supernet" {
		return fmt.Errorf("bench: unknown benchmark %q: want supernet", args[0])
	}
	fs := flag.NewFlagSet("bench supernet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas bench supernet [flags]\n\nTimes one supernet training step (forward, cross-entropy, backward to the\nweights and the alphas, SGD) on the PyTorch reference's configuration and\nreports peak memory (VmHWM) and page faults, with the ratios to PyTorch's\nstep (--torch-ms, --torch-gib; default the reference's 21.8 s / 17.7 GiB).\nscripts/bench/compare_torch.py alternates it with PyTorch itself.\n\nFlags:")
		fs.PrintDefaults()
	}
	steps := fs.Int("steps", 2, "timed steps, after one untimed warm-up step")
	batch := fs.Int("batch", 64, "batch size")
	c := fs.Int("c", 16, "initial channels")
	cells := fs.Int("cells", 5, "cells")
	size := fs.Int("size", 32, "image height and width")
	channels := fs.Int("channels", 3, "image channels")
	spaceName := fs.String("space", "bio", "search space: "+strings.Join(search.SpaceNames(), ", "))
	recompute := fs.Bool("recompute", true, "recompute mixed ops in the backward pass (needed to fit 4 GiB)")
	seed := fs.Uint64("seed", 1, "random seed")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on stdout")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the timed steps to this file")
	memProfile := fs.String("memprofile", "", "write a pprof allocation profile (all steps) to this file")
	refMs := fs.Float64("torch-ms", benchRefStepMs, "PyTorch's step time to compare with, in ms (measured in the same run)")
	refGiB := fs.Float64("torch-gib", benchRefPeakGiB, "PyTorch's peak memory to compare with, in GiB")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench supernet: unexpected argument %q", fs.Arg(0))
	}
	if *refMs <= 0 || *refGiB <= 0 {
		return fmt.Errorf("bench supernet: --torch-ms %g and --torch-gib %g: want positive numbers", *refMs, *refGiB)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"steps", *steps}, {"batch", *batch}, {"c", *c}, {"cells", *cells}, {"size", *size}, {"channels", *channels}} {
		if f.v <= 0 {
			return fmt.Errorf("bench supernet: --%s %d: want a positive number", f.name, f.v)
		}
	}
	space, err := search.SpaceByName(*spaceName)
	if err != nil {
		return fmt.Errorf("bench supernet: --space: %w", err)
	}
	net, err := search.NewSupernet(search.SupernetConfig{C: *c, Cells: *cells, Classes: 10, InChannels: *channels,
		Space: space, Recompute: *recompute, Seed: *seed})
	if err != nil {
		return fmt.Errorf("bench supernet: %w", err)
	}
	rng := rand.New(rand.NewPCG(*seed, 7))
	x := nn.New(*batch, *channels, *size, *size)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	y := make([]int, *batch)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	weights := net.Weights()
	opt := nn.NewSGD(weights, nn.SGDConfig{LR: 0.025, Momentum: 0.9, WeightDecay: 3e-4})
	step := func(i int) {
		g := net.StepGraph(rand.New(rand.NewPCG(*seed, uint64(i))))
		defer g.Release()
		logits := net.Forward(g, x)
		g.SetOutput(logits)
		loss := g.CrossEntropy(logits, y, 0)
		g.Backward(loss)
		opt.Step()
		opt.ZeroGrad()
		for _, a := range net.Alphas() {
			a.T.ZeroGrad()
		}
	}
	params := 0
	for _, w := range weights {
		params += w.T.Len()
	}
	desc := fmt.Sprintf("C=%d, %d cells, batch %d, %d×%d×%d, %s space (%d pairs), recompute %s, %.2fM weights",
		*c, *cells, *batch, *channels, *size, *size, space.Name, space.Len(), onOff(*recompute), float64(params)/1e6)
	fmt.Fprintf(stderr, "bench supernet: %s\n", desc)
	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return fmt.Errorf("bench supernet: --cpuprofile: %w", err)
		}
		defer prof.Close()
	}
	start := time.Now()
	total := *steps + 1
	var ms, faults []float64
	for i := range total {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench supernet: interrupted")
		}
		label := "warm-up"
		if i > 0 {
			label = "timing "
		}
		progress(stderr, "bench "+label, i, total, start, "")
		if i == 1 && prof != nil {
			if err := pprof.StartCPUProfile(prof); err != nil {
				return fmt.Errorf("bench supernet: --cpuprofile %s: %w", *cpuProfile, err)
			}
			defer pprof.StopCPUProfile()
		}
		f0 := minorFaults()
		t0 := time.Now()
		step(i)
		if i > 0 {
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
			faults = append(faults, float64(minorFaults()-f0))
		}
	}
	progress(stderr, "bench done   ", total, total, start, "")
	if *memProfile != "" {
		if err := writeAllocs(*memProfile); err != nil {
			return fmt.Errorf("bench supernet: --memprofile: %w", err)
		}
	}
	runtime.KeepAlive(net)
	med := median(ms)
	hwm, err := peakRSS()
	if err != nil {
		fmt.Fprintf(stderr, "bench supernet: peak memory unavailable: %v\n", err)
	}
	gib := float64(hwm) / (1 << 30)
	rep := benchReport{Kind: "summary", Bench: "supernet", C: *c, Cells: *cells, Batch: *batch, Input: [3]int{*channels, *size, *size},
		Space: space.Name, Pairs: space.Len(), Recompute: *recompute, Params: params, Steps: *steps, MsPerStep: med, MsAll: ms,
		ImagesPerSec: float64(*batch) / (med / 1000), PeakRSSBytes: hwm, PeakRSSGiB: gib,
		RefMs: *refMs, RefGiB: *refGiB, TimeRatio: med / *refMs, MemRatio: gib / *refGiB,
		MeetsTime: med / *refMs <= benchTargetTime, MeetsMemory: hwm > 0 && gib <= benchTargetGiB, GOMAXPROCS: runtime.GOMAXPROCS(0),
		FaultsPerStep: median(faults)}
	if *asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	fmt.Fprintf(stdout, "supernet training step (%s)\n", desc)
	fmt.Fprintf(stdout, "  time:   %.0f ms/step (median of %d; min %.0f, max %.0f), %.1f images/s, GOMAXPROCS %d\n",
		med, len(ms), slices.Min(ms), slices.Max(ms), rep.ImagesPerSec, rep.GOMAXPROCS)
	fmt.Fprintf(stdout, "  memory: peak RSS %.2f GiB (VmHWM), %.0f page faults/step\n", gib, rep.FaultsPerStep)
	fmt.Fprintf(stdout, "  vs PyTorch CPU (%.1f s/step, %.1f GiB): time %.2f× (target ≤ %.1f×: %s), memory %.2f× (target ≤ %.0f GiB: %s)\n",
		*refMs/1000, *refGiB, rep.TimeRatio, benchTargetTime, passFail(rep.MeetsTime), rep.MemRatio, benchTargetGiB, passFail(rep.MeetsMemory))
	return nil
}

// writeAllocs writes the allocation profile to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// A heap profile is as of the last collection, which with a large,
	// pooled heap can be steps ago: collect now so it covers the run.
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func passFail(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// peakRSS returns the process's peak resident set size (VmHWM of
// /proc/self/status) in bytes.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmHWM line %q", line)
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM line %q: %w", line, err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
