"""The ``generate`` command: unconditional windows, reconstructions of real windows, or text-to-signal."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import cli_errors


@cli_errors
def generate(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    n: int = typer.Option(16, min=1, help="Windows to generate."),
    steps: int = typer.Option(8, min=1, help="Solver steps."),
    solver: str = typer.Option("euler", help="euler, midpoint, heun, rk4, or euler-sde (stochastic: Euler-Maruyama with the flow's marginals)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance weight w: v0 + w (v_r - v0)."),
    like: Optional[Path] = typer.Option(None, help="Reconstruct: take r from the first N windows of this .npz."),
    seed: int = typer.Option(0, help="Noise seed."),
    out: Path = typer.Option(Path("samples.npz"), help="Output .npz with X (N, 3, 300) in g."),
    plot: Optional[Path] = typer.Option(None, help="Also write a PNG of real vs generated windows."),
    text: Optional[str] = typer.Option(None, help="Text-to-signal: a description, e.g. 'walking up the stairs' (a run from train-text)."),
    r_zero: bool = typer.Option(False, "--r-zero", help="Unconditional with r = 0 (the DGS-trained null condition) even when the run has a prior."),
):
    """Generate windows: unconditional, reconstructions of real windows (--like), or from text (--text).

    Unconditional r is drawn from the run's prior over r (a Gaussian mixture fitted on the training set's representations at the end of training, or by `flowfm-edge fit-prior RUN`); a run without a prior, or --r-zero, generates from r = 0. --guidance w applies to both: v0 + w (v_r - v0). The same --seed gives the same noise in every mode.
    """
    if text is not None:
        from ..text.generate import generate_from_text

        return generate_from_text(run, text, n, steps, solver, guidance, like, seed, out, plot)
    from ..evaluation.generate import generate_windows

    generate_windows(run, n, steps, solver, guidance, like, seed, out, plot, r_zero)
