package search

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// EGNASConfig configures EG-NAS (REFERENCE.md §3): the supernet's weights
// are trained by SGD as in DARTS, and the architecture is moved by CMA-ES
// explorations instead of gradients. A zero field means EG-NAS' default,
// given in brackets; for settings whose meaningful value may be 0 a
// negative value means 0.
//
// Where the released EG-NAS script has accidents, this follows the paper
// (see REFERENCE.md "How to use it"): σ = max(1/(epoch+1), SigmaMin)
// really decays with the epoch (the script passes a constant 0, so σ = 1);
// each exploration runs Generations generations (the script: one); each
// sample's CMA-ES has its own seed (the script: seed 1 for all, so its
// samples are duplicates); the fitness weight 0.4 is passed explicitly (the
// script's call misses the argument and fails); a sample whose best
// candidate has zero accuracy cannot win by a zero score; and the weights'
// gradient clipping sees only the weights (the script's includes the
// never-zeroed α gradients).
//
// The supernet is EG-NAS' own (REFERENCE.md §3.1; EG-NAS' model_search.py
// builds each MixedOp's primitives straight from OPS, with no BatchNorm
// after the pools, and its cells sum the edges without β): with partial
// channels when Supernet.PartialChannels asks for them, but with no edge
// normalisation and no pool BatchNorm (withDefaults sets
// Supernet.NoEdgeNorm and NoPoolBN). PC-DARTS' supernet, which this
// package used before, left β untrained (no gradient step moves it in
// EG-NAS), so random 1e-3·N(0,1) logits scaled each edge's weights in the
// genotype's ranking; PCDartsSupernet brings that supernet back.
type EGNASConfig struct {
	// Supernet is the network searched (EG-NAS: partial channels K=4).
	Supernet SupernetConfig `json:"supernet"`
	// PCDartsSupernet searches on PC-DARTS' supernet: β edge
	// normalisation (with partial channels) and BatchNorm after the pools
	// of a mixed op. The default is EG-NAS' own supernet (REFERENCE.md
	// §3.1, EG-NAS' model_search.py): neither, whatever Supernet says.
	PCDartsSupernet bool `json:"pcdarts_supernet,omitempty"`
	// Epochs [50], BatchSize [256] (weights), ArchBatch [BatchSize/2] (the
	// one batch of the validation half each exploration scores candidates
	// on).
	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	ArchBatch int `json:"arch_batch"`
	// LR [0.1] annealed by a cosine per epoch to LRMin [0].
	LR    float32 `json:"lr"`
	LRMin float32 `json:"lr_min"`
	// SGDSettings are the weights' SGD and gradient clipping.
	SGDSettings
	// Warmup [15] is the number of epochs before the first exploration;
	// from then on, one exploration precedes each epoch's weight training.
	Warmup int `json:"warmup"`
	// Samples [3] independent CMA-ES runs per exploration, each with
	// Population [50] candidates per generation and Generations [3]
	// generations.
	Samples     int `json:"samples"`
	Population  int `json:"population"`
	Generations int `json:"generations"`
	// StepSize [0.1] and PopMomentum [0]: α ← α + StepSize·u with
	// u = (1−PopMomentum)·W* + PopMomentum·u_prev.
	StepSize    float64 `json:"step_size"`
	PopMomentum float64 `json:"pop_momentum"`
	// FitnessWeight [0.4] weighs the similarity term of the compound
	// fitness.
	FitnessWeight float64 `json:"fitness_weight"`
	// SigmaMin [0.02] is the floor of the CMA-ES step size; MeanNoise
	// [0.01] the standard deviation of the noise added to softmax(α) to
	// form the initial mean.
	SigmaMin  float64 `json:"sigma_min"`
	MeanNoise float64 `json:"mean_noise"`
	// Augment, Norm and Seed are as in DARTSConfig.
	Augment data.Augment `json:"augment"`
	Norm    *data.Norm   `json:"norm,omitempty"`
	Seed    uint64       `json:"seed"`
	RunControl
}

