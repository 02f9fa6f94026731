package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// DARTSConfig configures DARTS (REFERENCE.md §2.3), first order or second
// order (Unrolled), and PC-DARTS through Supernet.PartialChannels = 4 (with
// ArchLR 6e-4, ArchWarmup 15, LR 0.1, LRMin < 0 for PC-DARTS' own
// settings, §5). A zero field means DARTS' default, given in brackets, so
// DARTSConfig{} is usable as is; for the float settings whose meaningful
// value may be 0, a negative value means 0.
type DARTSConfig struct {
	// Supernet is the network searched (its zero value: DARTS' C=16, 8
	// cells, over the space given; a zero Space means BioSpace()).
	Supernet SupernetConfig `json:"supernet"`
	// Unrolled selects the second-order (unrolled) architecture gradient.
	Unrolled bool `json:"unrolled"`
	// Epochs [50] and BatchSize [64] (both halves use the same size).
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// LR [0.025] is the weight learning rate at epoch 0, annealed by a
	// cosine per epoch to LRMin [0.001].
	LR    float32 `json:"lr"`
	LRMin float32 `json:"lr_min"`
	// SGDSettings are the weights' SGD and gradient clipping.
	SGDSettings
	// ArchLR [3e-4], ArchWeightDecay [1e-3], ArchBeta1 [0.5] and
	// ArchBeta2 [0.999] configure the architecture's Adam.
	ArchLR          float32 `json:"arch_lr"`
	ArchWeightDecay float32 `json:"arch_weight_decay"`
	ArchBeta1       float32 `json:"arch_beta1"`
	ArchBeta2       float32 `json:"arch_beta2"`
	// ArchWarmup [0] is the number of epochs that train the weights only
	// before architecture steps start (PC-DARTS: 15).
	ArchWarmup int `json:"arch_warmup"`
	// Augment is the training augmentation, applied to both halves as in
	// DARTS; Norm, if set, normalises the inputs inside the forward pass.
	Augment data.Augment `json:"augment"`
	Norm    *data.Norm   `json:"norm,omitempty"`
	// Seed seeds everything (supernet initialisation included when
	// Supernet.Seed is 0).
	Seed uint64 `json:"seed"`
	// RunControl: events, workers, checkpoints, the device (the supernet
	// and both optimizers' state live there).
	RunControl
}

func (c DARTSConfig) withDefaults() DARTSConfig {
	c.Supernet = supernetDefaults(c.Supernet, c.Seed)
	c.Epochs = orDefault(c.Epochs, 50)
	c.BatchSize = orDefault(c.BatchSize, 64)
	c.LR = orDefault(c.LR, 0.025)
	c.LRMin = orDefault(c.LRMin, 0.001)
	c.SGDSettings = c.SGDSettings.withDefaults()
	c.ArchLR = orDefault(c.ArchLR, 3e-4)
	c.ArchWeightDecay = orDefault(c.ArchWeightDecay, 1e-3)
	c.ArchBeta1 = orDefault(c.ArchBeta1, 0.5)
	c.ArchBeta2 = orDefault(c.ArchBeta2, 0.999)
	c.RunControl = c.RunControl.withDefaults()
	return c
}

// supernetDefaults fills a supernet configuration's space and seed.
func supernetDefaults(s SupernetConfig, seed uint64) SupernetConfig {
	if len(s.Space.Pairs) == 0 {
		s.Space = BioSpace()
	}
	if s.Seed == 0 {
		s.Seed = deriveSeed(seed, streamNetwork)
	}
	return s
}

// supernetForData sets the classes and input channels from the data when
// they are not given.
func supernetForData(s SupernetConfig, ds data.Dataset) SupernetConfig {
	if s.Classes == 0 {
		s.Classes = ds.Classes()
	}
	if s.InChannels == 0 {
		s.InChannels, _, _ = ds.Shape()
	}
	return s
}

