package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/bionaslab/bionas/lab"
)

// tinyEngine is the real engine backend (lab.Engine) with every spec it
// sees shrunk to the tiny synthetic set-up of lab's TestEngineTinySynthetic:
// synthetic images instead of the spec's dataset (the TUI offers only real
// ones), a 32-image subset, and tiny networks (search: C 2, 2 cells, batch
// 8; train and retrain: C 4, 2 cells, batch 16, one epoch unless the spec
// says otherwise). The same shrinking applies to the layer listing, the
// attack stepper and attack runs, so that they rebuild the very networks
// the jobs trained. The lab's records keep the specs as the TUI made them.
func tinyEngine() lab.Backend {
	b := lab.Engine(lab.EngineOptions{Workers: 1})
	shrink := func(s lab.Spec) lab.Spec {
		s.Dataset, s.Subset, s.Cells = "synthetic", 32, 2
		switch s.Kind {
		case lab.KindSearch:
			s.C, s.BatchSize = 2, 8
		default:
			s.C, s.BatchSize = 4, 16
		}
		if s.Epochs == 0 {
			s.Epochs = 1
		}
		return s
	}
	jobs := map[lab.Kind]lab.JobFunc{}
	for k, f := range b.Jobs {
		jobs[k] = func(ctx context.Context, j *lab.Job) error {
			j.Spec = shrink(j.Spec)
			if j.Parent != nil {
				p := *j.Parent
				p.Spec = shrink(p.Spec)
				j.Parent = &p
			}
			return f(ctx, j)
		}
	}
	b.Jobs = jobs
	layers, stepper := b.Layers, b.Stepper
	b.Layers = func(ctx context.Context, g lab.Genotype, spec lab.Spec) ([]lab.LayerInfo, error) {
		return layers(ctx, g, shrink(spec))
	}
	b.Stepper = func(ctx context.Context, model lab.RunInfo, dir string, spec lab.AttackSpec) (lab.Stepper, error) {
		model.Spec = shrink(model.Spec)
		return stepper(ctx, model, dir, spec)
	}
	return b
}

// screen accumulates everything a teatest program has written, so that a
// wait can look at the output since a mark (teatest.WaitFor consumes what
// it reads: two strings drawn in one frame would defeat two waits).
type screen struct {
	t   *testing.T
	tm  *teatest.TestModel
	all bytes.Buffer
}

// mark is the position from which the next waits look.
func (s *screen) mark() int {
	s.pull()
	return s.all.Len()
}

func (s *screen) pull() {
	if _, err := io.Copy(&s.all, s.tm.Output()); err != nil {
		s.t.Fatal(err)
	}
}

// since returns the output written after mark m.
func (s *screen) since(m int) string { return string(s.all.Bytes()[m:]) }

