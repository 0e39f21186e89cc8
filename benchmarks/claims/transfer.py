"""A recipe that travels: pretraining variants scored in-domain (HAPT), on a wrist target (BasicMotions) and under rotation.

Protocol. Every variant is FlowFM trained with the recipe (``flowfm_edge.recipe``) plus its
own changes, on ``--data``'s pretraining windows (labels unused; the ``hapt+synthetic``
variant on both sources), for ``--steps`` steps of batch 64 with one thread, per seed. Runs
train one at a time, seed by seed across the variants, so a partial result stays balanced.
Each run is then scored three ways, each beside the same encoder untrained (same config and
seed), all through ``flowfm_edge.evaluation.transfer``:

- in-domain: the project's probe on HAPT's subject folds (5 x 80/20), macro-F1 per subject;
- transfer: the probe on ``--target``'s own folds (BasicMotions: the archive's 40/40 split,
  pooled macro-F1 over its 40 test windows), and few-shot probes (k windows per class from
  the training part, ``--draws`` draws, fixed C) at ``--shots``;
- orientation: the HAPT probe fitted on the windows as recorded, tested on the same test
  subjects' windows each under its own uniformly random 3-D rotation (seeded): the drop in
  per-subject macro-F1.

The hand-crafted features and raw windows are scored once per protocol (they do not depend
on the run). Reported per variant: mean +- SD over seeds of each figure, and the paired
gain over the untrained twin. Writes ``benchmarks/results/claims_transfer_<data>_<preset>_<steps>steps.{json,md,png}``.

    python -m benchmarks.claims.transfer --preset nano --steps 1000 --seeds 0,1,2 \\
        --variants recipe,rot-view,rot-both,mag,demean,r16,hapt+synthetic
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.claims.runs import RUNS, add_out_dir, data_name, recipe_tag, train_config, write_outputs
from benchmarks.kit import ints, markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.plots import pyplot, save_figure
from flowfm_edge.training.run_config import resolve_run_config
from flowfm_edge.training import load_model, read_config, train

# name: (ModelConfig changes to the recipe, pretraining data; None = --data)
VARIANTS: dict[str, tuple[dict, str | None]] = {
    "recipe": ({}, None),
    "rot-view": ({"view_rotate_deg": 180.0}, None),  # the encoder's view rotated, the generator rebuilds the original
    "rot-both": ({"augment_rotate_deg": 180.0}, None),  # the training window rotated before both views
    "mag": ({"encoder_input": "xyz+mag"}, None),
    "demean": ({"encoder_input": "xyz-mean"}, None),
    "gravity-frame": ({"encoder_input": "gravity-frame"}, None),  # reads only what no rotation changes
    "r16": ({"r_dim": 16}, None),
    "r-l2": ({"r_norm": "l2"}, None),  # r on the unit sphere: a bottleneck on its scale
    "hapt+synthetic": ({}, "hapt+synthetic"),
}


def run_dir(args, name: str, seed: int) -> Path:
    return RUNS / f"transfer-{data_name(args.data)}-{args.preset}-{name}-{args.steps}steps-seed{seed}-recipe{recipe_tag()}"


def ensure(args, name: str, seed: int) -> tuple[Path, float | None]:
    """The finished run of variant ``name`` at ``seed``; trained now unless already there (seconds, or None)."""
    changes, data = VARIANTS[name]
    out = run_dir(args, name, seed)
    try:
        step = read_config(out)["step"]
    except ValueError:
        step = None
    if step == args.steps:
        return out, None
    spec = data or args.data
    ws = load_source(spec, split="pretrain")
    ws.meta["spec"] = spec
    t0 = time.perf_counter()
    if step is not None:  # a run stopped part-way (checkpoints every 500 steps): go on from its last one
        print(f"resuming {out} at step {step} of {args.steps}", flush=True)
    train(ws, out, resolve_run_config({"preset": args.preset, **changes}).model, train_config(args.steps, seed),
          resume=step is not None, progress=False, device="cpu")
    seconds = round(time.perf_counter() - t0, 1)
    print(f"trained {out} in {seconds:.0f} s" + (f" (from step {step})" if step is not None else ""), flush=True)
    return out, seconds if step is None else None  # a resumed run's time is not a whole training's


def cache_name(args) -> str:
    """What a run's scores depend on besides the run: the target, the shots, the draws and the rotations."""
    return (f"transfer_scores_{data_name(args.data)}_{data_name(args.target)}_k{'-'.join(map(str, args.shots))}"
            f"_d{args.draws}_rot{'-'.join(args.rotations)}_s{args.rotation_seed}.json")