// EpochStats is the record of one finished epoch (or random-search
// sample).
type EpochStats struct {
	Epoch int     `json:"epoch"`
	Steps int     `json:"steps"` // steps done in the whole run at the end of the epoch
	LR    float64 `json:"lr"`
	// Loss and Acc average the training batches of the epoch.
	Loss     float64   `json:"loss"`
	Acc      float64   `json:"acc"`
	ValLoss  float64   `json:"val_loss,omitempty"`
	ValAcc   float64   `json:"val_acc,omitempty"`
	TestLoss float64   `json:"test_loss,omitempty"`
	TestAcc  float64   `json:"test_acc,omitempty"`
	Genotype *Genotype `json:"genotype,omitempty"`
	Seconds  float64   `json:"seconds"`
}

// Result is the outcome of a search.
type Result struct {
	Method   string         `json:"method"`
	Genotype Genotype       `json:"genotype"`
	Alphas   *AlphaSnapshot `json:"alphas,omitempty"`
	Epochs   int            `json:"epochs"`
	Steps    int            `json:"steps"`
	ValLoss  float64        `json:"val_loss"`
	ValAcc   float64        `json:"val_acc"`
	History  []EpochStats   `json:"history"`
	// ResumedAt is the number of epochs (samples) already done when the run
	// resumed from a checkpoint (0 for a fresh run).
	ResumedAt int `json:"resumed_at,omitempty"`
	// Samples lists random search's evaluated genotypes.
	Samples []RandomSample `json:"samples,omitempty"`
	// Seconds is the wall time of this process's part of the run.
	Seconds float64 `json:"seconds"`
}

