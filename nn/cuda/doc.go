// Package cuda is the CUDA device of package nn: Device.Resident() is an
// nn.Device whose tensors live in GPU memory for whole training steps,
// every op a launch of our own kernels (convolutions and GEMMs, pooling,
// BatchNorm, ReLU, softmax cross-entropy, the α-weighted mixed-op sum,
// SGD and Adam, the feedback-rule B constructions). The device check
// compares each with the CPU ops of package nn.
//
// The backend exists only in binaries built with -tags cuda (see
// scripts/cuda/build.sh); without the tag, Open returns ErrNotBuilt and the
// build stays pure Go and CGO-free. The cuda build links only the driver
// library, libcuda.so.1, through gorgonia.org/cu: every kernel is our own
// (kernels.cu.h), compiled to PTX that is committed as kernels.ptx
// and embedded in the binary; `go generate ./nn/cuda` regenerates it.
//
// Device's own host-slice methods (ConvForward, ConvBackward, Sgemm and
// the ops of ops.go) stage their operands to the device and back on each
// call: they are the device check's kernel-by-kernel entry points, not a
// way to train. Training, evaluation and attacks use Resident.
package cuda

import "errors"

//go:generate sh gen.sh

// ErrNotBuilt is returned by Open in a binary built without -tags cuda.
var ErrNotBuilt = errors.New("this bionas was built without CUDA; rebuild with -tags cuda (scripts/cuda/build.sh)")

// ErrNoDevice is returned by Open when the driver reports no usable GPU.
var ErrNoDevice = errors.New("no CUDA device")