func (c EGNASConfig) withDefaults() EGNASConfig {
	c.Supernet = supernetDefaults(c.Supernet, c.Seed)
	if !c.PCDartsSupernet {
		c.Supernet.NoEdgeNorm, c.Supernet.NoPoolBN = true, true
	}
	c.Epochs = orDefault(c.Epochs, 50)
	c.BatchSize = orDefault(c.BatchSize, 256)
	c.ArchBatch = orDefault(c.ArchBatch, max(c.BatchSize/2, 1))
	c.LR = orDefault(c.LR, 0.1)
	c.LRMin = orDefault(c.LRMin, 0)
	c.SGDSettings = c.SGDSettings.withDefaults()
	c.Warmup = orDefault(c.Warmup, 15)
	c.Samples = orDefault(c.Samples, 3)
	c.Population = orDefault(c.Population, 50)
	c.Generations = orDefault(c.Generations, 3)
	c.StepSize = orDefault(c.StepSize, 0.1)
	c.PopMomentum = orDefault(c.PopMomentum, 0)
	c.FitnessWeight = orDefault(c.FitnessWeight, 0.4)
	c.SigmaMin = orDefault(c.SigmaMin, 0.02)
	c.MeanNoise = orDefault(c.MeanNoise, 0.01)
	c.RunControl = c.RunControl.withDefaults()
	return c
}

// EGNAS searches with EG-NAS: per epoch, from epoch Warmup on, one
// exploration moves α (see explore), then the weights are trained on
// train for an epoch by SGD exactly as in DARTS (no gradient step on α),
// then the supernet is evaluated on val. Events, checkpoints and
// cancellation are as in DARTS.
func EGNAS(ctx context.Context, cfg EGNASConfig, train, val data.Dataset) (*Result, error) {
	cfg = cfg.withDefaults()
	cfg.Supernet = supernetForData(cfg.Supernet, train)
	const method = "egnas"
	if cfg.Samples < 1 || cfg.Population < 2 || cfg.Generations < 1 {
		return nil, fmt.Errorf("egnas: need Samples ≥ 1, Population ≥ 2 and Generations ≥ 1, got %d, %d, %d", cfg.Samples, cfg.Population, cfg.Generations)
	}
	emit := newEmitter(cfg.Emit, method)
	net, err := NewSupernet(cfg.Supernet)
	if err != nil {
		return nil, fmt.Errorf("egnas: %w", err)
	}
	t := newSupernetTrainer(net, cfg.Supernet.Space, cfg.Norm, cfg.GradClip, cfg.Seed, cfg.sgd(cfg.LR))
	t.dev = cfg.Device
	edges, pairs := net.AlphaNormal.Shape[0], net.AlphaNormal.Shape[1]
	// u_prev starts as 1e-3·N(0,1), as in the reference.
	prev := nn.New(2 * edges * pairs)
	prng := rand.New(rand.NewPCG(deriveSeed(cfg.Seed, streamExplore), 0))
	for i := range prev.Data {
		prev.Data[i] = float32(1e-3 * prng.NormFloat64())
	}
	conf, err := configJSON(cfg)
	if err != nil {
		return nil, err
	}
	loop := &searchLoop{
		kind: "egnas", method: method, t: t, train: train, val: val, emit: emit,
		epochs: cfg.Epochs, batch: cfg.BatchSize, seed: cfg.Seed,
		sched:   nn.Cosine{Base: cfg.LR, Min: cfg.LRMin, Epochs: cfg.Epochs},
		augment: cfg.Augment, norm: cfg.Norm, workers: cfg.Workers, emitEvery: cfg.EmitEvery,
		ckptDir: cfg.CheckpointDir, resume: cfg.Resume, config: conf,
		extraTen: []nn.Named{{Name: "egnas/prev", T: prev}},
	}
	ex := &explorer{cfg: cfg, t: t, val: val, prev: prev, edges: edges, pairs: pairs}
	// α move only in the explorations (at epoch starts): no "alphas"
	// events within an epoch.
	loop.beginEpoch = func(ctx context.Context, epoch, step int) error {
		if epoch < cfg.Warmup {
			return nil
		}
		if err := ex.explore(ctx, epoch); err != nil {
			return err
		}
		emit(Event{Kind: EventAlphas, Epoch: epoch, Epochs: cfg.Epochs, Step: step, TotalSteps: cfg.Epochs * (train.Len() / cfg.BatchSize),
			Alphas: snapshotAlphas(net, t.space)})
		return nil
	}
	loop.step = func(ctx context.Context, epoch, step int, x *nn.Tensor, y []int) (float64, int, error) {
		return t.weightStep(x, y, epoch, step)
	}
	return loop.run(ctx)
}

// explorer runs EG-NAS' explorations.
type explorer struct {
	cfg          EGNASConfig
	t            *supernetTrainer
	val          data.Dataset
	prev         *nn.Tensor
	edges, pairs int
	// last holds what the latest exploration found (for tests and logs).
	last exploration
}

