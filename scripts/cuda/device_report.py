"""Prints the table of scripts/cuda/device-check.sh from the files it wrote.

  python3 scripts/cuda/device_report.py DIR
DIR holds check.jsonl (bionas device check --json), bench.jsonl (bionas device
bench --json), torch.txt (torch_cuda_ref.py) and *.rc (exit codes). Missing or
partial files are reported as such: a part that timed out says so.
"""
import json, os, re, sys

d = sys.argv[1]


def lines(name):
    try:
        with open(os.path.join(d, name)) as f:
            return f.read().splitlines()
    except OSError:
        return []


def rc(name):
    v = lines(name + ".rc")
    return v[0].strip() if v else "missing"


def jsonl(name):
    out = []
    for ln in lines(name):
        try:
            out.append(json.loads(ln))
        except ValueError:
            pass
    return out


print("== 1. ops and rules, GPU vs CPU (relative error max|gpu-cpu|/max|cpu|, float32, limit 1e-4)")
check = jsonl("check.jsonl")
ops = [r for r in check if r.get("kind") == "op"]
fails = [r for r in ops if not r["pass"]]
worst = {}
for r in ops:
    key = (r["op"], r.get("rule", ""))  # one row per op and rule: its worst tensor
    if r["rel_err"] > worst.get(key, (-1, None))[0]:
        worst[key] = (r["rel_err"], r)
print(f"{'op':<40} {'rule':<5} {'worst part':<10} {'max rel err':>11}  result")
for (k, rule), (e, r) in sorted(worst.items()):
    print(f"{k:<40} {rule:<5} {r['part']:<10} {e:>11.2e}  {'PASS' if e <= 1e-4 else 'FAIL'}")
print(f"{len(ops)} comparisons, {len(fails)} failed; test binary nn-cuda.test exit {rc('test')}; device check exit {rc('check')}")
for r in fails:
    print(f"  FAIL {r['op']} rule={r.get('rule','')} {r['part']}: {r['rel_err']:.3g}")

print("\n== 2. supernet training step (bio space, 32 pairs, C=16, 5 cells, 3x32x32)")
summ = [r for r in check if r.get("kind") == "summary"]
if summ:
    s = summ[-1]
    print(f"GPU vs CPU at batch 8: loss rel err {s['supernet_loss_rel_err']:.2e}, max grad rel err {s['supernet_grad_rel_err']:.2e}: "
          f"{'PASS' if s['supernet_step_pass'] else 'FAIL'}")
    print(f"full step on the GPU at batch {s['full_step_batch']}: loss {s['full_step_loss']:.4f}, {s['full_step_ms']:.0f} ms")
else:
    print("no summary: the device check did not finish (see check.err)")

print("\n== 3. benchmarks vs PyTorch CUDA on the same card (ratio = ours / PyTorch; < 1 is faster or smaller)")
torch = {}
for ln in lines("torch.txt"):
    if ln.startswith("#"):
        print(ln)
    if ln.startswith("RESULT "):
        f = ln.split()
        kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
        if f[1] == "conv":
            torch[("conv", f[2])] = kv
        elif f[1] == "sgemm":
            torch[("sgemm",)] = kv
        else:
            torch[(f[1], kv.get("space", ""))] = kv
bench = jsonl("bench.jsonl")
print(f"{'conv fwd+bwd, batch 64':<24} {'ours e2e ms':>11} {'ours kern ms':>12} {'torch ms':>9} {'e2e ratio':>9} {'kern ratio':>10} {'our cpu ms':>10}")
for b in (r for r in bench if r.get("kind") == "conv"):
    t = float(torch.get(("conv", b["name"]), {}).get("ms", 0)) or None
    e2e = f"{b['end_to_end_ms'] / t:9.2f}" if t else f"{'n/a':>9}"
    ker = f"{b['kernel_ms'] / t:10.2f}" if t else f"{'n/a':>10}"
    tt = f"{t:9.3f}" if t else f"{'n/a':>9}"
    print(f"{b['name']:<24} {b['end_to_end_ms']:11.3f} {b['kernel_ms']:12.3f} {tt} {e2e} {ker} {b['cpu_ms']:10.2f}")
for b in (r for r in bench if r.get("kind") == "sgemm"):
    t = float(torch.get(("sgemm",), {}).get("gflops", 0)) or None
    print(f"sgemm 512^3: ours {b['gflops']:.0f} GFLOP/s, torch {t or float('nan'):.0f} GFLOP/s, ratio (time) {(t / b['gflops']) if t else float('nan'):.2f}")
targets = {"supernet": (1.5, 0.5), "retrain": (1.5, None)}
print(f"{'step':<26} {'batch':>5} {'ours ms':>9} {'torch ms':>9} {'time ratio':>10} {'ours MiB':>9} {'torch MiB':>9} {'mem ratio':>9}  targets")
for b in (r for r in bench if r.get("kind") in targets):
    t = torch.get((b["kind"], b.get("space", "")), {})
    tms, tmem = float(t.get("ms", 0)) or None, float(t.get("mem", 0)) or None
    rt = b["gpu_ms_per_step"] / tms if tms else float("nan")
    rm = b["gpu_peak_bytes"] / tmem if tmem else float("nan")
    tt, tm = targets[b["kind"]]
    verdict = f"time {'PASS' if rt <= tt else 'FAIL'} (<= {tt})"
    if tm is not None:
        verdict += f", mem {'PASS' if rm <= tm else 'FAIL'} (<= {tm})"
    name = f"{b['kind']} {b.get('space', '')}"
    print(f"{name:<26} {b['batch']:>5} {b['gpu_ms_per_step']:9.1f} {tms or float('nan'):9.1f} {rt:10.2f} "
          f"{b['gpu_peak_bytes'] / 2**20:9.1f} {(tmem or float('nan')) / 2**20:9.1f} {rm:9.2f}  {verdict}")
    if "cpu_ms_per_step" in b:
        print(f"{'':<26} ours on this machine's CPU: {b['cpu_ms_per_step']:.0f} ms")
print(f"bench exit {rc('bench')}, torch exit {rc('torch')}")
ok = rc("check") == "0" and rc("test") == "0" and not fails and summ
sys.exit(0 if ok else 1)
