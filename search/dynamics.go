package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// The learning-dynamics probe of the `dynamics` study (issue 14; the
// paper's Fig. 3 gradient variance and Figs. 4–6 weight distributions,
// plus two alignment angles): ProbeDynamics measures, per layer, how noisy
// the weight gradient is across mini-batches, how far the layer's feedback
// matrix and the error its rules deliver are from back-propagation's, and
// how its weights are distributed. Train calls it at initialisation and
// after every DynamicsConfig.Every epochs when TrainConfig.Dynamics is set.
//
// A probe changes nothing that training reads (weights, gradients,
// BatchNorm running statistics, brSF's draw counters, drop path, Hebbian
// weights, any random stream of the run), so a run with probes is
// bit-identical to one without (TestTrainDynamicsLeavesTrainingUnchanged).
//
// Mode: the probe's forwards are training-mode forwards (BatchNorm on the
// batch's statistics), the forwards whose gradients training follows;
// evaluation-mode BN would measure the gradient of a different function,
// and at initialisation (running statistics 0 and 1) a very different
// one. The running statistics a training forward moves are put back
// afterwards. Drop path is off during the probe: its noise is a
// regulariser whose strength the schedule ramps over the epochs, and it
// would mix into the batch-to-batch variance the probe reports and make
// the epochs incomparable. Hebbian layers do not learn (the probe's graph
// is not a weight step), the loss is the main head's plain cross-entropy
// (no auxiliary head, no label smoothing), and no optimizer steps.

// DynamicsConfig configures the probe. Zero fields take the defaults in
// brackets.
type DynamicsConfig struct {
	// Every: Train probes after every Every epochs [1] (and after the last
	// one); the probe at initialisation (epoch 0) always runs.
	Every int `json:"every"`
	// Batches is M, the number of probe mini-batches the gradient
	// statistics run over [8]; at least 2.
	Batches int `json:"batches"`
	// BatchSize is the probe batches' size [64].
	BatchSize int `json:"batch_size"`
	// Bins is the number of bins of each layer's weight histogram [41: an
	// odd number, so that one bin is centred on 0].
	Bins int `json:"bins"`
}

// withDefaults fills in the zero fields only: a negative one stays, for
// validate to name.
func (c DynamicsConfig) withDefaults() DynamicsConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Every, 1)
	def(&c.Batches, 8)
	def(&c.BatchSize, 64)
	def(&c.Bins, 41)
	return c
}

func (c DynamicsConfig) validate() error {
	if c.Every < 1 || c.Batches < 2 || c.BatchSize < 1 || c.Bins < 1 {
		return fmt.Errorf("dynamics: every %d (≥ 1), batches %d (≥ 2: a variance needs two), batch size %d and bins %d (≥ 1) out of range",
			c.Every, c.Batches, c.BatchSize, c.Bins)
	}
	return nil
}

// Dynamics is one probe of a network.
type Dynamics struct {
	// Epoch is the number of epochs completed when probed (0: at
	// initialisation); Step the number of weight steps.
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
	// Batches and BatchSize are the probe batches actually used (Batches
	// is smaller than the configured M when the probe set holds fewer
	// than M batches).
	Batches   int `json:"batches"`
	BatchSize int `json:"batch_size"`
	// Layers follows Network.Layers: every conv and linear layer, and the
	// Hebbian and predictive-coding layers, in the network's order.
	Layers []LayerDynamics `json:"layers"`
}

