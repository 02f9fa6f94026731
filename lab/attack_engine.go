package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

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

// attackSpecs builds the named attacks ("all" for every one) from the
// "default" preset (torchattacks v3.5.1) with every L∞ budget set to eps
// (if > 0) and, if steps > 0, the iterations of every iterative attack set
// to steps: PGD, TPGD and APGD steps, One-Pixel generations, and Square
// queries (a Square iteration is one query). `bionas attack --preset
// default --eps E --set pgd.steps=S,…,square.queries=S` builds the same.
// attackSuiteSpecs builds an attack run's attacks: attackSpecs with the
// spec's settings and, for "transfer", its surrogate (whose crafting FGSM
// takes the run's ε).
func attackSuiteSpecs(names []string, a *AttackSpec, transfer *attacks.TransferConfig) ([]attacks.Spec, error) {
	suite, err := attackSuite(names, a.Eps, a.Steps)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(a.Settings)) {
		if err := suite.Set(k, a.Settings[k]); err != nil {
			return nil, err
		}
	}
	if transfer != nil {
		suite.Transfer = *transfer
	}
	if len(names) == 1 && (names[0] == "all" || names[0] == "") {
		names = engineAttacks()
	}
	return suite.Specs(names)
}

func attackSpecs(names []string, eps float64, steps int) ([]attacks.Spec, error) {
	suite, err := attackSuite(names, eps, steps)
	if err != nil {
		return nil, err
	}
	if len(names) == 1 && (names[0] == "all" || names[0] == "") {
		names = engineAttacks()
	}
	return suite.Specs(names)
}

// attackSuite is the "default" preset with every L∞ budget set to eps (if
// > 0) and the iterations of the named iterative attacks set to steps (if
// > 0; Square's queries).
func attackSuite(names []string, eps float64, steps int) (*attacks.Suite, error) {
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
			if n == "square" {
				key = "square.queries"
			}
			if !slices.Contains(attacks.SettableKeys(), key) {
				continue // FGSM takes one step
			}
			if err := suite.Set(key, fmt.Sprint(steps)); err != nil {
				return nil, err
			}
		}
	}
	return &suite, nil
}

// BlackBoxAttack reports whether the named attack takes no gradient of
// the model it attacks (One-Pixel, Square, transfer): the gradient mode
// means nothing to it.
func BlackBoxAttack(name string) bool {
	if name == "transfer" {
		return true
	}
	specs, err := attackSpecs([]string{name}, 0, 0)
	return err == nil && len(specs) == 1 && !specs[0].WhiteBox()
}

// modes are the gradient modes of a report's white-box attacks.
func (a AttackSpec) modes() ([]attacks.GradMode, error) {
	if a.BothModes {
		return []attacks.GradMode{attacks.Own, attacks.True}, nil
	}
	m, err := attacks.ParseGradMode(string(a.Mode))
	if err != nil {
		return nil, err
	}
	return []attacks.GradMode{m}, nil
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
	sp := specs[0]
	a, err := sp.Start(m, x, []int{label}, attacks.Options{Grad: mode, Seed: spec.Seed})
	if err != nil {
		return nil, err
	}
	clean := softmax(m.Forward(nil, x).Data)
	im := Image{C: c, H: h, W: w, Pix: pix}
	s := &engineStepper{e: e, model: m, atk: a, st: AttackState{
		Spec: spec, Steps: a.State().Iters, Label: label, Pred: argmax(clean), Classes: test.ClassNames(),
		Probs: clean, Clean: slices.Clone(clean), Losses: []float64{-math.Log(max(clean[label], 1e-12))},
		CleanIm: im, AdvIm: im.Clone(),
		Desc: sp.Label(), BlackBox: !sp.WhiteBox(), Budget: sp.Epsilon(), PixelBudget: attacks.PixelBudget(sp),
		Warning: attacks.BudgetWarning(sp), Queries: a.State().MaxQueries(),
	}}
	s.st.Success = s.st.Pred != label
	return s, nil
}

func (s *engineStepper) State() AttackState { return *s.st.Clone() }

// Step advances the attack one iteration and shows where its search
// stands (attacks.State.Iterate): the image, the model's probabilities on
// it, the loss −log p(label), ‖δ‖∞ and the pixels changed.
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
	img := as.Iterate
	if img == nil {
		img = as.Adv
	}
	if img != nil {
		st.AdvIm.Pix = slices.Clone(img.Data[:len(st.CleanIm.Pix)])
		st.Probs = softmax(s.model.Forward(nil, img).Data)
	}
	st.Pred = argmax(st.Probs)
	st.Success = st.Pred != st.Label
	st.Losses = append(st.Losses, -math.Log(max(st.Probs[st.Label], 1e-12)))
	st.LInf, st.Changed = perturbed(st.CleanIm, st.AdvIm)
	st.Queries = as.MaxQueries()
	return s.State(), nil
}

