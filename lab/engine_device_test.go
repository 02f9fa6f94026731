package lab

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/nn"
)

// namedDevice is a device that only has a name: enough for the engine's
// panic guard, which never calls it.
type namedDevice struct {
	nn.Device
	name string
}

func (d namedDevice) Name() string { return d.name }

// An op without kernels for the engine's device panics (a layer cannot
// return an error); the engine's guard turns that into the run's error with
// the op's own message, and any other panic into a "job panicked" error
// with its stack. The process survives either way.
func TestEngineGuardDevicePanics(t *testing.T) {
	dev := namedDevice{name: "fake:0 (test)"}
	e := &engine{opts: EngineOptions{Device: dev}, device: deviceName(dev, "")}
	if e.device != "fake:0" {
		t.Fatalf("short name %q, want fake:0", e.device)
	}
	noKernels := "nn.HebbConv2d cells.0.edge1 (rule hebb) has no kernels for fake:0 (test); run this model on the cpu (--device cpu)"
	devErr := errors.New("conv forward on fake:0 (test): out of memory")
	for _, tc := range []struct {
		name  string
		panic any
		want  string
		stack bool
	}{
		{"no kernels", noKernels, noKernels, false},
		{"device error", devErr, devErr.Error(), false},
		{"bug", "index out of range [3] with length 3", "job panicked: index out of range", true},
	} {
		l, err := Open(Options{Dir: t.TempDir(), Backend: Backend{Device: e.device, Jobs: map[Kind]JobFunc{
			KindSearch: e.guard(func(context.Context, *Job) error { panic(tc.panic) })}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.Start(Spec{Kind: KindSearch})
		if err != nil {
			t.Fatal(err)
		}
		r, _ = l.WaitRun(context.Background(), r.ID)
		snap, _ := l.Snapshot(r.ID)
		l.Close()
		if r.Status != StatusFailed || r.Spec.Device != "fake:0" {
			t.Errorf("%s: run %s on %q, want failed on fake:0", tc.name, r.Status, r.Spec.Device)
		}
		if !strings.Contains(strings.Join(snap.Log, "\n"), "computing on fake:0 (test)") {
			t.Errorf("%s: the log does not say where the run computes: %q", tc.name, snap.Log)
		}
		err = nil
		if r.Error != "" {
			err = errors.New(r.Error)
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one starting %q", tc.name, err, tc.want)
			continue
		}
		if got := strings.Contains(err.Error(), "goroutine"); got != tc.stack {
			t.Errorf("%s: a stack in the error: %v, want %v", tc.name, got, tc.stack)
		}
	}
}

// panicAttack is an attack whose step panics as an op without kernels for
// the device does.
type panicAttack struct {
	attacks.Attack
	msg string
}

func (a panicAttack) Step(context.Context) (bool, error) { panic(a.msg) }

// The attack stepper runs on a viewer's goroutine: a device panic in a step
// must come back as the step's error, with the state as it was.
func TestEngineStepperDevicePanic(t *testing.T) {
	dev := namedDevice{name: "fake:0 (test)"}
	e := &engine{opts: EngineOptions{Device: dev}, device: "fake:0"}
	msg := "nn.PCConv2d stem (rule pc) has no kernels for fake:0 (test); run this model on the cpu (--device cpu)"
	s := &engineStepper{e: e, atk: panicAttack{msg: msg}, st: AttackState{Step: 0, Label: 3, Probs: []float64{1}}}
	st, err := s.Step(context.Background())
	if err == nil || err.Error() != msg {
		t.Fatalf("step error %v, want %q", err, msg)
	}
	if st.Label != 3 || len(st.Probs) != 1 {
		t.Fatalf("state after the failed step: %+v", st)
	}
}
