#!/usr/bin/env bash
# The GPU acceptance check of the CUDA backend, in one command (< 8 minutes):
#   1. every op forward and backward and every rule, GPU vs CPU, relative error ≤ 1e-4
#      (the nn/cuda test binary, and `bionas device check`, which adds:)
#   2. a supernet training step on GPU and CPU compared, and a full-size one on the GPU
#      (the test binary also runs whole searches, training steps and PGD resident on the GPU)
#   3. benchmarks of the engine's conv shapes, a GEMM, the supernet step over 32 pairs and
#      over 8 ops (time and peak memory, mixed ops recomputed) and the DARTS CIFAR-10
#      retraining step (C=36, 20 cells, batch 96), all device-resident, against PyTorch
#      CUDA on the same card, printed as ratios with the issue's targets.
# Run from the repository root on the GPU machine, with the binaries that
# scripts/cuda/build.sh made (Go is not needed there; python3 with torch is):
#   scripts/cuda/device-check.sh [BIN_DIR]     # default .cuda/bin
# Each part has its own time limit; the outputs stay in $OUT (default
# /tmp/bionas-device-check) and the exit code is 0 only if every check passed.
# CHECK_ARGS and BENCH_ARGS add flags to `bionas device check` and `bench`
# (e.g. CHECK_ARGS="--batch 32" if the full-size step runs out of time).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-.cuda/bin}"
out="${OUT:-/tmp/bionas-device-check}"
mkdir -p "$out"
rm -f "$out"/*.jsonl "$out"/*.txt "$out"/*.rc "$out"/*.err
for f in bionas nn-cuda.test; do
  [ -x "$bin/$f" ] || { echo "device-check: no $bin/$f; build it with scripts/cuda/build.sh and carry $bin" >&2; exit 2; }
done
nvidia-smi -L 2>/dev/null || echo "device-check: nvidia-smi not found (continuing)"
start=$(date +%s)
part() { # name limit command...: runs with a time limit, records the exit code
  local name=$1 limit=$2; shift 2
  echo "device-check: $name (limit ${limit}s)…" >&2
  timeout --kill-after=5 "$limit" "$@"
  echo $? >"$out/$name.rc"
}
part test 60 "$bin/nn-cuda.test" -test.run 'TestDeviceMatchesCPU|TestRelErr|TestResident' -test.v >"$out/test.txt" 2>&1
tail -3 "$out/test.txt" >&2
part check 120 "$bin/bionas" device check --json ${CHECK_ARGS:-} >"$out/check.jsonl" 2>"$out/check.err"
part bench 170 "$bin/bionas" device bench --json --steps 2 ${BENCH_ARGS:-} >"$out/bench.jsonl" 2>"$out/bench.err"
part torch 120 python3 scripts/cuda/torch_cuda_ref.py --reps 20 --steps 3 >"$out/torch.txt" 2>"$out/torch.err"
echo "device-check: parts done in $(( $(date +%s) - start )) s; outputs in $out" >&2
python3 scripts/cuda/device_report.py "$out"
