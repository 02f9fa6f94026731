package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bionaslab/bionas/lab"
)

// runJob is `bionas job run DIR`: what an executor's job runs on a compute
// node. It runs the run of one run folder, exactly as its run.json says,
// into that folder, from its checkpoint if it has one; the lab that
// submitted it follows it by reading the folder.
func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: bionas job run [--data-dir DIR] [--device cpu|cuda[:N]] [--flush-interval 1s] [--json] RUN_FOLDER\n\nRun the run of RUN_FOLDER (<lab>/runs/<id>, with its run.json) in this process, into that\nfolder, going on from its checkpoint if it has one: what a Slurm job of the lab runs on a\ncompute node (the lab writes the job's script, slurm.sh, into the folder). It refuses a\nfolder that another live job or lab holds, and a run that is done.")
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return errors.New("job: want a subcommand: run")
		}
		return nil
	}
	if args[0] != "run" {
		usage(stderr)
		return fmt.Errorf("job: unknown subcommand %q (want run)", args[0])
	}
	fs := flag.NewFlagSet("bionas job run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fmt.Fprintln(stderr, "\nFlags:"); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", "", "datasets folder (default: each dataset's default place)")
	devFlag := fs.String("device", "", "where the run computes: cpu or cuda[:N] (default: the device its spec records)")
	flush := fs.Duration("flush-interval", time.Second, "how often the run's files are written while it runs (what a following lab sees, how fresh)")
	asJSON := fs.Bool("json", false, "print the run's final record as one JSON line on stdout")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("job run: want one run folder, got %d arguments (see bionas job run --help)", fs.NArg())
	}
	if *flush <= 0 {
		return fmt.Errorf("job run: --flush-interval %v: want a positive duration such as 1s", *flush)
	}
	dir := fs.Arg(0)
	// The device: the flag, else the one the run's spec records.
	want := *devFlag
	if want == "" {
		var info lab.RunInfo
		if b, err := os.ReadFile(filepath.Join(dir, lab.FileRun)); err == nil && json.Unmarshal(b, &info) == nil {
			want = info.Spec.Device
		}
	}
	dev := &deviceSpec{}
	if want != "" {
		d, err := parseDevice(want)
		if err != nil {
			return fmt.Errorf("job run: %w", err)
		}
		*dev = d
	}
	_, release, err := dev.use("job run", stderr)
	if err != nil {
		return err
	}
	defer release()
	info, err := lab.RunJob(ctx, dir, lab.JobOptions{Backend: lab.Engine(dev.engineOptions(*dataDir)), FlushInterval: *flush})
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(info)
		fmt.Fprintln(stdout, string(b))
	}
	fmt.Fprintf(stderr, "bionas job run: %s %s%s\n", info.ID, info.Status, map[bool]string{true: ": " + info.Error, false: ""}[info.Error != ""])
	switch info.Status {
	case lab.StatusDone:
		return nil
	case lab.StatusInterrupted:
		return fmt.Errorf("job run: run %s interrupted: %s (it resumes from its checkpoint)", info.ID, info.Error)
	}
	return fmt.Errorf("job run: run %s %s: %s", info.ID, info.Status, info.Error)
}
