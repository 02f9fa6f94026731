package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// attackRegistry lists the model kinds `bionas attack` can rebuild from a
// checkpoint: the demo SmallCNNs, and the networks trained from genotypes
// by `bionas train` and the lab (search.ModelKind).
func attackRegistry() attacks.Registry {
	reg := attacks.NewRegistry()
	reg[search.ModelKind] = buildSearchNetwork
	return reg
}

// buildSearchNetwork rebuilds the architecture of a network trained from a
// genotype, from the search.ModelMeta its checkpoint carries, behind the
// normalisation it was trained with (so it takes [0,1] pixels).
func buildSearchNetwork(spec attacks.ModelSpec) (attacks.Network, error) {
	var meta search.ModelMeta
	if err := json.Unmarshal(spec.Raw, &meta); err != nil {
		return nil, fmt.Errorf("network metadata: %w", err)
	}
	if err := meta.Validate(); err != nil { // before anything is allocated
		return nil, fmt.Errorf("network metadata: %w", err)
	}
	net, err := search.NewNetwork(search.NetworkConfig{C: meta.C, Layers: meta.Layers, Classes: meta.Classes,
		InChannels: meta.InChannels, ImageSize: meta.ImageSize, Auxiliary: meta.Auxiliary, Genotype: meta.Genotype, Seed: 1})
	if err != nil {
		return nil, err
	}
	if meta.Norm == nil {
		return net, nil
	}
	return attacks.Normalized(net, meta.Norm.Mean, meta.Norm.Std)
}

// attackPaths is a repeatable, comma-separable --model flag.
type attackPaths []string

func (p *attackPaths) String() string { return strings.Join(*p, ",") }

func (p *attackPaths) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*p = append(*p, s)
		}
	}
	return nil
}

