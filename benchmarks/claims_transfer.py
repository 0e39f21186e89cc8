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

    python benchmarks/claims_transfer.py --preset nano --steps 1000 --seeds 0,1,2 \\
        --variants recipe,rot-view,rot-both,mag,demean,r16,hapt+synthetic
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from claims_common import RESULTS, RUNS, data_name, markdown_table, pyplot, recipe_tag, train_config, write_outputs
from flowfm_edge.data import load_source
from flowfm_edge.models import ModelConfig
from flowfm_edge.recipe import model_overrides
from flowfm_edge.training import load_model, read_config, train

# name: (ModelConfig changes to the recipe, pretraining data; None = --data)
VARIANTS: dict[str, tuple[dict, str | None]] = {
    "recipe": ({}, None),
    "rot-view": ({"view_rotate_deg": 180.0}, None),  # the encoder's view rotated, the generator rebuilds the original
    "rot-both": ({"augment_rotate_deg": 180.0}, None),  # the training window rotated before both views
    "mag": ({"encoder_input": "xyz+mag"}, None),
    "demean": ({"encoder_input": "xyz-mean"}, None),
    "r16": ({"r_dim": 16}, None),
    "hapt+synthetic": ({}, "hapt+synthetic"),
}


def run_dir(args, name: str, seed: int) -> Path:
    return RUNS / f"transfer-{data_name(args.data)}-{args.preset}-{name}-{args.steps}steps-seed{seed}-recipe{recipe_tag()}"


def ensure(args, name: str, seed: int) -> tuple[Path, float | None]:
    """The finished run of variant ``name`` at ``seed``; trained now unless already there (seconds, or None)."""
    changes, data = VARIANTS[name]
    out = run_dir(args, name, seed)
    try:
        if read_config(out)["step"] == args.steps:
            return out, None
    except ValueError:
        pass
    spec = data or args.data
    ws = load_source(spec, split="pretrain")
    ws.meta["spec"] = spec
    t0 = time.perf_counter()
    train(ws, out, ModelConfig.from_preset(args.preset, **model_overrides(**changes)), train_config(args.steps, seed),
          progress=False, device="cpu")
    seconds = round(time.perf_counter() - t0, 1)
    print(f"trained {out} in {seconds:.0f} s", flush=True)
    return out, seconds


def score(args, run: Path, seed: int, home, target) -> dict:
    """In-domain, transfer and rotation figures of one run and its untrained twin."""
    from flowfm_edge.evaluation.transfer import encoder_sets, rotation_report, transfer_report

    model, _ = load_model(run)
    row = {"run": str(run), "seed": seed}
    t = transfer_report(encoder_sets(model, target.ws, seed), target, shots=args.shots, draws=args.draws)
    h = transfer_report(encoder_sets(model, home.ws, seed), home, shots=(), draws=0)
    rot = rotation_report(model, home, seed, conditions=("random",), rotation_seed=args.rotation_seed)
    for key, rep in (("transfer", t), ("home", h)):
        row[key] = {name: res["headline"] for name, res in rep["full"].items()}
        row[key + "_few_shot"] = {name: {str(k): v["headline"]["mean"] for k, v in res.items()}
                                  for name, res in rep["few_shot"].items()}
    row["rotation_drop"] = {name: res["conditions"]["random"]["drop"] for name, res in rot["results"].items()}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt", help="the in-domain data: pretraining (unless a variant names its own) "
                                                   "and the in-domain and rotation probes")
    ap.add_argument("--target", default="basicmotions", help="the transfer target (a labelled source)")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--shots", default="1,5,10", type=lambda s: tuple(int(x) for x in s.split(",") if x))
    ap.add_argument("--draws", type=int, default=10, help="few-shot draws per k")
    ap.add_argument("--rotation-seed", type=int, default=0)
    ap.add_argument("--train-only", action="store_true", help="train the runs one at a time and stop")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = {}
    for seed in seeds:  # seed by seed across the variants: a partial result stays balanced
        for name in names:
            runs[name, seed] = ensure(args, name, seed)
    if args.train_only:
        return
    report(args, names, seeds, runs)


def report(args, names: list[str], seeds: list[int], runs: dict) -> None:
    from flowfm_edge.evaluation.transfer import Target, fixed_rotation_sets, transfer_report
    from flowfm_edge.evaluation.baselines import fixed_features

    home, target = Target.of(load_source(args.data)), Target.of(load_source(args.target))
    stem = f"claims_transfer_{data_name(args.data)}_{args.preset}_{args.steps}steps{args.tag}"
    baselines = {
        "transfer": transfer_report(fixed_features(target.ws), target, shots=args.shots, draws=args.draws),
        "home": transfer_report(fixed_features(home.ws), home, shots=(), draws=0),
        "rotation": fixed_rotation_sets(home, conditions=("random",), rotation_seed=args.rotation_seed),
    }
    result = {"claim": "a FlowFM encoder that keeps its gain away from its pretraining data",
              "protocol": {"data": args.data, "target": args.target, "preset": args.preset, "steps": args.steps,
                           "batch": 64, "seeds": seeds, "shots": list(args.shots), "draws": args.draws,
                           "rotation": f"uniform random 3-D rotation per test window, seed {args.rotation_seed}",
                           "variants": {n: VARIANTS[n] for n in names}, "home_folds": home.describe(),
                           "target_folds": target.describe()},
              "baselines": baselines, "rows": []}
    for (name, seed), (run, seconds) in runs.items():
        row = score(args, run, seed, home, target) | {"variant": name, "train_seconds": seconds}
        result["rows"].append(row)
        print(f"{name:<15} seed {seed}: home {row['home']['FlowFM r']:.3f} transfer {row['transfer']['FlowFM r']:.3f} "
              f"rotation drop {row['rotation_drop']['FlowFM r']:+.3f}", flush=True)
        write_report(stem, result, names)