// DARTS searches with DARTS (first or second order) or PC-DARTS: it trains
// the supernet's weights on train and its architecture on val (the two
// halves of data.SearchSplit), epoch after epoch, and returns the derived
// genotype. Each iteration takes an architecture step on a batch of val,
// then a weight step on a batch of train; the weight learning rate follows
// a cosine per epoch. Per epoch it emits the genotype derived before the
// epoch's training (as DARTS logs it) and the alphas, then "step" events,
// then the epoch's validation loss and accuracy on val.
//
// It returns ctx.Err() when cancelled; with a CheckpointDir the last
// finished epoch is saved and a later call with Resume continues from it.
func DARTS(ctx context.Context, cfg DARTSConfig, train, val data.Dataset) (*Result, error) {
	cfg = cfg.withDefaults()
	cfg.Supernet = supernetForData(cfg.Supernet, train)
	method := "darts"
	switch {
	case cfg.Supernet.PartialChannels > 1:
		method = "pcdarts"
	case cfg.Unrolled:
		method = "darts2"
	}
	if cfg.Unrolled && cfg.Supernet.PartialChannels > 1 {
		method = "pcdarts2"
	}
	emit := newEmitter(cfg.Emit, method)
	net, err := NewSupernet(cfg.Supernet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	t := newSupernetTrainer(net, cfg.Supernet.Space, cfg.Norm, cfg.GradClip, cfg.Seed, cfg.sgd(cfg.LR))
	t.dev = cfg.Device
	t.aOpt = nn.NewAdam(t.alphas, nn.AdamConfig{
		LR: cfg.ArchLR, Beta1: cfg.ArchBeta1, Beta2: cfg.ArchBeta2, WeightDecay: cfg.ArchWeightDecay,
	})
	conf, err := configJSON(cfg)
	if err != nil {
		return nil, err
	}
	loop := &searchLoop{
		kind: "darts", method: method, t: t, train: train, val: val, emit: emit,
		epochs: cfg.Epochs, batch: cfg.BatchSize, seed: cfg.Seed,
		sched:   nn.Cosine{Base: cfg.LR, Min: cfg.LRMin, Epochs: cfg.Epochs},
		augment: cfg.Augment, norm: cfg.Norm, workers: cfg.Workers, emitEvery: cfg.EmitEvery,
		ckptDir: cfg.CheckpointDir, resume: cfg.Resume, config: conf,
	}
	var vl *data.Loader
	loop.beginEpoch = func(ctx context.Context, epoch int) error {
		if epoch >= cfg.ArchWarmup {
			vl = loop.loader(val, streamValLoader, epoch)
		}
		return nil
	}
	loop.endEpoch = func() {
		if vl != nil {
			vl.Close()
			vl = nil
		}
	}
	loop.step = func(ctx context.Context, epoch, step int, xt *nn.Tensor, yt []int) (float64, int, error) {
		if vl != nil {
			vb, ok := vl.Next(ctx)
			if !ok { // the arch half is exhausted: its next epoch starts
				if err := ctx.Err(); err != nil {
					return 0, 0, err
				}
				if vb, ok = vl.Next(ctx); !ok {
					if err := ctx.Err(); err != nil {
						return 0, 0, err
					}
					return 0, 0, fmt.Errorf("%s: the validation half yields no batch", method)
				}
			}
			xv := nn.FromSlice(vb.X, vb.N, vb.C, vb.H, vb.W)
			switch {
			case cfg.Unrolled && t.dev != nil:
				err = t.archStepUnrolledDev(xt, yt, xv, vb.Y, epoch, step)
			case cfg.Unrolled:
				err = t.archStepUnrolled(xt, yt, xv, vb.Y, epoch, step)
			default:
				t.archStep(xv, vb.Y, epoch, step)
			}
			vl.Release(vb)
			if err != nil {
				return 0, 0, err
			}
		}
		return t.weightStep(xt, yt, epoch, step)
	}
	return loop.run(ctx)
}

// supernetTrainer holds a supernet and its optimizers and takes the
// elementary steps of the searches.
type supernetTrainer struct {
	net      *Supernet
	space    Space
	weights  []nn.Named
	wTensors []*nn.Tensor
	alphas   []nn.Named
	wOpt     *nn.SGD
	aOpt     *nn.Adam
	norm     *data.Norm
	clip     float32
	seed     uint64
	// dev, if set, is where the supernet lives while the search runs
	// (searchLoop.run moves it there and back): each step's batch goes up
	// through its graph, which gives its memory back when the step ends.
	dev nn.Device
}

// graph is a recording training graph of the trainer.
func (t *supernetTrainer) graph(r *rand.Rand) *nn.Graph { return nn.NewGraph(true, r) }

func newSupernetTrainer(net *Supernet, space Space, norm *data.Norm, clip float32, seed uint64, sgd nn.SGDConfig) *supernetTrainer {
	t := &supernetTrainer{net: net, space: space, norm: norm, clip: clip, seed: seed}
	t.weights = net.Weights()
	t.wTensors = nn.Tensors(t.weights)
	t.alphas = net.Alphas()
	t.wOpt = nn.NewSGD(t.weights, sgd)
	return t
}

// graphRand is the random source of a step's graph (drop path, dropout).
func graphRand(seed uint64, stream uint64, epoch, step int, extra ...uint64) *rand.Rand {
	return rand.New(rand.NewPCG(deriveSeed(seed, append([]uint64{stream, uint64(epoch), uint64(step)}, extra...)...), 0))
}

// forwardLoss runs the supernet on (x, y) on graph g and returns the logits
// and the mean cross-entropy.
func (t *supernetTrainer) forwardLoss(g *nn.Graph, x *nn.Tensor, y []int) (logits, loss *nn.Tensor) {
	if t.dev != nil {
		x = g.ToDevice(x, t.dev) // the batch: the step's one upload of data
	}
	logits = t.net.Forward(g, normalizeInput(g, x, t.norm))
	g.SetOutput(logits)
	return logits, g.CrossEntropy(logits, y, 0)
}

// weightStep is one SGD step of the weights on a training batch: CE,
// backward (the alphas are frozen meanwhile, so no α-gradient is computed),
// global-norm clipping, SGD. It returns the batch loss and the number of
// correct predictions.
func (t *supernetTrainer) weightStep(x *nn.Tensor, y []int, epoch, step int) (float64, int, error) {
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	defer namedSetNeedsGrad(t.alphas, true)
	g := t.graph(graphRand(t.seed, streamGraph, epoch, step))
	defer g.Release() // after the loss and accuracy are read
	logits, loss := t.forwardLoss(g, x, y)
	g.Backward(loss)
	if t.clip > 0 {
		n := nn.ClipGradNorm(t.wTensors, t.clip)
		if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
			return 0, 0, fmt.Errorf("epoch %d step %d: weight gradient norm is %v (training diverged; lower the learning rate)", epoch, step, n)
		}
	}
	t.wOpt.Step()
	return float64(loss.Values()[0]), nn.Accuracy(logits, y), nil
}

