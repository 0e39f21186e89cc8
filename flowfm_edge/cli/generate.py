"""The ``generate`` command: unconditional windows, reconstructions of real windows, or text-to-signal."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_common import cli_errors, console, load_windows


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
    if isinstance(text, str):  # called from Python without text, the default is typer's OptionInfo
        from .text.commands import generate_from_text

        return generate_from_text(run, text, n, steps, solver, guidance, like, seed, out, plot)
    import numpy as np
    import torch

    from .data import load_npz
    from .solvers import check_solver
    from .training import load_model

    r_zero = r_zero is True  # called from Python without it, the default is typer's OptionInfo
    check_solver(solver)
    model, config = load_model(run)
    real = None if like is None else load_npz(like).X[:n]
    n = n if real is None else len(real)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, model.cfg.channels, model.cfg.window, generator=gen)  # first, so r = 0 and prior share it
    r, mode = _condition(model, run, real, n, r_zero, gen)
    x = model.sample(r, steps=steps, solver=solver, guidance=guidance, noise=noise, generator=gen)
    X = x.numpy().astype(np.float32)
    if not np.isfinite(X).all():
        raise RuntimeError(f"{run}: generated windows hold NaN/inf; the checkpoint is unusable")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, X=X, steps=steps, solver=solver)
    mag = np.linalg.norm(X, axis=1)
    console.print(f"wrote {len(X)} windows to {out}: |a| mean {mag.mean():.3f} g, range [{X.min():.2f}, {X.max():.2f}] g")
    if plot is not None:
        from .plots import plot_windows

        if real is None:
            real = _reference_windows(config, n)
        plot_windows(real, X, plot, title=f"{mode}, {solver} x {steps} steps")
        console.print(f"wrote {plot}")


def _condition(model, run: Path, real, n: int, r_zero: bool, gen):
    """(r (n, r_dim), what it is): the embeddings of ``real``, a draw from the run's prior, or zeros."""
    import torch

    if real is not None:
        with torch.no_grad():
            return model.embed(torch.from_numpy(real)), "reconstruction"
    if not r_zero and getattr(model, "prior", None) is not None:
        r = model.unconditional_r(n, generator=gen)
        console.print(f"r drawn from the run's prior ({model.prior.components}-component Gaussian mixture over r); "
                      "--r-zero generates from r = 0")
        return r, "unconditional, r from the prior"
    if not r_zero and hasattr(model, "attach_prior"):
        console.print(f"r = 0: the run has no prior over r; fit one with `flowfm-edge fit-prior {run}`")
    return torch.zeros(n, model.cfg.r_dim), "unconditional, r = 0"


def _reference_windows(config: dict, n: int):
    """Real windows from the run's training source, for the left column of the plot, when it can be read."""
    import numpy as np

    try:
        ws = load_windows(config["data"]["spec"], split="labelled")
    except (KeyError, ValueError, OSError):
        return None
    pick = np.random.default_rng(0).choice(len(ws), size=min(n, len(ws)), replace=False)
    return ws.X[pick]
