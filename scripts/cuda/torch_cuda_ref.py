"""PyTorch CUDA reference for `bionas device bench` (run by scripts/cuda/device-check.sh).

Times, on the GPU, the same workloads as the Go side, and prints one parseable line each:
  RESULT conv <name> ms=<median fwd+bwd ms>      the conv shapes of nn/conv_bench_test.go
                                                 (batch 64, 16 channels, 32x32, input and weight grads)
  RESULT sgemm n=512 gflops=<GFLOP/s>
  RESULT supernet space=<bio|bp> batch=<N> ms=<median step ms> mem=<peak bytes>
                                                 the DARTS supernet step of ../shared/bench/py/torch_darts.py
                                                 over 32 pairs (--rules 4, "bio") and 8 ops ("bp"):
                                                 C=16, 5 cells, 3x32x32, SGD momentum 0.9, wd 3e-4, clip 5
  RESULT retrain space=darts_v2 batch=<N> ms=<median step ms> mem=<peak bytes>
                                                 DARTS' CIFAR-10 retraining step (NetworkCIFAR, DARTS_V2,
                                                 C=36, 20 cells, auxiliary head 0.4, drop path 0.2)
The supernet code below is a trimmed copy of ../shared/bench/py/torch_darts.py (after
quark0/darts model_search.py), so this script runs on a machine that has only this repo.
Usage: python3 scripts/cuda/torch_cuda_ref.py [--reps 20] [--steps 3] [--batch 64] [--device cuda]
"""
import argparse, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
PARAMETRIC = {"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}


class ReLUConvBN(nn.Sequential):
    def __init__(s, Ci, Co, k, st, p, affine):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(Ci, Co, k, st, p, bias=False), nn.BatchNorm2d(Co, affine=affine))


class DilConv(nn.Sequential):
    def __init__(s, Ci, Co, k, st, p, d, affine):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(Ci, Ci, k, st, p, dilation=d, groups=Ci, bias=False),
                         nn.Conv2d(Ci, Co, 1, bias=False), nn.BatchNorm2d(Co, affine=affine))


class SepConv(nn.Sequential):
    def __init__(s, Ci, Co, k, st, p, affine):
        super().__init__(DilConv(Ci, Ci, k, st, p, 1, affine), DilConv(Ci, Co, k, 1, p, 1, affine))


class Zero(nn.Module):
    def __init__(s, st): super().__init__(); s.st = st
    def forward(s, x): return x.mul(0.) if s.st == 1 else x[:, :, ::s.st, ::s.st].mul(0.)


