package lab

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/bionaslab/bionas/attacks"

	"github.com/bionaslab/bionas/nn"
)

// engineAttacks are the attacks the engine runs on a lab model (transfer
// needs a surrogate model, which the lab does not pick).
func engineAttacks() []string {
	return slices.DeleteFunc(attacks.AttackNames(), func(s string) bool { return s == "transfer" })
}

// attackModel loads a trained run's network as an attack target that takes
// [0,1] pixels (its training normalisation applied first). On a device the
// network (normalisation included) moves there and is driven with host
// images (nn.OnDevice): every forward and gradient pass of the attack runs
// on the device.
func (e *engine) attackModel(ctx context.Context, model RunInfo, dir string) (attacks.Model, error) {
	net, norm, err := e.loadModel(ctx, model, dir)
	if err != nil {
		return nil, err
	}
	var m attacks.Network = net
	if norm != nil {
		if m, err = attacks.Normalized(net, norm.Mean, norm.Std); err != nil {
			return nil, err
		}
	}
	dm, err := nn.Drive(m, e.opts.Device)
	if err != nil {
		return nil, fmt.Errorf("move the model of run %s to %s: %w", model.ID, e.opts.Device.Name(), err)
	}
	return dm, nil
}

// attackSpecs builds the named attacks ("all" for every one) with budget
// eps and, where the attack has them, steps iterations.
func attackSpecs(names []string, eps float64, steps int) ([]attacks.Spec, error) {
	suite, err := attacks.Preset("default")
	if err != nil {
		return nil, err
	}
	if eps > 0 {
		if err := suite.Set("eps", fmt.Sprint(eps)); err != nil {
			return nil, err
		}
	}
	if len(names) == 1 && (names[0] == "all" || names[0] == "") {
		names = engineAttacks()
	}
	if steps > 0 {
		for _, n := range names {
			key := n + ".steps"
			if !slices.Contains(attacks.SettableKeys(), key) {
				continue // an attack without steps (FGSM, Square's queries) keeps its own
			}
			if err := suite.Set(key, fmt.Sprint(steps)); err != nil {
				return nil, err
			}
		}
	}
	return suite.Specs(names)
}

// softmax of one row of logits.
func softmax(logits []float32) []float64 {
	out := make([]float64, len(logits))
	nn.SoftmaxRow(out, logits)
	return out
}

func argmax(p []float64) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// engineStepper steps an attack of the attacks package on one test image.
type engineStepper struct {
	e     *engine
	model attacks.Model
	atk   attacks.Attack
	st    AttackState
}

// stepper starts an attack stepper. A panic of the device path (see
// guard) is returned as the error: the stepper runs on a viewer's
// goroutine, which must not die of it.
func (e *engine) stepper(ctx context.Context, model RunInfo, dir string, spec AttackSpec) (st Stepper, err error) {
	defer e.recoverPanic(&err)
	m, err := e.attackModel(ctx, model, dir)
	if err != nil {
		return nil, err
	}
	test, err := e.openData(ctx, model.Spec, false)
	if err != nil {
		return nil, err
	}
	c, h, w := test.Shape()
	pix := make([]float32, c*h*w)
	label := test.Image(spec.Image%test.Len(), pix)
	specs, err := attackSpecs([]string{spec.Attack}, spec.Eps, spec.Steps)
	if err != nil {
		return nil, err
	}
	mode, err := attacks.ParseGradMode(string(spec.Mode))
	if err != nil {
		return nil, err
	}
	x := nn.FromSlice(slices.Clone(pix), 1, c, h, w)
	a, err := specs[0].Start(m, x, []int{label}, attacks.Options{Grad: mode, Seed: spec.Seed})
	if err != nil {
		return nil, err
	}
	clean := softmax(m.Forward(nil, x).Data)
	im := Image{C: c, H: h, W: w, Pix: pix}
	s := &engineStepper{e: e, model: m, atk: a, st: AttackState{
		Spec: spec, Steps: a.State().Iters, Label: label, Pred: argmax(clean), Classes: test.ClassNames(),
		Probs: clean, Clean: slices.Clone(clean), Losses: []float64{-math.Log(max(clean[label], 1e-12))},
		CleanIm: im, AdvIm: im.Clone(),
	}}
	s.st.Success = s.st.Pred != label
	return s, nil
}

func (s *engineStepper) State() AttackState { return *s.st.Clone() }

