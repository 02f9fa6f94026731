package search

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// TrainConfig configures the retraining of a discrete network (REFERENCE.md
// §2.5; the paper's §3.4): SGD with momentum, a cosine (or linear) learning
// rate per epoch down to LRMin, global gradient clipping, the auxiliary
// head's loss weighted by AuxWeight, drop path ramped linearly from 0 to
// DropPath over the epochs, cutout through Augment, optional label
// smoothing, evaluation on the test set after every epoch. A zero field
// means the paper's CIFAR-10 setting in brackets; for settings whose
// meaningful value may be 0 a negative value means 0.
type TrainConfig struct {
	// Epochs [600], BatchSize [96].
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR [0.025] at epoch 0, annealed to LRMin [0] by Schedule ["cosine";
	// "linear" for the ImageNet16-120 setting].
	LR       float32 `json:"lr"`
	LRMin    float32 `json:"lr_min"`
	Schedule string  `json:"schedule,omitempty"`
	// SGDSettings are the SGD and gradient clipping.
	SGDSettings
	// AuxWeight [0.4] weighs the auxiliary head's loss (used when the
	// network has one).
	AuxWeight float32 `json:"aux_weight"`
	// DropPath [0.2] is the drop-path probability reached at the end: epoch
	// e trains with DropPath·e/Epochs.
	DropPath float32 `json:"drop_path"`
	// LabelSmoothing [0] (0.1 in the ImageNet16-120 setting).
	LabelSmoothing float32 `json:"label_smoothing"`
	// Augment is the training augmentation (cutout included); Norm, if set,
	// normalises the inputs inside the forward pass (so the network sees
	// what it was trained on when given [0,1] images with the same Norm).
	Augment data.Augment `json:"augment"`
	Norm    *data.Norm   `json:"norm,omitempty"`
	// StepsPerEpoch, if > 0, caps the steps of each epoch (short trainings:
	// random search, quick presets); 0 runs whole epochs.
	StepsPerEpoch int `json:"steps_per_epoch,omitempty"`
	// EvalLimit, if > 0, evaluates on the first EvalLimit test images only.
	EvalLimit int `json:"eval_limit,omitempty"`
	// EvalBatch [256] is the evaluation batch size.
	EvalBatch int    `json:"-"`
	Seed      uint64 `json:"seed"`
	// RunControl: events, workers, checkpoints, and the device that holds
	// the network for the whole run (parameters, activations, gradients,
	// optimizer state).
	RunControl
	// Dynamics, if set, probes the network's learning dynamics
	// (ProbeDynamics) at initialisation and after every Dynamics.Every
	// epochs and the last, and hands each probe to OnDynamics. Probing
	// changes nothing in the training (weights, losses and accuracies are
	// bit-identical with and without), so it is not part of a checkpoint's
	// fingerprint: a run may be resumed with or without it.
	Dynamics   *DynamicsConfig `json:"dynamics,omitempty"`
	OnDynamics func(Dynamics)  `json:"-"`
}

func (c TrainConfig) withDefaults() TrainConfig {
	c.Epochs = orDefault(c.Epochs, 600)
	c.BatchSize = orDefault(c.BatchSize, 96)
	c.LR = orDefault(c.LR, 0.025)
	c.LRMin = orDefault(c.LRMin, 0)
	if c.Schedule == "" {
		c.Schedule = "cosine"
	}
	c.SGDSettings = c.SGDSettings.withDefaults()
	c.AuxWeight = orDefault(c.AuxWeight, 0.4)
	c.DropPath = orDefault(c.DropPath, 0.2)
	c.LabelSmoothing = orDefault(c.LabelSmoothing, 0)
	c.EvalBatch = orDefault(c.EvalBatch, 256)
	c.RunControl = c.RunControl.withDefaults()
	return c
}

// TrainResult is the outcome of a training run.
type TrainResult struct {
	Epochs int `json:"epochs"`
	Steps  int `json:"steps"`
	// TestLoss and TestAcc are measured after the last epoch; BestTestAcc
	// is the best epoch's.
	TestLoss    float64      `json:"test_loss"`
	TestAcc     float64      `json:"test_acc"`
	BestTestAcc float64      `json:"best_test_acc"`
	History     []EpochStats `json:"history"`
	ResumedAt   int          `json:"resumed_at,omitempty"`
	Seconds     float64      `json:"seconds"`
}

// Train trains net on train and evaluates it on test after every epoch,
// emitting "step" events every EmitEvery steps, an "epoch" event per epoch
// (with TestLoss and TestAcc) and a "done" event. With a CheckpointDir it
// saves a checkpoint per epoch (weights, buffers, feedback states, SGD
// state, history) and with Resume continues from it; the learning rate,
// drop path, batch order and augmentation depend only on (Seed, epoch), so a
// resumed run matches an uninterrupted one. It returns ctx.Err() when
// cancelled.
func Train(ctx context.Context, net *Network, cfg TrainConfig, train, test data.Dataset) (*TrainResult, error) {
	cfg = cfg.withDefaults()
	emit := newEmitter(cfg.Emit, "train")
	var sched nn.Schedule
	switch cfg.Schedule {
	case "cosine":
		sched = nn.Cosine{Base: cfg.LR, Min: cfg.LRMin, Epochs: cfg.Epochs}
	case "linear":
		sched = nn.LinearDecay{Start: cfg.LR, End: cfg.LRMin, Epochs: cfg.Epochs}
	default:
		return nil, fmt.Errorf("train: schedule %q: want cosine or linear", cfg.Schedule)
	}
	steps := train.Len() / cfg.BatchSize
	if cfg.StepsPerEpoch > 0 {
		steps = min(steps, cfg.StepsPerEpoch)
	}
	if steps == 0 {
		return nil, fmt.Errorf("train: the training set has %d images, fewer than one batch of %d", train.Len(), cfg.BatchSize)
	}
	if cfg.EvalLimit > 0 && cfg.EvalLimit < test.Len() {
		idx := make([]int, cfg.EvalLimit)
		for i := range idx {
			idx[i] = i
		}
		test = data.Subset(test, idx)
	}
	params := net.Params()
	tensors := nn.Tensors(params)
	opt := nn.NewSGD(params, cfg.sgd(cfg.LR))
	parts := checkpointParts{model: net, wOpt: opt}
	// The fingerprint of a resumable run: the training settings and every
	// rule layer's rule (an override changes no shape, so the tensors alone
	// would not tell).
	rules := map[string]rule.Rule{}
	for _, l := range net.RuleLayers() {
		rules[l.LayerName()] = l.Rule()
	}
	fp := cfg
	fp.Dynamics = nil // probing does not change the run
	conf, err := configJSON(struct {
		Train  TrainConfig          `json:"train"`
		Rules  map[string]rule.Rule `json:"rules"`
		Params int                  `json:"params"`
	}{fp, rules, countParams(params)})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &TrainResult{}
	epoch0, step := 0, 0
	if cfg.Resume && cfg.CheckpointDir != "" {
		st, err := loadCheckpoint(cfg.CheckpointDir, "train", conf, parts)
		switch {
		case err == nil:
			epoch0, step, res.History, res.ResumedAt = st.Epoch, st.Step, st.History, st.Epoch
		case isNoCheckpoint(err):
		default:
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	forward := func(x *nn.Tensor) *nn.Tensor { return net.Forward(nil, normalizeInput(nil, x, cfg.Norm)) }
	if d := cfg.Device; d != nil {
		if err := networkOnDevice(d, net.Cfg.Genotype); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if err := nn.MoveModule(net, d); err != nil {
			return nil, fmt.Errorf("train: move the network to %s: %w", d.Name(), err)
		}
		defer func() { _ = nn.MoveModule(net, nil) }()
		forward = forwardOn(net, d, cfg.Norm)
	}
	probe, err := newDynamicsProbe(net, cfg, train)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if epoch0 == 0 {
		if err := probe(ctx, 0, step); err != nil {
			return nil, err
		}
	}
	total := steps * cfg.Epochs
	for epoch := epoch0; epoch < cfg.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lr := sched.LR(epoch)
		opt.SetLR(lr)
		net.SetDropPath(cfg.DropPath * float32(epoch) / float32(cfg.Epochs))
		es, err := trainEpoch(ctx, net, opt, tensors, cfg, train, epoch, steps, &step, total, start, emit)
		if err != nil {
			return nil, err
		}
		es.LR = float64(lr)
		tl, ta, err := evalModel(ctx, forward, test, cfg.EvalBatch, cfg.Workers)
		if err != nil {
			return nil, err
		}
		es.TestLoss, es.TestAcc = tl, ta
		es.Seconds = time.Since(start).Seconds()
		res.History = append(res.History, es)
		emit(Event{Kind: EventEpoch, Epoch: epoch, Epochs: cfg.Epochs, Step: step, TotalSteps: total,
			Loss: es.Loss, Acc: es.Acc, TestLoss: tl, TestAcc: ta, LR: float64(lr), Seconds: es.Seconds})
		// Before the checkpoint: a run stopped in between probes this
		// epoch again when resumed (a repeat, never a gap).
		if err := probe(ctx, epoch+1, step); err != nil {
			return nil, err
		}
		if cfg.CheckpointDir != "" {
			st := ckptState{Kind: "train", Config: conf, Epoch: epoch + 1, Step: step, History: res.History}
			if err := saveCheckpoint(cfg.CheckpointDir, parts, st); err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
		}
	}
	net.SetDropPath(0)
	res.Epochs, res.Steps = cfg.Epochs, step
	for _, h := range res.History {
		res.BestTestAcc = math.Max(res.BestTestAcc, h.TestAcc)
	}
	if n := len(res.History); n > 0 {
		res.TestLoss, res.TestAcc = res.History[n-1].TestLoss, res.History[n-1].TestAcc
	}
	res.Seconds = time.Since(start).Seconds()
	emit(Event{Kind: EventDone, Epoch: cfg.Epochs, Epochs: cfg.Epochs, Step: step, TotalSteps: total,
		TestLoss: res.TestLoss, TestAcc: res.TestAcc, Seconds: res.Seconds})
	return res, nil
}

// newDynamicsProbe returns the function Train calls at initialisation
// (epoch 0) and after every epoch: it runs ProbeDynamics on the fixed
// probe set (dynamicsProbeSet) when cfg.Dynamics asks for that epoch —
// 0, every Every-th, the last — and hands the result to cfg.OnDynamics.
// Without cfg.Dynamics it does nothing. On a device the network visits
// the host for the probe (the probe reads gradients of every layer's
// input, which only the host path keeps) and goes back: values cross
// unchanged both ways, so training continues bit for bit.
func newDynamicsProbe(net *Network, cfg TrainConfig, train data.Dataset) (func(ctx context.Context, epoch, step int) error, error) {
	if cfg.Dynamics == nil {
		return func(context.Context, int, int) error { return nil }, nil
	}
	dc := cfg.Dynamics.withDefaults()
	if err := dc.validate(); err != nil {
		return nil, err
	}
	set := dynamicsProbeSet(train, dc, cfg.Seed, cfg.Augment)
	return func(ctx context.Context, epoch, step int) error {
		if epoch != 0 && epoch%dc.Every != 0 && epoch != cfg.Epochs {
			return nil
		}
		if d := cfg.Device; d != nil {
			if err := nn.MoveModule(net, nil); err != nil {
				return fmt.Errorf("train: dynamics probe after epoch %d: move the network to the host: %w", epoch, err)
			}
		}
		dyn, err := ProbeDynamics(ctx, net, set, dc, cfg.Norm)
		if d := cfg.Device; d != nil {
			if merr := nn.MoveModule(net, d); merr != nil && err == nil {
				err = fmt.Errorf("move the network back to %s: %w", d.Name(), merr)
			}
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr // cancelled: Train returns ctx.Err() as is
			}
			return fmt.Errorf("train: dynamics probe after epoch %d: %w", epoch, err)
		}
		dyn.Epoch, dyn.Step = epoch, step
		if cfg.OnDynamics != nil {
			cfg.OnDynamics(dyn)
		}
		return nil
	}, nil
}

// trainEpoch runs the steps of one training epoch.
func trainEpoch(ctx context.Context, net *Network, opt *nn.SGD, tensors []*nn.Tensor, cfg TrainConfig, train data.Dataset,
	epoch, steps int, step *int, total int, start time.Time, emit emitter) (EpochStats, error) {
	l := newEpochLoader(train, cfg.BatchSize, deriveSeed(cfg.Seed, streamTrainLoader, uint64(epoch)), cfg.Augment, cfg.Norm, cfg.Workers, true)
	defer l.Close()
	var sumLoss float64
	var correct, seen int
	win := newStepWindow(time.Now())
	for i := 0; i < steps; i++ {
		if err := ctx.Err(); err != nil {
			return EpochStats{}, err
		}
		b, ok := l.Next(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return EpochStats{}, err
			}
			break
		}
		x := nn.FromSlice(b.X, b.N, b.C, b.H, b.W)
		for _, t := range tensors {
			t.ZeroGrad()
		}
		g := nn.NewGraph(true, graphRand(cfg.Seed, streamGraph, epoch, *step))
		g.WeightStep = true // Hebbian layers learn in weight steps
		if cfg.Device != nil {
			x = g.ToDevice(x, cfg.Device) // the batch: the step's one upload of data
		}
		logits, aux := net.ForwardAux(g, normalizeInput(g, x, cfg.Norm))
		g.SetOutput(logits)
		main := g.CrossEntropy(logits, b.Y, cfg.LabelSmoothing)
		loss := main
		if aux != nil && cfg.AuxWeight > 0 {
			loss = g.Add(main, g.Scale(g.CrossEntropy(aux, b.Y, cfg.LabelSmoothing), cfg.AuxWeight))
		}
		g.Backward(loss)
		if cfg.GradClip > 0 {
			n := nn.ClipGradNorm(tensors, cfg.GradClip)
			if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
				l.Release(b)
				return EpochStats{}, fmt.Errorf("train: epoch %d step %d: gradient norm is %v (training diverged; lower the learning rate)", epoch, *step, n)
			}
		}
		opt.Step()
		c := nn.Accuracy(logits, b.Y)
		lv := float64(main.Values()[0])
		g.Release()
		*step++
		sumLoss += lv * float64(b.N)
		correct += c
		seen += b.N
		win.add(lv, c, b.N)
		l.Release(b)
		if *step%cfg.EmitEvery == 0 {
			emit(win.event(epoch, cfg.Epochs, *step, total, float64(opt.LR()), start))
		}
	}
	if seen == 0 {
		return EpochStats{}, fmt.Errorf("train: epoch %d had no batch", epoch)
	}
	return EpochStats{Epoch: epoch, Steps: *step, Loss: sumLoss / float64(seen), Acc: float64(correct) / float64(seen)}, nil
}