class FactorizedReduce(nn.Module):
    def __init__(s, Ci, Co, affine):
        super().__init__()
        s.relu = nn.ReLU(inplace=False)
        s.c1 = nn.Conv2d(Ci, Co // 2, 1, 2, 0, bias=False); s.c2 = nn.Conv2d(Ci, Co // 2, 1, 2, 0, bias=False)
        s.bn = nn.BatchNorm2d(Co, affine=affine)
    def forward(s, x):
        x = s.relu(x)
        return s.bn(torch.cat([s.c1(x), s.c2(x[:, :, 1:, 1:])], dim=1))


def make_op(name, C, st, a=False):
    if name == "none": return Zero(st)
    if name == "avg_pool_3x3": return nn.Sequential(nn.AvgPool2d(3, st, 1, count_include_pad=False), nn.BatchNorm2d(C, affine=a))
    if name == "max_pool_3x3": return nn.Sequential(nn.MaxPool2d(3, st, 1), nn.BatchNorm2d(C, affine=a))
    if name == "skip_connect": return nn.Identity() if st == 1 else FactorizedReduce(C, C, a)
    if name == "sep_conv_3x3": return SepConv(C, C, 3, st, 1, a)
    if name == "sep_conv_5x5": return SepConv(C, C, 5, st, 2, a)
    if name == "dil_conv_3x3": return DilConv(C, C, 3, st, 2, 2, a)
    if name == "dil_conv_5x5": return DilConv(C, C, 5, st, 4, 2, a)
    raise KeyError(name)


class MixedOp(nn.Module):
    def __init__(s, C, st, rules):
        super().__init__()
        s.ops = nn.ModuleList(); s.widx = []
        k = 0
        for p in PRIMITIVES:
            if p in PARAMETRIC:
                for _ in range(rules):
                    s.ops.append(make_op(p, C, st)); s.widx.append([k]); k += 1
            else:
                s.ops.append(make_op(p, C, st)); s.widx.append(list(range(k, k + rules))); k += rules
        s.n_alpha = k
    def forward(s, x, w):
        out = None
        for op, idx in zip(s.ops, s.widx):
            wi = w[idx[0]] if len(idx) == 1 else w[idx[0]:idx[-1] + 1].sum()
            y = wi * op(x)
            out = y if out is None else out + y
        return out


class Cell(nn.Module):
    def __init__(s, steps, mult, Cpp, Cp, C, red, red_prev, rules):
        super().__init__()
        s.red = red
        s.pre0 = FactorizedReduce(Cpp, C, False) if red_prev else ReLUConvBN(Cpp, C, 1, 1, 0, False)
        s.pre1 = ReLUConvBN(Cp, C, 1, 1, 0, False)
        s.steps, s.mult = steps, mult
        s.ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                s.ops.append(MixedOp(C, 2 if red and j < 2 else 1, rules))
    def forward(s, s0, s1, W):
        states = [s.pre0(s0), s.pre1(s1)]
        off = 0
        for _ in range(s.steps):
            h = sum(s.ops[off + j](h_, W[off + j]) for j, h_ in enumerate(states))
            off += len(states); states.append(h)
        return torch.cat(states[-s.mult:], dim=1)


class Network(nn.Module):
    def __init__(s, C=16, classes=10, layers=5, in_ch=3, rules=4, steps=4, mult=4, stem_mult=3):
        super().__init__()
        Cc = stem_mult * C
        s.stem = nn.Sequential(nn.Conv2d(in_ch, Cc, 3, padding=1, bias=False), nn.BatchNorm2d(Cc))
        Cpp, Cp, Cc = Cc, Cc, C
        s.cells = nn.ModuleList(); red_prev = False
        for i in range(layers):
            red = i in [layers // 3, 2 * layers // 3]
            if red: Cc *= 2
            cell = Cell(steps, mult, Cpp, Cp, Cc, red, red_prev, rules)
            red_prev = red; s.cells.append(cell); Cpp, Cp = Cp, mult * Cc
        s.gap = nn.AdaptiveAvgPool2d(1); s.cls = nn.Linear(Cp, classes)
        k = sum(1 for i in range(steps) for _ in range(2 + i))
        na = s.cells[0].ops[0].n_alpha
        s.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, na))
        s.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, na))
    def weights(s): return [p for n, p in s.named_parameters() if "alphas" not in n]
    def forward(s, x):
        s0 = s1 = s.stem(x)
        wn = F.softmax(s.alphas_normal, dim=-1); wr = F.softmax(s.alphas_reduce, dim=-1)
        for cell in s.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.red else wn)
        return s.cls(s.gap(s1).flatten(1))


DARTS_V2 = dict(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    concat=[2, 3, 4, 5])


def drop_path(x, p):
    keep = 1.0 - p
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device).bernoulli_(keep)
    return x.div(keep).mul(mask)


