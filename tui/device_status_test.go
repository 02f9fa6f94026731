package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// The status bar names the device the lab was started on (bionas --device)
// and stays as it was when no device is given.
func TestStatusBarShowsDevice(t *testing.T) {
	for _, tc := range []struct {
		device, want string
	}{
		{"", " 1 viewer"},
		{"cpu", "cpu · 1 viewer"},
		{"cuda:1", "cuda:1 · 1 viewer"},
	} {
		l := fixtureLab(t)
		m := New(l, Options{Now: fixedNow, Device: tc.device})
		lines := strings.Split(ansi.Strip(m.View()), "\n")
		status := strings.TrimRight(lines[len(lines)-2], " ")
		if !strings.HasSuffix(status, tc.want) {
			t.Errorf("device %q: status bar %q does not end in %q", tc.device, status, tc.want)
		}
		if tc.device == "" && strings.Contains(status, "·") {
			t.Errorf("no device: status bar %q names one", status)
		}
		m.Close()
	}
}

// The status bar shows where the lab's work runs: the lab's own device (the
// engine's, from bionas --device) wins over Options.Device, and the runs
// pane's details say where the selected run computed.
func TestStatusBarShowsLabDevice(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1}
	b := f.Backend()
	b.Device = "cuda:0"
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: b, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitRun(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	m := New(l, Options{Now: fixedNow, Device: "cpu", Width: 120, Height: 40})
	defer m.Close()
	view := ansi.Strip(m.View())
	lines := strings.Split(view, "\n")
	status := strings.TrimRight(lines[len(lines)-2], " ")
	if !strings.HasSuffix(status, "cuda:0 · 1 viewer") {
		t.Errorf("status bar %q does not end in the lab's device", status)
	}
	if !strings.Contains(view, "on cuda:0") {
		t.Errorf("the run's details do not name its device:\n%s", view)
	}
}