// archStep is DARTS' first-order architecture step: ∇α L_val(w, α) on a
// batch of the arch half (weights frozen meanwhile), then Adam.
func (t *supernetTrainer) archStep(x *nn.Tensor, y []int, epoch, step int) {
	namedZeroGrad(t.alphas)
	namedSetNeedsGrad(t.weights, false)
	g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step))
	defer g.Release()
	_, loss := t.forwardLoss(g, x, y)
	g.Backward(loss)
	namedSetNeedsGrad(t.weights, true)
	t.aOpt.Step()
}

// archStepUnrolled is DARTS' second-order architecture step
// (REFERENCE.md §2.3), with ξ the current weight learning rate:
//
//	w' = w − ξ·(m·buf + ∇w L_train(w, α) + wd·w)
//	dα = ∇α L_val(w', α) − ξ·[∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)] / (2ε)
//	w± = w ± ε·∇w' L_val(w', α),  ε = 0.01 / ‖∇w' L_val(w', α)‖₂
//
// then Adam on dα. buf is the weight optimizer's momentum buffer (0 before
// the first step); the virtual step is plain momentum SGD even when the
// weight optimizer uses Nesterov (as in the reference, which never does). The weights are left as they were; so are the buffers
// (BatchNorm running statistics, Hebbian weights): each of the four virtual
// forwards starts from the buffers as they were before the step, and the
// step restores them at the end. (The reference builds the unrolled model
// as a fresh copy, so its forwards do not touch the model's buffers; ours
// do not either.)
func (t *supernetTrainer) archStepUnrolled(xt *nn.Tensor, yt []int, xv *nn.Tensor, yv []int, epoch, step int) error {
	xi := t.wOpt.LR()
	oc := t.wOpt.Config()
	w0 := namedData(t.weights)
	buffers := t.net.Buffers()
	b0 := namedData(buffers)
	defer namedRestore(buffers, b0)
	defer namedRestore(t.weights, w0)

	// 1. ∇w L_train(w) and the virtual step.
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step, 1))
	_, loss := t.forwardLoss(g, xt, yt)
	g.Backward(loss)
	namedSetNeedsGrad(t.alphas, true)
	for _, p := range t.weights {
		w, gr := p.T.Data, p.T.Grad
		buf := t.wOpt.MomentumBuffer(p.Name)
		for j := range w {
			d := oc.WeightDecay * w[j]
			if gr != nil {
				d += gr[j]
			}
			if buf != nil {
				d += oc.Momentum * buf[j]
			}
			w[j] -= xi * d
		}
	}

	// 2. ∇α and ∇w' of L_val at w'.
	namedRestore(buffers, b0)
	namedZeroGrad(t.weights)
	namedZeroGrad(t.alphas)
	g = t.graph(graphRand(t.seed, streamArchGraph, epoch, step, 2))
	_, loss = t.forwardLoss(g, xv, yv)
	g.Backward(loss)
	dAlpha := namedGrads(t.alphas)
	v := namedGrads(t.weights)
	var norm float64
	for _, vs := range v {
		for _, x := range vs {
			norm += float64(x) * float64(x)
		}
	}
	norm = math.Sqrt(norm)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("epoch %d step %d: unrolled validation gradient norm is %v (training diverged)", epoch, step, norm)
	}

	// 3. Finite-difference Hessian-vector product around w.
	if norm > 0 {
		eps := float32(0.01 / norm)
		grads := make([][][]float32, 2)
		for k, sgn := range []float32{1, -1} {
			for i, p := range t.weights {
				w := p.T.Data
				for j := range w {
					w[j] = w0[i][j] + sgn*eps*v[i][j]
				}
			}
			namedRestore(buffers, b0)
			namedZeroGrad(t.alphas)
			namedSetNeedsGrad(t.weights, false)
			g = t.graph(graphRand(t.seed, streamArchGraph, epoch, step, uint64(3+k)))
			_, loss = t.forwardLoss(g, xt, yt)
			g.Backward(loss)
			namedSetNeedsGrad(t.weights, true)
			grads[k] = namedGrads(t.alphas)
		}
		scale := xi / (2 * eps)
		for i := range dAlpha {
			for j := range dAlpha[i] {
				dAlpha[i][j] -= scale * (grads[0][i][j] - grads[1][i][j])
			}
		}
	}
	for i, a := range t.alphas {
		copy(a.T.GradBuf(), dAlpha[i])
	}
	t.aOpt.Step()
	return nil
}