func (s *engineStepper) Step(ctx context.Context) (out AttackState, err error) {
	if s.st.Done {
		return s.State(), nil
	}
	defer func() {
		if err != nil {
			out = s.State()
		}
	}()
	defer s.e.recoverPanic(&err) // a step runs on a viewer's goroutine
	done, err := s.atk.Step(ctx)
	if err != nil {
		return s.State(), err
	}
	as := s.atk.State()
	st := &s.st
	st.Step, st.Steps, st.Done = as.Iter, max(as.Iters, as.Iter), done
	if as.Adv != nil {
		st.AdvIm.Pix = slices.Clone(as.Adv.Data[:len(st.CleanIm.Pix)])
		st.Probs = softmax(s.model.Forward(nil, as.Adv).Data)
	}
	st.Pred = argmax(st.Probs)
	st.Success = st.Pred != st.Label
	st.Losses = append(st.Losses, -math.Log(max(st.Probs[st.Label], 1e-12)))
	if len(as.LInf) > 0 {
		st.LInf = float64(as.LInf[0])
	}
	return s.State(), nil
}

func (s *engineStepper) Close() error { return nil }

// attackBatch is the batch size of attack runs.
const attackBatch = 50

// attackRun is the robustness report of an attack run: every attack asked
// for, on the first N test images, and the pointwise worst case (an image
// counts as robust only if the model classifies it correctly under every
// attack).
func (e *engine) attackRun(ctx context.Context, j *Job) error {
	a := j.Spec.Attack
	if j.Parent == nil {
		return fmt.Errorf("attack run %s: no model run", j.ID)
	}
	m, err := e.attackModel(ctx, *j.Parent, j.ParentDir)
	if err != nil {
		return err
	}
	test, err := e.openData(ctx, j.Parent.Spec, false)
	if err != nil {
		return err
	}
	n := min(cmp.Or(a.N, 100), test.Len())
	c, h, w := test.Shape()
	per := c * h * w
	xs := make([]float32, n*per)
	ys := make([]int, n)
	for i := range n {
		ys[i] = test.Image(i, xs[i*per:(i+1)*per])
	}
	specs, err := attackSpecs([]string{cmp.Or(a.Attack, "all")}, a.Eps, a.Steps)
	if err != nil {
		return err
	}
	mode, err := attacks.ParseGradMode(string(a.Mode))
	if err != nil {
		return err
	}
	batch := func(lo, hi int) (*nn.Tensor, []int) {
		return nn.FromSlice(slices.Clone(xs[lo*per:hi*per]), hi-lo, c, h, w), ys[lo:hi]
	}
	robust := make([]bool, n)
	correct := 0
	for lo := 0; lo < n; lo += attackBatch {
		hi := min(lo+attackBatch, n)
		x, y := batch(lo, hi)
		for i, p := range nn.Argmax(m.Forward(nil, x)) {
			robust[lo+i] = p == y[i]
			if robust[lo+i] {
				correct++
			}
		}
	}
	rep := &AttackReport{Model: j.Parent.ID, N: n * len(specs), CleanAcc: float64(correct) / float64(n)}
	worst := func() float64 {
		k := 0
		for _, r := range robust {
			if r {
				k++
			}
		}
		return float64(k) / float64(n)
	}
	for _, sp := range specs {
		held := 0
		for lo := 0; lo < n; lo += attackBatch {
			hi := min(lo+attackBatch, n)
			x, y := batch(lo, hi)
			run, err := sp.Start(m, x, y, attacks.Options{Grad: mode, Seed: a.Seed + uint64(lo)})
			if err != nil {
				return err
			}
			adv, err := run.Run(ctx)
			if err != nil {
				return err
			}
			for i, p := range nn.Argmax(m.Forward(nil, adv)) {
				if p == y[i] {
					held++
				} else {
					robust[lo+i] = false
				}
			}
			rep.Done += hi - lo
			rep.WorstCase = worst()
			j.Emit(Event{Kind: EventAttack, Attack: rep})
		}
		md := string(mode)
		if !sp.WhiteBox() {
			md = "black-box"
		}
		rep.Rows = append(rep.Rows, AttackRow{Attack: sp.Name(), Mode: md, Eps: sp.Epsilon(), RobustAcc: float64(held) / float64(n)})
		j.Emit(Event{Kind: EventAttack, Attack: rep})
	}
	return nil
}
