#!/usr/bin/python3
"""bench_torch.py: the PyTorch peer for `make bench` (Debian python3-torch, run with /usr/bin/python3).

Builds the seed model exactly as model/model.h does (masked 7x7 A conv 1->F, D residual blocks
PReLU -> 1x1 F->F/2 -> PReLU -> masked 3x3 B F/2->F/2 -> PReLU -> 1x1 F/2->F -> add, PReLU,
2 x (masked 1x1 B F->F, PReLU), 1x1 F->1 logit; per-channel nn.PReLU; NAdam(lr=0.002,
betas=(0.9, 0.999), eps=1e-7); masks applied as weight * mask in forward) and times, at 1 and 2
threads (torch.set_num_threads):
  torch/model/forward/<fmt>/t<n>       forward of a batch of 32 (no grad)
  torch/model/train_step/<fmt>/t<n>    forward + BCE-with-logits + backward + NAdam step
  torch/model/sample_pixel/<fmt>/t<n>  one pixel of the naive sampler: forward of the batch + draw
with <fmt> nchw (the NHWC input (N,28,28,1) permuted and made contiguous NCHW inside forward) and
channels_last (model and input in torch.channels_last memory format: the permuted NHWC input is
used as is). Kernel-level peers on the seed layer shapes (NCHW, dense weights with the mask
applied): torch/<op>/<shape>/t<n> for conv_fwd (F.conv2d), conv_bwd_data and conv_bwd_weights
(aten.convolution_backward with output_mask picking one gradient), and conv1x1_prelu_fwd
(F.conv2d then F.prelu).
Timing: --warmup calls (2), then repetitions of >= min_time seconds; the median of the per-call
times is reported. Writes Google-Benchmark-shaped JSON ({"benchmarks": [{name, real_time,
time_unit, ...}]}) to the path given as argument (stdout if none).
  --min-time S (0.5)  --repetitions R (3)  --warmup W (2)  --smoke (tiny shapes, one call each)
  --only model|kernels   only the whole-model rows, or only the kernel-level rows
  --what forward,train_step,sample_pixel   which model rows (default all three)
  --bf16  also the model rows in mixed precision, fmt bf16-nchw and bf16-channels_last:
          torch.autocast("cpu", dtype=torch.bfloat16) around the model (bf16 convolutions
          through oneDNN; fp32 weights, NAdam and the loss on fp32 logits)
scripts/bench.sh runs the kernel rows once (--only kernels) and the model rows in rounds
alternating with ours (--only model --repetitions 1 --warmup 1, once per round).
"""
import argparse
import contextlib
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mask(k, kind, cin, cout):
    """PixelCNN mask (1 colour group) shaped like a torch weight (cout, cin, k, k)."""
    m = torch.ones(cout, cin, k, k)
    r = k // 2
    m[:, :, r, r + 1:] = 0
    m[:, :, r + 1:, :] = 0
    if kind == "A":
        m[:, :, r, r] = 0
    return m


