// Package attacks holds the adversarial attacks of BioNAS Lab — FGSM, PGD,
// TPGD, APGD, One-Pixel, Square and transfer — each as a steppable iterator,
// and the robustness report (models × attacks → robust accuracy).
//
// # Semantics
//
// Attacks follow torchattacks v3.5.1 (../shared/REFERENCE.md §4): images
// are NCHW float32 batches in [0,1] pixel units, ε and step sizes are in the
// same units, and every adversarial image is clamped to [0,1] and, for the
// L∞ attacks, to the ε-ball around its clean image. Normalisation belongs
// inside the model, so that ε means pixels whatever the dataset.
//
// # Gradient modes
//
// White-box attacks take the gradient of their loss with respect to the
// input in one of two modes (GradMode): Own sends the error down each
// layer's own feedback path — B instead of Wᵀ for fa, usf, brsf, frsf, and
// the broadcast output error for dfa — which is what the paper measured;
// True sends it through Wᵀ everywhere, the exact gradient of the forward
// function. For a bp model the two are the same computation. Gradient
// passes run on an evaluation graph: brsf layers draw their next random
// magnitudes without advancing their stream, so every pass of an attack
// sees the same B and the model is left as it was.
//
// # Iterators
//
// Every attack implements Attack: Step advances one iteration (a gradient
// step, a generation of differential evolution, a Square query) and State
// shows the current adversarial batch, the loss, predictions, perturbation
// norms and queries used; Run drives it to the end. A context cancels
// either. An attack works on one batch and owns its copies of it.
//
// # Files
//
//   - attack.go: Attack, State, Spec, Options, gradient modes; the shared
//     state of every attack.
//   - oracle.go: the attacks' only access to the model (forward passes,
//     input gradients in either mode, query counting).
//   - loss.go: CE, DLR, KL and margin objectives with their logit gradients.
//   - target.go: targeted modes (random, least-likely, fixed, function).
//   - fgsm.go, pgd.go, tpgd.go, apgd.go, onepixel.go, square.go,
//     transfer.go: one attack each, its config (Spec) and iterator.
//   - preset.go: Suite, the "default" and "paper" presets and Set.
//   - model.go: ModelSpec, the Registry of model builders, loading and
//     saving attackable checkpoints.
//   - report.go: RunReport and the Table-4-like report (text and JSON).
//
// The package holds no global mutable state; randomness comes only from the
// seeds in Options.
package attacks

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bionaslab/bionas/nn"
)

// Model is what an attack runs on: a classifier mapping a batch of [0,1]
// images (N, C, H, W) to logits (N, K). Any nn.Layer is a Model; a model
// that is also an nn.Module has its parameters frozen (NeedsGrad false)
// during gradient passes, so that an attack neither pays for nor leaves
// behind weight gradients. An attack must not run while the model trains.
type Model interface {
	Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor
}

// GradMode is how white-box attacks take input gradients.
type GradMode string

// The gradient modes. The zero value means Own.
const (
	// Own backpropagates through each layer's own feedback rule: what a
	// bio-inspired network "sees" of its own loss, and what the paper
	// measured.
	Own GradMode = "own"
	// True backpropagates through Wᵀ in every layer: the exact gradient.
	True GradMode = "true"
)

// ParseGradMode accepts "own" and "true" (and "" for own).
func ParseGradMode(s string) (GradMode, error) {
	switch GradMode(s) {
	case "", Own:
		return Own, nil
	case True:
		return True, nil
	}
	return "", fmt.Errorf("unknown gradient mode %q: want own or true", s)
}

// Options are the run-time choices shared by every attack: how gradients
// are taken (ignored by black-box attacks) and the seed of every random
// draw (random starts, targets, evolution, windows).
type Options struct {
	Grad GradMode
	Seed uint64
}

// Attack is one attack on one batch, advanced an iteration at a time.
type Attack interface {
	// Name is the attack's short name ("pgd").
	Name() string
	// Step runs one iteration and reports whether the attack has finished.
	// After it returns done, further calls do nothing and return done.
	Step(ctx context.Context) (done bool, err error)
	// Run steps until done and returns the final adversarial batch (the
	// attack's own tensor: clone it to keep it past the attack).
	Run(ctx context.Context) (*nn.Tensor, error)
	// State is the attack's current state. It is shared with the attack and
	// valid until the next Step.
	State() *State
}

