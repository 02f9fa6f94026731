package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/bionaslab/bionas/lab"
)

// TestKeyBindingsDoNotClash checks that, in every pane, no key is bound
// twice and none shadows a global key (the jump keys 1-7, ?, q, tab).
func TestKeyBindingsDoNotClash(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow})
	defer m.Close()
	global := map[string]bool{}
	for _, b := range []key.Binding{m.keys.Next, m.keys.Prev, m.keys.Jump, m.keys.Help, m.keys.Quit} {
		for _, k := range b.Keys() {
			global[k] = true
		}
	}
	for _, p := range m.panes {
		seen := map[string]string{}
		for _, b := range p.Keys() {
			for _, k := range b.Keys() {
				if global[k] {
					t.Errorf("%s: key %q is also a global key", p.Name(), k)
				}
				if other, ok := seen[k]; ok && other != b.Help().Desc {
					t.Errorf("%s: key %q bound to %q and %q", p.Name(), k, other, b.Help().Desc)
				}
				seen[k] = b.Help().Desc
			}
		}
	}
}

func TestFocusCyclesAndMouseSelects(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("tab")...)
	if m.focus != paneCharts {
		t.Fatalf("tab: focus %d", m.focus)
	}
	drive(t, m, tea.KeyMsg{Type: tea.KeyShiftTab}, tea.KeyMsg{Type: tea.KeyShiftTab})
	if m.focus != paneStudies {
		t.Fatalf("shift+tab twice: focus %d", m.focus)
	}
	// A click on the tab label "4 Genotype".
	x := strings.Index(stripStyles(m.View()), "4 Genotype")
	drive(t, m, tea.MouseMsg{X: len([]rune(stripStyles(m.View())[:x])), Y: 0, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	if m.focus != paneGenotype {
		t.Fatalf("click on the tab: focus %d", m.focus)
	}
	// A click on the second run row of the runs list (wide layout: runs on
	// the left; rows start below the summary and the header lines).
	drive(t, m, tea.MouseMsg{X: 5, Y: m.bodyY + 1 + 2 + 1, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	if m.focus != paneRuns || m.s.sel != "r0002" {
		t.Fatalf("click on a run: focus %d, selected %s", m.focus, m.s.sel)
	}
	drive(t, m, tea.MouseMsg{X: 5, Y: 10, Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	if m.s.sel != "r0003" {
		t.Fatalf("wheel: selected %s", m.s.sel)
	}
}

// TestSessionRendererStyles checks that styles follow the session's
// renderer, not the process's (which the tests force to Ascii).
func TestSessionRendererStyles(t *testing.T) {
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.TrueColor)
	st := NewStyles(r)
	if st.Mono {
		t.Fatal("a TrueColor session is treated as monochrome")
	}
	if out := st.Heat[9].Render(" "); !strings.Contains(out, "\x1b[") {
		t.Fatalf("heat cell without colour: %q", out)
	}
	if NewStyles(nil).Mono != true {
		t.Fatal("the Ascii default renderer should be monochrome")
	}
	// The heatmap in colour: cells are backgrounds, not glyphs.
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Renderer: r})
	defer m.Close()
	drive(t, m, keys("up", "up", "up", "3")...)
	v := m.View()
	if strings.ContainsAny(v, "░▒▓") || !strings.Contains(v, "48;2;") {
		t.Fatal("colour heatmap drew glyphs or no backgrounds")
	}
}

func TestHeatIndex(t *testing.T) {
	for _, c := range []struct {
		v, lo, hi float32
		n, want   int
	}{
		{0, 0, 1, 10, 0}, {1, 0, 1, 10, 9}, {0.5, 0, 1, 10, 5}, {0.099, 0, 1, 10, 0},
		{0.3, 0.3, 0.3, 5, 0}, {2, 0, 1, 5, 4}, {-1, 0, 1, 5, 0}, {0.27, 0.1, 0.5, 5, 2},
	} {
		if got := heatIndex(c.v, c.lo, c.hi, c.n); got != c.want {
			t.Errorf("heatIndex(%v in [%v,%v], %d) = %d, want %d", c.v, c.lo, c.hi, c.n, got, c.want)
		}
	}
}

// TestEventsArriveAtMostTenTimesASecond floods the lab with events and
// checks that the shell's deliveries are spaced by the frame interval and
// coalesced.
func TestEventsArriveAtMostTenTimesASecond(t *testing.T) {
	l, pace := pacedLab(t, 100000, 1)
	m := New(l, Options{FrameInterval: 100 * time.Millisecond})
	defer m.Close()
	if _, err := l.Start(lab.Spec{Kind: lab.KindSearch}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case pace <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	start := time.Now()
	var batches, events int
	for time.Since(start) < 350*time.Millisecond {
		got := make(chan tea.Msg, 1)
		go func() { got <- m.waitEvents()() }()
		var msg tea.Msg
		select {
		case msg = <-got:
		case <-time.After(2 * time.Second):
			t.Fatal("no delivery in 2 s")
		}
		em, ok := msg.(eventsMsg)
		if !ok {
			t.Fatalf("got %T", msg)
		}
		m.lastPull = time.Now()
		batches++
		events += len(em.batch.Events)
	}
	if batches > 5 { // 350 ms at most 10 a second, plus the first at once
		t.Fatalf("%d deliveries in %v", batches, time.Since(start))
	}
	if events < batches {
		t.Fatalf("%d events in %d batches", events, batches)
	}
}

func TestBarsHaveTheirWidth(t *testing.T) {
	for _, p := range []float64{0, 0.01, 0.38, 0.5, 0.99, 1, 2, -1} {
		for _, w := range []int{1, 6, 10} {
			if got := []rune(progressBar(p, w)); len(got) != w {
				t.Errorf("progressBar(%v, %d) = %q: %d columns", p, w, string(got), len(got))
			}
		}
	}
}

func TestHalfBlockColourAndMono(t *testing.T) {
	im := lab.Image{C: 1, H: 4, W: 2, Pix: []float32{1, 1, 0, 0, 1, 0, 0, 1}}
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.TrueColor)
	col := halfBlock(NewStyles(r), im, 1, false)
	if strings.Count(col, "▀") != 4 || !strings.Contains(col, "38;2;255;255;255") || !strings.Contains(col, "48;2;0;0;0") {
		t.Fatalf("colour half blocks: %q", col)
	}
	// Monochrome: rows (1,1)/(0,0) then (1,0)/(0,1): ▀▀ then ▀▄.
	if mono := halfBlock(NewStyles(nil), im, 1, false); mono != "▀▀\n▀▄" {
		t.Fatalf("mono half blocks: %q", mono)
	}
}

// TestFormStartShowsCharts: starting a run from the preset form moves the
// focus to the Charts pane, as the one-key start does.
func TestFormStartShowsCharts(t *testing.T) {
	l := fixtureLab(t)
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("n")...)
	if !m.panes[m.focus].Capturing() {
		t.Fatal("n did not open the preset form")
	}
	drive(t, m, keys("enter")...)
	if m.focus != paneCharts {
		t.Fatalf("after starting from the form: focus %d, want the charts (%d)", m.focus, paneCharts)
	}
}

// TestMultiRuneKeysAreSplit: keys that arrive in one read ("kkk", as fast
// typing or key repeat over SSH delivers them) act as that many key
// presses, not as one unknown key.
func TestMultiRuneKeysAreSplit(t *testing.T) {
	l := fixtureLab(t)
	one := New(l, Options{Now: fixedNow, Width: 80, Height: 24})
	defer one.Close()
	three := New(l, Options{Now: fixedNow, Width: 80, Height: 24})
	defer three.Close()
	start := one.s.sel
	drive(t, one, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("kkk")})
	drive(t, three, keys("k", "k", "k")...)
	if one.s.sel == start {
		t.Fatalf("\"kkk\" in one message left the selection on %s", start)
	}
	if one.s.sel != three.s.sel {
		t.Errorf("\"kkk\" in one message selected %s, three k presses %s", one.s.sel, three.s.sel)
	}
}
