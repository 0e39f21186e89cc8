"""Dynamic Guidance Switching (DGS) ablation: p in {0, 0.25, 0.5, 0.75}.

Protocol. FlowFM is trained for ``--steps`` steps at each DGS probability p (the chance of
replacing r by zeros per training sample), otherwise identically. For each run:
downstream macro F1 of the linear probe (``evaluate_downstream`` on the labelled split,
subject-wise splits, docs/design.md#splits) and generation quality: Frechet distance (FD) in the frozen
feature net's space, best over Euler steps, in both modes (reconstruction: r =
embed(real window); unconditional: r from the model's prior where it has one, else 0), of
``--n`` (1,000) generated windows against as many real windows of the split the runs train
on (the pretrain split of ``--data``). Every FD carries its 95% bootstrap interval (200
resamples, seed = the run seed), and the real-vs-real floor (two disjoint real halves of
the same size) is reported with its interval.

    python -m benchmarks.claims.dgs --data hapt --preset nano --steps 300 --seeds 0
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.claims.runs import (add_out_dir, arguments, best_quality, data_name, ensure_run, feature_net, load,
                                    training_reference, write_outputs)
from benchmarks.kit import ints, markdown_table
from flowfm_edge.data import load_source
from flowfm_edge.evaluation import FitConfig, evaluate_downstream
from flowfm_edge.evaluation.frechet import format_fd
from flowfm_edge.plots import pyplot, save_figure

MODES = ("reconstruction", "unconditional")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="0", type=ints)
    ap.add_argument("--p", default="0,0.25,0.5,0.75", help="DGS probabilities")
    ap.add_argument("--flow-steps", default="1,2,4,8,16", type=ints)
    ap.add_argument("--n", type=int, default=1000, help="generated windows per FD, against as many real ones")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--tag", default="", help="suffix of the result files (for seeds measured in separate invocations)")
    add_out_dir(ap)
    return ap


def run_row(args, seed: int, p: float, ws, real, reference, net) -> dict:
    """The probe and the best FD in both modes of the run at DGS probability ``p`` and ``seed``."""
    model = load(ensure_run(args.data, args.preset, "flow", args.steps, seed, p_dgs=p))
    probe = evaluate_downstream(model, ws, "linear-probe", "auto", FitConfig(max_epochs=args.epochs, seed=seed))
    q = {m: best_quality(model, "flow", real, net, args.flow_steps, mode=m, n=args.n, seed=seed, reference=reference)
         for m in MODES}
    row = {"seed": seed, "p_dgs": p, "probe_f1_per_subject": probe["per_subject"]["macro_f1"]["mean"],
           "probe_f1_sd": probe["per_subject"]["macro_f1"]["sd"], "probe_f1_pooled": probe["pooled"]["macro_f1"],
           **{f"fd_{m}": q[m]["best"]["frechet"] for m in MODES},
           **{f"sampler_{m}": q[m]["best"]["sampler"] for m in MODES},
           "r_unconditional": q["unconditional"]["best"]["r"],
           "static_unconditional": q["unconditional"]["best"]["static_fraction"],
           "fd_floor": q[MODES[0]]["floor"], "fd_floor_n": q[MODES[0]]["floor_n"], "quality": q}
    print(f"seed {seed} p {p:.2f}: probe F1 {row['probe_f1_per_subject']:.3f}, FD recon "
          f"{format_fd(row['fd_reconstruction'], 3)}, FD uncond {format_fd(row['fd_unconditional'], 3)} "
          f"(r {row['r_unconditional']}), floor {format_fd(row['fd_floor'], 3)}", flush=True)
    return row


def dgs_table(rows: list[dict]) -> str:
    """One table row per run: intervals belong to single measurements, not to means over seeds."""
    table = [[r["p_dgs"], r["seed"], r["probe_f1_per_subject"], r["probe_f1_sd"], r["probe_f1_pooled"],
              format_fd(r["fd_reconstruction"], 3), format_fd(r["fd_unconditional"], 3),
              f"{r['static_unconditional']['generated']:.1%} / {r['static_unconditional']['real']:.1%}",
              format_fd(r["fd_floor"], 3)] for r in rows]
    return markdown_table(["p_dgs", "seed", "probe macro-F1 per subject", "SD over subjects", "probe macro-F1 pooled",
                           "best FD reconstruction [95% CI]", "best FD unconditional [95% CI]",
                           "static windows unconditional / real", "FD real vs real [95% CI]"], table)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    ws = load_source(args.data, split="labelled")
    real, reference = training_reference(args.data)
    net = feature_net(args.data)
    rows = [run_row(args, seed, p, ws, real, reference, net)
            for seed in args.seeds for p in (float(v) for v in args.p.split(","))]
    rows.sort(key=lambda r: (r["p_dgs"], r["seed"]))
    result = {"claim": "DGS ablation: downstream F1 and generation quality against p",
              "protocol": arguments(args) | {"fd": "best over Euler steps", "probe": "linear, subject-wise, labelled split",
                                        "reference": reference, "bootstrap": rows[0]["quality"][MODES[0]]["bootstrap"]
                                        if rows else None}, "rows": rows}
    stem = f"claims_dgs_{data_name(args.data)}_{args.preset}_{args.steps}steps{args.tag}"
    out = write_outputs(args.out_dir, stem, result, dgs_table(rows))
    plot(rows, out.with_suffix(".png"), f"DGS ablation, {data_name(args.data)}, {args.preset}, {args.steps} steps")


def plot(rows: list[dict], path, title: str) -> None:
    """Probe F1 (mean +- SD over subjects) and best FD (95% bootstrap interval) against p, one point per run."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    ps = [r["p_dgs"] for r in rows]
    a1.errorbar(ps, [r["probe_f1_per_subject"] for r in rows], yerr=[r["probe_f1_sd"] for r in rows], fmt="o", capsize=3)
    a1.set(xlabel="p_dgs", ylabel="linear-probe macro F1 (per subject)")
    for m in MODES:
        fd = np.array([[r[f"fd_{m}"]["fd"], r[f"fd_{m}"]["ci_low"], r[f"fd_{m}"]["ci_high"]] for r in rows])
        a2.errorbar(ps, fd[:, 0], yerr=[fd[:, 0] - fd[:, 1], fd[:, 2] - fd[:, 0]], fmt="o", capsize=3, label=m)
    if rows and rows[0]["fd_floor"]:
        a2.axhline(rows[0]["fd_floor"]["fd"], color="grey", ls=":", lw=0.8, label="real vs real")
    a2.set(xlabel="p_dgs", ylabel="best Frechet distance (95% bootstrap)", yscale="log")
    a2.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
