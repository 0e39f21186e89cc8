"""Training time for FlowFM to reach the diffusion twin's final generation quality (paper: 49.6%).

Protocol. FlowFM and its diffusion twin (same preset, data, seed and training recipe) are
trained for ``--steps`` steps each, interleaved in slices of ``--slice`` steps (diffusion
slice, then FlowFM slice, ...) so that load from other processes falls on both alike.
Training time is the loop's own ``elapsed_s`` (metrics.csv), summed over slices: model
build, checkpointing and evaluation are not counted. After every slice both EMA
checkpoints are scored: Frechet distance (FD) of ``--n`` (1,000) unconditional samples (r
from the model's prior where it has one, else 0; each row records which) in the frozen
feature net's space, against as many real windows of the split both models train on (the
pretrain split of ``--data``), best over the sampler settings (FlowFM: Euler steps;
diffusion: DDIM steps, plus DDPM ancestral at the end), each FD with its 95% bootstrap
interval (200 resamples, seed = the run seed); the real-vs-real floor is reported beside
it. The target is the diffusion twin's final FD at its best sampler; FlowFM's time to
target is the training time at the first checkpoint whose best FD matches it
(``flowfm_edge.evaluation.quality.matches``: FD <= the upper end of the target's
interval). Because the
machine may be shared, the fraction is also given with each run's time estimated as
(median seconds per step) x steps, which discounts load spikes.

The runs are the ones ``ensure_run`` names (``runs/claims/``), so the other claim scripts reuse
them. After every slice the curves so far are saved beside them; ``--resume`` continues an
interrupted comparison from its last slice, and a fresh start retrains both runs.

    python -m benchmarks.claims.training_time --data hapt --preset nano --steps 300 --slice 50 --seeds 0
    CLAIMS_THREADS=2 python -m benchmarks.claims.training_time --data hapt --preset tiny --steps 10000 --slice 2000 \
        --solver midpoint --flow-steps 1,2,4,8 --resume
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics

import numpy as np

from benchmarks.claims.runs import (RUNS, add_out_dir, arguments, best_quality, data_name, feature_net, load, model_config,
                                    recipe_tag, run_dir, train_config, training_reference, write_outputs)
from benchmarks.kit import markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.evaluation.frechet import format_fd, matches
from flowfm_edge.plots import pyplot, save_figure
from flowfm_edge.training import read_config, train


def step_seconds(run, start: int, stop: int) -> list[float]:
    """Seconds of each step in (start, stop] of the call that ran them, from metrics.csv (logged every step)."""
    with (run / "metrics.csv").open() as f:
        elapsed = [float(r["elapsed_s"]) for r in csv.DictReader(f) if start < int(r["step"]) <= stop]
    return list(np.diff([0.0] + elapsed))


def progress_path(args, seed: int):
    """Where the curves of an unfinished comparison are kept, so ``--resume`` continues it."""
    return RUNS / f"time-{data_name(args.data)}-{args.preset}-{args.steps}steps-slice{args.slice}-seed{seed}-recipe{recipe_tag()}.json"


def saved_progress(args, seed: int, runs: dict) -> dict | None:
    """The state of an interrupted comparison with these settings, if both runs stand at its last slice."""
    path = progress_path(args, seed)
    if not (args.resume and path.is_file()):
        return None
    state = json.loads(path.read_text())
    if state["settings"] != settings(args):
        print(f"{path}: saved with other settings ({state['settings']}); starting over", flush=True)
        return None
    for run in runs.values():
        try:
            if read_config(run)["step"] != state["stop"]:
                return None
        except ValueError:
            return None
    return state


def settings(args) -> dict:
    return {k: getattr(args, k) for k in ("flow_steps", "solver", "ddim_steps", "ddpm_steps", "n", "p_dgs")}


def one_seed(args, seed: int, ws, real, reference, net) -> dict:
    flow_steps = [int(s) for s in args.flow_steps.split(",")]
    ddim_steps = [int(s) for s in args.ddim_steps.split(",")]
    cfg = train_config(args.steps, seed, log_every=1, ckpt_every=10**9)
    # The runs other claim scripts use (``ensure_run``), so a finished comparison also serves them.
    runs = {obj: run_dir(args.data, args.preset, obj, args.steps, seed, args.p_dgs) for obj in ("diffusion", "flow")}
    state = saved_progress(args, seed, runs)
    if state is None:
        for run in runs.values():
            if run.exists():
                print(f"removing {run}: timing needs fresh runs", flush=True)
            shutil.rmtree(run, ignore_errors=True)
        state = {"settings": settings(args), "stop": 0, "curves": {obj: [] for obj in runs},
                 "per_step": {obj: [] for obj in runs}}
    else:
        print(f"resuming at step {state['stop']} from {progress_path(args, seed)}", flush=True)
    curves, per_step = state["curves"], state["per_step"]
    seconds = {obj: sum(per_step[obj]) for obj in runs}
    for stop in range(state["stop"] + args.slice, args.steps + 1, args.slice):
        order = list(runs.items())[:: 1 if (stop // args.slice) % 2 else -1]  # alternate who goes first
        for obj, run in order:
            mcfg = model_config(args.preset, obj, args.p_dgs)
            train(ws, run, mcfg, cfg, resume=stop > args.slice, device="cpu", progress=False, until=stop)
            per_step[obj] += step_seconds(run, stop - args.slice, stop)
            seconds[obj] = sum(per_step[obj])
            final = stop == args.steps and obj == "diffusion"
            q = best_quality(load(run), obj, real, net, flow_steps if obj == "flow" else ddim_steps, n=args.n,
                             ddpm_steps=args.ddpm_steps if final else 0, seed=seed, reference=reference,
                             solver=args.solver if obj == "flow" else "euler")
            curves[obj].append({"step": stop, "train_s": round(seconds[obj], 2),
                                "train_s_median": round(stop * statistics.median(per_step[obj]), 2), **q["best"], "rows": q["rows"],
                                "floor": q["floor"], "floor_n": q["floor_n"]})
            print(f"seed {seed} {obj:>9} step {stop:>5}  {seconds[obj]:7.1f} s  best FD {format_fd(q['best']['frechet'])} "
                  f"({q['best']['sampler']}, r {q['best']['r']}); floor {format_fd(q['floor'])}", flush=True)
        state["stop"] = stop
        progress_path(args, seed).write_text(json.dumps(state))  # an interrupted comparison resumes here
    target = curves["diffusion"][-1]["frechet"]
    hit = next((p for p in curves["flow"] if matches(p["frechet"], target)), None)
    return {"seed": seed, "target_fd": target, "target_sampler": curves["diffusion"][-1]["sampler"],
            "floor": curves["diffusion"][-1]["floor"], "floor_n": curves["diffusion"][-1]["floor_n"],
            "diffusion_train_s": seconds["diffusion"], "flow_train_s": seconds["flow"],
            "flow_step_to_target": hit and hit["step"], "flow_s_to_target": hit and hit["train_s"],
            "fraction": hit and hit["train_s"] / seconds["diffusion"],
            "fraction_median_step": hit and hit["train_s_median"] / curves["diffusion"][-1]["train_s_median"],
            "median_step_s": {obj: statistics.median(v) for obj, v in per_step.items()}, "curves": curves}


def plot(result: dict, path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in result["seeds"]:
        for obj, style in (("flow", "o-"), ("diffusion", "s--")):
            c = r["curves"][obj]
            fd = np.array([[p["frechet"]["fd"], p["frechet"]["ci_low"], p["frechet"]["ci_high"]] for p in c])
            ax.errorbar([p["train_s"] for p in c], fd[:, 0], yerr=[fd[:, 0] - fd[:, 1], fd[:, 2] - fd[:, 0]], fmt=style,
                        capsize=2, label=f"{obj} seed {r['seed']}")
        ax.axhline(r["target_fd"]["ci_high"], color="grey", lw=0.8)  # matching = at or below this line
        if r["floor"]:
            ax.axhline(r["floor"]["fd"], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="training time (s, loop only)",
           ylabel="best FD, unconditional (95% bootstrap; grey: target's upper end, dotted: floor)", yscale="log",
           title=f"FlowFM vs diffusion twin: quality along training ({result['protocol']['data']}, {result['protocol']['preset']})")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--slice", type=int, default=50, help="steps per interleaved slice (and per quality check)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--p-dgs", type=float, default=None, help="DGS probability of both models (default: the recipe's)")
    ap.add_argument("--n", type=int, default=1000, help="generated windows per FD, against as many real ones")
    ap.add_argument("--flow-steps", default="1,2,4,8,16", help="FlowFM solver steps scored at every check")
    ap.add_argument("--solver", default="euler", help="FlowFM's ODE solver (midpoint: 2 NFE per step)")
    ap.add_argument("--ddim-steps", default="10,25,50")
    ap.add_argument("--ddpm-steps", type=int, default=1000, help="DDPM ancestral steps for the final target (0: none)")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted comparison with the same settings "
                                                           "(otherwise both runs start over)")
    add_out_dir(ap)
    args = ap.parse_args()
    if args.steps % args.slice:
        raise SystemExit(f"--steps {args.steps} must be a multiple of --slice {args.slice}")
    ws = load_source(args.data, split="pretrain")
    ws.meta["spec"] = args.data
    real, reference = training_reference(args.data)
    net = feature_net(args.data)
    seeds = [one_seed(args, int(s), ws, real, reference, net) for s in args.seeds.split(",")]
    result = {"claim": "FlowFM reaches the diffusion twin's final quality in 49.6% of its training time",
              "protocol": arguments(args) | {"mode": "unconditional", "timing": "training loop elapsed_s, interleaved slices",
                                        "reference": reference, "bootstrap": "95% percentile interval, recentred; "
                                        "200 resamples, seed = run seed", "matched": "FD <= upper end of the "
                                        "target's interval"},
              "seeds": seeds}
    rows = [[r["seed"], f"{format_fd(r['target_fd'])} ({r['target_sampler']})", format_fd(r["floor"]),
             f"{r['diffusion_train_s']:.1f}", f"{r['flow_train_s']:.1f}", format_fd(r['curves']['flow'][-1]['frechet']),
             r["flow_step_to_target"] or "not reached",
             f"{r['flow_s_to_target']:.1f}" if r["fraction"] else "-",
             f"{100 * r['fraction']:.1f}%" if r["fraction"] else f"> {100 * r['flow_train_s'] / r['diffusion_train_s']:.0f}%",
             f"{100 * r['fraction_median_step']:.1f}%" if r["fraction"] else "-"]
            for r in seeds]
    md = markdown_table(["seed", "diffusion final FD [95% CI] (best sampler)", "FD real vs real [95% CI]",
                         "diffusion train s", "flow train s", "flow final FD [95% CI]", "flow step at target",
                         "flow s at target", "flow time / diffusion time", "same, median step time x steps"], rows)
    stem = f"claims_training_time_{data_name(args.data)}_{args.preset}"
    out = write_outputs(args.out_dir, stem, result, md)
    plot(result, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
