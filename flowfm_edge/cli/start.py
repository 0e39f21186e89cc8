"""The first commands: ``quickstart`` (the main job in one command) and ``doctor`` (what this machine offers)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..recipe import QUICKSTART_PRESET, QUICKSTART_STEPS
from .common import DATA_HELP, cli_errors, console


@cli_errors
def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), help="Run directory."),
    data: str = typer.Option("hapt", help=DATA_HELP),
    preset: str = typer.Option(QUICKSTART_PRESET, help="Model size (nano, tiny, small, base)."),
    steps: int = typer.Option(QUICKSTART_STEPS, min=1, help="Training steps of batch 64: the quickstart's budget (see the README for what a longer run gives)."),
    seed: int = typer.Option(0, help="Seed."),
    force: bool = typer.Option(False, "--force", help="OUT holds a run: delete it and start over."),
):
    """The main job: train FlowFM on HAPT with the default recipe, probe it beside its baselines, plot what it learned."""
    from ..quickstart import run_quickstart

    run_quickstart(out, data, preset, steps, seed, force)


@cli_errors
def doctor():
    """Versions, available backends and extras, CPU and GPU."""
    from ..doctor import report

    for name, value in report():
        console.print(f"{name:<22} {value}", highlight=False, markup=False)
