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