def stat(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def pm(values: list[float]) -> str:
    m, s = stat(values)
    return f"{m:.3f} +- {s:.3f}"


def summarise(result: dict, names: list[str]) -> list[dict]:
    """Per variant: mean and SD over seeds of every figure and of the paired gains over the untrained twin."""
    out = []
    for name in names:
        rows = [r for r in result["rows"] if r["variant"] == name]
        if not rows:
            continue
        col = lambda f: [f(r) for r in rows]  # noqa: E731
        out.append({"variant": name, "seeds": len(rows),
                    "home": col(lambda r: r["home"]["FlowFM r"]),
                    "home_gain": col(lambda r: r["home"]["FlowFM r"] - r["home"]["untrained encoder"]),
                    "transfer": col(lambda r: r["transfer"]["FlowFM r"]),
                    "transfer_untrained": col(lambda r: r["transfer"]["untrained encoder"]),
                    "transfer_gain": col(lambda r: r["transfer"]["FlowFM r"] - r["transfer"]["untrained encoder"]),
                    "few_shot": {k: col(lambda r, k=k: r["transfer_few_shot"]["FlowFM r"][k])
                                 for k in rows[0]["transfer_few_shot"]["FlowFM r"]},
                    "rotation_drop": col(lambda r: r["rotation_drop"]["FlowFM r"]),
                    "rotation_drop_untrained": col(lambda r: r["rotation_drop"]["untrained encoder"])})
    return out


def write_report(stem: str, result: dict, names: list[str]) -> None:
    summary = summarise(result, names)
    result["summary"] = summary
    b = result["baselines"]
    shots = list(summary[0]["few_shot"]) if summary else []
    table = [[s["variant"], s["seeds"], pm(s["home"]), pm(s["home_gain"]), pm(s["transfer"]),
              pm(s["transfer_untrained"]), pm(s["transfer_gain"]), *[pm(s["few_shot"][k]) for k in shots],
              pm(s["rotation_drop"]), pm(s["rotation_drop_untrained"])] for s in summary]
    for name in ("hand-crafted", "raw windows"):
        table.append([name, "-", f"{b['home']['full'][name]['headline']:.3f}", "-",
                      f"{b['transfer']['full'][name]['headline']:.3f}", "-", "-",
                      *[f"{b['transfer']['few_shot'][name][k]['headline']['mean']:.3f}" for k in shots],
                      f"{b['rotation']['results'][name]['conditions']['random']['drop']:.3f}", "-"])
    md = markdown_table(["variant", "seeds", "HAPT F1 (per subject)", "gain over untrained",
                         f"{result['protocol']['target']} F1", "untrained", "gain over untrained",
                         *[f"{k}-shot" for k in shots], "HAPT drop under rotation", "untrained's drop"], table)
    write_outputs(stem, json.loads(json.dumps(result)), md)
    plot(stem, summary, b)


def plot(stem: str, summary: list[dict], baselines: dict) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    x = np.arange(len(summary))
    labels = [s["variant"] for s in summary]
    panels = (("home", None, "HAPT macro-F1 (per subject)", baselines["home"]["full"]),
              ("transfer", "transfer_untrained", "BasicMotions macro-F1 (archive test)", baselines["transfer"]["full"]),
              ("rotation_drop", "rotation_drop_untrained", "HAPT drop under random rotation", None))
    for ax, (key, twin, title, base) in zip(axes, panels):
        m = [stat(s[key]) for s in summary]
        ax.bar(x - 0.2, [v[0] for v in m], 0.4, yerr=[v[1] for v in m], capsize=3, label="FlowFM r")
        if twin:
            t = [stat(s[twin]) for s in summary]
            ax.bar(x + 0.2, [v[0] for v in t], 0.4, yerr=[v[1] for v in t], capsize=3, color="C7", label="untrained")
        if base is not None:
            for name, colour in (("hand-crafted", "C3"), ("raw windows", "C2")):
                ax.axhline(base[name]["headline"], ls="--", lw=1, color=colour, label=name)
        elif key == "rotation_drop":
            ax.axhline(baselines["rotation"]["results"]["hand-crafted"]["conditions"]["random"]["drop"], ls="--", lw=1,
                       color="C3", label="hand-crafted")
        ax.set_xticks(x, labels, fontsize=7, rotation=25)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle(stem.replace("_", " "), fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stem}.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