// State is what an attack shows between iterations. Per-sample slices have
// one entry per image of the batch.
type State struct {
	// Iter counts the iterations done; Iters is the most the attack will do
	// (it may finish earlier, e.g. when every image is fooled).
	Iter, Iters int
	Done        bool
	// Adv is the current adversarial batch: what Run would return if the
	// attack stopped now.
	Adv *nn.Tensor
	// Iterate is where the attack's search stands, image by image: the
	// point it evaluates and moves from. For most attacks it is Adv
	// itself; APGD and Square return the clean image wherever they have
	// not (yet) fooled the model, so their Adv stays clean while their
	// Iterate already moves (Square's first step puts it at x ± ε on
	// stripes). A stepper shows Iterate.
	Iterate *nn.Tensor
	// Loss is the per-sample value of the objective the attack is driving
	// (ascended by gradient attacks, the DE energy or Square loss for the
	// black-box ones) at the attack's current iterate; nil before the first
	// evaluation. BestLoss, where the attack keeps one (APGD, Square), is the
	// best value reached so far.
	Loss, BestLoss []float32
	// Pred is the model's prediction on Adv.
	Pred []int
	// LInf and L2 are the per-sample norms of Adv − x in pixel units;
	// IterLInf that of Iterate − x.
	LInf, L2 []float32
	IterLInf []float32
	// Queries counts, per image, the model evaluations made so far (a
	// gradient pass counts as one).
	Queries []int
	// Targets are the target classes of a targeted attack, nil otherwise.
	Targets []int
}

// MeanLoss is the mean of Loss (0 if there is none).
func (s *State) MeanLoss() float32 { return meanOf(s.Loss) }

// MaxLInf is the largest L∞ perturbation in the batch.
func (s *State) MaxLInf() float32 {
	var m float32
	for _, v := range s.LInf {
		m = max(m, v)
	}
	return m
}

// MaxQueries is the most queries spent on one image.
func (s *State) MaxQueries() int {
	m := 0
	for _, q := range s.Queries {
		m = max(m, q)
	}
	return m
}

// Fooled counts the images whose prediction differs from labels (or, for a
// targeted attack, equals its target).
func (s *State) Fooled(labels []int) int {
	n := 0
	for i, p := range s.Pred {
		if s.Targets != nil {
			if p == s.Targets[i] {
				n++
			}
		} else if p != labels[i] {
			n++
		}
	}
	return n
}

// meanOf is the mean of the values that are not NaN (attacks mark images
// they do not attack with NaN losses), 0 if there are none.
func meanOf(v []float32) float32 {
	var s float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(float64(x)) {
			s += float64(x)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float32(s / float64(n))
}

// Spec is an attack with its parameters, ready to start on any batch. The
// *Config types implement it; the report runs a list of them.
type Spec interface {
	// Name is the attack's short name ("fgsm").
	Name() string
	// Label is a short human description with the parameters that matter,
	// e.g. "PGD ε=0.3 α=0.0078 10 steps".
	Label() string
	// WhiteBox reports whether the attack uses gradients of the attacked
	// model (and so depends on Options.Grad).
	WhiteBox() bool
	// Epsilon is the L∞ budget in pixels, or 0 for attacks without one
	// (One-Pixel counts pixels instead).
	Epsilon() float64
	// Start validates the parameters and begins an attack on (x, y).
	Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error)
}

// drive steps a until done: the shared body of every Run.
func drive(ctx context.Context, a Attack) (*nn.Tensor, error) {
	for {
		done, err := a.Step(ctx)
		if err != nil {
			return nil, err
		}
		if done {
			return a.State().Adv, nil
		}
	}
}

// base holds what every attack keeps: the clean batch, its labels, the
// oracle and the state it shows.
type base struct {
	name   string
	x      *nn.Tensor // clean images (a private copy)
	y      []int      // labels
	n, per int        // batch size and values per image
	o      *oracle
	rng    *rand.Rand
	st     State
	clean  *nn.Tensor // logits on x, once evaluated (cleanLogits)
	// ownIterate: the attack keeps st.Iterate apart from st.Adv (APGD,
	// Square); otherwise Iterate follows Adv.
	ownIterate bool
}

// newBase validates (x, y), copies them and sets up the oracle and state.
func newBase(name string, m Model, x *nn.Tensor, y []int, opt Options) (*base, error) {
	if m == nil {
		return nil, fmt.Errorf("%s: nil model", name)
	}
	if x == nil || len(x.Shape) != 4 {
		var shape []int
		if x != nil {
			shape = x.Shape
		}
		return nil, fmt.Errorf("%s: want an NCHW image batch, got shape %v", name, shape)
	}
	n := x.Shape[0]
	if n == 0 || len(y) != n {
		return nil, fmt.Errorf("%s: %d labels for a batch of %d images", name, len(y), n)
	}
	for i, v := range x.Data {
		if !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("%s: pixel %d of the clean batch is %v, outside [0,1] (normalise inside the model)", name, i, v)
		}
	}
	grad, err := ParseGradMode(string(opt.Grad))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b := &base{
		name: name,
		x:    x.Detached().Clone(),
		y:    slices.Clone(y),
		n:    n,
		per:  x.Len() / n,
		rng:  rand.New(rand.NewPCG(opt.Seed, seedStream(name))),
	}
	b.x.NeedsGrad = false
	b.o = &oracle{m: m, mode: grad, queries: make([]int, n), rng: rand.New(rand.NewPCG(opt.Seed, 0x6772616468))}
	b.st.Adv = b.x.Clone()
	b.st.Iterate = b.st.Adv
	b.st.Queries = b.o.queries
	b.st.LInf = make([]float32, n)
	b.st.L2 = make([]float32, n)
	b.st.IterLInf = make([]float32, n)
	return b, nil
}