// runAttack is `bionas attack`: the robustness report of checkpoints under
// the attacks, or `bionas attack prepare` to train models to attack.
func runAttack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "prepare" {
		return runAttackPrepare(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var models attackPaths
	fs.Var(&models, "model", "checkpoint to attack, or a folder of them (repeat or comma-separate; also positional)")
	names := fs.String("attack", "all", "attacks to run: all or a comma list of "+strings.Join(attacks.AttackNames(), ","))
	gradFlag := fs.String("grad", "both", "gradient mode of the white-box attacks: own, true or both")
	n := fs.Int("n", 1000, "number of test images (the first n)")
	preset := fs.String("preset", "default", "attack parameters: default (torchattacks v3.5.1) or paper (the paper's §3.5)")
	eps := fs.String("eps", "", "L∞ budget of every attack (0.3, 8/255), or attack=value pairs (fgsm=0.35,pgd=0.35)")
	steps := fs.Int("steps", 0, "iterations of every iterative attack: pgd, tpgd and apgd steps, onepixel generations, square queries (0: the preset's; as the lab's steps; --set overrides)")
	set := fs.String("set", "", "more settings, attack.param=value pairs: "+strings.Join(attacks.SettableKeys(), ", "))
	surrogate := fs.String("surrogate", "", "bp checkpoint the transfer attack crafts on (default: surrogate-bp.safetensors beside the first model, else the first bp model)")
	batch := fs.Int("batch", 100, "images attacked at once (the attacks draw their random numbers batch by batch: the lab's reports use 100)")
	seed := fs.Uint64("seed", 1, "random seed of the attacks")
	dataset := fs.String("data", "mnist", "dataset whose test split is attacked")
	dataDir := fs.String("data-dir", "", "dataset folder (default: the dataset's default place)")
	asJSON := fs.Bool("json", false, "print one JSON object per report cell on stdout, then the whole report")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas attack --model M... [flags]       robustness report (models × attacks)")
		fmt.Fprintln(stderr, "       bionas attack prepare [flags]            train SmallCNN models on MNIST to attack")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, release, err := dev.use("attack", stderr)
	if err != nil {
		return err
	}
	defer release()
	models = append(models, fs.Args()...)
	if len(models) == 0 {
		fs.Usage()
		return fmt.Errorf("attack: no --model given (make some with `bionas attack prepare`)")
	}
	if *n <= 0 || *batch <= 0 {
		return fmt.Errorf("attack: --n and --batch must be positive (got %d, %d)", *n, *batch)
	}
	modes, err := attackModes(*gradFlag)
	if err != nil {
		return err
	}
	suite, err := attacks.Preset(*preset)
	if err != nil {
		return fmt.Errorf("attack: --preset: %w", err)
	}
	if *steps < 0 {
		return fmt.Errorf("attack: --steps must not be negative (got %d)", *steps)
	}
	if err := attackApplySettings(&suite, *eps, *steps, *set); err != nil {
		return err
	}
	paths, err := attackExpand(models)
	if err != nil {
		return err
	}
	reg := attackRegistry()
	var loaded []*attacks.LoadedModel
	for _, p := range paths {
		if err := checkAttackModel(p); err != nil {
			return fmt.Errorf("attack: %w", err)
		}
		lm, err := reg.Load(p)
		if err != nil {
			return fmt.Errorf("attack: %w", err)
		}
		loaded = append(loaded, lm)
	}
	attackSortModels(loaded)
	wanted := strings.Split(*names, ",")
	if attackWants(wanted, "transfer") {
		sur, err := attackSurrogate(reg, *surrogate, loaded)
		if err != nil {
			return err
		}
		surModel, err := dev.onDevice(sur.Model)
		if err != nil {
			return fmt.Errorf("attack: --surrogate: %w", err)
		}
		suite.Transfer = attacks.TransferConfig{Surrogate: surModel, SurrogateName: attackSurrogateName(sur)}
	}
	specs, err := suite.Specs(wanted)
	if err != nil {
		return fmt.Errorf("attack: --attack: %w", err)
	}
	for _, sp := range specs {
		if w := attacks.BudgetWarning(sp); w != "" {
			fmt.Fprintln(stderr, "attack: warning: "+w)
		}
	}
	test, err := data.Open(ctx, *dataset, *dataDir, false)
	if err != nil {
		return fmt.Errorf("attack: test images: %w", err)
	}
	x, y := attacks.LoadImages(test, *n)
	cfg := attacks.ReportConfig{
		Modes:     modes,
		Attacks:   specs,
		X:         x,
		Y:         y,
		Dataset:   *dataset + " test",
		BatchSize: *batch,
		Seed:      *seed,
	}
	for _, lm := range loaded {
		m, err := dev.onDevice(lm.Model)
		if err != nil {
			return fmt.Errorf("attack: %s: %w", lm.Path, err)
		}
		cfg.Models = append(cfg.Models, attacks.ReportModel{Name: lm.Name(), Rule: lm.Spec.Rule, Model: m})
	}
	start := time.Now()
	cfg.Progress = func(p attacks.ReportProgress) {
		label := p.Model + " " + p.Attack + "/"
		if p.Grad != "" {
			label += string(p.Grad)
		} else {
			label += attacks.BlackBoxLabel
		}
		progress(stderr, "attack", p.Done, p.Total, start, fmt.Sprintf("%-24s", label))
	}
	if *asJSON {
		cfg.OnCell = func(c attacks.Cell) {
			b, _ := json.Marshal(c)
			fmt.Fprintln(stdout, string(b))
		}
	}
	rep, err := attacks.RunReport(ctx, cfg)
	if err != nil {
		return fmt.Errorf("attack: %w", err)
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteTable(stdout)
}

// attackModes parses --grad.
func attackModes(s string) ([]attacks.GradMode, error) {
	if s == "both" {
		return []attacks.GradMode{attacks.Own, attacks.True}, nil
	}
	m, err := attacks.ParseGradMode(s)
	if err != nil {
		return nil, fmt.Errorf("attack: --grad: %w (or both)", err)
	}
	return []attacks.GradMode{m}, nil
}

// attackSteps are the settings --steps sets: the iterations of every
// iterative attack, as the lab's AttackSpec.Steps.
var attackSteps = []string{"pgd.steps", "tpgd.steps", "apgd.steps", "onepixel.steps", "square.queries"}

// attackApplySettings applies --eps, --steps and --set to the suite.
func attackApplySettings(s *attacks.Suite, eps string, steps int, set string) error {
	if steps > 0 {
		for _, k := range attackSteps {
			if err := s.Set(k, fmt.Sprint(steps)); err != nil {
				return fmt.Errorf("attack: --steps: %w", err)
			}
		}
	}
	if eps = strings.TrimSpace(eps); eps != "" {
		if !strings.Contains(eps, "=") {
			if err := s.Set("eps", eps); err != nil {
				return fmt.Errorf("attack: --eps: %w", err)
			}
		} else {
			for _, kv := range strings.Split(eps, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("attack: --eps: %q is not attack=value", kv)
				}
				if err := s.Set(strings.TrimSpace(k)+".eps", v); err != nil {
					return fmt.Errorf("attack: --eps: %w", err)
				}
			}
		}
	}
	if set = strings.TrimSpace(set); set != "" {
		for _, kv := range strings.Split(set, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("attack: --set: %q is not attack.param=value", kv)
			}
			if err := s.Set(k, v); err != nil {
				return fmt.Errorf("attack: --set: %w", err)
			}
		}
	}
	return nil
}

