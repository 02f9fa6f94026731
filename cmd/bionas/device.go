package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/cuda"
)

// deviceSpec is the value of --device: the CPU, or CUDA GPU Ordinal. It is
// a flag.Value, so every command parses it the same way.
type deviceSpec struct {
	CUDA    bool
	Ordinal int

	// resident is the device-resident engine of the opened device (nil on
	// the CPU): train and attack keep their networks on it.
	resident nn.Device
}

// String is the flag's canonical form: cpu or cuda:N.
func (d *deviceSpec) String() string {
	if d == nil || !d.CUDA {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", d.Ordinal)
}

// Set parses cpu, cuda (GPU 0) or cuda:N.
func (d *deviceSpec) Set(s string) error {
	v, err := parseDevice(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func parseDevice(s string) (deviceSpec, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); {
	case t == "cpu":
		return deviceSpec{}, nil
	case t == "cuda":
		return deviceSpec{CUDA: true}, nil
	case strings.HasPrefix(t, "cuda:"):
		n, err := strconv.Atoi(t[len("cuda:"):])
		if err != nil || n < 0 {
			return deviceSpec{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N with N a GPU number from 0", s)
		}
		return deviceSpec{CUDA: true, Ordinal: n}, nil
	}
	return deviceSpec{}, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}

// deviceFlag registers --device on fs.
func deviceFlag(fs *flag.FlagSet) *deviceSpec {
	d := &deviceSpec{}
	fs.Var(d, "device", "where the engine runs: cpu, or cuda[:N] (needs a bionas built with -tags cuda)")
	return d
}

// open returns the CUDA device of d (nil for the CPU). Without -tags cuda
// it fails with cuda.ErrNotBuilt, which says how to get a CUDA build.
func (d *deviceSpec) open() (*cuda.Device, error) {
	if !d.CUDA {
		return nil, nil
	}
	dev, err := cuda.Open(d.Ordinal)
	if err != nil {
		return nil, fmt.Errorf("--device %s: %w", d, err)
	}
	return dev, nil
}

// use opens the device of --device for a command and returns its
// description and the function that releases it, and says on stderr what
// the command runs there. train keeps its network on d.resident, attack
// its models (onDevice), and tui and serve hand d.resident to the lab's
// engine (engineOptions), whose searches, trainings, retrainings, attack
// runs and attack stepper all compute there.
func (d *deviceSpec) use(cmd string, stderr io.Writer) (string, func(), error) {
	dev, err := d.open()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if dev == nil {
		return "cpu", func() {}, nil
	}
	d.resident = dev.Resident()
	switch {
	case cmd == "train":
		fmt.Fprintf(stderr, "bionas %s: the network lives on %s (training and evaluation; batches go up, losses come back)\n", cmd, dev.Name())
	case strings.HasPrefix(cmd, "attack"):
		fmt.Fprintf(stderr, "bionas %s: the attacked models live on %s (every forward and gradient pass runs there)\n", cmd, dev.Name())
	case cmd == "search":
		fmt.Fprintf(stderr, "bionas %s: the supernet (or random search's networks) lives on %s: steps, evaluation and explorations run there; batches go up, losses, alphas and checkpoints come back\n", cmd, dev.Name())
	case cmd == "tui" || cmd == "serve":
		fmt.Fprintf(stderr, "bionas %s: the lab's runs (search, train, retrain, attack) and the attack stepper compute on %s; networks with hebb or pc rules have no kernels there and fail (use --device cpu for them)\n", cmd, dev.Name())
	default:
		fmt.Fprintf(stderr, "bionas %s: %s opened\n", cmd, dev.Name())
	}
	return d.String(), func() {
		if err := dev.Close(); err != nil {
			fmt.Fprintf(stderr, "bionas %s: %v\n", cmd, err)
		}
	}, nil
}

// engineOptions are the lab engine's options for a lab whose work runs on
// the device use opened (the CPU when it opened none): every job and the
// attack stepper compute there, and run specs record it by its flag name
// ("cpu", "cuda:0").
func (d *deviceSpec) engineOptions(dataDir string) lab.EngineOptions {
	if d.resident == nil { // the CPU, or use was not called: nothing opened
		return lab.EngineOptions{DataDir: dataDir, DeviceName: "cpu"}
	}
	return lab.EngineOptions{DataDir: dataDir, Device: d.resident, DeviceName: d.String()}
}

// onDevice moves a loaded model to the opened device and wraps it so that
// an attack, which works on host images, drives it there; on the CPU it
// returns m itself.
func (d *deviceSpec) onDevice(m attacks.Network) (attacks.Model, error) {
	return nn.Drive(m, d.resident)
}

// runDevice is `bionas device`: info, check and bench of the CUDA backend.
func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: bionas device info  [--device cuda:N]           the GPU and the build")
		fmt.Fprintln(w, "       bionas device check [--device cuda:N] [--json]  every op and rule, GPU vs CPU, and a supernet step")
		fmt.Fprintln(w, "       bionas device bench [--device cuda:N] [--json]  conv shapes, GEMM and a supernet step on the GPU")
	}
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("device: name a subcommand: info, check or bench")
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return flag.ErrHelp
	case "info", "check", "bench":
	default:
		usage(stderr)
		return fmt.Errorf("device: unknown subcommand %q: want info, check or bench", args[0])
	}
	fs := flag.NewFlagSet("device "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := deviceFlag(fs)
	_ = dev.Set("cuda") // the point of these commands is the GPU
	asJSON := fs.Bool("json", false, "print one JSON object per line on stdout")
	seed := fs.Uint64("seed", 1, "random seed of the inputs")
	steps := fs.Int("steps", 3, "timed supernet steps (bench)")
	batch := fs.Int("batch", 64, "supernet batch size (check uses 8 for its comparison, then this for one GPU step)")
	supernet := fs.Bool("supernet", true, "check: also compare a supernet step and run a full-size one")
	c := fs.Int("c", 16, "supernet initial channels")
	cells := fs.Int("cells", 5, "supernet cells")
	size := fs.Int("size", 32, "supernet image height and width")
	recompute := fs.Bool("recompute", true, "recompute the supernet's mixed ops in backward (as searches do; off keeps every tape)")
	retrainBatch := fs.Int("retrain-batch", 96, "bench: batch of the DARTS CIFAR-10 retraining step (C=36, 20 cells)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("device %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"steps", *steps}, {"batch", *batch}, {"c", *c}, {"cells", *cells}, {"size", *size}, {"retrain-batch", *retrainBatch}} {
		if f.v <= 0 {
			return fmt.Errorf("device %s: --%s %d: want a positive number", args[0], f.name, f.v)
		}
	}
	if !dev.CUDA {
		return fmt.Errorf("device %s: --device cpu: these commands compare or time a GPU; use --device cuda[:N]", args[0])
	}
	d, err := dev.open()
	if errors.Is(err, cuda.ErrNotBuilt) {
		return fmt.Errorf("device %s: %w", args[0], err)
	}
	if err != nil {
		return fmt.Errorf("device %s: %w", args[0], err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			fmt.Fprintf(stderr, "bionas device: %v\n", err)
		}
	}()
	opts := deviceRunOptions{JSON: *asJSON, Seed: *seed, Steps: *steps, Batch: *batch, Supernet: *supernet,
		C: *c, Cells: *cells, Size: *size, Recompute: *recompute, RetrainBatch: *retrainBatch}
	switch args[0] {
	case "info":
		fmt.Fprintf(stdout, "%s (bionas %s, CUDA backend built in)\n", d.Name(), version)
		return nil
	case "check":
		return deviceCheck(ctx, d, opts, stdout, stderr)
	default:
		return deviceBench(ctx, d, opts, stdout, stderr)
	}
}

// deviceRunOptions are the flags of device check and bench.
type deviceRunOptions struct {
	JSON     bool
	Seed     uint64
	Steps    int
	Batch    int
	Supernet bool
	// C, Cells and Size shape the supernet (default the bench's 16, 5, 32).
	C, Cells, Size int
	// Recompute recomputes mixed ops in backward; RetrainBatch is the
	// batch of the bench's retraining step.
	Recompute    bool
	RetrainBatch int
}
