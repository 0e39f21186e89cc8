"""The evaluation commands: ``evaluate`` (downstream HAR with subject-wise splits), ``train-feature-net`` (the
frozen classifier behind the Frechet distance) and ``quality`` (generation quality against NFE)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import DATA_HELP, cli_errors, console, write_file


def _parse_steps(steps: str) -> list[int]:
    try:
        out = [int(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--steps must be comma-separated integers such as 1,2,4,8; got {steps!r}") from None
    if not out or min(out) < 1:
        raise ValueError(f"--steps must list positive integers such as 1,2,4,8; got {steps!r}")
    return out


@cli_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint (any objective)."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    protocol: str = typer.Option("linear-probe", help="linear-probe (frozen), fine-tune (all layers) or scratch."),
    split: str = typer.Option("auto", help="Subject-wise: auto (LOSO for <= 10 subjects, else 5x80-20), loso, 5x80-20."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result here."),
    plot: Optional[Path] = typer.Option(None, help="Write the confusion matrix (all folds) as PNG."),
    epochs: int = typer.Option(100, min=1, help="fine-tune / scratch: most epochs per fold (early stopping on validation loss; folds that reach it are flagged)."),
    patience: int = typer.Option(10, min=1, help="fine-tune / scratch: epochs without a better validation loss before stopping."),
    lr: float = typer.Option(0.0, min=0.0, help="fine-tune / scratch learning rate; 0 = protocol default (fine-tune 1e-4, scratch 1e-3)."),
    batch_size: int = typer.Option(64, min=2, help="Batch size."),
    seed: int = typer.Option(0, help="Seed of head initialisation and batch order (splits use 42/41)."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
):
    """Downstream HAR evaluation with subject-wise splits: macro F1 and kappa, per subject and pooled."""
    from ..evaluation.downstream import evaluate_run
    from ..evaluation.finetune import FitConfig

    cfg = FitConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, patience=patience, seed=seed, device=device)
    result = evaluate_run(run, data, protocol, split, cfg, rate=rate, plot=plot)
    write_file(json_out, json.dumps(result, indent=2))
    if json_out is not None:
        console.print(f"wrote {json_out}")


@cli_errors
def train_feature_net_cmd(
    data: str = typer.Option("hapt", help=DATA_HELP),
    out: Path = typer.Option(..., help="Writes OUT.safetensors and OUT.json (any suffix given is replaced)."),
    epochs: int = typer.Option(30, min=1, help="Most epochs (early stopping on validation subjects)."),
    seed: int = typer.Option(0, help="Seed."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
):
    """Train the frozen HAR classifier whose features the Frechet distance uses (never the model under test)."""
    from ..evaluation.feature_net import fit_feature_net

    net, weights, meta = fit_feature_net(data, out, epochs=epochs, seed=seed, rate=rate, device=device)
    info = net.cfg.info
    console.print(f"feature network: {info['epochs']} epochs, validation macro-F1 {info['val_macro_f1_pooled']:.3f} "
                  f"(pooled, subjects {', '.join(info['val_subjects'])}); wrote {weights} and {meta}",
                  highlight=False, soft_wrap=True)


@cli_errors
def quality(
    run: Path = typer.Argument(..., help="Run directory of a flow or diffusion model."),
    data: Optional[str] = typer.Option(None, help="Real windows to score against; default: the run's own "
                                       "training data and split. " + DATA_HELP),
    feature_net: Path = typer.Option(..., help="Feature network from `flowfm-edge train-feature-net`."),
    steps: str = typer.Option("1,2,4,8,16,32", help="Comma-separated step counts (solver steps or DDIM steps)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result here."),
    mode: str = typer.Option("both", help="reconstruction, unconditional or both."),
    n: int = typer.Option(1000, min=2, help="Generated windows per setting, against as many real ones (all if fewer)."),
    resamples: int = typer.Option(200, min=2, help="Bootstrap resamples behind each FD's 95% interval."),
    solver: str = typer.Option("euler", help="FlowFM solver: euler, midpoint, heun, rk4 or euler-sde (stochastic)."),
    guidance: Optional[float] = typer.Option(None, help="Guidance weight w (doubles the NFE)."),
    ddpm_steps: int = typer.Option(1000, min=0, help="Diffusion runs: ancestral DDPM steps (0 skips DDPM)."),
    seed: int = typer.Option(0, help="Seed of the real-window draw, the sampler noise and the bootstrap."),
    plot: Optional[Path] = typer.Option(None, help="Write Frechet distance against NFE as PNG."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
):
    """Generation quality at every step count, with its NFE.

    Frechet distance (FD) with a 95% bootstrap interval, static-window fraction (real and
    generated), spectrum and marginals, against N real windows of the run's own training
    data and split (or --data); the floor is the FD between two disjoint real halves of N.
    """
    from ..evaluation.quality import quality_run

    result = quality_run(run, feature_net, _parse_steps(steps), data=data, mode=mode, n=n, resamples=resamples,
                         solver=solver, guidance=guidance, ddpm_steps=ddpm_steps, seed=seed, plot=plot, rate=rate)
    write_file(json_out, json.dumps(result, indent=2))
    if json_out is not None:
        console.print(f"wrote {json_out}")
