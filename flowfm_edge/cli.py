"""The ``flowfm-edge`` command line (typer). Every command turns errors into one red line and exit 1."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    help="Train FlowFM on wearable accelerometer windows and take it to edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

from .recipe import QUICKSTART_STEPS, RECIPE, model_overrides, train_overrides

DATA_HELP = "Data: 'synthetic', 'hapt' (needs the [data] extra), a .npz file, or an SSL-Wearables directory (with --rate)."


def cli_errors(fn):
    """Turn the errors a user can act on into one red line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except (ValueError, FileNotFoundError, RuntimeError, ImportError, OSError) as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _finite_rows(a, what: str, where: str, fix: str) -> None:
    """Refuse ``a`` (N, ...) when any row holds NaN or Inf, naming the first row indices."""
    import numpy as np

    bad = np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10]) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise ValueError(f"{where}: {what} {shown} of {len(a)} hold NaN or Inf; nothing was written ({fix})")


def _load(data: str, split: str = "labelled", rate: Optional[float] = None):
    from .data import load_source

    return load_source(data, split=split, rate=rate)


@app.command()
@cli_errors
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", help="A run file (TOML: [data], [model], [train] tables of the typed configs; a run's saved run.toml works). Options given here win over it."),
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
    objective: str = typer.Option("flow", help="Training objective: flow (FlowFM); baselines register theirs."),
    seed: int = typer.Option(0, help="Seed for weights, batches, noise and DGS."),
    amp: str = typer.Option("auto", help="Autocast: auto (bf16 on CUDA, and on CPUs with native bf16 whose bf16 matmuls are measured >= 1.25x faster than fp32; fp32 elsewhere), bf16, fp16, off."),
    ckpt_every: int = typer.Option(500, min=1, help="Checkpoint every N steps (resumable)."),
    resume: bool = typer.Option(False, help="Continue from OUT/checkpoint if present."),
    until: Optional[int] = typer.Option(None, min=1, help="Stop (with a checkpoint) after this step; --resume later."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda or cuda:N (default: cuda when available)."),
    logger: str = typer.Option("none", help="Also log metrics to: none, tensorboard (RUN/tensorboard) or mlflow ($MLFLOW_TRACKING_URI, else RUN/mlflow.db); the [track] extra."),
):
    """Train FlowFM (encoder + flow-matching generator, jointly). Works under torchrun for DDP.

    The defaults are the recipe of benchmarks/ablate_representation.py (benchmarks/README.md).
    """
    model_kw = dict(p_dgs=p_dgs, time_sampling=time_sampling, time_mu=time_mu, r_norm=r_norm, view_mask=view_mask,
                    view_rotate_deg=view_rotate, view_scale=view_scale, view_shift=view_shift, objective=objective)
    if r_dim:
        model_kw["r_dim"] = r_dim
    train_kw = dict(steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay,
                    decay=decay, seed=seed, amp=amp, ckpt_every=ckpt_every)
    if config is not None:
        data, rate, preset = apply_run_file(ctx, config, model_kw, train_kw, data, rate, preset)
    train_kw["warmup"] = min(train_kw["warmup"], train_kw["steps"])
    train_run(data, out, preset, model_kw, train_kw, resume=resume, until=until, rate=rate, device=device,
              logger=logger)


# command-line option -> (table, key) of a run file
RUN_FILE_KEYS = {"data": ("data", "source"), "rate": ("data", "rate"), "preset": ("model", "preset"),
                 "view_rotate": ("model", "view_rotate_deg"),
                 **{k: ("model", k) for k in ("p_dgs", "time_sampling", "time_mu", "r_dim", "r_norm", "view_mask",
                                              "view_scale", "view_shift", "objective")},
                 **{k: ("train", k) for k in ("steps", "batch_size", "lr", "warmup", "weight_decay", "decay", "seed",
                                              "amp", "ckpt_every")}}


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
              logger: str = "none") -> None:
    from .models import OBJECTIVES, ModelConfig
    from .training import TrainConfig, train as train_loop
    from .training.run_config import resolved_run_config, write_run_config

    objective = model_kw.get("objective", "flow")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; available: {', '.join(OBJECTIVES)}")
    ws = _load(data, split="pretrain", rate=rate)
    ws.meta["spec"] = data
    model_cfg = ModelConfig.from_preset(preset, **model_kw)
    model_cfg.validate()
    cfg = TrainConfig(**train_kw)
    console.print(f"training {objective} model ({preset}) on {len(ws)} windows from {ws.source} for {cfg.steps} steps "
                  f"of batch {cfg.batch_size}", highlight=False)
    resolved = resolved_run_config({"source": data, "rate": rate}, model_cfg, cfg)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if rank0 and not resume:  # a resumed run's file is rewritten once the loop has accepted the resume
        write_run_config(Path(out) / "run.toml", resolved)
    train_loop(ws, out, model_cfg, cfg, resume=resume, device=device, until=until, logger=logger)
    if rank0 and resume:
        write_run_config(Path(out) / "run.toml", resolved)
    console.print(f"wrote {out}/checkpoint and {out}/metrics.csv")


