"""FlowFM vs its diffusion twin: one harness, one runtime per comparison, matched quality (docs/design.md#benchmarks).

Both bundles' generators run through the same :class:`~.harness.Harness` (same meter, same
real windows, same frozen feature network, same noise seeds): FlowFM's fused samplers at
1-64 steps, the twin's fused DDIM samplers and DDPM-1000 (a runtime loop over the denoiser
graph; the model's own sampler on the torch backend).

**Matched quality.** Every Frechet distance (FD) carries a 95% bootstrap interval
(:func:`flowfm_edge.evaluation.quality.bootstrap_frechet`; 1,000 generated vs 1,000 real
windows of the pretrain split by default). For a diffusion reference setting D (DDPM-1000,
or the best DDIM: the DDIM step count with the lowest FD), the matched FlowFM setting is the
fewest-NFE FlowFM setting, on the same backend, precision, batch and threads, that matches
D's quality by :func:`~flowfm_edge.evaluation.quality.matches`: its FD is <= the upper end
of D's interval. The matched-quality speedup is D's median latency per generated sample
divided by that setting's. When no FlowFM setting reaches D's quality, the result says
"not matched" and no speedup is given.

The end-to-end speedup compares across runtimes on purpose: FlowFM's fused sampler in
ONNX Runtime INT8 against DDPM-1000 in PyTorch eager, matched to the latter's quality.

>>> pareto_front([{"per_item_ms": 1, "fd": 5}, {"per_item_ms": 2, "fd": 3}, {"per_item_ms": 3, "fd": 4}])
[0, 1]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..bundle.manifest import read_manifest
from .environment import environment, load_average
from .harness import BenchOptions, Harness, plan


@dataclass
class CompareOptions:
    backends: list[str] = field(default_factory=lambda: ["onnxruntime"])
    precisions: list[str] = field(default_factory=lambda: ["fp32", "int8"])
    flow_steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])
    flow_solver: str = "euler"  # FlowFM's fused samplers in the bundle: sampler-<solver>-<steps>
    ddim_steps: list[int] = field(default_factory=lambda: [10, 25, 50, 100, 250])
    ddpm_steps: int = 1000
    torch_samplers: list[str] | None = None  # labels (euler-8, ddim-10, ddpm-1000) the torch backend runs; None = all
    batches: list[int] = field(default_factory=lambda: [1])
    threads: int | None = None
    min_iters: int = 10
    min_seconds: float = 2.0
    max_seconds: float | None = 120.0
    warmup: int = 2
    energy: str = "auto"
    data: str = "hapt"
    feature_net: str | None = None
    n: int = 1000
    mode: str = "unconditional"
    seed: int = 0
    resamples: int = 200


def _objective(bundle: Path) -> str:
    return read_manifest(bundle)["model"].get("objective", "flow")


def _bench_options(o: CompareOptions, steps: list[int], solvers: list[str]) -> BenchOptions:
    return BenchOptions(backends=o.backends, precisions=o.precisions, steps=steps, solvers=solvers, graphs=["sampler"],
                        batches=o.batches, threads=[o.threads], min_iters=o.min_iters, min_seconds=o.min_seconds,
                        max_seconds=o.max_seconds, warmup=o.warmup, energy=o.energy, data=o.data,
                        feature_net=o.feature_net, n_quality=o.n, quality_mode=o.mode, seed=o.seed,
                        resamples=o.resamples)


def sampler_points(results: list[dict], model: dict[str, str]) -> list[dict]:
    """One point per sampler result: setting, latency per sample, FD and energy; ``model`` maps bundle -> model name."""
    pts = []
    for r in results:
        q = r["quality"]
        e = r["energy"]
        pts.append({"model": model[r["bundle"]], "label": r["label"], "solver": r["solver"], "steps": r["steps"],
                    "nfe": r["nfe"], "backend": r["backend"], "precision": r["precision"], "batch": r["batch"],
                    "threads": r["threads"], "per_item_ms": r["per_item_ms"], "p50_ms": r["latency"]["p50_ms"],
                    "fd": q["frechet"]["fd"] if q.get("frechet") else None, "frechet": q.get("frechet"),
                    "j_per_sample": e.get("j_per_item") if e.get("measured") else None,
                    "beyond_real_range": q.get("beyond_real_range"), "flags": r["latency"]["flags"]})
    return pts


def pareto_front(points: list[dict]) -> list[int]:
    """Indices of the points no other point beats on both latency and Frechet distance, by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i]["per_item_ms"], points[i]["fd"]))
    front, best = [], float("inf")
    for i in order:
        if points[i]["fd"] is not None and points[i]["fd"] < best:
            front.append(i)
            best = points[i]["fd"]
    return front


KEEP = ("label", "backend", "precision", "nfe", "fd", "frechet", "per_item_ms", "j_per_sample", "beyond_real_range")