// perturbed measures adv − clean: its L∞ norm and the pixel positions
// changed in any channel.
func perturbed(clean, adv Image) (linf float64, changed int) {
	plane := clean.H * clean.W
	if len(adv.Pix) != len(clean.Pix) || plane == 0 {
		return 0, 0
	}
	for q := range plane {
		moved := false
		for c := range clean.C {
			i := c*plane + q
			d := math.Abs(float64(adv.Pix[i] - clean.Pix[i]))
			linf = max(linf, d)
			moved = moved || d > 0
		}
		if moved {
			changed++
		}
	}
	return linf, changed
}

func (s *engineStepper) Close() error { return nil }

// attackRun is the robustness report of an attack run: every attack asked
// for (white-box ones in each gradient mode asked for) on the first N test
// images, with the model's clean accuracy and the pointwise worst case.
// It is attacks.RunReport, the very function `bionas attack` runs, with
// the same batch size and seed, so that the two report identical numbers
// for the same model, images, attacks and seed. While it runs it emits the
// report so far (EventAttack) and a progress point (EventStep: Step and
// TotalSteps count image units, one image attacked by one row;
// ImagesPerSec is units per second; Acc is the worst case so far).
func (e *engine) attackRun(ctx context.Context, j *Job) error {
	a := j.Spec.Attack
	if j.Parent == nil || a == nil {
		return fmt.Errorf("attack run %s: no model run or no attack spec", j.ID)
	}
	m, err := e.attackModel(ctx, *j.Parent, j.ParentDir)
	if err != nil {
		return err
	}
	test, err := e.openData(ctx, j.Parent.Spec, false)
	if err != nil {
		return err
	}
	n := min(cmp.Or(a.N, DefaultReportImages), test.Len())
	x, y := attacks.LoadImages(test, n)
	names := strings.Split(cmp.Or(a.Attack, "all"), ",")
	var transfer *attacks.TransferConfig
	if slices.Contains(names, "transfer") {
		if a.Surrogate == "" {
			return fmt.Errorf("attack run %s: the transfer attack needs a surrogate (spec.attack.surrogate: a trained bp model's run)", j.ID)
		}
		sr, ok := j.lab.Run(a.Surrogate)
		if !ok || sr.Status != StatusDone || (sr.Kind != KindTrain && sr.Kind != KindRetrain) {
			return fmt.Errorf("attack run %s: surrogate %q is not a finished train or retrain run", j.ID, a.Surrogate)
		}
		sm, err := e.attackModel(ctx, sr, j.lab.RunDir(sr.ID))
		if err != nil {
			return fmt.Errorf("attack run %s: surrogate %s: %w", j.ID, sr.ID, err)
		}
		transfer = &attacks.TransferConfig{Surrogate: sm, SurrogateName: sr.ID}
	}
	specs, err := attackSuiteSpecs(names, a, transfer)
	if err != nil {
		return err
	}
	modes, err := a.modes()
	if err != nil {
		return err
	}
	start := time.Now()
	emit := func(r *attacks.Report) {
		rep := reportOf(j.Parent.ID, r)
		j.Emit(Event{Kind: EventAttack, Attack: rep})
		ev := Event{Kind: EventStep, Step: rep.Done, TotalSteps: rep.Total, Acc: rep.WorstCase}
		if s := time.Since(start).Seconds(); s > 0 {
			ev.ImagesPerSec = float64(rep.Done) / s
		}
		j.Emit(ev)
	}
	final, err := attacks.RunReport(ctx, attacks.ReportConfig{
		Models:  []attacks.ReportModel{{Name: j.Parent.ID, Model: m}},
		Attacks: specs,
		Modes:   modes,
		X:       x,
		Y:       y,
		Dataset: cmp.Or(j.Parent.Spec.Dataset, "mnist") + " test",
		Seed:    a.Seed,
		OnUpdate: func(r *attacks.Report) {
			if r.Running != nil && r.Running.Done > 0 {
				emit(r)
			}
		},
	})
	if err != nil {
		return err
	}
	emit(final)
	return nil
}

// AttackCommand is the `bionas attack` command line that reports the very
// numbers of attack run r (same images, attacks, budget, steps, gradient
// modes, seed and batches), on the model saved in modelDir, the folder of
// the run it attacks; "" if r is not an attack run.
func AttackCommand(r RunInfo, modelDir string) string {
	a := r.Spec.Attack
	if r.Kind != KindAttack || a == nil {
		return ""
	}
	names := []string{cmp.Or(a.Attack, "all")}
	if names[0] == "all" {
		names = engineAttacks()
	}
	grad := string(cmp.Or(a.Mode, attacks.Own))
	if a.BothModes {
		grad = "both"
	}
	args := []string{"bionas attack", "--model", filepath.Join(modelDir, "model.safetensors"),
		"--data", cmp.Or(r.Spec.Dataset, "mnist"), "--n", fmt.Sprint(cmp.Or(a.N, DefaultReportImages)),
		"--attack", strings.Join(names, ","), "--grad", grad, "--seed", fmt.Sprint(a.Seed)}
	if a.Eps > 0 {
		args = append(args, "--eps", fmt.Sprint(a.Eps))
	}
	if a.Steps > 0 {
		args = append(args, "--steps", fmt.Sprint(a.Steps))
	}
	return strings.Join(args, " ")
}

