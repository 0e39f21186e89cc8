"""The representation encoder f_phi: a ViT-1D over 10-sample patches (docs/design.md#model)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import Block, PatchEmbed


def normalize_r(r: torch.Tensor, kind: str) -> torch.Tensor:
    """The bottleneck on r (B, r_dim): none, layernorm (no affine) or l2 (rows scaled to norm sqrt(r_dim))."""
    if kind == "layernorm":
        return F.layer_norm(r, r.shape[-1:])
    if kind == "l2":
        return F.normalize(r, dim=-1) * r.shape[-1] ** 0.5
    return r


def keep_tokens(h: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """A random subset of (1 - ratio) of the tokens of each row of h (B, T, D), in their order: (B, T', D)."""
    B, T, D = h.shape
    keep = max(1, round(T * (1 - ratio)))
    noise = torch.rand(B, T, generator=generator, device=h.device)
    idx = noise.argsort(dim=1)[:, :keep].sort(dim=1).values  # (B, T')
    return h.gather(1, idx[:, :, None].expand(B, keep, D))


def gravity_frame(x: torch.Tensor) -> torch.Tensor:
    """Raw windows x (B, 3, L) in g -> (B, 3, L): vertical less 1 g, horizontal and total less 1 g.

    "Vertical" is along the window's mean acceleration (gravity, for a device that is not in free
    fall), "horizontal" the magnitude of the rest. All three are unchanged when the whole window is
    rotated, so an encoder reading them cannot tell how the device was worn; it also cannot tell
    postures apart by the device's tilt (sitting from lying, on a waist).
    """
    g = x.mean(dim=-1, keepdim=True)  # (B, 3, 1)
    g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-6)
    v = (x * g).sum(dim=1, keepdim=True)  # (B, 1, L)
    h = (x - v * g).pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12).sqrt()
    total = x.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12).sqrt()
    return torch.cat([v - 1.0, h, total - 1.0], dim=1)


class Encoder(nn.Module):
    """Normalised window (B, 3, 300) -> representation r (B, r_dim).

    Takes *normalised* input; :class:`~flowfm_edge.models.flowfm.FlowFM` normalises raw g.
    ``cfg.encoder_input`` picks what the patch embedding reads (:meth:`inputs`), inside the
    encoder so every caller and exported graph computes it the same way.
    ``mask`` > 0 (training views only) drops that fraction of patch tokens, as in MAE.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input = cfg.encoder_input
        if self.input in ("xyz+mag", "gravity-frame"):  # these need raw g back; from the config, so no new weights
            self.register_buffer("mean", torch.tensor(cfg.norm_mean, dtype=torch.float32).view(1, -1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(cfg.norm_std, dtype=torch.float32).view(1, -1, 1), persistent=False)
        self.patch = PatchEmbed(cfg.encoder_channels, cfg.dim, cfg.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.zeros(1, cfg.tokens + 1, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.proj = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.r_dim))
        self.r_norm = cfg.r_norm
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def inputs(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised windows z (B, 3, L) -> what the patch embedding reads: (B, 3, L), or (B, 4, L) with |a|.

        ``gravity-frame`` channels (:func:`gravity_frame`) are divided by the mean per-axis std of the
        data's normalisation, so they come in about the scale of the normalised axes.
        """
        if self.input == "xyz-mean":  # gravity removed: each axis less its window mean
            return z - z.mean(dim=-1, keepdim=True)
        if self.input == "xyz+mag":
            x = z * self.std + self.mean  # raw g
            mag = x.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-12).sqrt() - 1.0  # (B, 1, L): |a| - 1 g, 0 at rest
            return torch.cat([z, mag], dim=1)
        if self.input == "gravity-frame":
            return gravity_frame(z * self.std + self.mean) / self.std.mean()
        return z

    def forward(self, z: torch.Tensor, mask: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        h = self.patch(self.inputs(z)) + self.pos[:, 1:]  # (B, T, D)
        if mask > 0:
            h = keep_tokens(h, mask, generator)  # (B, T', D)
        cls = (self.cls + self.pos[:, :1]).expand(h.shape[0], -1, -1)
        h = torch.cat([cls, h], dim=1)  # (B, T'+1, D)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return normalize_r(self.proj(h[:, 0]), self.r_norm)  # (B, r_dim)
