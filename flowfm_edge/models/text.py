"""Sampling from a text-conditioned FlowFM: the prompt embedding ``e`` conditions, ``r`` is zero.

Conditioning ``c = TimeEmbed(t) + RepProj(0) + TextProj(e)``. TextProj has its bias held at
zero (text fine-tuning freezes it, :mod:`flowfm_edge.text.finetune`), so ``e = 0`` adds
nothing and *is* the unconditional generator: the zero embedding is the "no text" input
everywhere, in PyTorch and in exported graphs.

Guidance is over the text: ``v = v(z, t, 0, 0) + w (v(z, t, 0, e) - v(z, t, 0, 0))``.

>>> import torch
>>> from flowfm_edge.models import FlowFM, ModelConfig
>>> model = FlowFM(ModelConfig.from_preset("nano", text_dim=8)).eval()
>>> sample_text(model, torch.zeros(2, 8), steps=2).shape
torch.Size([2, 3, 300])
"""

from __future__ import annotations

import torch

from ..solvers import integrate
from .flowfm import FlowFM
from .layers import guide


class NotTextConditioned(ValueError):
    """A run without a TextProj was asked for text-conditioned generation."""


def check_text_model(model: FlowFM, where: str = "run") -> None:
    if model.cfg.text_dim <= 0:
        raise NotTextConditioned(f"{where} is not text-conditioned (text_dim = 0); fine-tune one with "
                                 f"`flowfm-edge train-text {where} --data hapt --out RUN_TEXT` and generate from RUN_TEXT")


def text_velocity(model: FlowFM, e: torch.Tensor, guidance: float | torch.Tensor | None = None):
    """Velocity callable (z (B, 3, 300), t) -> v (B, 3, 300) for the solvers, conditioned on e (B, text_dim).

    ``guidance`` w (a float, or a tensor broadcasting to (B, 1, 1)) mixes the text-conditional
    and unconditional fields; both run as one batch of 2B.
    """
    net = model.velocity
    r = torch.zeros(e.shape[0], model.cfg.r_dim, dtype=e.dtype, device=e.device)  # (B, r_dim)

    def f(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if guidance is None:
            return net(z, t, r, e)
        v = net(torch.cat([z, z]), t, torch.cat([r, r]), torch.cat([e, torch.zeros_like(e)]))  # (2B, 3, 300)
        v_text, v0 = v.chunk(2)
        return guide(v0, v_text, guidance)

    return f


@torch.no_grad()
def sample_text(model: FlowFM, e: torch.Tensor, steps: int = 8, solver: str = "euler",
                guidance: float | torch.Tensor | None = None, noise: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Windows (B, 3, 300) in g from text embeddings e (B, text_dim); rows of zeros are unconditional."""
    check_text_model(model)
    if e.dim() != 2 or e.shape[1] != model.cfg.text_dim:
        raise ValueError(f"text embeddings must have shape (B, {model.cfg.text_dim}); got {tuple(e.shape)}")
    shape = (e.shape[0], model.cfg.channels, model.cfg.window)
    z0 = torch.randn(shape, generator=generator, device=e.device) if noise is None else noise
    z1 = integrate(text_velocity(model, e, guidance), z0, steps, solver)
    return model.denormalize(z1)


@torch.no_grad()
def sample_text_batched(model: FlowFM, e: torch.Tensor, steps: int = 8, solver: str = "euler",
                        guidance: float | None = None, seed: int = 0, batch_size: int = 128) -> torch.Tensor:
    """:func:`sample_text` over e (N, text_dim) in batches, with one noise generator: (N, 3, 300) g."""
    gen = torch.Generator().manual_seed(seed)
    outs = [sample_text(model, e[i : i + batch_size], steps, solver, guidance, generator=gen)
            for i in range(0, len(e), batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0, model.cfg.channels, model.cfg.window)