// attackExpand replaces folders by the checkpoints in them (surrogates
// excluded: they are the transfer attack's, not rows of the report).
func attackExpand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("attack: --model: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		found, err := filepath.Glob(filepath.Join(p, "*.safetensors"))
		if err != nil {
			return nil, fmt.Errorf("attack: --model %s: %w", p, err)
		}
		n := 0
		for _, f := range found {
			if !strings.HasPrefix(filepath.Base(f), "surrogate") {
				out = append(out, f)
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("attack: --model %s: no .safetensors checkpoints in the folder", p)
		}
	}
	return out, nil
}

// attackSortModels orders rows by the canonical rule order (bp, fa, dfa,
// usf, brsf, frsf), then the rest (mixed networks) by name, as Table 4.
func attackSortModels(ms []*attacks.LoadedModel) {
	rank := func(m *attacks.LoadedModel) int {
		for i, r := range rule.All {
			if string(r) == m.Spec.Rule {
				return i
			}
		}
		return len(rule.All)
	}
	sort.SliceStable(ms, func(i, j int) bool {
		ri, rj := rank(ms[i]), rank(ms[j])
		if ri != rj {
			return ri < rj
		}
		return ms[i].Name() < ms[j].Name()
	})
}

func attackWants(names []string, a string) bool {
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == a || n == "all" {
			return true
		}
	}
	return false
}

// attackSurrogate finds the transfer attack's surrogate: --surrogate, else
// surrogate-bp.safetensors beside the first model, else the first bp model
// of the report (then transfer is white-box FGSM on that row).
func attackSurrogate(reg attacks.Registry, path string, models []*attacks.LoadedModel) (*attacks.LoadedModel, error) {
	if path == "" {
		beside := filepath.Join(filepath.Dir(models[0].Path), "surrogate-bp.safetensors")
		if _, err := os.Stat(beside); err == nil {
			path = beside
		}
	}
	if path != "" {
		if err := checkAttackModel(path); err != nil {
			return nil, fmt.Errorf("attack: --surrogate: %w", err)
		}
		lm, err := reg.Load(path)
		if err != nil {
			return nil, fmt.Errorf("attack: --surrogate: %w", err)
		}
		if lm.Spec.Rule != string(rule.BP) {
			return nil, fmt.Errorf("attack: --surrogate %s: rule %q, want a bp model", path, lm.Spec.Rule)
		}
		return lm, nil
	}
	for _, m := range models {
		if m.Spec.Rule == string(rule.BP) {
			return m, nil
		}
	}
	return nil, errors.New("attack: transfer needs a bp surrogate: pass --surrogate, or a bp model, or leave transfer out of --attack")
}

func attackSurrogateName(m *attacks.LoadedModel) string {
	return strings.TrimSuffix(filepath.Base(m.Path), filepath.Ext(m.Path))
}

// prepareResult is one line of `bionas attack prepare --json`.
type prepareResult struct {
	Path     string    `json:"path"`
	Rule     rule.Rule `json:"rule"`
	Name     string    `json:"name"`
	Epochs   int       `json:"epochs"`
	Steps    int       `json:"steps"`
	LR       float32   `json:"lr"`
	TestAcc  float64   `json:"test_accuracy"`
	Seconds  float64   `json:"seconds"`
	MsPerStp float64   `json:"ms_per_step"`
}