// exploration is the outcome of one exploration.
type exploration struct {
	Ori     float64   // accuracy (%) of the current supernet on the batch
	Sigma   float64   // CMA-ES initial step size
	Acc     []float64 // per sample: accuracy (%) of its best candidate
	Fitness []float64 // per sample: its best fitness
	Chosen  int       // the sample whose candidate moved α
	Evals   int       // fitness evaluations done
}

// explore is one EG-NAS exploration (REFERENCE.md §3.2) before the weight
// training of epoch:
//
//  1. one batch (x, y) of ArchBatch images of the validation half, drawn
//     from (Seed, epoch); ori = top-1 accuracy (%) of the supernet on it;
//  2. mean m₀ = [softmax(α_normal) + MeanNoise·N(0,1), same for reduce],
//     flattened (2·edges·pairs values);
//  3. σ = max(1/(epoch+1), SigmaMin);
//  4. for each of Samples samples: a new CMA-ES (gonum's CmaEsChol, mean
//     m₀, initial covariance σ²·I, Population, its own seed from (Seed,
//     epoch, sample)) runs Generations generations minimising the compound
//     fitness of each candidate on (x, y); the sample keeps its best
//     candidate (smallest fitness; ties to the later one);
//  5. the winning sample is the one whose best candidate is the most
//     accurate on (x, y) (ties: smaller fitness, then earlier sample); its
//     mixing weights W* = softmax of the row-normalised candidate (one
//     softmax, not the released script's two: see CandidateWeights);
//  6. u = (1−PopMomentum)·W* + PopMomentum·u_prev; α ← α + StepSize·u.
//
// The fitness forwards are inference forwards (nil graph: BatchNorm uses
// its running statistics, brSF draws nothing).
func (ex *explorer) explore(ctx context.Context, epoch int) error {
	cfg, net := ex.cfg, ex.t.net
	l := newEpochLoader(ex.val, min(cfg.ArchBatch, ex.val.Len()), deriveSeed(cfg.Seed, streamExplore, uint64(epoch)), cfg.Augment, cfg.Norm, 1, true)
	b, ok := l.Next(ctx)
	l.Close()
	if !ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("egnas: epoch %d: no batch from the validation half", epoch)
	}
	// On a device the batch goes up once and stays for every candidate.
	keep := nn.NewInference()
	defer keep.Release()
	x := nn.FromSlice(b.X, b.N, b.C, b.H, b.W)
	if ex.t.dev != nil {
		x = keep.ToDevice(x, ex.t.dev)
	}
	x = normalizeInput(keep, x, cfg.Norm)
	y := b.Y
	ori := 100 * float64(nn.Accuracy(ex.forward(func(g *nn.Graph) *nn.Tensor { return net.Forward(g, x) }), y)) / float64(len(y))

	softN, softR := net.AlphaSoftmax()
	rng := rand.New(rand.NewPCG(deriveSeed(cfg.Seed, streamExplore, uint64(epoch)), 1))
	dim := 2 * ex.edges * ex.pairs
	mean := make([]float64, 0, dim)
	for _, rows := range [][][]float32{softN, softR} {
		for _, row := range rows {
			for _, v := range row {
				mean = append(mean, float64(v)+cfg.MeanNoise*rng.NormFloat64())
			}
		}
	}
	sigma := ExploreSigma(epoch, cfg.SigmaMin)
	diag := make([]float64, dim)
	for i := range diag {
		diag[i] = sigma * sigma
	}
	var initChol mat.Cholesky
	if !initChol.Factorize(mat.NewDiagDense(dim, diag)) {
		return fmt.Errorf("egnas: epoch %d: cannot factorise the initial covariance (σ = %v)", epoch, sigma)
	}

	ex.last = exploration{Ori: ori, Sigma: sigma, Chosen: -1}
	var bestX []float64
	bestAcc, bestFit := math.Inf(-1), math.Inf(1)
	for j := range cfg.Samples {
		cma := &optimize.CmaEsChol{
			InitStepSize: sigma,
			Population:   cfg.Population,
			InitCholesky: &initChol,
			Src:          rand.NewPCG(deriveSeed(cfg.Seed, streamCMA, uint64(epoch)), uint64(j)),
		}
		var sx []float64
		sFit, sAcc := math.Inf(1), 0.0
		err := runCMAGenerations(ctx, cma, mean, cfg.Generations, func(c []float64) float64 {
			ex.last.Evals++
			ce, acc := ex.score(c, x, y)
			f := CompoundFitness(ce, acc, ori, ArchSimilarity(softN, softR, c), cfg.FitnessWeight)
			if f <= sFit || sx == nil {
				sFit, sAcc = f, acc
				sx = append(sx[:0], c...)
			}
			return f
		})
		if err != nil {
			return err
		}
		ex.last.Acc = append(ex.last.Acc, sAcc)
		ex.last.Fitness = append(ex.last.Fitness, sFit)
		if sAcc > bestAcc || (sAcc == bestAcc && sFit < bestFit) {
			bestAcc, bestFit, bestX = sAcc, sFit, append([]float64(nil), sx...)
			ex.last.Chosen = j
		}
	}
	wN, wR := CandidateWeights(bestX, ex.edges, ex.pairs)
	mu := cfg.PopMomentum
	k := 0
	for _, part := range []struct {
		w     [][]float32
		alpha *nn.Tensor
	}{{wN, net.AlphaNormal}, {wR, net.AlphaReduce}} {
		step := nn.New(part.alpha.Shape...)
		for e, row := range part.w {
			for p, v := range row {
				u := float32((1-mu)*float64(v) + mu*float64(ex.prev.Data[k]))
				ex.prev.Data[k] = u
				step.Data[e*ex.pairs+p] = float32(cfg.StepSize) * u
				k++
			}
		}
		if d := part.alpha.Device(); d != nil {
			step = keep.ToDevice(step, d) // α moves where it lives: one upload per cell type
		}
		nn.Axpby(1, step, 1, part.alpha)
	}
	return nil
}

