"""The ``flowfm-edge`` command line (typer). Every command turns errors into one red line and exit 1.

``train``, ``quickstart`` and ``doctor`` live here; the other commands live beside what they
drive and are added below in the order ``--help`` lists them. Loading it needs the runtime install
only (numpy, onnxruntime: no torch); :data:`TRAINING_COMMANDS` need the training install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .bench import commands as bench_commands
from .cli_common import DATA_HELP, cli_errors, console, load_windows, requires_training
from .data.commands import register as register_data
from .evaluation import commands as evaluation_commands
from .export import commands as export_commands
from .runtimes import commands as runtimes_commands
from .runtimes import device_commands
from .text import commands as text_commands
from .training import commands as training_commands
from .evaluation.probe_commands import embed, probe, run_probe
from .generate_command import generate
from .recipe import QUICKSTART_STEPS

app = typer.Typer(
    help="Train FlowFM on wearable accelerometer windows and take it to edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
    encoder_input: Optional[str] = typer.Option(None, help="What the encoder reads: xyz (the axes), xyz+mag (plus |a| - 1 g) or xyz-mean (axes less their window mean: gravity removed)."),
    objective: Optional[str] = typer.Option(None, help="Training objective: flow (FlowFM); baselines register theirs."),
    seed: Optional[int] = typer.Option(None, help="Seed for weights, batches, noise and DGS (0 to 2**32 - 1)."),
    amp: Optional[str] = typer.Option(None, help="Autocast: auto (bf16 on CUDA, and on CPUs with native bf16 whose bf16 matmuls are measured >= 1.25x faster than fp32; fp32 elsewhere), bf16, fp16, off."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model (inductor): pays only on long runs where autocast is fp32, after about a minute of compiling (benchmarks/README.md, \"Training throughput\")."),
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

    An option left out takes the run file's value (--config), else the recipe's (flowfm_edge/recipe.py, chosen by benchmarks/ablate_representation.py), else the default of the typed configs (ModelConfig, TrainConfig). The run saves what it resolved to as OUT/run.toml.
    """
    from .training.run import train_run
    from .training.run_config import options_given, resolve_run_config

    run = resolve_run_config(options_given(ctx.params), run_file=config)
    train_run(run, out, resume=resume, until=until, device=device, logger=logger, force=force, verify=verify,
              log=lambda s: console.print(s, highlight=False))


@cli_errors
def quickstart(
    out: Path = typer.Option(Path("runs/hapt-tiny"), help="Run directory."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    preset: str = typer.Option("tiny", help="Model size."),
    steps: int = typer.Option(QUICKSTART_STEPS, min=1, help="Training steps of batch 64: the quickstart's budget (see the README for what a longer run gives)."),
    seed: int = typer.Option(0, help="Seed."),
    force: bool = typer.Option(False, "--force", help="OUT holds a run: delete it and start over."),
):
    """The main job: train FlowFM on HAPT with the default recipe, probe it beside its baselines, plot what it learned."""
    from .evaluation import embed_windows
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
    ws = load_windows(data)
    model, _ = load_model(out)
    plot_embeddings(embed_windows(model, ws.X), ws.y, ws.classes, out / "embeddings.png",
                    title=f"FlowFM-{preset} embeddings of {ws.source} (PCA)")
    plot_training(out / "metrics.csv", out / "loss.png")
    generate(run=out, n=4, steps=8, solver="euler", guidance=None, like=None, seed=seed,
             out=out / "samples.npz", plot=out / "samples.png", text=None, r_zero=False)
    console.print(f"plots: {out}/probe.png, {out}/embeddings.png, {out}/loss.png, {out}/samples.png")


@cli_errors
def doctor():
    """Versions, available backends and extras, CPU and GPU."""
    from .doctor import report

    for name, value in report():
        console.print(f"{name:<22} {value}", highlight=False, markup=False)


# the modules whose commands register themselves, in the order --help lists them
COMMAND_MODULES = (training_commands, export_commands, device_commands, evaluation_commands, runtimes_commands,
                   text_commands, bench_commands)


# The commands that need the training install (torch, scipy, scikit-learn, matplotlib: the [train] extra). The
# runtime install lists every command and runs the others; these fail there at once, in one line naming the
# install to add. A command that reaches a training module another way says so too (cli_common.cli_errors).
TRAINING_COMMANDS = frozenset({
    "train", "generate", "embed", "probe", "quickstart", "fit-prior", "export", "evaluate", "train-feature-net",
    "quality", "train-text", "text-eval", "data convert", "data shard", "bench compare",
})


def commands(app: typer.Typer, prefix: str = ""):
    """(name as typed, typer's CommandInfo) of every command registered on ``app``, groups included."""
    for info in app.registered_commands:
        yield prefix + (info.name or info.callback.__name__.lower().replace("_", "-")), info  # typer's default name
    for group in app.registered_groups:
        yield from commands(group.typer_instance, f"{prefix}{group.name} ")


app.command()(train)
app.command()(generate)
app.command()(embed)
app.command()(probe)
app.command()(quickstart)
register_data(app)
app.command()(doctor)
for module in COMMAND_MODULES:
    module.register(app)
for _name, _info in commands(app):
    if _name in TRAINING_COMMANDS:
        _info.callback = requires_training(_name, _info.callback)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