// Evaluate returns the mean cross-entropy and the accuracy of net on ds
// (inference: BatchNorm running statistics, no drop path), normalising the
// inputs with norm if set.
func Evaluate(ctx context.Context, net *Network, ds data.Dataset, norm *data.Norm, batch int) (loss, acc float64, err error) {
	if batch <= 0 {
		batch = 256
	}
	return evalModel(ctx, func(x *nn.Tensor) *nn.Tensor { return net.Forward(nil, normalizeInput(nil, x, norm)) }, ds, batch, 1)
}

// forwardOn returns the evaluation forward of l, whose weights live on d:
// it takes host batches and returns host logits, and gives the device
// memory of each batch back as soon as the logits are home.
func forwardOn(l nn.Layer, d nn.Device, norm *data.Norm) func(x *nn.Tensor) *nn.Tensor {
	return func(x *nn.Tensor) *nn.Tensor {
		g := nn.NewInference()
		defer g.Release()
		return nn.ToDevice(l.Forward(g, normalizeInput(g, g.ToDevice(x, d), norm)), nil)
	}
}

// networkOnDevice refuses to put a network with hebb or pc edges on d
// (nil: the host, always fine): a run would otherwise fail in the middle
// of its first step. Only the feedback rules have device kernels; hebb
// and pc layers run their own local updates on the CPU.
func networkOnDevice(d nn.Device, g Genotype) error {
	if d == nil {
		return nil
	}
	for _, c := range []struct {
		name string
		cell CellGenotype
	}{{"normal", g.Normal}, {"reduce", g.Reduce}} {
		for _, e := range c.cell.Edges {
			if !e.Rule.IsFeedback() {
				return fmt.Errorf("the %s cell's edge %d→%d %s:%s (rule %s) has no kernels for %s; run this model on the cpu (--device cpu)",
					c.name, e.From, e.To, e.Op, e.Rule, e.Rule, d.Name())
			}
		}
	}
	return nil
}