// forward runs an inference forward (fwd builds it on the graph it is
// given) and returns the logits on the host; on a device the forward's
// memory goes back as soon as they are home.
func (ex *explorer) forward(fwd func(g *nn.Graph) *nn.Tensor) *nn.Tensor {
	if ex.t.dev == nil {
		return fwd(nil)
	}
	g := nn.NewInference()
	defer g.Release()
	return nn.ToDevice(fwd(g), nil)
}

// score runs the supernet with the candidate's mixing weights on (x, y) and
// returns the mean cross-entropy and the top-1 accuracy in percent.
func (ex *explorer) score(c []float64, x *nn.Tensor, y []int) (ce, acc float64) {
	wN, wR := CandidateWeights(c, ex.edges, ex.pairs)
	logits := ex.forward(func(g *nn.Graph) *nn.Tensor {
		tn, tr := rowsTensor(wN), rowsTensor(wR)
		if ex.t.dev != nil {
			tn, tr = g.ToDevice(tn, ex.t.dev), g.ToDevice(tr, ex.t.dev)
		}
		return ex.t.net.ForwardWithWeights(g, x, tn, tr)
	})
	for _, v := range nn.CrossEntropyPerSample(logits, y) {
		ce += float64(v)
	}
	ce /= float64(len(y))
	acc = 100 * float64(nn.Accuracy(logits, y)) / float64(len(y))
	return ce, acc
}

// ExploreSigma is the CMA-ES step size of the exploration before epoch
// (counted from 0): max(1/(epoch+1), floor).
func ExploreSigma(epoch int, floor float64) float64 {
	return math.Max(1/float64(epoch+1), floor)
}

// CompoundFitness is EG-NAS' compound fitness (REFERENCE.md §3.2), to be
// minimised: ce + weight·sim when the candidate is at least as accurate as
// the current architecture (acc ≥ ori: similarity to it is penalised, which
// pushes the search to explore), else ce − weight·sim. ce is the mean
// cross-entropy of the candidate, acc and ori are accuracies in the same
// unit, sim is ArchSimilarity, weight is 0.4 in EG-NAS.
func CompoundFitness(ce, acc, ori, sim, weight float64) float64 {
	if acc >= ori {
		return ce + weight*sim
	}
	return ce - weight*sim
}

// ArchSimilarity is the similarity term of the compound fitness between the
// current architecture (softN, softR: softmax(α) per edge, edges × pairs)
// and a candidate c (2·edges·pairs values: normal rows, then reduce rows):
//
//	S = ½·[mean_e (cos(softN_e, ĉN_e) + 1)/2 + mean_e (cos(softR_e, ĉR_e) + 1)/2]
//
// with ĉ_e the candidate's row e divided by its L2 norm (the cosine does not
// depend on that normalisation). S lies in [0, 1]. A zero row counts as
// cosine 0.
func ArchSimilarity(softN, softR [][]float32, c []float64) float64 {
	pairs := 0
	if len(softN) > 0 {
		pairs = len(softN[0])
	}
	var s float64
	k := 0
	for _, rows := range [][][]float32{softN, softR} {
		var part float64
		for _, row := range rows {
			var dot, na, nc float64
			for p, v := range row {
				cv := c[k+p]
				dot += float64(v) * cv
				na += float64(v) * float64(v)
				nc += cv * cv
			}
			k += pairs
			cos := 0.0
			if na > 0 && nc > 0 {
				cos = dot / math.Sqrt(na*nc)
			}
			part += (cos + 1) / 2
		}
		if len(rows) > 0 {
			s += part / float64(len(rows))
		}
	}
	return s / 2
}

