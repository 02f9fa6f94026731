package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
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
