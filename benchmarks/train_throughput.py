"""Training throughput (windows/s) of FlowFM presets on this machine.

Times full optimiser steps (joint loss forward, backward, clipping, AdamW, EMA) of the real
training loop on HAPT-shaped random windows, after warm-up; repeats and reports medians.

    python benchmarks/train_throughput.py --presets nano,tiny --batch 64 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from flowfm_edge.data.contract import WindowSet
from flowfm_edge.doctor import cpu_model
from flowfm_edge.models import ModelConfig
from flowfm_edge.training import TrainConfig, train


def measure(preset: str, batch: int, steps: int) -> float:
    """Windows/s of one `train` call of ``steps`` steps, from its own metrics (excludes start-up)."""
    X = np.random.default_rng(0).normal(0, 0.3, (max(4 * batch, 256), 3, 300)).astype(np.float32)
    ws = WindowSet(X, None, np.zeros(len(X)), source="random")
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(steps=steps, batch_size=batch, warmup=1, log_every=steps, ckpt_every=10**9)
        train(ws, out, ModelConfig.from_preset(preset), cfg, progress=False, device="cpu")
        last = (Path(out) / "metrics.csv").read_text().strip().splitlines()[-1].split(",")
    return float(last[4])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="nano,tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default="benchmarks/results/train_throughput.json")
    args = ap.parse_args()
    rows = []
    for preset in args.presets.split(","):
        measure(preset, args.batch, 3)  # warm-up
        runs = [measure(preset, args.batch, args.steps) for _ in range(args.repeats)]
        rows.append({"preset": preset, "batch": args.batch, "steps": args.steps, "windows_per_s_median": statistics.median(runs),
                     "windows_per_s_runs": runs})
        print(f"{preset:>6}  batch {args.batch}  {statistics.median(runs):8.1f} windows/s  (runs: {', '.join(f'{r:.1f}' for r in runs)})")
    env = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"env": env, "results": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
