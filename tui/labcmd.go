package tui

import (
	"errors"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
)

// Lab calls that start, resume, stop or retrain a run write run folders
// (mkdir, fsync, rename): they run as commands, off the update loop, and
// their outcome comes back as a message that the shell applies. A pane
// asks for focus the same way, with a message.

// focusMsg asks the shell to focus pane (a pane index).
type focusMsg struct{ pane int }

// focusCmd is the command that sends focusMsg{pane}.
func focusCmd(pane int) tea.Cmd { return func() tea.Msg { return focusMsg{pane} } }

// labRunMsg is the outcome of a lab call about one run.
type labRunMsg struct {
	info lab.RunInfo
	err  error
	// what names the call for an unavailable backend ("robustness report").
	what string
	// say is the status line on success; sel selects the run, open also
	// shows its charts; onOK is the calling pane's own follow-up (it runs
	// on the update loop).
	say       func(lab.RunInfo) string
	sel, open bool
	onOK      func()
}

// labRun runs call as a command and reports it as a labRunMsg.
func labRun(call func() (lab.RunInfo, error), m labRunMsg) tea.Cmd {
	return func() tea.Msg {
		m.info, m.err = call()
		return m
	}
}

// labDoneMsg is the outcome of a lab call that returns no run (Stop).
type labDoneMsg struct {
	err error
	say string
}

// applyLabRun is the shell's handling of a lab call's outcome.
func (m *Shell) applyLabRun(msg labRunMsg) {
	if msg.err != nil {
		err := msg.err
		if errors.Is(err, lab.ErrUnavailable) {
			err = fmt.Errorf("%s: %w (backend %q)", msg.what, err, m.s.lab.BackendName())
		}
		m.s.fail(err)
		return
	}
	m.s.upsertRun(msg.info)
	if msg.sel || msg.open {
		m.s.load(msg.info.ID)
	}
	if msg.open {
		m.setFocus(paneCharts)
	}
	if msg.onOK != nil {
		msg.onOK()
	}
	if msg.say != nil {
		m.s.say(msg.say(msg.info))
	}
}

// startedSay is the status line for a run just started: "started" only of
// a run that did; a run that waits says so, in which lane and behind how
// many.
func startedSay(l *lab.Lab, info lab.RunInfo, what string) string {
	if info.Status == lab.StatusQueued {
		lane := "the queue"
		if info.Lane == lab.LaneLight {
			lane = "the light lane"
		}
		return fmt.Sprintf("queued %s: %s (%d ahead in %s)", info.ID, what, l.Ahead(info.ID), lane)
	}
	return fmt.Sprintf("started %s: %s", info.ID, what)
}