// seedStream turns an attack name into a PCG stream, so that two attacks
// started with the same seed still draw independent numbers.
func seedStream(name string) uint64 {
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// Name is the attack's short name.
func (b *base) Name() string { return b.name }

// State is the current state.
func (b *base) State() *State { return &b.st }

// checkCtx is called at the top of every Step.
func (b *base) checkCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: iteration %d: %w", b.name, b.st.Iter, err)
	}
	return nil
}

// image returns image i of t.
func (b *base) image(t *nn.Tensor, i int) []float32 { return t.Data[i*b.per : (i+1)*b.per] }

// setAdv makes adv the current adversarial batch, with its predictions
// (logits on adv, or nil to evaluate them now) and its norms.
func (b *base) setAdv(adv *nn.Tensor, logits *nn.Tensor) {
	b.st.Adv = adv
	if logits == nil {
		logits = b.o.logits(adv, nil)
	}
	b.st.Pred = nn.Argmax(logits)
	b.norms()
}

// keepIterate gives the attack an Iterate of its own, starting clean.
func (b *base) keepIterate() {
	b.ownIterate = true
	b.st.Iterate = b.x.Clone()
}

// norms recomputes LInf and L2 of Adv − x and IterLInf of Iterate − x
// (Iterate following Adv unless the attack keeps its own).
func (b *base) norms() {
	if !b.ownIterate {
		b.st.Iterate = b.st.Adv
	}
	for i := range b.n {
		xa, xc := b.image(b.st.Adv, i), b.image(b.x, i)
		var li float32
		var l2 float64
		for j, v := range xa {
			d := v - xc[j]
			li = max(li, float32(math.Abs(float64(d))))
			l2 += float64(d) * float64(d)
		}
		b.st.LInf[i], b.st.L2[i] = li, float32(math.Sqrt(l2))
		if !b.ownIterate {
			b.st.IterLInf[i] = li
			continue
		}
		li = 0
		for j, v := range b.image(b.st.Iterate, i) {
			li = max(li, float32(math.Abs(float64(v-xc[j]))))
		}
		b.st.IterLInf[i] = li
	}
}

// finish marks the state done.
func (b *base) finish() (bool, error) {
	b.st.Done = true
	return true, nil
}

// project clamps v into [c−eps, c+eps] ∩ [0,1] elementwise, in place.
func project(v, c []float32, eps float32) {
	for i, x := range v {
		lo, hi := max(c[i]-eps, 0), min(c[i]+eps, 1)
		v[i] = min(max(x, lo), hi)
	}
}

// epsOK reports whether eps is a usable L∞ budget.
func epsOK(eps float64) bool { return eps > 0 && eps <= 1 && !math.IsNaN(eps) }

// cleanLogits evaluates the model on the clean batch once (one query per
// image) and caches the result.
func (b *base) cleanLogits() *nn.Tensor {
	if b.clean == nil {
		b.clean = b.o.logits(b.x, nil)
	}
	return b.clean
}

// initTargets validates t and, for a targeted attack, chooses the targets
// from the clean logits (torchattacks does this once per call, before
// iterating).
func (b *base) initTargets(t Targeting) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	if !t.Targeted() {
		return nil
	}
	ts, err := t.targets(b.x, b.y, b.cleanLogits(), b.rng)
	if err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	b.st.Targets = ts
	return nil
}

// objective is the cross-entropy objective of FGSM and PGD: CE to the
// labels, ascended, or −CE to the targets (so that ascending it descends
// the cross-entropy to the target). Its gradient rows are unit-scaled:
// both attacks use only the sign (see ceLoss).
func (b *base) objective(mean bool) lossFunc {
	if b.st.Targets != nil {
		return ceLoss(b.st.Targets, -1, mean, true)
	}
	return ceLoss(b.y, 1, mean, true)
}

// goal is the class an image's attack measures itself against: its target
// for a targeted attack, its label otherwise.
func (b *base) goal(i int) int {
	if b.st.Targets != nil {
		return b.st.Targets[i]
	}
	return b.y[i]
}

// success reports whether prediction p of image i counts as fooled.
func (b *base) success(i, p int) bool {
	if b.st.Targets != nil {
		return p == b.st.Targets[i]
	}
	return p != b.y[i]
}

// fmtEps prints a budget, as a fraction of 255 when it is one.
func fmtEps(e float64) string {
	k := e * 255
	if r := math.Round(k); r >= 1 && math.Abs(k-r) < 1e-9 {
		return fmt.Sprintf("%g/255", r)
	}
	return fmt.Sprintf("%g", e)
}

// targetLabel is the suffix naming a targeted mode in labels.
func targetLabel(t Targeting) string {
	if !t.Targeted() {
		return ""
	}
	return " targeted(" + string(t.Mode) + ")"
}

// The configs are the package's Specs.
var (
	_ Spec = FGSMConfig{}
	_ Spec = PGDConfig{}
	_ Spec = TPGDConfig{}
	_ Spec = APGDConfig{}
	_ Spec = OnePixelConfig{}
	_ Spec = SquareConfig{}
	_ Spec = TransferConfig{}
)
