"""Sampling with a text embedding, guidance over the text (the maths lives in :mod:`flowfm_edge.models.text`), and
a text run's windows for a sentence (``flowfm-edge generate RUN --text "..."``).

>>> from flowfm_edge.text.generate import sample_text  # the same function as flowfm_edge.models.text.sample_text
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..models.text import NotTextConditioned, check_text_model, sample_text, sample_text_batched, text_velocity
from ..progress import console

__all__ = ["NotTextConditioned", "check_text_model", "generate_from_text", "labelled_windows", "sample_text",
           "sample_text_batched", "text_run", "text_velocity"]


def labelled_windows(data: str):
    """The labelled windows of ``data``, with the spec recorded in ``ws.meta["spec"]``."""
    from ..data import load_source

    ws = load_source(data, split="labelled")
    ws.meta["spec"] = data
    return ws


def text_run(run: Path):
    """(model, config, embedding cache) of a text run; the cache embeds new prompts with the run's text model."""
    from ..training import load_model
    from .embeddings import MODEL_NAME, EmbeddingCache, MiniLMEmbedder

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
        ws = labelled_windows(config["data"]["spec"])
    except (KeyError, ValueError, OSError):
        return None
    idx = np.arange(len(ws))
    if cls is not None and ws.classes and cls in ws.classes:
        idx = idx[np.asarray(ws.y) == ws.classes.index(cls)]
    pick = np.random.default_rng(0).choice(idx, size=min(n, len(idx)), replace=False)
    return ws.X[pick] if len(pick) else None
