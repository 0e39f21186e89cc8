"""Which recipe makes FlowFM's encoder learn: ablations, each beside its untrained twin.

Protocol. Every variant is FlowFM trained on ``--data``'s pretraining windows (labels
unused) for ``--steps`` steps of batch 64 with one thread, for each seed; then the
5-fold subject-wise probe of ``flowfm_edge.evaluation.probe`` (standardised features,
converged logistic regression, C chosen on validation subjects) scores its embeddings and
those of the same architecture untrained (same config and seed). The hand-crafted HAR
features and the raw windows are probed once on the same folds. Reported per variant:
macro-F1 per-subject mean (mean and SD over seeds) and the gain over the untrained encoder
(mean over seeds of the paired difference, with its SD).

    python -m benchmarks.claims.ablate_representation --data hapt --preset nano --steps 600 --seeds 0,1,2 \\
        --variants main,matrices,mask50,mask75,views,bottleneck,noise-heavy,p0.25,combo
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.claims.runs import (RUNS, add_out_dir, best_quality, data_name, feature_net, training_reference,
                                    write_outputs)
from benchmarks.kit import ints, markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.evaluation.baselines import fixed_features, untrained_like
from flowfm_edge.evaluation.embed import embed_windows
from flowfm_edge.evaluation.probe import probe_folds, probe_protocol
from flowfm_edge.evaluation.splits import subject_folds
from flowfm_edge.models import ModelConfig
from flowfm_edge.plots import pyplot, save_figure
from flowfm_edge.training import TrainConfig, load_model, read_config, train

# name: (ModelConfig overrides, TrainConfig overrides). "main" is the recipe before these ablations.
MAIN = ({"p_dgs": 0.5}, {"decay": "all"})
VARIANTS: dict[str, tuple[dict, dict]] = {
    "main": MAIN,
    "matrices": ({"p_dgs": 0.5}, {"decay": "matrices"}),
    "mask50": ({"p_dgs": 0.5, "view_mask": 0.5}, {"decay": "matrices"}),
    "mask75": ({"p_dgs": 0.5, "view_mask": 0.75}, {"decay": "matrices"}),
    "views": ({"p_dgs": 0.5, "view_rotate_deg": 30.0, "view_scale": 0.1, "view_shift": 30}, {"decay": "matrices"}),
    "bottleneck": ({"p_dgs": 0.5, "r_dim": 32, "r_norm": "layernorm"}, {"decay": "matrices"}),
    "l2": ({"p_dgs": 0.5, "r_dim": 32, "r_norm": "l2"}, {"decay": "matrices"}),
    "noise-heavy": ({"p_dgs": 0.5, "time_sampling": "noise-heavy"}, {"decay": "matrices"}),
    "p0.25": ({"p_dgs": 0.25}, {"decay": "matrices"}),
    "p0": ({"p_dgs": 0.0}, {"decay": "matrices"}),
    "p0-fp32": ({"p_dgs": 0.0}, {"decay": "matrices", "amp": "off", "attention": "default"}),  # the loop before bf16
    "combo": ({"p_dgs": 0.25, "view_mask": 0.5, "view_rotate_deg": 30.0, "view_scale": 0.1, "view_shift": 30,
               "r_dim": 32, "r_norm": "layernorm"}, {"decay": "matrices"}),
    "mask50-nh": ({"p_dgs": 0.5, "view_mask": 0.5, "time_sampling": "noise-heavy"}, {"decay": "matrices"}),
    "mask75-views": ({"p_dgs": 0.5, "view_mask": 0.75, "view_rotate_deg": 30.0, "view_scale": 0.1,
                      "view_shift": 30}, {"decay": "matrices"}),
    "lr3e-4": ({"p_dgs": 0.5}, {"decay": "matrices", "lr": 3e-4}),
    "p0.1": ({"p_dgs": 0.1}, {"decay": "matrices"}),
    "p0-mask50": ({"p_dgs": 0.0, "view_mask": 0.5}, {"decay": "matrices"}),
    "p0-views": ({"p_dgs": 0.0, "view_rotate_deg": 30.0, "view_scale": 0.1, "view_shift": 30}, {"decay": "matrices"}),
    "p0-nh": ({"p_dgs": 0.0, "time_sampling": "noise-heavy"}, {"decay": "matrices"}),
    "p0-r32ln": ({"p_dgs": 0.0, "r_dim": 32, "r_norm": "layernorm"}, {"decay": "matrices"}),
    "p0-r32l2": ({"p_dgs": 0.0, "r_dim": 32, "r_norm": "l2"}, {"decay": "matrices"}),
    "p0-lr3e-4": ({"p_dgs": 0.0}, {"decay": "matrices", "lr": 3e-4}),
    "p0-lr3e-3": ({"p_dgs": 0.0}, {"decay": "matrices", "lr": 3e-3}),
    "p0-b128": ({"p_dgs": 0.0}, {"decay": "matrices", "batch_size": 128}),
}


def ensure(args, name: str, seed: int):
    mkw, tkw = VARIANTS[name]
    out = RUNS / f"ablate-{data_name(args.data)}-{args.preset}-{name}-{args.steps}steps-seed{seed}"
    try:
        if read_config(out)["step"] == args.steps:
            return out, None
    except ValueError:
        pass
    ws = load_source(args.data, split="pretrain")
    ws.meta["spec"] = args.data
    cfg = TrainConfig(steps=args.steps, seed=seed, warmup=max(1, min(100, args.steps // 10)), **tkw)
    t0 = time.perf_counter()
    train(ws, out, ModelConfig.from_preset(args.preset, **mkw), cfg, progress=False, device="cpu")
    return out, round(time.perf_counter() - t0, 1)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", default="0,1,2", type=ints)
    ap.add_argument("--variants", default="main,matrices,mask50,mask75,views,bottleneck,noise-heavy,p0.25,combo")
    ap.add_argument("--no-baselines", action="store_true", help="skip the hand-crafted and raw-window probes")
    ap.add_argument("--tag", default="", help="suffix of the result files (for runs split across processes)")
    ap.add_argument("--fd-steps", default="", type=ints, help="also score unconditional generation (r from the run's "
                                                              "prior) at these Euler steps, e.g. 16: FD with its 95%% "
                                                              "interval, N = 1000")
    ap.add_argument("--merge", default="", help="comma-separated tags: merge their result files into one table and stop")
    add_out_dir(ap)
    return ap


def variant_row(args, name: str, seed: int, ws, folds, quality) -> dict:
    """One run of ``name`` at ``seed`` (trained unless cached), probed beside its untrained twin; FD if asked."""
    y = np.asarray(ws.y)
    run, seconds = ensure(args, name, seed)
    model, config = load_model(run)
    p = probe_folds(embed_windows(model, ws.X), y, ws.pid, folds, n_classes=ws.n_classes)
    p0 = probe_folds(embed_windows(untrained_like(model, seed), ws.X), y, ws.pid, folds, n_classes=ws.n_classes)
    f1, f10 = p["per_subject"]["macro_f1"]["mean"], p0["per_subject"]["macro_f1"]["mean"]
    row = {"variant": name, "seed": seed, "run": str(run), "train_seconds": seconds, "f1": f1,
           "f1_pooled": p["pooled"]["macro_f1"], "f1_untrained": f10, "f1_untrained_pooled": p0["pooled"]["macro_f1"],
           "gain": f1 - f10, "kappa": p["per_subject"]["kappa"]["mean"], "converged": p["converged"] and p0["converged"],
           "final_loss": final_loss(run)}
    if quality:
        net, real, reference = quality
        q = best_quality(model, "flow", real, net, args.fd_steps, reference=reference, seed=seed)
        row |= {"fd": q["best"]["frechet"], "fd_sampler": q["best"]["sampler"], "fd_r": q["best"]["r"],
                "fd_floor": q["floor"], "static_generated": q["best"]["static_fraction"]["generated"]}
    print(f"{name:<12} seed {seed}: FlowFM {f1:.3f}  untrained {f10:.3f}  gain {f1 - f10:+.3f}"
          f"  ({seconds or 'cached'} s)", flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.merge:
        return merge(args)
    threadpool_limits(1)  # one BLAS thread, like torch here: two such processes share the 2 cores
    ws = load_source(args.data, split="labelled")
    folds = subject_folds(ws.pid)
    stem = f"ablation_representation_{data_name(args.data)}_{args.preset}_{args.steps}steps{args.tag}"
    result = {"claim": "the FlowFM encoder beats its untrained twin and hand-crafted features (linear probe)",
              "protocol": probe_protocol(folds) | {"steps": args.steps, "batch": 64, "preset": args.preset,
                                                    "data": args.data, "variants": {k: VARIANTS[k] for k in
                                                                                     args.variants.split(",")}},
              "baselines": {}, "rows": []}
    for name, F in ({} if args.no_baselines else fixed_features(ws)).items():
        result["baselines"][name] = probe_folds(F, np.asarray(ws.y), ws.pid, folds, n_classes=ws.n_classes)
        print(f"{name}: {result['baselines'][name]['per_subject']['macro_f1']['mean']:.3f}", flush=True)
    quality = (feature_net(args.data), *training_reference(args.data)) if args.fd_steps else None
    for name in args.variants.split(","):
        for seed in args.seeds:
            result["rows"].append(variant_row(args, name, seed, ws, folds, quality))
            report(args.out_dir, stem, result)


def merge(args) -> None:
    """One table from the result files of runs split across processes (``--tag``); later rows win."""
    stem = f"ablation_representation_{data_name(args.data)}_{args.preset}_{args.steps}steps"
    merged, rows = None, {}
    for tag in args.merge.split(","):
        part = json.loads((args.out_dir / f"{stem}{tag}.json").read_text())
        merged = merged or part
        merged["baselines"] |= part["baselines"]
        merged["protocol"]["variants"] |= part["protocol"]["variants"]
        rows |= {(r["variant"], r["seed"]): r for r in part["rows"]}
    order = list(dict.fromkeys(v for v, _ in rows))
    merged["rows"] = sorted(rows.values(), key=lambda r: (order.index(r["variant"]), r["seed"]))
    for key in ("env", "command", "date", "machine"):  # the merged file records its own
        merged.pop(key, None)
    report(args.out_dir, stem, merged)


def final_loss(run) -> float:
    import csv

    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return float(np.mean([float(r["loss"]) for r in rows[-10:]]))


def interval(fd: dict) -> str:
    return f"{fd['ci_low']:.1f}-{fd['ci_high']:.1f}"


def summarise(rows: list[dict]) -> list[list]:
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == name]
        f1, f10, gain = (np.array([r[k] for r in rs]) for k in ("f1", "f1_untrained", "gain"))
        fd = [r["fd"]["fd"] for r in rs if "fd" in r]
        out.append([name, len(rs), float(f1.mean()), float(f1.std()), float(f10.mean()), float(gain.mean()),
                    float(gain.std()), float(np.mean([r["final_loss"] for r in rs])),
                    f"{np.mean(fd):.2f} ({', '.join(interval(r['fd']) for r in rs if 'fd' in r)})" if fd else "-"])
    return out


def report(out_dir, stem: str, result: dict) -> None:
    table = summarise(result["rows"])
    base = [[k, "-", v["per_subject"]["macro_f1"]["mean"], v["per_subject"]["macro_f1"]["sd"], "-", "-", "-", "-", "-"]
            for k, v in result["baselines"].items()]
    md = markdown_table(["variant", "seeds", "FlowFM F1 (per-subject mean, mean over seeds)", "SD over seeds",
                         "untrained F1", "gain over untrained", "SD of gain", "final loss",
                         "FD unconditional (mean; 95% CI per seed)"], table + base)
    out = write_outputs(out_dir, stem, json.loads(json.dumps(result)), md)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(table))
    ax.bar(x - 0.2, [t[2] for t in table], 0.4, yerr=[t[3] for t in table], capsize=3, label="FlowFM r")
    ax.bar(x + 0.2, [t[4] for t in table], 0.4, label="untrained encoder", color="C7")
    for k, v in result["baselines"].items():
        ax.axhline(v["per_subject"]["macro_f1"]["mean"], ls="--", lw=1, label=k,
                   color={"hand-crafted": "C3", "raw windows": "C2"}.get(k, "k"))
    ax.set_xticks(x, [t[0] for t in table], fontsize=7, rotation=20)
    ax.set(ylabel="macro-F1 (per-subject mean)", ylim=(0.4, 1.0), title=stem.replace("_", " "))
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
