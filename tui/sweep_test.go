package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

func backspaces(n int) []tea.Msg {
	out := make([]tea.Msg, n)
	for i := range out {
		out[i] = tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return out
}

// TestSweepForm: W opens the sweep form; its lists are typed as on the
// command line, a bad one is refused with its name and starts nothing,
// and enter starts the grid as one sweep, whose runs the list marks and
// whose progress the details show.
func TestSweepForm(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 5, Epochs: 1, Pace: make(chan struct{})}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: f.Backend(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()

	drive(t, m, keys("1", "W")...)
	view := stripStyles(m.View())
	for _, want := range []string{"New sweep", "A sweep of 2 runs", "seeds", "1-2", "executor", "local"} {
		if !strings.Contains(view, want) {
			t.Errorf("the sweep form lacks %q:\n%s", want, view)
		}
	}
	// seeds: "x" is refused, naming the field; nothing starts.
	drive(t, m, keys("down", "down", "down")...)
	drive(t, m, backspaces(3)...)
	drive(t, m, keys("x", "enter")...)
	if view := stripStyles(m.View()); !strings.Contains(view, `seeds "x"`) || len(l.Runs()) != 0 {
		t.Fatalf("bad seeds: %d runs, view:\n%s", len(l.Runs()), view)
	}
	drive(t, m, backspaces(1)...)
	drive(t, m, keys("1", "-", "3", "down")...)
	drive(t, m, backspaces(10)...)
	drive(t, m, keys("b", "p", ",", "b", "i", "o")...)
	if view := stripStyles(m.View()); !strings.Contains(view, "A sweep of 6 runs") {
		t.Fatalf("3 seeds × 2 spaces:\n%s", view)
	}
	drive(t, m, keys("enter")...)
	runs := l.Runs()
	if len(runs) != 6 {
		t.Fatalf("%d runs started, want 6 (status %q)", len(runs), m.s.msg)
	}
	for _, r := range runs {
		if r.Sweep != "s0001" {
			t.Errorf("%s: sweep %q", r.ID, r.Sweep)
		}
	}
	if !strings.Contains(m.s.msg, "sweep s0001: 6 runs on local") {
		t.Errorf("status: %q", m.s.msg)
	}
	m.s.reloadRuns() // what the lab's status events do, without waiting for them
	view = stripStyles(m.panes[paneRuns].View(true))
	view = strings.Join(strings.Fields(strings.NewReplacer("┃", " ", "│", " ").Replace(view)), " ")
	for _, want := range []string{"r0002 s0001 …", "sweep s0001: 0/6 done, 1 running, 5 queued"} {
		if !strings.Contains(view, want) {
			t.Errorf("the runs list lacks %q:\n%s", want, view)
		}
	}
	for _, r := range runs {
		l.Stop(r.ID)
	}
}
