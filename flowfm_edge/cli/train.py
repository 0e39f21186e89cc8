"""The ``flowfm-edge`` command line (typer). Every command turns errors into one red line and exit 1.

``train``, ``quickstart`` and ``doctor`` live here; the other commands live beside what they
drive and are added below in the order ``--help`` lists them. Loading it needs the runtime install
only (numpy, onnxruntime: no torch); :data:`TRAINING_COMMANDS` need the training install.
"""

from __future__ import annotations

import os
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
from .recipe import QUICKSTART_STEPS, RECIPE, model_overrides, train_overrides

app = typer.Typer(
    help="Train FlowFM on wearable accelerometer windows and take it to edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
    from .training.run_config import read_run_config

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


def train_run(data: str, out: Path, preset: str, model_kw: dict, train_kw: dict, resume: bool = False,
              until: Optional[int] = None, rate: Optional[float] = None, device: Optional[str] = None,
              logger: str = "none", force: bool = False, verify: str = "quick") -> None:
    """Check the options, the run directory and the logger, read the data, then train (see ``training.train``)."""
    from .models import OBJECTIVES, ModelConfig
    from .training import TrainConfig, train as train_loop
    from .training.checkpoint import check_run_dir
    from .training.run_config import resolved_run_config
    from .training.trackers import check_logger

    objective = model_kw.get("objective", "flow")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; available: {', '.join(OBJECTIVES)}")
    model_cfg = ModelConfig.from_preset(preset, **model_kw)
    cfg = TrainConfig(**train_kw)
    if int(os.environ.get("RANK", "0")) == 0:
        check_run_dir(out, resume, force)
    check_logger(logger)
    ws = load_windows(data, split="pretrain", rate=rate, verify=verify)
    ws.meta["spec"] = data
    console.print(f"training {objective} model ({preset}) on {len(ws)} windows from {ws.source} for {cfg.steps} steps "
                  f"of batch {cfg.batch_size}", highlight=False)
    resolved = resolved_run_config({"source": data, "rate": rate}, model_cfg, cfg)
    train_loop(ws, out, model_cfg, cfg, resume=resume, device=device, until=until, logger=logger, force=force,
               run_file=resolved)
    console.print(f"wrote {out}/checkpoint and {out}/metrics.csv")


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

    console.print(f"quickstart budget: {preset}, {steps} steps of batch 64 (a short run; "
                  f"`flowfm-edge train --steps N` trains longer)", highlight=False)
    train_run(data, out, preset, model_overrides(),
              train_overrides(steps=steps, batch_size=64, warmup=min(100, steps // 10), seed=seed), force=force)
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
