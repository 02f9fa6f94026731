package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// studyLab is a lab with a finished rules study and a finished dynamics
// study, run by the fake backend.
func studyLab(t testing.TB) *lab.Lab {
	t.Helper()
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: (&labtest.Fake{StepsPerEpoch: 2, Epochs: 1}).Backend(), Now: fixedNow, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, k := range []lab.StudyKind{lab.StudyRules, lab.StudyDynamics} {
		if _, err := l.RunStudy(context.Background(), lab.StudySpec{Kind: k, Seeds: 2, Dataset: "fashion-mnist"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// TestStudiesPaneShowsTheReport: the pane lists the studies with their
// progress and shows the selected one's table, verdicts and chart, whole,
// at every size.
func TestStudiesPaneShowsTheReport(t *testing.T) {
	l := studyLab(t)
	for _, sz := range layoutSizes {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		// Everything the pane shows of a study, scrolling through it.
		read := func() string {
			var all strings.Builder
			for range 8 {
				all.WriteString(stripStyles(m.panes[paneStudies].View(true)) + "\n")
				drive(t, m, tea.KeyMsg{Type: tea.KeyPgDown})
			}
			return strings.Join(strings.Fields(all.String()), " ")
		}
		drive(t, m, keys("7")...)
		view := read()
		for _, want := range []string{"rules-fashion-mnist-quick-2seeds", "done 20/20", "dynamics-fashion-mnist-quick-2seeds", "mixed", "random (all)", "bar from",
			"Mixed rules beat every single bio rule (Table 1)"} {
			if !strings.Contains(view, want) {
				t.Errorf("%dx%d: %q missing:\n%s", sz[0], sz[1], want, view)
			}
		}
		drive(t, m, keys("down")...)
		view = read()
		for _, want := range []string{"relative grad variance", "Mixing rules lowers the gradient variance"} {
			if !strings.Contains(view, want) {
				t.Errorf("%dx%d dynamics: %q missing:\n%s", sz[0], sz[1], want, view)
			}
		}
		m.Close()
	}
}

// TestStudyFormStartsAStudy: n opens the form; enter starts the study in
// the background, its runs appear, and its end is reported.
func TestStudyFormStartsAStudy(t *testing.T) {
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: (&labtest.Fake{StepsPerEpoch: 2, Epochs: 1}).Backend(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("7", "n")...)
	if !strings.Contains(stripStyles(m.View()), "New study") {
		t.Fatal("no form")
	}
	drive(t, m, keys("down", "down", "left", "left")...) // seeds 3 → 1
	_, cmd := m.Update(keys("enter")[0])
	if !strings.Contains(m.s.msg, "rules-fashion-mnist-quick-1seeds") {
		t.Fatalf("status %q", m.s.msg)
	}
	msgs := make(chan tea.Msg, 16)
	go collectMsgs(cmd, msgs)
	deadline := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case msg := <-msgs:
			if d, ok := msg.(studyDoneMsg); ok {
				m.Update(d)
				done = true
			}
		case <-deadline:
			t.Fatal("the study did not end")
		}
	}
	if len(l.Runs()) != 1+10 {
		t.Fatalf("%d runs", len(l.Runs()))
	}
	if !strings.Contains(m.s.msg, "done") {
		t.Errorf("status %q", m.s.msg)
	}
}

// collectMsgs runs a command and the commands of its batches, sending
// their messages.
func collectMsgs(cmd tea.Cmd, out chan<- tea.Msg) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			go collectMsgs(c, out)
		}
	default:
		out <- msg
	}
}

func TestGoldenStudies(t *testing.T) {
	l := studyLab(t)
	for _, sz := range layoutSizes {
		for _, c := range []goldenCase{
			{"rules", []step{{keys("7"), "bar from"}}},
			{"dynamics", []step{{keys("7", "down"), "grad variance"}}},
			{"form", []step{{keys("7", "n"), "enter starts"}}},
		} {
			t.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], c.name), func(t *testing.T) {
				checkGolden(t, l, sz, c)
			})
		}
	}
}
