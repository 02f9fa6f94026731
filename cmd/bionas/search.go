package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// searchMethodNames lists the values of `bionas search --method`.
func searchMethodNames() string {
	var names []string
	for _, m := range search.Methods() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// datasetUsage is the help of --dataset (search and train): the canonical
// names, which the output shows whatever spelling was given.
var datasetUsage = "dataset: " + strings.Join(data.Names(), ", ") + " (also accepted: fashion, cifar-10, cifar-100, imagenet16-N)"

// searchSummary is the last JSON line of `bionas search --json`.
type searchSummary struct {
	Kind         string          `json:"kind"` // "summary"
	Method       string          `json:"method"`
	Space        string          `json:"space"`
	Dataset      string          `json:"dataset"`
	Preset       string          `json:"preset"`
	Seed         uint64          `json:"seed"`
	Genotype     search.Genotype `json:"genotype"`
	GenotypeText string          `json:"genotype_text"`
	ValAcc       float64         `json:"val_acc"`
	ValLoss      float64         `json:"val_loss"`
	Epochs       int             `json:"epochs"`
	Steps        int             `json:"steps"`
	ResumedAt    int             `json:"resumed_at,omitempty"`
	Seconds      float64         `json:"seconds"`
	Out          string          `json:"out"`
}

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas search [flags]\n\nSearch a cell over (operation, learning rule) pairs. Writes genotype.json,\ngenotype.txt, alphas.json, metrics.jsonl, result.json and checkpoint/ into --out.\n\nFlags:")
		fs.PrintDefaults()
	}
	method := fs.String("method", "darts", "search method: "+searchMethodNames()+" (darts = first order, darts2 = second order)")
	spaceName := fs.String("space", "bio", "search space: "+strings.Join(search.SpaceNames(), ", "))
	dataset := fs.String("dataset", lab.DefaultDataset, datasetUsage)
	dataDir := fs.String("data-dir", "", "dataset folder (default: the dataset's default place)")
	preset := fs.String("preset", "quick", "settings: "+strings.Join(search.PresetNames(), ", ")+" (quick fits ≈10 min on 2 cores)")
	epochs := fs.Int("epochs", 0, "epochs (random: samples); 0 = the preset's")
	images := fs.Int("images", -1, "training images the search uses, split in halves; -1 = the preset's, 0 = all")
	batch := fs.Int("batch", 0, "batch size; 0 = the preset's")
	out := fs.String("out", "", "output folder (default runs/search-<method>-<space>-<dataset>-s<seed>)")
	resume := fs.Bool("resume", false, "continue the search whose checkpoint is in --out")
	asJSON := fs.Bool("json", false, "print one JSON object per line on stdout: the events, then a summary")
	seed := fs.Uint64("seed", lab.DefaultSeed, "random seed (the same seed gives the same search; the TUI's presets use the same default)")
	ops := fs.String("ops", "", "comma-separated operations of a custom space (default DARTS' eight: "+opList(search.DARTSOps())+")")
	rules := fs.String("rules", "", "comma-separated rules of a custom space (default: the conv rules of --space)")
	recompute := fs.Bool("recompute", false, "recompute mixed ops in the backward pass (less memory, about a third more time)")
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, release, err := dev.use("search", stderr)
	if err != nil {
		return err
	}
	defer release()
	if fs.NArg() > 0 {
		return fmt.Errorf("search: unexpected argument %q (all settings are flags; see bionas search --help)", fs.Arg(0))
	}
	if c, err := data.CanonicalName(*dataset); err == nil {
		*dataset = c // one spelling in --out, config.json and the summary
	}
	if _, err := search.ParseMethod(*method); err != nil {
		return fmt.Errorf("search: --method %q: want one of %s", *method, searchMethodNames())
	}
	p, err := search.PresetByName(*preset)
	if err != nil {
		return fmt.Errorf("search: --preset: %w", err)
	}
	if *epochs < 0 {
		return fmt.Errorf("search: --epochs %d: want a positive number (0 = the preset's)", *epochs)
	}
	if *images < -1 {
		return fmt.Errorf("search: --images %d: want a positive number, 0 (all) or -1 (the preset's)", *images)
	}
	if *batch < 0 {
		return fmt.Errorf("search: --batch %d: want a positive number (0 = the preset's)", *batch)
	}
	space, err := buildSpace(*spaceName, *ops, *rules)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if *out == "" {
		*out = filepath.Join("runs", fmt.Sprintf("search-%s-%s-%s-s%d", *method, space.Name, strings.ToLower(*dataset), *seed))
	}
	ckptDir := filepath.Join(*out, "checkpoint")
	// One process per --out folder: a second search there would clobber
	// the first one's metrics and checkpoints.
	unlock, err := lockOut("search", *out)
	if err != nil {
		return err
	}
	defer unlock()
	if !*resume && search.HasCheckpoint(ckptDir) {
		return fmt.Errorf("search: --out %s holds the checkpoint of an earlier search: pass --resume to continue it, or choose another folder", *out)
	}
	if *resume && !search.HasCheckpoint(ckptDir) {
		return fmt.Errorf("search: --resume: --out %s holds no checkpoint to continue (run without --resume to start a search there)", *out)
	}

	full, err := data.Open(ctx, *dataset, *dataDir, true)
	if err != nil {
		return fmt.Errorf("search: --dataset %q: %w", *dataset, err)
	}
	n := p.SearchImages
	if *images >= 0 {
		n = *images
	}
	halves := search.SplitForSearch(full, n)
	nImages := halves.Train.Len() + halves.Val.Len()

	// Resuming: drop what the run will redo from metrics.jsonl.
	sink, err := openEventSink("search", *resume, ckptDir, *out, searchEpochs(*method, p, *epochs), stdout, stderr, *asJSON, "search "+*method)
	if err != nil {
		return err
	}
	defer sink.close()

	plan, err := search.NewPlan(search.Method(*method), p, search.Overrides{
		Space: space, Epochs: *epochs, BatchSize: *batch, Recompute: *recompute, Seed: *seed,
		Augment: data.DefaultAugment(*dataset, p.SearchCutout), Norm: data.DefaultNorm(*dataset),
	}, search.Hooks{Emit: sink.emit, CheckpointDir: ckptDir, Resume: *resume, Device: dev.resident})
	if err != nil {
		return fmt.Errorf("search: --method: %w", err)
	}
	key, cfg := plan.Config()
	writeJSONFile(filepath.Join(*out, "config.json"), map[string]any{"method": *method, "dataset": *dataset, "preset": p.Name, "images": nImages, key: cfg})
	res, err := plan.Run(ctx, halves)
	sink.finishBar()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("search interrupted (the last finished epoch is saved; continue with --resume --out %s)", *out)
		}
		return fmt.Errorf("search: %w", err)
	}
	if err := writeJSONFile(filepath.Join(*out, "genotype.json"), res.Genotype); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if err := nn.WriteFileAtomic(filepath.Join(*out, "genotype.txt"), []byte(res.Genotype.String()+"\n")); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if res.Alphas != nil {
		if err := writeJSONFile(filepath.Join(*out, "alphas.json"), res.Alphas); err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}
	if err := writeJSONFile(filepath.Join(*out, "result.json"), res); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	sum := searchSummary{Kind: "summary", Method: *method, Space: space.Name, Dataset: *dataset, Preset: p.Name, Seed: *seed,
		Genotype: res.Genotype, GenotypeText: res.Genotype.String(), ValAcc: res.ValAcc, ValLoss: res.ValLoss,
		Epochs: res.Epochs, Steps: res.Steps, ResumedAt: res.ResumedAt, Seconds: res.Seconds, Out: *out}
	if *asJSON {
		return sink.writeJSON(sum)
	}
	fmt.Fprintf(stdout, "%s over %s (%d pairs) on %s: validation accuracy %.2f%%, %d steps, %s\n", *method, space.Name, space.Len(),
		*dataset, 100*res.ValAcc, res.Steps, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintln(stdout, res.Genotype.String())
	fmt.Fprintf(stdout, "written to %s (retrain with: bionas train --genotype %s)\n", *out, filepath.Join(*out, "genotype.json"))
	return nil
}

