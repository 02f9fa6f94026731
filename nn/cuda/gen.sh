#!/bin/sh
# gen.sh compiles kernels.cu.h to kernels.ptx (run by go generate). The kernel
# source ends in .h so that Go's build cache sees it change: the CPU emulator
# (-tags cuda,cudaemu, emu.cc) compiles the same file with cgo.
# It prefers nvcc when on PATH, else clang's CUDA front end, which needs no
# CUDA install (-nocudainc -nocudalib; see compat.h). PTX for
# sm_70 is JIT-compiled by the driver for any newer GPU (V100 … H100/H200).
set -eu
cd "$(dirname "$0")"
arch="${BIONAS_CUDA_ARCH:-sm_70}"
if command -v nvcc >/dev/null 2>&1; then
  nvcc -x cu -ptx -arch="compute_${arch#sm_}" -O3 -o kernels.ptx kernels.cu.h
else
  clang="${CLANG:-$(command -v clang-14 || command -v clang)}"
  "$clang" -x cuda --cuda-device-only --cuda-gpu-arch="$arch" -nocudainc -nocudalib \
    -O3 -S -o kernels.ptx kernels.cu.h
fi
# The first line records the source's hash; ptx_test.go fails when the
# source changed and the PTX was not regenerated.
sum=$(cat compat.h kernels.cu.h | sha256sum | cut -d' ' -f1)
{ echo "// bionas kernels.cu.h+compat.h sha256 $sum"; cat kernels.ptx; } >kernels.ptx.tmp
mv kernels.ptx.tmp kernels.ptx
echo "gen.sh: wrote kernels.ptx ($(wc -c <kernels.ptx) bytes)"
