"""The training commands: ``train`` (FlowFM, its diffusion twin and the MTL baseline; DDP under torchrun)
and ``fit-prior`` (the prior over r of a run that has none, or on other data).

Training code loads inside each command, so the runtime install (no torch) lists them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import DATA_HELP, cli_errors, console

FIT_PRIOR_DATA_HELP = ("Windows to fit on: 'synthetic', 'hapt', a .npz file, or an SSL-Wearables directory (with "
                       "--rate); default: the run's training data.")


@cli_errors
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", help="A run file (TOML: \\[data], \\[model], \\[train] tables of the typed configs; a run's saved run.toml works). Options given here win over it; what neither sets is the recipe's."),
    source: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    out: Path = typer.Option(..., help="Run directory: checkpoint/ and metrics.csv are written here."),
    preset: Optional[str] = typer.Option(None, help="Model size: nano (tests), tiny (edge default), small (paper scale)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Optimiser steps."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Global batch size (split across DDP ranks)."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (AdamW, warmup + cosine)."),
    warmup: Optional[int] = typer.Option(None, min=0, help="Linear warm-up steps."),
    weight_decay: Optional[float] = typer.Option(None, min=0.0, help="AdamW weight decay."),
    decay: Optional[str] = typer.Option(None, help="What weight decay applies to: matrices (not norms, biases, embeddings) or all."),
    p_dgs: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Dynamic Guidance Switching: probability of dropping r."),
    time_sampling: Optional[str] = typer.Option(None, help="Training times t: uniform, logit-normal (mean --time-mu) or noise-heavy."),
    time_mu: Optional[float] = typer.Option(None, help="Mean of logit-normal times; < 0 trains more near the noise."),
    r_dim: Optional[int] = typer.Option(None, min=0, help="Size of r; 0 = the preset's width."),
    r_norm: Optional[str] = typer.Option(None, help="Bottleneck on r: none, layernorm or l2."),
    view_mask: Optional[float] = typer.Option(None, min=0.0, max=0.95, help="Encoder view: fraction of patch tokens dropped in training."),
    view_rotate_deg: Optional[float] = typer.Option(None, "--view-rotate", min=0.0, help="Encoder view: random rotation up to this many degrees."),
    view_scale: Optional[float] = typer.Option(None, min=0.0, help="Encoder view: per-axis gain SD."),
    view_shift: Optional[int] = typer.Option(None, min=0, help="Encoder view: circular time shift up to this many samples."),
    augment_rotate_deg: Optional[float] = typer.Option(None, "--augment-rotate", min=0.0, help="Both views: random rotation of the training window up to this many degrees (what the encoder sees and the generator rebuilds)."),
    encoder_input: Optional[str] = typer.Option(None, help="What the encoder reads: xyz (the axes), xyz+mag (plus |a| - 1 g), xyz-mean (axes less their window mean: gravity removed) or gravity-frame (vertical, horizontal and total acceleration about the window's mean: the same at any device orientation, blind to tilt)."),
    objective: Optional[str] = typer.Option(None, help="Training objective: flow (FlowFM); baselines register theirs."),
    seed: Optional[int] = typer.Option(None, help="Seed for weights, batches, noise and DGS (0 to 2**32 - 1)."),
    amp: Optional[str] = typer.Option(None, help="Autocast: auto (bf16 on CUDA, and on CPUs with native bf16 whose bf16 matmuls are measured >= 1.25x faster than fp32; fp32 elsewhere), bf16, fp16, off."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model (inductor): pays only on long runs where autocast is fp32, after about a minute of compiling (benchmarks/NOTES.md, \"Training throughput\")."),
    ckpt_every: Optional[int] = typer.Option(None, min=1, help="Checkpoint every N steps (resumable)."),
    resume: bool = typer.Option(False, help="Continue from OUT/checkpoint if present."),
    force: bool = typer.Option(False, "--force", help="OUT holds a run: delete it (checkpoint, head, prior, model card, metrics) and start over. Without --resume or --force such an OUT is refused."),
    verify: str = typer.Option("quick", help="A shard store given as --data is checked at open: quick (index, and each shard's size, header and sampled sha256) or full (also every byte's sha256 and every window finite)."),
    until: Optional[int] = typer.Option(None, min=1, help="Stop (with a checkpoint) after this step; --resume later."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
    logger: str = typer.Option("none", help="Also log metrics to: none, tensorboard (RUN/tensorboard) or mlflow ($MLFLOW_TRACKING_URI, else RUN/mlflow.db); the \\[track] extra."),
):
    """Train FlowFM (encoder + flow-matching generator, jointly). Works under torchrun for DDP.

    An option left out takes the run file's value (--config), else the recipe's (flowfm_edge/recipe.py, chosen by `benchmarks.claims.ablate_representation`), else the default of the typed configs (ModelConfig, TrainConfig). The run saves what it resolved to as OUT/run.toml.
    """
    from ..training.run import train_run
    from ..training.run_config import options_given, resolve_run_config

    run = resolve_run_config(options_given(ctx.params), run_file=config)
    train_run(run, out, resume=resume, until=until, device=device, logger=logger, force=force, verify=verify,
              log=lambda s: console.print(s, highlight=False))


@cli_errors
def fit_prior(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint (a flow or diffusion run)."),
    data: Optional[str] = typer.Option(None, help=FIT_PRIOR_DATA_HELP),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    seed: int = typer.Option(0, help="Seed of the mixture fit."),
):
    """Fit the prior over r that unconditional generation draws from, and save it with the run.

    Embeds the windows with the EMA encoder and fits Gaussian mixtures (1-16 components, full or diagonal covariance, lowest BIC). Training does this by itself; use this for older runs or other data. Writes RUN/checkpoint/prior.safetensors and prior.json.
    """
    from ..training.prior import fit_prior_for_run

    info = fit_prior_for_run(run, data, rate, seed)
    console.print(f"wrote {run}/checkpoint/prior.safetensors: {info['components']}-component "
                  f"{info['covariance_type']} Gaussian mixture over r (dim {info['r_dim']}) of "
                  f"{info['n_windows']} windows, log-likelihood {info['log_likelihood']:.2f} per window, "
                  f"fitted in {info['fit_seconds']:.1f} s", highlight=False)