def matched(reference: dict, flow: list[dict]) -> dict:
    """The fewest-NFE FlowFM point that :func:`matches` the reference's quality, and the speedup per sample."""
    from ..evaluation.frechet import matches  # imports torch: only when a decision is made

    ref = {k: reference[k] for k in KEEP}
    ok = sorted((p for p in flow if p["frechet"] is not None and matches(p["frechet"], reference["frechet"])),
                key=lambda p: p["nfe"])
    if not ok:
        best = min((p for p in flow if p["fd"] is not None), key=lambda p: p["fd"], default=None)
        return {"reference": ref, "matched": None, "speedup": None,
                "note": "no FlowFM setting reaches this quality" +
                        (f" (best FlowFM FD {best['fd']:.4f} at {best['label']}; the reference's interval ends at "
                         f"{reference['frechet']['ci_high']:.4f})" if best else "")}
    m = ok[0]
    out = {"reference": ref, "matched": {k: m[k] for k in KEEP},
           "speedup": reference["per_item_ms"] / m["per_item_ms"]}
    if reference["j_per_sample"] and m["j_per_sample"]:
        out["energy_ratio"] = reference["j_per_sample"] / m["j_per_sample"]
    return out


def analyse(points: list[dict], ddpm_steps: int) -> dict:
    """Matched-quality speedups per runtime group, and the end-to-end INT8 ONNX vs torch-eager DDPM figure."""
    groups: dict[tuple, list[dict]] = {}
    for p in points:
        groups.setdefault((p["backend"], p["precision"], p["batch"], p["threads"]), []).append(p)
    out = []
    for (backend, precision, batch, threads), pts in groups.items():
        flow = [p for p in pts if p["model"] == "flow"]
        ddpm = [p for p in pts if p["solver"] == "ddpm"]
        ddim = [p for p in pts if p["solver"] == "ddim" and p["frechet"] is not None]
        row = {"backend": backend, "precision": precision, "batch": batch, "threads": threads}
        if ddpm and ddpm[0]["frechet"] is not None:
            row["vs_ddpm"] = matched(ddpm[0], flow)
        if ddim:
            row["vs_best_ddim"] = matched(min(ddim, key=lambda p: p["fd"]), flow)
        out.append(row)
    e2e = {}  # batch -> matched result
    for ref in (p for p in points if p["backend"] == "torch" and p["solver"] == "ddpm" and p["frechet"] is not None):
        ort_int8 = [p for p in points if p["backend"] == "onnxruntime" and p["precision"] == "int8"
                    and p["model"] == "flow" and p["batch"] == ref["batch"]]
        if ort_int8:
            e2e[str(ref["batch"])] = matched(ref, ort_int8)
    return {"definition": ("matched FlowFM setting = the fewest-NFE FlowFM setting on the same backend, precision, "
                           "batch and threads whose Frechet distance is <= the upper end of the reference's 95% "
                           "bootstrap interval; speedup = reference median latency per generated sample / matched "
                           "setting's"),
            "groups": out, "end_to_end_int8_onnx_vs_torch_ddpm": e2e, "ddpm_steps": ddpm_steps}


def compare_bundles(flow: str | Path, diffusion: str | Path, opts: CompareOptions,
                    log: Callable[[str], None] = print) -> dict:
    """Benchmark both bundles' generators with one harness and compare them at matched quality."""
    flow, diffusion = Path(flow), Path(diffusion)
    for path, want in ((flow, "flow"), (diffusion, "diffusion")):
        got = _objective(path)
        if got != want:
            raise ValueError(f"{path}: a {got!r} bundle where a {want!r} bundle is expected; "
                             "call `flowfm-edge bench compare FLOWFM_BUNDLE DIFFUSION_BUNDLE` in that order")
    if opts.feature_net is None:
        raise ValueError("bench compare needs --feature-net (quality is what makes the comparison); train one with "
                         "`flowfm-edge train-feature-net --data hapt --out FEAT`")
    cases = plan(flow, _bench_options(opts, opts.flow_steps, [opts.flow_solver]))
    cases += plan(diffusion, _bench_options(opts, opts.ddim_steps + [opts.ddpm_steps], ["ddim", "ddpm"]))
    if opts.torch_samplers is not None:
        cases = [c for c in cases if c.backend != "torch" or c.label in opts.torch_samplers]
    cases.sort(key=lambda c: (c.backend, c.precision))  # stable: flow then diffusion within a runtime
    harness = Harness(_bench_options(opts, [], []), log)
    env = environment(opts.threads)
    results = harness.run(cases)
    env["load_average_end"] = load_average()
    models = {str(flow): "flow", str(diffusion): "diffusion"}
    points = sampler_points(results, models)
    return {"kind": "flowfm-edge bench compare", "bundles": {"flow": str(flow), "diffusion": str(diffusion)},
            "options": asdict(opts), "environment": env, "energy": harness.energy_block(),
            "real_vs_real_floor": harness.ctx.floor, "points": points, "pareto": [points[i] for i in pareto_front(points)],
            "analysis": analyse(points, opts.ddpm_steps), "results": results}