// supernetOnDevice is networkOnDevice for a supernet over space.
func supernetOnDevice(d nn.Device, space Space) error {
	if d == nil {
		return nil
	}
	for _, p := range space.Pairs {
		if !p.Rule.IsFeedback() {
			return fmt.Errorf("the space's pair %s (rule %s) has no kernels for %s; run this search on the cpu (--device cpu)", p, p.Rule, d.Name())
		}
	}
	return nil
}

func countParams(ps []nn.Named) int {
	n := 0
	for _, p := range ps {
		n += p.T.Len()
	}
	return n
}

// ModelKind is the kind under which networks built from genotypes are
// saved (ModelMeta.Kind) and registered with attacks.Registry.
const ModelKind = "network"

// ModelMeta is the metadata the CLI and the lab store beside a trained
// network's weights (nn.SaveModel's extra): enough to rebuild the network
// and feed it correctly.
type ModelMeta struct {
	// Kind is ModelKind, so that tools reading any checkpoint (bionas
	// attack's registry) know what built it.
	Kind       string       `json:"kind,omitempty"`
	Genotype   Genotype     `json:"genotype"`
	C          int          `json:"c"`
	Layers     int          `json:"layers"`
	Classes    int          `json:"classes"`
	InChannels int          `json:"in_channels"`
	ImageSize  int          `json:"image_size,omitempty"`
	Auxiliary  bool         `json:"auxiliary"`
	Norm       *data.Norm   `json:"norm,omitempty"`
	Dataset    string       `json:"dataset,omitempty"`
	TestAcc    float64      `json:"test_acc,omitempty"`
	Extra      any          `json:"extra,omitempty"`
	Train      *TrainConfig `json:"train,omitempty"`
}
