"""The text-to-signal commands: ``train-text`` (a FlowFM run fine-tuned into a text-conditioned generator) and
``text-eval`` (per-prompt accuracy and Frechet distance); ``generate RUN --text "..."`` samples a text run.

Text samplers are exported with the other graphs: ``flowfm-edge export TEXT_RUN --target cpu``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .common import cli_errors, console, write_file

TEXT_DATA_HELP = "Labelled data with class names: 'hapt' (needs the \\[data] extra), 'synthetic', or a .npz file."


@cli_errors
def train_text(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="Base FlowFM run (from `flowfm-edge train`) to fine-tune."),
    data: str = typer.Option("hapt", help=TEXT_DATA_HELP),
    out: Path = typer.Option(..., help="Text run directory to write (checkpoint/, metrics.csv, text_embeddings.npz)."),
    steps: Optional[int] = typer.Option(None, min=1, help="Fine-tuning steps."),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Batch size."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (AdamW, warmup + cosine)."),
    warmup: Optional[int] = typer.Option(None, min=0, help="Linear warm-up steps."),
    p_text_drop: Optional[float] = typer.Option(None, min=0.0, max=0.99, help="Probability of training a sample without text (e = 0), for guidance."),
    r_mode: Optional[str] = typer.Option(None, help="zero: r = 0 always (text-only, encoder unused); dgs: frozen encoder's r, dropped with p_dgs (keeps reconstruction)."),
    prompts: Optional[Path] = typer.Option(None, help='JSON {"CLASS": {"train": [...], "held_out": [...]}}; default: built-in HAPT descriptions.'),
    seed: Optional[int] = typer.Option(None, help="Seed for batches, phrasings, noise and dropout."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
):
    """Fine-tune a FlowFM run into a text-conditioned generator (encoder frozen, TextProj added).

    An option left out takes the fine-tune's default (flowfm_edge.text.finetune.TextTrainConfig).
    """
    from ..text.finetune import resolve_text_config, train_text_run

    train_text_run(run, data, out, resolve_text_config(ctx.params), prompts, device)


@cli_errors
def text_eval_cmd(
    run: Path = typer.Argument(..., help="Text run directory (from `flowfm-edge train-text`)."),
    data: str = typer.Option("hapt", help=TEXT_DATA_HELP),
    feature_net: Path = typer.Option(..., help="Frozen HAR classifier from `flowfm-edge train-feature-net`."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result here."),
    markdown: Optional[Path] = typer.Option(None, help="Write the per-prompt and per-class tables here."),
    n: int = typer.Option(64, min=2, help="Windows generated per prompt (and unconditionally)."),
    steps: int = typer.Option(8, min=1, help="Solver steps."),
    solver: str = typer.Option("euler", help="euler, midpoint, heun or rk4."),
    guidance: Optional[float] = typer.Option(None, help="Text guidance weight w: v0 + w (v_text - v0) (doubles the NFE)."),
    seed: int = typer.Option(0, help="Noise seed (the same noise for every prompt)."),
):
    """Per-prompt accuracy (frozen HAR classifier) and Frechet distance, against the unconditional floor."""
    from ..text.evaluate import markdown_table, text_eval_run

    result = text_eval_run(run, data, feature_net, n=n, steps=steps, solver=solver, guidance=guidance, seed=seed)
    for path, text in ((json_out, json.dumps(result, indent=2)), (markdown, markdown_table(result) if markdown else "")):
        if path is not None:
            write_file(path, text)
            console.print(f"wrote {path}")