def score(args, run: Path, seed: int, home, target) -> dict:
    """Transfer and rotation figures of one run and its untrained twin, kept in the run (scored once).

    The in-domain figure is the rotation report's "as recorded" score: the project's probe
    (the same fit on the same folds as ``probe_folds``) on the home windows.
    """
    from flowfm_edge.evaluation.baselines import feature_sets
    from flowfm_edge.evaluation.transfer import model_featurizers, rotation_report, transfer_report

    cache = run / cache_name(args)
    if cache.is_file():
        return json.loads(cache.read_text())
    model, _ = load_model(run)
    t = transfer_report(feature_sets(model, target.ws, seed, baselines=("untrained encoder",)), target,
                        shots=args.shots, draws=args.draws)
    rot = rotation_report(model_featurizers(model, seed), home, args.rotations, args.rotation_seed)
    row = {"run": str(run), "seed": seed, "step": read_config(run)["step"],
           "home": {n: r["as recorded"] for n, r in rot["results"].items()},
           "transfer": {n: r["headline"] for n, r in t["full"].items()},
           "transfer_few_shot": {n: {k: v["headline"]["mean"] for k, v in r.items()} for n, r in t["few_shot"].items()},
           "rotation": {n: {c: v["headline"] for c, v in r["conditions"].items()} for n, r in rot["results"].items()},
           "rotation_drop": {n: {c: v["drop"] for c, v in r["conditions"].items()} for n, r in rot["results"].items()}}
    cache.write_text(json.dumps(row, indent=1))
    return row


def baselines(args, home, target) -> dict:
    """The hand-crafted features and raw windows under the same three protocols (they need no run; scored once)."""
    from flowfm_edge.evaluation.baselines import fixed_features
    from flowfm_edge.evaluation.transfer import fixed_featurizers, rotation_report, transfer_report

    cache = RUNS / cache_name(args).replace("transfer_scores", "transfer_baselines")
    if cache.is_file():
        return json.loads(cache.read_text())
    t = transfer_report(fixed_features(target.ws), target, shots=args.shots, draws=args.draws)
    rot = rotation_report(fixed_featurizers(), home, args.rotations, args.rotation_seed)
    out = {"home": {n: r["as recorded"] for n, r in rot["results"].items()},
           "transfer": {n: r["headline"] for n, r in t["full"].items()},
           "transfer_few_shot": {n: {k: v["headline"] for k, v in r.items()} for n, r in t["few_shot"].items()},
           "rotation": {n: {c: v["headline"] for c, v in r["conditions"].items()} for n, r in rot["results"].items()},
           "rotation_drop": {n: {c: v["drop"] for c, v in r["conditions"].items()} for n, r in rot["results"].items()},
           "target": t["target"], "home_folds": rot["target"], "rotations": rot["conditions"],
           "rotation_seeds": rot["rotation_seed"], "few_shot_protocol": t["few_shot_protocol"]}
    RUNS.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt", help="the in-domain data: pretraining (unless a variant names its own) "
                                                   "and the in-domain and rotation probes")
    ap.add_argument("--target", default="basicmotions", help="the transfer target (a labelled source)")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--shots", default="1,5,10", type=lambda s: tuple(ints(s)))
    ap.add_argument("--draws", type=int, default=10, help="few-shot draws per k")
    ap.add_argument("--rotations", default="random,30,60,90", type=lambda s: tuple(x for x in s.split(",") if x))
    ap.add_argument("--rotation-seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true", help="train the runs one at a time and stop")
    ap.add_argument("--score-only", action="store_true", help="score the runs already trained (train none)")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    add_out_dir(ap)
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {}
    for seed in seeds:  # seed by seed across the variants: a partial result stays balanced
        for name in names:
            if args.score_only:
                try:
                    if read_config(run_dir(args, name, seed))["step"] == args.steps:
                        runs[name, seed] = (run_dir(args, name, seed), None)
                except ValueError:
                    pass
            else:
                runs[name, seed] = ensure(args, name, seed)
    if args.train_only:
        return
    report(args, names, seeds, runs)


