package tui

import (
	"context"
	"maps"
	"os"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

func TestMain(m *testing.M) {
	// Golden files are plain text: no colour, a dark background.
	lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// fixedNow is the clock of the golden fixtures.
func fixedNow() time.Time { return time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC) }

// fixtureLab is a lab with one finished run of each kind, made by the fake
// backend: r0001 a search, r0002 the training of its genotype, r0003 a
// retrain of r0002 with every layer on usf, r0004 a robustness report of
// r0003.
func fixtureLab(t testing.TB) *lab.Lab {
	t.Helper()
	f := &labtest.Fake{StepsPerEpoch: 10, Epochs: 2}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: fixtureBackend(f), Now: fixedNow, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	must := func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.WaitRun(ctx, info.ID)
		if err != nil || got.Status != lab.StatusDone {
			t.Fatalf("%s: %s %v", info.ID, got.Status, err)
		}
		return got
	}
	s := must(l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Epochs: 2}))
	tr := must(l.TrainGenotype(s.ID))
	rt := must(l.Retrain(tr.ID, []lab.RuleEdit{{Selector: "all", Rule: "usf"}}))
	must(l.Attack(lab.AttackSpec{Model: rt.ID, Attack: "all", Mode: attacks.Own, Eps: 0.1, N: 8}))
	return l
}

// fixtureBackend is the fake backend with the real engine's layer lists:
// the rule editor shows the layers a network of the fake genotype has
// (the mnist-tiny preset's 5 cells, two of them reduction cells; every
// convolution by name, cell, edge and part; the edits applied), computed
// without training anything. Trained runs report them after the fake
// training, as the engine's trainings do before theirs.
func fixtureBackend(f *labtest.Fake) lab.Backend {
	b := f.Backend()
	layers := lab.Engine(lab.EngineOptions{}).Layers
	b.Layers = layers
	b.Jobs = maps.Clone(b.Jobs)
	for _, k := range []lab.Kind{lab.KindTrain, lab.KindRetrain} {
		train := b.Jobs[k]
		b.Jobs[k] = func(ctx context.Context, j *lab.Job) error {
			if err := train(ctx, j); err != nil {
				return err
			}
			ls, err := layers(ctx, *j.Spec.Genotype, j.Spec)
			if err != nil {
				return err
			}
			j.Emit(lab.Event{Kind: lab.EventLayers, Layers: ls})
			return nil
		}
	}
	return b
}

// drive feeds messages to a model directly (no program) and runs the
// commands they return that finish at once (stepper and layer answers),
// feeding their messages back.
func drive(t testing.TB, m *Shell, msgs ...tea.Msg) {
	t.Helper()
	for _, msg := range msgs {
		_, cmd := m.Update(msg)
		runCmds(t, m, cmd, 0)
	}
}

func runCmds(t testing.TB, m *Shell, cmd tea.Cmd, depth int) {
	if cmd == nil || depth > 8 {
		return
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(50 * time.Millisecond):
		return // a waiting command (the lab subscription): leave it
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			runCmds(t, m, c, depth+1)
		}
	case tea.QuitMsg:
	default:
		_, next := m.Update(msg)
		runCmds(t, m, next, depth+1)
	}
}

func keys(ss ...string) []tea.Msg {
	var out []tea.Msg
	for _, s := range ss {
		switch s {
		case "up":
			out = append(out, tea.KeyMsg{Type: tea.KeyUp})
		case "down":
			out = append(out, tea.KeyMsg{Type: tea.KeyDown})
		case "left":
			out = append(out, tea.KeyMsg{Type: tea.KeyLeft})
		case "right":
			out = append(out, tea.KeyMsg{Type: tea.KeyRight})
		case "enter":
			out = append(out, tea.KeyMsg{Type: tea.KeyEnter})
		case "tab":
			out = append(out, tea.KeyMsg{Type: tea.KeyTab})
		case "esc":
			out = append(out, tea.KeyMsg{Type: tea.KeyEsc})
		case "space":
			out = append(out, tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		default:
			out = append(out, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
		}
	}
	return out
}

func TestDump(t *testing.T) {
	if os.Getenv("BIONAS_DUMP") == "" {
		t.Skip("set BIONAS_DUMP=1 to print every pane")
	}
	l := fixtureLab(t)
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		drive(t, m, keys("up", "up", "up")...)
		for _, k := range []string{"1", "2", "3", "4"} {
			drive(t, m, keys(k)...)
			t.Logf("\n%s", m.View())
		}
		drive(t, m, keys("1", "down", "down", "5")...)
		t.Logf("\n%s", m.View())
		drive(t, m, keys("c")...)
		t.Logf("\n%s", m.View())
		drive(t, m, keys("6", "space", "space")...)
		t.Logf("\n%s", m.View())
		drive(t, m, keys("?")...)
		t.Logf("\n%s", m.View())
		m.Close()
	}
}
