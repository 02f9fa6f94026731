package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

var layoutSizes = [][2]int{{80, 24}, {100, 30}, {120, 40}}

// TestRunsPaneShowsEveryFigure: at every size the list shows each run's
// key number whole, its lineage, and the queue line; the details show
// the numbers the 80-column layout shows.
func TestRunsPaneShowsEveryFigure(t *testing.T) {
	l := fixtureLab(t)
	for _, sz := range layoutSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
			defer m.Close()
			drive(t, m, keys("1", "up", "up", "up")...)
			view := stripStyles(m.View())
			for _, want := range []string{"val 85.9%", "test 97.5%", "test 98.0%", "rob 66.0%", "↳", "0 queued",
				"val 85.9%", "test –", "seed 1", "folder runs/r0001"} {
				if !strings.Contains(view, want) {
					t.Errorf("%q is missing or cut:\n%s", want, view)
				}
			}
		})
	}
}

func TestEmptyLabHintIsWhole(t *testing.T) {
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: (&labtest.Fake{}).Backend(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, sz := range layoutSizes {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		view := stripStyles(m.panes[paneRuns].View(true))
		m.Close()
		// The hint may wrap, but every word of it is there.
		flat := strings.Join(strings.Fields(strings.NewReplacer("┃", " ", "│", " ").Replace(view)), " ")
		if !strings.Contains(flat, "Press s to start the MNIST quick search (mnist-quick), or n to pick a preset.") {
			t.Errorf("%dx%d: the empty lab's hint is cut:\n%s", sz[0], sz[1], view)
		}
	}
}

func TestNewSearchFormShowsNamesAndFollowsChanges(t *testing.T) {
	l := fixtureLab(t)
	for _, sz := range layoutSizes {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		drive(t, m, keys("1", "n")...)
		for i, p := range lab.Presets() {
			view := stripStyles(m.View())
			if !strings.Contains(view, p.Name) {
				t.Errorf("%dx%d: preset %d name %q is cut:\n%s", sz[0], sz[1], i, p.Name, view)
			}
			drive(t, m, keys("right")...)
		}
		m.Close()
	}
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("1", "n")...)
	if !strings.Contains(stripStyles(m.View()), "MNIST quick search") {
		t.Fatalf("the form does not start on the preset's title")
	}
	drive(t, m, keys("down", "right")...) // dataset: mnist → the next one
	view := stripStyles(m.View())
	if strings.Contains(view, "MNIST quick search") {
		t.Errorf("the title still names the preset after the dataset changed:\n%s", view)
	}
	if !strings.Contains(view, "Fashion-MNIST darts search") {
		t.Errorf("the title does not say what will run:\n%s", view)
	}
}

// TestStatusSaysQueuedNotStarted: a run that waits is reported as queued,
// with its place; one that starts as started.
func TestStatusSaysQueuedNotStarted(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 5, Epochs: 1, Pace: make(chan struct{})}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: f.Backend(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("s")...)
	if !strings.HasPrefix(m.s.msg, "started r0001") {
		t.Fatalf("first run: status %q", m.s.msg)
	}
	drive(t, m, keys("1", "s")...)
	if !strings.HasPrefix(m.s.msg, "queued r0002") || !strings.Contains(m.s.msg, "0 ahead") {
		t.Fatalf("second run while the first runs: status %q", m.s.msg)
	}
	l.Stop("r0002")
	l.Stop("r0001")
}

// TestCompareOverlaysRunsAndMarksProvisional: marking runs overlays their
// curves in the Charts pane, one legend line each, and an unfinished run
// is marked as such.
func TestCompareOverlaysRunsAndMarksProvisional(t *testing.T) {
	l := fixtureLab(t)
	f := &labtest.Fake{}
	_ = f
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	// r0002 and r0003 (train and retrain): mark r0002, select r0003.
	drive(t, m, keys("1", "up", "up", "c", "down")...)
	view := stripStyles(m.View())
	if !strings.Contains(view, "comparing r0002, r0003") {
		t.Fatalf("the charts do not compare the two runs:\n%s", view)
	}
	for _, want := range []string{"r0002 train r0001 · test", "r0003 retrain of r0002 · test", "training loss", "held-out accuracy"} {
		if !strings.Contains(view, want) {
			t.Errorf("%q missing:\n%s", want, view)
		}
	}
	if strings.Contains(view, "(running") {
		t.Errorf("finished runs marked provisional:\n%s", view)
	}
	// An unfinished run's numbers are marked.
	info := lab.RunInfo{ID: "r0009", Status: lab.StatusRunning, Last: lab.Metrics{Epoch: 0, Epochs: 3}}
	if got := provisional(info); got != "(running, epoch 1/3)" {
		t.Errorf("provisional mark %q", got)
	}
	drive(t, m, keys("C")...)
	if strings.Contains(stripStyles(m.View()), "comparing") {
		t.Errorf("C did not clear the comparison")
	}
}

