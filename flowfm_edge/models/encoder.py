"""The representation encoder f_phi: a ViT-1D over 10-sample patches (SPEC 3)."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .layers import Block, PatchEmbed


class Encoder(nn.Module):
    """Normalised window (B, 3, 300) -> representation r (B, r_dim).

    Takes *normalised* input; :class:`~flowfm_edge.models.flowfm.FlowFM` normalises raw g.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.patch = PatchEmbed(cfg.channels, cfg.dim, cfg.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.zeros(1, cfg.tokens + 1, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.proj = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.r_dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.patch(z)  # (B, T, D)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos  # (B, T+1, D)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return self.proj(h[:, 0])  # (B, r_dim)