// runAttackPrepare is `bionas attack prepare`: train the demo SmallCNN on
// a dataset once per rule (and a bp surrogate with another seed for the
// transfer attack) and save each with its attacks.ModelSpec, so that
// `bionas attack --model DIR` can report on them.
func runAttackPrepare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("attack prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rules := fs.String("rules", "bp,fa,usf,brsf,frsf", "comma-separated learning rules, one model each")
	out := fs.String("out", filepath.Join(os.TempDir(), "bionas-models"), "folder to save the models in")
	epochs := fs.Int("epochs", 2, "training epochs per model")
	batch := fs.Int("batch", 64, "batch size")
	lr := fs.Float64("lr", 0.05, "SGD learning rate (momentum 0.9, cosine decay to 0 over the run)")
	ruleLR := fs.String("rule-lr", "fa=0.01", "per-rule learning rates overriding --lr, rule=value pairs (at 0.05 the fa SmallCNN, which has no BatchNorm, grows logit gaps of 10⁶)")
	wd := fs.Float64("wd", 1e-4, "SGD weight decay (biotorch's benchmarks use 1e-4)")
	tag := fs.String("tag", "", "suffix for the models' names and files (smallcnn-fa-TAG, row fa-TAG)")
	clip := fs.Float64("clip", 0, "clip the gradient norm to this value (0: no clipping)")
	width := fs.Int("width", 16, "SmallCNN width (channels of the first conv)")
	seed := fs.Uint64("seed", 1, "random seed")
	withSurrogate := fs.Bool("surrogate", true, "also train surrogate-bp (another seed) for the transfer attack")
	dataset := fs.String("data", "mnist", "dataset to train on")
	dataDir := fs.String("data-dir", "", "dataset folder (default: the dataset's default place)")
	asJSON := fs.Bool("json", false, "print one JSON object per model on stdout")
	dev := deviceFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, release, err := dev.use("attack prepare", stderr)
	if err != nil {
		return err
	}
	defer release()
	if *epochs <= 0 || *batch <= 0 || *width <= 0 || *lr <= 0 || *wd < 0 || *clip < 0 {
		return fmt.Errorf("attack prepare: --epochs, --batch, --width and --lr must be positive, --wd and --clip not negative")
	}
	type job struct {
		r    rule.Rule
		name string
		seed uint64
	}
	var jobs []job
	lrs := map[rule.Rule]float32{}
	for _, kv := range strings.Split(*ruleLR, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		r, err := rule.Parse(k)
		if !ok || err != nil {
			return fmt.Errorf("attack prepare: --rule-lr: %q is not rule=value", kv)
		}
		f, err := attacks.ParseFraction(strings.TrimSpace(v))
		if err != nil || f <= 0 {
			return fmt.Errorf("attack prepare: --rule-lr %s: want a positive rate", kv)
		}
		lrs[r] = float32(f)
	}
	suffix := ""
	if *tag != "" {
		suffix = "-" + *tag
	}
	for _, s := range strings.Split(*rules, ",") {
		r, err := rule.Parse(s)
		if err != nil {
			return fmt.Errorf("attack prepare: --rules: %w", err)
		}
		if !r.IsFeedback() {
			return fmt.Errorf("attack prepare: --rules: %q is a layer kind, not a feedback rule of the SmallCNN", r)
		}
		jobs = append(jobs, job{r, "smallcnn-" + string(r) + suffix, *seed})
	}
	if *withSurrogate {
		jobs = append(jobs, job{rule.BP, "surrogate-bp" + suffix, *seed + 1000})
	}
	train, err := data.Open(ctx, *dataset, *dataDir, true)
	if err != nil {
		return fmt.Errorf("attack prepare: training images: %w", err)
	}
	test, err := data.Open(ctx, *dataset, *dataDir, false)
	if err != nil {
		return fmt.Errorf("attack prepare: test images: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("attack prepare: %w", err)
	}
	stats := data.ComputeStats(train)
	mean, std := make([]float32, stats.C), make([]float32, stats.C)
	for i := range mean {
		mean[i], std[i] = float32(stats.Mean[i]), float32(stats.Std[i])
	}
	for _, j := range jobs {
		hp := attackHyper{epochs: *epochs, batch: *batch, width: *width, lr: float32(*lr), wd: float32(*wd), clip: float32(*clip)}
		if v, ok := lrs[j.r]; ok {
			hp.lr = v
		}
		res, err := attackTrain(ctx, j.r, j.name, j.seed, train, test, mean, std, *dataset, *out, hp, suffix, stderr)
		if err != nil {
			return err
		}
		if *asJSON {
			b, _ := json.Marshal(res)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%-14s %-5s lr %-6g test accuracy %6.2f%%  %5.0f s  %s\n", res.Name, res.Rule, res.LR, 100*res.TestAcc, res.Seconds, res.Path)
	}
	return nil
}

// attackHyper are the training settings of `bionas attack prepare`.
type attackHyper struct {
	epochs, batch, width int
	lr, wd, clip         float32
}

// attackTrain trains one SmallCNN (normalisation inside) with SGD and
// momentum, cosine-decayed, and saves it with its spec.
func attackTrain(ctx context.Context, r rule.Rule, name string, seed uint64, train, test data.Dataset, mean, std []float32,
	dataset, out string, hp attackHyper, suffix string, stderr io.Writer) (prepareResult, error) {
	epochs, batch, width, lr := hp.epochs, hp.batch, hp.width, hp.lr
	c, h, w := train.Shape()
	cfg := nn.SmallCNNConfig{C: c, H: h, W: w, Classes: train.Classes(), Width: width, Rule: r}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return prepareResult{}, fmt.Errorf("attack prepare: %s: %w", name, err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	cnn, err := nn.NewSmallCNN(cfg, rng)
	if err != nil {
		return prepareResult{}, fmt.Errorf("attack prepare: %s: %w", name, err)
	}
	net, err := attacks.Normalized(cnn, mean, std)
	if err != nil {
		return prepareResult{}, fmt.Errorf("attack prepare: %s: %w", name, err)
	}
	// Cosine decay per step: a constant rate leaves the fa-family models noisy.
	steps := epochs * (train.Len() / batch)
	_, elapsed, err := stepTraining{Steps: steps, Batch: batch, Seed: seed, Rng: rng,
		SGD: nn.SGDConfig{LR: lr, Momentum: 0.9, WeightDecay: hp.wd}, Schedule: nn.CosineStep{Base: lr, Steps: steps},
		Clip: hp.clip, Label: fmt.Sprintf("%-14s", name), Every: 10}.run(ctx, net, train, stderr)
	if err != nil {
		return prepareResult{}, fmt.Errorf("attack prepare: %s: %w", name, err)
	}
	x, y := attacks.LoadImages(test, 0)
	correct, per := 0, x.Len()/len(y)
	for lo := 0; lo < len(y); lo += 500 {
		hi := min(lo+500, len(y))
		xb := nn.FromSlice(slices.Clone(x.Data[lo*per:hi*per]), hi-lo, c, h, w)
		correct += nn.Accuracy(net.Forward(nil, xb), y[lo:hi])
	}
	acc := float64(correct) / float64(len(y))
	spec := attacks.ModelSpec{
		Kind: attacks.KindSmallCNN, Name: string(r) + suffix, Rule: string(r), Dataset: dataset,
		Mean: mean, Std: std, Config: rawCfg, TestAccuracy: acc,
		Train: map[string]any{"epochs": epochs, "steps": steps, "batch": batch, "lr": lr, "momentum": 0.9, "weight_decay": hp.wd, "clip": hp.clip, "schedule": "cosine", "seed": seed, "seconds": elapsed.Seconds()},
	}
	if strings.HasPrefix(name, "surrogate") {
		spec.Name = name
	}
	path := filepath.Join(out, name+".safetensors")
	if err := attacks.SaveNetwork(path, net, spec); err != nil {
		return prepareResult{}, fmt.Errorf("attack prepare: %s: %w", name, err)
	}
	return prepareResult{Path: path, Rule: r, Name: name, Epochs: epochs, Steps: steps, LR: lr, TestAcc: acc,
		Seconds: elapsed.Seconds(), MsPerStp: float64(elapsed.Milliseconds()) / float64(steps)}, nil
}
