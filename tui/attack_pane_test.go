package tui

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// attackShell opens a shell of w×h on the attack pane of model r0003 with
// attack name picked in the form.
func attackShell(t *testing.T, delay time.Duration, w, h int, attack string) (*Shell, *attackPane) {
	t.Helper()
	m := New(attackLab(t, delay), Options{Now: fixedNow, Width: w, Height: h})
	t.Cleanup(m.Close)
	drive(t, m, keys("up", "6")...)
	a := m.panes[paneAttack].(*attackPane)
	if a.model != "r0003" {
		t.Fatalf("attack pane on model %q", a.model)
	}
	drive(t, m, keys("down")...) // the attack field
	for i := 0; a.atk != attack && i < 10; i++ {
		drive(t, m, keys("right")...)
	}
	if a.atk != attack {
		t.Fatalf("no attack %q in the form", attack)
	}
	return m, a
}

// view is the shell's view without styles.
func view(m *Shell) string { return stripStyles(m.View()) }

// paneText is the focused pane's part of the view (between its heavy
// borders), without the runs list beside it.
func paneText(m *Shell) string {
	var out []string
	for _, l := range strings.Split(view(m), "\n") {
		i, j := strings.Index(l, "┃"), strings.LastIndex(l, "┃")
		if i >= 0 && j > i {
			out = append(out, l[i+len("┃"):j])
		}
	}
	return strings.Join(out, "\n")
}

// flat joins a view's words with single spaces, so that a phrase wrapped
// over lines reads as one.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

var stepRE = regexp.MustCompile(`step (\d+)/(\d+)`)

// shownStep reads "step k/N" off the view.
func shownStep(t *testing.T, m *Shell) (int, int) {
	t.Helper()
	g := stepRE.FindStringSubmatch(view(m))
	if g == nil {
		t.Fatalf("no step shown:\n%s", view(m))
	}
	k, _ := strconv.Atoi(g[1])
	n, _ := strconv.Atoi(g[2])
	return k, n
}

// press sends one key to the shell and returns its command.
func press(m *Shell, k string) tea.Cmd {
	_, cmd := m.Update(keys(k)[0])
	return cmd
}

// stepMsgOf runs a command (a batch included) until it yields the pane's
// stepMsg; it fails the test if that takes longer than limit (a frozen UI).
func stepMsgOf(t *testing.T, cmd tea.Cmd, limit time.Duration) stepMsg {
	t.Helper()
	if cmd == nil {
		t.Fatal("no command")
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(limit):
		t.Fatalf("a command of the run to the end took longer than %v: the view would freeze", limit)
	}
	switch msg := msg.(type) {
	case stepMsg:
		return msg
	case tea.BatchMsg:
		for _, c := range msg {
			if c != nil {
				return stepMsgOf(t, c, limit)
			}
		}
	}
	t.Fatalf("message %T, want a stepMsg", msg)
	return stepMsg{}
}

// TestAttackRunToTheEnd: r runs Square (5000 queries) to the end in slices
// that each hand the view a new state (step k/N and ‖δ‖∞ moving while it
// runs, never a command that holds the view for the whole run), esc or r
// stops it where it stands, r runs on from there, and it ends done.
func TestAttackRunToTheEnd(t *testing.T) {
	m, a := attackShell(t, 200*time.Microsecond, 80, 24, "square")
	msg := stepMsgOf(t, press(m, "r"), 2*time.Second)
	_, next := m.Update(msg)
	k1, n := shownStep(t, m)
	if n != 5000 || k1 < 1 || k1 >= n {
		t.Fatalf("after the first slice: step %d/%d", k1, n)
	}
	v := view(m)
	for _, want := range []string{"running to the end", "‖δ‖∞ 0.100", "square black-box (no gradient)", "r/esc stop"} {
		if !strings.Contains(v, want) {
			t.Errorf("while running the view lacks %q:\n%s", want, v)
		}
	}
	msg = stepMsgOf(t, next, 2*time.Second)
	_, next = m.Update(msg)
	k2, _ := shownStep(t, m)
	if k2 <= k1 {
		t.Fatalf("the second slice did not advance: %d then %d", k1, k2)
	}
	// Stop while a slice runs: it comes back at once, with the state as it
	// stands, and nothing follows.
	done := make(chan tea.Msg, 1)
	go func() { done <- stepMsgOf(t, next, 2*time.Second) }()
	time.Sleep(5 * time.Millisecond)
	if cmd := press(m, "esc"); cmd != nil {
		if _, ok := cmd().(stepMsg); ok {
			t.Fatal("esc started a step")
		}
	}
	var stopped tea.Msg
	select {
	case stopped = <-done:
	case <-time.After(500 * time.Millisecond):
		t.Fatal("the slice under way did not stop")
	}
	if _, cmd := m.Update(stopped); cmd != nil {
		if _, ok := cmd().(stepMsg); ok {
			t.Fatal("a stopped run went on")
		}
	}
	k3, _ := shownStep(t, m)
	if a.running || k3 < k2 || k3 >= n || a.err != nil || strings.Contains(view(m), "running to the end") {
		t.Fatalf("after esc: running %v step %d (before %d) err %v\n%s", a.running, k3, k2, a.err, view(m))
	}
	// r runs on from there; r again stops it too.
	msg = stepMsgOf(t, press(m, "r"), 2*time.Second)
	if msg.state.Step <= k3 {
		t.Fatalf("ran on from step %d to %d", k3, msg.state.Step)
	}
	_, next = m.Update(msg)
	press(m, "r")
	if a.running {
		t.Fatal("r did not stop the run")
	}
	if _, cmd := m.Update(stepMsgOf(t, next, 2*time.Second)); cmd != nil {
		if _, ok := cmd().(stepMsg); ok {
			t.Fatal("a stopped run went on")
		}
	}
	// To the end.
	next = press(m, "r")
	for i := 0; next != nil; i++ {
		if i > 500 {
			t.Fatal("the run does not end")
		}
		_, next = m.Update(stepMsgOf(t, next, 2*time.Second))
	}
	if a.state == nil || !a.state.Done || a.running {
		t.Fatalf("after the run: %+v", a.state)
	}
	if v := view(m); !strings.Contains(v, "fooled") || !strings.Contains(v, "done · enter restarts") {
		t.Fatalf("the end of the run:\n%s", v)
	}
}

