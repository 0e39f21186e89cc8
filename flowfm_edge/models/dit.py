"""The velocity network v_theta: a DiT-1D with adaLN-Zero conditioning (docs/design.md#model).

Follows facebookresearch/DiT: each block's shift/scale/gate for attention and MLP come
from the conditioning vector ``c`` and start at zero, so every block begins as identity.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .layers import Attention, Mlp, PatchEmbed, TimeEmbed


def modulate(h: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return h * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)  # 6 x (B, D)
        h = h + gate1[:, None] * self.attn(modulate(self.norm1(h), shift1, scale1))
        return h + gate2[:, None] * self.mlp(modulate(self.norm2(h), shift2, scale2))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch: int, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, patch * channels)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(h), shift, scale))  # (B, T, patch*C)


class VelocityNet(nn.Module):
    """(z_t (B, 3, 300), t (B,), r (B, r_dim)[, e (B, text_dim)]) -> v (B, 3, 300), all in normalised units."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.patch = PatchEmbed(cfg.channels, cfg.dim, cfg.patch)
        self.pos = nn.Parameter(torch.zeros(1, cfg.tokens, cfg.dim))
        self.time = TimeEmbed(cfg.dim)
        self.rep = nn.Sequential(nn.Linear(cfg.r_dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.text = nn.Linear(cfg.text_dim, cfg.dim) if cfg.text_dim > 0 else None
        self.blocks = nn.ModuleList(DiTBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.final = FinalLayer(cfg.dim, cfg.patch, cfg.channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        def basic(m: nn.Module) -> None:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

        self.apply(basic)
        nn.init.trunc_normal_(self.pos, std=0.02)
        for block in self.blocks:  # adaLN-Zero: every block starts as identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    def condition(self, t: torch.Tensor, r: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        """c = TimeEmbed(t) + RepProj(r) [+ TextProj(e)] -> (B, D)."""
        c = self.time(t) + self.rep(r)
        if self.text is not None and e is not None:
            c = c + self.text(e)
        return c

    def forward(self, z: torch.Tensor, t: torch.Tensor, r: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        B = z.shape[0]
        return self.forward_from_condition(z, self.condition(t.expand(B) if t.dim() == 0 else t, r, e))

    def forward_from_condition(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The network after its conditioning: z (B, 3, 300), c (B or 1, D) -> v (B, 3, 300).

        ``forward`` and every exported graph (whose time embeddings are precomputed tables) call it.
        """
        B, C, L = z.shape
        h = self.patch(z) + self.pos  # (B, T, D)
        for block in self.blocks:
            h = block(h, c)
        out = self.final(h, c)  # (B, T, patch*C)
        P = self.cfg.patch
        return out.reshape(B, L // P, P, C).permute(0, 3, 1, 2).reshape(B, C, L)  # unpatchify: (B, C, L)