// searchEpochs is the number of epochs (random: samples) the search will
// run, which bounds the epoch a checkpoint may claim to have reached.
func searchEpochs(method string, p search.Preset, flag int) int {
	switch method {
	case "darts2":
		return cmp.Or(flag, p.DARTS2.Epochs)
	case "pcdarts":
		return cmp.Or(flag, p.PCDARTS.Epochs)
	case "egnas":
		return cmp.Or(flag, p.EGNAS.Epochs)
	case "random":
		return cmp.Or(flag, p.Random.Samples)
	}
	return cmp.Or(flag, p.DARTS.Epochs)
}

// buildSpace returns the named space, or with --ops/--rules the custom space
// ops × rules (the feedback rules), plus conv_3x3 with each of hebb and pc
// if those rules are listed.
func buildSpace(name, ops, rules string) (search.Space, error) {
	base, err := search.SpaceByName(name)
	if err != nil {
		return search.Space{}, fmt.Errorf("--space: %w", err)
	}
	if ops == "" && rules == "" {
		return base, nil
	}
	var os_ []search.Op
	if ops == "" {
		os_ = search.DARTSOps()
	} else {
		for _, s := range strings.Split(ops, ",") {
			o, err := search.ParseOp(s)
			if err != nil {
				return search.Space{}, fmt.Errorf("--ops %q: %w", ops, err)
			}
			os_ = append(os_, o)
		}
	}
	var fb, layer []rule.Rule
	if rules == "" {
		for _, r := range base.Rules() {
			if r.IsFeedback() {
				fb = append(fb, r)
			}
		}
	} else {
		for _, s := range strings.Split(rules, ",") {
			r, err := rule.Parse(s)
			if err != nil {
				return search.Space{}, fmt.Errorf("--rules %q: %w", rules, err)
			}
			if r.IsFeedback() {
				fb = append(fb, r)
			} else {
				layer = append(layer, r)
			}
		}
	}
	sp := search.Space{Name: name + "-custom"}
	if len(fb) > 0 {
		s, err := search.NewSpace(sp.Name, os_, fb)
		if err != nil {
			return search.Space{}, fmt.Errorf("--ops %q × --rules %q: %w", ops, rules, err)
		}
		sp = s
	}
	for _, r := range layer {
		sp.Pairs = append(sp.Pairs, search.Pair{Op: search.OpConv3, Rule: r})
	}
	if err := sp.Validate(); err != nil {
		return search.Space{}, fmt.Errorf("--ops %q × --rules %q: %w", ops, rules, err)
	}
	return sp, nil
}

