package attacks

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// OnePixelConfig configures the one-pixel attack (Su et al.; REFERENCE.md
// §4.6): per image, a differential evolution over k pixels, each a vector
// (row, col, v₁..v_C) that SETS the pixel at (⌊row⌋, ⌊col⌋) to the values
// v (absolute values in [0,1], not a delta; coordinates truncated).
//
// Evolution, as torchattacks' modified SciPy copy: population
// max(5, m·d) for d = k·(2+C) genes and m = max(1, ⌊PopSize/d⌋), uniform
// initialisation, strategy best1bin with recombination 1 (every gene from
// the mutant best + F·(r₀ − r₁), F ~ U(0.5, 1) drawn each generation,
// r₀ ≠ r₁ ≠ the member), genes out of bounds redrawn uniformly, synchronous
// generations (all trials from the old population, evaluated in one
// batch), greedy replacement on strictly lower energy, and a trial that
// beats the best copied into slot 0 as well. Energy: the softmax
// probability of the label (untargeted) or 1 − that of the target. An
// image stops as soon as its best member fools the model; the result is
// the image with its best member applied, fooled or not.
//
// Differences from torchattacks, on purpose: images the model already
// misclassifies (or, targeted, already assigns to their target) are not
// attacked and come back clean; evolution draws from the attack's seed
// (torchattacks uses numpy's unseeded global state); a coordinate that
// lands exactly on the upper bound is clamped to the last row/column
// instead of indexing out of range.
//
// The zero value is torchattacks' default and the paper's: 1 pixel, 10
// steps, popsize 10.
type OnePixelConfig struct {
	Pixels  int // pixels changed per image, k (default 1)
	Steps   int // generations after the initial population (default 10)
	PopSize int // population multiplier as SciPy's popsize (default 10)
	// Batch caps the candidate images evaluated in one forward pass
	// (default 128, torchattacks' inf_batch): memory, not semantics.
	Batch  int
	Target Targeting
}

func (c OnePixelConfig) withDefaults() OnePixelConfig {
	if c.Pixels == 0 {
		c.Pixels = 1
	}
	if c.Steps == 0 {
		c.Steps = 10
	}
	if c.PopSize == 0 {
		c.PopSize = 10
	}
	if c.Batch == 0 {
		c.Batch = 128
	}
	return c
}

// Name is "onepixel".
func (OnePixelConfig) Name() string { return "onepixel" }

// Label describes the parameters.
func (c OnePixelConfig) Label() string {
	c = c.withDefaults()
	return fmt.Sprintf("OnePixel %d px, %d steps, popsize %d", c.Pixels, c.Steps, c.PopSize) + targetLabel(c.Target)
}

// WhiteBox is false: One-Pixel only queries predictions.
func (OnePixelConfig) WhiteBox() bool { return false }

// Epsilon is 0: the budget is a pixel count, not an L∞ ball.
func (OnePixelConfig) Epsilon() float64 { return 0 }

// Start begins One-Pixel on (x, y).
func (c OnePixelConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewOnePixel(m, x, y, c, opt)
}

// OnePixel is one One-Pixel attack; Step 0 evaluates the initial
// populations, each later Step is one generation for every image still
// unfooled.
type OnePixel struct {
	*base
	cfg        OnePixelConfig
	c, h, w    int
	dim, popN  int
	active     []int       // batch images still evolving
	pop        [][]float32 // per image: popN×dim genes in [0,1]
	energy     [][]float64 // per image: popN energies
	pred       [][]int     // per image: popN predictions
	generation int
}

