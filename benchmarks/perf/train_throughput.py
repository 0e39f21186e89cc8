"""Training throughput (windows/s) of FlowFM on this machine, by precision, attention kernel and compilation.

Times full optimiser steps (joint loss forward, backward, clipping, AdamW, EMA) of the real training loop
(`flowfm_edge.training.train`) on HAPT-shaped random windows, after warm-up; variants alternate within each
repeat so drift on a shared machine hits all of them alike, and the table reports medians. Achieved GFLOP/s
is the step's counted FLOPs (forward + backward, `torch.utils.flop_counter`) times the step rate, against the
machine's measured matmul peak in fp32 and bf16 at the same thread count.

``--curve N`` also trains N steps on HAPT's pretraining windows, the same seed, with the fp32 eager loop
(``amp off``, PyTorch's attention kernel) and with each variant, and reports how far the loss curves part.

    python -m benchmarks.perf.train_throughput --preset tiny --repeats 5 --curve 200
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.kit import result_path, start_environment, write_result
from flowfm_edge.data.contract import WindowSet
from flowfm_edge.models import ModelConfig, build_model
from flowfm_edge.training import TrainConfig, train
from flowfm_edge.training.precision import autocast_dtype, cpu_has_bf16, matmul_rate

# name -> TrainConfig fields; "before" is the loop as it was (fp32, PyTorch's attention kernel)
VARIANTS = {
    "fp32": {"amp": "off", "attention": "default"},
    "fp32-math": {"amp": "off", "attention": "math"},
    "bf16": {"amp": "bf16", "attention": "default"},
    "bf16-math": {"amp": "bf16", "attention": "math"},
    "bf16-math-compile": {"amp": "bf16", "attention": "math", "compile": True},
    "fp32-compile": {"amp": "off", "attention": "default", "compile": True},
    "fp32-math-compile": {"amp": "off", "attention": "math", "compile": True},
    "default": {},
}


def windows(n: int) -> WindowSet:
    X = np.random.default_rng(0).normal(0, 0.3, (n, 3, 300)).astype(np.float32)
    return WindowSet(X, None, np.zeros(n), source="random")


def run_metrics(data: WindowSet, preset: str, steps: int, batch: int, log_every: int, **kw) -> list[dict]:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(steps=steps, batch_size=batch, warmup=min(100, steps // 2), log_every=log_every,
                          ckpt_every=10**9, **kw)
        train(data, out, ModelConfig.from_preset(preset), cfg, progress=False, device="cpu")
        return list(csv.DictReader(open(Path(out) / "metrics.csv")))


def windows_per_s(preset: str, batch: int, steps: int, warm: int, **kw) -> tuple[float, float]:
    """Windows/s over steps warm+1 .. warm+steps of one `train` call (its first ``warm`` steps are warm-up),
    and the seconds its first step took (where a compiled variant compiles)."""
    rows = run_metrics(windows(max(4 * batch, 256)), preset, warm + steps, batch, 1, **kw)
    t0, t1 = float(rows[warm - 1]["elapsed_s"]), float(rows[-1]["elapsed_s"])
    return steps * batch / (t1 - t0), float(rows[0]["elapsed_s"])


def step_flops(preset: str, batch: int) -> float:
    """FLOPs of one training step's forward and backward (matmuls and attention, as PyTorch counts them)."""
    cfg = ModelConfig.from_preset(preset)
    cfg.norm_mean, cfg.norm_std = [0.0] * 3, [1.0] * 3
    model = build_model(cfg)
    x = torch.from_numpy(windows(batch).X)
    with FlopCounterMode(display=False) as counter:
        model(x, torch.Generator().manual_seed(0)).backward()
    return float(counter.get_total_flops())


def matmul_peak(dtype: torch.dtype) -> float:
    """Measured GFLOP/s of a 2048 x 2048 matmul in ``dtype``: the practical peak of this CPU at this thread count."""
    return matmul_rate(dtype, n=2048, repeats=10)