func opList(ops []search.Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ",")
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// writeJSONFile writes v as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nn.WriteFileAtomic(path, append(b, '\n'))
}

// truncateMetrics keeps the lines of a metrics.jsonl file whose epoch is
// before done (what a resumed run will not redo).
func truncateMetrics(path string, done int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	for sc.Scan() {
		var e struct {
			Kind  string `json:"kind"`
			Epoch int    `json:"epoch"`
		}
		line := sc.Bytes()
		if json.Unmarshal(line, &e) != nil { // a torn last line
			continue
		}
		if e.Epoch < done && e.Kind != search.EventDone {
			keep.Write(line)
			keep.WriteByte('\n')
		}
	}
	return nn.WriteFileAtomic(path, keep.Bytes())
}

// openEventSink prepares --out's metrics.jsonl and returns the sink of a
// run's events. When resuming, the checkpoint is verified first
// (search.ResumePoint, against the run's epochs): a damaged newest pair
// falls back to the previous one, said on stderr, and with no pair that
// verifies the command fails before anything in --out changes. The lines
// of the epochs the run will redo are dropped only when the run's first
// event arrives, that is once the search itself has loaded the checkpoint:
// a resume refused later (another configuration) leaves the file as it was.
func openEventSink(cmd string, resume bool, ckptDir, out string, epochs int, stdout, stderr io.Writer, asJSON bool, label string) (*eventSink, error) {
	metricsPath := filepath.Join(out, "metrics.jsonl")
	done := 0
	if resume {
		rp, ok, err := search.ResumePoint(ckptDir, epochs)
		if err != nil {
			return nil, fmt.Errorf("%s: --resume: %w", cmd, err)
		}
		for _, e := range rp.Skipped {
			fmt.Fprintf(stderr, "%s: --resume: skipping a damaged checkpoint: %v\n", cmd, e)
		}
		switch {
		case ok && len(rp.Skipped) > 0:
			done = rp.Epoch
			fmt.Fprintf(stderr, "%s: resuming from the previous good checkpoint %s, after %d finished epochs\n", cmd, rp.Path, rp.Epoch)
		case ok:
			done = rp.Epoch
			fmt.Fprintf(stderr, "%s: resuming after %d finished epochs (checkpoint in %s)\n", cmd, rp.Epoch, ckptDir)
		default:
			fmt.Fprintf(stderr, "%s: --resume: no checkpoint in %s, starting afresh\n", cmd, ckptDir)
		}
	} else if err := os.Remove(metricsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	s := &eventSink{metricsPath: metricsPath, out: out, stdout: stdout, stderr: stderr, asJSON: asJSON, label: label, start: time.Now(),
		resumed: done > 0, truncateTo: -1}
	if resume {
		s.truncateTo = done
	}
	return s, nil
}

// eventSink turns events into the command's outputs: metrics.jsonl (every
// event), alphas.json and genotype.json (the latest), a progress bar and
// per-epoch lines on stderr, and with --json every event on stdout.
type eventSink struct {
	mu          sync.Mutex
	metricsPath string
	metrics     *os.File // opened by the first event
	// truncateTo ≥ 0: before the first event is written, drop the lines
	// of epochs from truncateTo on (what a resumed run redoes).
	truncateTo int
	openErr    error

	out      string
	stdout   io.Writer
	stderr   io.Writer
	asJSON   bool
	label    string
	start    time.Time
	first    int  // step count when this process started (for the ETA)
	resumed  bool // the run continues a checkpoint
	barOpen  bool
	firstSet bool
	// alphasAt is when alphas.json was last written: the search sends α
	// every few steps for live viewers, and the file (fsync, rename) is
	// rewritten at most once a second; the final α are written at the end.
	alphasAt time.Time
}

// openMetrics truncates (when resuming) and opens metrics.jsonl; it runs
// once, with the first event. The truncation replaces the file, so it must
// come before the file is opened for appending.
func (s *eventSink) openMetrics() {
	if s.metrics != nil || s.openErr != nil {
		return
	}
	if s.truncateTo >= 0 {
		if err := truncateMetrics(s.metricsPath, s.truncateTo); err != nil {
			s.openErr = err
			fmt.Fprintf(s.stderr, "%s: %v\n", s.label, err)
			return
		}
	}
	f, err := os.OpenFile(s.metricsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.openErr = err
		fmt.Fprintf(s.stderr, "%s: %v\n", s.label, err)
		return
	}
	s.metrics = f
}

func (s *eventSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metrics != nil {
		s.metrics.Close()
	}
}

func (s *eventSink) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.stdout.Write(append(b, '\n'))
	return err
}

