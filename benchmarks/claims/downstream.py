"""Downstream HAR macro-F1: FlowFM vs diffusion twin vs SSL-Wearables-style MTL vs scratch.

Protocol. Each pretraining objective (flow, diffusion, mtl) is trained for ``--steps``
steps on the unlabelled + labelled windows of ``--data`` with the same recipe and seed
(``--mtl-steps`` for the 10.5M-parameter MTL ResNet, which ignores the preset (docs/design.md#baselines) and
costs far more per step on a CPU). Each is then evaluated with
``flowfm_edge.evaluation.evaluate_downstream`` under the linear probe (frozen encoder) and
fine-tuning (all layers); "scratch" is the FlowFM encoder architecture from random weights,
trained on labels only. Splits are by subject (docs/design.md#splits: LOSO for <= 10 subjects, else
5 x 80/20 with seeds 42/41). The linear probe is the one converged probe of
``flowfm_edge.evaluation.probe``; beside it on the same folds: each pretrained architecture
untrained (same seed), hand-crafted HAR features and raw windows. Fine-tune and scratch stop
early on validation loss (patience 10, at most 100 epochs) and a result whose folds hit the
cap is marked. Reported: macro F1 as mean +- SD over test subjects and pooled.

    python -m benchmarks.claims.downstream --data hapt --preset tiny --steps 10000 --mtl-steps 3000 --seeds 0
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.claims.runs import add_out_dir, arguments, data_name, ensure_run, load, write_outputs
from benchmarks.kit import markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.evaluation import FitConfig, evaluate_downstream
from flowfm_edge.evaluation.baselines import fixed_features, untrained_like
from flowfm_edge.evaluation.probe import probe_folds
from flowfm_edge.evaluation.splits import subject_folds
from flowfm_edge.plots import pyplot, save_figure

OBJECTIVES = ("flow", "diffusion", "mtl")
PROTOCOLS = ("linear-probe", "fine-tune")


def score(model, ws, protocol: str, args, seed: int) -> dict:
    r = evaluate_downstream(model, ws, protocol, args.split, FitConfig(max_epochs=args.epochs, patience=args.patience, seed=seed))
    f1 = r["per_subject"]["macro_f1"]
    print(f"  {r['model']['objective']:>9} {protocol:<12} macro-F1 {f1['mean']:.3f} +- {f1['sd']:.3f} "
          f"(pooled {r['pooled']['macro_f1']:.3f}), {r['seconds']:.0f} s", flush=True)
    return {"per_subject_mean": f1["mean"], "per_subject_sd": f1["sd"], "pooled": r["pooled"]["macro_f1"],
            "kappa_pooled": r["pooled"]["kappa"], "split": r["split"], "folds": r["folds"], "seconds": r["seconds"],
            "converged": r["fit"]["converged"], "capped_folds": r["fit"].get("capped_folds")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=300, help="pretraining steps of every objective")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help="of the pretrained models (scratch always runs)")
    ap.add_argument("--split", default="auto")
    ap.add_argument("--epochs", type=int, default=100, help="most epochs per fold, fine-tune and scratch (early stopping; "
                                                              "folds that reach it are flagged)")
    ap.add_argument("--mtl-steps", type=int, default=None, help="pretraining steps of the MTL ResNet (default: --steps)")
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--tag", default="", help="suffix of the result files (for rows measured in separate invocations)")
    ap.add_argument("--no-baselines", action="store_true", help="skip the hand-crafted and raw-window probes")
    add_out_dir(ap)
    args = ap.parse_args()
    ws = load_source(args.data, split="labelled")
    rows = [] if args.no_baselines else baseline_rows(ws, args)
    for seed in (int(s) for s in args.seeds.split(",")):
        for obj in args.objectives.split(","):  # scratch after the generative twins, before the costly MTL ResNet
            if obj == "mtl":
                scratch(args, ws, seed, rows)
            steps = args.mtl_steps if obj == "mtl" and args.mtl_steps else args.steps
            model = load(ensure_run(args.data, args.preset, obj, steps, seed))
            for p in args.protocols.split(","):
                rows.append({"seed": seed, "model": obj, "protocol": p, **score(model, ws, p, args, seed)})
                report(args, rows)  # after every row, so an interrupted run keeps what it measured
            if "linear-probe" in args.protocols.split(","):  # the same architecture, untrained, same seed
                rows.append({"seed": seed, "model": f"{obj} untrained", "protocol": "linear-probe",
                             **score(untrained_like(model, seed), ws, "linear-probe", args, seed)})
                report(args, rows)
        if "mtl" not in args.objectives.split(","):
            scratch(args, ws, seed, rows)


def baseline_rows(ws, args) -> list[dict]:
    """The hand-crafted HAR features and raw windows under the same probe and folds."""
    folds = subject_folds(ws.pid, args.split)
    rows = []
    for name, F in fixed_features(ws).items():
        r = probe_folds(F, np.asarray(ws.y), ws.pid, folds, n_classes=ws.n_classes)
        f1 = r["per_subject"]["macro_f1"]
        print(f"  {name:>12} linear-probe macro-F1 {f1['mean']:.3f} +- {f1['sd']:.3f}", flush=True)
        rows.append({"seed": "-", "model": name, "protocol": "linear-probe", "per_subject_mean": f1["mean"],
                     "per_subject_sd": f1["sd"], "pooled": r["pooled"]["macro_f1"], "kappa_pooled": r["pooled"]["kappa"],
                     "folds": r["folds"], "converged": r["converged"], "seconds": r["seconds"]})
    return rows


def scratch(args, ws, seed: int, rows: list) -> None:
    flow = load(ensure_run(args.data, args.preset, "flow", args.steps, seed))
    rows.append({"seed": seed, "model": "scratch", "protocol": "scratch", **score(flow, ws, "scratch", args, seed)})
    report(args, rows)


def report(args, rows: list) -> None:
    """The table over seeds so far, written with its plot (after every row, so an interrupted run keeps them)."""
    summary = {}
    for r in rows:
        summary.setdefault((r["model"], r["protocol"]), []).append(r)
    table = [[m, p, float(np.mean([r["per_subject_mean"] for r in rs])), float(np.mean([r["per_subject_sd"] for r in rs])),
              float(np.mean([r["pooled"] for r in rs])), len(rs),
              "yes" if all(r.get("converged", True) for r in rs) else "NO (epoch cap)"] for (m, p), rs in summary.items()]
    md = markdown_table(["model", "protocol", "macro-F1 per subject (mean)", "SD over subjects", "macro-F1 pooled",
                         "seeds", "converged"], table)
    result = {"claim": "FlowFM's representation beats SSL-Wearables' on downstream HAR (macro F1)",
              "protocol": arguments(args) | {"metric": "macro F1; per-subject mean +- SD and pooled"}, "rows": rows}
    stem = f"claims_downstream_{data_name(args.data)}_{args.preset}_{args.steps}steps{args.tag}"
    out = write_outputs(args.out_dir, stem, result, md)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(range(len(table)), [t[2] for t in table], yerr=[t[3] for t in table], capsize=3,
           color=[{"flow": "C0", "diffusion": "C1", "mtl": "C2"}.get(t[0], "C7") for t in table])
    ax.set_xticks(range(len(table)), [f"{t[0]}\n{t[1]}" for t in table], fontsize=7)
    ax.set(ylabel="macro F1 (per-subject mean +- SD)", ylim=(0, 1), title=f"Downstream HAR, {data_name(args.data)}, {args.preset}, {args.steps} steps")
    save_figure(fig, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
