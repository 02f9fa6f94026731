"""PyTorch CPU reference for the engine's conv benchmarks (nn/conv_bench_test.go).

Times forward+backward (input and weight gradients) of the engine's conv shapes at batch 64, 16 channels, 32x32, like ../shared/bench/py/torch_conv.py,
plus the 512^3 GEMM. scripts/bench/compare_torch.py convs runs it alternated with the
Go benchmarks; by hand:

  OB=/usr/lib/x86_64-linux-gnu/openblas-openmp
  LD_LIBRARY_PATH=$OB OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 nn/testdata/torch_conv_ref.py --threads 2
  go test -run xxx -bench 'Conv|Sgemm512' -benchtime 20x ./nn/ ./nn/cpu/
"""
import argparse, statistics, time
import torch, torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=15)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
N, C, H = 64, 16, 32

cases = [
    ("dense3x3", nn.Conv2d(C, C, 3, padding=1, bias=False)),
    ("depthwise3x3", nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False)),
    ("depthwise3x3-dil2", nn.Conv2d(C, C, 3, padding=2, dilation=2, groups=C, bias=False)),
    ("depthwise5x5", nn.Conv2d(C, C, 5, padding=2, groups=C, bias=False)),
    ("depthwise5x5-dil2", nn.Conv2d(C, C, 5, padding=4, dilation=2, groups=C, bias=False)),
    ("pointwise1x1", nn.Conv2d(C, C, 1, bias=False)),
]
x = torch.randn(N, C, H, H, requires_grad=True)
print(f"# torch {torch.__version__} threads={torch.get_num_threads()}")
for name, m in cases:
    gy = torch.randn_like(m(x))
    ts = []
    for i in range(a.reps + 3):
        t0 = time.perf_counter()
        y = m(x)
        y.backward(gy)
        x.grad = None
        m.weight.grad = None
        if i >= 3:
            ts.append(time.perf_counter() - t0)
    print(f"{name:<20} median {statistics.median(ts)*1e3:8.3f} ms  min {min(ts)*1e3:8.3f} ms  max {max(ts)*1e3:8.3f} ms")
A = torch.randn(512, 512); B = torch.randn(512, 512)
ts = []
for i in range(a.reps + 3):
    t0 = time.perf_counter(); torch.mm(A, B)
    if i >= 3:
        ts.append(time.perf_counter() - t0)
med = statistics.median(ts)
print(f"{'sgemm512':<20} median {med*1e3:8.3f} ms  {2*512**3/med/1e9:7.1f} GFLOP/s")