// finishBar ends an unfinished progress line.
func (s *eventSink) finishBar() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.barOpen {
		fmt.Fprintln(s.stderr)
		s.barOpen = false
	}
}

// emit is the search's callback. It runs in the training goroutine and only
// writes small amounts; it never waits on a reader other than the files and
// streams themselves.
func (s *eventSink) emit(e search.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openMetrics()
	if b, err := json.Marshal(e); err == nil {
		if s.metrics != nil {
			s.metrics.Write(append(b, '\n'))
		}
		if s.asJSON {
			s.stdout.Write(append(b, '\n'))
		}
	}
	if !s.firstSet {
		s.firstSet = true
		if s.resumed {
			s.first = e.Step
		}
	}
	switch e.Kind {
	case search.EventStep:
		if e.TotalSteps > s.first {
			extra := fmt.Sprintf("epoch %d/%d loss %.3f acc %.1f%% %.0f img/s", e.Epoch+1, e.Epochs, e.Loss, 100*e.Acc, e.ImagesPerSec)
			if e.Sample > 0 || e.Method == "random" {
				extra = fmt.Sprintf("sample %d/%d loss %.3f acc %.1f%% %.0f img/s", e.Sample+1, e.Epochs, e.Loss, 100*e.Acc, e.ImagesPerSec)
			}
			progress(s.stderr, s.label, e.Step-s.first, e.TotalSteps-s.first, s.start, extra)
			s.barOpen = e.Step < e.TotalSteps
		}
	case search.EventEpoch:
		if s.barOpen {
			fmt.Fprintln(s.stderr)
			s.barOpen = false
		}
		what := "epoch"
		if e.Method == "random" {
			what = "sample"
		}
		switch {
		case e.TestAcc > 0 || e.TestLoss > 0:
			fmt.Fprintf(s.stderr, "%s %d/%d: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%\n", what, e.Epoch+1, e.Epochs, e.Loss, 100*e.Acc, e.TestLoss, 100*e.TestAcc)
		default:
			fmt.Fprintf(s.stderr, "%s %d/%d: train loss %.4f acc %.2f%%, val loss %.4f acc %.2f%%\n", what, e.Epoch+1, e.Epochs, e.Loss, 100*e.Acc, e.ValLoss, 100*e.ValAcc)
		}
	case search.EventAlphas:
		if e.Alphas != nil && time.Since(s.alphasAt) >= time.Second {
			writeJSONFile(filepath.Join(s.out, "alphas.json"), e.Alphas)
			s.alphasAt = time.Now()
		}
	case search.EventGenotype:
		if e.Genotype != nil && e.Method != "random" {
			writeJSONFile(filepath.Join(s.out, "genotype.json"), e.Genotype)
		}
	}
}
