"""The text-conditioned fused sampler: a bundle graph (``text-sampler``) with the sentence embedding as input.

``noise (B, 3, 300) N(0, I), e (B, text_dim)[, w (B,)] -> x (B, 3, 300) in g``: the whole
ODE solve with the time grid baked in, like the bundle's fused samplers
(:class:`flowfm_edge.export.graphs.SamplerGraph`, which it extends): the time embedding of
every evaluation is a precomputed float table, ``RepProj(0)`` is a constant, and the
sentence embedding ``e`` is an input (the embedding model stays on the host; a row of
zeros asks for the unconditional generator). With ``w`` the graph applies text guidance
``v0 + w (v_text - v0)``.

``flowfm-edge export TEXT_RUN --target cpu`` exports these graphs beside the others
(:func:`flowfm_edge.export.export_bundle` takes :func:`kit` for their inputs, reference and
module) and stores the run's prompt embeddings in the bundle (:func:`bundle_section`), so a
device can generate for the known descriptions without the text model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .graphs import SamplerGraph
from .inputs import GraphKit
from ..models import FlowFM
from ..solvers import time_grid
from ..models.text import check_text_model, sample_text


def text_sampler_name(solver: str, steps: int) -> str:
    return f"text-sampler-{solver}-{steps}"


def text_sampler_spec(cfg, solver: str = "euler", steps: int = 8, guidance: bool = False, embedder: str = ""):
    """The declared signature (an export ``GraphSpec``) of the text-conditioned fused sampler."""
    from .graphs import GraphSpec, TensorSpec

    window = ("batch", cfg.channels, cfg.window)
    inputs = (TensorSpec("noise", window, "N(0, I), normalised"),
              TensorSpec("e", ("batch", cfg.text_dim), f"sentence embedding ({embedder or 'text model'}); zeros = no text"))
    if guidance:
        inputs += (TensorSpec("w", ("batch",), "text guidance weight"),)
    info = {"solver": solver, "steps": steps, "time_grid": [round(float(t), 8) for t in time_grid(steps)],
            "guidance": "input w: v0 + w (v_text - v0), v0 at e = 0" if guidance else None, "r": "zero (text-only)",
            "condition": "text"}
    # Legacy exporter, as for the other fused samplers: the unrolled loop shares one set of weights.
    return GraphSpec("text-sampler", text_sampler_name(solver, steps), inputs, (TensorSpec("x", window, "g"),), "noise",
                     exporter="legacy", sampler=info)


class TextCondition(nn.Module):
    """e (B, text_dim) -> RepProj(0) + TextProj(e) (B, D): the condition of a text-only sampler."""

    def __init__(self, model: FlowFM):
        super().__init__()
        check_text_model(model)
        self.text = model.velocity.text
        with torch.no_grad():
            self.register_buffer("rep0", model.velocity.rep(torch.zeros(1, model.cfg.r_dim)))  # (1, D): r = 0

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.rep0 + self.text(e)


def text_sampler_graph(model: FlowFM, solver: str, steps: int, guidance: bool = False) -> SamplerGraph:
    """noise (B, 3, 300), e (B, text_dim)[, w (B,)] -> x (B, 3, 300) in g; same arithmetic as :func:`sample_text`."""
    return SamplerGraph(model, solver, steps, guidance, cond=TextCondition(model))


def check_feeds(model: FlowFM, embeddings: np.ndarray, n_random: int = 4, guidance: bool = False, seed: int = 0) -> dict:
    """Check inputs: the given embeddings (K, text_dim), a zero row, and random unit vectors, each with fresh noise."""
    rng = np.random.default_rng(seed)
    rnd = rng.standard_normal((n_random, model.cfg.text_dim))
    rnd /= np.linalg.norm(rnd, axis=1, keepdims=True)
    e = np.concatenate([embeddings, np.zeros((1, model.cfg.text_dim)), rnd]).astype(np.float32)
    feeds = {"noise": rng.standard_normal((len(e), model.cfg.channels, model.cfg.window)).astype(np.float32), "e": e}
    if guidance:
        feeds["w"] = rng.uniform(1.0, 3.0, len(e)).astype(np.float32)
    return feeds


@torch.no_grad()
def reference_output(model: FlowFM, feeds: dict, solver: str, steps: int) -> np.ndarray:
    """What the artefact must reproduce: :func:`sample_text` with the same noise, (N, 3, 300) g."""
    w = torch.from_numpy(feeds["w"])[:, None, None] if "w" in feeds else None
    return sample_text(model, torch.from_numpy(feeds["e"]), steps, solver, guidance=w,
                       noise=torch.from_numpy(feeds["noise"])).numpy()


TEXT_CALIB = 64  # (noise, e) pairs that calibrate a text sampler for static INT8
TEXT_SEED_OFFSET = 600  # the calibration noise's own stream, apart from the check noise drawn at ``seed``


def prompt_embeddings(run: str | Path, config: dict) -> tuple[list[str], np.ndarray]:
    """(texts, E (K, text_dim)) of the run's descriptions found in its embedding cache (no text model needed)."""
    from ..text.embeddings import CACHE_NAME, EmbeddingCache
    from ..text.prompts import all_texts

    text = config["text"]
    cache = EmbeddingCache(Path(run) / text.get("cache", CACHE_NAME), None, model=text["embedder"])
    texts = [t for t in all_texts(text["prompts"]) if t in cache]
    return texts, cache.get(texts) if texts else np.zeros((0, text["text_dim"]), np.float32)


