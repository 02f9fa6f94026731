// Package cuda is the CUDA backend of package nn: an nn.Backend that runs
// convolution and GEMM kernels on an NVIDIA GPU, plus the device versions of
// pooling, BatchNorm, ReLU, softmax cross-entropy and the feedback-rule B
// constructions, which the device check compares with the CPU ops.
//
// The backend exists only in binaries built with -tags cuda (see
// scripts/cuda/build.sh); without the tag, Open returns ErrNotBuilt and the
// build stays pure Go and CGO-free. The cuda build links only the driver
// library, libcuda.so.1, through gorgonia.org/cu: every kernel is our own
// (kernels.cu.h), compiled to PTX that is committed as kernels.ptx
// and embedded in the binary; `go generate ./nn/cuda` regenerates it.
//
// Tensors stay in host memory: each backend call copies its operands to the
// device and its results back. That is correct but pays PCIe transfers on
// every op; device-resident tensors are future work.
package cuda

import "errors"

//go:generate sh gen.sh

// ErrNotBuilt is returned by Open in a binary built without -tags cuda.
var ErrNotBuilt = errors.New("this bionas was built without CUDA; rebuild with -tags cuda (scripts/cuda/build.sh)")

// ErrNoDevice is returned by Open when the driver reports no usable GPU.
var ErrNoDevice = errors.New("no CUDA device")
