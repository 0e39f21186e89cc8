"""Dynamic Guidance Switching (DGS) ablation: p in {0, 0.25, 0.5, 0.75}.

Protocol. FlowFM is trained for ``--steps`` steps at each DGS probability p (the chance of
replacing r by zeros per training sample), otherwise identically. For each run:
downstream macro F1 of the linear probe (``evaluate_downstream``, subject-wise splits,
SPEC 5) and generation quality: Frechet distance (FD) in the frozen feature net's space,
best over Euler steps, in both modes (reconstruction: r = embed(real window);
unconditional: r = 0), against ``--n`` real windows.

    python benchmarks/claims_dgs.py --data hapt --preset nano --steps 300 --seeds 0
"""

from __future__ import annotations

import argparse

import numpy as np

from claims_common import best_quality, data_name, ensure_run, feature_net, load, markdown_table, pyplot, write_outputs
from flowfm_edge.data import load_source
from flowfm_edge.evaluation import FitConfig, evaluate_downstream

MODES = ("reconstruction", "unconditional")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--p", default="0,0.25,0.5,0.75", help="DGS probabilities")
    ap.add_argument("--flow-steps", default="1,2,4,8,16")
    ap.add_argument("--n", type=int, default=256, help="real windows per FD (as many generated)")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    ws = load_source(args.data, split="labelled")
    net = feature_net(args.data)
    steps = [int(s) for s in args.flow_steps.split(",")]
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for p in (float(v) for v in args.p.split(",")):
            model = load(ensure_run(args.data, args.preset, "flow", args.steps, seed, p_dgs=p))
            probe = evaluate_downstream(model, ws, "linear-probe", "auto", FitConfig(max_epochs=args.epochs, seed=seed))
            q = {m: best_quality(model, "flow", ws.X, net, steps, mode=m, n=args.n, seed=seed) for m in MODES}
            rows.append({"seed": seed, "p_dgs": p, "probe_f1_per_subject": probe["per_subject"]["macro_f1"]["mean"],
                         "probe_f1_sd": probe["per_subject"]["macro_f1"]["sd"], "probe_f1_pooled": probe["pooled"]["macro_f1"],
                         **{f"fd_{m}": q[m]["best"]["frechet"] for m in MODES},
                         **{f"sampler_{m}": q[m]["best"]["sampler"] for m in MODES}, "fd_floor": q[MODES[0]]["floor"],
                         "quality": q})
            print(f"seed {seed} p {p:.2f}: probe F1 {rows[-1]['probe_f1_per_subject']:.3f}, FD recon "
                  f"{rows[-1]['fd_reconstruction']:.3f}, FD uncond {rows[-1]['fd_unconditional']:.3f}", flush=True)
    ps = sorted({r["p_dgs"] for r in rows})
    mean = lambda key, p: float(np.mean([r[key] for r in rows if r["p_dgs"] == p]))  # noqa: E731
    table = [[p, mean("probe_f1_per_subject", p), mean("probe_f1_sd", p), mean("probe_f1_pooled", p),
              mean("fd_reconstruction", p), mean("fd_unconditional", p), mean("fd_floor", p)] for p in ps]
    md = markdown_table(["p_dgs", "probe macro-F1 per subject", "SD over subjects", "probe macro-F1 pooled",
                         "best FD reconstruction", "best FD unconditional", "FD real vs real"], table)
    result = {"claim": "DGS ablation: downstream F1 and generation quality against p",
              "protocol": vars(args) | {"fd": "best over Euler steps", "probe": "linear, subject-wise"}, "rows": rows}
    stem = f"claims_dgs_{data_name(args.data)}_{args.preset}"
    write_outputs(stem, result, md)
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    a1.errorbar(ps, [t[1] for t in table], yerr=[t[2] for t in table], marker="o", capsize=3)
    a1.set(xlabel="p_dgs", ylabel="linear-probe macro F1 (per subject)")
    for i, m in enumerate(MODES):
        a2.plot(ps, [t[4 + i] for t in table], marker="o", label=m)
    a2.set(xlabel="p_dgs", ylabel="best Frechet distance", yscale="log")
    a2.legend(fontsize=8)
    fig.suptitle(f"DGS ablation, {data_name(args.data)}, {args.preset}, {args.steps} steps", fontsize=10)
    fig.tight_layout()
    fig.savefig(f"benchmarks/results/{stem}.png", dpi=120)


if __name__ == "__main__":
    main()