// NewOnePixel validates cfg and classifies the clean images (one query).
func NewOnePixel(m Model, x *nn.Tensor, y []int, cfg OnePixelConfig, opt Options) (*OnePixel, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("onepixel", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	_, c, h, w := x.NCHW("onepixel")
	if cfg.Pixels < 1 || cfg.Pixels > h*w || cfg.Steps < 0 || cfg.PopSize < 1 || cfg.Batch < 1 {
		return nil, fmt.Errorf("onepixel: need 1 ≤ pixels ≤ %d, steps ≥ 0, popsize ≥ 1, batch ≥ 1, got %d, %d, %d, %d", h*w, cfg.Pixels, cfg.Steps, cfg.PopSize, cfg.Batch)
	}
	if err := b.initTargets(cfg.Target); err != nil {
		return nil, err
	}
	a := &OnePixel{base: b, cfg: cfg, c: c, h: h, w: w, dim: cfg.Pixels * (2 + c)}
	a.popN = max(5, max(1, cfg.PopSize/a.dim)*a.dim)
	b.st.Pred = nn.Argmax(b.cleanLogits())
	b.st.Loss = nanSlice(b.n)
	for i, p := range b.st.Pred {
		if !b.success(i, p) {
			a.active = append(a.active, i)
		}
	}
	a.pop = make([][]float32, b.n)
	a.energy = make([][]float64, b.n)
	a.pred = make([][]int, b.n)
	b.st.Iters = cfg.Steps + 1
	return a, nil
}

// apply writes image i with the pixel vector v (dim genes in [0,1]) set
// into dst.
func (a *OnePixel) apply(dst []float32, i int, v []float32) {
	copy(dst, a.image(a.x, i))
	plane := a.h * a.w
	for p := range a.cfg.Pixels {
		g := v[p*(2+a.c) : (p+1)*(2+a.c)]
		// Truncation as int(); a gene of exactly 1 would index one past
		// the end, so it is clamped.
		row := min(int(g[0]*float32(a.h)), a.h-1)
		col := min(int(g[1]*float32(a.w)), a.w-1)
		for ch := range a.c {
			dst[ch*plane+row*a.w+col] = g[2+ch]
		}
	}
}

// evaluate computes energies and predictions for the candidates (image,
// genes), in batches of at most cfg.Batch images.
func (a *OnePixel) evaluate(ctx context.Context, imgs []int, genes [][]float32) (energy []float64, pred []int, err error) {
	energy, pred = make([]float64, len(imgs)), make([]int, len(imgs))
	shape := append([]int(nil), a.x.Shape...)
	for lo := 0; lo < len(imgs); lo += a.cfg.Batch {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("onepixel: generation %d: %w", a.generation, err)
		}
		hi := min(lo+a.cfg.Batch, len(imgs))
		shape[0] = hi - lo
		batch := nn.New(shape...)
		for j := lo; j < hi; j++ {
			a.apply(batch.Data[(j-lo)*a.per:(j-lo+1)*a.per], imgs[j], genes[j])
		}
		logits := a.o.logits(batch, imgs[lo:hi])
		probs := softmaxRows(logits)
		k := logits.Shape[1]
		am := nn.Argmax(logits)
		for j := lo; j < hi; j++ {
			p := float64(probs[(j-lo)*k+a.goal(imgs[j])])
			if a.st.Targets != nil {
				p = 1 - p
			}
			energy[j], pred[j] = p, am[j-lo]
		}
	}
	return energy, pred, nil
}

