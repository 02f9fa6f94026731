package lab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// EngineOptions configure the engine backend.
type EngineOptions struct {
	// DataDir is the datasets' folder ("" = each dataset's default place;
	// MNIST needs no set-up).
	DataDir string
	// Data, if set, opens the dataset a spec names (its training or test
	// split) instead of data.Open from DataDir, and the networks take
	// their input shape and classes from what it returns. Tests hand in
	// small synthetic sets this way (8×8 images for the CUDA emulator).
	Data func(name string, train bool) (data.Dataset, error)
	// Workers is the number of goroutines making batches (default 1).
	Workers int
	// Device is where every job and the attack stepper compute (nil: the
	// CPU): searches keep their supernet on it (search.DARTSConfig.Device,
	// EGNASConfig.Device, RandomConfig.Train.Device), trainings and
	// retrainings their network (TrainConfig.Device), attacks their model
	// (nn.MoveModule, then nn.OnDevice drives it with host images). A
	// network with an op that has no kernels for the device (the hebb
	// and pc rules' convolutions) fails its run with that op's message; it
	// never falls back to the CPU. Listing a network's layers computes
	// nothing and stays on the host.
	Device nn.Device
	// DeviceName is the device's short name, recorded in run specs and
	// shown in viewers' status bars (default: the CPU's "cpu", or Device's
	// name up to its first space: "cuda:0").
	DeviceName string
}

// Engine returns the backend that does real work: searches with the
// search package (DARTS, PC-DARTS, EG-NAS, random), trainings and
// retrainings of the discrete network of a genotype, and attacks with the
// attacks package (see attack_engine.go), all on opts.Device.
func Engine(opts EngineOptions) Backend {
	e := &engine{opts: opts, device: deviceName(opts.Device, opts.DeviceName)}
	return Backend{
		Name: "engine",
		Jobs: map[Kind]JobFunc{
			KindSearch:  e.guard(e.search),
			KindTrain:   e.guard(e.train),
			KindRetrain: e.guard(e.train),
			KindAttack:  e.guard(e.attackRun),
		},
		Layers:  e.layers,
		Stepper: e.stepper,
		Attacks: engineAttacks(),
		Device:  e.device,
	}
}

type engine struct {
	opts EngineOptions
	// device is opts' device's short name ("cpu", "cuda:0").
	device string
}

// deviceName is the short name of d: name if given, else "cpu" for the
// CPU, else d's name up to its first space ("cuda:0 (NVIDIA H200)" gives
// "cuda:0").
func deviceName(d nn.Device, name string) string {
	switch {
	case name != "":
		return name
	case d == nil:
		return "cpu"
	}
	n, _, _ := strings.Cut(d.Name(), " ")
	return n
}

// guard runs a job, turning a panic into its error. The ops panic (a layer
// cannot return an error) when a device tensor reaches an op without
// kernels for it, or when the device fails; those messages name the device
// and say what to do, and become the run's error as they are. Any other
// panic is a bug, reported with its stack as the lab does.
func (e *engine) guard(f JobFunc) JobFunc {
	return func(ctx context.Context, j *Job) (err error) {
		defer e.recoverPanic(&err)
		if e.opts.Device != nil {
			j.Logf("computing on %s", e.opts.Device.Name())
		}
		return f(ctx, j)
	}
}

// recoverPanic, deferred, turns a panic into *err (see guard).
func (e *engine) recoverPanic(err *error) {
	p := recover()
	if p == nil {
		return
	}
	if e.opts.Device != nil {
		if pe, ok := p.(error); ok && strings.Contains(pe.Error(), e.opts.Device.Name()) {
			*err = pe
			return
		}
		if msg := fmt.Sprint(p); strings.Contains(msg, e.opts.Device.Name()) {
			*err = errors.New(msg)
			return
		}
	}
	*err = fmt.Errorf("job panicked: %v\n%s", p, debug.Stack())
}

// enginePreset is the search package's preset behind a lab preset name
// (or an engine preset name given directly).
func enginePreset(name string) (search.Preset, error) {
	if p, ok := PresetByName(name); ok {
		name = p.Engine
	}
	if name == "" {
		name = "quick"
	}
	return search.PresetByName(name)
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// stepsOf is the number of intermediate nodes of a cell with n edges
// (n = s(s+3)/2).
func stepsOf(n int) int {
	s := 1
	for s*(s+3)/2 < n {
		s++
	}
	return s
}

// emitter turns the search package's events into lab events.
func emitter(j *Job) func(search.Event) {
	return func(e search.Event) {
		le := Event{Epoch: e.Epoch, Epochs: e.Epochs, Step: e.Step, TotalSteps: e.TotalSteps, Loss: e.Loss, Acc: e.Acc,
			ValLoss: e.ValLoss, ValAcc: e.ValAcc, TestLoss: e.TestLoss, TestAcc: e.TestAcc, LR: e.LR,
			ImagesPerSec: e.ImagesPerSec, Time: e.Time}
		switch e.Kind {
		case search.EventStep:
			le.Kind = EventStep
		case search.EventEpoch:
			le.Kind = EventEpoch
		case search.EventAlphas:
			if e.Alphas == nil {
				return
			}
			le.Kind = EventAlphas
			le.Alphas = &Alphas{Pairs: e.Alphas.Pairs, Edges: EdgeNames(stepsOf(len(e.Alphas.Normal))),
				Normal: e.Alphas.Normal, Reduce: e.Alphas.Reduce, Epoch: e.Epoch, Step: e.Step}
		case search.EventGenotype:
			if e.Genotype == nil {
				return
			}
			le.Kind, le.Genotype, le.GenotypeText = EventGenotype, e.Genotype.Clone(), e.Genotype.String()
		case search.EventError:
			le.Kind, le.Message = EventLog, "error: "+e.Err
		default: // done: the job's return says it
			return
		}
		j.Emit(le)
	}
}

// openData opens the training (or test) split of a spec's dataset.
func (e *engine) openData(ctx context.Context, spec Spec, train bool) (data.Dataset, error) {
	name := spec.Dataset
	if name == "" {
		name = "mnist"
	}
	open := e.opts.Data
	if open == nil {
		open = func(name string, train bool) (data.Dataset, error) {
			return data.Open(ctx, name, e.opts.DataDir, train)
		}
	}
	ds, err := open(name, train)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	return ds, nil
}

func (e *engine) search(ctx context.Context, j *Job) error {
	spec := j.Spec
	p, err := enginePreset(spec.Preset)
	if err != nil {
		return err
	}
	space, err := search.SpaceByName(cmp.Or(spec.Space, "bio"))
	if err != nil {
		return err
	}
	full, err := e.openData(ctx, spec, true)
	if err != nil {
		return err
	}
	halves := search.SplitForSearch(full, cmp.Or(spec.Subset, p.SearchImages))
	dname := cmp.Or(spec.Dataset, "mnist")
	ckpt := filepath.Join(j.Dir, DirCheckpoint)
	resume := j.Resume && search.HasCheckpoint(ckpt)
	if resume {
		if done, ok, _ := search.CheckpointEpoch(ckpt); ok {
			j.Logf("resuming from the checkpoint after epoch %d", done)
		}
	}
	emit := emitter(j)
	method, err := search.ParseMethod(cmp.Or(string(spec.Method), string(search.MethodDARTS)))
	if err != nil {
		return err
	}
	plan, err := search.NewPlan(method, p, search.Overrides{
		Space: space, Epochs: spec.Epochs, BatchSize: spec.BatchSize, LR: float32(spec.LR), C: spec.C, Cells: spec.Cells,
		Seed: spec.Seed, Augment: data.DefaultAugment(dname, p.SearchCutout), Norm: data.DefaultNorm(dname),
	}, search.Hooks{Emit: emit, CheckpointDir: ckpt, Resume: resume, Device: e.opts.Device, Workers: e.opts.Workers})
	if err != nil {
		return err
	}
	// The configuration the search runs with, every default filled in, as
	// bionas search writes it: the run's details show it.
	key, cfg := plan.Config()
	if err := writeConfig(j, map[string]any{"method": method, "dataset": dname, "preset": p.Name, "images": halves.Train.Len() + halves.Val.Len(), key: cfg}); err != nil {
		return err
	}
	res, err := plan.Run(ctx, halves)
	if err != nil {
		return err
	}
	// The final architecture (the search emits it too; this makes sure
	// the run's snapshots end on the result).
	if res.Alphas != nil {
		emit(search.Event{Kind: search.EventAlphas, Alphas: res.Alphas, Epoch: res.Epochs, Step: res.Steps})
	}
	g := res.Genotype
	emit(search.Event{Kind: search.EventGenotype, Genotype: &g, Epoch: res.Epochs, Step: res.Steps})
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return j.WriteFile("result.json", append(out, '\n'))
}

// FileDynamics holds a train run's dynamics probes (Spec.Dynamics), one
// JSON line per probed epoch.
const FileDynamics = "dynamics.jsonl"

// ParseDynamics reads the lines of a dynamics.jsonl.
func ParseDynamics(b []byte) ([]search.Dynamics, error) {
	var out []search.Dynamics
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d search.Dynamics
		if err := json.Unmarshal(line, &d); err != nil {
			return out, fmt.Errorf("%s line %d: %w", FileDynamics, i+1, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// writeConfig writes config.json, the configuration a job runs with.
func writeConfig(j *Job, cfg map[string]any) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	return j.WriteFile("config.json", append(b, '\n'))
}

// shape is the image shape and classes of the dataset a spec names: known
// by name (listing a network's layers needs no data), or read from
// EngineOptions.Data's dataset.
func (e *engine) shape(ctx context.Context, spec Spec) (c, size, classes int, err error) {
	if e.opts.Data == nil {
		d, err := data.Describe(cmp.Or(spec.Dataset, "mnist"))
		if err != nil {
			return 0, 0, 0, err
		}
		return d.Channels, d.Height, d.Classes, nil
	}
	ds, err := e.openData(ctx, spec, false)
	if err != nil {
		return 0, 0, 0, err
	}
	c, size, _ = ds.Shape()
	return c, size, ds.Classes(), nil
}

// network builds the discrete network a train or retrain spec trains (its
// genotype, the preset's shape, the spec's sizes and rule edits), untrained.
func (e *engine) network(ctx context.Context, spec Spec, g Genotype) (*search.Network, search.Preset, error) {
	p, err := enginePreset(spec.Preset)
	if err != nil {
		return nil, p, err
	}
	if err := g.Validate(); err != nil {
		return nil, p, err
	}
	ncfg := p.Network
	ncfg.Genotype = g
	ncfg.C = cmp.Or(spec.C, ncfg.C)
	ncfg.Layers = cmp.Or(spec.Cells, ncfg.Layers)
	if ncfg.InChannels, ncfg.ImageSize, ncfg.Classes, err = e.shape(ctx, spec); err != nil {
		return nil, p, err
	}
	ncfg.Seed = spec.Seed
	net, err := search.NewNetwork(ncfg)
	if err != nil {
		return nil, p, err
	}
	for _, ed := range spec.Edits {
		r, err := rule.Parse(string(ed.Rule))
		if err != nil {
			return nil, p, fmt.Errorf("rule edit %s: %w", ed, err)
		}
		if err := net.OverrideRule(ed.Selector, r); err != nil {
			return nil, p, err
		}
	}
	return net, p, nil
}

// layerInfos lists a network's layers for the rule editor: names and
// selectors as search.Network.OverrideRule reads them (cells and edges
// counted from 0), with each edge's place in the genotype and each cell's
// kind.
func layerInfos(net *search.Network) []LayerInfo {
	var out []LayerInfo
	for _, l := range net.Layers() {
		li := LayerInfo{Name: l.Name, Cell: l.Cell, Op: string(l.Op), Rule: l.Rule, Shape: l.Shape}
		if l.Cell >= 0 {
			li.Reduce = l.Reduce
			prefix := fmt.Sprintf("cells.%d.", l.Cell)
			if l.Edge >= 0 {
				li.Edge = fmt.Sprintf("cell%d.edge%d", l.Cell, l.Edge)
				li.FromTo = fmt.Sprintf("%d→%d", l.From, l.To)
				prefix += fmt.Sprintf("edge%d.op.", l.Edge)
			}
			if part, ok := strings.CutPrefix(l.Name, prefix); ok {
				li.Part = part
			}
		}
		if li.Op == "" {
			li.Op = "conv"
			if strings.HasSuffix(l.Name, "classifier") {
				li.Op = "linear"
			}
		}
		out = append(out, li)
	}
	return out
}

func (e *engine) layers(ctx context.Context, g Genotype, spec Spec) ([]LayerInfo, error) {
	net, _, err := e.network(ctx, spec, g)
	if err != nil {
		return nil, err
	}
	return layerInfos(net), nil
}

// train trains the discrete network of the spec's genotype from scratch
// (a retrain too: the same seed gives the same initial weights as its
// parent's, so that the comparison isolates the rule edits), then saves it
// as model.safetensors + model.json.
func (e *engine) train(ctx context.Context, j *Job) error {
	spec := j.Spec
	if spec.Genotype == nil {
		return errors.New("no genotype to train")
	}
	net, p, err := e.network(ctx, spec, *spec.Genotype)
	if err != nil {
		return err
	}
	j.Emit(Event{Kind: EventGenotype, Genotype: spec.Genotype, GenotypeText: net.Cfg.Genotype.String()})
	j.Emit(Event{Kind: EventLayers, Layers: layerInfos(net)})

	trainDS, err := e.openData(ctx, spec, true)
	if err != nil {
		return err
	}
	testDS, err := e.openData(ctx, spec, false)
	if err != nil {
		return err
	}
	if n := cmp.Or(spec.Subset, p.TrainImages); n > 0 && n < trainDS.Len() {
		trainDS = data.Subset(trainDS, firstN(n))
	}
	dname := cmp.Or(spec.Dataset, "mnist")
	tcfg := p.Train
	tcfg.Epochs = cmp.Or(spec.Epochs, tcfg.Epochs)
	tcfg.BatchSize = cmp.Or(spec.BatchSize, tcfg.BatchSize)
	tcfg.LR = cmp.Or(float32(spec.LR), tcfg.LR)
	tcfg.Augment, tcfg.Norm, tcfg.Seed = data.DefaultAugment(dname, p.TrainCutout), data.DefaultNorm(dname), spec.Seed
	if p.TestImages > 0 {
		tcfg.EvalLimit = p.TestImages
	}
	tcfg.Workers = cmp.Or(e.opts.Workers, tcfg.Workers)
	ckpt := filepath.Join(j.Dir, DirCheckpoint)
	tcfg.CheckpointDir, tcfg.Resume, tcfg.Emit = ckpt, j.Resume && search.HasCheckpoint(ckpt), emitter(j)
	tcfg.Device = e.opts.Device
	if spec.Dynamics {
		// The dynamics study's probes, one line per probe in
		// dynamics.jsonl. A resumed run probes again the epoch it resumes
		// at: the file keeps one line per epoch, the latest.
		var probes []search.Dynamics
		if b, err := os.ReadFile(filepath.Join(j.Dir, FileDynamics)); err == nil && j.Resume {
			probes, _ = ParseDynamics(b)
		}
		tcfg.Dynamics = &search.DynamicsConfig{}
		tcfg.OnDynamics = func(d search.Dynamics) {
			probes = slices.DeleteFunc(probes, func(p search.Dynamics) bool { return p.Epoch >= d.Epoch })
			probes = append(probes, d)
			var buf bytes.Buffer
			for _, p := range probes {
				b, err := json.Marshal(p)
				if err != nil {
					j.Logf("dynamics probe after epoch %d: %v", d.Epoch, err)
					return
				}
				buf.Write(append(b, '\n'))
			}
			if err := j.WriteFile(FileDynamics, buf.Bytes()); err != nil {
				j.Logf("dynamics probe after epoch %d: %v", d.Epoch, err)
			}
		}
	}
	params := 0
	for _, q := range net.Params() {
		params += q.T.Len()
	}
	if err := writeConfig(j, map[string]any{"dataset": dname, "preset": p.Name, "images": trainDS.Len(), "genotype": net.Cfg.Genotype,
		"rule_edits": spec.Edits, "network": map[string]any{"c": net.Cfg.C, "layers": net.Cfg.Layers, "auxiliary": net.Cfg.Auxiliary,
			"seed": net.Cfg.Seed, "params": params}, "train": tcfg}); err != nil {
		return err
	}
	res, err := search.Train(ctx, net, tcfg, trainDS, testDS)
	if err != nil {
		return err
	}
	c, size, classes := net.Cfg.InChannels, net.Cfg.ImageSize, net.Cfg.Classes
	meta := search.ModelMeta{Kind: search.ModelKind, Genotype: net.Cfg.Genotype, C: net.Cfg.C, Layers: net.Cfg.Layers, Classes: classes, InChannels: c, ImageSize: net.Cfg.ImageSize,
		Auxiliary: net.Cfg.Auxiliary, Norm: tcfg.Norm, Dataset: dname, TestAcc: res.TestAcc,
		Extra: map[string]any{"run": j.ID, "edits": spec.Edits, "seed": spec.Seed, "image_size": size}}
	if err := nn.SaveModel(filepath.Join(j.Dir, "model.safetensors"), net, meta); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return j.WriteFile("result.json", append(b, '\n'))
}

// loadModel rebuilds a trained run's network and loads its weights.
func (e *engine) loadModel(ctx context.Context, model RunInfo, dir string) (*search.Network, *data.Norm, error) {
	if model.Spec.Genotype == nil {
		return nil, nil, fmt.Errorf("run %s has no genotype", model.ID)
	}
	net, _, err := e.network(ctx, model.Spec, *model.Spec.Genotype)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("run %s has no trained model: %w", model.ID, err)
	}
	var meta search.ModelMeta
	if err := nn.LoadModel(path, net, &meta); err != nil {
		return nil, nil, err
	}
	return net, meta.Norm, nil
}