// normalizeInput normalises x per channel inside the graph when norm is set.
func normalizeInput(g *nn.Graph, x *nn.Tensor, norm *data.Norm) *nn.Tensor {
	if norm == nil {
		return x
	}
	c := x.Dim(1)
	return g.Normalize(x, perChannelNorm(norm.Mean, c), perChannelNorm(norm.Std, c))
}

func perChannelNorm(v []float32, c int) []float32 {
	if len(v) == c {
		return v
	}
	out := make([]float32, c)
	for i := range out {
		out[i] = v[0]
	}
	return out
}

func namedSetNeedsGrad(ns []nn.Named, v bool) {
	for _, n := range ns {
		n.T.NeedsGrad = v
	}
}

func namedZeroGrad(ns []nn.Named) {
	for _, n := range ns {
		n.T.ZeroGrad()
	}
}

func namedData(ns []nn.Named) [][]float32 {
	out := make([][]float32, len(ns))
	for i, n := range ns {
		out[i] = slices.Clone(n.T.Data)
	}
	return out
}

func namedRestore(ns []nn.Named, d [][]float32) {
	for i, n := range ns {
		copy(n.T.Data, d[i])
	}
}

func namedGrads(ns []nn.Named) [][]float32 {
	out := make([][]float32, len(ns))
	for i, n := range ns {
		if n.T.Grad == nil {
			out[i] = make([]float32, len(n.T.Data))
		} else {
			out[i] = slices.Clone(n.T.Grad)
		}
	}
	return out
}

// searchLoop is the epoch loop shared by DARTS and EG-NAS: per epoch a
// fresh loader over the training half (seeded by the epoch), a step per
// batch, an evaluation on the validation half, a checkpoint.
type searchLoop struct {
	kind, method string
	t            *supernetTrainer
	train, val   data.Dataset
	emit         emitter
	epochs       int
	batch        int
	seed         uint64
	sched        nn.Schedule
	augment      data.Augment
	norm         *data.Norm
	workers      int
	emitEvery    int
	ckptDir      string
	resume       bool
	config       json.RawMessage
	extraTen     []nn.Named

	beginEpoch func(ctx context.Context, epoch int) error
	step       func(ctx context.Context, epoch, step int, x *nn.Tensor, y []int) (loss float64, correct int, err error)
	endEpoch   func()
}

// loader returns the loader of one epoch over ds.
func (l *searchLoop) loader(ds data.Dataset, stream uint64, epoch int) *data.Loader {
	return newEpochLoader(ds, l.batch, deriveSeed(l.seed, stream, uint64(epoch)), l.augment, l.norm, l.workers, true)
}

// newEpochLoader makes a shuffled loader whose first epoch is the one
// wanted; cutout fills with the normalisation mean (so the normalised image
// holds zeros there, as in DARTS).
func newEpochLoader(ds data.Dataset, batch int, seed uint64, aug data.Augment, norm *data.Norm, workers int, dropLast bool) *data.Loader {
	if aug.Cutout > 0 && aug.Normalize == nil && aug.CutoutFill == nil && norm != nil {
		aug.CutoutFill = norm.Mean
	}
	return data.NewLoader(ds, data.LoaderConfig{
		BatchSize: batch, Shuffle: true, Seed: seed, DropLast: dropLast, Augment: aug, Workers: workers,
	})
}

func (l *searchLoop) parts() checkpointParts {
	return checkpointParts{model: l.t.net, alphas: l.t.alphas, wOpt: l.t.wOpt, aOpt: l.t.aOpt, extraTen: l.extraTen}
}

// move puts the supernet and its alphas on d (nil: the host).
func (l *searchLoop) move(d nn.Device) error {
	if err := nn.MoveModule(l.t.net, d); err != nil {
		return err
	}
	for _, a := range l.t.alphas {
		if err := a.T.MoveTo(d); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
	}
	return nil
}

