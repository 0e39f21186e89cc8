"""CLI of text-to-signal: ``train-text``, ``text-eval``, and ``generate --text``.

Text samplers are exported with the other graphs: ``flowfm-edge export TEXT_RUN --target cpu``.

:func:`register` adds the commands to the main typer app; ``flowfm-edge generate RUN --text
"..."`` delegates to :func:`generate_from_text`. Errors become one red line and exit 1
through ``cli_errors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..cli_common import cli_errors, console

DATA_HELP = "Labelled data with class names: 'hapt' (needs the \\[data] extra), 'synthetic', or a .npz file."


def _load(data: str):
    from ..data import load_source

    ws = load_source(data, split="labelled")
    ws.meta["spec"] = data
    return ws


def text_run(run: Path):
    """(model, config, embedding cache) of a text run; the cache embeds new prompts with the run's text model."""
    from ..training import load_model
    from .embeddings import MODEL_NAME, EmbeddingCache, MiniLMEmbedder
    from .generate import check_text_model

    model, config = load_model(run)
    check_text_model(model, str(run))
    text = config.get("text") or {}
    if "embedder" not in text:
        raise ValueError(f"{run}/checkpoint/config.json has no 'text' section; it was not written by train-text")
    embedder = MiniLMEmbedder() if text["embedder"] == MODEL_NAME else None
    cache = EmbeddingCache(Path(run) / text.get("cache", "text_embeddings.npz"), embedder, model=text["embedder"])
    return model, config, cache


def _class_of(prompt: str, config: dict) -> tuple[Optional[str], Optional[str]]:
    """(class, "train" or "held_out") of a description the run knows, else (None, None)."""
    for cls, entry in config["text"]["prompts"].items():
        for split in ("train", "held_out"):
            if prompt in entry[split]:
                return cls, split
    return None, None


def generate_from_text(run: Path, text: str, n: int, steps: int, solver: str, guidance: Optional[float],
                       like: Optional[Path], seed: int, out: Path, plot: Optional[Path]) -> None:
    """``flowfm-edge generate RUN --text "..."``: n windows conditioned on the sentence, saved as .npz."""
    import numpy as np
    import torch

    from ..solvers import check_solver
    from .generate import sample_text

    if like is not None:
        raise ValueError("--text and --like do not combine: text-to-signal generation uses r = 0; drop one of them")
    if not text.strip():
        raise ValueError("--text is empty; give a description such as --text 'walking up the stairs'")
    check_solver(solver)
    model, config, cache = text_run(run)
    e = torch.from_numpy(cache.get([text])).expand(n, -1)  # (n, text_dim)
    x = sample_text(model, e, steps, solver, guidance, generator=torch.Generator().manual_seed(seed))
    X = x.numpy().astype(np.float32)
    if not np.isfinite(X).all():
        raise RuntimeError(f"{run}: generated windows hold NaN/inf; the checkpoint is unusable")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, X=X, text=np.array(text), steps=steps, solver=solver,
             guidance=np.nan if guidance is None else guidance)
    mag = np.linalg.norm(X, axis=1)
    cls, split = _class_of(text, config)
    seen = {"train": f" (a {cls} description used in fine-tuning)",
            "held_out": f" (a held-out {cls} paraphrase, never used in fine-tuning)"}.get(split, "")
    console.print(f"wrote {len(X)} windows for {text!r}{seen} to {out}: |a| mean {mag.mean():.3f} g, "
                  f"range [{X.min():.2f}, {X.max():.2f}] g", highlight=False, soft_wrap=True)
    if plot is not None:
        from ..plots import plot_windows

        plot_windows(_real_windows(config, cls, n), X, plot, title=f"{text!r}, {solver} x {steps} steps")
        console.print(f"wrote {plot}")


def _real_windows(config: dict, cls: Optional[str], n: int):
    """Real windows of ``cls`` (any class when None) from the run's data, when it can be read."""
    import numpy as np

    try:
        ws = _load(config["data"]["spec"])
    except (KeyError, ValueError, OSError):
        return None
    idx = np.arange(len(ws))
    if cls is not None and ws.classes and cls in ws.classes:
        idx = idx[np.asarray(ws.y) == ws.classes.index(cls)]
    pick = np.random.default_rng(0).choice(idx, size=min(n, len(idx)), replace=False)
    return ws.X[pick] if len(pick) else None


@cli_errors
def train_text(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="Base FlowFM run (from `flowfm-edge train`) to fine-tune."),
    data: str = typer.Option("hapt", help=DATA_HELP),
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
    from .embeddings import MiniLMEmbedder
    from .finetune import finetune_text, resolve_text_config
    from .prompts import load_prompt_file

    cfg = resolve_text_config(ctx.params)
    table = load_prompt_file(prompts) if prompts is not None else None
    ws = _load(data)
    console.print(f"fine-tuning {run} on {len(ws)} windows of {ws.source} with text for {cfg.steps} steps")
    finetune_text(run, ws, out, MiniLMEmbedder(), cfg, prompts=table, device=device)
    console.print(f"wrote {out}/checkpoint, {out}/metrics.csv and {out}/text_embeddings.npz")


@cli_errors
def text_eval_cmd(
    run: Path = typer.Argument(..., help="Text run directory (from `flowfm-edge train-text`)."),
    data: str = typer.Option("hapt", help=DATA_HELP),
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
    from ..evaluation.feature_net import load_feature_net
    from .evaluate import markdown_table, text_eval

    model, config, cache = text_run(run)
    net = load_feature_net(feature_net)
    ws = _load(data)

    def on_row(row):
        console.print(f"  {row['class']:<19} {row['split']:<8} acc {row['accuracy']:.2f}  FD {row['frechet']:.3f}  "
                      f"{row['prompt']!r}", highlight=False, soft_wrap=True)

    console.print(f"text-eval of {run}: {n} windows per prompt, {solver} x {steps}, guidance {guidance}")
    result = text_eval(model, config, ws, net, cache, n=n, steps=steps, solver=solver, guidance=guidance,
                       seed=seed, on_row=on_row)
    result.update(run=str(run), feature_net_path=str(feature_net))
    s = result["summary"]
    console.print(f"mean over classes: accuracy train prompts {s['train']['accuracy']:.3f}, held-out "
                  f"{s['held_out']['accuracy']:.3f}, unconditional {s['floor_unconditional']['accuracy']:.3f}; "
                  f"Frechet train {s['train']['frechet']:.3f}, held-out {s['held_out']['frechet']:.3f}, "
                  f"unconditional {s['floor_unconditional']['frechet']:.3f}", highlight=False, soft_wrap=True)
    for path, text in ((json_out, json.dumps(result, indent=2)), (markdown, markdown_table(result) if markdown else "")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``train-text`` and ``text-eval`` to ``app``."""
    app.command("train-text")(train_text)
    app.command("text-eval")(text_eval_cmd)
