package tui

import (
	"bytes"
	"fmt"

	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/bionaslab/bionas/lab"
)

// step sends keys to the program, then waits until its output shows a
// marker (the answers of background commands arrive asynchronously).
type step struct {
	keys []tea.Msg
	wait string
}

// goldenCase is one pane (or state) to snapshot.
type goldenCase struct {
	name  string
	steps []step
}

var goldenCases = []goldenCase{
	{"runs", []step{{keys("up", "up", "up"), "r0001 search mnist darts"}}},
	{"new-search-form", []step{{keys("n"), "enter starts"}}},
	{"charts", []step{{keys("up", "up", "up", "2"), "img/s"}}},
	{"alphas", []step{{keys("up", "up", "up", "3"), "strongest"}}},
	{"alphas-reduce", []step{{keys("up", "up", "up", "3", "c", "down", "right"), "edge 1→2"}}},
	{"genotype", []step{{keys("up", "up", "up", "4"), "final genotype"}}},
	{"rules-compare", []step{{keys("up", "5"), "test accuracy change"}}},
	{"rules-table", []step{{keys("up", "5"), "test accuracy change"}, {keys("c", "down", "right", "right"), "1 edit pending"}}},
	{"attack", []step{{keys("up", "6", "down", "right", "space"), "step 1/5"}}},
	{"help", []step{{keys("?"), "go to pane"}}},
}

// TestGoldenPanes snapshots every pane at 80×24, 100×30 (where the wide
// layout switches on) and 120×40, driving a real
// bubbletea program with teatest over a lab of finished fake runs. Update
// the files with go test ./tui/ -run TestGoldenPanes -update.
func TestGoldenPanes(t *testing.T) {
	l := fixtureLab(t)
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		for _, c := range goldenCases {
			t.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], c.name), func(t *testing.T) {
				checkGolden(t, l, sz, c)
			})
		}
	}
}

// checkGolden drives a real bubbletea program over lab l at size sz
// through c's steps and compares its final screen with the golden file.
func checkGolden(t *testing.T, l *lab.Lab, sz [2]int, c goldenCase) {
	t.Helper()
	m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
	defer m.Close()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(sz[0], sz[1]))
	for _, s := range c.steps {
		for _, k := range s.keys {
			tm.Send(k)
		}
		waitOutput(t, tm, s.wait)
	}
	tm.Quit()
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Shell)
	view := fm.View()
	checkSize(t, view, sz[0], sz[1])
	golden.RequireEqual(t, []byte(view))
}

// waitOutput waits until the program's output shows s.
func waitOutput(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(s))
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

// checkSize asserts that a view is exactly w×h.
func checkSize(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Fatalf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n != w {
			t.Fatalf("line %d is %d columns, want %d: %q", i+1, n, w, l)
		}
	}
}

// TestEveryPaneFitsEverySize sweeps terminal sizes (without a program) and
// checks that every pane's view fills the terminal exactly.
func TestEveryPaneFitsEverySize(t *testing.T) {
	l := fixtureLab(t)
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {60, 20}, {200, 60}, {99, 50}} {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		drive(t, m, keys("up", "up", "up")...)
		for _, k := range []string{"1", "2", "3", "4", "5", "c", "6", "space", "?"} {
			drive(t, m, keys(k)...)
			checkSize(t, m.View(), sz[0], sz[1])
		}
		m.Close()
	}
}
