//go:build cuda

package cuda

import (
	"errors"
	"testing"
)

// openOrSkip opens GPU 0, skipping the test when the driver sees no GPU.
// (A machine without a working driver never gets here: gorgonia.org/cu
// initialises the driver when the binary starts and exits if it cannot.)
func openOrSkip(t *testing.T) *Device {
	t.Helper()
	d, err := Open(0)
	if errors.Is(err, ErrNoDevice) {
		t.Skipf("no CUDA device: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestDeviceMatchesCPU runs every device op forward and backward, every
// rule, on seeded random inputs, and compares each with the CPU op.
func TestDeviceMatchesCPU(t *testing.T) {
	d := openOrSkip(t)
	t.Logf("device %s", d.Name())
	for _, seed := range []uint64{1, 2} {
		res, err := Check(d, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, r := range res {
			if !r.Pass {
				t.Errorf("seed %d: %s rule=%s %s: relative error %.3g > %.0e", seed, r.Op, r.Rule, r.Part, r.RelErr, Tolerance)
			}
		}
		t.Logf("seed %d: %d comparisons", seed, len(res))
	}
}

func TestRelErr(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want []float32
		relErr    float64
	}{
		{"equal", []float32{1, -2}, []float32{1, -2}, 0},
		{"zeros", []float32{0, 0}, []float32{0, 0}, 0},
		{"scaled by the largest value", []float32{1, 4.5}, []float32{1, 4}, 0.125},
		{"length mismatch", []float32{1}, []float32{1, 2}, 1e308},
	} {
		got := RelErr(tc.got, tc.want)
		if tc.relErr == 1e308 {
			if got < 1e308 {
				t.Errorf("%s: RelErr = %v, want +Inf", tc.name, got)
			}
			continue
		}
		if got != tc.relErr {
			t.Errorf("%s: RelErr = %v, want %v", tc.name, got, tc.relErr)
		}
	}
}

func BenchmarkConvShapes(b *testing.B) {
	d, err := Open(0)
	if err != nil {
		b.Skip(err)
	}
	defer d.Close()
	for range b.N {
		ts, err := BenchConvs(d, 10)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range ts {
			b.Logf("%-18s end-to-end %8.3f ms  kernels %8.3f ms  cpu %8.3f ms", t.Name, t.EndToEndMS, t.KernelMS, t.CPUMS)
		}
	}
}
