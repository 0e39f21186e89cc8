"""The training commands: ``train`` (FlowFM, its diffusion twin and the MTL baseline; DDP under torchrun)
and ``fit-prior`` (the prior over r of a run that has none, or on other data).

Training code loads inside each command, so the runtime install (no torch) lists them too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..recipe import RECIPE
from .common import DATA_HELP, cli_errors, console

FIT_PRIOR_DATA_HELP = ("Windows to fit on: 'synthetic', 'hapt', a .npz file, or an SSL-Wearables directory (with "
                       "--rate); default: the run's training data.")


@cli_errors
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", help="A run file (TOML: \\[data], \\[model], \\[train] tables of the typed configs; a run's saved run.toml works). Options given here win over it."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    out: Path = typer.Option(..., help="Run directory: checkpoint/ and metrics.csv are written here."),
    preset: str = typer.Option("nano", help="Model size: nano (tests), tiny (edge default), small (paper scale)."),
    steps: int = typer.Option(1000, min=1, help="Optimiser steps."),
    batch_size: int = typer.Option(64, min=1, help="Global batch size (split across DDP ranks)."),
    lr: float = typer.Option(RECIPE["lr"], help="Peak learning rate (AdamW, warmup + cosine)."),
    warmup: int = typer.Option(100, min=0, help="Linear warm-up steps."),
    weight_decay: float = typer.Option(RECIPE["weight_decay"], min=0.0, help="AdamW weight decay."),
    decay: str = typer.Option(RECIPE["decay"], help="What weight decay applies to: matrices (not norms, biases, embeddings) or all."),
    p_dgs: float = typer.Option(RECIPE["p_dgs"], min=0.0, max=1.0, help="Dynamic Guidance Switching: probability of dropping r."),
    time_sampling: str = typer.Option(RECIPE["time_sampling"], help="Training times t: uniform, logit-normal (mean --time-mu) or noise-heavy."),
    time_mu: float = typer.Option(0.0, help="Mean of logit-normal times; < 0 trains more near the noise."),
    r_dim: int = typer.Option(RECIPE["r_dim"], min=0, help="Size of r; 0 = the preset's width."),
    r_norm: str = typer.Option(RECIPE["r_norm"], help="Bottleneck on r: none, layernorm or l2."),
    view_mask: float = typer.Option(RECIPE["view_mask"], min=0.0, max=0.95, help="Encoder view: fraction of patch tokens dropped in training."),
    view_rotate: float = typer.Option(RECIPE["view_rotate_deg"], min=0.0, help="Encoder view: random rotation up to this many degrees."),
    view_scale: float = typer.Option(RECIPE["view_scale"], min=0.0, help="Encoder view: per-axis gain SD."),
    view_shift: int = typer.Option(RECIPE["view_shift"], min=0, help="Encoder view: circular time shift up to this many samples."),
    augment_rotate: float = typer.Option(RECIPE["augment_rotate_deg"], min=0.0, help="Both views: random rotation of the training window up to this many degrees (what the encoder sees and the generator rebuilds)."),
    encoder_input: str = typer.Option(RECIPE["encoder_input"], help="What the encoder reads: xyz (the axes), xyz+mag (plus |a| - 1 g) or xyz-mean (axes less their window mean: gravity removed)."),
    objective: str = typer.Option("flow", help="Training objective: flow (FlowFM); baselines register theirs."),
    seed: int = typer.Option(0, help="Seed for weights, batches, noise and DGS (0 to 2**32 - 1)."),
    amp: str = typer.Option("auto", help="Autocast: auto (bf16 on CUDA, and on CPUs with native bf16 whose bf16 matmuls are measured >= 1.25x faster than fp32; fp32 elsewhere), bf16, fp16, off."),
    compile_model: bool = typer.Option(False, "--compile/--no-compile", help="torch.compile the model (inductor): pays only on long runs where autocast is fp32, after about a minute of compiling (benchmarks/README.md, \"Training throughput\")."),
    ckpt_every: int = typer.Option(500, min=1, help="Checkpoint every N steps (resumable)."),
    resume: bool = typer.Option(False, help="Continue from OUT/checkpoint if present."),
    force: bool = typer.Option(False, "--force", help="OUT holds a run: delete it (checkpoint, head, prior, model card, metrics) and start over. Without --resume or --force such an OUT is refused."),
    verify: str = typer.Option("quick", help="A shard store given as --data is checked at open: quick (index, and each shard's size, header and sampled sha256) or full (also every byte's sha256 and every window finite)."),
    until: Optional[int] = typer.Option(None, min=1, help="Stop (with a checkpoint) after this step; --resume later."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
    logger: str = typer.Option("none", help="Also log metrics to: none, tensorboard (RUN/tensorboard) or mlflow ($MLFLOW_TRACKING_URI, else RUN/mlflow.db); the \\[track] extra."),
):
    """Train FlowFM (encoder + flow-matching generator, jointly). Works under torchrun for DDP.

    The defaults are the recipe of benchmarks/ablate_representation.py (benchmarks/README.md).
    """
    model_kw = dict(p_dgs=p_dgs, time_sampling=time_sampling, time_mu=time_mu, r_norm=r_norm, view_mask=view_mask,
                    view_rotate_deg=view_rotate, view_scale=view_scale, view_shift=view_shift, augment_rotate_deg=augment_rotate,
                    encoder_input=encoder_input, objective=objective)
    if r_dim:
        model_kw["r_dim"] = r_dim
    train_kw = dict(steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay,
                    decay=decay, seed=seed, amp=amp, compile=compile_model, ckpt_every=ckpt_every)
    from ..training.run import train_run

    if config is not None:
        data, rate, preset = apply_run_file(ctx, config, model_kw, train_kw, data, rate, preset)
    train_kw["warmup"] = min(train_kw["warmup"], train_kw["steps"])
    train_run(data, out, preset, model_kw, train_kw, resume=resume, until=until, rate=rate, device=device,
              logger=logger, force=force, verify=verify)


# command-line option -> (table, key) of a run file
RUN_FILE_KEYS = {"data": ("data", "source"), "rate": ("data", "rate"), "preset": ("model", "preset"),
                 "view_rotate": ("model", "view_rotate_deg"), "augment_rotate": ("model", "augment_rotate_deg"),
                 **{k: ("model", k) for k in ("p_dgs", "time_sampling", "time_mu", "r_dim", "r_norm", "view_mask",
                                              "view_scale", "view_shift", "encoder_input", "objective")},
                 **{k: ("train", k) for k in ("steps", "batch_size", "lr", "warmup", "weight_decay", "decay", "seed",
                                              "amp", "ckpt_every")},
                 "compile_model": ("train", "compile")}


def apply_run_file(ctx: typer.Context, path: Path, model_kw: dict, train_kw: dict, data: str,
                   rate: Optional[float], preset: str) -> tuple[str, Optional[float], str]:
    """Fill ``model_kw``/``train_kw`` from the run file at ``path`` where no option was given on the command line."""
    from ..training.run_config import read_run_config

    tables = read_run_config(path)
    sources = {name: ctx.get_parameter_source(name) for name in RUN_FILE_KEYS}  # typer may carry its own click:
    given = {RUN_FILE_KEYS[n] for n, src in sources.items() if src is not None and src.name != "DEFAULT"}  # by name
    pick = {(t, k): v for t, table in tables.items() for k, v in table.items() if (t, k) not in given}
    for (table, key), value in pick.items():
        if table == "model" and key != "preset":
            model_kw[key] = value
        elif table == "train":
            train_kw[key] = value
    return (pick.get(("data", "source"), data), pick.get(("data", "rate"), rate), pick.get(("model", "preset"), preset))


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