@app.command()
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

        return generate_from_text(run, text, n, steps, solver, guidance, like, seed, out, plot, console)
    import numpy as np
    import torch

    from .data import load_npz
    from .solvers import check_solver
    from .training import load_model

    r_zero = r_zero is True  # called from Python without it, the default is typer's OptionInfo
    check_solver(solver)
    model, config = load_model(run)
    real = None
    mode = "reconstruction"
    if like is not None:
        real = load_npz(like).X[:n]
        n = len(real)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, model.cfg.channels, model.cfg.window, generator=gen)  # first, so r = 0 and prior share it
    if real is not None:
        with torch.no_grad():
            r = model.embed(torch.from_numpy(real))
    elif not r_zero and getattr(model, "prior", None) is not None:
        r = model.unconditional_r(n, generator=gen)
        mode = "unconditional, r from the prior"
        console.print(f"r drawn from the run's prior ({model.prior.components}-component Gaussian mixture over r); "
                      "--r-zero generates from r = 0")
    else:
        r = torch.zeros(n, model.cfg.r_dim)
        mode = "unconditional, r = 0"
        if not r_zero and hasattr(model, "attach_prior"):
            console.print(f"r = 0: the run has no prior over r; fit one with `flowfm-edge fit-prior {run}`")
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


def _reference_windows(config: dict, n: int):
    """Real windows from the run's training source, for the left column of the plot, when it can be read."""
    import numpy as np

    try:
        ws = _load(config["data"]["spec"], split="labelled")
    except (KeyError, ValueError, OSError):
        return None
    pick = np.random.default_rng(0).choice(len(ws), size=min(n, len(ws)), replace=False)
    return ws.X[pick]


