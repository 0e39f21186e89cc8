"""The ``fit-prior`` command, registered on the main typer app by ``flowfm_edge.cli``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..cli_common import cli_errors, console

DATA_HELP = ("Windows to fit on: 'synthetic', 'hapt', a .npz file, or an SSL-Wearables directory (with --rate); "
             "default: the run's training data.")


def fit_prior_command(run: Path, data: Optional[str] = None, rate: Optional[float] = None, seed: int = 0) -> dict:
    """Fit and save the prior of ``run`` on ``data`` (default: its training data); the prior.json record."""
    from ..data import load_source
    from .checkpoint import load_model
    from .prior import fit_run_prior

    model, config = load_model(run)
    if not hasattr(model, "attach_prior"):
        raise ValueError(f"{run}: a {model.cfg.objective} run; the prior over r is for generative runs (FlowFM and its diffusion twin)")
    spec = data or config.get("data", {}).get("spec")
    if spec is None:
        raise ValueError(f"{run}: the run does not name its training data; pass --data DATA")
    try:
        ws = load_source(spec, split="pretrain", rate=rate)
    except (ValueError, OSError) as exc:
        whose = "" if data else " (the run's training data)"
        raise ValueError(f"data {spec!r}{whose} could not be read ({exc}); pass --data DATA") from exc
    _, info = fit_run_prior(run, model, ws.X, spec, seed=seed)
    return info


@cli_errors
def fit_prior(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint (a flow or diffusion run)."),
    data: Optional[str] = typer.Option(None, help=DATA_HELP),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    seed: int = typer.Option(0, help="Seed of the mixture fit."),
):
    """Fit the prior over r that unconditional generation draws from, and save it with the run.

    Embeds the windows with the EMA encoder and fits Gaussian mixtures (1-16 components, full or diagonal covariance, lowest BIC). Training does this by itself; use this for older runs or other data. Writes RUN/checkpoint/prior.safetensors and prior.json.
    """
    info = fit_prior_command(run, data, rate, seed)
    console.print(f"wrote {run}/checkpoint/prior.safetensors: {info['components']}-component "
                  f"{info['covariance_type']} Gaussian mixture over r (dim {info['r_dim']}) of "
                  f"{info['n_windows']} windows, log-likelihood {info['log_likelihood']:.2f} per window, "
                  f"fitted in {info['fit_seconds']:.1f} s", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("fit-prior")(fit_prior)
