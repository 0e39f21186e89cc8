"""Generation quality against NFE: FlowFM's solvers at matched NFE vs its diffusion twin, one protocol.

Protocol. FlowFM and the twin are trained with the same recipe, preset, data, steps and seed
(``--steps``; runs cached under ``runs/claims/``). Unconditional generation draws r from each
run's prior over r (``r`` column; "zero" where a run has none). Every setting generates
1,000 windows scored against 1,000 windows of the training split with the frozen HAR feature
network: Frechet distance (FD) with its 95% bootstrap interval, the real-vs-real floor, the
static-window fraction and the spectral distance (``flowfm_edge.evaluation.quality``).
FlowFM: Euler, midpoint, Heun, RK4 and the stochastic Euler-Maruyama sampler at the same
NFE budgets; the twin: DDIM at 10..250 steps and DDPM-1000. A FlowFM setting matches a twin
setting when its FD is at or below the upper end of the twin's interval; the NFE ratio at the
smallest matching FlowFM NFE is reported (latency at matched quality, in one runtime, is what
``flowfm-edge bench compare`` measures on exported bundles).

    python -m benchmarks.claims.generation_nfe --data hapt --preset nano --steps 1000 --seed 0
"""

from __future__ import annotations

import argparse

from benchmarks.claims.runs import (add_out_dir, arguments, best_quality, data_name, ensure_run, feature_net, load,
                                    training_reference, write_outputs)
from benchmarks.kit import ints, markdown_table
from flowfm_edge.evaluation.frechet import format_fd, matches
from flowfm_edge.plots import pyplot, save_figure
from flowfm_edge.recipe import RECIPE
from flowfm_edge.solvers import SOLVERS

FLOW_SOLVERS = ("euler", "midpoint", "heun", "rk4", "euler-sde")


def flow_rows(model, real, net, reference, nfe_budgets: list[int], seed: int) -> tuple[list[dict], dict]:
    rows = []
    for solver in FLOW_SOLVERS:
        per_step = 1 if solver == "euler-sde" else SOLVERS[solver][1]
        steps = sorted({max(1, n // per_step) for n in nfe_budgets if n >= per_step})
        q = best_quality(model, "flow", real, net, steps, reference=reference, seed=seed, solver=solver)
        rows += [{"model": "flowfm", **r} for r in q["rows"]]
        floor = q["floor"]
        print(f"  flowfm {solver}: " + ", ".join(f"{r['sampler']} {format_fd(r['frechet'], 1)}" for r in q["rows"]),
              flush=True)
    return rows, floor


def matched(rows: list[dict], twin_rows: list[dict]) -> dict:
    """Per twin setting: the fewest-NFE FlowFM setting whose FD is at or below the upper end of the twin's interval."""
    decisions = {}
    for target in twin_rows:
        ok = sorted((r for r in rows if matches(r["frechet"], target["frechet"])), key=lambda r: r["nfe"])
        decisions[target["sampler"]] = ({"flow_setting": ok[0]["sampler"], "flow_nfe": ok[0]["nfe"],
                                         "twin_nfe": target["nfe"], "nfe_ratio": target["nfe"] / ok[0]["nfe"]}
                                        if ok else None)
    return decisions


def nfe_tables(rows: list[dict], twin_rows: list[dict], floor: dict, decisions: dict) -> str:
    table = [[r["model"], r["sampler"], r["nfe"], format_fd(r["frechet"], 2), r["r"],
              f"{r['static_fraction']['generated']:.3f}", f"{r['psd_db']:.2f}"] for r in rows + twin_rows]
    md = markdown_table(["model", "sampler", "NFE", "FD [95% CI]", "r", "static fraction", "PSD distance (dB)"], table)
    md += f"\n\nfloor (two halves of the training split): {format_fd(floor, 2)}; real static fraction " \
          f"{rows[0]['static_fraction']['real']:.3f}\n\n"
    return md + markdown_table(["twin setting", "smallest matching FlowFM setting", "FlowFM NFE", "twin NFE", "NFE ratio"],
                               [[k, v["flow_setting"], v["flow_nfe"], v["twin_nfe"], f"{v['nfe_ratio']:.1f}x"] if v else
                                [k, "none", "-", "-", "-"] for k, v in decisions.items()])


def plot(rows: list[dict], twin_rows: list[dict], floor: dict, path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for solver in FLOW_SOLVERS + ("ddim", "ddpm"):
        rs = [r for r in rows + twin_rows if r["sampler"].rsplit("-", 1)[0] == solver]
        if rs:
            ax.errorbar([r["nfe"] for r in rs], [r["frechet"]["fd"] for r in rs],
                        yerr=[[r["frechet"]["fd"] - r["frechet"]["ci_low"] for r in rs],
                              [r["frechet"]["ci_high"] - r["frechet"]["fd"] for r in rs]],
                        marker="o" if solver in FLOW_SOLVERS else "s", capsize=2, label=solver)
    if floor:
        ax.axhspan(floor["ci_low"], floor["ci_high"], color="k", alpha=0.1, label="real vs real")
    ax.set(xscale="log", yscale="log", xlabel="NFE", ylabel="FD (95% CI)", title=title)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="nano")
    ap.add_argument("--steps", type=int, default=1000, help="training steps of each model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p-dgs", type=float, default=None, help="DGS probability of both runs (default: the recipe's)")
    ap.add_argument("--nfe", default="4,8,16,32,64", type=ints, help="FlowFM NFE budgets")
    ap.add_argument("--ddim-steps", default="10,25,50,100,250", type=ints)
    ap.add_argument("--ddpm-steps", type=int, default=1000)
    add_out_dir(ap)
    args = ap.parse_args(argv)
    p = RECIPE["model"]["p_dgs"] if args.p_dgs is None else args.p_dgs
    net, (real, reference) = feature_net(args.data), training_reference(args.data)
    flow = load(ensure_run(args.data, args.preset, "flow", args.steps, args.seed, p))
    twin = load(ensure_run(args.data, args.preset, "diffusion", args.steps, args.seed, p))
    rows, floor = flow_rows(flow, real, net, reference, args.nfe, args.seed)
    q = best_quality(twin, "diffusion", real, net, args.ddim_steps, reference=reference, seed=args.seed,
                     ddpm_steps=args.ddpm_steps)
    twin_rows = [{"model": "twin", **r} for r in q["rows"]]
    print("  twin: " + ", ".join(f"{r['sampler']} {format_fd(r['frechet'], 1)}" for r in twin_rows), flush=True)
    decisions = matched(rows, twin_rows)
    stem = f"generation_nfe_{data_name(args.data)}_{args.preset}_{args.steps}steps_p{p:g}"
    out = write_outputs(args.out_dir, stem, {"protocol": arguments(args) | {"p_dgs": p, "recipe": RECIPE},
                                             "reference": reference, "floor": floor, "flow": rows, "twin": twin_rows,
                                             "matched": decisions}, nfe_tables(rows, twin_rows, floor, decisions))
    plot(rows, twin_rows, floor, out.with_suffix(".png"), stem.replace("_", " "))


if __name__ == "__main__":
    main()