func (l *searchLoop) run(ctx context.Context) (*Result, error) {
	start := time.Now()
	steps := l.train.Len() / l.batch
	if steps == 0 {
		return nil, fmt.Errorf("%s: the training half has %d images, fewer than one batch of %d", l.method, l.train.Len(), l.batch)
	}
	if l.val.Len() == 0 {
		return nil, fmt.Errorf("%s: the validation half is empty", l.method)
	}
	res := &Result{Method: l.method}
	epoch0, step := 0, 0
	if l.resume && l.ckptDir != "" {
		st, err := loadCheckpoint(l.ckptDir, l.kind, l.config, l.parts())
		switch {
		case err == nil:
			epoch0, step, res.History, res.ResumedAt = st.Epoch, st.Step, st.History, st.Epoch
		case isNoCheckpoint(err):
		default:
			return nil, fmt.Errorf("%s: %w", l.method, err)
		}
	}
	forward := func(x *nn.Tensor) *nn.Tensor { return l.t.net.Forward(nil, normalizeInput(nil, x, l.norm)) }
	if d := l.t.dev; d != nil {
		if err := supernetOnDevice(d, l.t.space); err != nil {
			return nil, fmt.Errorf("%s: %w", l.method, err)
		}
		// After the resume: the checkpoint was read into host tensors, and
		// the optimizers' loaded state goes up on first use.
		if err := l.move(d); err != nil {
			return nil, fmt.Errorf("%s: move the supernet to %s: %w", l.method, d.Name(), err)
		}
		defer func() { _ = l.move(nil) }()
		forward = forwardOn(l.t.net, d, l.norm)
	}
	total := steps * l.epochs
	for epoch := epoch0; epoch < l.epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lr := l.sched.LR(epoch)
		l.t.wOpt.SetLR(lr)
		geno := l.t.net.Genotype()
		l.emit(Event{Kind: EventGenotype, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total, Genotype: &geno})
		l.emit(Event{Kind: EventAlphas, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total, Alphas: snapshotAlphas(l.t.net, l.t.space)})
		es, err := l.runEpoch(ctx, epoch, &step, total, start)
		if err != nil {
			return nil, err
		}
		es.Genotype = &geno
		es.LR = float64(lr)
		vloss, vacc, err := evalModel(ctx, forward, l.val, 2*l.batch, l.workers)
		if err != nil {
			return nil, err
		}
		es.ValLoss, es.ValAcc = vloss, vacc
		es.Seconds = time.Since(start).Seconds()
		res.History = append(res.History, es)
		// The epoch event goes out before the checkpoint: a process killed
		// between the two resumes from the previous checkpoint, whose reader
		// drops this event and redoes the epoch. The other order would lose
		// the record of an epoch the checkpoint holds.
		l.emit(Event{Kind: EventEpoch, Epoch: epoch, Epochs: l.epochs, Step: step, TotalSteps: total,
			Loss: es.Loss, Acc: es.Acc, ValLoss: vloss, ValAcc: vacc, LR: float64(lr), Seconds: es.Seconds})
		if l.ckptDir != "" {
			st := ckptState{Kind: l.kind, Config: l.config, Epoch: epoch + 1, Step: step, History: res.History}
			if err := saveCheckpoint(l.ckptDir, l.parts(), st); err != nil {
				return nil, fmt.Errorf("%s: %w", l.method, err)
			}
		}
	}
	geno := l.t.net.Genotype()
	res.Genotype = geno
	res.Alphas = snapshotAlphas(l.t.net, l.t.space)
	res.Epochs, res.Steps = l.epochs, step
	if n := len(res.History); n > 0 {
		res.ValLoss, res.ValAcc = res.History[n-1].ValLoss, res.History[n-1].ValAcc
	}
	res.Seconds = time.Since(start).Seconds()
	l.emit(Event{Kind: EventGenotype, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total, Genotype: &geno})
	l.emit(Event{Kind: EventAlphas, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total, Alphas: res.Alphas})
	l.emit(Event{Kind: EventDone, Epoch: l.epochs, Epochs: l.epochs, Step: step, TotalSteps: total,
		ValLoss: res.ValLoss, ValAcc: res.ValAcc, Genotype: &geno, Seconds: res.Seconds})
	return res, nil
}