// CandidateWeights turns a CMA-ES candidate (2·edges·pairs values) into
// mixing weights: each row (one edge of the normal cell, then of the
// reduce cell) is divided by its L2 norm, then passed through a softmax. A
// zero row gives uniform weights.
//
// One softmax, everywhere: the candidate is scored with these weights, the
// winning sample is chosen by the accuracy of these weights, and W* (what
// α moves by) is these weights. Decision: EG-NAS' released train_search.py
// (@ d5d7e1e) applies a second softmax after the search — CFF returns
// softmax(ĉ) as the candidate's weights, and explore_architecture passes
// them through torch.softmax again before measuring the sample's top-1 and
// keeping them as W*, so there W* = softmax(softmax(ĉ)) and a sample is
// ranked with other weights than its fitness used. We read that as an
// accident of the script (a variable already softmaxed, softmaxed again),
// not the method: REFERENCE.md §3.2 describes W* as the best candidate's
// mixing weights, and the second softmax of values in (0, 1) flattens W*
// towards uniform (entries within a factor e of each other), so α would
// hardly move between pairs. Following REFERENCE.md's rule for a
// reference's accidents we implement the intended single softmax, with no
// compatibility switch: the released script cannot run as published (its
// fitness call misses an argument), so no published number depends on it.
func CandidateWeights(c []float64, edges, pairs int) (normal, reduce [][]float32) {
	if len(c) != 2*edges*pairs {
		panic(fmt.Sprintf("search.CandidateWeights: %d values for 2×%d edges×%d pairs", len(c), edges, pairs))
	}
	rows := func(off int) [][]float32 {
		out := make([][]float32, edges)
		for e := range out {
			row := c[off+e*pairs : off+(e+1)*pairs]
			var n float64
			for _, v := range row {
				n += v * v
			}
			n = math.Sqrt(n)
			if n == 0 {
				n = 1
			}
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, v/n)
			}
			w := make([]float32, pairs)
			var sum float64
			ex := make([]float64, pairs)
			for p, v := range row {
				ex[p] = math.Exp(v/n - mx)
				sum += ex[p]
			}
			for p := range w {
				w[p] = float32(ex[p] / sum)
			}
			out[e] = w
		}
		return out
	}
	return rows(0), rows(edges * pairs)
}

func rowsTensor(rows [][]float32) *nn.Tensor {
	r := len(rows)
	c := 0
	if r > 0 {
		c = len(rows[0])
	}
	t := nn.New(r, c)
	for i, row := range rows {
		copy(t.Data[i*c:], row)
	}
	return t
}

// runCMAGenerations drives cma through gonum's optimize.Method protocol for
// gens generations (or fewer if CMA-ES converges), starting from mean,
// evaluating f on each sample in turn (one task at a time, so the order of
// evaluations, and thus the run, is deterministic for a seeded cma.Src).
// It returns ctx.Err() if ctx is cancelled (the remaining samples of the
// generation are then not evaluated).
func runCMAGenerations(ctx context.Context, cma *optimize.CmaEsChol, mean []float64, gens int, f func(x []float64) float64) error {
	dim := len(mean)
	n := cma.Init(dim, 1)
	ops := make(chan optimize.Task)
	res := make(chan optimize.Task)
	tasks := make([]optimize.Task, n)
	for i := range tasks {
		tasks[i].Location = &optimize.Location{X: make([]float64, dim)}
	}
	copy(tasks[0].X, mean)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cma.Run(ops, res, tasks)
	}()
	gen, stopping := 0, false
	stop := func() {
		stopping = true
		res <- optimize.Task{Op: optimize.PostIteration}
		close(res)
	}
	for task := range ops {
		if stopping {
			continue // the method's final report of its best point
		}
		switch task.Op {
		case optimize.FuncEvaluation:
			if ctx.Err() != nil {
				task.F = math.Inf(1)
			} else {
				task.F = f(task.X)
			}
			res <- task
		case optimize.MajorIteration:
			gen++
			if gen >= gens || ctx.Err() != nil {
				stop()
			} else {
				res <- task
			}
		case optimize.MethodDone:
			stop()
		default:
			stop()
		}
	}
	<-done
	return ctx.Err()
}