@app.command()
@cli_errors
def embed(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    data: str = typer.Option(..., help=DATA_HELP),
    out: Path = typer.Option(..., help="Output .npz with r (N, r_dim), y and pid."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
):
    """Embed every window of a dataset with the frozen encoder."""
    import numpy as np

    from .evaluation import embed_windows
    from .training import load_model

    model, _ = load_model(run)
    ws = _load(data, rate=rate)
    _finite_rows(ws.X, "windows", ws.source, "drop or repair those windows")
    r = embed_windows(model, ws.X)
    _finite_rows(r, "the embeddings of windows", ws.source, "values too large for the model? windows must be in g")
    arrays = {"r": r, "pid": ws.pid}
    if ws.y is not None:
        arrays["y"] = ws.y
    if ws.classes is not None:
        arrays["classes"] = np.array(ws.classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    console.print(f"wrote {len(r)} embeddings of dim {r.shape[1]} to {out}")


BASELINE_NAMES = {"untrained": "untrained encoder", "hand-crafted": "hand-crafted", "raw": "raw windows"}


@app.command()
@cli_errors
def probe(
    run: Path = typer.Argument(..., help="Run directory with a checkpoint."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    baselines: str = typer.Option("untrained,hand-crafted,raw",
                                  help="Comma-separated baselines probed on the same folds: untrained (same encoder, "
                                       "random weights, the run's seed), hand-crafted (HAR features), raw (flattened "
                                       "windows); 'none' for none."),
    split: str = typer.Option("auto", help="Subject-wise folds: auto (LOSO for <= 10 subjects, else 5 x 80/20), loso, 5x80-20."),
    seed: int = typer.Option(42, help="Seed of the subject-wise 80/20 split of the head saved for export."),
    rate: Optional[float] = typer.Option(None, help="Native sample rate for an SSL-Wearables directory."),
):
    """Probe frozen embeddings with a converged logistic regression over subject-wise folds, beside baselines.

    Writes RUN/probe.json and RUN/probe.png, and saves a classifier head (fitted on the
    training subjects of one 80/20 split) with the run for export.
    """
    run_probe(run, data, seed, baselines, split, rate)


def run_probe(run: Path, data: str, seed: int = 42, baselines: str = "untrained,hand-crafted,raw",
              split: str = "auto", rate: Optional[float] = None) -> dict:
    """The probe table of ``run`` and its baselines (printed, saved as probe.json / probe.png) and the export head."""
    from rich.table import Table

    from .data import subject_split
    from .evaluation import linear_probe, probe_head
    from .evaluation.baselines import feature_sets, representation_table, summary_rows
    from .evaluation.figures import plot_probe
    from .training import load_model, save_head
    from .training.model_card import write_model_card

    names = [] if baselines.strip() == "none" else [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINE_NAMES]
    if unknown:
        raise ValueError(f"unknown --baselines {unknown}; choose from {', '.join(BASELINE_NAMES)} or none")
    model, config = load_model(run)
    ws = _load(data, rate=rate)
    if ws.y is None:
        raise ValueError(f"{ws.source}: no labels (field 'y'); a probe needs labelled windows")
    train_seed = int(config.get("train", {}).get("seed", 0))
    console.print(f"probing {run} on {len(ws)} labelled windows of {ws.source} ({len(set(ws.pid.tolist()))} subjects)")
    sets = feature_sets(model, ws, train_seed, baselines=tuple(BASELINE_NAMES[b] for b in names))
    table = representation_table(model, ws, seed=train_seed, split=split, sets=sets,
                                 on_result=lambda name, r: console.print(
                                     f"  {name}: macro-F1 {r['per_subject']['macro_f1']['mean']:.3f} per subject, "
                                     f"{r['pooled']['macro_f1']:.3f} pooled ({r['seconds']:.0f} s)", highlight=False))
    rows = summary_rows(table)
    train_idx, test_idx = subject_split(ws.pid, seed=seed, where=ws.source)
    head = linear_probe(sets["FlowFM r"], ws.y, ws.pid, train_idx=train_idx, test_idx=test_idx)
    classes = ws.classes or [str(k) for k in range(ws.n_classes)]
    save_head(run, probe_head(head.pipeline, len(classes)), classes,
              {"data": ws.source, "split_seed": seed, "macro_f1": head.macro_f1, "kappa": head.kappa, "C": head.C})
    split_info = table["protocol"]["split"]
    out = Table(title=f"linear probe, {split_info['kind']} ({split_info['n_folds']} folds by subject), {ws.source}")
    for col in ("features", "dim", "macro-F1 per subject", "pooled", "kappa per subject", "pooled "):
        out.add_column(col, justify="left" if col == "features" else "right")
    for r in rows:
        out.add_row(r["features"], str(r["dim"]), f"{r['f1_mean']:.3f} +- {r['f1_sd']:.3f}", f"{r['f1_pooled']:.3f}",
                    f"{r['kappa_mean']:.3f} +- {r['kappa_sd']:.3f}", f"{r['kappa_pooled']:.3f}"
                    + ("" if r["converged"] else " (not converged)"))
    console.print(out)
    result = {"data": ws.source, "run": str(run), "step": config.get("step"), "protocol": table["protocol"],
              "untrained_seed": train_seed, "summary": rows, "results": table["results"],
              "head": {"split": f"subject-wise 80/20, seed {seed}", **head.to_dict()}}
    (Path(run) / "probe.json").write_text(json.dumps(result, indent=2))
    plot_probe(rows, Path(run) / "probe.png", title=f"{Path(run).name} (step {config.get('step')}), {ws.source}")
    write_model_card(run)
    console.print(f"wrote {run}/probe.json, {run}/probe.png and the classifier head "
                  f"(held-out macro-F1 {head.macro_f1:.3f}, {seed}-seeded 80/20 split)", highlight=False)
    return result


@app.command()
@cli_errors
def quickstart(
    out: Path = typer.Option(Path("runs/hapt-tiny"), help="Run directory."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    preset: str = typer.Option("tiny", help="Model size."),
    steps: int = typer.Option(QUICKSTART_STEPS, min=1, help="Training steps of batch 64: the quickstart's budget (see the README for what a longer run gives)."),
    seed: int = typer.Option(0, help="Seed."),
):
    """The main job: train FlowFM on HAPT with the default recipe, probe it beside its baselines, plot what it learned."""
    from .evaluation import embed_windows
    from .plots import plot_embeddings, plot_training
    from .training import load_model

    console.print(f"quickstart budget: {preset}, {steps} steps of batch 64 (a short run; "
                  f"`flowfm-edge train --steps N` trains longer)", highlight=False)
    train_run(data, out, preset, model_overrides(),
              train_overrides(steps=steps, batch_size=64, warmup=min(100, steps // 10), seed=seed))
    run_probe(out, data)
    ws = _load(data)
    model, _ = load_model(out)
    plot_embeddings(embed_windows(model, ws.X), ws.y, ws.classes, out / "embeddings.png",
                    title=f"FlowFM-{preset} embeddings of {ws.source} (PCA)")
    plot_training(out / "metrics.csv", out / "loss.png")
    generate(run=out, n=4, steps=8, solver="euler", guidance=None, like=None, seed=seed,
             out=out / "samples.npz", plot=out / "samples.png", text=None, r_zero=False)
    console.print(f"plots: {out}/probe.png, {out}/embeddings.png, {out}/loss.png, {out}/samples.png")


data_app = typer.Typer(help="Convert raw datasets to windows: .npz files, or a shard store for corpora larger than memory.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("convert")
@cli_errors
def data_convert(
    raw_dir: Path = typer.Argument(..., help="The unpacked raw dataset directory."),
    format: str = typer.Option(..., "--format", help="capture24, pamap2, wisdm, realworld, opportunity, adl, or sensor-logger (phone exports, unlabelled)."),
    out: Path = typer.Option(..., help="Output .npz (X, y, pid, classes)."),
    hop: float = typer.Option(5.0, help="Hop between 10 s windows, in seconds."),
    label_policy: str = typer.Option("pure", help="pure (one label per window), majority, or any."),
):
    """Cut a raw dataset into 10 s, 30 Hz windows in g and save them as .npz."""
    from .data import save_npz
    from .data.readers import convert

    ws = convert(format, raw_dir, hop_s=hop, label_policy=label_policy)
    save_npz(out, ws)
    dropped = {k: v for k, v in ws.meta.items() if k.startswith("dropped") or k == "short_recordings"}
    console.print(f"wrote {len(ws)} windows, {len(set(ws.pid.tolist()))} subjects, "
                  f"{'no labels' if ws.y is None else f'{ws.n_classes} classes'} to {out}; dropped: {dropped}")


@data_app.command("shard")
@cli_errors
def data_shard(
    sources: list[str] = typer.Argument(..., help="Sources: built-in names, .npz files, SSL-Wearables directories, or FORMAT:DIR for a raw dataset (e.g. capture24:~/data/capture24, sensor-logger:~/phones)."),
    out: Path = typer.Option(..., help="Store directory: shards/<participant>.npy and index.json."),
    workers: int = typer.Option(1, min=1, help="Sources converted in parallel (processes)."),
):
    """Write a shard store: one memory-mapped .npy of windows per participant plus an index (sha256 per shard).

    An interrupted conversion continues where it stopped when run again with the same
    arguments. `flowfm-edge train --data STORE` then reads windows through memory maps.
    """
    from .data.store import write_store
    from .training.progress import progress_bar

    with progress_bar(len(sources), 0, "shard") as advance:
        index = write_store(list(sources), out, workers=workers, progress=lambda n, total, spec: advance(source=spec))
    console.print(f"wrote {index['windows']} windows of {len(index['participants'])} participants to {out} "
                  f"({len(index['sources'])} sources; index {out}/index.json)", highlight=False)


@app.command()
@cli_errors
def doctor():
    """Versions, available backends and extras, CPU and GPU."""
    from .doctor import report

    for name, value in report():
        console.print(f"{name:<22} {value}", highlight=False, markup=False)


def _register_extensions() -> None:
    """Commands that live beside their subsystem (export, validate, ...) register themselves here."""
    import importlib

    for package, module in (("flowfm_edge.training", "flowfm_edge.training.commands"),
                            ("flowfm_edge.export", "flowfm_edge.export.commands"),
                            ("flowfm_edge.export", "flowfm_edge.export.engine_commands"),
                            ("flowfm_edge.evaluation", "flowfm_edge.evaluation.commands"),
                            ("flowfm_edge.runtimes", "flowfm_edge.runtimes.commands"),
                            ("flowfm_edge.text", "flowfm_edge.text.commands"),
                            ("flowfm_edge.bench", "flowfm_edge.bench.commands")):
        if importlib.util.find_spec(package) is not None and importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(app, cli_errors, console)


_register_extensions()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
