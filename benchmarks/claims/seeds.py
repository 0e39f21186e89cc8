"""The stated budget at more seeds: FlowFM runs probed and scored under one protocol, then summarised over seeds.

Protocol. Each run is FlowFM trained with the recipe on ``--data``'s pretraining windows
(``flowfm-edge train``, resumable, so a 10,000-step tiny run survives an interruption), then
probed with ``flowfm-edge probe`` (the project's one probe beside the same encoder untrained
with the run's seed, the hand-crafted features and the raw windows, on the same subject folds).
This script reads each run's ``probe.json`` and scores its unconditional generation (r from the
run's prior) with the claims' FD protocol: midpoint at ``--flow-steps``, 1,000 windows against
1,000 windows of the training split, 95% bootstrap interval; the best setting is reported.
``--earlier`` adds seeds measured before (a saved ``probe.json`` and, optionally, the best FD
of that run, as ``PROBE_JSON[:FD[:LOW:HIGH]]``, or an earlier result of this script, whose rows
keep their FD sweeps). Over all seeds: mean and SD of FlowFM's
per-subject macro-F1, of its paired gain over its untrained twin, and of its margin over the
hand-crafted features (the same for every seed: the folds are fixed).

``--twins`` adds diffusion twins at the same budget (``flowfm-edge train --objective diffusion``,
same recipe and seed as a FlowFM run), scored under the same FD protocol with DDIM at
``--ddim-steps`` and DDPM ancestral at ``--ddpm-steps``. Per seed, against the twin's DDPM and
against its best DDIM, the matched FlowFM setting is the fewest-NFE one whose FD is at or below
the upper end of the reference's interval (``flowfm_edge.evaluation.frechet.matches``), and the
NFE ratio is the reference's NFE over it. ``--earlier-twins`` reads seeds measured before from a
``benchmarks.claims.training_time`` result (its final FlowFM and twin sweeps).

    flowfm-edge train --data hapt --preset tiny --steps 10000 --seed 1 --resume \\
        --out runs/claims/hapt-tiny-flow-p0-10000steps-seed1
    flowfm-edge probe runs/claims/hapt-tiny-flow-p0-10000steps-seed1 --data hapt
    CLAIMS_THREADS=2 python -m benchmarks.claims.seeds --data hapt --preset tiny --steps 10000 \\
        --runs runs/claims/hapt-tiny-flow-p0-10000steps-seed1 \\
        --earlier benchmarks/results/probe_hapt_tiny_10000steps.json:4.48:2.14:8.36
    flowfm-edge train --data hapt --preset tiny --steps 10000 --seed 1 --objective diffusion --resume \\
        --out runs/claims/hapt-tiny-diffusion-p0-10000steps-seed1
    CLAIMS_THREADS=2 python -m benchmarks.claims.seeds ... --twins runs/claims/hapt-tiny-diffusion-p0-10000steps-seed1 \\
        --earlier-twins benchmarks/results/claims_training_time_hapt_tiny.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.claims.runs import (add_out_dir, arguments, best_quality, data_name, feature_net, load,
                                    training_reference, write_outputs)
from benchmarks.kit import ints, markdown_table
from flowfm_edge.evaluation.frechet import format_fd, matches
from flowfm_edge.training import read_config

FEATURES = ("FlowFM r", "untrained encoder", "hand-crafted", "raw windows")


def probe_row(probe: dict) -> dict:
    """Per-subject macro-F1 of every feature set in a ``probe.json`` (the ``summary`` rows)."""
    f1 = {r["features"]: r["f1_mean"] for r in probe["summary"]}
    missing = [f for f in FEATURES if f not in f1]
    if missing:
        raise ValueError(f"probe.json lacks the rows {missing}; run `flowfm-edge probe` with every baseline")
    return {"seed": probe.get("untrained_seed"), "step": probe.get("step"), **{f: f1[f] for f in FEATURES},
            "converged": all(r["converged"] for r in probe["summary"])}


def earlier_rows(spec: str) -> list[dict]:
    """Seeds measured before: a saved ``probe.json`` (``PATH[:FD[:LOW:HIGH]]``) or an earlier result of this script."""
    path, *fd = spec.split(":")
    saved = json.loads(Path(path).read_text())
    if "rows" in saved and "summary" in saved:  # claims_seeds_*.json: every row, FD sweeps included
        return saved["rows"]
    row = probe_row(saved) | {"source": path}
    if fd:
        row["fd"] = {"fd": float(fd[0]), "ci_low": float(fd[1]), "ci_high": float(fd[2])} if len(fd) == 3 else {"fd": float(fd[0])}
    return [row]


def run_row(run: Path, args, real, reference, net) -> dict:
    probe = run / "probe.json"
    if not probe.is_file():
        raise FileNotFoundError(f"{probe}: missing; run `flowfm-edge probe {run} --data {args.data}` first")
    finished(run, args.steps)
    q = best_quality(load(run), "flow", real, net, args.flow_steps, n=args.n, reference=reference, solver=args.solver)
    return probe_row(json.loads(probe.read_text())) | {"source": str(run), "fd": q["best"]["frechet"],
                                                       "fd_setting": q["best"]["sampler"], "fd_nfe": q["best"]["nfe"],
                                                       "fd_rows": q["rows"], "floor": q["floor"]}


def finished(run: Path, steps: int) -> dict:
    """The run's saved config, once its checkpoint stands at ``steps``."""
    config = read_config(run)
    if config["step"] != steps:
        raise ValueError(f"{run}: checkpoint at step {config['step']}, not --steps {steps}; finish it with --resume")
    return config


