"""The benchmark commands: ``bench`` (every case of a bundle) and ``bench compare`` (FlowFM against its diffusion twin).

``flowfm-edge bench BUNDLE ...`` is short for ``flowfm-edge bench run BUNDLE ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from ..bench.meters import METERS
from .common import cli_errors, console, write_file


class _RunByDefault(TyperGroup):
    """``bench BUNDLE`` runs ``bench run BUNDLE``; ``bench compare A B`` stays a subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _ints(value: str, what: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{what} {value!r}: expected comma-separated integers, e.g. --{what} 1,16") from None
    if not out or min(out) < 1:
        raise ValueError(f"--{what} {value!r}: expected positive integers, e.g. --{what} 1,16")
    return out


def _strs(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _threads(value: Optional[str]) -> list[Optional[int]]:
    return [None] if not value else _ints(value, "threads")


def _write(result: dict, json_out: Optional[Path], report: Optional[Path], markdown) -> None:
    if json_out is not None:
        write_file(json_out, json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"wrote {json_out}")
    if report is not None:
        write_file(report, markdown(result))
        console.print(f"wrote {report}")


bench_app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                        help="Benchmark bundles: latency, throughput, memory, size, energy and quality. "
                             "`flowfm-edge bench BUNDLE` runs every case; `bench compare` sets FlowFM against "
                             "its diffusion twin.")


def _log(line: str) -> None:
    console.print(line, highlight=False, markup=False, soft_wrap=True)


@cli_errors
def bench_run(
    bundle: Path = typer.Argument(..., help="Bundle directory from `flowfm-edge export`."),
    backend: Optional[str] = typer.Option(None, help="Backends, comma-separated; default: the target's, where installed."),
    precision: Optional[str] = typer.Option(None, help="Precisions, comma-separated; default: all the bundle has."),
    steps: Optional[str] = typer.Option(None, help="Generator step counts, comma-separated; default: all."),
    solver: Optional[str] = typer.Option(None, help="Samplers: euler, heun, ..., ddim, ddpm; default: all."),
    graphs: Optional[str] = typer.Option(None, help="encoder, classifier, velocity, denoiser, sampler; default: all."),
    batch: str = typer.Option("1", help="Batch sizes, comma-separated (e.g. 1,16)."),
    threads: Optional[str] = typer.Option(None, help="Thread counts, comma-separated; default: the backend's."),
    min_iters: int = typer.Option(10, min=1, help="Fewest timed calls per case."),
    min_seconds: float = typer.Option(1.0, min=0.0, help="Least timed seconds per case."),
    max_seconds: float = typer.Option(120.0, min=0.0, help="A case stops here even below its minimums (flagged)."),
    warmup: int = typer.Option(3, min=0, help="Warm-up calls after the cold call, not counted."),
    energy: str = typer.Option("auto", help=f"Energy meter: {', '.join(METERS)}."),
    data: Optional[str] = typer.Option(None, help="Data for quality: hapt, synthetic, .npz; classifiers use its labelled "
                                       "split (F1), generators its pretrain split (Frechet distance)."),
    feature_net: Optional[Path] = typer.Option(None, help="Feature network for the Frechet distance (`train-feature-net`)."),
    n: int = typer.Option(1000, min=2, help="Windows generated (and real ones compared) per generator."),
    resamples: int = typer.Option(200, min=2, help="Bootstrap resamples behind each FD's 95% interval."),
    mode: str = typer.Option("unconditional", help="Generation for quality: unconditional (r from the bundle's prior, "
                             "else 0) or reconstruction."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every number here."),
    report: Optional[Path] = typer.Option(None, help="Write a Markdown report here."),
    plots: Optional[Path] = typer.Option(None, help="Write latency-vs-steps and quality-vs-latency PNGs into this directory."),
    seed: int = typer.Option(0, help="Seed of inputs, real-window draw and noise."),
):
    """Time every artefact x backend x precision (x steps) x batch x threads of BUNDLE."""
    from ..bench.harness import BenchOptions, bench_bundle
    from ..bench.report import bench_markdown, bench_plots

    opts = BenchOptions(backends=_strs(backend), precisions=_strs(precision), steps=steps and _ints(steps, "steps"),
                        solvers=_strs(solver), graphs=_strs(graphs), batches=_ints(batch, "batch"),
                        threads=_threads(threads), min_iters=min_iters, min_seconds=min_seconds,
                        max_seconds=max_seconds or None, warmup=warmup, energy=energy, data=data,
                        feature_net=str(feature_net) if feature_net else None, n_quality=n, quality_mode=mode,
                        seed=seed, resamples=resamples)
    result = bench_bundle(bundle, opts, _log)
    _write(result, json_out, report, bench_markdown)
    if plots is not None:
        bench_plots(result, plots)
    if result["energy"]["measured"] is False:
        console.print(f"energy: not measured ({result['energy']['reason']})", highlight=False, soft_wrap=True)


@cli_errors
def bench_compare(
    flow_bundle: Path = typer.Argument(..., help="FlowFM bundle (fused samplers of --flow-solver)."),
    diffusion_bundle: Path = typer.Argument(..., help="Diffusion-twin bundle (denoiser + fused DDIM samplers)."),
    backend: str = typer.Option("onnxruntime,torch", help="Backends, comma-separated."),
    precision: str = typer.Option("fp32,int8", help="Precisions, comma-separated (torch runs fp32)."),
    flow_steps: str = typer.Option("1,2,4,8,16,32,64", help="FlowFM step counts (exported in the bundle)."),
    flow_solver: str = typer.Option("euler", help="FlowFM's ODE solver of those samplers: euler, midpoint, heun, rk4."),
    ddim_steps: str = typer.Option("10,25,50,100,250", help="DDIM step counts (exported in the bundle)."),
    ddpm_steps: int = typer.Option(1000, min=1, help="DDPM ancestral steps (a loop over the denoiser graph)."),
    torch_samplers: Optional[str] = typer.Option(None, help="Only these settings on torch, e.g. ddpm-1000,euler-4; default all."),
    batch: str = typer.Option("1", help="Batch sizes, comma-separated."),
    threads: Optional[int] = typer.Option(None, min=1, help="Threads for every backend; default the backend's."),
    min_iters: int = typer.Option(10, min=1, help="Fewest timed calls per setting."),
    min_seconds: float = typer.Option(2.0, min=0.0, help="Least timed seconds per setting."),
    max_seconds: float = typer.Option(120.0, min=0.0, help="A setting stops here even below its minimums (flagged)."),
    warmup: int = typer.Option(2, min=0, help="Warm-up calls, not counted."),
    energy: str = typer.Option("auto", help=f"Energy meter: {', '.join(METERS)}."),
    data: str = typer.Option("hapt", help="Data the bundles were trained on; its pretrain split is the FD reference."),
    feature_net: Path = typer.Option(..., help="Feature network for the Frechet distance (`train-feature-net`)."),
    n: int = typer.Option(1000, min=2, help="Windows generated (and real ones compared) per setting."),
    resamples: int = typer.Option(200, min=2, help="Bootstrap resamples behind each FD's 95% interval."),
    mode: str = typer.Option("unconditional", help="unconditional (r from the bundle's prior, else 0) or reconstruction."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every number here."),
    report: Optional[Path] = typer.Option(None, help="Write the Markdown report here."),
    plots: Optional[Path] = typer.Option(None, help="Write pareto.png and latency_vs_steps.png into this directory."),
    seed: int = typer.Option(0, help="Seed of the real-window draw and the noise."),
):
    """FlowFM vs diffusion twin: latency, energy and quality per setting, matched-quality speedups, Pareto plot.

    FlowFM matches a diffusion setting when its FD is <= the upper end of that setting's 95% bootstrap interval.
    """
    from ..bench.compare import CompareOptions, compare_bundles
    from ..bench.report import compare_markdown, compare_plots

    opts = CompareOptions(backends=_strs(backend), precisions=_strs(precision), flow_steps=_ints(flow_steps, "flow-steps"),
                          flow_solver=flow_solver, ddim_steps=_ints(ddim_steps, "ddim-steps"), ddpm_steps=ddpm_steps,
                          torch_samplers=_strs(torch_samplers), batches=_ints(batch, "batch"), threads=threads,
                          min_iters=min_iters, min_seconds=min_seconds, max_seconds=max_seconds or None,
                          warmup=warmup, energy=energy, data=data, feature_net=str(feature_net), n=n, mode=mode,
                          seed=seed, resamples=resamples)
    result = compare_bundles(flow_bundle, diffusion_bundle, opts, _log)
    _write(result, json_out, report, compare_markdown)
    if plots is not None:
        pareto, latency = compare_plots(result, plots)
        console.print(f"wrote {pareto} and {latency}")
    for line in compare_markdown(result).split("## All settings")[0].splitlines():
        if line.startswith("- "):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


bench_app.command("run")(bench_run)
bench_app.command("compare")(bench_compare)
