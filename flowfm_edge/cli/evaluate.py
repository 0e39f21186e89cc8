"""CLI commands of the evaluation subsystem: evaluate, train-feature-net, quality.

Registered on the main typer app by :func:`register`; each command's errors become one red
line and exit code 1 through ``cli_errors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli_common import DATA_HELP, cli_errors, console, load_windows


def _write_json(path: Optional[Path], result: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))


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
    from ..training import load_model
    from .downstream import evaluate_downstream
    from .finetune import FitConfig

    model, config = load_model(run, device=device)
    ws = load_windows(data, rate=rate)
    cfg = FitConfig(lr=lr, batch_size=batch_size, max_epochs=epochs, patience=patience, seed=seed, device=device)
    console.print(f"{protocol} of {config['model']['objective']} run {run} on {len(ws)} windows from {ws.source}")

    def on_fold(fold, row):
        fitted = (f"C {row['C']:g}" + ("" if row["converged"] else " (not converged)") if "C" in row else
                  f"{row['epochs']} epochs, best {row['best_epoch'] + 1}" + (" (hit the epoch cap)" if row["hit_cap"] else ""))
        console.print(f"  fold {row['fold']}: test subject(s) {', '.join(row['test_subjects'])}; "
                      f"{fitted}; pooled macro-F1 {row['pooled_macro_f1']:.3f}", highlight=False, soft_wrap=True)

    result = evaluate_downstream(model, ws, protocol, split, cfg, on_fold=on_fold)
    result["run"] = str(run)
    ps, po = result["per_subject"], result["pooled"]
    console.print(f"{result['split']['kind']} ({result['split']['n_folds']} folds): macro-F1 per subject "
                  f"{ps['macro_f1']['mean']:.3f} +- {ps['macro_f1']['sd']:.3f}, pooled {po['macro_f1']:.3f}; "
                  f"kappa per subject {ps['kappa']['mean']:.3f} +- {ps['kappa']['sd']:.3f}, pooled {po['kappa']:.3f}",
                  highlight=False, soft_wrap=True)
    if not result["fit"]["converged"]:
        what = (f"{result['fit']['capped_folds']} of {result['split']['n_folds']} folds hit the epoch cap: raise --epochs"
                if "capped_folds" in result["fit"] else "a probe fit stopped at its iteration limit")
        console.print(f"[yellow]not converged:[/yellow] {what}", highlight=False)
    _write_json(json_out, result)
    if plot is not None:
        from .figures import plot_confusion

        plot_confusion(result["confusion"]["matrix"], result["confusion"]["classes"], plot,
                       title=f"{protocol}, {result['split']['kind']}, {ws.source}")
        console.print(f"wrote {plot}")
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
    from .feature_net import save_feature_net, train_feature_net

    ws = load_windows(data, rate=rate)
    net = train_feature_net(ws, epochs=epochs, seed=seed, device=device)
    weights, meta = save_feature_net(net, out)
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
    from ..solvers import check_solver
    from ..training import load_model
    from .feature_net import load_feature_net
    from .quality import MODES, quality_sweep, reference_windows, sampling_plan

    step_list = _parse_steps(steps)
    modes = MODES if mode == "both" else (mode,)
    if mode != "both" and mode not in MODES:
        raise ValueError(f"unknown --mode {mode!r}; choose reconstruction, unconditional or both")
    model, config = load_model(run)
    objective = config["model"].get("objective", "flow")
    if objective == "flow":
        check_solver(solver)
    sampling_plan(objective, step_list, solver, guidance, ddpm_steps)  # refuses runs without a generator
    net = load_feature_net(feature_net)
    ws, reference = reference_windows(config, data, rate)
    checked = {True: "the run's training data", False: "NOT the run's training data (hash differs)",
               None: "training-data hash not recorded"}[reference["is_training_data"]]
    _say(f"quality of {objective} run {run}: {min(n, len(ws))} generated vs {min(n, len(ws))} real windows of "
         f"{reference['data']}, split {reference['split']} (from {reference['from']}; {checked}); "
         f"95% bootstrap intervals, {resamples} resamples, seed {seed}")
    result = quality_sweep(model, objective, ws.X, net, step_list, modes, n=n, seed=seed, solver=solver,
                           guidance=guidance, ddpm_steps=ddpm_steps, on_result=_say_row, reference=reference,
                           resamples=resamples)
    result.update(run=str(run), data=ws.source, feature_net=str(feature_net))
    _say_floor(result)
    _write_json(json_out, result)
    if plot is not None:
        from .figures import plot_quality

        plot_quality(result, plot)
        console.print(f"wrote {plot}")
    if json_out is not None:
        console.print(f"wrote {json_out}")


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


def _say_row(row: dict) -> None:
    """One line per setting of the quality sweep, as it finishes."""
    from .frechet import format_fd

    _say(f"  {row['mode']:<14} {row['sampler']:<10} NFE {row['nfe']:>5}  FD {format_fd(row['frechet'])}  "
         f"static {row['static_fraction']['generated']:.1%}  PSD {row['psd']['mean_db']:.2f} dB  "
         f"|a| {row['marginals']['generated']['mean_abs_a']:.3f} g  beyond real range "
         f"{row['beyond_real_range']['count']}  r {row['r']}  {row['ms_per_window']:.2f} ms/window")


def _say_floor(result: dict) -> None:
    """The real-vs-real floor of the sweep and the note on how it was drawn, when the result has them."""
    from .frechet import format_fd

    if "real_vs_real" in result:
        floor = result["real_vs_real"]
        _say(f"  real vs real (floor, two halves of {floor['n_per_half']}): FD {format_fd(floor['frechet'])}  "
             f"static {floor['static_fraction']['half_a']:.1%} / {floor['static_fraction']['half_b']:.1%}")
    if "floor_note" in result:
        _say(f"  note: {result['floor_note']}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``train-feature-net`` and ``quality`` to ``app``."""
    app.command()(evaluate)
    app.command("train-feature-net")(train_feature_net_cmd)
    app.command()(quality)