def twin_row(run: Path, args, real, reference, net) -> dict:
    """A diffusion twin's sweep (DDIM at ``--ddim-steps``, DDPM at ``--ddpm-steps``) under the FD protocol."""
    config = finished(run, args.steps)
    if config["model"].get("objective") != "diffusion":
        raise ValueError(f"{run}: objective {config['model'].get('objective')!r}, not a diffusion twin")
    q = best_quality(load(run), "diffusion", real, net, args.ddim_steps, n=args.n, ddpm_steps=args.ddpm_steps,
                     reference=reference)
    return {"seed": config["train"]["seed"], "source": str(run), "rows": q["rows"]}


def earlier_twins(path: str) -> tuple[dict, dict]:
    """Per seed, the final FlowFM and twin sweeps of a ``benchmarks.claims.training_time`` result."""
    seeds = json.loads(Path(path).read_text())["seeds"]
    return ({s["seed"]: s["curves"]["flow"][-1]["rows"] for s in seeds},
            {s["seed"]: {"seed": s["seed"], "source": path, "rows": s["curves"]["diffusion"][-1]["rows"]} for s in seeds})


def nfe_match(flow_rows: list[dict], twin_rows: list[dict]) -> dict:
    """Against the twin's DDPM and its best DDIM: the fewest-NFE FlowFM setting that matches, and the NFE ratio."""
    ddim = [r for r in twin_rows if r["sampler"].startswith("ddim")]
    refs = {"ddpm": next((r for r in twin_rows if r["sampler"].startswith("ddpm")), None),
            "best ddim": min(ddim, key=lambda r: r["frechet"]["fd"], default=None)}
    out = {}
    for name, ref in refs.items():
        if ref is None:
            continue
        ok = sorted((r for r in flow_rows if matches(r["frechet"], ref["frechet"])), key=lambda r: r["nfe"])
        out[name] = {"reference": ref["sampler"], "reference_nfe": ref["nfe"], "reference_fd": ref["frechet"],
                     "matched": ok[0]["sampler"] if ok else None, "matched_nfe": ok[0]["nfe"] if ok else None,
                     "matched_fd": ok[0]["frechet"] if ok else None,
                     "nfe_ratio": ref["nfe"] / ok[0]["nfe"] if ok else None}
    return out


def summary(rows: list[dict]) -> dict:
    def stat(values: list[float]) -> dict:
        return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values), "values": values}

    return {"FlowFM r": stat([r["FlowFM r"] for r in rows]),
            "untrained encoder": stat([r["untrained encoder"] for r in rows]),
            "gain over untrained": stat([r["FlowFM r"] - r["untrained encoder"] for r in rows]),
            "margin over hand-crafted": stat([r["FlowFM r"] - r["hand-crafted"] for r in rows]),
            "best FD": stat([r["fd"]["fd"] for r in rows if "fd" in r])}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="hapt")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=10000, help="the budget every run must have reached")
    ap.add_argument("--runs", default="", help="comma-separated run directories, each probed with `flowfm-edge probe`")
    ap.add_argument("--earlier", default="", help="comma-separated seeds measured before: PROBE_JSON[:FD[:LOW:HIGH]], "
                                                  "or a claims_seeds_*.json result (all its rows)")
    ap.add_argument("--flow-steps", default="1,2,4,8", type=ints)
    ap.add_argument("--solver", default="midpoint")
    ap.add_argument("--n", type=int, default=1000, help="generated windows per FD")
    ap.add_argument("--twins", default="", help="comma-separated diffusion twins at the same budget (matched by seed)")
    ap.add_argument("--earlier-twins", default="", help="a benchmarks.claims.training_time result JSON: seeds measured before")
    ap.add_argument("--ddim-steps", default="10,25,50", type=ints)
    ap.add_argument("--ddpm-steps", type=int, default=1000, help="the twin's DDPM ancestral steps (0: none)")
    add_out_dir(ap)
    return ap