// wait waits (generously: the engine trains on a slow, shared machine)
// until the output after mark m matches re, and returns the match.
func (s *screen) wait(m int, re string) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.pull()
		if got := rx.FindStringSubmatch(s.since(m)); got != nil {
			return got
		}
		if time.Now().After(deadline) {
			out := s.since(m)
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			s.t.Fatalf("screen: no %q after 60 s; last output:\n%s", re, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *screen) waitText(m int, text string) { s.t.Helper(); s.wait(m, regexp.QuoteMeta(text)) }

// TestEndToEndRealEngine is TestEndToEnd's journey on the real engine
// (tiny networks on synthetic images): start a search from the preset form
// and watch its chart, alpha heatmap and genotype, train the genotype,
// edit a rule and retrain as a child run, compare child and parent, and
// step a PGD attack on the child.
func TestEndToEndRealEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("trains (tiny) networks")
	}
	start := time.Now()
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: tinyEngine(), StatusInterval: time.Millisecond, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitRun := func(id string) lab.RunInfo {
		t.Helper()
		info, err := l.WaitRun(ctx, id)
		if err != nil || info.Status != lab.StatusDone {
			t.Fatalf("%s %s: %s %q %v", id, info.Kind, info.Status, info.Error, err)
		}
		return info
	}

	m := New(l, Options{FrameInterval: 5 * time.Millisecond, Context: ctx})
	defer m.Close()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 40))
	scr := &screen{t: t, tm: tm}
	send := func(ks ...string) {
		for _, k := range keys(ks...) {
			tm.Send(k)
		}
	}
	mk := scr.mark()
	scr.waitText(mk, "No runs yet")
	scr.waitText(mk, "Backend: engine.")

	// The preset form: the tiny MNIST preset, the bp space, two epochs
	// (seed 1, the preset's).
	mk = scr.mark()
	send("n", "right")
	scr.waitText(mk, "MNIST tiny search")
	send("down", "down", "down", "right", "down", "right")
	scr.wait(mk, `▸ epochs +‹ 2 ›`)
	scr.wait(mk, `space +bp`)
	send("enter")
	scr.waitText(mk, "started r0001: search")
	send("2") // the charts (already in focus after a form start; pressing 2 is harmless)
	scr.waitText(mk, "Charts · r0001")

	// The search ends; its chart counted every step on the way.
	s := waitRun("r0001")
	done := scr.wait(mk, `done · step (\d+)/(\d+) · epoch 2/2`)
	if done[1] != done[2] || done[1] != strconv.Itoa(s.Last.TotalSteps) || s.Last.Step != s.Last.TotalSteps || s.Last.TotalSteps < 4 {
		t.Fatalf("search chart says %q, the lab %d/%d", done[0], s.Last.Step, s.Last.TotalSteps)
	}
	checkSteps(t, scr.since(mk), s.Last.TotalSteps)
	snap, err := l.Snapshot("r0001")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Genotype == nil || snap.Alphas == nil || len(snap.Alphas.Normal) != len(snap.Alphas.Edges) {
		t.Fatalf("search snapshot: genotype %v, alphas %v", snap.Genotype != nil, snap.Alphas != nil)
	}
	for i, p := range snap.Points {
		if p.Kind == lab.EventStep && i > 0 && p.Step <= snap.Points[i-1].Step {
			t.Fatalf("search points do not advance: %+v then %+v", snap.Points[i-1], p)
		}
	}

	// The heatmap shows the final alphas (the last epoch's, not epoch 0's),
	// the genotype pane the genotype they give.
	mk = scr.mark()
	send("3")
	scr.waitText(mk, fmt.Sprintf("epoch %d · step %d · %d edges × %d pairs", snap.Alphas.Epoch, snap.Alphas.Step,
		len(snap.Alphas.Edges), len(snap.Alphas.Pairs)))
	if snap.Alphas.Epoch != 2 || snap.Alphas.Step != s.Last.TotalSteps {
		t.Fatalf("final alphas at epoch %d step %d", snap.Alphas.Epoch, snap.Alphas.Step)
	}
	mk = scr.mark()
	send("4")
	scr.waitText(mk, "final genotype of r0001 (2 epochs)")
	scr.waitText(mk, "→ concat")

	// Train the genotype the search found.
	mk = scr.mark()
	send("1", "t")
	scr.waitText(mk, "started r0002: train r0001")
	tr := waitRun("r0002")
	scr.waitText(mk, fmt.Sprintf("done · step %d/%d", tr.Last.TotalSteps, tr.Last.TotalSteps))
	// (From the status line on: the Runs pane showed r0001's counts before.)
	out := scr.since(mk)
	checkSteps(t, out[strings.Index(out, "started r0002"):], tr.Last.TotalSteps)
	if tr.Last.TestAcc == 0 {
		t.Fatalf("train run reported no test accuracy: %+v", tr.Last)
	}

	// Edit a rule — all layers to the rule after bp (fa) — and retrain.
	pl, err := l.Layers(ctx, "r0002")
	if err != nil || len(pl) == 0 {
		t.Fatalf("layers of r0002: %d, %v", len(pl), err)
	}
	mk = scr.mark()
	send("5")
	scr.waitText(mk, fmt.Sprintf("network trained by r0002 · %d rule layers", len(pl)))
	send("right", "a")
	scr.waitText(mk, "all layers → fa (r retrains)")
	send("r")
	scr.waitText(mk, "started r0003: retrain of r0002 (all=fa)")
	child := waitRun("r0003")
	// The comparison of the child with its parent.
	scr.waitText(mk, "Rules · r0003 vs parent r0002")
	scr.waitText(mk, "r0003 retrain of r0002 · edits: all=fa")
	scr.wait(mk, `parent r0002 +child r0003`)
	scr.wait(mk, fmt.Sprintf(`steps +%d/%d +%d/%d`, tr.Last.TotalSteps, tr.Last.TotalSteps, child.Last.TotalSteps, child.Last.TotalSteps))
	if child.Last.TestAcc != 0 {
		scr.waitText(mk, "test accuracy change")
	}

	// Step a PGD attack on the child, twice.
	mk = scr.mark()
	send("6")
	scr.waitText(mk, "Attack · model r0003")
	send("down", "right")
	scr.wait(mk, `▸ attack +‹ pgd ›`)
	mk = scr.mark()
	send("space")
	first := scr.wait(mk, `step 1/(\d+) · (holds|fooled)`)
	scr.wait(mk, `pgd own gradient, ε 0\.10`)
	// A probability bar: the class rows show bars and clean→adv percentages.
	scr.waitText(mk, "p(adver")
	scr.wait(mk, `[█▏▎▍▌▋▊▉]+ *\d+→ *\d+%`)
	mk2 := scr.mark()
	send("space")
	scr.wait(mk2, `step 2/`+first[1]+` · (holds|fooled)`)

	tm.Quit()
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Shell)
	checkSize(t, fm.View(), 80, 40)

	// The lab holds what the TUI did.
	runs := l.Runs()
	if len(runs) != 3 {
		t.Fatalf("%d runs", len(runs))
	}
	for _, r := range runs {
		if r.Status != lab.StatusDone {
			t.Fatalf("run %s is %s (%q)", r.ID, r.Status, r.Error)
		}
	}
	if sp := runs[0].Spec; runs[0].Kind != lab.KindSearch || sp.Preset != "mnist-tiny" || sp.Space != "bp" || sp.Method != "darts" || sp.Epochs != 2 || sp.Seed != 1 {
		t.Fatalf("search %+v", runs[0])
	}
	if tr.Kind != lab.KindTrain || tr.Parent != "r0001" || tr.Spec.Genotype == nil || !sameGenotype(*tr.Spec.Genotype, *snap.Genotype) {
		t.Fatalf("train %+v", tr)
	}
	edit := lab.RuleEdit{Selector: "all", Rule: "fa"}
	if child.Kind != lab.KindRetrain || child.Parent != "r0002" || len(child.Edits) != 1 || child.Edits[0] != edit ||
		len(child.Spec.Edits) != 1 || child.Spec.Edits[0] != edit || child.Spec.Seed != tr.Spec.Seed {
		t.Fatalf("child %+v", child)
	}
	for _, x := range pl {
		if x.Rule == "fa" {
			t.Fatalf("parent layer %s already has rule fa", x.Name)
		}
	}
	cl, err := l.Layers(ctx, "r0003")
	if err != nil || len(cl) != len(pl) {
		t.Fatalf("child layers: %d (parent %d), %v", len(cl), len(pl), err)
	}
	for _, x := range cl {
		if x.Rule != "fa" {
			t.Fatalf("child layer %s has rule %s", x.Name, x.Rule)
		}
	}
	a := fm.panes[paneAttack].(*attackPane)
	st := a.state
	if st == nil || st.Step != 2 || strconv.Itoa(st.Steps) != first[1] || st.Spec.Attack != "pgd" || st.Spec.Model != "r0003" ||
		len(st.Probs) != 10 || st.LInf > 0.1+1e-6 {
		t.Fatalf("attack state %+v", st)
	}
	var sum float64
	for _, p := range st.Probs {
		sum += p
	}
	if sum < 0.999 || sum > 1.001 {
		t.Fatalf("attack probabilities sum to %v", sum)
	}
	t.Logf("journey: %v", time.Since(start))
}

// checkSteps checks that the "step k/n" counts drawn for a run (in the
// chart's head, or the Runs pane's detail of the selected run) advance
// (never go back) and end at n/n.
func checkSteps(t *testing.T, out string, n int) {
	t.Helper()
	last := -1
	for _, m := range regexp.MustCompile(`· step (\d+)/(\d+) · epoch`).FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[1])
		if m[2] == "0" {
			continue // the run's first frame, before its first step
		}
		if m[2] != strconv.Itoa(n) || k < last {
			t.Fatalf("chart steps go %d then %s/%s (want …/%d, advancing)", last, m[1], m[2], n)
		}
		last = k
	}
	if last != n {
		t.Fatalf("chart steps end at %d, want %d", last, n)
	}
}
