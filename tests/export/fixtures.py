"""A nano FlowFM run with a probe head, and bundles exported from it, built once per test session.

Both ``tests/export`` and ``tests/runtimes`` load this file; results are cached on disk under
pytest's session base temp, so the first user builds them and the others reuse them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flowfm_edge.data.contract import WindowSet


# fp32 on every CPU: the fixture models (and so the exported graphs the tests compare) do not depend on
# whether a machine trains in bf16 by default
FIXTURE_AMP = "off"


def activity_windows(n_subjects: int = 6, per_class: int = 6, seed: int = 0) -> WindowSet:
    """3 easily told apart classes (still, walk 1.8 Hz, run 2.8 Hz), gravity on z: (N, 3, 300) g."""
    rng = np.random.default_rng(seed)
    t = np.arange(300) / 30
    X, y, pid = [], [], []
    for s in range(n_subjects):
        for k, (f, amp) in enumerate(((0.0, 0.0), (1.8, 0.3), (2.8, 0.8))):
            for _ in range(per_class):
                phase = rng.uniform(0, 2 * np.pi)
                w = np.stack([amp * np.sin(2 * np.pi * f * t + phase), 0.5 * amp * np.cos(2 * np.pi * f * t + phase),
                              np.ones(300)]) + 0.02 * rng.standard_normal((3, 300))
                X.append(w)
                y.append(k)
                pid.append(100 + s)
    return WindowSet(np.asarray(X, np.float32), np.asarray(y), np.asarray(pid), ["still", "walk", "run"], "activity")


def calibration_windows() -> WindowSet:
    """384 windows of 8 subjects (seed 1): room for an export's default 128 calibration and 256 validation
    windows, drawn apart, so fixture bundles are calibrated and gated the way a user's export is."""
    return activity_windows(n_subjects=8, per_class=16, seed=1)


def nano_run(base: Path) -> Path:
    """A nano model trained for 60 steps, with a linear-probe head saved in the run.

    60 steps, not fewer: after 30 the head told still from walk by a logit gap under 0.03 on 1% of
    :func:`calibration_windows`, so INT8 rounding flipped a CPU-dependent few of them; after 60 the
    smallest gap is 0.15 and the INT8 classifier gates hold whatever the integer kernels.
    """
    run = base / "nano-run"
    if (run / "checkpoint" / "head.json").is_file():
        return run
    from flowfm_edge.evaluation import embed_windows, linear_probe, probe_head
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, save_head, train

    ws = activity_windows()
    model = train(ws, run, ModelConfig.from_preset("nano"), TrainConfig(steps=60, batch_size=16, warmup=5, amp=FIXTURE_AMP),
                  progress=False)
    res = linear_probe(embed_windows(model, ws.X), ws.y, ws.pid)
    save_head(run, probe_head(res.pipeline, len(ws.classes)), ws.classes, {"macro_f1": res.macro_f1})
    return run


def nano_bundle(base: Path) -> Path:
    """Every graph, FP32 + static INT8 + dynamic INT8, samplers euler x 4 and heun x 4."""
    out = base / "nano-bundle"
    if (out / "manifest.json").is_file():
        return out
    from flowfm_edge.export import ExportOptions, export_bundle

    opts = ExportOptions(precisions=["fp32", "int8", "int8-dynamic"], steps=[4], solvers=["euler", "heun"],
                         calib=calibration_windows())
    export_bundle(nano_run(base), out, opts)
    return out


def guided_bundle(base: Path) -> Path:
    """Fused samplers only, FP32, euler x 4 and x 16, taking a guidance weight w."""
    out = base / "guided-bundle"
    if (out / "manifest.json").is_file():
        return out
    from flowfm_edge.export import ExportOptions, export_bundle

    opts = ExportOptions(precisions=["fp32"], steps=[4, 16], solvers=["euler"], graphs=["sampler"], guidance=True,
                         calib=activity_windows(seed=2))
    export_bundle(nano_run(base), out, opts)
    return out


def litert_bundle(base: Path) -> Path:
    """The android target: every graph at fp32, fp16, int8-dynamic and int8 (LiteRT, batch 1), sampler euler x 2."""
    out = base / "litert-bundle"
    if (out / "manifest.json").is_file():
        return out
    from flowfm_edge.export import ExportOptions, export_bundle

    opts = ExportOptions(target="android", precisions=["fp32", "fp16", "int8-dynamic", "int8"], steps=[2],
                         calib=calibration_windows())
    export_bundle(nano_run(base), out, opts)
    return out


def nano_diffusion_bundle(base: Path, ws: WindowSet, calib: WindowSet) -> Path:
    """Denoiser + fused DDIM x 2 and x 5 (FP32, INT8) of a nano twin trained 20 steps; cached under ``base``."""
    out = base / "nano-diffusion-bundle"
    if (out / "manifest.json").is_file():
        return out
    from flowfm_edge.export import ExportOptions, Limits, export_bundle
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    run = base / "nano-diffusion-run"
    train(ws, run, ModelConfig.from_preset("nano", objective="diffusion"), TrainConfig(steps=20, batch_size=16, warmup=5, amp=FIXTURE_AMP),
          progress=False)
    opts = ExportOptions(precisions=["fp32", "int8"], steps=[2, 5], graphs=["encoder", "velocity", "sampler"],
                         calib=calib, calib_size=24, val_size=24,
                         # 20 training steps leave a poor noise predictor whose DDIM states are large; the
                         # gates are for trained models, these tests check the machinery
                         limits=Limits(max_rel_error=10.0, max_traj_error=10.0))
    export_bundle(run, out, opts)
    return out


def small_bundle(base: Path, run: Path, windows: WindowSet, name: str, precisions: list[str],
                 graphs: list[str]) -> Path:
    """A bundle of a few graphs of ``run`` (calibrated and validated on ``windows`` at the export's default sizes),
    cached as ``base/name``."""
    from flowfm_edge.export import ExportOptions, export_bundle

    out = base / name
    if not (out / "manifest.json").is_file():
        export_bundle(run, out, ExportOptions(precisions=precisions, graphs=graphs, calib=windows))
    return out