def gather(args) -> tuple[list[dict], dict]:
    """Every seed's row (earlier ones and the runs scored now) and every twin (by seed) with its NFE match."""
    runs = [Path(r) for r in args.runs.split(",") if r]
    twin_runs = [Path(r) for r in args.twins.split(",") if r]
    rows = [row for e in args.earlier.split(",") if e for row in earlier_rows(e)]
    flow_sweeps, twins = earlier_twins(args.earlier_twins) if args.earlier_twins else ({}, {})
    if runs or twin_runs:
        real, reference = training_reference(args.data)
        net = feature_net(args.data)
        rows += [run_row(run, args, real, reference, net) for run in runs]
        twins |= {t["seed"]: t for t in (twin_row(run, args, real, reference, net) for run in twin_runs)}
    flow_sweeps |= {r["seed"]: r["fd_rows"] for r in rows if "fd_rows" in r}
    missing = [seed for seed in twins if seed not in flow_sweeps]
    if missing:
        raise SystemExit(f"twins of seeds {missing} have no FlowFM sweep at that seed; give its run in --runs")
    for seed, twin in twins.items():
        twin["match"] = nfe_match(flow_sweeps[seed], twin["rows"])
    return rows, twins


def seeds_table(rows: list[dict], stats: dict) -> str:
    """One row per seed, then mean +- SD over seeds."""
    fd = lambda r: (f"{r['fd']['fd']:.2f} [{r['fd']['ci_low']:.2f}, {r['fd']['ci_high']:.2f}]"  # noqa: E731
                    if "ci_low" in r.get("fd", {}) else "-")
    pm = lambda k, sign="": f"{stats[k]['mean']:{sign}.3f} +- {stats[k]['sd']:.3f}"  # noqa: E731
    table = [[r["seed"], r["FlowFM r"], r["untrained encoder"], r["FlowFM r"] - r["untrained encoder"], r["hand-crafted"],
              r["raw windows"], fd(r), r["source"]] for r in rows]
    table.append(["mean +- SD", pm("FlowFM r"), pm("untrained encoder"), pm("gain over untrained", "+"),
                  rows[0]["hand-crafted"], rows[0]["raw windows"],
                  f"{stats['best FD']['mean']:.2f} +- {stats['best FD']['sd']:.2f}", ""])
    return markdown_table(["seed", "FlowFM r", "untrained (same seed)", "gain", "hand-crafted", "raw", "best FD [95% CI]",
                           "source"], table)


def main(argv: list[str] | None = None) -> None:
    ap = parser()
    args = ap.parse_args(argv)
    rows, twins = gather(args)
    if not rows:
        ap.error("give --runs or --earlier")
    stats = summary(rows)
    md = seeds_table(rows, stats)
    if twins:
        md += "\n\n" + twin_table(twins)
        stats["matched NFE ratio"] = {ref: [t["match"][ref]["nfe_ratio"] for t in twins.values() if ref in t["match"]]
                                      for ref in ("ddpm", "best ddim")}
    stem = f"claims_seeds_{data_name(args.data)}_{args.preset}_{args.steps}steps"
    write_outputs(args.out_dir, stem, {"protocol": {k: str(v) for k, v in arguments(args).items()}, "rows": rows,
                                       "twins": list(twins.values()), "summary": stats}, md)


def twin_table(twins: dict) -> str:
    """Per seed: the twin's references and FlowFM's matched setting against each, with its NFE ratio."""
    table = []
    for seed, t in sorted(twins.items()):
        for ref, m in t["match"].items():
            table.append([seed, f"{m['reference']} (NFE {m['reference_nfe']})", format_fd(m["reference_fd"], 2),
                          m["matched"] and f"{m['matched']} (NFE {m['matched_nfe']})",
                          format_fd(m["matched_fd"], 2) if m["matched"] else "-",
                          f"{m['nfe_ratio']:.0f}x" if m["nfe_ratio"] else "not matched", t["source"]])
    return markdown_table(["seed", "twin reference", "its FD [95% CI]", "matched FlowFM", "its FD", "NFE ratio", "source"],
                          table)


if __name__ == "__main__":
    main()
