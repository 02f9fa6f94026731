#!/usr/bin/env python3
"""Ours against PyTorch on this machine's CPU, alternated in one run.

Each round runs our benchmark, then PyTorch's, so that both see the same
machine state (the dev VMs drift 10-20 % run to run, and far more while
anything else computes: run nothing else meanwhile). Prints markdown tables
with medians, ranges and ratios (ours / PyTorch: below 1 is faster).

  scripts/bench/compare_torch.py supernet [--rounds 3]   the 32-pair supernet step
  scripts/bench/compare_torch.py convs    [--rounds 3]   conv forward+backward, batch 64, C=16, 32x32
  scripts/bench/compare_torch.py gemm     [--rounds 3]   SGEMM 512^3 on both cores
  scripts/bench/compare_torch.py scaling                 the step at C x cells x batch

PyTorch: /usr/bin/python3 with torch (Debian python3-torch) and OpenBLAS
(libopenblas0-openmp), 2 threads; the supernet reference is
../shared/bench/py/torch_darts.py (--torch-bench to point elsewhere).
Ours: bionas built from this tree (go build) unless --bionas names a binary.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def torch_env(threads):
    env = dict(os.environ)
    env.update(LD_LIBRARY_PATH=OPENBLAS, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return env


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare_torch: {' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def med(v):
    return statistics.median(v) if v else float("nan")


def rng(v):
    return f"{min(v):.0f}–{max(v):.0f}" if v else "–"


def build(args):
    if args.bionas:
        return args.bionas
    out = os.path.join(tempfile.mkdtemp(prefix="bionas-bench-"), "bionas")
    run(["go", "build", "-o", out, "./cmd/bionas"], cwd=ROOT)
    return out


def ours_step(bionas, c, cells, batch, steps):
    out = run([bionas, "bench", "supernet", "--json", "--steps", str(steps), "--c", str(c),
               "--cells", str(cells), "--batch", str(batch)])
    return json.loads(out.strip().splitlines()[-1])


def torch_step(args, c, cells, batch, reps, warmup):
    out = run(["/usr/bin/python3", "torch_darts.py", "--threads", "2", "--rules", "4", "--C", str(c),
               "--layers", str(cells), "--batch", str(batch), "--reps", str(reps), "--warmup", str(warmup)],
              env=torch_env(2), cwd=args.torch_bench)
    line = [l for l in out.splitlines() if l.startswith("RESULT")][-1]
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    return {"med": float(kv["step_ms_med"]), "min": float(kv["min"]), "max": float(kv["max"]),
            "gib": float(kv["peak_rss_GiB"])}


def supernet(args):
    bionas = build(args)
    ours, torch, ogib, tgib = [], [], [], []
    for r in range(args.rounds):
        o = ours_step(bionas, 16, 5, 64, args.steps)
        ours += o["ms_all"]
        ogib.append(o["peak_rss_gib"])
        t = torch_step(args, 16, 5, 64, args.reps, 1)
        torch.append(t["med"])
        tgib.append(t["gib"])
        print(f"round {r+1}: ours {o['ms_per_step']:.0f} ms ({o['peak_rss_gib']:.2f} GiB), "
              f"PyTorch {t['med']:.0f} ms (its range {t['min']:.0f}–{t['max']:.0f}, {t['gib']:.1f} GiB)", flush=True)
    print("\n| supernet step, C=16, 5 cells, batch 64, 32 pairs | median ms | range ms | peak GiB |")
    print("|---|---|---|---|")
    print(f"| ours (bionas bench supernet, {len(ours)} steps) | {med(ours):.0f} | {rng(ours)} | {max(ogib):.2f} |")
    print(f"| PyTorch (torch_darts.py --rules 4, {len(torch)} run medians) | {med(torch):.0f} | {rng(torch)} | {max(tgib):.1f} |")
    print(f"\nratio of medians: {med(ours)/med(torch):.3f}× (per round: "
          + ", ".join(f"{a:.2f}" for a in [med(ours[i*args.steps:(i+1)*args.steps]) / torch[i] for i in range(len(torch))]) + ")")


CONVS = [("Dense3x3", "dense3x3"), ("Pointwise", "pointwise1x1"), ("Depthwise3x3", "depthwise3x3"),
         ("Depthwise3x3Dil2", "depthwise3x3-dil2"), ("Depthwise5x5", "depthwise5x5"), ("Depthwise5x5Dil2", "depthwise5x5-dil2")]


def convs(args):
    ours = {g: [] for g, _ in CONVS}
    torch = {t: [] for _, t in CONVS}
    pat = "^BenchmarkConv(" + "|".join(g for g, _ in CONVS) + ")$"
    for r in range(args.rounds):
        out = run(["go", "test", "-run", "^$", "-bench", pat, "-benchtime", "20x", "-count", "3", "./nn/"], cwd=ROOT)
        for m in re.finditer(r"BenchmarkConv(\w+?)-\d+\s+\d+\s+([\d.]+) ns/op", out):
            ours[m.group(1)].append(float(m.group(2)) / 1e6)
        out = run(["/usr/bin/python3", "nn/testdata/torch_conv_ref.py", "--threads", "2"], env=torch_env(2), cwd=ROOT)
        for m in re.finditer(r"^(\S+)\s+median\s+([\d.]+) ms", out, re.M):
            if m.group(1) in torch:
                torch[m.group(1)].append(float(m.group(2)))
        print(f"round {r+1} done", flush=True)
    print("\n| conv f+b, batch 64, C=16, 32×32 | ours median ms | ours range | PyTorch median ms | PyTorch range | ratio |")
    print("|---|---|---|---|---|---|")
    for g, t in CONVS:
        o, p = ours[g], torch[t]
        print(f"| {t} | {med(o):.2f} | {min(o):.2f}–{max(o):.2f} | {med(p):.2f} | {min(p):.2f}–{max(p):.2f} | {med(o)/med(p):.2f}× |")


def gemm(args):
    ours, torch = [], []
    for r in range(args.rounds):
        out = run(["go", "test", "-run", "^$", "-bench", "^BenchmarkSgemm512$/parallel", "-count", "3", "./nn/cpu/"], cwd=ROOT)
        ours += [float(x) for x in re.findall(r"([\d.]+) GFLOP/s", out)]
        out = run(["/usr/bin/python3", "torch_gemm.py", "--threads", "2", "--sizes", "512"], env=torch_env(2), cwd=args.torch_bench)
        torch += [float(l.split()[1]) for l in out.splitlines() if l.strip().startswith("512")]
    print("\n| SGEMM 512³, 2 cores | median GFLOP/s | range |")
    print("|---|---|---|")
    print(f"| ours (go test -bench Sgemm512/parallel) | {med(ours):.1f} | {min(ours):.1f}–{max(ours):.1f} |")
    print(f"| PyTorch torch.mm + OpenBLAS 0.3.21 | {med(torch):.1f} | {min(torch):.1f}–{max(torch):.1f} |")


def mem_available_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1 << 20)
    return 0.0


def scaling(args):
    bionas = build(args)
    # PyTorch keeps every pair's activations: its peak grows with batch·C·cells
    # from 17.7 GiB at (64, 16, 5). Runs that would not fit this machine are
    # skipped, not attempted (the kernel would kill them, or the machine).
    base = args.torch_base_gib
    avail = mem_available_gib()
    rows = []
    for c in (16, 36):
        for cells in (5, 8):
            for batch in (32, 64, 128):
                o = ours_step(bionas, c, cells, batch, args.steps)
                need = base * (batch / 64) * (c / 16) * (cells / 5)
                if need <= 0.85 * avail:
                    t = torch_step(args, c, cells, batch, args.steps, 1)
                    tcell, tgib = f"{t['med']:.0f}", f"{t['gib']:.1f}"
                    ratio = f"{o['ms_per_step']/t['med']:.2f}×"
                else:
                    tcell, tgib, ratio = f"not run: needs ≈{need:.0f} GiB, over 85 % of the {avail:.0f} GiB available", "–", "–"
                rows.append(f"| {c} | {cells} | {batch} | {o['ms_per_step']:.0f} | {o['peak_rss_gib']:.2f} | {tcell} | {tgib} | {ratio} |")
                print(rows[-1], flush=True)
    print("\n| C | cells | batch | ours ms/step | ours GiB | PyTorch ms/step | PyTorch GiB | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["supernet", "convs", "gemm", "scaling"])
    ap.add_argument("--rounds", type=int, default=3, help="alternations of ours and PyTorch")
    ap.add_argument("--steps", type=int, default=3, help="timed supernet steps per run of ours (scaling: 1)")
    ap.add_argument("--reps", type=int, default=3, help="timed PyTorch supernet steps per run")
    ap.add_argument("--bionas", help="a built bionas binary (default: go build this tree)")
    ap.add_argument("--torch-bench", default=os.path.join(ROOT, "..", "shared", "bench", "py"),
                    help="folder of torch_darts.py and torch_gemm.py")
    ap.add_argument("--torch-base-gib", type=float, default=17.7, help="PyTorch's peak at C=16, 5 cells, batch 64")
    args = ap.parse_args()
    if args.what == "scaling" and "--steps" not in sys.argv:
        args.steps = 1
    if args.what in ("supernet", "gemm", "scaling") and not os.path.exists(os.path.join(args.torch_bench, "torch_darts.py")):
        sys.exit(f"compare_torch: --torch-bench {args.torch_bench}: no torch_darts.py there")
    t0 = time.time()
    {"supernet": supernet, "convs": convs, "gemm": gemm, "scaling": scaling}[args.what](args)
    print(f"\n({time.time()-t0:.0f} s; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")


if __name__ == "__main__":
    main()