def report(args, names: list[str], seeds: list[int], runs: dict) -> None:
    from flowfm_edge.evaluation.transfer import Target

    home, target = Target.of(load_source(args.data)), Target.of(load_source(args.target))
    stem = f"claims_transfer_{data_name(args.data)}_{args.preset}_{args.steps}steps{args.tag}"
    base = baselines(args, home, target)
    result = {"claim": "a FlowFM encoder that keeps its gain away from its pretraining data",
              "protocol": {"data": args.data, "target": args.target, "preset": args.preset, "steps": args.steps,
                           "batch": 64, "seeds": seeds, "shots": list(args.shots), "draws": args.draws,
                           "rotations": base["rotations"], "rotation_seeds": base["rotation_seeds"],
                           "variants": {n: VARIANTS[n] for n in names}, "home_folds": base["home_folds"],
                           "target_folds": base["target"], "few_shot": base["few_shot_protocol"]},
              "baselines": base, "rows": []}
    for (name, seed), (run, seconds) in runs.items():
        row = score(args, run, seed, home, target) | {"variant": name, "train_seconds": seconds}
        result["rows"].append(row)
        print(f"{name:<15} seed {seed}: home {row['home']['FlowFM r']:.3f} transfer {row['transfer']['FlowFM r']:.3f} "
              f"rotation drop {row['rotation_drop']['FlowFM r']['random']:+.3f}", flush=True)
        write_report(args.out_dir, stem, result, names)


