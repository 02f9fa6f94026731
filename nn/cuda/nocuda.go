//go:build !cuda

package cuda

import (
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// Built reports whether this binary carries the CUDA backend.
const Built = false

// Device stands in for the CUDA device in builds without -tags cuda, so
// that callers compile either way; Open never returns one.
type Device struct{}

// Open always fails with ErrNotBuilt in this build.
func Open(ordinal int) (*Device, error) {
	return nil, fmt.Errorf("open cuda:%d: %w", ordinal, ErrNotBuilt)
}

// Name describes the device.
func (d *Device) Name() string { return "cuda (not built)" }

// Close does nothing.
func (d *Device) Close() error { return nil }

// Resident is never reached without CUDA (Open fails first).
func (d *Device) Resident() nn.Device { return nil }

// ConvForward fails with ErrNotBuilt.
func (d *Device) ConvForward(nn.ConvShape, []float32, []float32, []float32) error {
	return ErrNotBuilt
}

// ConvBackward fails with ErrNotBuilt.
func (d *Device) ConvBackward(nn.ConvShape, []float32, []float32, []float32, []float32, []float32) error {
	return ErrNotBuilt
}

// Sgemm fails with ErrNotBuilt.
func (d *Device) Sgemm(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int) error {
	return ErrNotBuilt
}

var _ nn.Backend = (*Device)(nil)