// runEpoch runs the steps of one epoch.
func (l *searchLoop) runEpoch(ctx context.Context, epoch int, step *int, total int, start time.Time) (EpochStats, error) {
	if l.endEpoch != nil {
		defer l.endEpoch()
	}
	if l.beginEpoch != nil {
		if err := l.beginEpoch(ctx, epoch); err != nil {
			return EpochStats{}, err
		}
	}
	tl := l.loader(l.train, streamTrainLoader, epoch)
	defer tl.Close()
	var sumLoss float64
	var correct, seen int
	win := newStepWindow(time.Now())
	for {
		if err := ctx.Err(); err != nil {
			return EpochStats{}, err
		}
		b, ok := tl.Next(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return EpochStats{}, err
			}
			break
		}
		x := nn.FromSlice(b.X, b.N, b.C, b.H, b.W)
		loss, c, err := l.step(ctx, epoch, *step, x, b.Y)
		tl.Release(b)
		if err != nil {
			return EpochStats{}, err
		}
		*step++
		sumLoss += loss * float64(b.N)
		correct += c
		seen += b.N
		win.add(loss, c, b.N)
		if *step%l.emitEvery == 0 {
			l.emit(win.event(epoch, l.epochs, *step, total, float64(l.t.wOpt.LR()), start))
		}
	}
	if seen == 0 {
		return EpochStats{}, fmt.Errorf("%s: epoch %d had no batch", l.method, epoch)
	}
	return EpochStats{Epoch: epoch, Steps: *step, Loss: sumLoss / float64(seen), Acc: float64(correct) / float64(seen)}, nil
}

// stepWindow accumulates the steps between two "step" events.
type stepWindow struct {
	t0      time.Time
	loss    float64
	correct int
	n       int
}

func newStepWindow(t time.Time) *stepWindow { return &stepWindow{t0: t} }

func (w *stepWindow) add(loss float64, correct, n int) {
	w.loss += loss * float64(n)
	w.correct += correct
	w.n += n
}

// event returns the window's "step" event and starts a new window.
func (w *stepWindow) event(epoch, epochs, step, total int, lr float64, start time.Time) Event {
	now := time.Now()
	e := Event{Kind: EventStep, Epoch: epoch, Epochs: epochs, Step: step, TotalSteps: total, LR: lr,
		Seconds: now.Sub(start).Seconds()}
	if w.n > 0 {
		e.Loss = w.loss / float64(w.n)
		e.Acc = float64(w.correct) / float64(w.n)
		if dt := now.Sub(w.t0).Seconds(); dt > 0 {
			e.ImagesPerSec = float64(w.n) / dt
		}
	}
	*w = stepWindow{t0: now}
	return e
}

// evaluate returns the mean loss and the accuracy of forward (an inference
// forward of a model) over ds, in batches, in index order.
func evalModel(ctx context.Context, forward func(x *nn.Tensor) *nn.Tensor, ds data.Dataset, batch, workers int) (loss, acc float64, err error) {
	if ds.Len() == 0 {
		return 0, 0, nil
	}
	l := data.NewLoader(ds, data.LoaderConfig{BatchSize: batch, Workers: workers})
	defer l.Close()
	var sum float64
	var correct, n int
	for {
		b, ok := l.Next(ctx)
		if !ok {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			break
		}
		logits := forward(nn.FromSlice(b.X, b.N, b.C, b.H, b.W))
		for _, v := range nn.CrossEntropyPerSample(logits, b.Y) {
			sum += float64(v)
		}
		correct += nn.Accuracy(logits, b.Y)
		n += b.N
		l.Release(b)
	}
	return sum / float64(n), float64(correct) / float64(n), nil
}

func isNoCheckpoint(err error) bool {
	return err != nil && errors.Is(err, errNoCheckpoint)
}

