package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// ruleOverrides collects repeated --rule-override SELECTOR=RULE flags.
type ruleOverrides []ruleOverride

type ruleOverride struct {
	Selector string    `json:"selector"`
	Rule     rule.Rule `json:"rule"`
}

func (o *ruleOverrides) String() string {
	var s []string
	for _, r := range *o {
		s = append(s, r.Selector+"="+string(r.Rule))
	}
	return strings.Join(s, ",")
}

func (o *ruleOverrides) Set(v string) error {
	sel, r, ok := strings.Cut(v, "=")
	sel = strings.TrimSpace(sel)
	if !ok || sel == "" {
		return fmt.Errorf("want SELECTOR=RULE (e.g. cell3.edge2=brsf, cell3=fa, all=usf), got %q", v)
	}
	rr, err := rule.Parse(r)
	if err != nil {
		return err
	}
	*o = append(*o, ruleOverride{sel, rr})
	return nil
}

// trainSummary is the last JSON line of `bionas train --json`.
type trainSummary struct {
	Kind         string          `json:"kind"` // "summary"
	Genotype     search.Genotype `json:"genotype"`
	GenotypeText string          `json:"genotype_text"`
	RulesAll     rule.Rule       `json:"rules_all,omitempty"`
	Overrides    []ruleOverride  `json:"rule_overrides,omitempty"`
	Dataset      string          `json:"dataset"`
	Preset       string          `json:"preset"`
	Seed         uint64          `json:"seed"`
	C            int             `json:"c"`
	Layers       int             `json:"layers"`
	Params       int             `json:"params"`
	Epochs       int             `json:"epochs"`
	Steps        int             `json:"steps"`
	TestAcc      float64         `json:"test_acc"`
	TestLoss     float64         `json:"test_loss"`
	BestTestAcc  float64         `json:"best_test_acc"`
	ResumedAt    int             `json:"resumed_at,omitempty"`
	Seconds      float64         `json:"seconds"`
	Model        string          `json:"model"`
	Out          string          `json:"out"`
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas train --genotype G [flags]\n\nTrain the network of a genotype and evaluate it on the test set every epoch.\nWrites model.safetensors (+ model.json), metrics.jsonl, result.json and\ncheckpoint/ into --out.\n\nFlags:")
		fs.PrintDefaults()
	}
	genoArg := fs.String("genotype", "", "the genotype: a file (genotype.json or genotype.txt), a search output folder, or the genotype itself (JSON or DARTS text)")
	var overrides ruleOverrides
	fs.Var(&overrides, "rule-override", "SELECTOR=RULE: train the layers of SELECTOR (cellN.edgeM, cellN, all, or a layer name) with RULE; repeatable, applied in order after --rules-all")
	rulesAll := fs.String("rules-all", "", "train every rule layer of the cells with this one rule (the single-rule baseline: fa, usf, brsf, frsf, bp, …)")
	dataset := fs.String("dataset", lab.DefaultDataset, datasetUsage)
	dataDir := fs.String("data-dir", "", "dataset folder (default: the dataset's default place)")
	preset := fs.String("preset", "quick", "settings: "+strings.Join(search.PresetNames(), ", ")+" (quick: MNIST in ≈20 min on 2 cores)")
	epochs := fs.Int("epochs", 0, "epochs; 0 = the preset's")
	batch := fs.Int("batch", 0, "batch size; 0 = the preset's")
	channels := fs.Int("c", 0, "initial channels C; 0 = the preset's")
	layers := fs.Int("layers", 0, "cells; 0 = the preset's")
	images := fs.Int("images", -1, "training images used; -1 = the preset's, 0 = all")
	lr := fs.Float64("lr", 0, "initial learning rate (cosine to 0); 0 = the preset's")
	cutout := fs.Int("cutout", -1, "cutout square side in pixels; -1 = the preset's (the dataset's default side if on), 0 = off")
	out := fs.String("out", "", "output folder (default runs/train-<dataset>-s<seed>)")
	resume := fs.Bool("resume", false, "continue the training whose checkpoint is in --out")
	asJSON := fs.Bool("json", false, "print one JSON object per line on stdout: the events, then a summary")
	seed := fs.Uint64("seed", lab.DefaultSeed, "random seed (the same seed gives the same run; the lab trains with its search's seed)")
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, release, err := dev.use("train", stderr)
	if err != nil {
		return err
	}
	defer release()
	if fs.NArg() > 0 {
		return fmt.Errorf("train: unexpected argument %q (all settings are flags; see bionas train --help)", fs.Arg(0))
	}
	if c, err := data.CanonicalName(*dataset); err == nil {
		*dataset = c // one spelling in --out, config.json and the summary
	}
	if *genoArg == "" {
		return fmt.Errorf("train: --genotype is required: a file, a search output folder or the genotype text")
	}
	geno, err := loadGenotype(*genoArg)
	if err != nil {
		return fmt.Errorf("train: --genotype %q: %w", clipArg(*genoArg), err)
	}
	var all rule.Rule
	if *rulesAll != "" {
		if all, err = rule.Parse(*rulesAll); err != nil {
			return fmt.Errorf("train: --rules-all: %w", err)
		}
	}
	p, err := search.PresetByName(*preset)
	if err != nil {
		return fmt.Errorf("train: --preset: %w", err)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"epochs", *epochs}, {"batch", *batch}, {"c", *channels}, {"layers", *layers}} {
		if f.v < 0 {
			return fmt.Errorf("train: --%s %d: want a positive number (0 = the preset's)", f.name, f.v)
		}
	}
	if *images < -1 {
		return fmt.Errorf("train: --images %d: want a positive number, 0 (all) or -1 (the preset's)", *images)
	}
	if *lr < 0 {
		return fmt.Errorf("train: --lr %v: want a positive learning rate (0 = the preset's)", *lr)
	}
	if *cutout < -1 {
		return fmt.Errorf("train: --cutout %d: want a side in pixels, 0 (off) or -1 (the preset's)", *cutout)
	}

	trainDS, err := data.Open(ctx, *dataset, *dataDir, true)
	if err != nil {
		return fmt.Errorf("train: --dataset %q: %w", *dataset, err)
	}
	testDS, err := data.Open(ctx, *dataset, *dataDir, false)
	if err != nil {
		return fmt.Errorf("train: --dataset %q: %w", *dataset, err)
	}
	n := p.TrainImages
	if *images >= 0 {
		n = *images
	}
	if n > 0 && n < trainDS.Len() {
		trainDS = data.Subset(trainDS, firstN(n))
	}
	ncfg := p.Network
	ncfg.Genotype = geno
	ncfg.C = cmp.Or(*channels, ncfg.C)
	ncfg.Layers = cmp.Or(*layers, ncfg.Layers)
	ncfg.Classes = trainDS.Classes()
	ncfg.InChannels, ncfg.ImageSize, _ = trainDS.Shape()
	ncfg.Seed = *seed
	net, err := search.NewNetwork(ncfg)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if all != "" {
		if err := net.OverrideRule("all", all); err != nil {
			return fmt.Errorf("train: --rules-all %s: %w", all, err)
		}
	}
	for _, o := range overrides {
		if err := net.OverrideRule(o.Selector, o.Rule); err != nil {
			return fmt.Errorf("train: --rule-override %s=%s: %w", o.Selector, o.Rule, err)
		}
	}

	tcfg := p.Train
	tcfg.Epochs = cmp.Or(*epochs, tcfg.Epochs)
	tcfg.BatchSize = cmp.Or(*batch, tcfg.BatchSize)
	if *lr > 0 {
		tcfg.LR = float32(*lr)
	}
	tcfg.Augment = data.DefaultAugment(*dataset, p.TrainCutout)
	if *cutout >= 0 {
		tcfg.Augment.Cutout = *cutout
	}
	tcfg.Norm = data.DefaultNorm(*dataset)
	tcfg.Seed = *seed
	if p.TestImages > 0 {
		tcfg.EvalLimit = p.TestImages
	}

	if *out == "" {
		*out = filepath.Join("runs", fmt.Sprintf("train-%s-s%d", strings.ToLower(*dataset), *seed))
	}
	ckptDir := filepath.Join(*out, "checkpoint")
	// One process per --out folder (see lockOut).
	unlock, err := lockOut("train", *out)
	if err != nil {
		return err
	}
	defer unlock()
	if !*resume && search.HasCheckpoint(ckptDir) {
		return fmt.Errorf("train: --out %s holds the checkpoint of an earlier training: pass --resume to continue it, or choose another folder", *out)
	}
	if *resume && !search.HasCheckpoint(ckptDir) {
		return fmt.Errorf("train: --resume: --out %s holds no checkpoint to continue (run without --resume to start a training there)", *out)
	}
	sink, err := openEventSink("train", *resume, ckptDir, *out, tcfg.Epochs, stdout, stderr, *asJSON, "train")
	if err != nil {
		return err
	}
	defer sink.close()
	tcfg.CheckpointDir, tcfg.Resume, tcfg.Emit, tcfg.Device = ckptDir, *resume, sink.emit, dev.resident

	params := 0
	for _, q := range net.Params() {
		params += q.T.Len()
	}
	writeJSONFile(filepath.Join(*out, "config.json"), map[string]any{"dataset": *dataset, "preset": p.Name, "images": trainDS.Len(),
		"genotype": geno, "rules_all": all, "rule_overrides": overrides, "network": map[string]any{"c": ncfg.C, "layers": ncfg.Layers,
			"auxiliary": ncfg.Auxiliary, "seed": ncfg.Seed, "params": params}, "train": tcfg})
	fmt.Fprintf(stderr, "train: %s, C=%d, %d layers, %.2fM weights, %d training images\n", geno.String(), ncfg.C, ncfg.Layers, float64(params)/1e6, trainDS.Len())

	res, err := search.Train(ctx, net, tcfg, trainDS, testDS)
	sink.finishBar()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("training interrupted (the last finished epoch is saved; continue with --resume --out %s)", *out)
		}
		return fmt.Errorf("train: %w", err)
	}
	model := filepath.Join(*out, "model.safetensors")
	meta := search.ModelMeta{Kind: search.ModelKind, Genotype: geno, C: ncfg.C, Layers: ncfg.Layers, Classes: ncfg.Classes, InChannels: ncfg.InChannels, ImageSize: ncfg.ImageSize,
		Auxiliary: ncfg.Auxiliary, Norm: tcfg.Norm, Dataset: *dataset, TestAcc: res.TestAcc,
		Extra: map[string]any{"rules_all": all, "rule_overrides": overrides, "seed": ncfg.Seed}}
	if err := nn.SaveModel(model, net, meta); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := writeJSONFile(filepath.Join(*out, "result.json"), res); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	sum := trainSummary{Kind: "summary", Genotype: geno, GenotypeText: geno.String(), RulesAll: all, Overrides: overrides,
		Dataset: *dataset, Preset: p.Name, Seed: *seed, C: ncfg.C, Layers: ncfg.Layers, Params: params, Epochs: res.Epochs,
		Steps: res.Steps, TestAcc: res.TestAcc, TestLoss: res.TestLoss, BestTestAcc: res.BestTestAcc, ResumedAt: res.ResumedAt,
		Seconds: res.Seconds, Model: model, Out: *out}
	if *asJSON {
		return sink.writeJSON(sum)
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%% (best epoch %.2f%%) after %d epochs, %d steps, %s\n", 100*res.TestAcc, 100*res.BestTestAcc,
		res.Epochs, res.Steps, time.Duration(res.Seconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(stdout, "model written to %s\n", model)
	return nil
}

// loadGenotype reads a genotype from a file, a search output folder (its
// genotype.json) or the argument itself.
func loadGenotype(arg string) (search.Genotype, error) {
	if st, err := os.Stat(arg); err == nil {
		path := arg
		if st.IsDir() {
			path = filepath.Join(arg, "genotype.json")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return search.Genotype{}, err
		}
		g, err := search.ParseGenotype(string(b))
		if err != nil {
			return search.Genotype{}, fmt.Errorf("%s: %w", path, err)
		}
		return g, nil
	}
	t := strings.TrimSpace(arg)
	if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "Genotype(") {
		return search.Genotype{}, fmt.Errorf("no such file, and not a genotype (want JSON {\"normal\": …} or Genotype(normal=[…], …))")
	}
	return search.ParseGenotype(t)
}

func clipArg(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