class EvalCell(nn.Module):
    """A cell of the discrete network: two inputs per node, as DARTS' model.py."""
    def __init__(s, edges, Cpp, Cp, C, red, red_prev):
        super().__init__()
        s.pre0 = FactorizedReduce(Cpp, C, True) if red_prev else ReLUConvBN(Cpp, C, 1, 1, 0, True)
        s.pre1 = ReLUConvBN(Cp, C, 1, 1, 0, True)
        s.src = [j for _, j in edges]
        s.ops = nn.ModuleList(make_op(n, C, 2 if red and j < 2 else 1, True) for n, j in edges)
        s.mult = len(DARTS_V2["concat"])
    def forward(s, s0, s1, p):
        st = [s.pre0(s0), s.pre1(s1)]
        for i in range(len(s.ops) // 2):
            hs = []
            for k in (2 * i, 2 * i + 1):
                h = s.ops[k](st[s.src[k]])
                if s.training and p > 0 and not isinstance(s.ops[k], nn.Identity):
                    h = drop_path(h, p)
                hs.append(h)
            st.append(hs[0] + hs[1])
        return torch.cat([st[i] for i in DARTS_V2["concat"]], dim=1)


class AuxHead(nn.Module):
    def __init__(s, C, classes):
        super().__init__()
        s.f = nn.Sequential(nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
                            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
                            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        s.cls = nn.Linear(768, classes)
    def forward(s, x): return s.cls(s.f(x).flatten(1))


class NetworkCIFAR(nn.Module):
    def __init__(s, C=36, classes=10, layers=20, drop=0.2):
        super().__init__()
        s.drop = drop
        Cc = 3 * C
        s.stem = nn.Sequential(nn.Conv2d(3, Cc, 3, padding=1, bias=False), nn.BatchNorm2d(Cc))
        Cpp, Cp, Cc = Cc, Cc, C
        s.cells = nn.ModuleList(); red_prev = False; s.aux_at = 2 * layers // 3
        for i in range(layers):
            red = i in [layers // 3, 2 * layers // 3]
            if red: Cc *= 2
            s.cells.append(EvalCell(DARTS_V2["reduce" if red else "normal"], Cpp, Cp, Cc, red, red_prev))
            red_prev = red; Cpp, Cp = Cp, 4 * Cc
            if i == s.aux_at: s.aux = AuxHead(Cp, classes)
        s.gap = nn.AdaptiveAvgPool2d(1); s.cls = nn.Linear(Cp, classes)
    def forward(s, x):
        s0 = s1 = s.stem(x); aux = None
        for i, cell in enumerate(s.cells):
            s0, s1 = s1, cell(s0, s1, s.drop)
            if i == s.aux_at and s.training: aux = s.aux(s1)
        return s.cls(s.gap(s1).flatten(1)), aux


def peak_mem(fn):
    """Peak bytes allocated by PyTorch's caching allocator during one call of fn (after warm-up)."""
    if not torch.cuda.is_available():
        return 0
    sync(); torch.cuda.reset_peak_memory_stats()
    fn(); sync()
    return torch.cuda.max_memory_allocated()  # the whole peak: weights and optimizer state included


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, reps, warmup):
    ts = []
    for i in range(reps + warmup):
        sync(); t0 = time.perf_counter()
        fn()
        sync()
        if i >= warmup:
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--retrain-batch", type=int, default=96)
    ap.add_argument("--device", default="cuda", help="cuda (the reference) or cpu (a smoke test of this script)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    where = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    print(f"# torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()} on {where}", flush=True)
    N, C, H = 64, 16, 32
    cases = [
        ("dense3x3", nn.Conv2d(C, C, 3, padding=1, bias=False)),
        ("depthwise3x3", nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False)),
        ("depthwise5x5-dil2", nn.Conv2d(C, C, 5, padding=4, dilation=2, groups=C, bias=False)),
        ("pointwise1x1", nn.Conv2d(C, C, 1, bias=False)),
    ]
    x = torch.randn(N, C, H, H, device=dev, requires_grad=True)
    for name, m in cases:
        m = m.to(dev)
        gy = torch.randn_like(m(x))
        def step():
            y = m(x); y.backward(gy); x.grad = None; m.weight.grad = None
        print(f"RESULT conv {name} ms={timed(step, a.reps, 3):.4f}", flush=True)
    A = torch.randn(512, 512, device=dev); B = torch.randn(512, 512, device=dev)
    ms = timed(lambda: torch.mm(A, B), a.reps, 3)
    print(f"RESULT sgemm n=512 gflops={2 * 512 ** 3 / (ms / 1e3) / 1e9:.1f}", flush=True)
    xs = torch.randn(a.batch, 3, 32, 32, device=dev); ys = torch.randint(0, 10, (a.batch,), device=dev)
    for space, rules in (("bio", 4), ("bp", 1)):
        net = Network(rules=rules).to(dev)
        opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        def sstep():
            opt.zero_grad(set_to_none=True); net.alphas_normal.grad = None; net.alphas_reduce.grad = None
            F.cross_entropy(net(xs), ys).backward()
            nn.utils.clip_grad_norm_(net.weights(), 5); opt.step()
        ms = timed(sstep, a.steps, 1)
        print(f"RESULT supernet space={space} batch={a.batch} ms={ms:.2f} mem={peak_mem(sstep)}", flush=True)
        del net, opt
        if dev.type == "cuda": torch.cuda.empty_cache()
    rnet = NetworkCIFAR().to(dev).train()
    ropt = torch.optim.SGD(rnet.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    xr = torch.randn(a.retrain_batch, 3, 32, 32, device=dev); yr = torch.randint(0, 10, (a.retrain_batch,), device=dev)
    def rstep():
        ropt.zero_grad(set_to_none=True)
        logits, aux = rnet(xr)
        loss = F.cross_entropy(logits, yr) + 0.4 * F.cross_entropy(aux, yr)
        loss.backward(); nn.utils.clip_grad_norm_(rnet.parameters(), 5); ropt.step()
    ms = timed(rstep, a.steps, 1)
    print(f"RESULT retrain space=darts_v2 batch={a.retrain_batch} ms={ms:.2f} mem={peak_mem(rstep)}", flush=True)


if __name__ == "__main__":
    main()