// archStepUnrolledDev is archStepUnrolled for a supernet on a device: the
// same steps, with the snapshots, the virtual step and the finite
// differences computed where the tensors live (nn.Axpby, nn.CloneOn). One
// value comes back: ‖∇w' L_val‖, which sets ε. A momentum buffer that has
// not gone up yet (a resumed run before its first weight step) is used
// from the host, as nn.SGD would upload it.
func (t *supernetTrainer) archStepUnrolledDev(xt *nn.Tensor, yt []int, xv *nn.Tensor, yv []int, epoch, step int) error {
	xi := t.wOpt.LR()
	oc := t.wOpt.Config()
	keep := nn.NewInference() // holds the snapshots until the step ends
	defer keep.Release()
	clones := func(ts []*nn.Tensor) []*nn.Tensor {
		out := make([]*nn.Tensor, len(ts))
		for i, x := range ts {
			out[i] = nn.CloneOn(keep, x)
		}
		return out
	}
	gradClones := func(ns []nn.Named) []*nn.Tensor {
		out := make([]*nn.Tensor, len(ns))
		for i, n := range ns {
			out[i] = nn.CloneOn(keep, gradOrZero(n.T))
		}
		return out
	}
	restoreAll := func(dst, src []*nn.Tensor) {
		for i := range dst {
			nn.CopyValues(dst[i], src[i])
		}
	}
	wts := nn.Tensors(t.weights)
	bufs := nn.Tensors(t.net.Buffers())
	w0, b0 := clones(wts), clones(bufs)
	defer restoreAll(bufs, b0)
	defer restoreAll(wts, w0)
	run := func(part uint64, x *nn.Tensor, y []int) {
		g := t.graph(graphRand(t.seed, streamArchGraph, epoch, step, part))
		defer g.Release()
		_, loss := t.forwardLoss(g, x, y)
		g.Backward(loss)
	}

	// 1. ∇w L_train(w) and the virtual step w −= ξ·(wd·w + ∇w + m·buf).
	namedZeroGrad(t.weights)
	namedSetNeedsGrad(t.alphas, false)
	run(1, xt, yt)
	namedSetNeedsGrad(t.alphas, true)
	for _, p := range t.weights {
		if gr := p.T.GradTensor(); gr != nil {
			nn.Axpby(-xi, gr, 1-xi*oc.WeightDecay, p.T)
		} else {
			nn.Axpby(0, nil, 1-xi*oc.WeightDecay, p.T)
		}
		if buf := t.wOpt.MomentumTensor(p.Name); buf != nil {
			if buf.Device() != p.T.Device() {
				buf = nn.ToDevice(buf, p.T.Device())
			}
			nn.Axpby(-xi*oc.Momentum, buf, 1, p.T)
		}
	}

	// 2. ∇α and ∇w' of L_val at w'.
	restoreAll(bufs, b0)
	namedZeroGrad(t.weights)
	namedZeroGrad(t.alphas)
	run(2, xv, yv)
	dAlpha := gradClones(t.alphas)
	v := gradClones(t.weights)
	norm := math.Sqrt(nn.GradSumSquares(wts))
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("epoch %d step %d: unrolled validation gradient norm is %v (training diverged)", epoch, step, norm)
	}

	// 3. Finite-difference Hessian-vector product around w.
	if norm > 0 {
		eps := float32(0.01 / norm)
		scale := xi / (2 * eps)
		for k, sgn := range []float32{1, -1} {
			for i, w := range wts {
				nn.CopyValues(w, w0[i])
				nn.Axpby(sgn*eps, v[i], 1, w)
			}
			restoreAll(bufs, b0)
			namedZeroGrad(t.alphas)
			namedSetNeedsGrad(t.weights, false)
			run(uint64(3+k), xt, yt)
			namedSetNeedsGrad(t.weights, true)
			for i, a := range t.alphas {
				nn.Axpby(-sgn*scale, gradOrZero(a.T), 1, dAlpha[i])
			}
		}
	}
	for i, a := range t.alphas {
		a.T.Alias(true) // makes sure the gradient exists
		nn.CopyValues(a.T.GradTensor(), dAlpha[i])
	}
	t.aOpt.Step()
	return nil
}

// gradOrZero is t's gradient as a tensor, zeros where none reached it.
func gradOrZero(t *nn.Tensor) *nn.Tensor {
	if g := t.GradTensor(); g != nil {
		return g
	}
	t.Alias(true)
	return t.GradTensor()
}