// TestAttackReportViewIsTheTable: v shows the model's newest report as
// the table every view prints (lab.AttackReport.Table, the layout of
// `bionas attack`), whole at 80×24, 100×30 and 120×40: the clean row,
// each attack × gradient mode with n and a number (Square's 0.0%, never a
// dash), black-box rows named so, One-Pixel's budget in pixels, the worst
// case, and the PGD budget warning.
func TestAttackReportViewIsTheTable(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m, a := attackShell(t, 0, sz[0], sz[1], "fgsm")
			drive(t, m, keys("v")...)
			snap, err := a.s.lab.Snapshot("r0004")
			if err != nil || snap.Attack == nil {
				t.Fatal(err)
			}
			v := view(m)
			checkSize(t, m.View(), sz[0], sz[1])
			tab := snap.Attack.Table(false)
			for _, l := range tab.Lines() {
				if !strings.Contains(v, l) {
					t.Errorf("the view lacks the table line %q:\n%s", l, v)
				}
			}
			for _, want := range []string{"square      black-box  ε 0.3    100   0.0%", "onepixel    black-box  1 pixel", "worst case  all rows",
				"clean                           100  97.0%", "¹ PGD: 10 steps × α 2/255 = 0.078 < ε 0.3", "² TPGD"} {
				if !strings.Contains(v, want) {
					t.Errorf("the view lacks %q:\n%s", want, v)
				}
			}
			if p := paneText(m); strings.Contains(p, "–") || strings.Contains(p, "own gradient") {
				t.Errorf("a dash or an own gradient in the report:\n%s", p)
			}
			drive(t, m, keys("v")...)
			if v := paneText(m); !strings.Contains(v, "report r0004 done") || !strings.Contains(v, "0.0% · v table") || strings.Contains(v, "Robustness report r0004") {
				t.Errorf("v back to the stepper:\n%s", view(m))
			}
		})
	}
}

// TestAttackStepperSaysWhatTheAttackIs: black-box attacks are called so
// (never "own gradient", and the mode field says black-box and does not
// change), One-Pixel shows the pixels it changed instead of an ‖δ‖∞
// against ε, and PGD at ε 0.3 with α 2/255 × 10 steps shows the budget
// warning, whole, at 80×24.
func TestAttackStepperSaysWhatTheAttackIs(t *testing.T) {
	m, a := attackShell(t, 0, 80, 24, "square")
	drive(t, m, keys("space")...)
	v := view(m)
	for _, want := range []string{"square black-box (no gradient), ε 0.10", "mode    black-box", "‖δ‖∞ 0.100"} {
		if !strings.Contains(v, want) {
			t.Errorf("square: the view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "own gradient") {
		t.Errorf("square shown with a gradient:\n%s", v)
	}
	drive(t, m, keys("down", "right")...) // the mode field
	if a.mode != "own" || !strings.Contains(a.s.msg, "black-box attack") {
		t.Errorf("the mode of a black-box attack changed to %q (%q)", a.mode, a.s.msg)
	}

	m, _ = attackShell(t, 0, 80, 24, "onepixel")
	drive(t, m, keys("space")...)
	v = view(m)
	for _, want := range []string{"1 of ≤ 1 px changed", "onepixel black-box (no gradient), ≤ 1 pixel", "δ (pixels set)"} {
		if !strings.Contains(v, want) {
			t.Errorf("onepixel: the view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "‖δ‖∞") || strings.Contains(v, "own gradient") || strings.Contains(v, "×1/ε") {
		t.Errorf("onepixel shown as an ε attack:\n%s", v)
	}

	m, _ = attackShell(t, 0, 80, 24, "pgd")
	drive(t, m, keys("down", "down", "right", "right", "right", "space")...) // ε 0.1 → 0.3
	v = view(m)
	for _, want := range []string{"pgd own gradient, ε 0.30", "⚠ PGD: 10 steps × α 2/255 = 0.078 < ε 0.3", "use ≥ 39 steps (pgd.steps)"} {
		if !strings.Contains(flat(paneText(m)), want) {
			t.Errorf("pgd at ε 0.3: the view lacks %q:\n%s", want, v)
		}
	}
}
