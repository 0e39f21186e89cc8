"""The text-conditioned fused sampler as one ONNX graph, checked against PyTorch with onnxruntime.

``noise (B, 3, 300) N(0, I), e (B, text_dim)[, w (B,)] -> x (B, 3, 300) in g``: the whole
ODE solve unrolled with the time grid baked in, like the bundle's fused samplers
(:mod:`flowfm_edge.export.graphs`), whose helpers this module reuses: the time embedding of
every evaluation is a precomputed float table, ``RepProj(0)`` is a constant, and the
sentence embedding ``e`` is an input (the embedding model stays on the host; a row of
zeros asks for the unconditional generator). With ``w`` the graph applies text guidance
``v0 + w (v_text - v0)``.

Files written to ``OUT/``: ``text-sampler-<solver>-<steps>.onnx`` and a ``.json`` beside it
with the declared signature, sampler, exporter record, validation and sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models import FlowFM
from ..solvers import check_solver, time_grid
from .generate import check_text_model, sample_text


def text_sampler_name(solver: str, steps: int) -> str:
    return f"text-sampler-{solver}-{steps}"


def text_sampler_spec(cfg, solver: str = "euler", steps: int = 8, guidance: bool = False, embedder: str = ""):
    """The declared signature (an export ``GraphSpec``) of the text-conditioned fused sampler."""
    from ..export.graphs import GraphSpec, TensorSpec

    window = ("batch", cfg.channels, cfg.window)
    inputs = (TensorSpec("noise", window, "N(0, I), normalised"),
              TensorSpec("e", ("batch", cfg.text_dim), f"sentence embedding ({embedder or 'text model'}); zeros = no text"))
    if guidance:
        inputs += (TensorSpec("w", ("batch",), "text guidance weight"),)
    info = {"solver": solver, "steps": steps, "time_grid": [round(float(t), 8) for t in time_grid(steps)],
            "guidance": "input w: v0 + w (v_text - v0), v0 at e = 0" if guidance else None, "r": "zero (text-only)"}
    # Legacy exporter, as for the other fused samplers: the unrolled loop shares one set of weights.
    return GraphSpec("sampler", text_sampler_name(solver, steps), inputs, (TensorSpec("x", window, "g"),), "noise",
                     exporter="legacy", sampler=info)


class TextSamplerGraph(nn.Module):
    """noise (B, 3, 300), e (B, text_dim)[, w (B,)] -> x (B, 3, 300) in g; same arithmetic as :func:`sample_text`."""

    def __init__(self, model: FlowFM, solver: str, steps: int, guidance: bool = False):
        super().__init__()
        from ..export.graphs import evaluation_times

        check_text_model(model)
        self.net = model.velocity
        self.solver, self.steps, self.guidance = solver, steps, guidance
        self.register_buffer("mean", model.mean.clone())
        self.register_buffer("std", model.std.clone())
        with torch.no_grad():
            self.register_buffer("temb", self.net.time(evaluation_times(solver, steps)))  # (NFE, D)
            self.register_buffer("rep0", self.net.rep(torch.zeros(1, model.cfg.r_dim)))  # (1, D): r = 0

    def forward(self, noise: torch.Tensor, e: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        from ..export.graphs import velocity_from_condition
        from ..solvers import integrate

        cond = self.rep0 + self.net.text(e)  # (B, D)
        uncond = self.rep0 + self.net.text(torch.zeros_like(e)) if self.guidance else None  # (B, D)
        calls = [0]

        def velocity(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            k = calls[0]
            calls[0] += 1
            temb = self.temb[k : k + 1]  # (1, D), the evaluation at grid time t
            if not self.guidance:
                return velocity_from_condition(self.net, z, temb + cond)
            v = velocity_from_condition(self.net, torch.cat([z, z]), torch.cat([temb + cond, temb + uncond]))
            v_text, v0 = v.chunk(2)  # each (B, 3, 300)
            return v0 + w[:, None, None] * (v_text - v0)

        z1 = integrate(velocity, noise, self.steps, self.solver)
        return z1 * self.std + self.mean


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


def export_text_sampler(model: FlowFM, out: str | Path, solver: str = "euler", steps: int = 8, guidance: bool = False,
                        embeddings: np.ndarray | None = None, embedder: str = "", seed: int = 0) -> dict:
    """Export, check with onnxruntime against PyTorch (FP32 gate), write the .onnx and its .json; return the record.

    ``embeddings`` (K, text_dim): prompt embeddings to check on, beside zero and random ones.
    """
    for module in ("onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ImportError(f"exporting needs the [onnx] extra ({module}): pip install 'flowfm-edge[onnx]'") from exc
    from ..export.metrics import FP32_REL_TOLERANCE, compare, trajectory_error
    from ..export.to_onnx import EXAMPLE_BATCH, export_onnx
    from ..export.validation import run_onnx

    check_text_model(model)
    check_solver(solver)
    out = Path(out)
    spec = text_sampler_spec(model.cfg, solver, steps, guidance, embedder)
    module = TextSamplerGraph(model, solver, steps, guidance).eval()
    g = torch.Generator().manual_seed(seed)
    args = (torch.randn(EXAMPLE_BATCH, model.cfg.channels, model.cfg.window, generator=g),
            torch.randn(EXAMPLE_BATCH, model.cfg.text_dim, generator=g))
    if guidance:
        args += (1 + torch.rand(EXAMPLE_BATCH, generator=g),)
    path = out / f"{spec.name}.onnx"
    info = export_onnx(module, args, spec, path)
    emb = np.zeros((0, model.cfg.text_dim), np.float32) if embeddings is None else np.asarray(embeddings, np.float32)
    feeds = check_feeds(model, emb, guidance=guidance, seed=seed)
    got, ref = run_onnx(path, feeds), reference_output(model, feeds, solver, steps)
    validation = {"n_inputs": len(ref), "n_prompt_embeddings": len(emb), **compare(got, ref),
                  "trajectory_error": trajectory_error(got, ref, model.cfg.norm_mean, model.cfg.norm_std),
                  "limit": FP32_REL_TOLERANCE}
    if not validation["trajectory_error"] <= FP32_REL_TOLERANCE:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{spec.name}: the ONNX graph differs from PyTorch (trajectory error "
                           f"{validation['trajectory_error']:.3g} > {FP32_REL_TOLERANCE}); the exporter produced a wrong "
                           "graph, please report it with the model config")
    record = {"name": spec.name, "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "bytes": path.stat().st_size, "precision": "fp32", "graph": spec.to_dict(), "export": info,
              "validation": validation, "normalisation": {"mean": model.cfg.norm_mean, "std": model.cfg.norm_std},
              "text_model": embedder or None}
    (out / f"{spec.name}.json").write_text(json.dumps(record, indent=2))
    return record
