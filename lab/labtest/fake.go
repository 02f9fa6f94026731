// Package labtest is a deterministic stand-in for the lab's real backend:
// fake searches, trainings and attacks that emit the same kinds of events
// as the real ones, fast and without any arithmetic worth the name. Tests
// of the lab and of the terminal UI use it; nothing else should.
package labtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// Fake configures the fake jobs. The zero value runs 2 epochs of 10 steps
// with no delay.
type Fake struct {
	// StepsPerEpoch and Epochs size every fake run (a spec's Epochs wins
	// when set).
	StepsPerEpoch int
	Epochs        int
	// Delay is slept before every step.
	Delay time.Duration
	// Pace, when set, is received from before every step: a test hands
	// out steps one at a time.
	Pace chan struct{}
	// Fail makes every job fail at this step (0: never).
	Fail int
}

// Pairs are the fake search space's columns: 8 ops × 4 rules, as the bio
// space.
var Pairs = func() []string {
	var out []string
	for _, op := range Ops {
		for _, r := range []string{"fa", "usf", "brsf", "frsf"} {
			out = append(out, op+":"+r)
		}
	}
	return out
}()

// Ops are DARTS' eight operations.
var Ops = []string{"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}

// Backend returns the fake backend.
func (f *Fake) Backend() lab.Backend {
	return lab.Backend{
		Name: "fake",
		Jobs: map[lab.Kind]lab.JobFunc{
			lab.KindSearch:  f.search,
			lab.KindTrain:   f.train,
			lab.KindRetrain: f.train,
			lab.KindAttack:  f.attack,
		},
		Layers: func(_ context.Context, g lab.Genotype, s lab.Spec) ([]lab.LayerInfo, error) {
			return Layers(g, s.Edits)
		},
		Stepper: f.stepper,
		Attacks: []string{"fgsm", "pgd"},
	}
}

func (f *Fake) sizes(s lab.Spec) (steps, epochs int) {
	steps, epochs = f.StepsPerEpoch, f.Epochs
	if steps <= 0 {
		steps = 10
	}
	if epochs <= 0 {
		epochs = 2
	}
	if s.Epochs > 0 {
		epochs = s.Epochs
	}
	return
}

// wait paces one step.
func (f *Fake) wait(ctx context.Context) error {
	if f.Pace != nil {
		select {
		case <-f.Pace:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// checkpoint is the fake's resume state: the epochs done.
type checkpoint struct {
	Epoch int `json:"epoch"`
}

func loadCheckpoint(j *lab.Job) int {
	if !j.Resume {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(j.Dir, lab.DirCheckpoint, "state.json"))
	if err != nil {
		return 0
	}
	var c checkpoint
	if json.Unmarshal(b, &c) != nil {
		return 0
	}
	return c.Epoch
}

func saveCheckpoint(j *lab.Job, epoch int) error {
	if err := os.MkdirAll(filepath.Join(j.Dir, lab.DirCheckpoint), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(checkpoint{Epoch: epoch})
	return nn.WriteFileAtomic(filepath.Join(j.Dir, lab.DirCheckpoint, "state.json"), b)
}

// Alphas returns the fake alphas after step steps: every edge slowly
// prefers one pair (edge e prefers pair (5e+4) mod 32), from uniform.
func Alphas(step, epoch int) *lab.Alphas {
	a := &lab.Alphas{Pairs: Pairs, Edges: lab.EdgeNames(4), Epoch: epoch, Step: step}
	mk := func(shift int) [][]float32 {
		m := make([][]float32, 14)
		for e := range m {
			row := make([]float32, len(Pairs))
			best := (5*e + 4 + shift) % len(Pairs)
			if Pairs[best][:4] == "none" {
				best = (best + 4) % len(Pairs)
			}
			var sum float64
			w := make([]float64, len(Pairs))
			for k := range w {
				w[k] = 1
				if k == best {
					w[k] = math.Exp(float64(step) / 6)
				}
				sum += w[k]
			}
			for k := range row {
				row[k] = float32(w[k] / sum)
			}
			m[e] = row
		}
		return m
	}
	a.Normal, a.Reduce = mk(0), mk(7)
	return a
}

// Derive returns the genotype of fake alphas: for every node the two
// strongest inputs, each with its strongest pair.
func Derive(a *lab.Alphas) *lab.Genotype {
	cell := func(m [][]float32) lab.CellGenotype {
		var c lab.CellGenotype
		e := 0
		for to := 2; to < 6; to++ {
			type cand struct {
				from, pair int
				w          float32
			}
			var cs []cand
			for from := range to {
				best := 0
				for k, w := range m[e] {
					if !strings.HasPrefix(Pairs[k], "none") && w > m[e][best] {
						best = k
					}
				}
				cs = append(cs, cand{from, best, m[e][best]})
				e++
			}
			for n := 0; n < 2; n++ { // the two strongest, lower index on ties
				bi := -1
				for i, x := range cs {
					if x.from >= 0 && (bi < 0 || x.w > cs[bi].w) {
						bi = i
					}
				}
				op, r, _ := strings.Cut(Pairs[cs[bi].pair], ":")
				c.Edges = append(c.Edges, lab.GenotypeEdge{From: cs[bi].from, To: to, Op: search.Op(op), Rule: rule.Rule(r)})
				cs[bi].from = -1
			}
		}
		c.Concat = []int{2, 3, 4, 5}
		return c
	}
	return &lab.Genotype{Normal: cell(a.Normal), Reduce: cell(a.Reduce)}
}

// Text is a genotype in DARTS' text form.
func Text(g *lab.Genotype) string {
	cell := func(c lab.CellGenotype) string {
		var parts []string
		for _, e := range c.Edges {
			parts = append(parts, fmt.Sprintf("('%s:%s', %d)", e.Op, e.Rule, e.From))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprintf("Genotype(normal=%s, normal_concat=[2, 3, 4, 5], reduce=%s, reduce_concat=[2, 3, 4, 5])", cell(g.Normal), cell(g.Reduce))
}

// Loss is the fake training loss at a step.
func Loss(step int) float64 { return 2.3*math.Exp(-float64(step)/8) + 0.05 }

func (f *Fake) search(ctx context.Context, j *lab.Job) error {
	steps, epochs := f.sizes(j.Spec)
	total := steps * epochs
	start := loadCheckpoint(j)
	if start > 0 {
		j.Logf("resumed at epoch %d", start)
	}
	for ep := start; ep < epochs; ep++ {
		a := Alphas(ep*steps, ep)
		g := Derive(a)
		j.Emit(lab.Event{Kind: lab.EventAlphas, Alphas: a, Epoch: ep, Step: ep * steps})
		j.Emit(lab.Event{Kind: lab.EventGenotype, Genotype: g, GenotypeText: Text(g), Epoch: ep})
		for s := 1; s <= steps; s++ {
			if err := f.wait(ctx); err != nil {
				return err
			}
			step := ep*steps + s
			if f.Fail > 0 && step == f.Fail {
				return errors.New("fake failure")
			}
			j.Emit(lab.Event{Kind: lab.EventStep, Epoch: ep, Epochs: epochs, Step: step, TotalSteps: total,
				Loss: Loss(step), Acc: 1 - Loss(step)/2.4, LR: 0.025, ImagesPerSec: 100 + float64(step%7)})
		}
		j.Emit(lab.Event{Kind: lab.EventEpoch, Epoch: ep, Epochs: epochs, Step: (ep + 1) * steps, TotalSteps: total,
			ValLoss: Loss((ep+1)*steps) + 0.1, ValAcc: 1 - (Loss((ep+1)*steps)+0.1)/2.4})
		if err := saveCheckpoint(j, ep+1); err != nil {
			return err
		}
	}
	a := Alphas(total, epochs)
	g := Derive(a)
	j.Emit(lab.Event{Kind: lab.EventAlphas, Alphas: a, Epoch: epochs, Step: total})
	j.Emit(lab.Event{Kind: lab.EventGenotype, Genotype: g, GenotypeText: Text(g), Epoch: epochs})
	return nil
}

// RuleScore is the fake test accuracy of a network whose layers use these
// rules: bp best, then the sign-concordant rules, then fa.
func RuleScore(layers []lab.LayerInfo) float64 {
	score := map[rule.Rule]float64{"bp": 0.99, "usf": 0.98, "frsf": 0.975, "brsf": 0.97, "fa": 0.95, "dfa": 0.94, "hebb": 0.9, "pc": 0.92}
	var s float64
	for _, l := range layers {
		s += score[l.Rule]
	}
	if len(layers) == 0 {
		return 0
	}
	return s / float64(len(layers))
}

func (f *Fake) train(ctx context.Context, j *lab.Job) error {
	if j.Spec.Genotype == nil {
		return errors.New("train: no genotype")
	}
	layers, err := Layers(*j.Spec.Genotype, j.Spec.Edits)
	if err != nil {
		return err
	}
	j.Emit(lab.Event{Kind: lab.EventLayers, Layers: layers})
	j.Emit(lab.Event{Kind: lab.EventGenotype, Genotype: j.Spec.Genotype, GenotypeText: Text(j.Spec.Genotype)})
	steps, epochs := f.sizes(j.Spec)
	total := steps * epochs
	target := RuleScore(layers)
	for ep := loadCheckpoint(j); ep < epochs; ep++ {
		for s := 1; s <= steps; s++ {
			if err := f.wait(ctx); err != nil {
				return err
			}
			step := ep*steps + s
			if f.Fail > 0 && step == f.Fail {
				return errors.New("fake failure")
			}
			frac := float64(step) / float64(total)
			j.Emit(lab.Event{Kind: lab.EventStep, Epoch: ep, Epochs: epochs, Step: step, TotalSteps: total,
				Loss: Loss(step) * (2 - target), Acc: target * frac, LR: 0.025, ImagesPerSec: 200})
		}
		frac := float64((ep+1)*steps) / float64(total)
		j.Emit(lab.Event{Kind: lab.EventEpoch, Epoch: ep, Epochs: epochs, Step: (ep + 1) * steps, TotalSteps: total,
			TestLoss: Loss((ep + 1) * steps), TestAcc: target * frac})
		if err := saveCheckpoint(j, ep+1); err != nil {
			return err
		}
	}
	if j.Spec.Dynamics {
		if err := writeDynamics(j, layers, epochs); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(map[string]any{"fake": true, "layers": layers})
	return j.WriteFile("model.json", b)
}

func (f *Fake) attack(ctx context.Context, j *lab.Job) error {
	a := j.Spec.Attack
	n := a.N
	if n <= 0 {
		n = 20
	}
	names := strings.Split(a.Attack, ",")
	if a.Attack == "" || a.Attack == "all" {
		names = []string{"fgsm", "pgd"}
	}
	// One row per attack and gradient mode, as the engine's report has:
	// black-box attacks (onepixel, square, transfer) once.
	type row struct {
		name, mode string
		bb         bool
	}
	var rows []row
	for _, name := range names {
		bb := name == "onepixel" || name == "square" || name == "transfer"
		switch {
		case bb:
			rows = append(rows, row{name, "black-box", true})
		case a.BothModes:
			rows = append(rows, row{name, "own", false}, row{name, "true", false})
		default:
			rows = append(rows, row{name, string(a.Mode), false})
		}
	}
	rep := &lab.AttackReport{Model: a.Model, N: n, Total: n * len(rows), CleanAcc: 0.97}
	for i := 1; i <= n; i++ {
		if err := f.wait(ctx); err != nil {
			return err
		}
		rep.Done = i * len(rows)
		rep.Rows = rep.Rows[:0]
		worst := 1.0
		for k, r := range rows {
			acc := max(0.97-a.Eps*float64(k+2), 0)
			if r.mode == "true" {
				acc = max(acc-0.2, 0) // the true gradient is the stronger attack
			}
			worst = min(worst, acc)
			rep.Rows = append(rep.Rows, lab.AttackRow{Attack: r.name, Mode: r.mode, BlackBox: r.bb, Eps: a.Eps, N: n, RobustAcc: acc})
		}
		rep.WorstCase = worst - 0.01
		j.Emit(lab.Event{Kind: lab.EventAttack, Attack: rep})
	}
	return nil
}

// Layers lists a fake discrete network's rule layers: a stem, one conv per
// parametric edge of three cells (normal, reduce, normal) and a
// classifier, with the edits applied in order.
func Layers(g lab.Genotype, edits []lab.RuleEdit) ([]lab.LayerInfo, error) {
	ls := []lab.LayerInfo{{Name: "stem.conv", Cell: -1, Op: "conv_3x3", Rule: "bp", Shape: []int{24, 1, 3, 3}}}
	for c := range 3 {
		cell := g.Normal
		if c == 1 {
			cell = g.Reduce
		}
		for e, edge := range cell.Edges {
			switch edge.Op {
			case search.OpNone, search.OpMaxPool, search.OpAvgPool:
				continue
			case search.OpSkip: // an identity but in the reduction cell
				if c != 1 {
					continue
				}
			}
			ls = append(ls, lab.LayerInfo{Name: fmt.Sprintf("cells.%d.edge%d.op", c, e), Cell: c, Edge: fmt.Sprintf("cell%d.edge%d", c, e),
				Op: string(edge.Op), Rule: edge.Rule, Shape: []int{8, 8, 3, 3}})
		}
	}
	ls = append(ls, lab.LayerInfo{Name: "classifier", Cell: -1, Op: "linear", Rule: "bp", Shape: []int{10, 32}})
	for _, e := range edits {
		hit := false
		for i := range ls {
			l := &ls[i]
			if e.Selector == "all" || e.Selector == l.Name || e.Selector == l.Edge || e.Selector == fmt.Sprintf("cell%d", l.Cell) {
				l.Rule = e.Rule
				hit = true
			}
		}
		if !hit {
			return nil, fmt.Errorf("rule edit %s: no such layer", e)
		}
	}
	return ls, nil
}

// stepper is a fake attack on a fake digit: every step moves the
// adversarial image by ε/steps towards a fixed pattern and the probability
// mass from the label to the next class.
type stepper struct {
	st lab.AttackState
}

// Digit returns a deterministic 28×28 image of the class: a ring whose
// radius grows with the class.
func Digit(class int) lab.Image {
	im := lab.Image{C: 1, H: 28, W: 28, Pix: make([]float32, 28*28)}
	r := 4 + float64(class)
	for y := range 28 {
		for x := range 28 {
			d := math.Hypot(float64(x)-13.5, float64(y)-13.5)
			if math.Abs(d-r) < 1.6 {
				im.Pix[y*28+x] = 1
			}
		}
	}
	return im
}

func (f *Fake) stepper(_ context.Context, model lab.RunInfo, _ string, spec lab.AttackSpec) (lab.Stepper, error) {
	if model.Kind != lab.KindTrain && model.Kind != lab.KindRetrain {
		return nil, fmt.Errorf("run %s is a %s run: attack a trained model", model.ID, model.Kind)
	}
	steps := spec.Steps
	if steps <= 0 {
		steps = 5
		if spec.Attack == "fgsm" {
			steps = 1
		}
	}
	label := spec.Image % 10
	clean := Digit(label)
	st := lab.AttackState{Spec: spec, Steps: steps, Label: label, Pred: label,
		Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		CleanIm: clean, AdvIm: clean.Clone()}
	st.Clean = probs(label, 0)
	st.Probs = probs(label, 0)
	st.Losses = []float64{-math.Log(st.Probs[label])}
	return &stepper{st: st}, nil
}

func probs(label int, t float64) []float64 {
	p := make([]float64, 10)
	other := (label + 1) % 10
	for i := range p {
		p[i] = 0.01
	}
	p[label] = 0.91 * (1 - t)
	p[other] += 0.91 * t
	var s float64
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

func (s *stepper) State() lab.AttackState { return *s.st.Clone() }

func (s *stepper) Step(ctx context.Context) (lab.AttackState, error) {
	if err := ctx.Err(); err != nil {
		return s.State(), err
	}
	st := &s.st
	if st.Done {
		return s.State(), nil
	}
	st.Step++
	t := float64(st.Step) / float64(st.Steps)
	eps := float32(st.Spec.Eps)
	for i := range st.AdvIm.Pix {
		d := eps * float32(t)
		if (i/28/4+i%28/4)%2 == 1 { // 4×4 checks, visible at any scale
			d = -d
		}
		st.AdvIm.Pix[i] = min(max(st.CleanIm.Pix[i]+d, 0), 1)
	}
	st.LInf = float64(eps) * t
	st.Probs = probs(st.Label, 0.7*t*min(float64(eps)*10, 1))
	st.Pred = 0
	for i, p := range st.Probs {
		if p > st.Probs[st.Pred] {
			st.Pred = i
		}
	}
	st.Success = st.Pred != st.Label
	st.Losses = append(st.Losses, -math.Log(st.Probs[st.Label]))
	st.Done = st.Step >= st.Steps
	return s.State(), nil
}

func (s *stepper) Close() error { return nil }

// writeDynamics writes a fake dynamics.jsonl: per layer, a gradient
// variance that falls with the epochs and is higher for the less aligned
// rules, and angles by rule.
func writeDynamics(j *lab.Job, layers []lab.LayerInfo, epochs int) error {
	angle := map[rule.Rule]float64{"bp": 0, "usf": 30, "frsf": 35, "brsf": 40, "fa": 80, "dfa": math.NaN(), "hebb": math.NaN(), "pc": math.NaN()}
	var buf []byte
	for ep := 0; ep <= epochs; ep++ {
		d := search.Dynamics{Epoch: ep, Step: ep * 10, Batches: 8, BatchSize: 64}
		for _, l := range layers {
			a := angle[l.Rule]
			v := (1 + a/40) / float64(ep+1)
			d.Layers = append(d.Layers, search.LayerDynamics{Name: l.Name, Rule: l.Rule, GradVar: v, GradMean2: 1, AngleBW: a, AngleGrad: a / 2,
				WStd: 0.1, Kurtosis: a / 100, Hist: []int{1, 2, 4, 2, 1}, Lo: -1, Hi: 1})
		}
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	return j.WriteFile(lab.FileDynamics, buf)
}