def loss_curves(preset: str, steps: int, batch: int, names: list[str]) -> dict:
    """Loss every 10 steps of ``steps`` steps on HAPT pretraining windows for fp32 and each variant, same seed."""
    from flowfm_edge.data import load_source

    data = load_source("hapt", split="pretrain")
    curves = {name: [float(r["loss"]) for r in run_metrics(data, preset, steps, batch, 10, **VARIANTS[name])]
              for name in ["fp32", *[n for n in names if n != "fp32"]]}
    ref = np.array(curves["fp32"])
    out = {}
    for name, c in curves.items():
        c = np.array(c)
        out[name] = {"loss": c.tolist(), "max_abs_diff": float(np.abs(c - ref).max()),
                     "last_50_mean": float(c[-5:].mean()),
                     "last_50_rel_diff": float(abs(c[-5:].mean() - ref[-5:].mean()) / ref[-5:].mean())}
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=15, help="timed steps per run")
    ap.add_argument("--warm", type=int, default=5, help="warm-up steps per run (compiled variants compile here)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of: {', '.join(VARIANTS)}")
    ap.add_argument("--curve", type=int, default=0, help="also compare loss curves over this many HAPT steps")
    ap.add_argument("--out", "--json", dest="out", default=None,
                    help="the result JSON (default: benchmarks/results/train_throughput_<preset>.json)")
    return ap


def rates(args, names: list[str]) -> tuple[dict, dict]:
    """Windows/s and first-step seconds of every variant, variants alternating within each repeat."""
    runs: dict[str, list[float]] = {name: [] for name in names}
    first_step: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.repeats):
        for name in names:
            rate, first = windows_per_s(args.preset, args.batch, args.steps, args.warm, **VARIANTS[name])
            runs[name].append(rate)
            first_step[name].append(first)
            print(f"repeat {rep + 1}/{args.repeats}  {name:>18}  {rate:7.1f} windows/s  (first step {first:.1f} s)", flush=True)
    return runs, first_step


def main(argv: list[str] | None = None) -> None:
    ap = parser()
    args = ap.parse_args(argv)
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    threads = torch.get_num_threads()
    env = start_environment(threads=threads)
    flops = step_flops(args.preset, args.batch) / args.batch
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    runs, first_step = rates(args, names)
    base = statistics.median(runs[names[0]])
    print(f"\n{args.preset}, batch {args.batch}, {threads} threads, {flops / 1e9:.2f} GFLOP per window; "
          f"matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s; default autocast on this "
          f"CPU: {autocast_dtype('auto', torch.device('cpu')) or 'fp32'} (native bf16: {cpu_has_bf16()})")
    print(f"{'variant':>18} {'windows/s':>10} {'x ' + names[0]:>9} {'GFLOP/s':>8} {'% fp32 peak':>11} {'% bf16 peak':>11}")
    rows = []
    for name in names:
        med = statistics.median(runs[name])
        gflops = med * flops / 1e9
        rows.append({"variant": name, "config": VARIANTS[name], "windows_per_s_median": med,
                     "windows_per_s_runs": runs[name], "first_step_s_median": statistics.median(first_step[name]),
                     "speedup": med / base, "gflop_per_s": gflops, "fraction_fp32_peak": gflops / peaks["fp32"],
                     "fraction_bf16_peak": gflops / peaks["bf16"]})
        print(f"{name:>18} {med:10.1f} {med / base:9.2f} {gflops:8.0f} {100 * rows[-1]['fraction_fp32_peak']:10.0f}% "
              f"{100 * rows[-1]['fraction_bf16_peak']:10.0f}%")
    result = {"native_bf16": cpu_has_bf16(), "preset": args.preset, "batch": args.batch, "steps": args.steps,
              "warm": args.warm, "gflop_per_window": flops / 1e9, "peak_gflop_per_s": peaks, "results": rows}
    if args.curve:
        curves = loss_curves(args.preset, args.curve, args.batch, names)
        result["loss_curves"] = {"steps": args.curve, "data": "hapt:pretrain", **curves}
        print(f"\nloss over {args.curve} HAPT steps, same seed, against fp32 (PyTorch attention):")
        for name, c in curves.items():
            print(f"{name:>18}  max |diff| every 10 steps {c['max_abs_diff']:.4f}   last 50 steps "
                  f"{c['last_50_mean']:.4f} ({100 * c['last_50_rel_diff']:.1f}% from fp32)")
    write_result(result_path(args.out, f"train_throughput_{args.preset}"), result, env)


if __name__ == "__main__":
    main()
