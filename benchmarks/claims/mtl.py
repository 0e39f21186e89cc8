"""FlowFM vs the SSL-Wearables-style MTL baseline at the same pretraining wall time (HAR linear probe).

Protocol.
1. **The budget.** FlowFM's budget is ``--flow-steps`` steps of ``--preset`` under the recipe. The MTL
   ResNet (10.5M parameters, arrow of time + permutation + time warp; docs/design.md#baselines) gets the same wall time
   on this machine: both models' seconds per training step are measured side by side here (the real
   loop on HAPT's pretraining windows, ``--ratio-repeats`` interleaved repeats of ``--ratio-steps`` timed
   steps after ``--ratio-warm``, medians), and the MTL run trains
   ``round(flow_steps * flow_s_per_step / mtl_s_per_step)`` steps (``--mtl-steps`` overrides). Fixing
   the step count from a ratio measured in one run keeps the budget fair when other jobs share the CPU
   later.
2. **Training.** The MTL run trains with the recipe's optimiser settings (AdamW, lr 1e-3, warm-up 10% up
   to 100 steps, cosine) in ``--slice``-step slices, checkpointed, so ``--resume`` continues an
   interrupted run. Its self-supervised loss is called plateaued when the mean of the last 10% of logged
   losses is within 2% of the mean of the 10% before (chance: 3 ln 2 = 2.079).
3. **The probe.** ``flowfm-edge probe`` on the MTL run: the project's one probe (standardised features,
   converged logistic regression, C chosen on validation subjects, 5 x 80/20 subject folds, seeds 42/41)
   beside the untrained MTL ResNet, hand-crafted features and raw windows on the same folds.
4. **FlowFM.** ``--flow-run`` probes a FlowFM run now; otherwise ``--flow-probe`` reads a saved
   ``probe.json`` of the FlowFM run at that budget. The baselines both tables share (hand-crafted, raw)
   must agree to 1e-9, which shows the folds are the same.

    CLAIMS_THREADS=2 python -m benchmarks.claims.mtl --data hapt --preset tiny --flow-steps 10000 \\
        --flow-probe benchmarks/results/probe_hapt_tiny_10000steps.json --resume
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.claims.runs import (RUNS, add_out_dir, arguments, data_name, model_config, run_dir, train_config,
                                    write_outputs)
from benchmarks.kit import markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.plots import pyplot, save_figure
from flowfm_edge.training import read_config, train

CHANCE = 3 * math.log(2)  # three binary pretext tasks at p = 0.5
SHARED = ("hand-crafted", "raw windows")


def seconds_per_step(ws, preset: str, objective: str, steps: int, warm: int) -> float:
    """Median seconds of the timed steps of one short run of the real loop (its first ``warm`` steps excluded)."""
    import tempfile

    cfg = train_config(warm + steps, seed=0)
    cfg.log_every, cfg.ckpt_every = 1, 10**9
    with tempfile.TemporaryDirectory() as out:
        train(ws, out, model_config(preset, objective), cfg, progress=False, device="cpu")
        t = [float(r["elapsed_s"]) for r in csv.DictReader(open(Path(out) / "metrics.csv"))]
    return statistics.median(np.diff(t[warm - 1:]).tolist())


def step_ratio(ws, preset: str, repeats: int, steps: int, warm: int) -> dict:
    """FlowFM's and the MTL ResNet's seconds per step, interleaved repeats, medians."""
    times = {"flow": [], "mtl": []}
    for i in range(repeats):
        for obj in (("flow", "mtl") if i % 2 == 0 else ("mtl", "flow")):
            times[obj].append(seconds_per_step(ws, preset, obj, steps, warm))
            print(f"  repeat {i + 1}/{repeats}: {obj} {times[obj][-1]:.3f} s/step", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"flow_s_per_step": med["flow"], "mtl_s_per_step": med["mtl"], "repeats": times,
            "mtl_over_flow": med["mtl"] / med["flow"]}


def train_mtl(args, ws, steps: int, seed: int) -> Path:
    """The MTL run of ``steps`` steps, trained (or continued with --resume) in --slice-step slices."""
    run = run_dir(args.data, args.preset, "mtl", steps, seed)
    done = 0
    try:
        done = int(read_config(run)["step"])
    except ValueError:
        pass
    if done and not args.resume and done < steps:
        raise SystemExit(f"{run} stopped at step {done} of {steps}: pass --resume to continue it")
    t0 = time.perf_counter()
    while done < steps:
        stop = min(steps, done + args.slice)
        train(ws, run, model_config(args.preset, "mtl"), train_config(steps, seed), resume=done > 0, device="cpu",
              progress=False, until=stop)
        done = stop
        print(f"  mtl step {done}/{steps} ({time.perf_counter() - t0:.0f} s this session)", flush=True)
    return run


def loss_curve(run: Path) -> dict:
    """The logged SSL loss, whether it plateaued (last 10% of logs within 2% of the 10% before), and its time."""
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    steps = [int(r["step"]) for r in rows]
    loss = np.array([float(r["loss"]) for r in rows])
    k = max(1, len(loss) // 10)
    last, before = float(loss[-k:].mean()), float(loss[-2 * k:-k].mean())
    return {"step": steps, "loss": loss.tolist(), "last_10pct_mean": last, "previous_10pct_mean": before,
            "relative_change": (before - last) / before, "plateaued": abs(before - last) / before < 0.02,
            "chance": CHANCE}


def flow_probe(args) -> dict:
    if args.flow_run:
        from flowfm_edge.evaluation.probe_run import run_probe

        return run_probe(Path(args.flow_run), args.data)
    return json.loads(Path(args.flow_probe).read_text())


def summary(probe: dict) -> dict:
    return {row["features"]: row for row in probe["summary"]}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="tiny", help="FlowFM's preset (the MTL ResNet has one size)")
    ap.add_argument("--flow-steps", type=int, default=10000, help="FlowFM's budget in steps")
    ap.add_argument("--flow-run", default=None, help="a FlowFM run at that budget, probed now")
    ap.add_argument("--flow-probe", default="benchmarks/results/probe_hapt_tiny_10000steps.json",
                    help="a saved probe.json of the FlowFM run (used without --flow-run)")
    ap.add_argument("--mtl-steps", type=int, default=None, help="override the measured equal-wall-time step count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slice", type=int, default=500, help="MTL steps per checkpointed slice")
    ap.add_argument("--ratio-repeats", type=int, default=3)
    ap.add_argument("--ratio-steps", type=int, default=8)
    ap.add_argument("--ratio-warm", type=int, default=3)
    ap.add_argument("--resume", action="store_true", help="continue an interrupted MTL run (the budget is kept in "
                                                           "runs/claims/<result>.budget.json)")
    add_out_dir(ap)
    return ap


def equal_wall_time(args, ws, stem: str) -> dict:
    """The MTL run's step count for FlowFM's wall time, measured here (or, with --resume, as measured before)."""
    progress = RUNS / f"{stem}.budget.json"
    if args.resume and progress.is_file():
        budget = json.loads(progress.read_text())
        print(f"budget from {progress}: {budget['mtl_steps']} MTL steps", flush=True)
        return budget
    print("seconds per training step, FlowFM vs MTL ResNet, on this machine:", flush=True)
    budget = step_ratio(ws, args.preset, args.ratio_repeats, args.ratio_steps, args.ratio_warm)
    budget["mtl_steps"] = args.mtl_steps or round(args.flow_steps * budget["flow_s_per_step"] / budget["mtl_s_per_step"])
    budget["flow_steps"] = args.flow_steps
    progress.parent.mkdir(parents=True, exist_ok=True)
    progress.write_text(json.dumps(budget, indent=2))
    return budget


def probe_table(args, budget: dict, mtl: dict, flow: dict) -> tuple[str, float]:
    """FlowFM's and the MTL ResNet's probes (each beside its untrained twin) on the same folds, and FlowFM - MTL."""
    m, f = summary(mtl), summary(flow)
    for name in SHARED:
        if name in m and name in f and abs(m[name]["f1_mean"] - f[name]["f1_mean"]) > 1e-9:
            raise SystemExit(f"the two probes disagree on {name} ({m[name]['f1_mean']} vs {f[name]['f1_mean']}): "
                             "not the same folds")
    rows = [("FlowFM r", f["FlowFM r"], f"FlowFM {args.preset}, {args.flow_steps} steps"),
            ("untrained encoder", f["untrained encoder"], f"FlowFM {args.preset} encoder, untrained"),
            ("FlowFM r", m["FlowFM r"], f"MTL ResNet, {budget['mtl_steps']} steps (same wall time)"),
            ("untrained encoder", m["untrained encoder"], "MTL ResNet, untrained"),
            *((name, m[name], name) for name in SHARED if name in m)]
    table = [[label, r["dim"], f"{r['f1_mean']:.3f} +- {r['f1_sd']:.3f}", f"{r['f1_pooled']:.3f}",
              f"{r['kappa_mean']:.3f} +- {r['kappa_sd']:.3f}", "yes" if r["converged"] else "NO"] for _, r, label in rows]
    md = markdown_table(["features", "dim", "macro-F1 per subject", "pooled", "kappa per subject", "converged"], table)
    return md, f["FlowFM r"]["f1_mean"] - m["FlowFM r"]["f1_mean"]


def plot_loss(curve: dict, budget: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["step"], curve["loss"], lw=0.8, label="MTL self-supervised loss")
    ax.axhline(CHANCE, color="k", ls="--", lw=0.8, label="chance (3 ln 2)")
    ax.set(xlabel="step", ylabel="summed BCE of 3 pretext tasks", title=f"MTL ResNet, {budget['mtl_steps']} steps")
    ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    ws = load_source(args.data, split="pretrain")
    ws.meta["spec"] = args.data
    stem = f"claims_mtl_{data_name(args.data)}_{args.preset}_{args.flow_steps}steps"
    budget = equal_wall_time(args, ws, stem)
    print(f"FlowFM {budget['flow_s_per_step']:.3f} s/step, MTL {budget['mtl_s_per_step']:.3f} s/step "
          f"(x{budget['mtl_over_flow']:.2f}): {args.flow_steps} FlowFM steps = {budget['mtl_steps']} MTL steps", flush=True)
    run = train_mtl(args, ws, budget["mtl_steps"], args.seed)
    curve = loss_curve(run)
    print(f"MTL loss: last 10% {curve['last_10pct_mean']:.3f}, 10% before {curve['previous_10pct_mean']:.3f} "
          f"(chance {CHANCE:.3f}); plateaued: {curve['plateaued']}", flush=True)

    from flowfm_edge.evaluation.probe_run import run_probe

    mtl, flow = run_probe(run, args.data), flow_probe(args)
    md, gap = probe_table(args, budget, mtl, flow)
    md += (f"\n\nFlowFM - MTL at the same wall time: {gap:+.3f} macro-F1 per subject. MTL loss over the last 10% of "
           f"its run {curve['last_10pct_mean']:.3f} (chance {CHANCE:.3f}), plateaued: {curve['plateaued']}.")
    result = {"claim": "FlowFM's representation >= the SSL-Wearables-style MTL baseline at the same pretraining wall "
                       "time (HAR linear probe)", "protocol": arguments(args), "budget": budget, "mtl_run": str(run),
              "mtl_loss": curve, "mtl_probe": mtl, "flow_probe": {k: flow[k] for k in ("run", "step", "summary")},
              "flow_minus_mtl": gap, "met": gap >= 0}
    out = write_outputs(args.out_dir, stem, result, md)
    plot_loss(curve, budget, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
