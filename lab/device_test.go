package lab_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// onDevice is a fake backend that says its work runs on dev.
func onDevice(f *labtest.Fake, dev string) func(*lab.Options) {
	return func(o *lab.Options) {
		o.Backend = f.Backend()
		o.Backend.Device = dev
	}
}

// The spec's device survives run.json's round trip, and a run.json from
// before the lab recorded devices (no "device") loads as it always did.
func TestSpecDeviceJSON(t *testing.T) {
	for _, dev := range []string{"", "cpu", "cuda:0", "cuda:7"} {
		in := lab.RunInfo{ID: "r0001", Kind: lab.KindTrain, Status: lab.StatusDone, Spec: lab.Spec{Kind: lab.KindTrain, Epochs: 2, Device: dev}}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"device"`); got != (dev != "") {
			t.Errorf("device %q: run.json %s (a device key: %v)", dev, b, got)
		}
		var out lab.RunInfo
		if err := json.Unmarshal(b, &out); err != nil || out.Spec.Device != dev || out.Spec.Validate() != nil {
			t.Errorf("device %q: round trip gave %q, %v, %v", dev, out.Spec.Device, err, out.Spec.Validate())
		}
	}

	dir := t.TempDir()
	rd := filepath.Join(dir, "runs", "r0001")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		t.Fatal(err)
	}
	old := `{"id":"r0001","kind":"search","spec":{"kind":"search","epochs":1},"status":"interrupted","created":"2025-01-01T00:00:00Z","last":{}}`
	if err := os.WriteFile(filepath.Join(rd, lab.FileRun), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &labtest.Fake{StepsPerEpoch: 1, Epochs: 1}
	l := openLab(t, dir, f, onDevice(f, "cuda:0"))
	r, ok := l.Run("r0001")
	if !ok || r.Status != lab.StatusInterrupted || r.Error != "" || r.Spec.Device != "" {
		t.Fatalf("old run.json: %+v", r)
	}
	// Resumed, it computes on the lab's device and says so in run.json; an
	// old run never said where it ran before, so the log has nothing to add.
	if _, err := l.Resume("r0001"); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, l, "r0001"); got.Status != lab.StatusDone || got.Spec.Device != "cuda:0" {
		t.Fatalf("resumed old run: %s on %q", got.Status, got.Spec.Device)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(rd, lab.FileRun))
	if !strings.Contains(string(b), `"device": "cuda:0"`) {
		t.Fatalf("run.json after the resume does not record the device:\n%s", b)
	}
}

// A run records the lab's device when it starts, and again when it resumes
// on another one (the log keeps the change). A spec that asks for a device
// the lab does not compute on is refused.
func TestRunRecordsDevice(t *testing.T) {
	dir := t.TempDir()
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1}
	l := openLab(t, dir, f, onDevice(f, "cuda:1"))
	if l.Device() != "cuda:1" {
		t.Fatalf("Device() = %q", l.Device())
	}
	r, err := l.Start(lab.Spec{Kind: lab.KindSearch})
	if err != nil || r.Spec.Device != "cuda:1" {
		t.Fatalf("start: %q, %v", r.Spec.Device, err)
	}
	done := wait(t, l, r.ID)
	if done.Status != lab.StatusDone || done.Spec.Device != "cuda:1" {
		t.Fatalf("done: %s on %q", done.Status, done.Spec.Device)
	}
	if _, err := l.Start(lab.Spec{Kind: lab.KindSearch, Device: "cuda:1"}); err != nil {
		t.Fatalf("a spec naming the lab's own device: %v", err)
	}
	if _, err := l.Start(lab.Spec{Kind: lab.KindSearch, Device: "cpu"}); err == nil ||
		!strings.Contains(err.Error(), "spec.device is cpu, but this lab computes on cuda:1") {
		t.Fatalf("a spec asking for another device: %v", err)
	}
	// A run that failed on cuda:1, resumed by a lab opened on the CPU.
	dir = t.TempDir()
	lf := openLab(t, dir, f, onDevice(&labtest.Fake{StepsPerEpoch: 2, Epochs: 1, Fail: 1}, "cuda:1"))
	bad, _ := lf.Start(lab.Spec{Kind: lab.KindSearch})
	wait(t, lf, bad.ID)
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLab(t, dir, f, onDevice(f, "cpu"))
	got, _ := l2.Run(bad.ID)
	if got.Spec.Device != "cuda:1" || got.Status != lab.StatusFailed {
		t.Fatalf("reopened: %s on %q", got.Status, got.Spec.Device)
	}
	res, err := l2.Resume(bad.ID)
	if err != nil || res.Spec.Device != "cpu" {
		t.Fatalf("resume: %q, %v", res.Spec.Device, err)
	}
	if got := wait(t, l2, bad.ID); got.Status != lab.StatusDone || got.Spec.Device != "cpu" {
		t.Fatalf("resumed: %s on %q", got.Status, got.Spec.Device)
	}
	s, _ := l2.Snapshot(bad.ID)
	if !strings.Contains(strings.Join(s.Log, "\n"), "resumed on cpu (it computed on cuda:1 before)") {
		t.Fatalf("log of the resume: %q", s.Log)
	}

	// A backend that names no device (the fake's default) leaves specs as
	// they are.
	l3 := openLab(t, t.TempDir(), &labtest.Fake{StepsPerEpoch: 1, Epochs: 1})
	if r, err := l3.Start(lab.Spec{Kind: lab.KindSearch}); err != nil || r.Spec.Device != "" || l3.Device() != "" {
		t.Fatalf("no device: %q, %v", r.Spec.Device, err)
	}
}

func TestSpecDeviceValidate(t *testing.T) {
	for _, tc := range []struct {
		dev string
		ok  bool
	}{
		{"", true}, {"cpu", true}, {"cuda:0", true},
		{"cuda:0\x1b[2J", false}, {"\xff", false}, {strings.Repeat("x", lab.MaxSpecDevice+1), false},
	} {
		err := lab.Spec{Kind: lab.KindSearch, Device: tc.dev}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("device %q: Validate = %v", tc.dev, err)
		}
		if err != nil && !strings.Contains(err.Error(), "spec.device") {
			t.Errorf("device %q: error %v does not name the field", tc.dev, err)
		}
	}
}

// The engine names where it computes: the CPU without a device.
func TestEngineDeviceName(t *testing.T) {
	if got := lab.Engine(lab.EngineOptions{}).Device; got != "cpu" {
		t.Errorf("engine without a device computes on %q, want cpu", got)
	}
	if got := lab.Engine(lab.EngineOptions{DeviceName: "cuda:3"}).Device; got != "cuda:3" {
		t.Errorf("named device: %q", got)
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Device() != "cpu" {
		t.Errorf("lab on the engine: Device() = %q", l.Device())
	}
}