def stat(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def pm(values: list[float]) -> str:
    m, s = stat(values)
    return f"{m:.3f} +- {s:.3f}"


def summarise(result: dict, names: list[str]) -> list[dict]:
    """Per variant: every figure over its seeds (lists), FlowFM's and the untrained twin's, and the paired gains."""
    out = []
    for name in names:
        rows = [r for r in result["rows"] if r["variant"] == name]
        if not rows:
            continue
        col = lambda f: [f(r) for r in rows]  # noqa: E731
        fl, un = "FlowFM r", "untrained encoder"
        shots = list(rows[0]["transfer_few_shot"][fl])
        conditions = list(rows[0]["rotation_drop"][fl])
        out.append({"variant": name, "seeds": [r["seed"] for r in rows],
                    "home": col(lambda r: r["home"][fl]), "home_untrained": col(lambda r: r["home"][un]),
                    "home_gain": col(lambda r: r["home"][fl] - r["home"][un]),
                    "transfer": col(lambda r: r["transfer"][fl]), "transfer_untrained": col(lambda r: r["transfer"][un]),
                    "transfer_gain": col(lambda r: r["transfer"][fl] - r["transfer"][un]),
                    "few_shot": {k: col(lambda r, k=k: r["transfer_few_shot"][fl][k]) for k in shots},
                    "few_shot_untrained": {k: col(lambda r, k=k: r["transfer_few_shot"][un][k]) for k in shots},
                    "rotation_drop": {c: col(lambda r, c=c: r["rotation_drop"][fl][c]) for c in conditions},
                    "rotation_drop_untrained": {c: col(lambda r, c=c: r["rotation_drop"][un][c]) for c in conditions}})
    return out


def write_report(out_dir: Path, stem: str, result: dict, names: list[str]) -> None:
    summary = summarise(result, names)
    result["summary"] = summary
    if not summary:
        return
    b = result["baselines"]
    shots, conditions = list(summary[0]["few_shot"]), list(summary[0]["rotation_drop"])
    target = result["protocol"]["target"]
    main = [[s["variant"], len(s["seeds"]), pm(s["home"]), pm(s["home_gain"]), pm(s["transfer"]),
             pm(s["transfer_untrained"]), pm(s["transfer_gain"]), *[pm(s["few_shot"][k]) for k in shots],
             pm(s["rotation_drop"]["random"]), pm(s["rotation_drop_untrained"]["random"])] for s in summary]
    for name in ("hand-crafted", "raw windows"):
        main.append([name, "-", f"{b['home'][name]:.3f}", "-", f"{b['transfer'][name]:.3f}", "-", "-",
                     *[f"{b['transfer_few_shot'][name][k]['mean']:.3f} +- {b['transfer_few_shot'][name][k]['sd']:.3f}"
                       for k in shots], f"{b['rotation_drop'][name]['random']:.3f}", "-"])
    md = markdown_table(["variant", "seeds", "HAPT F1 (per subject)", "gain over untrained", f"{target} F1 (pooled)",
                         "untrained", "gain over untrained", *[f"{k}-shot" for k in shots],
                         "HAPT drop, random rotation", "untrained's drop"], main)
    few = []
    for s in summary:
        few.append([s["variant"], "FlowFM r", pm(s["transfer"]), *[pm(s["few_shot"][k]) for k in shots]])
        few.append([s["variant"], "untrained", pm(s["transfer_untrained"]), *[pm(s["few_shot_untrained"][k]) for k in shots]])
    for name in ("hand-crafted", "raw windows"):
        few.append(["-", name, f"{b['transfer'][name]:.3f}",
                    *[f"{b['transfer_few_shot'][name][k]['mean']:.3f} +- {b['transfer_few_shot'][name][k]['sd']:.3f}"
                      for k in shots]])
    md += f"\n\nFew-shot on {target} (mean +- SD over seeds of the mean over draws; baselines: over draws):\n\n"
    md += markdown_table(["variant", "features", "full probe", *[f"{k}-shot" for k in shots]], few)
    rot = []
    for s in summary:
        rot.append([s["variant"], "FlowFM r", pm(s["home"]), *[pm(s["rotation_drop"][c]) for c in conditions]])
        rot.append([s["variant"], "untrained", pm(s["home_untrained"]),
                    *[pm(s["rotation_drop_untrained"][c]) for c in conditions]])
    for name in ("hand-crafted", "raw windows"):
        rot.append(["-", name, f"{b['home'][name]:.3f}", *[f"{b['rotation_drop'][name][c]:.3f}" for c in conditions]])
    md += "\n\nDrop of HAPT per-subject macro-F1 when the test windows are rotated (fitted as recorded):\n\n"
    md += markdown_table(["variant", "features", "as recorded", *[c if c == "random" else f"{c} deg" for c in conditions]],
                         rot)
    out = write_outputs(out_dir, stem, json.loads(json.dumps(result)), md)
    plot(out.with_suffix(".png"), stem, summary, b)


def plot(path: Path, stem: str, summary: list[dict], baselines: dict) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    x = np.arange(len(summary))
    labels = [s["variant"] for s in summary]
    drop = lambda s, key: s[key]["random"]  # noqa: E731
    panels = ((lambda s: s["home"], lambda s: s["home_untrained"], "HAPT macro-F1 (per subject)", baselines["home"]),
              (lambda s: s["transfer"], lambda s: s["transfer_untrained"], "BasicMotions macro-F1 (archive test)",
               baselines["transfer"]),
              (lambda s: drop(s, "rotation_drop"), lambda s: drop(s, "rotation_drop_untrained"),
               "HAPT drop under random rotation", {n: v["random"] for n, v in baselines["rotation_drop"].items()}))
    for ax, (value, twin, title, base) in zip(axes, panels):
        m = [stat(value(s)) for s in summary]
        ax.bar(x - 0.2, [v[0] for v in m], 0.4, yerr=[v[1] for v in m], capsize=3, label="FlowFM r")
        t = [stat(twin(s)) for s in summary]
        ax.bar(x + 0.2, [v[0] for v in t], 0.4, yerr=[v[1] for v in t], capsize=3, color="C7", label="untrained")
        for name, colour in (("hand-crafted", "C3"), ("raw windows", "C2")):
            ax.axhline(base[name], ls="--", lw=1, color=colour, label=name)
        ax.set_xticks(x, labels, fontsize=7, rotation=25)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(stem.replace("_", " "), fontsize=9)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