// Step evaluates the initial populations (first call) or runs one
// generation, then retires the images whose best member fools the model.
func (a *OnePixel) Step(ctx context.Context) (bool, error) {
	if a.st.Done {
		return true, nil
	}
	if err := a.checkCtx(ctx); err != nil {
		return false, err
	}
	if len(a.active) == 0 || a.generation > a.cfg.Steps {
		a.norms()
		return a.finish()
	}
	var imgs []int
	var genes [][]float32
	first := a.generation == 0
	for _, i := range a.active {
		if first {
			a.pop[i] = make([]float32, a.popN*a.dim)
			for q := range a.pop[i] {
				a.pop[i][q] = a.rng.Float32()
			}
			for m := range a.popN {
				imgs = append(imgs, i)
				genes = append(genes, a.pop[i][m*a.dim:(m+1)*a.dim])
			}
			continue
		}
		for _, t := range a.trials(i) {
			imgs = append(imgs, i)
			genes = append(genes, t)
		}
	}
	energy, pred, err := a.evaluate(ctx, imgs, genes)
	if err != nil {
		return false, err
	}
	pos := 0
	for _, i := range a.active {
		e, p, g := energy[pos:pos+a.popN], pred[pos:pos+a.popN], genes[pos:pos+a.popN]
		pos += a.popN
		if first {
			a.energy[i], a.pred[i] = e, p
			a.promoteBest(i)
			continue
		}
		a.replace(i, g, e, p)
	}
	a.generation++
	a.st.Iter = a.generation
	still := a.active[:0]
	for _, i := range a.active {
		a.st.Loss[i] = float32(a.energy[i][0])
		a.st.Pred[i] = a.pred[i][0]
		a.apply(a.image(a.st.Adv, i), i, a.pop[i][:a.dim])
		if !a.success(i, a.pred[i][0]) {
			still = append(still, i)
		}
	}
	a.active = still
	a.norms()
	if len(a.active) == 0 || a.generation > a.cfg.Steps {
		return a.finish()
	}
	return false, nil
}

// promoteBest swaps the lowest-energy member of image i into slot 0, where
// best1bin looks for it (SciPy does this after initialisation).
func (a *OnePixel) promoteBest(i int) {
	b := 0
	for m, e := range a.energy[i] {
		if e < a.energy[i][b] {
			b = m
		}
	}
	if b == 0 {
		return
	}
	d := a.dim
	p := a.pop[i]
	for q := range d {
		p[q], p[b*d+q] = p[b*d+q], p[q]
	}
	a.energy[i][0], a.energy[i][b] = a.energy[i][b], a.energy[i][0]
	a.pred[i][0], a.pred[i][b] = a.pred[i][b], a.pred[i][0]
}

// trials builds one best1bin trial per member of image i's population.
func (a *OnePixel) trials(i int) [][]float32 {
	d, n := a.dim, a.popN
	pop := a.pop[i]
	best := pop[:d]
	f := float32(0.5 + 0.5*a.rng.Float64()) // dither, once per generation
	out := make([][]float32, n)
	for m := range n {
		r0, r1 := a.pickTwo(m, n)
		t := make([]float32, d)
		for q := range d {
			v := best[q] + f*(pop[r0*d+q]-pop[r1*d+q])
			if v < 0 || v > 1 {
				v = a.rng.Float32()
			}
			t[q] = v
		}
		out[m] = t
	}
	return out
}

// pickTwo draws two distinct members, both ≠ m, of a population of n ≥ 3.
func (a *OnePixel) pickTwo(m, n int) (int, int) {
	r0 := a.rng.IntN(n - 1)
	if r0 >= m {
		r0++
	}
	r1 := a.rng.IntN(n - 2)
	for _, skip := range sortedPair(m, r0) {
		if r1 >= skip {
			r1++
		}
	}
	return r0, r1
}

func sortedPair(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// replace replaces members by their trials where the trial's energy is
// strictly lower, then copies the best trial into slot 0 if it beats the
// old best (torchattacks' modification of SciPy's deferred update).
func (a *OnePixel) replace(i int, trials [][]float32, e []float64, p []int) {
	d := a.dim
	bestE := a.energy[i][0]
	bestT := -1
	for m, t := range trials {
		if e[m] < a.energy[i][m] {
			copy(a.pop[i][m*d:(m+1)*d], t)
			a.energy[i][m], a.pred[i][m] = e[m], p[m]
		}
		if e[m] < bestE {
			bestE, bestT = e[m], m
		}
	}
	if bestT >= 0 {
		copy(a.pop[i][:d], trials[bestT])
		a.energy[i][0], a.pred[i][0] = e[bestT], p[bestT]
	}
}

// Run evolves to the end and returns the images with their best members
// applied.
func (a *OnePixel) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }
