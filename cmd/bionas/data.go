package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bionaslab/bionas/data"
)

// runData implements `bionas data fetch NAME [--dir D]` and
// `bionas data info NAME [--dir D]`.
func runData(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		dataUsage(stderr)
		return errors.New("data: want a subcommand: fetch or info")
	}
	switch args[0] {
	case "-h", "--help", "help":
		dataUsage(stdout)
		return nil
	case "fetch":
		return runDataFetch(ctx, args[1:], stdout, stderr)
	case "info":
		return runDataInfo(ctx, args[1:], stdout, stderr)
	}
	dataUsage(stderr)
	return fmt.Errorf("data: unknown subcommand %q (want fetch or info)", args[0])
}

func dataUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage:")
	fmt.Fprintln(w, "  bionas data fetch NAME [--dir D] [--json]   download a dataset, verify checksums, resume broken downloads")
	fmt.Fprintln(w, "  bionas data info NAME [--dir D] [--json]    counts, shape, class histogram, per-channel mean and std")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Datasets: %s (also imagenet16-N).\n", strings.Join(data.Names(), ", "))
	fmt.Fprintln(w, "Without --dir a dataset lives in $XDG_CACHE_HOME/bionas/NAME; mnist is found in the Go module cache.")
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`fetch cifar10 --dir d` as well as `fetch --dir d
// cifar10`) and returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// dataFlags makes the flag set shared by fetch and info and parses args; it
// returns the dataset name.
func dataFlags(cmd string, args []string, stderr io.Writer) (name, dir string, asJSON bool, err error) {
	fs := flag.NewFlagSet("bionas data "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dir, "dir", "", "dataset folder (default $XDG_CACHE_HOME/bionas/NAME)")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object on stdout")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bionas data %s NAME [--dir D] [--json]\n\nDatasets: %s\n\nFlags:\n",
			cmd, strings.Join(data.Names(), ", "))
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", "", false, err
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", "", false, fmt.Errorf("data %s: want one dataset name, got %d", cmd, len(pos))
	}
	return pos[0], dir, asJSON, nil
}

func runDataFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, dir, asJSON, err := dataFlags("fetch", args, stderr)
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr, "fetch "+name)
	start := time.Now()
	if strings.EqualFold(name, "mnist") && dir == "" {
		// Real MNIST usually sits in the Go module cache already.
		dir, err = data.FindMNIST(ctx, bar.update)
	} else {
		if dir == "" {
			if dir, err = data.DefaultDir(name); err != nil {
				return err
			}
		}
		err = data.Fetch(ctx, name, dir, bar.update)
	}
	bar.finish()
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"dataset": name, "dir": dir, "bytes": bar.done, "seconds": time.Since(start).Seconds()})
	}
	fmt.Fprintf(stdout, "%s: ready in %s\n", name, dir)
	return nil
}

// splitInfo is the summary of one split.
type splitInfo struct {
	Images int       `json:"images"`
	Counts []int     `json:"counts"`
	Mean   []float64 `json:"mean"`
	Std    []float64 `json:"std"`
}

type dataInfo struct {
	Dataset    string               `json:"dataset"`
	Dir        string               `json:"dir,omitempty"`
	Shape      [3]int               `json:"shape"`
	Classes    int                  `json:"classes"`
	ClassNames []string             `json:"class_names"`
	Splits     map[string]splitInfo `json:"splits"`
}

func runDataInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, dir, asJSON, err := dataFlags("info", args, stderr)
	if err != nil {
		return err
	}
	info := dataInfo{Dataset: name, Dir: dir, Splits: map[string]splitInfo{}}
	var order []string
	for _, split := range []string{"train", "test"} {
		if err := ctx.Err(); err != nil {
			return err
		}
		ds, err := data.Open(ctx, name, dir, split == "train")
		if err != nil {
			return fmt.Errorf("data info %s (%s split): %w", name, split, err)
		}
		c, h, w := ds.Shape()
		info.Shape = [3]int{c, h, w}
		info.Classes = ds.Classes()
		info.ClassNames = ds.ClassNames()
		s := data.ComputeStats(ds)
		info.Splits[split] = splitInfo{Images: s.Len, Counts: s.Counts, Mean: s.Mean, Std: s.Std}
		order = append(order, split)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(info)
	}
	fmt.Fprintf(stdout, "dataset  %s\n", name)
	if dir != "" {
		fmt.Fprintf(stdout, "folder   %s\n", dir)
	}
	fmt.Fprintf(stdout, "shape    %d×%d×%d (C×H×W), pixel values in [0,1]\n", info.Shape[0], info.Shape[1], info.Shape[2])
	fmt.Fprintf(stdout, "classes  %d\n", info.Classes)
	for _, split := range order {
		s := info.Splits[split]
		fmt.Fprintf(stdout, "%-8s %d images  mean %s  std %s\n", split, s.Images, floats(s.Mean), floats(s.Std))
	}
	fmt.Fprintln(stdout)
	width := 5
	for _, n := range info.ClassNames {
		width = max(width, len(n))
	}
	fmt.Fprintf(stdout, "%5s  %-*s", "label", width, "class")
	for _, split := range order {
		fmt.Fprintf(stdout, "  %8s", split)
	}
	fmt.Fprintln(stdout)
	for k, n := range info.ClassNames {
		fmt.Fprintf(stdout, "%5d  %-*s", k, width, n)
		for _, split := range order {
			fmt.Fprintf(stdout, "  %8d", info.Splits[split].Counts[k])
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func floats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.4f", x)
	}
	return strings.Join(parts, " ")
}

// progressBar draws a download's progress on one line of stderr: a bar,
// bytes, rate and ETA, at most five times a second.
type progressBar struct {
	w       io.Writer
	label   string
	start   time.Time
	last    time.Time
	done    int64
	printed bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	p.done = done
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done != total {
		return
	}
	p.last = now
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-3)
	const width = 24
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		filled := int(frac * width)
		eta := "--"
		if rate > 0 {
			eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %s/%s %s/s ETA %s ", p.label,
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*frac,
			byteSize(done), byteSize(total), byteSize(int64(rate)), eta)
	} else {
		fmt.Fprintf(p.w, "\r%s %s %s/s ", p.label, byteSize(done), byteSize(int64(rate)))
	}
	p.printed = true
}

func (p *progressBar) finish() {
	if p.printed {
		fmt.Fprintln(p.w)
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