def kit(embeddings: np.ndarray) -> GraphKit:
    """The graph kit of the text samplers, for the bundle exporter.

    ``embeddings`` (K, text_dim): the run's prompt embeddings. Calibration cycles through them
    with one row in five at e = 0 (the null text the model was fine-tuned with); checks use them,
    a zero row and random unit vectors, each with fresh noise.
    """
    E = np.asarray(embeddings, np.float32)

    def feeds(spec, model: FlowFM, windows, schedules, seed: int = 0):
        guidance = "w" in spec.input_names
        rng = np.random.default_rng(seed + TEXT_SEED_OFFSET)
        rows = E[np.arange(TEXT_CALIB) % len(E)] if len(E) else np.zeros((TEXT_CALIB, model.cfg.text_dim), np.float32)
        rows = np.where((np.arange(TEXT_CALIB) % 5 == 4)[:, None], 0.0, rows).astype(np.float32)
        calib = {"noise": rng.standard_normal((TEXT_CALIB, model.cfg.channels, model.cfg.window)).astype(np.float32),
                 "e": rows}
        if guidance:
            calib["w"] = rng.uniform(1.0, 3.0, TEXT_CALIB).astype(np.float32)
        return calib, check_feeds(model, E[:16], guidance=guidance, seed=seed), 0, None

    def reference(spec, model: FlowFM, head, check: dict) -> np.ndarray:
        return reference_output(model, check, spec.sampler["solver"], spec.sampler["steps"])

    def build(spec, model: FlowFM, head=None) -> nn.Module:
        s = spec.sampler
        return text_sampler_graph(model, s["solver"], s["steps"], guidance=s["guidance"] is not None).eval()

    return GraphKit(feeds, reference, build)


def bundle_section(bundle: Path, config: dict, texts: list[str], E: np.ndarray) -> dict:
    """Write ``text/embeddings.npy`` (K, text_dim) into ``bundle``; return the manifest's ``text`` section."""
    from ..bundle.manifest import file_entry

    path = bundle / "text" / "embeddings.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(E, dtype=np.float32))
    text = config["text"]
    return {"embedder": text["embedder"], "text_dim": int(text["text_dim"]),
            "null_text": "a row of zeros: the unconditional generator",
            "prompts": text["prompts"], "embeddings": {"texts": texts, "file": file_entry(bundle, path)},
            "note": "the text model stays on the host: embed new sentences with it (normalised) and pass e"}
