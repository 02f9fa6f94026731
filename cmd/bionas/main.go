// Command bionas is BioNAS Lab: neural architecture search over
// (operation, learning rule) pairs, with a terminal UI, a headless CLI and
// an SSH server sharing one lab.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/charmbracelet/x/term"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: its name, a one-line summary for the help, and
// the function that runs it with the remaining arguments.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"tui", "open the lab's terminal UI (the default with no command)", runTUI},
		{"serve", "share the lab over SSH (public-key auth)", runServe},
		{"sweep", "start a grid of runs (seeds, spaces, methods, rules, attacks × eps) on the lab's executor, local or Slurm", runSweep},
		{"job", "job run DIR: run one run folder here, as a Slurm job of the lab does on a compute node", runJob},
		{"search", "search a cell over (operation, rule) pairs: darts, darts2, pcdarts, egnas, random", runSearch},
		{"train", "train the network of a genotype, with rule overrides", runTrain},
		{"bench", "time engine workloads (bench supernet)", runBench},
		{"attack", "adversarial robustness of saved models: fgsm, pgd, tpgd, apgd, onepixel, square, transfer", runAttack},
		{"study", "reproduce a claim of the paper with lab runs and a report: rules, robustness, dynamics", runStudy},
		{"export", "export a run's genotype (json, DARTS text, dot) or charts (png, svg), or compare runs' charts", runExport},
		{"data", "fetch datasets and show their statistics", runData},
		{"device", "check and time the CUDA backend against the CPU (needs a -tags cuda build)", runDevice},
		{"demo", "train a small CNN on real MNIST with each learning rule and print the accuracies", runDemo},
		{"version", "print the version", runVersion},
	}
}

// gcPercent is the binary's GOGC unless the environment sets one. The
// engine's heap is mostly pooled float32 buffers (nn.ArenaPool) kept for
// the whole run, and Go's default of 100 lets the heap grow to twice what
// is live before collecting: a long search's peak RSS would settle near
// twice its working set (2.3 GiB for the benchmark supernet's 1.2). The
// buffers hold no pointers, so collecting more often costs little; 25
// keeps the peak near 1.25× the working set.
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bionas:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		if !term.IsTerminal(os.Stdin.Fd()) || !term.IsTerminal(os.Stdout.Fd()) {
			usage(stdout)
			return fmt.Errorf("no terminal to draw the lab on: run bionas in a terminal, or use a command (bionas demo, bionas search, …)")
		}
		return runTUI(ctx, nil, stdout, stderr)
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return nil
	case "-v", "--version":
		return runVersion(ctx, nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q (see bionas --help)", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "BioNAS Lab: architecture search over (operation, learning rule) pairs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: bionas <command> [flags]    (bionas <command> --help for its flags)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "bionas", version)
	return nil
}