// TestAttackRunChartsSayWhereTheTableIs: an attack run's Charts pane
// shows its progress in images and its numbers, not "epoch 1/0" and "no
// metrics".
func TestAttackRunChartsSayWhereTheTableIs(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	view := stripStyles(m.View()) // the newest run, r0004, is selected
	for _, bad := range []string{"epoch 1/0", "recorded no metrics", "– img/s"} {
		if strings.Contains(view, bad) {
			t.Errorf("%q shown for an attack run:\n%s", bad, view)
		}
	}
	for _, want := range []string{"image×attack", "worst case", "Attack pane"} {
		if !strings.Contains(view, want) {
			t.Errorf("%q missing:\n%s", want, view)
		}
	}
}

// TestRunDetailsShowTheWholeSpec: i opens a view with every spec field,
// the lineage and the note; esc goes back.
func TestRunDetailsShowTheWholeSpec(t *testing.T) {
	l := fixtureLab(t)
	if err := os.WriteFile(filepath.Join(l.RunDir("r0003"), "config.json"), []byte(`{"train":{"epochs":2,"lr":0.025,"batch_size":64}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetNote("r0003", "usf everywhere\nbetter than the parent?"); err != nil {
		t.Fatal(err)
	}
	m := New(l, Options{Now: fixedNow, Width: 100, Height: 60})
	defer m.Close()
	drive(t, m, keys("1", "up", "i")...)
	view := stripStyles(m.View())
	for _, want := range []string{"Run r0003", "kind        retrain", "preset      mnist-tiny", "rule edits  all=usf",
		"train.lr 0.025", "train.batch_size 64", "from r0002 train r0001 ← r0001 search mnist darts",
		"children: r0004", "usf everywhere", "better than the parent?", "run.json"} {
		if !strings.Contains(view, want) {
			t.Errorf("%q missing from the details:\n%s", want, view)
		}
	}
	drive(t, m, keys("esc")...)
	if !strings.Contains(stripStyles(m.View()), "Runs (4)") {
		t.Errorf("esc did not go back to the list")
	}
}

// TestRenameNoteArchiveDeleteFromTheRunsPane drives the keys.
func TestRenameNoteArchiveDeleteFromTheRunsPane(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Width: 80, Height: 24}) // rows with titles
	defer m.Close()
	// Rename r0004 (selected).
	drive(t, m, keys("1", "r")...)
	for _, r := range "pgd sweep" {
		drive(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	drive(t, m, keys("enter")...)
	if r, _ := l.Run("r0004"); r.Name != "pgd sweep" {
		t.Fatalf("rename: name %q (status %q)", r.Name, m.s.msg)
	}
	if !strings.Contains(stripStyles(m.View()), "pgd sweep") {
		t.Errorf("the new name is not shown")
	}
	// A note, two lines.
	drive(t, m, keys("N", "a", "b", "enter", "c")...)
	drive(t, m, tea.KeyMsg{Type: tea.KeyCtrlS})
	if r, _ := l.Run("r0004"); r.Note != "ab\nc" {
		t.Fatalf("note %q (status %q)", r.Note, m.s.msg)
	}
	// Archive hides it; A shows it again.
	drive(t, m, keys("a")...)
	if r, _ := l.Run("r0004"); !r.Archived {
		t.Fatalf("not archived (status %q)", m.s.msg)
	}
	drive(t, m, keys("up")...)
	if strings.Contains(stripStyles(m.View()), "pgd sweep") {
		t.Errorf("an archived run is still listed once unselected")
	}
	drive(t, m, keys("A")...)
	if !strings.Contains(stripStyles(m.View()), "pgd sweep (archived)") {
		t.Errorf("A does not list archived runs")
	}
	// Delete asks, n keeps it, y moves it to the trash.
	drive(t, m, keys("down", "D", "n")...)
	if _, ok := l.Run("r0004"); !ok {
		t.Fatal("n deleted the run")
	}
	drive(t, m, keys("D", "y")...)
	if _, ok := l.Run("r0004"); ok {
		t.Fatalf("y did not delete (status %q)", m.s.msg)
	}
	if !strings.Contains(m.s.msg, "trash") {
		t.Errorf("status %q does not say where the run went", m.s.msg)
	}
	// The viewer drops it when the lab's event arrives.
	sub := l.Subscribe()
	defer sub.Close()
	m.s.apply(lab.Batch{Events: []lab.Event{{Run: "r0004", Seq: 1 << 40, Kind: lab.EventDeleted}}})
	if _, ok := m.s.run("r0004"); ok {
		t.Errorf("the deleted run is still in the viewer's list")
	}
}

// TestGlobalKeyMapListsEveryPane: ? shows every pane's keys, not only the
// focused pane's.
func TestGlobalKeyMapListsEveryPane(t *testing.T) {
	l := fixtureLab(t)
	for _, sz := range layoutSizes {
		m := New(l, Options{Now: fixedNow, Width: sz[0], Height: sz[1]})
		drive(t, m, keys("2", "?")...)
		var all strings.Builder
		for range 10 { // scroll through a map taller than the screen
			all.WriteString(stripStyles(m.View()))
			drive(t, m, keys("down", "down", "down", "down", "down")...)
		}
		text := strings.Join(strings.Fields(strings.NewReplacer("┃", " ", "│", " ").Replace(all.String())), " ")
		for _, want := range []string{"1 Runs", "2 Charts (here)", "3 Alphas", "4 Genotype", "5 Rules", "6 Attack",
			"n new search…", "r rename", "e smooth (EMA)", "1-7 go to pane", "7 Studies"} {
			if !strings.Contains(text, want) {
				t.Errorf("%dx%d: the key map lacks %q", sz[0], sz[1], want)
			}
		}
		if !strings.Contains(stripStyles(m.View()), "? all keys") && !strings.Contains(stripStyles(m.View()), "esc/? close") {
			t.Errorf("%dx%d: the help line does not say how to close the map", sz[0], sz[1])
		}
		m.Close()
	}
}

var _ = context.Background
var _ = time.Second

// TestExportFromTheRunsPane: E opens the menu; enter writes the export
// into the run's folder and says where; with runs marked, the menu offers
// the comparison's charts.
func TestExportFromTheRunsPane(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("1", "up", "up", "up", "E")...) // r0001, the search
	view := stripStyles(m.View())
	for _, want := range lab.ExportNames() {
		if !strings.Contains(view, want) {
			t.Errorf("the export menu lacks %s:\n%s", want, view)
		}
	}
	drive(t, m, keys("down", "enter")...) // genotype.txt
	path := filepath.Join(l.RunDir("r0001"), "exports", "genotype.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no export (status %q): %v", m.s.msg, err)
	}
	if !strings.HasPrefix(string(b), "Genotype(") || !strings.Contains(m.s.msg, path) {
		t.Errorf("export %q, status %q", b, m.s.msg)
	}
	drive(t, m, keys("esc", "down", "c", "down", "E")...) // compare r0002 with r0003
	view = stripStyles(m.View())
	if !strings.Contains(view, "compare loss.svg") {
		t.Fatalf("no comparison exports offered:\n%s", view)
	}
	for range len(lab.ExportNames()) - 1 + 2 { // past the run's own, to "compare loss.svg"
		drive(t, m, keys("down")...)
	}
	drive(t, m, keys("enter")...)
	cmp := filepath.Join(l.Dir(), "exports", "compare-r0002-r0003-loss.svg")
	svg, err := os.ReadFile(cmp)
	if err != nil {
		t.Fatalf("no comparison chart (status %q): %v", m.s.msg, err)
	}
	if !strings.Contains(string(svg), "r0002") || !strings.Contains(string(svg), "r0003") {
		t.Errorf("the comparison chart does not name both runs")
	}
}
