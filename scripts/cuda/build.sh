#!/usr/bin/env bash
# Builds the CUDA flavour of bionas on any Linux amd64 machine, GPU or not:
# fetches the CUDA headers and libcuda (scripts/cuda/prepare.sh), then builds
#   $OUT/bionas          the CLI with the cuda backend (-tags cuda)
#   $OUT/nn-cuda.test    the nn/cuda device tests (GPU vs CPU, every op and rule)
# and checks that the only CUDA library the binary needs is libcuda.so.1 (the
# driver), so it runs on a GPU machine whatever CUDA toolkit it carries.
# OUT defaults to .cuda/bin (ignored by git; carry it to the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-.cuda/bin}"
eval "$(scripts/cuda/prepare.sh)"
mkdir -p "$out"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
echo "build.sh: go vet -tags cuda" >&2
go vet -tags cuda ./nn/... ./cmd/bionas
echo "build.sh: go build -tags cuda -o $out/bionas" >&2
go build -tags cuda -o "$out/bionas" ./cmd/bionas
echo "build.sh: go test -tags cuda -c -o $out/nn-cuda.test" >&2
go test -tags cuda -c -o "$out/nn-cuda.test" ./nn/cuda
for bin in "$out/bionas" "$out/nn-cuda.test"; do
  needed=$(readelf -d "$bin" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
  echo "build.sh: $bin needs: $needed" >&2
  for lib in $needed; do
    case "$lib" in
      libcuda.so.1|libc.so.6|libpthread.so.0|libdl.so.2|libm.so.6|libresolv.so.2|ld-linux-x86-64.so.2) ;;
      *) echo "build.sh: $bin links $lib; only libcuda.so.1 and libc are allowed" >&2; exit 1 ;;
    esac
  done
  case " $needed " in *" libcuda.so.1 "*) ;; *) echo "build.sh: $bin does not link libcuda.so.1" >&2; exit 1 ;; esac
done
echo "build.sh: ok: $out/bionas $out/nn-cuda.test" >&2
