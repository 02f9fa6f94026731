//go:build !cuda

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/bionaslab/bionas/nn/cuda"
)

// deviceCheck needs the CUDA backend; runDevice never gets here in this
// build (opening the device fails first), but says so if it does.
func deviceCheck(context.Context, *cuda.Device, deviceRunOptions, io.Writer, io.Writer) error {
	return fmt.Errorf("device check: %w", cuda.ErrNotBuilt)
}

// deviceBench needs the CUDA backend (see deviceCheck).
func deviceBench(context.Context, *cuda.Device, deviceRunOptions, io.Writer, io.Writer) error {
	return fmt.Errorf("device bench: %w", cuda.ErrNotBuilt)
}
