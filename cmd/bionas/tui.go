package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/tui"
)

// defaultLabDir is the lab folder bionas opens when given none.
const defaultLabDir = "bionas-lab"

// labFlags are the flags every command that opens a lab shares.
type labFlags struct {
	dir     string
	dataDir string
	jobs    int
	exec    execFlags
}

func (f *labFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "lab", defaultLabDir, "lab folder (runs are kept in <lab>/runs/<id>/)")
	fs.StringVar(&f.dataDir, "data-dir", "", "datasets folder (default: each dataset's default place; MNIST needs no set-up)")
	fs.IntVar(&f.jobs, "jobs", 1, "runs at a time (the others queue); one already keeps a 2-core CPU busy")
	f.exec.register(fs)
}

// open opens the lab with the engine backend computing on dev, the device
// that dev.use opened (the CPU when it opened none).
func (f *labFlags) open(dev *deviceSpec) (*lab.Lab, error) {
	if f.jobs < 1 {
		return nil, fmt.Errorf("--jobs %d: want at least 1", f.jobs)
	}
	ex, err := f.exec.executor(f.dataDir)
	if err != nil {
		return nil, err
	}
	return lab.Open(lab.Options{Dir: f.dir, MaxConcurrent: f.jobs, Backend: lab.Engine(dev.engineOptions(f.dataDir)),
		Executor: ex, PollInterval: f.exec.poll})
}

// runTUI opens the terminal UI on a lab folder (default ./bionas-lab),
// ready to start the MNIST quick search with one key (s). Quitting stops
// the lab's running jobs; they are kept as interrupted runs that resume
// from their last checkpoint (R in the runs list).
func runTUI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bionas tui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf labFlags
	lf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas [tui] [--lab DIR] [flags]\n\nOpen the lab in the terminal UI: start searches (s: the MNIST quick search),\nwatch them live, edit learning rules and retrain, step attacks.\n\nFlags:")
		fs.PrintDefaults()
	}
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	devName, release, err := dev.use("tui", stderr)
	if err != nil {
		return err
	}
	defer release()
	switch fs.NArg() {
	case 0:
	case 1:
		lf.dir = fs.Arg(0)
	default:
		return fmt.Errorf("tui: want at most one lab folder, got %q", fs.Args())
	}
	l, err := lf.open(dev)
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	shell := tui.New(l, tui.Options{Context: ctx, Device: devName})
	p := tea.NewProgram(shell, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx), tea.WithOutput(stdout))
	_, runErr := p.Run()
	shell.Close()
	var stopped, onCluster []string
	for _, r := range l.Runs() {
		switch {
		case r.Status.Active() && r.Job.Executor != "":
			onCluster = append(onCluster, r.ID)
		case r.Status.Active():
			stopped = append(stopped, r.ID)
		}
	}
	closeErr := l.Close()
	if len(stopped) > 0 {
		fmt.Fprintf(stderr, "bionas: stopped %v; they resume from their last checkpoint (R in the runs list)\n", stopped)
	}
	if len(onCluster) > 0 { // executor jobs belong to the cluster, not to this process
		fmt.Fprintf(stderr, "bionas: %v go on as %s jobs; the lab follows them when it opens again with --executor %s\n",
			onCluster, l.ExecutorName(), l.ExecutorName())
	}
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) && ctx.Err() == nil {
		return fmt.Errorf("tui: %w", runErr)
	}
	if closeErr != nil {
		return fmt.Errorf("tui: close lab: %w", closeErr)
	}
	return nil
}