// LayerDynamics is what a probe measures of one layer. A quantity that is
// not defined for the layer is NaN in Go and absent from the JSON (which
// has no NaN); see each field.
type LayerDynamics struct {
	// Name is the layer's name as Network.Layers gives it (a RuleEdit
	// selector); Rule its rule (hebb and pc for those layers).
	Name string    `json:"name"`
	Rule rule.Rule `json:"rule"`
	// GradVar is the variance of the layer's weight gradient across the M
	// probe batches (unbiased, divided by M−1), per weight, averaged over
	// the weight's elements: (1/P)·Σ_p Var_m g_{m,p}. The gradient is the
	// one training uses: the layer's true local gradient given the error
	// the network's rules delivered to its output. GradMean2 is the
	// squared norm of the mean gradient per weight, (1/P)·Σ_p ḡ_p², so
	// GradVar/GradMean2 is the relative variance. Both are NaN for layers
	// whose weight got no gradient (Hebbian layers, the auxiliary head,
	// which the probe's loss leaves out). For a predictive-coding layer
	// they are its 3×3 convolution's.
	GradVar   float64 `json:"grad_var"`
	GradMean2 float64 `json:"grad_mean2"`
	// AngleBW is the angle in degrees between the layer's effective
	// feedback matrix B_eff (the matrix its backward pass uses in place of
	// W) and W, both flattened: 0 for bp; fa's fixed B; uSF's scale·sign W;
	// frSF's |R|·sign W; brSF's |R|·sign W with R the next draw of the
	// layer's stream, (Seed, Draws+1), which is the R of the first probe
	// batch and of the next training step. NaN for dfa (whose B maps the
	// network output to the layer input: another shape than W) and for
	// Hebbian and predictive-coding layers (no feedback matrix).
	AngleBW float64 `json:"angle_bw"`
	// AngleGrad is the angle in degrees between the gradient of the loss
	// with respect to the layer's input as the network's rules propagate it
	// and the true (back-propagation) gradient with respect to the same
	// input, on the same batch, each flattened over the whole batch, then
	// averaged over the probe batches. The input is the tensor the layer
	// reads, and its gradient is the whole gradient of that tensor (through
	// every op that reads it: FactorizedReduce's two convolutions share
	// one). For the stem it is the gradient with respect to the
	// (normalised) image, the gradient attacks follow. NaN when no
	// gradient reached the input (the auxiliary head).
	AngleGrad float64 `json:"angle_grad"`
	// WMean, WStd (sample standard deviation, n−1) and Kurtosis (excess
	// kurtosis, gonum's stat.ExKurtosis: 0 for a Gaussian) describe the
	// weight's values; Hist counts them in Bins equal bins over [Lo, Hi] =
	// [−max|w|, max|w|] (the last bin includes Hi; all in the middle bin,
	// Lo = Hi = 0, for an all-zero weight).
	WMean    float64 `json:"w_mean"`
	WStd     float64 `json:"w_std"`
	Kurtosis float64 `json:"kurtosis"`
	Hist     []int   `json:"hist"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
}

// layerDynamicsJSON is LayerDynamics' JSON form: undefined (NaN or
// infinite) quantities are left out, since JSON has no NaN.
type layerDynamicsJSON struct {
	Name      string    `json:"name"`
	Rule      rule.Rule `json:"rule"`
	GradVar   *float64  `json:"grad_var,omitempty"`
	GradMean2 *float64  `json:"grad_mean2,omitempty"`
	AngleBW   *float64  `json:"angle_bw,omitempty"`
	AngleGrad *float64  `json:"angle_grad,omitempty"`
	WMean     *float64  `json:"w_mean,omitempty"`
	WStd      *float64  `json:"w_std,omitempty"`
	Kurtosis  *float64  `json:"kurtosis,omitempty"`
	Hist      []int     `json:"hist"`
	Lo        float64   `json:"lo"`
	Hi        float64   `json:"hi"`
}

// MarshalJSON writes l with its undefined quantities left out.
func (l LayerDynamics) MarshalJSON() ([]byte, error) {
	opt := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(layerDynamicsJSON{Name: l.Name, Rule: l.Rule,
		GradVar: opt(l.GradVar), GradMean2: opt(l.GradMean2), AngleBW: opt(l.AngleBW), AngleGrad: opt(l.AngleGrad),
		WMean: opt(l.WMean), WStd: opt(l.WStd), Kurtosis: opt(l.Kurtosis), Hist: l.Hist, Lo: l.Lo, Hi: l.Hi})
}

// UnmarshalJSON reads l, absent quantities as NaN.
func (l *LayerDynamics) UnmarshalJSON(b []byte) error {
	var j layerDynamicsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*l = LayerDynamics{Name: j.Name, Rule: j.Rule,
		GradVar: val(j.GradVar), GradMean2: val(j.GradMean2), AngleBW: val(j.AngleBW), AngleGrad: val(j.AngleGrad),
		WMean: val(j.WMean), WStd: val(j.WStd), Kurtosis: val(j.Kurtosis), Hist: j.Hist, Lo: j.Lo, Hi: j.Hi}
	return nil
}

// probeLayer is one layer of Network.Layers with what the probe reads.
type probeLayer struct {
	info LayerInfo
	w    *nn.Tensor   // the weight: W, the Hebbian weight, a pc layer's 3×3 conv
	fb   *nn.Feedback // nil for Hebbian and predictive-coding layers
}

// probeLayers pairs each of net's layers with its weight and feedback.
func probeLayers(net *Network) ([]probeLayer, error) {
	tensors := map[string]*nn.Tensor{}
	for _, p := range append(net.Params(), net.Buffers()...) {
		tensors[p.Name] = p.T
	}
	fbs := map[string]*nn.Feedback{}
	for _, l := range net.RuleLayers() {
		fbs[l.LayerName()] = nn.FeedbackOf(l)
	}
	infos := net.Layers()
	out := make([]probeLayer, len(infos))
	for i, li := range infos {
		wname := nn.Join(li.Name, "weight")
		if li.Rule == rule.PC {
			wname = nn.Join(li.Name, "conv.weight")
		}
		w := tensors[wname]
		if w == nil {
			return nil, fmt.Errorf("dynamics: layer %s has no weight %q", li.Name, wname)
		}
		out[i] = probeLayer{info: li, w: w, fb: fbs[li.Name]}
	}
	return out, nil
}

// ProbeDynamics measures net's learning dynamics (see LayerDynamics) on
// the first M·BatchSize images of probe, in M consecutive batches (M =
// cfg.Batches, fewer if probe is smaller; at least 2 are needed), with
// inputs normalised inside the forward by norm if set, as training does.
// The returned Dynamics has Epoch and Step 0: the caller knows them.
//
// Cost: per batch, one training-mode forward and backward under the
// network's rules and one forward and backward with the true gradient that
// computes input gradients only (no weight gradients), so about 2M
// forwards and 2M backwards minus M weight-gradient passes. The network's
// weights must be on the host (Train moves them there for the probe).
//
// Nothing training reads changes; see the comment at the top of the file.
func ProbeDynamics(ctx context.Context, net *Network, probe data.Dataset, cfg DynamicsConfig, norm *data.Norm) (Dynamics, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Dynamics{}, err
	}
	params := net.Params()
	for _, p := range append(net.Params(), net.Buffers()...) {
		if p.T.OnDevice() {
			return Dynamics{}, fmt.Errorf("dynamics: tensor %s is on %s; the probe runs on the host (nn.MoveModule(net, nil) first)", p.Name, p.T.Device().Name())
		}
	}
	m := min(cfg.Batches, probe.Len()/cfg.BatchSize)
	if m < 2 {
		return Dynamics{}, fmt.Errorf("dynamics: the probe set has %d images, fewer than 2 batches of %d", probe.Len(), cfg.BatchSize)
	}
	layers, err := probeLayers(net)
	if err != nil {
		return Dynamics{}, err
	}
	res := Dynamics{Batches: m, BatchSize: cfg.BatchSize, Layers: make([]LayerDynamics, len(layers))}

	// What does not depend on the batches, measured before the probe's
	// forwards move brSF's draw counters (restored at the end): B_eff
	// against W, the weight distribution.
	for i, l := range layers {
		d := &res.Layers[i]
		d.Name, d.Rule = l.info.Name, l.info.Rule
		d.AngleBW = math.NaN()
		if l.fb != nil {
			if beff := l.fb.Effective(l.w.Data, false); beff != nil { // nil for dfa
				d.AngleBW = nn.AngleDeg(beff, l.w.Data)
			}
		}
		d.WMean, d.WStd, d.Kurtosis, d.Hist, d.Lo, d.Hi = weightStats(l.w.Data, cfg.Bins)
	}

	defer saveTrainingState(net, params)()
	net.dropPath = 0

	// Welford's running mean and sum of squared deviations per weight
	// element, in float64: one pass, no M copies of the gradients.
	mean := make([][]float64, len(layers))
	m2 := make([][]float64, len(layers))
	seen := make([]int, len(layers)) // batches in which the weight got a gradient
	angleSum := make([]float64, len(layers))
	angleN := make([]int, len(layers))
	for i, l := range layers {
		mean[i] = make([]float64, l.w.Len())
		m2[i] = make([]float64, l.w.Len())
	}
	needs := make([]bool, len(params))
	for i, p := range params {
		needs[i] = p.T.NeedsGrad
	}
	c, h, w := probe.Shape()
	size := c * h * w
	for b := range m {
		if err := ctx.Err(); err != nil {
			return Dynamics{}, fmt.Errorf("dynamics: %w", err)
		}
		x := make([]float32, cfg.BatchSize*size)
		y := make([]int, cfg.BatchSize)
		for k := range cfg.BatchSize {
			y[k] = probe.Image(b*cfg.BatchSize+k, x[k*size:(k+1)*size])
		}
		// The network's rules: weight gradients and input gradients.
		for _, p := range params {
			p.T.Grad = nil // nil afterwards: no gradient reached it
		}
		ruleIn, err := probeBackward(net, x, y, c, h, w, norm, false, layers)
		if err != nil {
			return Dynamics{}, err
		}
		for i, l := range layers {
			g := l.w.Grad
			if g == nil {
				continue
			}
			seen[i]++
			n := float64(seen[i])
			mu, s := mean[i], m2[i]
			for j, v := range g {
				d := float64(v) - mu[j]
				mu[j] += d / n
				s[j] += d * (float64(v) - mu[j])
			}
		}
		// The true gradient of the same function on the same batch: input
		// gradients only, so the weights need none.
		for _, p := range params {
			p.T.NeedsGrad = false
		}
		trueIn, err := probeBackward(net, x, y, c, h, w, norm, true, layers)
		for i, p := range params {
			p.T.NeedsGrad = needs[i]
		}
		if err != nil {
			return Dynamics{}, err
		}
		for i := range layers {
			if a, t := ruleIn[i], trueIn[i]; a != nil && t != nil {
				if ang := nn.AngleDeg(a, t); !math.IsNaN(ang) {
					angleSum[i] += ang
					angleN[i]++
				}
			}
		}
	}
	for i := range layers {
		d := &res.Layers[i]
		d.GradVar, d.GradMean2, d.AngleGrad = math.NaN(), math.NaN(), math.NaN()
		if seen[i] == m {
			var v, g2 float64
			for j, mu := range mean[i] {
				v += m2[i][j] / float64(m-1)
				g2 += mu * mu
			}
			p := float64(len(mean[i]))
			d.GradVar, d.GradMean2 = v/p, g2/p
		}
		if angleN[i] > 0 {
			d.AngleGrad = angleSum[i] / float64(angleN[i])
		}
	}
	return res, nil
}

// probeBackward runs one training-mode forward and backward of the batch
// (x, y) through net, under the network's rules or (trueGrad) with the
// true gradient, and returns the gradient with respect to each layer's
// input (nil where none reached it). The image itself needs a gradient, so
// that the stem's input gradient exists. A panic of the engine (a shape
// the network cannot take) comes back as an error.
func probeBackward(net *Network, x []float32, y []int, c, h, w int, norm *data.Norm, trueGrad bool, layers []probeLayer) (in [][]float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dynamics: forward/backward (true gradient %v): %v", trueGrad, r)
		}
	}()
	// A fixed source: with drop path off no op draws from it, but a graph
	// must not fall back on a stream training shares.
	g := nn.NewGraph(true, rand.New(rand.NewPCG(0xd1a9, 0x5eed)))
	g.TrueGradient = trueGrad
	g.TapInputs()
	defer g.Release()
	img := nn.FromSlice(x, len(y), c, h, w)
	img.NeedsGrad = true
	logits := net.Forward(g, normalizeInput(g, img, norm))
	g.SetOutput(logits)
	g.Backward(g.CrossEntropy(logits, y, 0))
	in = make([][]float32, len(layers))
	for i, l := range layers {
		if t := g.Input(l.info.Name); t != nil && t.Grad != nil {
			in[i] = t.Grad
		}
	}
	return in, nil
}

// saveTrainingState records what a probe's forwards and backwards can
// change — the parameters' gradient buffers and NeedsGrad, every buffer's
// values (BatchNorm running statistics move in training forwards), each
// rule layer's brSF draw counter, the drop-path probability — and returns
// the function that puts it all back. Gradient buffers are put back as
// the very slices they were, so training's later ZeroGrad reuses them.
func saveTrainingState(net *Network, params []nn.Named) func() {
	grads := make([][]float32, len(params))
	needs := make([]bool, len(params))
	for i, p := range params {
		grads[i], needs[i] = p.T.Grad, p.T.NeedsGrad
	}
	bufs := net.Buffers()
	vals := make([][]float32, len(bufs))
	for i, b := range bufs {
		vals[i] = append([]float32(nil), b.T.Data...)
	}
	var fbs []*nn.Feedback
	var draws []uint64
	for _, l := range net.RuleLayers() {
		if f := nn.FeedbackOf(l); f != nil {
			fbs, draws = append(fbs, f), append(draws, f.Draws)
		}
	}
	dropPath := net.dropPath
	return func() {
		for i, p := range params {
			p.T.Grad, p.T.NeedsGrad = grads[i], needs[i]
		}
		for i, b := range bufs {
			copy(b.T.Data, vals[i])
		}
		for i, f := range fbs {
			f.Draws = draws[i]
		}
		net.dropPath = dropPath
	}
}

// weightStats returns the mean, sample standard deviation and excess
// kurtosis of w and its histogram in bins bins over [−max|w|, max|w|].
func weightStats(w []float32, bins int) (mean, std, kurt float64, hist []int, lo, hi float64) {
	x := make([]float64, len(w))
	for i, v := range w {
		x[i] = float64(v)
		hi = math.Max(hi, math.Abs(x[i]))
	}
	mean, std = stat.MeanStdDev(x, nil)
	kurt = stat.ExKurtosis(x, nil)
	hist = make([]int, bins)
	if hi == 0 {
		hist[bins/2] = len(w)
		return mean, std, kurt, hist, 0, 0
	}
	lo = -hi
	width := (hi - lo) / float64(bins)
	for _, v := range x {
		k := int((v - lo) / width)
		hist[min(max(k, 0), bins-1)]++ // v = hi falls in the last bin
	}
	return mean, std, kurt, hist, lo, hi
}

// dynamicsProbeSet is the fixed probe set Train hands ProbeDynamics: M
// batches of the training set drawn without replacement by a permutation
// seeded from the run's seed (its own stream, so no other draw moves), the
// same images at every probe so that epochs compare; without augmentation
// (crop, flip and cutout would add noise that is not the gradient's), but
// with the augmentation's normalisation when it has one, since the
// network was trained on normalised images.
func dynamicsProbeSet(train data.Dataset, cfg DynamicsConfig, seed uint64, aug data.Augment) data.Dataset {
	n := min(train.Len(), cfg.Batches*cfg.BatchSize)
	perm := rand.New(rand.NewPCG(deriveSeed(seed, streamDynamics), 0)).Perm(train.Len())
	var ds data.Dataset = data.Subset(train, perm[:n])
	if aug.Normalize != nil {
		c, _, _ := train.Shape()
		ds = normalizedSet{ds, perChannelNorm(aug.Normalize.Mean, c), perChannelNorm(aug.Normalize.Std, c)}
	}
	return ds
}

// normalizedSet normalises a dataset's images per channel.
type normalizedSet struct {
	data.Dataset
	mean, std []float32
}

func (s normalizedSet) Image(i int, dst []float32) int {
	y := s.Dataset.Image(i, dst)
	c, h, w := s.Shape()
	for ch := range c {
		p := dst[ch*h*w : (ch+1)*h*w]
		for j := range p {
			p[j] = (p[j] - s.mean[ch]) / s.std[ch]
		}
	}
	return y
}
