"""The benchmark loop: every artefact x backend x precision (x steps) x batch x threads of a bundle (docs/design.md#benchmarks).

The target table (:data:`flowfm_edge.export.TARGETS`) says which backends run the bundle's
target; the manifest says which artefacts and precisions exist. Each case gets a fresh
runtime, then: load time, the first (cold) call, ``warmup`` warm-up calls (reported, not
counted), timed calls until ``min_iters`` **and** ``min_seconds`` (:mod:`.stats`), peak RSS
over the case, energy in a separate window when a meter exists (:mod:`.energy`), and the
quality of that same artefact through that same runtime (:mod:`.quality`, once per
artefact x backend x precision).

>>> BenchOptions().batches
[1]
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..bundle.manifest import read_manifest

from ..bundle.schema import BundleError
from ..bundle.targets import SAMPLER_GRAPHS, get_target
from .energy import energy_per_call, idle_power, not_measured
from .environment import environment, load_average, peak_rss_mb, reset_peak_rss
from .quality import QualityContext, classifier_quality, export_validation, generator_quality
from .stats import summarize, time_calls, timed_once

KINDS = ("encoder", "classifier", "velocity", "denoiser", "sampler")


@dataclass
class BenchOptions:
    backends: list[str] | None = None  # default: the target's backends that are installed
    precisions: list[str] | None = None  # default: every precision the bundle has
    steps: list[int] | None = None  # generator step counts; default: all the bundle has
    solvers: list[str] | None = None  # euler, heun, ddim, ddpm, ...; default: all
    graphs: list[str] | None = None  # kinds of KINDS; default: all
    batches: list[int] = field(default_factory=lambda: [1])
    threads: list[int | None] = field(default_factory=lambda: [None])
    min_iters: int = 10
    min_seconds: float = 1.0
    max_seconds: float | None = 120.0  # a case stops here even below its minimums (and is flagged)
    warmup: int = 3
    energy: str = "auto"
    energy_window_s: float = 2.0
    idle_s: float = 5.0
    data: str | None = None  # source: labelled split for classifiers and encoder inputs, pretrain split for generators
    feature_net: str | None = None
    n_quality: int = 1000  # generated windows per generator, against as many real ones
    resamples: int = 200  # bootstrap resamples behind each FD's 95% interval
    quality_mode: str = "unconditional"
    seed: int = 0


@dataclass
class Case:
    bundle: str
    artefact: str  # graph name, sampler-<solver>-<steps>, or a loop sampler's name
    kind: str  # encoder | classifier | velocity | denoiser | sampler
    backend: str
    precision: str
    batch: int
    threads: int | None
    steps: int | None = None
    solver: str | None = None
    nfe: int | None = None
    fused: bool = True
    file: str | None = None
    file_bytes: int | None = None

    @property
    def label(self) -> str:
        return f"{self.solver}-{self.steps}" if self.kind == "sampler" else self.artefact


def artefact_rows(manifest: dict) -> list[dict]:
    """One row per benchmarkable artefact: graphs, fused samplers and loop samplers, with steps and NFE."""
    samplers = {s["name"]: s for s in manifest.get("samplers", [])}
    rows = []
    for name, g in manifest["graphs"].items():
        row = {"artefact": name, "kind": g["graph"], "fused": True}
        if name in samplers:
            s = samplers[name]
            row.update(steps=s["steps"], solver=s["solver"], nfe=s["nfe"])
        rows.append(row)
    for s in samplers.values():
        if s.get("loop"):
            rows.append({"artefact": s["name"], "kind": "sampler", "fused": False, "loop": s["loop"],
                         "steps": s["steps"], "solver": s["solver"], "nfe": s["nfe"]})
    return rows


def _file(manifest: dict, bundle: Path, backend: str, artefact: str, precision: str) -> tuple[str | None, int | None]:
    """The file that backend runs for the artefact (the torch checkpoint for torch) and its size."""
    if backend == "torch":
        files = [f for f in manifest.get("torch", {}).get("files", []) if f["path"].endswith("ema.safetensors")]
        return (files[0]["path"], files[0]["bytes"]) if files else (None, None)
    for a in manifest["artefacts"]:
        if a["name"] == artefact and a["precision"] == precision:
            return a["file"]["path"], a["file"]["bytes"]
    return None, None


def plan(bundle: str | Path, opts: BenchOptions) -> list[Case]:
    """Every case to run, in order; raises naming what the bundle or this machine lacks."""
    from ..runtimes.registry import BackendUnavailable, backend_class

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    target = get_target(manifest["target"]["name"])
    backends = opts.backends or list(target.backends)
    bad = [b for b in backends if b not in target.backends]
    if bad:
        raise ValueError(f"--backend {','.join(bad)}: target {target.name!r} runs on {', '.join(target.backends)}")
    runners = {}
    for b in backends:
        try:
            runners[b] = backend_class(b)(bundle, manifest, None)
        except (BackendUnavailable, BundleError) as exc:
            if opts.backends:  # asked for by name: say why it cannot run
                raise
            print(f"note: skipping backend {b}: {exc}")
    cases = []
    for row in artefact_rows(manifest):
        if opts.graphs and row["kind"] not in opts.graphs:
            continue
        if row["kind"] in SAMPLER_GRAPHS and ((opts.steps and row["steps"] not in opts.steps) or
                                          (opts.solvers and row["solver"] not in opts.solvers)):
            continue
        for b, runner in runners.items():
            has = runner.precisions(row.get("loop", row["artefact"]))
            if b == "torch" and not row["fused"]:
                has = ["fp32"]  # the model's own sampler
            for p in [p for p in (opts.precisions or has) if p in has]:
                path, size = _file(manifest, bundle, b, row.get("loop", row["artefact"]), p)
                for batch in opts.batches:
                    for threads in opts.threads:
                        cases.append(Case(str(bundle), row["artefact"], row["kind"], b, p, batch, threads,
                                          row.get("steps"), row.get("solver"), row.get("nfe"), row["fused"], path, size))
    if not cases:
        raise ValueError(f"{bundle}: nothing to benchmark for backends {', '.join(runners) or 'none'}, precisions "
                         f"{opts.precisions or 'any'}, steps {opts.steps or 'any'}; check --backend/--precision/--steps "
                         "against the manifest")
    return cases


def _inputs(case: Case, rt, ctx: QualityContext | None, rng) -> Callable[[], object]:
    """The call that one timed iteration makes."""
    B = case.batch
    if case.kind in ("encoder", "classifier"):
        if ctx is not None:
            x = ctx.X[rng.choice(len(ctx.X), B, replace=len(ctx.X) < B)]
        else:
            x = (0.3 * rng.standard_normal((B, rt.channels, rt.window)) + np.array([0, 0, 1.0])[:, None]).astype(np.float32)
        return (lambda: rt.embed(x)) if case.kind == "encoder" else (lambda: rt.classify(x))
    if case.kind in ("velocity", "denoiser"):
        feeds = {"z_t": rng.standard_normal((B, rt.channels, rt.window)).astype(np.float32),
                 "t": rng.random(B).astype(np.float32), "r": rng.standard_normal((B, rt.r_dim)).astype(np.float32)}
        graph = rt.require_graph(case.artefact)
        return lambda: rt.backend.run(graph, case.precision, feeds)
    if case.kind == "text-sampler":
        e = np.repeat(next(iter(rt.text_prompts().values()))[None], B, axis=0)
        return lambda: rt.generate_text(e, steps=case.steps, solver=case.solver, seed=0)
    return lambda: rt.generate(n=B, steps=case.steps, solver=case.solver, seed=0)


class Harness:
    """Runs cases; holds what is shared across them (meter, idle power, quality context, quality cache)."""

    def __init__(self, opts: BenchOptions, log: Callable[[str], None] = print):
        from .meters import choose_meter

        self.opts, self.log = opts, log
        self.meter, self.meter_notes = choose_meter(opts.energy)
        self.idle = idle_power(self.meter, opts.idle_s) if self.meter else None
        self.ctx = (QualityContext.load(opts.data, opts.feature_net, opts.n_quality, opts.seed, opts.quality_mode,
                                        opts.resamples)
                    if opts.data else None)
        self.quality_cache: dict[tuple, dict] = {}

    def energy_block(self) -> dict:
        if self.meter is None:
            return not_measured(self.meter_notes)
        return {"measured": True, **self.meter.describe(), "idle_w": self.idle["idle_w"],
                "idle_window_s": self.idle["window_s"]}

    def quality(self, case: Case, rt) -> dict:
        key = (case.bundle, case.artefact, case.backend, case.precision)
        if key not in self.quality_cache:
            t0 = time.perf_counter()
            if self.ctx is None:
                q = {"metric": None, "status": "not measured", "reason": "no --data given"}
            elif case.kind == "sampler":
                q = generator_quality(self.ctx, rt, case.steps, case.solver)
            elif case.kind == "classifier":
                q = classifier_quality(self.ctx, rt)
            else:
                q = export_validation(rt.manifest, case.artefact, case.precision)
            q["seconds"] = round(time.perf_counter() - t0, 2)
            self.quality_cache[key] = q
        return self.quality_cache[key]

    def run_case(self, case: Case) -> dict:
        from ..runtimes import load

        o = self.opts
        rng = np.random.default_rng(o.seed)
        reset = reset_peak_rss()
        t0 = time.perf_counter()
        rt = load(case.bundle, case.backend, case.precision, case.threads)
        load_s = time.perf_counter() - t0
        fn = _inputs(case, rt, self.ctx, rng)
        cold = timed_once(fn)
        warm = [timed_once(fn) for _ in range(o.warmup)]
        times = time_calls(fn, o.min_iters, o.min_seconds, o.max_seconds)
        memory = peak_rss_mb(reset)
        latency = summarize(times, o.min_iters, o.min_seconds)
        energy = (energy_per_call(self.meter, fn, case.batch, self.idle, o.energy_window_s) if self.meter
                  else not_measured(self.meter_notes))
        record = {**asdict(case), "label": case.label, "load_s": load_s, "cold_ms": 1e3 * cold,
                  "warmup_ms": [1e3 * w for w in warm], "latency": latency,
                  "per_item_ms": latency["p50_ms"] / case.batch, "throughput_per_s": case.batch / (latency["mean_ms"] / 1e3),
                  "memory": memory, "energy": energy, "quality": self.quality(case, rt)}
        if case.backend == "torch":
            import torch

            record["threads_used"] = torch.get_num_threads()
        else:
            record["threads_used"] = case.threads or "onnxruntime default"
        return record

    def run(self, cases: list[Case]) -> list[dict]:
        from ..evaluation.frechet import format_fd

        results = []
        for i, case in enumerate(cases, 1):
            r = self.run_case(case)
            flags = f"  [{'; '.join(r['latency']['flags'])}]" if r["latency"]["flags"] else ""
            q = r["quality"]
            qtxt = (f"FD {format_fd(q['frechet'], 3)}" if q.get("metric") == "frechet" else
                    f"macro-F1 {q['macro_f1']:.3f}" if q.get("metric") == "macro_f1" else "")
            self.log(f"[{i}/{len(cases)}] {Path(case.bundle).name} {case.label:<16} {case.backend:<11} {case.precision:<12} "
                     f"b{case.batch} t{case.threads or '-'}: p50 {r['latency']['p50_ms']:.2f} ms "
                     f"(n={r['latency']['count']}, CV {r['latency']['cv_pct']:.1f}%) {qtxt}{flags}")
            results.append(r)
        return results


def bench_bundle(bundle: str | Path, opts: BenchOptions, log: Callable[[str], None] = print) -> dict:
    """Benchmark every case of ``bundle``; returns the JSON-ready result (environment, energy, cases)."""
    cases = plan(bundle, opts)
    harness = Harness(opts, log)
    env = environment(None)
    results = harness.run(cases)
    env["load_average_end"] = load_average()
    return {"kind": "flowfm-edge bench", "bundle": str(bundle), "options": asdict(opts), "environment": env,
            "energy": harness.energy_block(), "real_vs_real_floor": harness.ctx.floor if harness.ctx else None,
            "results": results}