class MaskedConv(nn.Conv2d):
    def __init__(self, cin, cout, k, kind):
        super().__init__(cin, cout, k, padding=k // 2)
        self.register_buffer("mask", mask(k, kind, cin, cout))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class Block(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.p1, self.c1 = nn.PReLU(f), MaskedConv(f, f // 2, 1, "B")
        self.p2, self.c2 = nn.PReLU(f // 2), MaskedConv(f // 2, f // 2, 3, "B")
        self.p3, self.c3 = nn.PReLU(f // 2), MaskedConv(f // 2, f, 1, "B")

    def forward(self, x):
        return x + self.c3(self.p3(self.c2(self.p2(self.c1(self.p1(x))))))


class PixelCNN(nn.Module):
    def __init__(self, f=128, d=6, nchw_inside=True):
        super().__init__()
        self.nchw_inside = nchw_inside
        self.inp = MaskedConv(1, f, 7, "A")
        self.blocks = nn.Sequential(*[Block(f) for _ in range(d)])
        self.pout = nn.PReLU(f)
        self.o1, self.q1 = MaskedConv(f, f, 1, "B"), nn.PReLU(f)
        self.o2, self.q2 = MaskedConv(f, f, 1, "B"), nn.PReLU(f)
        self.head = MaskedConv(f, 1, 1, "B")

    def forward(self, x_nhwc):
        x = x_nhwc.permute(0, 3, 1, 2)
        x = x.contiguous() if self.nchw_inside else x.contiguous(memory_format=torch.channels_last)
        x = self.pout(self.blocks(self.inp(x)))
        x = self.q2(self.o2(self.q1(self.o1(x))))
        return self.head(x).permute(0, 2, 3, 1)  # (N,H,W,1) logits


def timeit(fn, min_time, reps, smoke, warmup):
    for _ in range(1 if smoke else warmup):
        fn()
    if smoke:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0, 1
    per_call, iters = [], 0
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            el = time.perf_counter() - t0
            if el >= min_time:
                break
        per_call.append(el / n)
        iters += n
    return statistics.median(per_call), iters


def entry(name, sec, iters, label="", **counters):
    e = {"name": name, "run_name": name, "run_type": "aggregate", "aggregate_name": "median",
         "iterations": iters, "real_time": sec * 1e3, "cpu_time": sec * 1e3, "time_unit": "ms",
         "label": label}
    e.update(counters)
    return e


def model_benches(args, out, threads, n, hw, f, d):
    fmts = ["nchw", "channels_last"] + (["bf16-nchw", "bf16-channels_last"] if args.bf16 else [])
    for fmt in fmts:
        bf16 = fmt.startswith("bf16-")
        torch.manual_seed(0)
        m = PixelCNN(f, d, nchw_inside=(fmt.endswith("nchw")))
        if fmt.endswith("channels_last"):
            m = m.to(memory_format=torch.channels_last)
        opt = torch.optim.NAdam(m.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-7)
        x = (torch.rand(n, hw, hw, 1) < 0.3).float()
        # bf16: torch.autocast (bf16 convolutions, fp32 weights and optimizer);
        # the loss on fp32 logits
        cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

        def fwd():
            with torch.no_grad(), cast():
                return m(x)

        def step():
            opt.zero_grad(set_to_none=True)
            with cast():
                lg = m(x)
            loss = F.binary_cross_entropy_with_logits(lg.float(), x, reduction="sum") / n
            loss.backward()
            opt.step()

        pos = [0]

        def sample_pixel():
            with torch.no_grad(), cast():
                lg = m(x).float()
                y, xx = divmod(pos[0], hw)
                x[:, y, xx, 0] = torch.bernoulli(torch.sigmoid(lg[:, y, xx, 0]))
                pos[0] = (pos[0] + 1) % (hw * hw)

        for what, fn in (("forward", fwd), ("train_step", step), ("sample_pixel", sample_pixel)):
            if what not in args.what:
                continue
            sec, it = timeit(fn, args.min_time, args.repetitions, args.smoke, args.warmup)
            out.append(entry(f"torch/model/{what}/{fmt}/t{threads}", sec, it,
                             label=f"torch {torch.__version__} {fmt}",
                             images_per_s=n / sec))


def conv_benches(args, out, threads, shapes):
    for op_shape, (n, hw, cin, cout, k, kind, fused) in shapes.items():
        torch.manual_seed(0)
        x = torch.rand(n, cin, hw, hw) * 2 - 1
        w = (torch.rand(cout, cin, k, k) * 0.2 - 0.1) * mask(k, kind, cin, cout)
        b = torch.rand(cout) * 0.2 - 0.1
        a = torch.full((cout,), 0.25)
        dy = torch.rand(n, cout, hw, hw) * 2 - 1
        pad = [k // 2, k // 2]
        dirs = ["fwd"] if fused else ["fwd", "bwd_data", "bwd_weights"]
        for dr in dirs:
            if dr == "fwd" and fused:
                def fn():
                    with torch.no_grad():
                        return F.prelu(F.conv2d(x, w, b, padding=pad), a)
            elif dr == "fwd":
                def fn():
                    with torch.no_grad():
                        return F.conv2d(x, w, b, padding=pad)
            else:
                om = [dr == "bwd_data", dr == "bwd_weights", dr == "bwd_weights"]

                def fn(om=om):
                    return torch.ops.aten.convolution_backward(
                        dy, x, w, [cout], [1, 1], pad, [1, 1], False, [0, 0], 1, om)
            op = ("conv1x1_prelu_" if fused else "conv_") + dr
            sec, it = timeit(fn, args.min_time, args.repetitions, args.smoke, args.warmup)
            out.append(entry(f"torch/{op}/{op_shape}/t{threads}", sec, it,
                             label="torch NCHW" + (" conv2d+prelu" if fused else "")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", choices=("model", "kernels"))
    ap.add_argument("--what", default="forward,train_step,sample_pixel")
    ap.add_argument("--bf16", action="store_true",
                    help="also the model rows under torch.autocast(bfloat16): fmt bf16-nchw, bf16-channels_last")
    args = ap.parse_args()
    args.what = args.what.split(",")
    bad = set(args.what) - {"forward", "train_step", "sample_pixel"}
    if bad:
        ap.error(f"--what: unknown model row(s) {', '.join(sorted(bad))}")
    if args.smoke:
        n, hw, f, d = 2, 6, 8, 1
        shapes = {"3x3B_4-4": (2, 6, 4, 4, 3, "B", False)}
    else:
        n, hw, f, d = 32, 28, 128, 6
        shapes = {
            "7x7A_1-128": (32, 28, 1, 128, 7, "A", False),
            "3x3B_64-64": (32, 28, 64, 64, 3, "B", False),
            "1x1B_64-128": (32, 28, 64, 128, 1, "B", False),
            "1x1B_128-64": (32, 28, 128, 64, 1, "B", True),
            "1x1B_128-128": (32, 28, 128, 128, 1, "B", True),
        }
    out = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        if args.only != "kernels":
            model_benches(args, out, threads, n, hw, f, d)
        if args.only != "model":
            conv_benches(args, out, threads, shapes)
        print(f"bench_torch: threads={threads} done", file=sys.stderr)
    doc = {"context": {"torch": torch.__version__, "torch_config": torch.__config__.parallel_info()},
           "benchmarks": out}
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