// reportOf turns a report of the attacks package on one model (finished,
// or under way with its Running cell) into the lab's.
func reportOf(model string, r *attacks.Report) *AttackReport {
	rep := &AttackReport{Model: model, Dataset: r.Dataset, N: r.N, Seed: r.Seed, BatchSize: r.BatchSize}
	if len(r.Models) > 0 {
		rep.CleanAcc, rep.WorstCase = r.Models[0].CleanAcc, r.Models[0].WorstCase
	}
	for _, a := range r.Attacks {
		modes := r.Modes
		if !a.WhiteBox {
			modes = []attacks.GradMode{""}
		}
		for _, mode := range modes {
			row := AttackRow{Attack: a.Name, Label: a.Label, Mode: string(mode), BlackBox: !a.WhiteBox, Eps: a.Eps,
				Budget: a.Budget, N: r.N, Warning: a.Warning}
			if !a.WhiteBox {
				row.Mode = attacks.BlackBoxLabel
			}
			rep.Total += r.N
			done := false
			for _, c := range r.Cells {
				if c.Model == model && c.Attack == a.Name && c.Grad == mode {
					row.N, row.RobustAcc, row.MaxLInf, row.MeanQueries = c.N, c.RobustAcc, c.MaxLInf, c.MeanQueries
					done = true
					break
				}
			}
			if done {
				rep.Rows = append(rep.Rows, row)
				continue
			}
			if run := r.Running; run != nil && run.Model == model && run.Attack == a.Name && run.Grad == mode {
				row.Done = run.CellDone
			}
			rep.Pending = append(rep.Pending, row)
		}
	}
	rep.Done = rep.Total
	if r.Running != nil {
		rep.Done = min(r.Running.Done, rep.Total)
	}
	return rep
}

// Table lays the report out as every view of it shows it (the TUI's report
// view; `bionas attack` prints the same table for its reports): the clean
// accuracy, a row per attack and gradient mode with its n and robust
// accuracy, and the worst case. running says whether the run is still
// going: then the first pending row is "running k/n", else "not run".
func (r *AttackReport) Table(running bool) attacks.Table {
	ar := &attacks.Report{Dataset: r.Dataset, N: r.N, Seed: r.Seed, BatchSize: r.BatchSize,
		Models: []attacks.ModelInfo{{Name: r.Model, CleanAcc: r.CleanAcc, WorstCase: r.WorstCase}}}
	seen := map[string]bool{}
	add := func(row AttackRow) (attacks.GradMode, bool) {
		bb := row.BlackBox || row.Mode == attacks.BlackBoxLabel
		if !seen[row.Attack] {
			seen[row.Attack] = true
			budget := row.Budget
			if budget == "" && row.Attack == "onepixel" {
				// A report from before rows had a budget: the lab has only
				// ever run One-Pixel with its default of one pixel.
				budget = attacks.Budget(attacks.OnePixelConfig{})
			}
			ar.Attacks = append(ar.Attacks, attacks.AttackInfo{Name: row.Attack, Label: cmp.Or(row.Label, row.Attack), Eps: row.Eps,
				WhiteBox: !bb, Budget: budget, Warning: row.Warning})
		}
		if bb {
			return "", true
		}
		mode := attacks.GradMode(cmp.Or(row.Mode, string(attacks.Own)))
		if !slices.Contains(ar.Modes, mode) {
			ar.Modes = append(ar.Modes, mode)
		}
		return mode, false
	}
	for _, row := range r.Rows {
		mode, bb := add(row)
		ar.Cells = append(ar.Cells, attacks.Cell{Model: r.Model, Attack: row.Attack, Grad: mode, BlackBox: bb,
			N: cmp.Or(row.N, r.N), RobustAcc: row.RobustAcc})
	}
	for i, row := range r.Pending {
		mode, _ := add(row)
		if i == 0 && running {
			ar.Running = &attacks.ReportProgress{Model: r.Model, Attack: row.Attack, Grad: mode, CellDone: row.Done, CellN: cmp.Or(row.N, r.N)}
		}
	}
	return ar.Table()
}

// UnmarshalJSON reads an attack.json, also one written before rows had N
// and reports had Total: then N held the total of image units (images ×
// rows), which becomes Total, and N is worked out from the rows of a
// finished report (left 0, unknown, for an unfinished one); rows of mode
// black-box are marked BlackBox.
func (r *AttackReport) UnmarshalJSON(b []byte) error {
	type plain AttackReport
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	if _, ok := keys["total"]; !ok && p.N > 0 {
		p.Total = p.N
		p.N = 0
		if k := len(p.Rows); k > 0 && p.Done >= p.Total && p.Total%k == 0 {
			p.N = p.Total / k
		}
		for i := range p.Rows {
			p.Rows[i].N = p.N
		}
	}
	for i := range p.Rows {
		p.Rows[i].BlackBox = p.Rows[i].BlackBox || p.Rows[i].Mode == attacks.BlackBoxLabel
	}
	*r = AttackReport(p)
	return nil
}
