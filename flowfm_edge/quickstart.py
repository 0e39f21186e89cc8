"""The main job in one call (``flowfm-edge quickstart``): train FlowFM with the default recipe, probe it beside
its baselines, and plot what it learned: ``probe.png``, ``embeddings.png``, ``loss.png`` and ``samples.png``
in the run directory.

>>> run_quickstart(Path("runs/quickstart"))   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from .progress import console
from .recipe import QUICKSTART_PRESET, QUICKSTART_STEPS


def run_quickstart(out: Path = Path("runs/quickstart"), data: str = "hapt", preset: str = QUICKSTART_PRESET,
                   steps: int = QUICKSTART_STEPS, seed: int = 0, force: bool = False) -> None:
    """Train ``preset`` on ``data`` for ``steps`` steps of batch 64 into ``out``, probe it, plot it, sample from it."""
    from .data import load_source, save_npz
    from .evaluation import embed_windows
    from .evaluation.generate import generate_windows
    from .evaluation.probe_run import run_probe
    from .plots import plot_embeddings, plot_training
    from .training import load_model
    from .training.run import train_run
    from .training.run_config import resolve_run_config

    console.print(f"quickstart budget: {preset}, {steps} steps of batch 64 (a short run; "
                  f"`flowfm-edge train --steps N` trains longer)", highlight=False)
    run = resolve_run_config({"source": data, "preset": preset, "steps": steps, "batch_size": 64,
                              "warmup": min(100, steps // 10), "seed": seed})
    train_run(run, out, force=force, log=lambda s: console.print(s, highlight=False))
    run_probe(out, data)
    ws = load_source(data, split="labelled")
    model, _ = load_model(out)
    plot_embeddings(embed_windows(model, ws.X), ws.y, ws.classes, out / "embeddings.png",
                    title=f"FlowFM-{preset} embeddings of {ws.source} (PCA)")
    plot_training(out / "metrics.csv", out / "loss.png")
    real = save_npz(out / "samples_real.npz", ws.one_per_class(4, seed=seed))  # one window per activity
    generate_windows(run=out, n=4, steps=8, solver="euler", guidance=None, like=real, seed=seed,
                     out=out / "samples.npz", plot=out / "samples.png", r_zero=False)
    console.print(f"plots: {out}/probe.png, {out}/embeddings.png, {out}/loss.png, {out}/samples.png")
